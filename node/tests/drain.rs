//! A graceful stop over real nodes (DESIGN §2.11): a relay that drains
//! finishes the request it took and refuses the next one `draining`, without
//! acknowledging it. (That its upstream then refuses before paying it, and
//! that the refused payment becomes credit on both books, is tested in the
//! engine: `protocol::tests::restart`.)

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{outcome, spawn_network};
use por_core::protocol::{Delivery, Refusal};
use por_core::{ChannelId, EdgeParams};
use por_node::{Reply, ServiceRequest};

#[tokio::test]
async fn a_draining_relay_finishes_its_request_and_is_routed_around() {
    let net = spawn_network(3).await;
    net.link(0, 1, 1, 20).await;
    net.link(1, 2, 2, 20).await;
    let slow = Arc::new(|r: ServiceRequest| async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        Reply::ok(r.body)
    });
    net.nodes[2].handle.serve("echo", slow).await.unwrap();
    let params = EdgeParams { latency_ms: 20, base_fee: 1_000, byte_fee: 2 };
    let route = net.route(&[0, 1, 2], &[1, 2], params, 1_000);
    let (first, mut rx) = net.nodes[0].handle.request(route.clone(), "echo", b"one".to_vec(), 64).await.unwrap();
    // Wait until the relay has taken the request, then drain it.
    let relay = net.nodes[1].handle.clone();
    tokio::time::timeout(Duration::from_secs(5), async {
        while relay.status().await.unwrap().in_flight == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the relay took the request");
    let draining = tokio::spawn(async move { relay.drain(Duration::from_secs(10)).await });
    let seen = outcome(&mut rx, Duration::from_secs(10)).await;
    assert!(matches!(seen.last(), Some(Delivery::Response { request_id, .. }) if *request_id == first), "{seen:?}");
    let left = draining.await.unwrap().unwrap();
    assert_eq!(left, 0, "the drain ends once the request is done");
    assert!(net.nodes[1].handle.status().await.unwrap().draining);

    // A new request through it is refused, and nothing is acknowledged.
    let (second, mut rx) = net.nodes[0].handle.request(route, "echo", b"two".to_vec(), 64).await.unwrap();
    let seen = outcome(&mut rx, Duration::from_secs(5)).await;
    assert!(!seen.iter().any(|d| matches!(d, Delivery::Acked { .. })), "{seen:?}");
    let why = net.nodes[0].handle.refusal(second).await.unwrap().expect("a refusal is kept");
    assert_eq!(why.code, Some(Refusal::Draining), "{why:?}");
    assert_eq!(net.nodes[0].handle.status().await.unwrap().in_flight, 0);
    let b = net.nodes[1].handle.status().await.unwrap();
    assert!(b.channels.iter().any(|c| c.0 == ChannelId(2)), "the relay's channels stay open: it was not cut");
}
