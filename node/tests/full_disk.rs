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
