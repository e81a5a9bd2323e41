//! A relay killed with requests in flight and started again from its data
//! directory finishes them (DESIGN §2.11, issue #17): its requests in flight
//! were in the same commits as its vouchers.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{outcome, spawn_network};
use por_core::protocol::Delivery;
use por_core::{ChannelId, EdgeParams};
use por_node::{Reply, ServiceRequest};

#[tokio::test]
async fn a_relay_killed_mid_request_answers_it_after_a_restart() {
    let mut net = spawn_network(3).await;
    net.link(0, 1, 1, 20).await;
    net.link(1, 2, 2, 20).await;
    let slow = Arc::new(|r: ServiceRequest| async move {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        Reply::ok(r.body)
    });
    net.nodes[2].handle.serve("echo", slow).await.unwrap();
    let params = EdgeParams { latency_ms: 20, base_fee: 1_000, byte_fee: 2 };
    let route = net.route(&[0, 1, 2], &[1, 2], params, 1_000);
    let (id, mut rx) = net.nodes[0].handle.request(route, "echo", b"through a restart".to_vec(), 64).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while net.nodes[1].handle.status().await.unwrap().in_flight == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the relay took the request");
    // Past the ack: the relay's commit holds the request.
    tokio::time::sleep(Duration::from_millis(200)).await;
    net.crash_and_restart(1, Duration::from_millis(500)).await;
    let back = net.nodes[1].handle.status().await.unwrap();
    assert_eq!(back.in_flight, 1, "the restarted relay knows the request again");

    let seen = outcome(&mut rx, Duration::from_secs(20)).await;
    assert!(matches!(seen.last(), Some(Delivery::Response { request_id, .. }) if *request_id == id), "{seen:?}");
    // Nobody cut anybody: every channel is still open on both ends.
    for (node, channels) in [(0, vec![1]), (1, vec![1, 2]), (2, vec![2])] {
        let s = net.nodes[node].handle.status().await.unwrap();
        for c in channels {
            assert!(s.channels.iter().any(|x| x.0 == ChannelId(c)), "node {node} lost channel {c}: {s:?}");
        }
    }
    // The relay is done with it once the late fees (if any) are settled.
    tokio::time::timeout(Duration::from_secs(10), async {
        while net.nodes[1].handle.status().await.unwrap().in_flight > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the relay finished the request");
}

/// A node with `channel_backup` rewrites the file after the commits of a
/// paid request: the backup holds the voucher it was just paid with.
#[tokio::test]
async fn the_channel_backup_follows_the_commits() {
    let files = tempfile::tempdir().unwrap();
    let path = |i: usize| files.path().join(format!("node{i}.backup"));
    let net = common::spawn_network_with(2, |i, cfg| cfg.channel_backup = Some(path(i))).await;
    net.link(0, 1, 1, 20).await;
    net.serve_echo(1).await;
    let route = net.route(&[0, 1], &[1], EdgeParams { latency_ms: 20, base_fee: 1_000, byte_fee: 2 }, 10);
    let (_, mut rx) = net.nodes[0].handle.request(route, "echo", b"backed up".to_vec(), 64).await.unwrap();
    let seen = outcome(&mut rx, Duration::from_secs(10)).await;
    assert!(matches!(seen.last(), Some(Delivery::Response { .. })), "{seen:?}");
    let received = net.nodes[1].handle.status().await.unwrap().channels[0].3;
    assert!(received > 0);
    let got = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(b) = por_node::backup::ChannelBackup::read(&path(1))
                && b.channels
                    .first()
                    .and_then(|c| c.received.as_ref())
                    .is_some_and(|v| v.voucher.cumulative == received)
            {
                return b;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the backup holds the voucher the server was paid with");
    assert_eq!(got.node, net.nodes[1].key);
    assert_eq!(got.channels.len(), 1);
}
