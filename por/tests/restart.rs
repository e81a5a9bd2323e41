//! A node restarted after its channels changed on chain while it was down
//! brings its books in line with the chain before anything else: a channel
//! severed and finalized meanwhile (so no longer among its live channels on
//! chain) leaves its books at once.

mod chain_common;

use std::time::Duration;

use chain_common::{ChainNet, until};
use por_core::protocol::ProtocolConfig;
use por_core::{ChannelId, EdgeParams};
use por_devnet::genesis::CONTRACT_ACCOUNT;
use por_node::agent::{self, AgentConfig};
use por_node::chain::{ChainClient, ChannelState};
use por_node::{NodeConfig, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_closed_while_the_node_was_down_leaves_its_books_on_restart() {
    let net = ChainNet::start(2, 0, |_| ProtocolConfig::default()).await;
    let c01 = net.open(0, 1, EdgeParams { latency_ms: 20, base_fee: 1_000, byte_fee: 0 }).await;
    // Node 1 goes down; node 0 cuts the channel, and once the challenge
    // window has passed its agent finalizes it.
    net.stop(1).await;
    assert!(net.nodes[0].node.handle.sever(ChannelId(c01)).await.unwrap());
    until(Duration::from_secs(20), "the sever is on chain", || async {
        net.view.channel(c01).await.unwrap().is_some_and(|c| c.state != ChannelState::Open)
    })
    .await;
    let window = net.view.config().await.unwrap().challenge_period_ms;
    net.view.chain().advance_time(window + 1_000).await.unwrap();
    until(Duration::from_secs(20), "the severance is finalized", || async {
        net.view.channel(c01).await.unwrap().is_some_and(|c| c.state == ChannelState::Closed)
    })
    .await;
    // Node 1 comes back from its data directory: the store still has the
    // channel, the chain does not.
    let terms = net.view.config().await.unwrap();
    let mut nc = NodeConfig::new(net.nodes[1].dir.path());
    nc.protocol.contract = CONTRACT_ACCOUNT.into();
    nc.protocol.late_fee_per_sec = terms.late_fee_per_sec;
    nc.protocol.max_late_ms = terms.max_late_ms;
    let mut registry = prometheus_client::registry::Registry::default();
    let node = start(nc, [2; 32], &mut registry).await.unwrap();
    let restored = node.handle.status().await.unwrap();
    assert!(restored.channels.iter().any(|c| c.0 == ChannelId(c01)), "the store kept the channel");
    let cfg = AgentConfig {
        poll: Duration::from_millis(150),
        accept_deposit: None,
        partition_calls: 50,
        ..AgentConfig::default()
    };
    let _agent =
        agent::spawn(net.nodes[1].c.clone(), net.nodes[1].account.clone(), node.handle.clone(), cfg).await.unwrap();
    until(Duration::from_secs(10), "the closed channel leaves the restarted node's books", || async {
        !node.handle.status().await.unwrap().channels.iter().any(|c| c.0 == ChannelId(c01))
    })
    .await;
}
