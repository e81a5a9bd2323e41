//! `por init`: a node's data directory, its configuration file, and its
//! registration on the contract.
//!
//! Creates the data directory (keys are mode 0600), the node key, the API's
//! tokens (`api-admin.token`, `api-readonly.token`), a copy of the
//! operator's NEAR key file, and `por.toml`; then, unless told not to,
//! registers the node key on the contract with the stake given. Running it
//! again is safe: an existing key is kept, an existing configuration file is
//! left alone unless `force`, and a node already registered with this key is
//! reported as such (a different key is an error naming both).
//!
//! With `function_key`, it also creates a function-call access key
//! (`function-key.json`, 0600) and adds it to the account on chain, limited
//! to the contract's agent methods without a deposit
//! ([`por_node::chain::AGENT_METHODS`]) with an allowance of
//! [`por_node::chain::DEFAULT_ALLOWANCE`]; `por.toml` names it in
//! `[chain].function_key_file`. An existing key file is kept, and added again
//! only if the chain does not know it.

use std::path::{Path, PathBuf};

use near_primitives::types::AccountId;
use por_core::{Amount, NodeKey, NodeSigner, Signer};

use crate::config::{FileConfig, Network};
use por_node::api::auth::{ADMIN_TOKEN_FILE, ApiTokens};
use por_node::chain::{
    AGENT_METHODS, ChainError, DEFAULT_ALLOWANCE, NearRpcChain, PorContract, add_function_key, read_key_file,
    secret_key_from_seed, write_key_file,
};
use por_node::keys::load_or_create;

/// What `por init` does. Every field's doc ends with its default.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The data directory. Required. The configuration names it by its
    /// absolute path.
    pub data_dir: PathBuf,
    /// `[node].network`: a preset for the contract, the RPC endpoints and
    /// the bootstrap peers. Default none.
    pub network: Option<Network>,
    /// NEAR JSON-RPC URLs, in order of preference. Default none: the
    /// network's, else `http://127.0.0.1:3030`.
    pub rpc: Vec<String>,
    /// The PoR contract's account. Default none: the network's, else `por.devnet`.
    pub contract: Option<String>,
    /// The operator's account and its NEAR key file. Default none (no chain).
    pub account: Option<(String, PathBuf)>,
    /// Stake to register with, yocto (the contract's node storage fee is
    /// added). Default 5 NEAR.
    pub stake: Amount,
    /// Promised service time, ms. Default 0.
    pub service_ms: u64,
    /// libp2p listen addresses. Default `/ip4/0.0.0.0/tcp/4001`.
    pub listen: Vec<String>,
    /// HTTP API address. Default `127.0.0.1:8080`.
    pub api: String,
    /// `[api].metrics_listen`: `/metrics` alone, without a token. Default none.
    pub metrics_listen: Option<String>,
    /// Bootstrap peers. Default none: the network's, else none.
    pub bootstrap: Vec<String>,
    /// `[chain].accept_deposit`, yocto. Default none.
    pub accept_deposit: Option<Amount>,
    /// Services: name and upstream URL. Default none.
    pub services: Vec<(String, String)>,
    /// Register on the contract. Default true (when an account is given).
    pub register: bool,
    /// Overwrite an existing `por.toml`. Default false.
    pub force: bool,
    /// `[files].share_dirs`: the folders `por files add` may read. Default none.
    pub share_dirs: Vec<PathBuf>,
    /// `[files].download_dir`: where `por files get -o` writes. Default none.
    pub download_dir: Option<PathBuf>,
    /// Create a function-call access key for the agent (needs `account`).
    /// Default false.
    pub function_key: bool,
}

/// The function-call key's file in the data directory.
pub const FUNCTION_KEY_FILE: &str = "function-key.json";

impl InitOptions {
    /// Defaults with the data directory `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        InitOptions {
            data_dir: data_dir.into(),
            network: None,
            rpc: Vec::new(),
            contract: None,
            account: None,
            stake: near_token::NearToken::from_near(5).as_yoctonear(),
            service_ms: 0,
            listen: vec!["/ip4/0.0.0.0/tcp/4001".into()],
            api: "127.0.0.1:8080".into(),
            metrics_listen: None,
            bootstrap: Vec::new(),
            accept_deposit: None,
            services: Vec::new(),
            register: true,
            force: false,
            share_dirs: Vec::new(),
            download_dir: None,
            function_key: false,
        }
    }
}

/// What `por init` did.
#[derive(Debug, Clone)]
pub struct InitReport {
    /// The node key.
    pub key: NodeKey,
    /// The configuration file.
    pub config: PathBuf,
    /// Whether the configuration file was written now.
    pub wrote_config: bool,
    /// The API's admin token file (the read-only one beside it).
    pub api_token: PathBuf,
    /// The node's index in the graph, if registered.
    pub index: Option<u32>,
    /// Whether it registered now (false: it was already).
    pub registered_now: bool,
    /// The function-call key (its public half), if asked for, and whether
    /// it was added on chain now.
    pub function_key: Option<(String, bool)>,
}

/// `por init` failed.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A file could not be written or read.
    #[error("{0}")]
    Io(String),
    /// The generated configuration does not parse (a bad option).
    #[error("the options do not make a valid configuration: {0}")]
    Config(String),
    /// The chain refused or could not be reached.
    #[error("registration: {0}")]
    Chain(String),
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn list(v: &[String]) -> String {
    format!("[{}]", v.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", "))
}

/// The configuration file's text for `o`: the data directory by its
/// absolute path, key files relative to it. Settings a network preset
/// fills in are written only when given.
pub fn config_text(o: &InitOptions) -> String {
    let mut t = String::from("# Written by `por init`; see por/por.example.toml for every setting.\n\n[node]\n");
    if let Some(n) = o.network {
        t += &format!("network = {}\n", quote(&n.to_string()));
    }
    let data_dir = std::path::absolute(&o.data_dir).unwrap_or_else(|_| o.data_dir.clone());
    t += &format!("data_dir = {}\n", quote(&data_dir.display().to_string()));
    t += &format!("listen = {}\n", list(&o.listen));
    if !o.bootstrap.is_empty() || o.network.is_none() {
        t += &format!("bootstrap = {}\n", list(&o.bootstrap));
    }
    t += &format!("\n[api]\nlisten = {}\n", quote(&o.api));
    if let Some(m) = &o.metrics_listen {
        t += &format!("metrics_listen = {}\n", quote(m));
    }
    t += "\n[chain]\n";
    if !o.rpc.is_empty() {
        t += &format!("rpc = {}\n", list(&o.rpc));
    }
    if let Some(c) = &o.contract {
        t += &format!("contract = {}\n", quote(c));
    }
    if let Some((account, _)) = &o.account {
        t += &format!("account = {}\naccount_key_file = \"account.json\"\n", quote(account));
        if o.function_key {
            t += &format!("function_key_file = {}\n", quote(FUNCTION_KEY_FILE));
        }
    }
    if let Some(d) = o.accept_deposit {
        t += &format!("accept_deposit = \"{d}\"\n");
    }
    if !o.services.is_empty() {
        t += "\n[services]\n";
        for (name, url) in &o.services {
            t += &format!("{} = {}\n", quote(name), quote(url));
        }
    }
    if !o.share_dirs.is_empty() || o.download_dir.is_some() {
        t += "\n[files]\n";
        let dirs: Vec<String> = o.share_dirs.iter().map(|d| d.display().to_string()).collect();
        t += &format!("share_dirs = {}\n", list(&dirs));
        if let Some(d) = &o.download_dir {
            t += &format!("download_dir = {}\n", quote(&d.display().to_string()));
        }
    }
    t
}

fn io(what: &str, path: &Path, e: std::io::Error) -> InitError {
    InitError::Io(format!("{what} {}: {e}", path.display()))
}

/// Runs `por init`; `fresh_seed` becomes the node key if none exists yet.
pub async fn init(o: &InitOptions, fresh_seed: [u8; 32]) -> Result<InitReport, InitError> {
    if o.function_key && o.account.is_none() {
        return Err(InitError::Config("a function-call key (--function-key) needs --account".into()));
    }
    let text = config_text(o);
    let cfg = FileConfig::parse(&text).map_err(|e| InitError::Config(e.to_string()))?;
    // Never send a stake to a name that only stands in for a contract.
    if let Some(n) = o.network.filter(|n| n.preset().placeholder)
        && o.account.is_some()
        && (o.register || o.function_key)
        && o.contract.is_none()
    {
        return Err(InitError::Config(format!(
            "the {n} preset's contract {} is a placeholder until the network publishes one: give the PoR \
             contract's account with --contract (or write the files only with --no-register)",
            cfg.chain.contract
        )));
    }
    std::fs::create_dir_all(&o.data_dir).map_err(|e| io("cannot create", &o.data_dir, e))?;
    let seed = load_or_create(&o.data_dir.join("node.key"), fresh_seed).map_err(|e| InitError::Io(e.to_string()))?;
    let node = NodeSigner::from_seed(seed);
    let key = node.public();
    // The API's tokens (kept if they exist). Their bytes are drawn here: no
    // test depends on their value, only on the files.
    ApiTokens::load_or_create(&o.data_dir, rand::random()).map_err(|e| InitError::Io(e.to_string()))?;
    let api_token = o.data_dir.join(ADMIN_TOKEN_FILE);
    let config = o.data_dir.join("por.toml");
    let wrote_config = o.force || !config.exists();
    if wrote_config {
        std::fs::write(&config, &text).map_err(|e| io("cannot write", &config, e))?;
    }
    let mut report =
        InitReport { key, config, wrote_config, api_token, index: None, registered_now: false, function_key: None };
    let Some((account, key_file)) = &o.account else { return Ok(report) };
    let (key_account, secret) = read_key_file(key_file).map_err(|e| InitError::Io(e.to_string()))?;
    if key_account.as_str() != account {
        return Err(InitError::Io(format!("{} is a key of {key_account}, not of {account}", key_file.display())));
    }
    let copy = o.data_dir.join("account.json");
    if key_file.canonicalize().ok() != copy.canonicalize().ok() {
        let bytes = std::fs::read(key_file).map_err(|e| io("cannot read", key_file, e))?;
        write_private(&copy, &bytes)?;
    }
    if !o.register && !o.function_key {
        return Ok(report);
    }
    let account: AccountId = account.parse().map_err(|e| InitError::Io(format!("account {account:?}: {e}")))?;
    let contract: AccountId =
        cfg.chain.contract.parse().map_err(|e| InitError::Config(format!("contract {:?}: {e}", cfg.chain.contract)))?;
    let endpoints = cfg.rpc_endpoints().map_err(|e| InitError::Config(e.to_string()))?;
    let c = PorContract::new(NearRpcChain::over(endpoints).signing(account.clone(), Some(secret), None), contract);
    let chain = |e: ChainError| InitError::Chain(e.to_string());
    if o.function_key {
        let path = o.data_dir.join(FUNCTION_KEY_FILE);
        report.function_key = Some(function_key(&c, &account, &path).await?);
    }
    if !o.register {
        return Ok(report);
    }
    match c.node(&account).await.map_err(chain)? {
        Some(v) if v.node_key == key => report.index = Some(v.index),
        Some(v) => {
            return Err(InitError::Chain(format!(
                "{account} is already registered with node key {}, not this data directory's {}",
                v.node_key.to_hex(),
                key.to_hex()
            )));
        }
        None => {
            let fee = c.config().await.map_err(chain)?.node_storage_fee;
            let index = c.register_node(&node, o.service_ms, o.stake + fee).await.map_err(chain)?;
            report.index = Some(index);
            report.registered_now = true;
        }
    }
    Ok(report)
}

/// The function-call key of `path` (created if missing), added on chain
/// unless the chain knows it already. Returns its public half and whether it
/// was added now.
async fn function_key(
    c: &PorContract<NearRpcChain>,
    account: &AccountId,
    path: &Path,
) -> Result<(String, bool), InitError> {
    let secret = if path.exists() {
        let (a, k) = read_key_file(path).map_err(|e| InitError::Io(e.to_string()))?;
        if &a != account {
            return Err(InitError::Io(format!("{} is a key of {a}, not of {account}", path.display())));
        }
        k
    } else {
        let k = secret_key_from_seed(rand::random());
        write_key_file(path, account, &k).map_err(|e| io("cannot write", path, e))?;
        k
    };
    let public = secret.public_key();
    let known = c.chain().access_key_view(account, &public).await.map_err(|e| InitError::Chain(e.to_string()))?;
    if known.is_some() {
        return Ok((public.to_string(), false));
    }
    add_function_key(c.chain(), public.clone(), c.account(), AGENT_METHODS, DEFAULT_ALLOWANCE)
        .await
        .map_err(|e| InitError::Chain(format!("adding the function-call key: {e}")))?;
    Ok((public.to_string(), true))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), InitError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path).map_err(|e| io("cannot write", path, e))?;
    // `mode` applies only to a new file: an older copy gets 0600 too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(|e| io("cannot chmod", path, e))?;
    }
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| io("cannot write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_config_parses_and_keeps_the_options() {
        let mut o = InitOptions::new("/tmp/por x");
        o.account = Some(("alice.devnet".into(), "k.json".into()));
        o.bootstrap = vec!["/ip4/127.0.0.1/tcp/4002/p2p/12D3KooWKCS4p9NFkeXSbjTswPgaP1vvJrXwd1fE37GvxXqWhzwJ".into()];
        o.accept_deposit = Some(7);
        o.services = vec![("echo".into(), "http://127.0.0.1:9/echo".into())];
        o.share_dirs = vec!["/srv/share a".into()];
        o.download_dir = Some("/srv/dl".into());
        o.function_key = true;
        let cfg = FileConfig::parse(&config_text(&o)).unwrap();
        assert_eq!(cfg.chain.function_key_file, Some(PathBuf::from(FUNCTION_KEY_FILE)));
        assert_eq!(cfg.files.share_dirs, vec![PathBuf::from("/srv/share a")]);
        assert_eq!(cfg.files.download_dir, Some(PathBuf::from("/srv/dl")));
        assert_eq!(cfg.node.data_dir, PathBuf::from("/tmp/por x"));
        assert_eq!(cfg.chain.account, "alice.devnet");
        assert_eq!(cfg.accept_deposit().unwrap(), Some(7));
        assert_eq!(cfg.services["echo"], "http://127.0.0.1:9/echo");
        assert_eq!(cfg.node.bootstrap.len(), 1);
        assert_eq!(cfg.chain.rpc, vec!["http://127.0.0.1:3030".to_string()], "the default");
    }

    #[test]
    fn a_network_fills_in_what_is_not_given() {
        let mut o = InitOptions::new("/tmp/d");
        o.network = Some(Network::Devnet);
        let text = config_text(&o);
        assert!(!text.contains("rpc =") && !text.contains("bootstrap =") && !text.contains("contract ="), "{text}");
        let cfg = FileConfig::parse(&text).unwrap();
        assert_eq!(cfg.chain.rpc, Network::Devnet.preset().rpc);
        assert_eq!(cfg.node.bootstrap, Network::Devnet.preset().bootstrap);
        assert_eq!(cfg.chain.contract, "por.devnet");
        // What is given wins over the preset.
        o.network = Some(Network::Testnet);
        o.rpc = vec!["https://rpc.example".into(), "https://rpc2.example".into()];
        o.contract = Some("por.example.testnet".into());
        let cfg = FileConfig::parse(&config_text(&o)).unwrap();
        assert_eq!(cfg.chain.rpc, o.rpc);
        assert_eq!(cfg.chain.contract, "por.example.testnet");
        assert_eq!(cfg.node.network, Some(Network::Testnet));
        // A relative data directory is written absolute.
        let rel = config_text(&InitOptions::new("rel-data"));
        let cfg = FileConfig::parse(&rel).unwrap();
        assert!(cfg.node.data_dir.is_absolute() && cfg.node.data_dir.ends_with("rel-data"), "{rel}");
    }

    #[test]
    fn registering_with_a_placeholder_contract_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = InitOptions::new(dir.path().join("d"));
        o.network = Some(Network::Testnet);
        o.account = Some(("alice.testnet".into(), dir.path().join("missing.json")));
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let e = rt.block_on(init(&o, [1; 32])).unwrap_err().to_string();
        assert!(e.contains("placeholder") && e.contains("--contract"), "{e}");
        assert!(!dir.path().join("d").exists(), "nothing written");
        // With the contract given, it goes on (and fails later, on the missing key file).
        o.contract = Some("por.example.testnet".into());
        let e = rt.block_on(init(&o, [1; 32])).unwrap_err().to_string();
        assert!(!e.contains("placeholder") && e.contains("missing.json"), "{e}");
    }

    #[test]
    fn a_bad_rpc_list_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = InitOptions::new(dir.path().join("d"));
        o.rpc = vec!["http://127.0.0.1:3030".into(), "localhost:3030".into()];
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let e = rt.block_on(init(&o, [1; 32])).unwrap_err().to_string();
        assert!(e.contains("[chain].rpc") && e.contains("localhost:3030"), "{e}");
        assert!(!dir.path().join("d").exists());
    }

    #[test]
    fn a_bad_option_is_named_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = InitOptions::new(dir.path().join("d"));
        o.listen = vec!["not-an-address".into()];
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let e = rt.block_on(init(&o, [1; 32])).unwrap_err();
        assert!(e.to_string().contains("[node].listen"), "{e}");
        assert!(!dir.path().join("d/por.toml").exists());
    }
}
