//! Paid requests over real nodes on loopback: a two-hop relay, the money
//! each node keeps, the server's signed reply, and refusals.

mod common;

use std::time::Duration;

use common::{DEPOSIT, outcome, spawn_network};
use por_core::protocol::Delivery;
use por_core::{ChannelId, Ed25519Verifier, EdgeParams};
use por_node::Reply;

#[tokio::test]
async fn two_hop_request_is_paid_acked_and_answered() {
    let net = spawn_network(3).await;
    net.link(0, 1, 1, 20).await;
    net.link(1, 2, 2, 20).await;
    net.serve_echo(2).await;
    let params = EdgeParams { latency_ms: 20, base_fee: 1_000, byte_fee: 2 };
    let route = net.route(&[0, 1, 2], &[1, 2], params, 10);
    let body = b"ping over two hops".to_vec();
    let q = route.quote(body.len() as u64, 1024).unwrap();
    let (id, mut rx) = net.nodes[0].handle.request(route, "echo", body.clone(), 1024).await.unwrap();
    let seen = outcome(&mut rx, Duration::from_secs(10)).await;
    assert!(matches!(seen.first(), Some(Delivery::Acked { request_id }) if *request_id == id), "{seen:?}");
    let Some(Delivery::Response { response, .. }) = seen.last() else { panic!("no response: {seen:?}") };
    assert!(response.verify(&id, &net.nodes[2].key, &Ed25519Verifier));
    assert_eq!(Reply::decode(&response.body), Some(Reply::ok(body)));
    assert!(!seen.iter().any(|d| matches!(d, Delivery::LatePayment { .. })), "no late fee when all are honest");

    // Money: A paid the whole route to B; B paid C the last edge's fee.
    let a = net.nodes[0].handle.status().await.unwrap();
    let b = net.nodes[1].handle.status().await.unwrap();
    let c = net.nodes[2].handle.status().await.unwrap();
    let chan = |s: &por_node::Status, id: u64| *s.channels.iter().find(|c| c.0 == ChannelId(id)).unwrap();
    assert_eq!(chan(&a, 1).2, DEPOSIT - q.total(), "A can spend its deposit less what it paid");
    assert_eq!(chan(&b, 1).3, q.total(), "B received the whole route's cost");
    assert_eq!(chan(&b, 2).2, DEPOSIT - q.payments[1], "B paid C the rest");
    assert_eq!(chan(&c, 2).3, q.payments[1], "C received its fee");
    assert_eq!(q.total() - q.payments[1], q.fees[0], "B kept exactly its edge's fee");
}

#[tokio::test]
async fn unknown_service_gets_a_signed_404() {
    let net = spawn_network(2).await;
    net.link(0, 1, 1, 10).await;
    let route = net.route(&[0, 1], &[1], EdgeParams { latency_ms: 10, base_fee: 5, byte_fee: 0 }, 0);
    let (id, mut rx) = net.nodes[0].handle.request(route, "nope", vec![], 512).await.unwrap();
    let seen = outcome(&mut rx, Duration::from_secs(10)).await;
    let Some(Delivery::Response { response, .. }) = seen.last() else { panic!("no response: {seen:?}") };
    assert!(response.verify(&id, &net.nodes[1].key, &Ed25519Verifier));
    let reply = Reply::decode(&response.body).unwrap();
    assert_eq!(reply.status, 404);
    assert!(reply.error.unwrap().contains("nope"));
}

#[tokio::test]
async fn a_route_over_an_unknown_channel_is_refused_locally() {
    let net = spawn_network(2).await;
    let route = net.route(&[0, 1], &[9], EdgeParams::default(), 0);
    let err = net.nodes[0].handle.request(route, "echo", vec![], 10).await.unwrap_err();
    assert!(err.to_string().contains("9"), "{err}");
}

#[tokio::test]
async fn a_reply_too_large_for_the_allowance_keeps_its_status() {
    let net = spawn_network(2).await;
    net.link(0, 1, 1, 10).await;
    net.serve_echo(1).await;
    let route = net.route(&[0, 1], &[1], EdgeParams { latency_ms: 10, base_fee: 5, byte_fee: 0 }, 0);
    // The echo of 200 bytes cannot fit in 32 bytes: the server answers with
    // a bare status instead of letting the request run late.
    let (_, mut rx) = net.nodes[0].handle.request(route, "echo", vec![7; 200], 32).await.unwrap();
    let seen = outcome(&mut rx, Duration::from_secs(10)).await;
    let Some(Delivery::Response { response, .. }) = seen.last() else { panic!("no response: {seen:?}") };
    assert!(response.body.len() <= 32);
    assert_eq!(Reply::decode(&response.body).unwrap().status, 200);
}

#[tokio::test]
async fn vouchers_survive_a_restart_of_both_ends() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let start = |i: usize| {
        let dir = dirs[i].path().to_path_buf();
        async move {
            let mut reg = prometheus_client::registry::Registry::default();
            let mut cfg = por_node::NodeConfig::new(dir);
            // No chain here: trust the routes' terms (test-only).
            cfg.protocol.limits.trust_route_terms = true;
            por_node::start(cfg, [i as u8 + 1; 32], &mut reg).await.unwrap()
        }
    };
    let params = EdgeParams { latency_ms: 10, base_fee: 100, byte_fee: 0 };
    let link = |a: &por_node::RunningNode, b: &por_node::RunningNode| {
        let setup = por_core::protocol::ChannelSetup {
            channel: ChannelId(1),
            remote: b.key,
            local_deposit: DEPOSIT,
            remote_deposit: DEPOSIT,
            latency_ms: 10,
            sync_ms: Some(100),
        };
        let (h, addrs) = (a.handle.clone(), b.listen_addrs.clone());
        async move { h.add_channel(setup, addrs).await.unwrap() }
    };
    let route = |b: &por_node::RunningNode| por_core::Route {
        hops: vec![por_core::RouteHop { channel: ChannelId(1), node: b.key, params }],
        service_ms: 0,
    };
    let echo = std::sync::Arc::new(|r: por_node::ServiceRequest| async move { Reply::ok(r.body) });

    let (a, b) = (start(0).await, start(1).await);
    link(&a, &b).await;
    link(&b, &a).await;
    b.handle.serve("echo", echo.clone()).await.unwrap();
    let (_, mut rx) = a.handle.request(route(&b), "echo", vec![1], 64).await.unwrap();
    assert!(matches!(outcome(&mut rx, Duration::from_secs(10)).await.last(), Some(Delivery::Response { .. })));
    for n in [&a, &b] {
        n.handle.shutdown().await;
    }
    let (a_task, b_task) = (a.task, b.task);
    a_task.await.unwrap();
    b_task.await.unwrap();

    // Both come back from disk; the channel is known with its vouchers.
    let (a, b) = (start(0).await, start(1).await);
    link(&a, &b).await; // addresses only: the stored channel is kept
    link(&b, &a).await;
    let sa = a.handle.status().await.unwrap();
    let sb = b.handle.status().await.unwrap();
    assert_eq!(sa.channels[0].2, DEPOSIT - 100, "A remembers what it paid");
    assert_eq!(sb.channels[0].3, 100, "B remembers what it received");
    b.handle.serve("echo", echo).await.unwrap();
    let (_, mut rx) = a.handle.request(route(&b), "echo", vec![2], 64).await.unwrap();
    assert!(matches!(outcome(&mut rx, Duration::from_secs(10)).await.last(), Some(Delivery::Response { .. })));
    assert_eq!(b.handle.status().await.unwrap().channels[0].3, 200, "B accepted the next voucher on top");
}
