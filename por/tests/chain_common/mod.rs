//! Harness for tests of nodes on a chain: a devnet on loopback running the
//! real contract wasm, nodes that register on it, and a chain agent per node
//! that follows the graph, confirms channels proposed to it and carries out
//! severances — channels exist only because the chain says so.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use near_primitives::types::AccountId;
use por_core::protocol::ProtocolConfig;
use por_core::{ChannelId, EdgeParams};
use por_devnet::genesis::{self, CONTRACT_ACCOUNT, GenesisOptions, KeyFile, NEAR};
use por_devnet::rpc::{DevnetServer, ServerConfig};
use por_node::agent::{self, AgentConfig};
use por_node::chain::{NearRpcChain, PorContract};
use por_node::{NodeConfig, Reply, RunningNode, ServiceRequest, start};

pub const STAKE: u128 = 5 * NEAR;
/// `node_storage_fee` and `channel_storage_fee` of the devnet config.
pub const FEE: u128 = NEAR / 100;
/// Each side's deposit in a channel.
pub const DEPOSIT: u128 = NEAR;

pub struct ChainNode {
    pub node: RunningNode,
    pub account: AccountId,
    pub c: PorContract<Arc<NearRpcChain>>,
    pub agent: tokio::task::JoinHandle<()>,
    pub dir: tempfile::TempDir,
    /// What it was started with (a restart uses it again).
    pub config: NodeConfig,
    pub seed: [u8; 32],
}

pub struct ChainNet {
    pub srv: DevnetServer,
    pub nodes: Vec<ChainNode>,
    /// A view-only client.
    pub view: PorContract<NearRpcChain>,
    _dir: tempfile::TempDir,
}

/// The contract's wasm (`make contract` builds it).
pub fn wasm() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../artifacts/por_contract.wasm");
    assert!(p.exists(), "{} is missing: run `make contract` (make test does it first)", p.display());
    p
}

impl ChainNet {
    /// A devnet with `n` funded accounts and `n` registered nodes (seeds
    /// 1..=n, service time `service_ms`), each with protocol settings from
    /// `protocol(i)` and the contract's late-fee terms.
    pub async fn start(n: usize, service_ms: u64, protocol: impl Fn(usize) -> ProtocolConfig) -> ChainNet {
        // Tests pass challenge windows by moving the devnet's clock.
        let server = ServerConfig { allow_time_travel: true, ..ServerConfig::default() };
        Self::start_with(n, service_ms, server, protocol).await
    }

    /// As [`start`](Self::start), with the devnet's server settings.
    pub async fn start_with(
        n: usize,
        service_ms: u64,
        server: ServerConfig,
        protocol: impl Fn(usize) -> ProtocolConfig,
    ) -> ChainNet {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        let opened = genesis::open_or_create(
            dir.path(),
            &GenesisOptions { wasm: wasm(), accounts: n, ..GenesisOptions::default() },
        )
        .unwrap();
        let srv = DevnetServer::start(opened.chain, server).await.unwrap();
        let contract_id: AccountId = CONTRACT_ACCOUNT.parse().unwrap();
        let view = PorContract::new(NearRpcChain::new(&srv.url()), contract_id.clone());
        let terms = view.config().await.unwrap();
        let mut nodes = Vec::new();
        for i in 0..n {
            let kf = KeyFile::read(&dir.path().join(format!("keys/node{i}.devnet.json"))).unwrap();
            let c = PorContract::new(
                Arc::new(NearRpcChain::with_signer(&srv.url(), kf.account_id.clone(), kf.private_key)),
                contract_id.clone(),
            );
            let data = tempfile::tempdir().unwrap();
            let mut nc = NodeConfig::new(data.path());
            nc.protocol = protocol(i);
            nc.protocol.contract = CONTRACT_ACCOUNT.into();
            nc.protocol.late_fee_per_sec = terms.late_fee_per_sec;
            nc.protocol.max_late_ms = terms.max_late_ms;
            // Everyone bootstraps from node 0, so peers find each other by key.
            if let Some(first) = nodes.first() {
                let first: &ChainNode = first;
                nc.bootstrap = vec![(first.node.peer_id, first.node.listen_addrs[0].clone())];
            }
            let mut registry = prometheus_client::registry::Registry::default();
            let seed = [i as u8 + 1; 32];
            let node = start(nc.clone(), seed, &mut registry).await.unwrap();
            c.register_node(&por_core::NodeSigner::from_seed(seed), service_ms, STAKE + FEE).await.unwrap();
            let agent =
                agent::spawn(c.clone(), kf.account_id.clone(), node.handle.clone(), agent_config()).await.unwrap();
            nc.listen = node.listen_addrs.clone();
            nodes.push(ChainNode { node, account: kf.account_id, c, agent, dir: data, config: nc, seed });
        }
        ChainNet { srv, nodes, view, _dir: dir }
    }

    /// Node `i` dies at once, as under `kill -9` (its event loop and chain
    /// agent are aborted: nothing is flushed, its connections drop), stays
    /// down for `down`, and starts again from its data directory on the
    /// same address, with a new chain agent.
    pub async fn crash_and_restart(&mut self, i: usize, down: Duration) {
        let n = &mut self.nodes[i];
        n.agent.abort();
        n.node.task.abort();
        tokio::time::sleep(down).await;
        self.start_again(i).await;
    }

    /// Node `i` stops as `por node run` does on SIGTERM (drains for up to
    /// `drain`, then stops and flushes its store), and starts again at once
    /// from its data directory. Returns the requests it still had in flight
    /// when the drain ended.
    pub async fn drain_and_restart(&mut self, i: usize, drain: Duration) -> usize {
        let n = &mut self.nodes[i];
        let left = n.node.handle.drain(drain).await.unwrap();
        n.node.handle.shutdown().await;
        let _ = (&mut n.node.task).await;
        n.agent.abort();
        self.start_again(i).await;
        left
    }

    async fn start_again(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        let mut registry = prometheus_client::registry::Registry::default();
        let node = start(n.config.clone(), n.seed, &mut registry).await.unwrap();
        n.agent = agent::spawn(n.c.clone(), n.account.clone(), node.handle.clone(), agent_config()).await.unwrap();
        n.node = node;
    }

    /// Node `i`'s chain agent starts again with `config` (the old one
    /// stops; the engine takes the new one's job queue).
    pub async fn set_agent(&mut self, i: usize, config: AgentConfig) {
        let n = &mut self.nodes[i];
        n.agent.abort();
        n.agent = agent::spawn(n.c.clone(), n.account.clone(), n.node.handle.clone(), config).await.unwrap();
    }

    /// The contract owner's signing client (for config changes).
    pub fn owner(&self) -> PorContract<Arc<NearRpcChain>> {
        let kf = KeyFile::read(&self._dir.path().join(format!("keys/{}.json", genesis::OWNER_ACCOUNT))).unwrap();
        let contract_id: AccountId = CONTRACT_ACCOUNT.parse().unwrap();
        PorContract::new(
            Arc::new(NearRpcChain::with_signer(&self.srv.url(), kf.account_id, kf.private_key)),
            contract_id,
        )
    }

    /// Node `a` proposes a channel to `b`; `b`'s agent confirms it; returns
    /// once both nodes track it and every node's graph has it. (Each node
    /// checks routes against its own copy of the graph, so a request over
    /// an edge a first hop has not seen yet is refused `unknown_edge`: the
    /// tests start from a network whose nodes agree.)
    pub async fn open(&self, a: usize, b: usize, params: EdgeParams) -> u64 {
        let id = self.nodes[a].c.open_channel(&self.nodes[b].account, params, DEPOSIT + FEE).await.unwrap();
        for i in [a, b] {
            self.wait_tracking(i, id).await;
        }
        for (i, n) in self.nodes.iter().enumerate() {
            let h = &n.node.handle;
            until(Duration::from_secs(20), &format!("node {i}'s graph has channel {id}"), || async {
                h.graph().is_some_and(|g| g.graph.edge(ChannelId(id)).is_some())
            })
            .await;
        }
        id
    }

    pub async fn wait_tracking(&self, i: usize, channel: u64) {
        let h = &self.nodes[i].node.handle;
        until(Duration::from_secs(20), &format!("node {i} tracks channel {channel}"), || async {
            h.status().await.unwrap().channels.iter().any(|c| c.0 == ChannelId(channel))
        })
        .await;
    }

    /// Waits until node `i`'s graph has `edges` open edges.
    pub async fn wait_graph(&self, i: usize, edges: usize) {
        let h = &self.nodes[i].node.handle;
        until(Duration::from_secs(20), &format!("node {i} sees {edges} edges"), || async {
            h.graph().is_some_and(|g| g.graph.edge_count() == edges)
        })
        .await;
    }

    /// Node `i` goes offline: its event loop and chain agent stop, its
    /// connections close.
    pub async fn stop(&self, i: usize) {
        self.nodes[i].node.handle.shutdown().await;
        self.nodes[i].agent.abort();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    /// Node `i` serves `echo`.
    pub async fn serve_echo(&self, i: usize) {
        let svc = std::sync::Arc::new(|r: ServiceRequest| async move { Reply::ok(r.body) });
        self.nodes[i].node.handle.serve("echo", svc).await.unwrap();
    }
}

/// Every node's chain agent settings: fast polls, proposals confirmed with
/// [`DEPOSIT`], splits settled by their ends; no reconnection (the paper's
/// literal scenarios: a test that has a stranded node reconnect gives it
/// its policy with [`ChainNet::set_agent`]).
pub fn agent_config() -> AgentConfig {
    AgentConfig {
        poll: Duration::from_millis(150),
        accept_deposit: Some(DEPOSIT),
        partition_calls: 50,
        reconnect: por_node::agent::ReconnectPolicy::off(),
        ..AgentConfig::default()
    }
}

#[path = "../../../node/tests/common/until.rs"]
mod until;
#[allow(unused_imports)] // not every test that shares this module waits
pub use until::until;
