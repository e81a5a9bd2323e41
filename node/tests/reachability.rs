//! Reachability: a node announces the external addresses it is given
//! (identify tells its peers, whose Kademlia keeps them), and a node with
//! none (on loopback, where AutoNAT confirms nothing) says so in its
//! status and in `/readyz`'s detail while staying ready.

mod common;

use std::sync::Arc;
use std::time::Duration;

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use por_node::{NodeConfig, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_addresses_are_announced_to_peers_and_their_kademlia() {
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let public: Multiaddr = "/ip4/203.0.113.7/tcp/4001".parse().unwrap();
    let mut ca = NodeConfig::new(dirs.0.path());
    ca.external_addresses = vec![public.clone()];
    let a = start(ca, [1; 32], &mut Default::default()).await.unwrap();
    assert_eq!(a.handle.status().await.unwrap().external, vec![public.to_string()]);

    // B knows only A's loopback address; it learns the rest from A.
    let mut cb = NodeConfig::new(dirs.1.path());
    cb.bootstrap = vec![(a.peer_id, a.listen_addrs[0].clone())];
    let b = start(cb, [2; 32], &mut Default::default()).await.unwrap();
    // Kademlia keeps them with the peer's id.
    let with_id = |m: &Multiaddr| m.clone().with(Protocol::P2p(a.peer_id));
    let mut known = Vec::new();
    for _ in 0..100 {
        known = b.handle.peer_addresses(a.peer_id).await.unwrap();
        if known.contains(&with_id(&public)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(known.contains(&with_id(&public)), "B's Kademlia has {known:?} for A");
    assert!(known.contains(&with_id(&a.listen_addrs[0])), "{known:?}");
    // B announced nothing external, and A's table has B's listen address only.
    assert!(b.handle.status().await.unwrap().external.is_empty());
    let of_b = a.handle.peer_addresses(b.peer_id).await.unwrap();
    assert!(!of_b.is_empty() && of_b.iter().all(|m| !m.to_string().contains("203.0.113.7")), "{of_b:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_loopback_only_reports_no_public_address_in_readyz() {
    let net = common::spawn_network(2).await;
    net.link(0, 1, 1, 10).await;
    let a = &net.nodes[0];
    let addr = common::serve_http(por_node::api::router(a.handle.clone(), Arc::new(Default::default()))).await;
    // Connected to its neighbour (so it is ready), which AutoNAT could ask to
    // dial back; on loopback it must not confirm anything.
    let mut v = serde_json::Value::Null;
    for _ in 0..100 {
        let r = common::json_http(addr, "GET", "/readyz", "").await;
        v = r.json();
        if v["ready"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(v["ready"], true, "{v}");
    assert_eq!(v["checks"]["public_address"], false, "{v}");
    assert_eq!(v["external_addresses"], serde_json::json!([]), "{v}");
    let note = v["notes"][0].as_str().unwrap_or_else(|| panic!("no note: {v}"));
    assert!(note.starts_with("no public address") && note.contains("[node].external_addresses"), "{note}");
    assert!(a.handle.status().await.unwrap().external.is_empty());
}

/// AutoNAT's confirmation, on loopback: with `autonat_only_global_ips` off
/// (as on a private network) a peer dials back to the address it observed
/// A at, and only then does A announce it. With the default (public IPs
/// only), C asks no one about a loopback address and is never confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observed_address_is_announced_only_once_autonat_confirms_it() {
    let dirs = [(); 4].map(|_| tempfile::tempdir().unwrap());
    let cfg = |i: usize, private_ok: bool, first_probe: u64| {
        let mut c = NodeConfig::new(dirs[i].path());
        c.net.autonat_only_global_ips = !private_ok;
        c.net.autonat_boot_delay = Duration::from_secs(first_probe);
        c.net.autonat_retry_interval = Duration::from_secs(first_probe);
        c
    };
    // Two pairs: A asks B, C asks D (who would dial back to anything). B
    // and D ask nobody during the test: two peers that probe each other at
    // once may each hold two connections to the other, and the per-peer
    // limit (2) then refuses the second dial-back.
    let b = start(cfg(1, true, 600), [2; 32], &mut Default::default()).await.unwrap();
    let d = start(cfg(3, true, 600), [4; 32], &mut Default::default()).await.unwrap();
    let mut ca = cfg(0, true, 1);
    ca.bootstrap = vec![(b.peer_id, b.listen_addrs[0].clone())];
    let a = start(ca, [1; 32], &mut Default::default()).await.unwrap();
    let mut cc = cfg(2, false, 1);
    cc.bootstrap = vec![(d.peer_id, d.listen_addrs[0].clone())];
    let c = start(cc, [3; 32], &mut Default::default()).await.unwrap();
    assert!(a.handle.status().await.unwrap().external.is_empty(), "nothing is announced before a dial-back");

    let mut external = Vec::new();
    for _ in 0..200 {
        external = a.handle.status().await.unwrap().external;
        if !external.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What B observed A at, translated to A's listening port: A's own
    // address (as B dialed it back, with A's id).
    let own = a.listen_addrs[0].clone().with(Protocol::P2p(a.peer_id));
    assert_eq!(external, vec![own.to_string()], "A's confirmed addresses");
    // C has had as long, and two more of its probe intervals.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(c.handle.status().await.unwrap().external.is_empty(), "C asked no one about a loopback address");
}
