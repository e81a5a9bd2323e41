//! The event stream ([`por_node::events`]) as an embedding application
//! reads it: real nodes on loopback, channels set up as the chain follower
//! would, and the events each node emits where the thing happens.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{DEPOSIT, outcome, spawn_network};
use por_core::protocol::{Delivery, SeverReason};
use por_core::{ChannelId, EdgeParams, Hash32};
use por_node::{EventError, EventStream, NodeEvent, Reply, ServiceRequest};

/// The events of `s` until `done` says it has what it waits for (or 10 s).
async fn until(s: &mut EventStream, done: impl Fn(&[NodeEvent]) -> bool) -> Vec<NodeEvent> {
    let mut seen = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(10), async {
        while !done(&seen) {
            seen.push(s.next().await.expect("no lag and the node runs"));
        }
    })
    .await;
    assert!(r.is_ok(), "timed out; seen {seen:?}");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_requests_late_fees_and_severances_are_events() {
    let net = spawn_network(2).await;
    let (client, server) = (&net.nodes[0], &net.nodes[1]);
    let (mut ce, mut se) = (client.handle.events(), server.handle.events());

    net.link(0, 1, 1, 10).await;
    let opened = |peer: &por_node::RunningNode| NodeEvent::ChannelOpened {
        channel: ChannelId(1),
        peer: peer.key,
        local_deposit: DEPOSIT,
        remote_deposit: DEPOSIT,
    };
    assert_eq!(ce.next().await, Ok(opened(server)));
    assert_eq!(se.next().await, Ok(opened(client)));
    // Told again (as the chain follower does on every poll): no new event.
    net.link(0, 1, 1, 10).await;

    // A service slower than the bound: the server answers late, and pays
    // the client late fees for the time past it.
    let slow = |r: ServiceRequest| async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        Reply::ok(r.body)
    };
    server.handle.serve("slow", Arc::new(slow)).await.unwrap();
    let route = net.route(&[0, 1], &[1], EdgeParams { latency_ms: 10, base_fee: 5, byte_fee: 0 }, 0);
    let (id, mut rx) = client.handle.request(route, "slow", b"x".to_vec(), 64).await.unwrap();
    let seen = outcome(&mut rx, Duration::from_secs(10)).await;
    assert!(seen.iter().any(|d| matches!(d, Delivery::Response { .. })), "{seen:?}");

    let s = until(&mut se, |s| {
        s.iter().any(|e| matches!(e, NodeEvent::RequestServed { .. }))
            && s.iter().any(|e| matches!(e, NodeEvent::LateFeePaid { .. }))
    })
    .await;
    let served = s.iter().find(|e| matches!(e, NodeEvent::RequestServed { .. })).unwrap();
    assert_eq!(
        served,
        &NodeEvent::RequestServed { request_id: id, requester: client.key, service: "slow".into(), status: 200 }
    );
    let paid: u128 = s
        .iter()
        .filter_map(|e| match e {
            NodeEvent::LateFeePaid { channel, amount } if *channel == ChannelId(1) => Some(*amount),
            _ => None,
        })
        .sum();
    assert!(paid > 0, "{s:?}");
    let c = until(&mut ce, |s| s.iter().any(|e| matches!(e, NodeEvent::LateFeeReceived { .. }))).await;
    assert!(
        c.iter().all(|e| matches!(e, NodeEvent::LateFeeReceived { channel: ChannelId(1), amount } if *amount > 0)),
        "the client only received late fees: {c:?}"
    );

    // The operator cuts the channel; then the chain reports it gone (twice,
    // as a follower may): one severance, one close.
    assert!(client.handle.sever(ChannelId(1)).await.unwrap());
    let c = until(&mut ce, |s| s.iter().any(|e| matches!(e, NodeEvent::Severing { .. }))).await;
    assert_eq!(c.last(), Some(&NodeEvent::Severing { channel: ChannelId(1), reason: SeverReason::Manual }));
    let tx = Hash32([7; 32]);
    client.handle.channel_removed(ChannelId(1), tx).await.unwrap();
    client.handle.channel_removed(ChannelId(1), tx).await.unwrap();
    let c = until(&mut ce, |s| s.iter().any(|e| matches!(e, NodeEvent::ChannelClosed { .. }))).await;
    assert_eq!(c.last(), Some(&NodeEvent::ChannelClosed { channel: ChannelId(1), tx_hash: tx }));
    client.handle.status().await.unwrap();
    let more = ce.try_next();
    assert!(
        !matches!(more, Ok(Some(NodeEvent::ChannelClosed { .. }))),
        "a channel reported gone twice is closed once: {more:?}"
    );

    // A stopped node ends its streams, and a new subscriber's at once.
    client.handle.shutdown().await;
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ce.next().await {
                Ok(_) => continue,
                other => return other,
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(end, Err(EventError::Stopped));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(client.handle.events().next().await, Err(EventError::Stopped));
}
