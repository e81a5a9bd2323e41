//! [`NodeBuilder`]: a PoR node embedded in an application.
//!
//! ```no_run
//! # async fn demo() -> Result<(), por_node::builder::BuildError> {
//! use por_node::builder::NodeBuilder;
//!
//! let mut node = NodeBuilder::new("./my-node")
//!     .chain(["http://127.0.0.1:3030"], "por.devnet", "./my-node/account.json")
//!     .register(50, 5 * 10u128.pow(24))
//!     .start()
//!     .await?;
//! let mut events = node.events();
//! // node.handle().serve(..), node.handle().send(..) …
//! # Ok(()) }
//! ```
//!
//! What the builder does for the application is what `por node run` does
//! for an operator, minus the HTTP API and the configuration file: it loads
//! (or creates) the node key, checks every setting before anything starts
//! and names the one that is wrong, reads the contract's late-fee terms,
//! checks (or makes) the chain registration, starts the event loop and the
//! chain agent, and hands back a [`Node`] with its [`NodeHandle`] and its
//! event stream. Every setting has a default but the data directory:
//!
//! | setting | default |
//! |---|---|
//! | node key | `<data dir>/node.key`, created on first start |
//! | listen addresses | `/ip4/127.0.0.1/tcp/0` (loopback, a free port) |
//! | bootstrap peers | none |
//! | external addresses | none (see [`NodeConfig::external_addresses`]) |
//! | chain | none: the node follows no graph, so [`NodeHandle::send`] has no routes; set one to take part in a network |
//! | registration | none: the account must be registered already (`por init` does it) |
//! | channels proposed to this node | wait for a confirmation ([`NodeBuilder::accept_channels`] confirms them) |
//! | metrics | a registry of its own ([`Node::registry`]) |

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use near_primitives::types::AccountId;
use por_core::protocol::ProtocolConfig;
use por_core::{Amount, NodeKey, NodeSigner, Signer};
use prometheus_client::registry::Registry;
use tracing::info;

use crate::agent::{self, AgentConfig};
use crate::chain::{NearRpcChain, PorContract, RpcEndpoints, RpcMetrics, read_key_file};
use crate::events::EventStream;
use crate::handle::NodeHandle;
use crate::metrics::ChainMetrics;
use crate::runtime::{NodeConfig, RunningNode, StartError, start};

/// The signing contract client a node with a chain uses.
pub type Contract = PorContract<Arc<NearRpcChain>>;

/// A setting is wrong, or the node could not start. Each variant names the
/// input and what to do.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The node key file could not be read or created.
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
    /// A bootstrap address does not end with the peer's id.
    #[error("bootstrap address {0} must end with /p2p/<peer id> (the peer's id is how the node checks who answers)")]
    Bootstrap(Multiaddr),
    /// The chain settings are not usable.
    #[error("chain setting {setting}: {why}")]
    Chain {
        /// Which setting (`rpc`, `contract`, `key file …`).
        setting: String,
        /// What is wrong with it.
        why: String,
    },
    /// The chain could not be reached, or refused what the node needs.
    #[error("chain: {0}")]
    ChainCall(String),
    /// The node did not start.
    #[error(transparent)]
    Start(#[from] StartError),
}

/// The chain settings, as given (checked by [`NodeBuilder::build`]).
#[derive(Debug, Clone)]
struct ChainSettings {
    rpc: Vec<String>,
    contract: String,
    key_file: PathBuf,
}

/// Builds a node to embed. See the [module docs](self) for the defaults.
pub struct NodeBuilder {
    config: NodeConfig,
    seed: Option<[u8; 32]>,
    key_file: Option<PathBuf>,
    listen_set: bool,
    bootstrap: Vec<Multiaddr>,
    chain: Option<ChainSettings>,
    register: Option<(u64, Amount)>,
    agent: AgentConfig,
    registry: Registry,
}

impl NodeBuilder {
    /// A node whose store and key live under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        NodeBuilder {
            config: NodeConfig::new(data_dir),
            seed: None,
            key_file: None,
            listen_set: false,
            bootstrap: Vec::new(),
            chain: None,
            register: None,
            agent: AgentConfig::default(),
            registry: Registry::default(),
        }
    }

    /// Starts from `config` (its data directory included) instead of the
    /// defaults; the builder's other settings go on top of it.
    pub fn from_config(config: NodeConfig) -> Self {
        let listen_set = true;
        NodeBuilder { config, listen_set, ..NodeBuilder::new(PathBuf::new()) }
    }

    /// The node key's 32-byte secret seed, held by the application (for
    /// example in its own secret store). Default: the key file.
    pub fn seed(mut self, seed: [u8; 32]) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Where the node key lives (created on first start, mode 0600).
    /// Default `<data dir>/node.key`.
    pub fn key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key_file = Some(path.into());
        self
    }

    /// Listens on `addr` (call once per address). The first call replaces
    /// the default `/ip4/127.0.0.1/tcp/0`.
    pub fn listen(mut self, addr: Multiaddr) -> Self {
        if !self.listen_set {
            self.config.listen.clear();
            self.listen_set = true;
        }
        self.config.listen.push(addr);
        self
    }

    /// Bootstraps Kademlia from `addr`, which ends with `/p2p/<peer id>`.
    pub fn bootstrap(mut self, addr: Multiaddr) -> Self {
        self.bootstrap.push(addr);
        self
    }

    /// Announces `addr` to peers as an address this node is reachable at
    /// ([`NodeConfig::external_addresses`]).
    pub fn external_address(mut self, addr: Multiaddr) -> Self {
        self.config.external_addresses.push(addr);
        self
    }

    /// The protocol engine's settings. Default [`ProtocolConfig::default`]
    /// (with a chain, the late-fee terms are the contract's whatever is set).
    pub fn protocol(mut self, protocol: ProtocolConfig) -> Self {
        self.config.protocol = protocol;
        self
    }

    /// How long a service handler may take before the node answers 504.
    /// Default 30 s.
    pub fn service_timeout(mut self, timeout: Duration) -> Self {
        self.config.service_timeout = timeout;
        self
    }

    /// Takes part in the network of the PoR contract `contract`, over the
    /// NEAR RPC endpoints `rpc` (failover in this order), signing as the
    /// account of `key_file` (NEAR's key file JSON: `account_id`,
    /// `private_key`, as `near-cli` and the devnet write it).
    pub fn chain<S: Into<String>>(
        mut self,
        rpc: impl IntoIterator<Item = S>,
        contract: impl Into<String>,
        key_file: impl Into<PathBuf>,
    ) -> Self {
        self.chain = Some(ChainSettings {
            rpc: rpc.into_iter().map(Into::into).collect(),
            contract: contract.into(),
            key_file: key_file.into(),
        });
        self
    }

    /// Registers the node on the contract at start if its account is not
    /// registered yet, promising `service_ms` and staking `stake` yocto
    /// (the contract's storage fee is added). Needs [`chain`](Self::chain).
    pub fn register(mut self, service_ms: u64, stake: Amount) -> Self {
        self.register = Some((service_ms, stake));
        self
    }

    /// Confirms channels other nodes propose to this one, attaching
    /// `deposit` yocto to each (the contract's channel storage fee is added). Default: proposals wait (for `por channel
    /// confirm` or [`Contract::confirm_channel`](crate::chain::PorContract::confirm_channel)).
    pub fn accept_channels(mut self, deposit: Amount) -> Self {
        self.agent.accept_deposit = Some(deposit);
        self
    }

    /// How often the chain agent polls the contract. Default 1 s.
    pub fn chain_poll(mut self, every: Duration) -> Self {
        self.agent.poll = every;
        self
    }

    /// The registry the node's metrics go into. Default a new one.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }

    /// Checks every setting and loads (or creates) the node key; nothing
    /// runs yet.
    pub fn build(mut self) -> Result<BuiltNode, BuildError> {
        for addr in std::mem::take(&mut self.bootstrap) {
            match addr.iter().last() {
                Some(Protocol::P2p(peer)) => self.config.bootstrap.push((peer, addr)),
                _ => return Err(BuildError::Bootstrap(addr)),
            }
        }
        let chain = match &self.chain {
            None => {
                if self.register.is_some() {
                    return Err(BuildError::Chain {
                        setting: "register".into(),
                        why: "registering needs a chain: call .chain(rpc, contract, key_file) too".into(),
                    });
                }
                None
            }
            Some(c) => Some(chain_client(c, &mut self.registry)?),
        };
        let seed = match self.seed {
            Some(s) => s,
            None => {
                let path = self.key_file.clone().unwrap_or_else(|| self.config.data_dir.join("node.key"));
                crate::keys::load_or_create(&path, rand::random())?
            }
        };
        Ok(BuiltNode {
            config: self.config,
            seed,
            chain,
            register: self.register,
            agent: self.agent,
            registry: self.registry,
        })
    }

    /// [`build`](Self::build), then [`BuiltNode::start`].
    pub async fn start(self) -> Result<Node, BuildError> {
        self.build()?.start().await
    }
}

/// The signing contract client of `c`, counting its calls and which RPC
/// endpoint answered in `registry`.
fn chain_client(c: &ChainSettings, registry: &mut Registry) -> Result<(Contract, AccountId), BuildError> {
    let bad = |setting: &str, why: String| BuildError::Chain { setting: setting.into(), why };
    if c.rpc.is_empty() {
        return Err(bad("rpc", "no RPC endpoint given; give at least one URL".into()));
    }
    let endpoints = RpcEndpoints::parse(&c.rpc).map_err(|e| bad("rpc", e.to_string()))?;
    let contract: AccountId =
        c.contract.parse().map_err(|e| bad("contract", format!("{:?} is not a NEAR account id: {e}", c.contract)))?;
    let (account, key) =
        read_key_file(&c.key_file).map_err(|e| bad(&format!("key file {}", c.key_file.display()), e.to_string()))?;
    let chain =
        NearRpcChain::over(endpoints.with_metrics(RpcMetrics::new(registry))).signing(account.clone(), Some(key), None);
    let contract = PorContract::new(Arc::new(chain), contract).with_metrics(ChainMetrics::new(registry));
    Ok((contract, account))
}

/// A node whose settings are checked and whose key is loaded; [`start`](Self::start) runs it.
pub struct BuiltNode {
    config: NodeConfig,
    seed: [u8; 32],
    chain: Option<(Contract, AccountId)>,
    register: Option<(u64, Amount)>,
    agent: AgentConfig,
    registry: Registry,
}

impl BuiltNode {
    /// The node key.
    pub fn key(&self) -> NodeKey {
        NodeSigner::from_seed(self.seed).public()
    }

    /// The libp2p peer id (derived from the node key).
    pub fn peer_id(&self) -> PeerId {
        PeerId::from_bytes(&self.key().peer_id_bytes()).expect("an ed25519 key is a valid peer id")
    }

    /// Starts the node: with a chain, reads the contract's late-fee terms,
    /// checks the registration (registers if asked to), then starts the
    /// event loop and the chain agent.
    pub async fn start(self) -> Result<Node, BuildError> {
        let BuiltNode { mut config, seed, chain, register, agent: mut agent_config, mut registry } = self;
        let key = NodeSigner::from_seed(seed).public();
        if let Some((c, account)) = &chain {
            let terms =
                c.config().await.map_err(|e| BuildError::ChainCall(format!("reading the contract's config: {e}")))?;
            config.protocol.contract = c.account().to_string();
            config.protocol.late_fee_per_sec = terms.late_fee_per_sec;
            config.protocol.max_late_ms = terms.max_late_ms;
            agent_config.accept_deposit = agent_config.accept_deposit.map(|d| d + terms.channel_storage_fee);
            match c
                .node(account)
                .await
                .map_err(|e| BuildError::ChainCall(format!("reading {account}'s registration: {e}")))?
            {
                Some(v) if v.node_key != key => {
                    return Err(BuildError::ChainCall(format!(
                        "{account} is registered with node key {}, but this node's key is {}; use the key it was \
                         registered with",
                        v.node_key.to_hex(),
                        key.to_hex()
                    )));
                }
                Some(_) => {}
                None => match register {
                    Some((service_ms, stake)) => {
                        c.register_node(&NodeSigner::from_seed(seed), service_ms, stake + terms.node_storage_fee)
                            .await
                            .map_err(|e| BuildError::ChainCall(format!("registering {account}: {e}")))?;
                        info!(%account, service_ms, stake, "registered on the contract");
                    }
                    None => {
                        return Err(BuildError::ChainCall(format!(
                            "{account} is not registered on the contract; register it (`por init`) or call \
                             NodeBuilder::register"
                        )));
                    }
                },
            }
        }
        let node = start(config, seed, &mut registry).await?;
        // Subscribed before the agent runs: the first `events()` sees the
        // channels it starts tracking.
        let first_events = Some(node.handle.events());
        let (contract, agent) = match chain {
            Some((c, account)) => {
                let task = agent::spawn(c.clone(), account.clone(), node.handle.clone(), agent_config)
                    .await
                    .map_err(|_| BuildError::ChainCall("the node stopped before its chain agent started".into()))?;
                (Some((c, account)), Some(task))
            }
            None => (None, None),
        };
        Ok(Node { node, contract, agent, registry: Arc::new(registry), first_events })
    }
}

/// A running embedded node.
pub struct Node {
    node: RunningNode,
    contract: Option<(Contract, AccountId)>,
    agent: Option<tokio::task::JoinHandle<()>>,
    registry: Arc<Registry>,
    first_events: Option<EventStream>,
}

impl Node {
    /// The handle: serve, send, status, channels (cloneable).
    pub fn handle(&self) -> &NodeHandle {
        &self.node.handle
    }

    /// The node's events ([`crate::events`]). The first call returns a
    /// stream subscribed before the chain agent started, so it sees every
    /// event since [`BuiltNode::start`]; later calls see events from then on.
    pub fn events(&mut self) -> EventStream {
        self.first_events.take().unwrap_or_else(|| self.node.handle.events())
    }

    /// The node key.
    pub fn key(&self) -> NodeKey {
        self.node.key
    }

    /// The libp2p peer id.
    pub fn peer_id(&self) -> PeerId {
        self.node.peer_id
    }

    /// The addresses it listens on, each with `/p2p/<peer id>` (what other
    /// nodes bootstrap from).
    pub fn addresses(&self) -> Vec<Multiaddr> {
        self.node.listen_addrs.iter().map(|a| a.clone().with(Protocol::P2p(self.node.peer_id))).collect()
    }

    /// The signing contract client and the node's account, with a chain.
    pub fn contract(&self) -> Option<(&Contract, &AccountId)> {
        self.contract.as_ref().map(|(c, a)| (c, a))
    }

    /// The metrics registry (render it with [`crate::metrics::render`]).
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Stops as `por node run` does on SIGTERM: drains (refuses new paid
    /// requests, waits up to `drain` for those in flight), then stops the
    /// event loop (the store is flushed) and the chain agent. Returns the
    /// requests still in flight when the drain ended.
    pub async fn stop(self, drain: Duration) -> usize {
        let left = self.node.handle.drain(drain).await.unwrap_or(0);
        self.node.handle.shutdown().await;
        let _ = self.node.task.await;
        if let Some(a) = self.agent {
            a.abort();
        }
        left
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(b: NodeBuilder) -> String {
        match b.build() {
            Ok(_) => panic!("built"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_bad_setting_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let b = || NodeBuilder::new(dir.path());
        let no_peer: Multiaddr = "/ip4/10.0.0.1/tcp/4101".parse().unwrap();
        let e = err(b().bootstrap(no_peer));
        assert!(e.contains("bootstrap address /ip4/10.0.0.1/tcp/4101 must end with /p2p/"), "{e}");
        let e = err(b().register(10, 1));
        assert!(e.contains("registering needs a chain"), "{e}");
        let e = err(b().chain(Vec::<String>::new(), "por.devnet", dir.path().join("k.json")));
        assert!(e.contains("chain setting rpc: no RPC endpoint given"), "{e}");
        let e = err(b().chain(["ftp://x"], "por.devnet", dir.path().join("k.json")));
        assert!(e.starts_with("chain setting rpc: "), "{e}");
        let e = err(b().chain(["http://127.0.0.1:3030"], "Not An Account!", dir.path().join("k.json")));
        assert!(e.contains("chain setting contract: \"Not An Account!\" is not a NEAR account id"), "{e}");
        let e = err(b().chain(["http://127.0.0.1:3030"], "por.devnet", dir.path().join("missing.json")));
        assert!(e.contains("missing.json"), "{e}");
    }

    #[test]
    fn the_key_file_is_created_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = NodeBuilder::new(dir.path()).build().unwrap();
        assert!(dir.path().join("node.key").exists());
        let again = NodeBuilder::new(dir.path()).build().unwrap();
        assert_eq!(first.key(), again.key());
        assert_eq!(first.peer_id(), again.peer_id());
        let chosen = NodeBuilder::new(dir.path()).seed([9; 32]).build().unwrap();
        assert_eq!(chosen.key(), NodeSigner::from_seed([9; 32]).public());
    }
}
