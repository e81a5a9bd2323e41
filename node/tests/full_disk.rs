//! A full disk never costs a voucher (issue #18): a server whose channel
//! store lives on a tmpfs that another writer has filled cannot commit the
//! voucher of a paid request, so it never acknowledges it (an ack promises
//! the money is on disk); once space is freed the retried commit lands (the
//! store reopens redb, which refuses everything after an I/O error until
//! reopened), the held ack and response leave, and the store holds the
//! voucher. Meanwhile the server pays late fees for the time its response
//! waited on its own disk (it had not left), so the client, whose re-sends
//! were used up long before, does not cut it for withholding.
//!
//! Mounting needs root (the CI machine is root); without it the test fails
//! saying so. The mount is undone when the test ends, even by a panic.

mod common;

use std::time::Duration;

use common::{Tmpfs, fill, outcome, spawn_network_with};
use por_core::EdgeParams;
use por_core::protocol::Delivery;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_a_full_disk_acknowledges_nothing_until_its_voucher_is_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(&tmp.path().join("disk"), "8m");
    let server_dir = disk.dir.join("server");
    let net = spawn_network_with(2, |i, cfg| {
        if i == 1 {
            cfg.data_dir = server_dir.clone();
        }
    })
    .await;
    net.link(0, 1, 1, 20).await;
    net.serve_echo(1).await;
    let params = EdgeParams { latency_ms: 20, base_fee: 1_000, byte_fee: 2 };
    let route = net.route(&[0, 1], &[1], params, 10);
    // One request while there is room: the store has its pages.
    let (_, mut rx) = net.nodes[0].handle.request(route.clone(), "echo", b"room".to_vec(), 64).await.unwrap();
    assert!(matches!(outcome(&mut rx, Duration::from_secs(10)).await.last(), Some(Delivery::Response { .. })));

    // The disk fills; a paid request arrives.
    let filler = fill(&disk.dir);
    let (id, mut rx) = net.nodes[0].handle.request(route, "echo", b"no room".to_vec(), 64).await.unwrap();
    let mut seen = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(d) = rx.recv().await {
            seen.push(d);
        }
    })
    .await;
    assert!(
        !seen.iter().any(|d| matches!(d, Delivery::Acked { .. } | Delivery::Response { .. })),
        "nothing acknowledged or answered while the voucher cannot reach the disk: {seen:?}"
    );

    // Space again: the retried commit lands and the request completes.
    std::fs::remove_file(&filler).unwrap();
    let rest = outcome(&mut rx, Duration::from_secs(15)).await;
    seen.extend(rest);
    assert!(seen.iter().any(|d| matches!(d, Delivery::Acked { request_id } if *request_id == id)), "{seen:?}");
    assert!(matches!(seen.last(), Some(Delivery::Response { .. })), "{seen:?}");
    // The server's store holds the voucher it was paid with.
    let paid = {
        let a = net.nodes[0].handle.status().await.unwrap();
        common::DEPOSIT + a.channels[0].3 - a.channels[0].2
    };
    let backup = net.nodes[1].handle.channel_backup().await.unwrap().unwrap();
    let stored = backup.channels[0].received.as_ref().unwrap().voucher.cumulative;
    assert_eq!(stored, paid, "the voucher on disk is all the client paid");
}

/// A relay signs and sends the voucher paying its next hop before the
/// commit that stores it; a relay killed in between (here: its disk is full,
/// so that commit never lands) must not come back with a lower sent amount
/// than the one its next hop holds, or every voucher it signs for it after
/// the restart is refused as not increasing. Its sent log brings the signed
/// voucher back (issue #17).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_before_its_commit_pays_its_next_hop_after_the_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(&tmp.path().join("disk"), "8m");
    let relay_dir = disk.dir.join("relay");
    let dir = relay_dir.clone();
    let mut net = spawn_network_with(3, move |i, cfg| {
        if i == 1 {
            cfg.data_dir = dir.clone();
        }
    })
    .await;
    net.link(0, 1, 1, 20).await;
    net.link(1, 2, 2, 20).await;
    net.serve_echo(2).await;
    let params = EdgeParams { latency_ms: 20, base_fee: 1_000, byte_fee: 2 };
    let route = net.route(&[0, 1, 2], &[1, 2], params, 10);
    let (_, mut rx) = net.nodes[0].handle.request(route.clone(), "echo", b"room".to_vec(), 64).await.unwrap();
    assert!(matches!(outcome(&mut rx, Duration::from_secs(10)).await.last(), Some(Delivery::Response { .. })));
    // The relay's disk fills: it forwards (signing a new voucher for node 2)
    // but cannot commit; then it dies.
    let held_by_server = || async { net.nodes[2].handle.status().await.unwrap().channels[0].3 };
    let before = held_by_server().await;
    let filler = fill(&disk.dir);
    let (_, _rx) = net.nodes[0].handle.request(route.clone(), "echo", b"lost commit".to_vec(), 64).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while held_by_server().await == before {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the server got the relay's new voucher");
    net.crash_and_restart_in(1, Duration::from_millis(300), &relay_dir, || std::fs::remove_file(&filler).unwrap())
        .await;
    // A new request through the restarted relay is paid and answered.
    let seen = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok((_, mut rx)) = net.nodes[0].handle.request(route.clone(), "echo", b"after".to_vec(), 64).await {
                let seen = outcome(&mut rx, Duration::from_secs(5)).await;
                if matches!(seen.last(), Some(Delivery::Response { .. })) {
                    return seen;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(seen.is_ok(), "the restarted relay could not pay its next hop");
}
