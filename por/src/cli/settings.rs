//! The settings flags of `por node run` and `por config show`, and how the
//! CLI turns them, the environment and the file into a configuration
//! ([`crate::config::layers`]).

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{anyhow, bail};
use clap::{ArgMatches, Args};

use crate::config::{FlagValue, Flags, Loaded, Source};

/// The settings flags (of `node run`, `config show`) clap filled from the
/// environment.
pub(super) fn settings_from_env(m: &ArgMatches) -> BTreeSet<String> {
    let sub = match m.subcommand() {
        Some(("node", n)) => n.subcommand_matches("run"),
        Some(("config", c)) => c.subcommand_matches("show"),
        _ => None,
    };
    let Some(sub) = sub else { return BTreeSet::new() };
    SETTINGS_FLAGS
        .iter()
        .filter(|(id, _)| sub.value_source(id) == Some(clap::parser::ValueSource::EnvVariable))
        .map(|(id, _)| id.to_string())
        .collect()
}

/// The settings that have a flag: clap id and configuration key. Every
/// other setting has its `POR_` variable only.
const SETTINGS_FLAGS: &[(&str, &str)] = &[
    ("network", "node.network"),
    ("data_dir", "node.data_dir"),
    ("listen", "node.listen"),
    ("bootstrap", "node.bootstrap"),
    ("external_address", "node.external_addresses"),
    ("drain_timeout_secs", "node.drain_timeout_secs"),
    ("channel_backup", "node.channel_backup"),
    ("api_listen", "api.listen"),
    ("metrics_listen", "api.metrics_listen"),
    ("rpc", "chain.rpc"),
    ("contract", "chain.contract"),
    ("account", "chain.account"),
    ("account_key_file", "chain.account_key_file"),
    ("poll_ms", "chain.poll_ms"),
    ("accept_deposit", "chain.accept_deposit"),
];

/// Settings flags of `node run` and `config show`. Each overrides the file
/// and its environment variable.
#[derive(Args, Debug, Default)]
pub(super) struct SettingsArgs {
    /// [node].network: devnet or testnet.
    #[arg(long, env = "POR_NODE_NETWORK")]
    network: Option<String>,
    /// [node].data_dir.
    #[arg(long, env = "POR_NODE_DATA_DIR")]
    data_dir: Option<String>,
    /// [node].listen, a libp2p multiaddr (repeatable).
    #[arg(long, env = "POR_NODE_LISTEN")]
    listen: Vec<String>,
    /// [node].bootstrap, a multiaddr ending in /p2p/<peer id> (repeatable).
    #[arg(long, env = "POR_NODE_BOOTSTRAP")]
    bootstrap: Vec<String>,
    /// [node].external_addresses, a multiaddr peers can dial this node at
    /// (repeatable).
    #[arg(long, env = "POR_NODE_EXTERNAL_ADDRESSES")]
    external_address: Vec<String>,
    /// [node].drain_timeout_secs.
    #[arg(long, env = "POR_NODE_DRAIN_TIMEOUT_SECS")]
    drain_timeout_secs: Option<String>,
    /// [node].channel_backup.
    #[arg(long, env = "POR_NODE_CHANNEL_BACKUP")]
    channel_backup: Option<String>,
    /// [api].listen, host:port.
    #[arg(long, env = "POR_API_LISTEN")]
    api_listen: Option<String>,
    /// [api].metrics_listen, host:port.
    #[arg(long, env = "POR_API_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    /// [chain].rpc, a NEAR JSON-RPC URL (repeatable, in order of preference).
    #[arg(long, env = "POR_CHAIN_RPC")]
    rpc: Vec<String>,
    /// [chain].contract.
    #[arg(long, env = "POR_CHAIN_CONTRACT")]
    contract: Option<String>,
    /// [chain].account.
    #[arg(long, env = "POR_CHAIN_ACCOUNT")]
    account: Option<String>,
    /// [chain].account_key_file, relative to the data directory.
    #[arg(long, env = "POR_CHAIN_ACCOUNT_KEY_FILE")]
    account_key_file: Option<String>,
    /// [chain].poll_ms.
    #[arg(long, env = "POR_CHAIN_POLL_MS")]
    poll_ms: Option<String>,
    /// [chain].accept_deposit, yocto.
    #[arg(long, env = "POR_CHAIN_ACCEPT_DEPOSIT")]
    accept_deposit: Option<String>,
    /// Any setting, by the dotted key `por config show` lists (e.g.
    /// `--set protocol.policy.offline_grace_ms=60000`; lists
    /// comma-separated). Repeatable; wins over the file and the environment.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

impl SettingsArgs {
    /// The flags given on the command line (not those clap read from the
    /// environment, named in `from_env`), as configuration overrides.
    pub(super) fn flags(&self, from_env: &BTreeSet<String>) -> anyhow::Result<Flags> {
        let one = |v: &Option<String>| v.clone().map(FlagValue::One);
        let many = |v: &Vec<String>| (!v.is_empty()).then(|| FlagValue::Many(v.clone()));
        let values = [
            one(&self.network),
            one(&self.data_dir),
            many(&self.listen),
            many(&self.bootstrap),
            many(&self.external_address),
            one(&self.drain_timeout_secs),
            one(&self.channel_backup),
            one(&self.api_listen),
            one(&self.metrics_listen),
            many(&self.rpc),
            one(&self.contract),
            one(&self.account),
            one(&self.account_key_file),
            one(&self.poll_ms),
            one(&self.accept_deposit),
        ];
        let mut out = Vec::new();
        for ((id, key), v) in SETTINGS_FLAGS.iter().zip(values) {
            if let Some(v) = v
                && !from_env.contains(*id)
            {
                out.push((key.to_string(), v, format!("--{}", id.replace('_', "-"))));
            }
        }
        let known = crate::config::layers::settings();
        for kv in &self.set {
            let Some((key, value)) = kv.split_once('=') else {
                bail!("--set {kv:?}: expected KEY=VALUE, e.g. --set chain.poll_ms=500");
            };
            let key = key.trim();
            if !known.iter().any(|(k, _)| k == key) {
                bail!("--set {key}: not a setting of por (`por config show` lists them)");
            }
            out.push((key.to_string(), FlagValue::One(value.to_string()), format!("--set {key}")));
        }
        Ok(Flags(out))
    }
}

/// The configuration from `file` (if any), the environment and `flags`.
pub fn load_config(file: Option<&Path>, flags: &Flags) -> anyhow::Result<Loaded> {
    crate::config::load(file, std::env::vars(), flags).map_err(|e| anyhow!("{e}"))
}

/// Settings that came from a preset's placeholders: a node that would sign
/// for a placeholder contract is refused, anything else is a warning.
pub(super) fn check_placeholders(l: &Loaded) -> anyhow::Result<()> {
    let Some(n) = l.config.node.network else { return Ok(()) };
    if !n.preset().placeholder {
        return Ok(());
    }
    if l.sources.get("chain.contract") == Some(&Source::Network(n)) {
        let c = &l.config.chain.contract;
        if l.config.has_chain_account() {
            bail!(
                "[chain].contract: the {n} preset's contract {c} is a placeholder until the network publishes \
                 one; set [chain].contract (or POR_CHAIN_CONTRACT, --contract) to the PoR contract's account"
            );
        }
        tracing::warn!(contract = %c, "the {n} preset's contract is a placeholder until the network publishes one");
    }
    if l.config.node.bootstrap.is_empty() {
        tracing::warn!("no bootstrap peer: the {n} preset has none yet; set [node].bootstrap to join the network");
    }
    Ok(())
}
