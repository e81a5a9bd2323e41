//! Embedding PoR in an application: two nodes in one process, a channel
//! between them, a service on one and a paid request from the other.
//!
//! Run: `cargo run -p por-node --example embed`
//!
//! In a real deployment the channel comes from the chain (the node follows
//! the contract's graph); here it is set up by hand on both sides, as the
//! chain follower would, so the example runs with no chain at all.

use std::sync::Arc;
use std::time::Duration;

use por_core::protocol::{ChannelSetup, Delivery};
use por_core::{ChannelId, EdgeParams, Route, RouteHop};
use por_node::{NodeConfig, Reply, ServiceRequest, start};
use prometheus_client::registry::Registry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut registry = Registry::default();
    // This example has no chain, so the nodes cannot check a route's terms
    // against the contract's graph; they are told to trust them. A node with
    // a chain (`por node run`) gets the graph from its chain agent and never
    // sets this.
    let cfg = |name: &str| {
        let mut c = NodeConfig::new(dir.path().join(name));
        c.protocol.limits.trust_route_terms = true;
        c
    };
    let client = start(cfg("client"), [1; 32], &mut registry).await?;
    let server = start(cfg("server"), [2; 32], &mut Registry::default()).await?;
    println!("client {} on {:?}", client.peer_id, client.listen_addrs);
    println!("server {} on {:?}", server.peer_id, server.listen_addrs);

    // One channel, 1 NEAR of deposit on each side, 20 ms promised latency.
    let deposit = 10u128.pow(24);
    for (me, peer) in [(&client, &server), (&server, &client)] {
        let setup = ChannelSetup {
            channel: ChannelId(1),
            remote: peer.key,
            local_deposit: deposit,
            remote_deposit: deposit,
            latency_ms: 20,
            sync_ms: None,
        };
        me.handle.add_channel(setup, peer.listen_addrs.clone()).await?;
    }

    // The server role: an async handler.
    server
        .handle
        .serve(
            "reverse",
            Arc::new(|r: ServiceRequest| async move { Reply::ok(r.body.iter().rev().copied().collect()) }),
        )
        .await?;

    // The client role: pay the route, then wait for the outcome.
    let params = EdgeParams { latency_ms: 20, base_fee: 10u128.pow(18), byte_fee: 10u128.pow(12) };
    let route = Route { hops: vec![RouteHop { channel: ChannelId(1), node: server.key, params }], service_ms: 50 };
    let quote = route.quote(5, 1024)?;
    println!("price {} yocto, bound {} ms", quote.total(), quote.bound_ms());
    let (id, mut outcomes) = client.handle.request(route, "reverse", b"hello".to_vec(), 1024).await?;
    while let Some(d) = tokio::time::timeout(Duration::from_secs(5), outcomes.recv()).await? {
        match d {
            Delivery::Acked { .. } => println!("{id}: acknowledged by the first hop"),
            Delivery::LatePayment { amount, .. } => println!("{id}: late payment of {amount} yocto"),
            Delivery::Response { response, .. } => {
                let reply = Reply::decode(&response.body).expect("a reply");
                println!("{id}: {} {:?}", reply.status, String::from_utf8_lossy(&reply.body));
                break;
            }
            Delivery::Notice { notice, .. } => {
                println!("{id}: severance notice for channel {}", notice.channel);
                break;
            }
            Delivery::Refused { refused, .. } => {
                println!("{id}: {refused}");
                break;
            }
        }
    }
    client.handle.shutdown().await;
    server.handle.shutdown().await;
    Ok(())
}
