//! The HTTP API over a real socket: status, channels, a paid request with
//! its signed outcome, `/metrics`, and JSON errors for bad input.

mod common;

use std::sync::Arc;

use common::DEPOSIT;
use por_core::protocol::ChannelSetup;
use por_core::{ChannelId, EdgeParams};
use por_node::{NodeConfig, Reply, ServiceRequest, start};
use prometheus_client::registry::Registry;

/// A JSON request from loopback: (status, body).
async fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let a = common::json_http(addr, method, path, body).await;
    (a.status, a.body)
}

#[tokio::test]
async fn api_end_to_end() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut reg_a = Registry::default();
    // No chain here: trust the routes' terms (test-only).
    let cfg = |d: &std::path::Path| {
        let mut c = NodeConfig::new(d);
        c.protocol.limits.trust_route_terms = true;
        c
    };
    let a = start(cfg(dirs[0].path()), [1; 32], &mut reg_a).await.unwrap();
    let mut reg_b = Registry::default();
    let b = start(cfg(dirs[1].path()), [2; 32], &mut reg_b).await.unwrap();
    for (x, y) in [(&a, &b), (&b, &a)] {
        let setup = ChannelSetup {
            channel: ChannelId(1),
            remote: y.key,
            local_deposit: DEPOSIT,
            remote_deposit: DEPOSIT,
            latency_ms: 10,
            sync_ms: Some(100),
        };
        x.handle.add_channel(setup, y.listen_addrs.clone()).await.unwrap();
    }
    b.handle
        .serve("upper", Arc::new(|r: ServiceRequest| async move { Reply::ok(r.body.to_ascii_uppercase()) }))
        .await
        .unwrap();

    let addr = common::serve_http(por_node::api::router(a.handle.clone(), Arc::new(reg_a))).await;

    let (code, body) = http(addr, "GET", "/status", "").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(&a.key.to_hex()), "{body}");

    let (code, body) = http(addr, "GET", "/livez", "").await;
    assert_eq!((code, body.as_str()), (200, r#"{"live":true}"#));
    // No chain here: ready once the channel neighbour is connected.
    let mut ready = (0, String::new());
    for _ in 0..100 {
        ready = http(addr, "GET", "/readyz", "").await;
        if ready.0 == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(ready.0, 200, "{}", ready.1);
    let v: serde_json::Value = serde_json::from_str(&ready.1).unwrap();
    assert_eq!(v["checks"]["chain"], "none", "{v}");
    assert_eq!(v["neighbours_connected"], 1, "{v}");

    let (code, body) = http(addr, "GET", "/channels", "").await;
    assert_eq!(code, 200);
    assert!(body.contains(&b.key.peer_id()), "{body}");

    let route = serde_json::json!({
        "hops": [{"channel": 1, "node": b.key.to_hex(), "params": EdgeParams { latency_ms: 10, base_fee: 7, byte_fee: 1 }}],
        "service_ms": 5,
    });
    let req = serde_json::json!({"route": route, "service": "upper", "body": "hello", "max_response_bytes": 256});
    let (code, body) = http(addr, "POST", "/request", &req.to_string()).await;
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["outcome"], "response", "{v}");
    assert_eq!(v["status"], 200);
    assert_eq!(v["body"], "HELLO");
    assert_eq!(v["acked"], true);
    assert_eq!(v["server"], b.key.to_hex());

    let (code, body) = http(addr, "GET", "/metrics", "").await;
    assert_eq!(code, 200);
    assert!(body.contains("por_request_outcomes_total{outcome=\"response\"} 1"), "{body}");
    // At least once: a request whose ack is slow (a loaded machine) is sent
    // again under the engine's re-send rule.
    assert!(body.contains("por_messages_total{direction=\"out\",kind=\"request\"} "), "{body}");
    // The requester paid the route's price on its channel, counted once.
    let route_cost = 7.0 + (5.0 + 256.0); // base fee + byte fee × (body + allowance)
    let paid = body.lines().find_map(|l| l.strip_prefix("por_paid_yocto_total ")).map(|v| v.parse::<f64>().unwrap());
    assert_eq!(paid, Some(route_cost), "{body}");

    // Bad input gets a JSON error naming the problem.
    let (code, body) = http(addr, "POST", "/request", "{not json").await;
    assert_eq!(code, 400);
    assert!(body.contains("malformed request JSON"), "{body}");
    let bad =
        serde_json::json!({"route": route, "service": "upper", "body": "x", "body_hex": "00", "max_response_bytes": 1});
    let (code, body) = http(addr, "POST", "/request", &bad.to_string()).await;
    assert_eq!(code, 400);
    assert!(body.contains("either `body` or `body_hex`"), "{body}");
    let unknown = serde_json::json!({"route": {"hops": [{"channel": 99, "node": b.key.to_hex(), "params": EdgeParams::default()}], "service_ms": 0}, "service": "upper", "max_response_bytes": 1});
    let (code, body) = http(addr, "POST", "/request", &unknown.to_string()).await;
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("99"), "{body}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["code"], "not_sent", "{body}");

    // Once b has the chain's graph, a route whose terms differ from it is
    // refused by b, and the API says so with the refusal's stable code.
    let mut g = por_core::Graph::new();
    for _ in 0..2 {
        g.add_node(por_core::graph::NodeInfo { stake: 1, service_ms: 5 });
    }
    let params = EdgeParams { latency_ms: 10, base_fee: 7, byte_fee: 1 };
    g.add_edge(por_core::graph::Edge { channel: ChannelId(1), a: 0, b: 1, params }).unwrap();
    let accounts = vec!["a.devnet".into(), "b.devnet".into()];
    b.handle.set_graph(por_node::NetworkGraph::new(1, g, vec![a.key, b.key], accounts, vec![true, true]));
    let free = serde_json::json!({
        "hops": [{"channel": 1, "node": b.key.to_hex(), "params": EdgeParams { latency_ms: 10, base_fee: 0, byte_fee: 0 }}],
        "service_ms": 5,
    });
    let req = serde_json::json!({"route": free, "service": "upper", "body": "hello", "max_response_bytes": 256});
    let (code, body) = http(addr, "POST", "/request", &req.to_string()).await;
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((&v["outcome"], &v["acked"]), (&serde_json::json!("refused"), &serde_json::json!(false)), "{v}");
    assert_eq!(v["refusal"]["code"], "terms_mismatch", "{v}");
    // The honest route still works.
    let req = serde_json::json!({"route": route, "service": "upper", "body": "hello", "max_response_bytes": 256});
    let (code, body) = http(addr, "POST", "/request", &req.to_string()).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["outcome"], "response", "{body}");
    let (_, body) = http(addr, "GET", "/metrics", "").await;
    assert!(body.contains("por_first_hop_refusals_total{reason=\"terms_mismatch\"} 1"), "{body}");
}

/// `/readyz` is 503 while the only channel neighbour is away, and says why;
/// `/livez` is 503 once the node has stopped.
#[tokio::test]
async fn probes_say_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = Registry::default();
    let mut cfg = NodeConfig::new(dir.path());
    cfg.protocol.limits.trust_route_terms = true;
    let a = start(cfg, [7; 32], &mut reg).await.unwrap();
    let away = por_core::NodeSigner::from_seed([8; 32]);
    let setup = ChannelSetup {
        channel: ChannelId(1),
        remote: por_core::Signer::public(&away),
        local_deposit: DEPOSIT,
        remote_deposit: DEPOSIT,
        latency_ms: 10,
        sync_ms: Some(100),
    };
    a.handle.add_channel(setup, vec![]).await.unwrap();
    let addr = common::serve_http(por_node::api::router(a.handle.clone(), Arc::new(reg))).await;
    let (code, body) = http(addr, "GET", "/readyz", "").await;
    assert_eq!(code, 503, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&v["ready"], &v["checks"]["channel_neighbour"]),
        (&serde_json::json!(false), &serde_json::json!(false))
    );
    assert_eq!(http(addr, "GET", "/livez", "").await.0, 200);
    a.handle.shutdown().await;
    let _ = a.task.await;
    let (code, body) = http(addr, "GET", "/livez", "").await;
    assert_eq!(code, 503, "{body}");
}
