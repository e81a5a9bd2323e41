//! The node's configuration (TOML). Only the binary reads files; this
//! module turns the file's text, the environment and the command line into
//! checked settings ([`layers`]), filling in a network's preset
//! ([`network`]). Every field's doc ends with its default;
//! `por/por.example.toml` shows them all and is parsed by a test.

pub mod layers;
pub mod network;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use por_core::protocol::ProtocolConfig;
use serde::{Deserialize, Deserializer, Serialize};

pub use layers::{FlagValue, Flags, LoadError, Loaded, Source, load, load_text};
pub use network::Network;

use por_node::runtime::NodeConfig;

/// The configuration file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Networking and storage.
    #[serde(default)]
    pub node: NodeSection,
    /// The HTTP API.
    #[serde(default)]
    pub api: ApiSection,
    /// The chain.
    #[serde(default)]
    pub chain: ChainSection,
    /// The protocol engine (syncs, failure policy); see `por_core::protocol::ProtocolConfig`.
    /// The late-fee terms and the contract account are taken from the chain.
    #[serde(default)]
    pub protocol: ProtocolConfig,
    /// Services this node serves: name → upstream `http://` URL. Default none.
    #[serde(default)]
    pub services: BTreeMap<String, String>,
    /// File sharing: the folders it reads and writes, and its store's quota.
    #[serde(default)]
    pub files: FilesSection,
}

/// `[files]`: which folders file sharing may touch, and the store's disk
/// use. The store itself is `<data_dir>/files`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FilesSection {
    /// The folders `por files add` may read: a path is shared only if it
    /// resolves (links followed) inside one of them, and never inside the
    /// data directory, even when a share folder contains it. Default none:
    /// every add is refused with an error naming this setting.
    pub share_dirs: Vec<PathBuf>,
    /// The folder `por files get -o` writes under (created if missing): the
    /// output is relative to it, or an absolute path inside it. Default
    /// none: an output path is refused with an error naming this setting
    /// (a download without one stays in the store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_dir: Option<PathBuf>,
    /// The most the store holds, complete and partial files, in bytes;
    /// adding or fetching past it is refused (`quota_exceeded`). Default
    /// 10737418240 (10 GiB).
    pub quota_bytes: u64,
    /// Free space the store leaves on its disk, which it shares with the
    /// channel store, in bytes; a write that would leave less is refused
    /// (`disk_full`). Default 268435456 (256 MiB).
    pub min_free_bytes: u64,
}

impl Default for FilesSection {
    fn default() -> Self {
        let l = por_files::StoreLimits::default();
        FilesSection {
            share_dirs: Vec::new(),
            download_dir: None,
            quota_bytes: l.quota_bytes,
            min_free_bytes: l.min_free_bytes,
        }
    }
}

/// `[node]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSection {
    /// A network preset: `devnet` (the local `por testnet`) or `testnet`
    /// (NEAR testnet). It fills in `[chain].contract`, `[chain].rpc` and
    /// `bootstrap` where nothing else sets them (`config::network`).
    /// Default none: the built-in defaults, which are the devnet's contract
    /// and RPC without its bootstrap peer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// Where keys and channel state live; in the file, relative to the
    /// file's directory. Default `./por-data` (relative to the working
    /// directory).
    pub data_dir: PathBuf,
    /// libp2p listen addresses. Default `["/ip4/0.0.0.0/tcp/4001"]`.
    pub listen: Vec<String>,
    /// Bootstrap peers as multiaddrs ending in `/p2p/<peer id>`. Default none.
    pub bootstrap: Vec<String>,
    /// Addresses peers can dial this node at (a public IP and port, a port
    /// forwarded through NAT, a container's published port), as multiaddrs
    /// without `/p2p/`: announced to every peer (identify) and in
    /// Kademlia's records, as given. Without them the node announces only
    /// addresses AutoNAT confirms (a peer dialed back to it), and says at
    /// start and in `/readyz` when it has none. Default none.
    pub external_addresses: Vec<String>,
    /// Seconds a service handler may take before the node answers 504. Default 30.
    pub service_timeout_secs: u64,
    /// On SIGTERM or SIGINT the node drains (DESIGN §2.11): it refuses new
    /// paid requests, tells its neighbours, and waits up to this many seconds
    /// for the requests in flight before it stops. Keep it below the
    /// supervisor's kill timeout (Kubernetes' `terminationGracePeriodSeconds`,
    /// 30 by default; systemd's `TimeoutStopSec`, 90). Default 20.
    pub drain_timeout_secs: u64,
    /// A file the node rewrites with a backup of its channels after every
    /// commit (setups, best vouchers, credit; see `por channel export` and
    /// `por channel restore`). Keep it on another disk than the data
    /// directory. Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_backup: Option<PathBuf>,
}

impl Default for NodeSection {
    fn default() -> Self {
        NodeSection {
            network: None,
            data_dir: PathBuf::from("./por-data"),
            listen: vec!["/ip4/0.0.0.0/tcp/4001".into()],
            bootstrap: Vec::new(),
            external_addresses: Vec::new(),
            service_timeout_secs: 30,
            drain_timeout_secs: 20,
            channel_backup: None,
        }
    }
}

/// `[api]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    /// Address of the HTTP API and `/metrics`. Every route but `/livez`
    /// and `/readyz` needs a token: `api-admin.token` or `api-readonly.token`
    /// in `data_dir` (written by `por init`, else at the first start).
    /// Default `127.0.0.1:8080`.
    pub listen: String,
    /// More host names the API answers to, besides `localhost`, `127.0.0.1`,
    /// `[::1]` and the listen address (and any IP when it listens on all
    /// interfaces): the names a scraper or a proxy uses for this node, such
    /// as a compose service name. Any other `Host` or `Origin` is refused
    /// (DNS rebinding, cross-site requests). Default none.
    pub allowed_hosts: Vec<String>,
    /// A second address that serves `/metrics` alone, without a token (for
    /// Prometheus; `allowed_hosts` apply). Default none: `/metrics` only on
    /// `listen`, with a token (the read-only one is enough).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection { listen: "127.0.0.1:8080".into(), allowed_hosts: Vec::new(), metrics_listen: None }
    }
}

/// `[chain]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ChainSection {
    /// NEAR JSON-RPC endpoints, in order of preference: the node fails over
    /// to the next when one cannot be reached, and `por_chain_rpc_calls_total`
    /// says which answered. One URL or a list. Default
    /// `["http://127.0.0.1:3030"]` (the local devnet).
    #[serde(deserialize_with = "one_or_many")]
    pub rpc: Vec<String>,
    /// The PoR contract's account. Default `por.devnet`.
    pub contract: String,
    /// The node operator's NEAR account. Default empty (required to register).
    pub account: String,
    /// The account's key file (NEAR's JSON format), relative to `data_dir`. Default `account.json`.
    /// With `function_key_file` set it may be absent: the node then signs
    /// only what the function-call key may, and refuses the rest (opening
    /// or confirming a channel with a deposit) with an error naming this file.
    pub account_key_file: PathBuf,
    /// A function-call access key of `account` for the contract (NEAR's
    /// JSON format, mode 0600), relative to `data_dir`: calls without a
    /// deposit that it may make are signed with it, everything else with
    /// `account_key_file`. `por init --function-key` creates one. Default
    /// none: every call is signed with `account_key_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_key_file: Option<PathBuf>,
    /// How often the node polls the contract's `graph_version`, ms. Default 1000.
    pub poll_ms: u64,
    /// Confirm channels other nodes propose to this one, attaching this
    /// deposit (yocto, as a string; the contract's `channel_storage_fee` is
    /// paid by the opener). Default none: confirm by hand with
    /// `por channel confirm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept_deposit: Option<String>,
    /// When a split the contract recorded leaves this node on the smaller
    /// side, propose a channel into the larger side before the split is
    /// settled, so the node is not slashed (DESIGN §2.8). Default true.
    pub reconnect: bool,
    /// Accounts to propose to first when reconnecting, in order; then the
    /// larger side's nodes, most stake first. Default none.
    pub reconnect_peers: Vec<String>,
    /// This node's deposit in a reconnection proposal (yocto, as a string;
    /// the contract's `channel_storage_fee` is added). Default: the largest
    /// deposit the node has had in one of its channels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconnect_deposit: Option<String>,
    /// Call `settle` for the splits this node is part of once their
    /// reconnection window has passed. Default true.
    pub settle_splits: bool,
}

impl Default for ChainSection {
    fn default() -> Self {
        ChainSection {
            rpc: vec!["http://127.0.0.1:3030".into()],
            contract: "por.devnet".into(),
            account: String::new(),
            account_key_file: PathBuf::from("account.json"),
            function_key_file: None,
            poll_ms: 1000,
            accept_deposit: None,
            reconnect: true,
            reconnect_peers: Vec::new(),
            reconnect_deposit: None,
            settle_splits: true,
        }
    }
}

/// The file is not a usable configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML, or a field is wrong or unknown.
    #[error("configuration is not valid: {0}")]
    Parse(String),
    /// A listen address is not a multiaddr.
    #[error("[node].listen: {0:?} is not a multiaddr (e.g. /ip4/0.0.0.0/tcp/4001)")]
    Listen(String),
    /// A bootstrap entry is not a multiaddr ending in `/p2p/<peer id>`.
    #[error("[node].bootstrap: {0:?} must be a multiaddr ending in /p2p/<peer id>")]
    Bootstrap(String),
    /// An external address is not a multiaddr a peer can dial.
    #[error("[node].external_addresses: {0:?} {1} (e.g. /ip4/203.0.113.7/tcp/4001 or /dns4/node.example.org/tcp/4001)")]
    ExternalAddress(String, &'static str),
    /// The API address is not `host:port`.
    #[error("[api].listen: {0:?} is not an address like 127.0.0.1:8080")]
    Api(String),
    /// The metrics address is not `host:port`.
    #[error("[api].metrics_listen: {0:?} is not an address like 127.0.0.1:9181")]
    MetricsListen(String),
    /// An amount is not a whole number of yocto.
    #[error(
        "[chain].accept_deposit: {0:?} is not a whole number of yocto (e.g. \"1000000000000000000000000\" for 1 NEAR)"
    )]
    Amount(String),
    /// A chain setting is not usable.
    #[error("[chain]: {0}")]
    Chain(String),
    /// The RPC endpoints are not usable.
    #[error("[chain].rpc: {0}")]
    Rpc(#[from] por_node::chain::EndpointError),
    /// A service's upstream URL is not usable.
    #[error("[services].{0}: {1}")]
    Service(String, String),
}

/// `rpc = "url"` or `rpc = ["url", …]`.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

impl ConfigError {
    /// The setting at fault (dotted key), when one is.
    pub fn key(&self) -> Option<&'static str> {
        Some(match self {
            ConfigError::Listen(_) => "node.listen",
            ConfigError::Bootstrap(_) => "node.bootstrap",
            ConfigError::ExternalAddress(..) => "node.external_addresses",
            ConfigError::Api(_) => "api.listen",
            ConfigError::MetricsListen(_) => "api.metrics_listen",
            ConfigError::Amount(_) => "chain.accept_deposit",
            ConfigError::Rpc(_) => "chain.rpc",
            ConfigError::Service(..) => "services",
            ConfigError::Chain(s) if s.starts_with("poll_ms") => "chain.poll_ms",
            ConfigError::Chain(s) if s.starts_with("contract") => "chain.contract",
            ConfigError::Chain(s) if s.starts_with("account") => "chain.account",
            ConfigError::Chain(s) if s.starts_with("reconnect_peers") => "chain.reconnect_peers",
            ConfigError::Chain(s) if s.starts_with("reconnect_deposit") => "chain.reconnect_deposit",
            ConfigError::Parse(_) | ConfigError::Chain(_) => return None,
        })
    }
}

impl FileConfig {
    /// Parses and checks a configuration file's text, with its network
    /// preset (no environment, no flags; paths stay as written).
    pub fn parse(text: &str) -> Result<FileConfig, ConfigError> {
        match load_text(Some((text, None)), Vec::new(), &Flags::default()) {
            Ok(l) => Ok(l.config),
            Err(LoadError::Invalid { error, .. }) => Err(error),
            Err(e) => Err(ConfigError::Parse(e.to_string())),
        }
    }

    /// Checks the settings that serde cannot.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.node_config()?;
        self.api_addr()?;
        self.metrics_addr()?;
        self.accept_deposit()?;
        self.reconnect_policy()?;
        self.rpc_endpoints()?;
        if self.chain.poll_ms == 0 {
            return Err(ConfigError::Chain("poll_ms must be at least 1".into()));
        }
        for (name, url) in &self.services {
            por_node::upstream::HttpUpstream::new(url)
                .map_err(|e| ConfigError::Service(name.clone(), e.to_string()))?;
        }
        Ok(())
    }

    /// `[chain].rpc`, checked, as endpoints to fail over between.
    pub fn rpc_endpoints(&self) -> Result<por_node::chain::RpcEndpoints, ConfigError> {
        Ok(por_node::chain::RpcEndpoints::parse(&self.chain.rpc)?)
    }

    /// `[chain].accept_deposit` as yocto.
    pub fn accept_deposit(&self) -> Result<Option<u128>, ConfigError> {
        self.chain
            .accept_deposit
            .as_deref()
            .map(|d| d.parse().map_err(|_| ConfigError::Amount(d.to_string())))
            .transpose()
    }

    /// The chain agent's reconnection policy (`[chain].reconnect*`).
    pub fn reconnect_policy(&self) -> Result<por_node::agent::ReconnectPolicy, ConfigError> {
        let peers = self
            .chain
            .reconnect_peers
            .iter()
            .map(|a| {
                a.parse()
                    .map_err(|e| ConfigError::Chain(format!("reconnect_peers: {a:?} is not a NEAR account id: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let deposit = self
            .chain
            .reconnect_deposit
            .as_deref()
            .map(|d| {
                d.parse().map_err(|_| {
                    ConfigError::Chain(format!(
                        "reconnect_deposit: {d:?} is not a whole number of yocto (e.g. \"1000000000000000000000000\" for 1 NEAR)"
                    ))
                })
            })
            .transpose()?;
        Ok(por_node::agent::ReconnectPolicy {
            enabled: self.chain.reconnect,
            peers,
            deposit,
            ..por_node::agent::ReconnectPolicy::default()
        })
    }

    /// Whether the node acts on chain (an account is configured).
    pub fn has_chain_account(&self) -> bool {
        !self.chain.account.is_empty()
    }

    /// The API's socket address.
    pub fn api_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.api.listen.parse().map_err(|_| ConfigError::Api(self.api.listen.clone()))
    }

    /// The metrics listener's socket address, if one is configured.
    pub fn metrics_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        let Some(m) = &self.api.metrics_listen else { return Ok(None) };
        m.parse().map(Some).map_err(|_| ConfigError::MetricsListen(m.clone()))
    }

    /// The files subsystem's settings (its store under `data_dir`).
    pub fn files_config(&self) -> por_files::FilesConfig {
        por_files::FilesConfig {
            share_dirs: self.files.share_dirs.clone(),
            download_dir: self.files.download_dir.clone(),
            limits: por_files::StoreLimits {
                quota_bytes: self.files.quota_bytes,
                min_free_bytes: self.files.min_free_bytes,
            },
            ..por_files::FilesConfig::new(&self.node.data_dir)
        }
    }

    /// The runtime settings.
    pub fn node_config(&self) -> Result<NodeConfig, ConfigError> {
        let mut nc = NodeConfig::new(&self.node.data_dir);
        nc.listen = self
            .node
            .listen
            .iter()
            .map(|a| a.parse().map_err(|_| ConfigError::Listen(a.clone())))
            .collect::<Result<_, _>>()?;
        nc.bootstrap = self.node.bootstrap.iter().map(|b| parse_bootstrap(b)).collect::<Result<_, _>>()?;
        nc.external_addresses =
            self.node.external_addresses.iter().map(|a| parse_external(a)).collect::<Result<_, _>>()?;
        nc.protocol = self.protocol.clone();
        nc.protocol.contract = self.chain.contract.clone();
        nc.service_timeout = Duration::from_secs(self.node.service_timeout_secs);
        nc.channel_backup = self.node.channel_backup.clone();
        Ok(nc)
    }
}

/// Reads an external address: a multiaddr with a transport port, without
/// a peer id (the node's own is added by those who dial it) and not an
/// unspecified IP (`0.0.0.0`, `::`), which no peer can dial.
pub fn parse_external(s: &str) -> Result<Multiaddr, ConfigError> {
    let bad = |why| ConfigError::ExternalAddress(s.to_string(), why);
    let addr: Multiaddr = s.parse().map_err(|_| bad("is not a multiaddr"))?;
    for p in addr.iter() {
        match p {
            Protocol::P2p(_) => return Err(bad("must not name a peer id (/p2p/…): it is this node's own address")),
            Protocol::Ip4(ip) if ip.is_unspecified() => return Err(bad("is an unspecified address no peer can dial")),
            Protocol::Ip6(ip) if ip.is_unspecified() => return Err(bad("is an unspecified address no peer can dial")),
            _ => {}
        }
    }
    if !addr.iter().any(|p| matches!(p, Protocol::Tcp(_))) {
        return Err(bad("has no /tcp/<port>: nodes speak TCP"));
    }
    Ok(addr)
}

/// Splits `/ip4/…/tcp/…/p2p/<id>` into the peer and its address.
pub fn parse_bootstrap(s: &str) -> Result<(PeerId, Multiaddr), ConfigError> {
    let mut addr: Multiaddr = s.parse().map_err(|_| ConfigError::Bootstrap(s.to_string()))?;
    match addr.pop() {
        Some(Protocol::P2p(peer)) => Ok((peer, addr)),
        _ => Err(ConfigError::Bootstrap(s.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_parses() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/por.example.toml")).unwrap();
        let cfg = FileConfig::parse(&text).unwrap();
        let nc = cfg.node_config().unwrap();
        assert_eq!(nc.bootstrap.len(), 1);
        assert_eq!(nc.external_addresses, vec!["/ip4/203.0.113.7/tcp/4001".parse::<Multiaddr>().unwrap()]);
        assert_eq!(cfg.services["echo"], "http://127.0.0.1:9000/echo");
        assert_eq!(nc.protocol.contract, cfg.chain.contract);
        let files = cfg.files_config();
        assert_eq!(files.share_dirs, vec![PathBuf::from("/srv/por-share")]);
        assert_eq!(files.download_dir, Some(PathBuf::from("/srv/por-downloads")));
        assert_eq!(files.limits, por_files::StoreLimits::default(), "the example shows the defaults");
        assert_eq!(files.dir, cfg.node.data_dir.join("files"));
    }

    #[test]
    fn external_addresses_peers_cannot_dial_are_refused_with_the_reason() {
        let node_config = |a: &str| {
            FileConfig::parse(&format!("[node]\nexternal_addresses = [{a:?}]"))
                .and_then(|c| c.node_config())
                .map(|n| n.external_addresses)
        };
        assert_eq!(node_config("/dns4/node.example.org/tcp/4001").unwrap().len(), 1);
        for (bad, why) in [
            ("203.0.113.7:4001", "is not a multiaddr"),
            ("/ip4/0.0.0.0/tcp/4001", "unspecified address"),
            ("/ip4/203.0.113.7/udp/4001", "has no /tcp/<port>"),
            (
                "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWKCS4p9NFkeXSbjTswPgaP1vvJrXwd1fE37GvxXqWhzwJ",
                "must not name a peer id",
            ),
        ] {
            let e = node_config(bad).unwrap_err();
            assert_eq!(e.key(), Some("node.external_addresses"));
            let text = e.to_string();
            assert!(text.starts_with("[node].external_addresses: ") && text.contains(why), "{bad}: {text}");
        }
    }

    #[test]
    fn empty_file_takes_defaults() {
        let cfg = FileConfig::parse("").unwrap();
        assert_eq!(cfg.api_addr().unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!(cfg.node.listen, vec!["/ip4/0.0.0.0/tcp/4001".to_string()]);
    }

    #[test]
    fn errors_name_the_field() {
        let e = FileConfig::parse("[node]\nlisten = [\"nonsense\"]").unwrap_err();
        assert!(e.to_string().contains("[node].listen"), "{e}");
        let e = FileConfig::parse("[node]\nbootstrap = [\"/ip4/1.2.3.4/tcp/1\"]").unwrap_err();
        assert!(e.to_string().contains("/p2p/"), "{e}");
        let e = FileConfig::parse("[api]\nlisten = \"localhost\"").unwrap_err();
        assert!(e.to_string().contains("[api].listen"), "{e}");
        let e = FileConfig::parse("[api]\nmetrics_listen = \"9181\"").unwrap_err();
        assert!(e.to_string().contains("[api].metrics_listen"), "{e}");
        let e = FileConfig::parse("[services]\nx = \"https://a.b\"").unwrap_err();
        assert!(e.to_string().contains("[services].x"), "{e}");
        let e = FileConfig::parse("[chain]\naccept_deposit = \"1 NEAR\"").unwrap_err();
        assert!(e.to_string().contains("[chain].accept_deposit"), "{e}");
        let e = FileConfig::parse("[chain]\nreconnect_peers = [\"Not An Account\"]").unwrap_err();
        assert!(e.to_string().contains("[chain]: reconnect_peers: \"Not An Account\""), "{e}");
        assert_eq!(e.key(), Some("chain.reconnect_peers"));
        let e = FileConfig::parse("[chain]\nreconnect_deposit = \"-1\"").unwrap_err();
        assert_eq!(e.key(), Some("chain.reconnect_deposit"), "{e}");
        let ok = FileConfig::parse("[chain]\nreconnect_peers = [\"carol.devnet\"]\nreconnect_deposit = \"7\"").unwrap();
        let policy = ok.reconnect_policy().unwrap();
        assert_eq!((policy.enabled, policy.peers[0].as_str(), policy.deposit), (true, "carol.devnet", Some(7)));
        let e = FileConfig::parse("[node]\nlisten_on = []").unwrap_err();
        assert!(e.to_string().contains("listen_on"), "{e}");
    }
}
