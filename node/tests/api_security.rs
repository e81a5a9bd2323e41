//! The HTTP API against what a web page in the operator's browser can send
//! (cross-site "simple" requests, DNS rebinding with a foreign `Host`, CORS
//! preflights, oversized bodies) and against a caller without the right
//! token (every route but the probes, the read-only token on routes that
//! spend, the metrics listener); over a real socket, with raw HTTP so that
//! every header is the test's choice.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{Answer, admin_auth, parse_http as parse, raw_http as raw, serve_http as serve, spawn_network};
use por_core::{ChannelId, EdgeParams};
use por_node::{Reply, ServiceRequest};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads an answer on a connection the test wrote by hand (the server
/// closes it), within 30 s.
async fn answer(s: &mut tokio::net::TcpStream) -> Answer {
    let mut out = Vec::new();
    let _ =
        tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out)).await.expect("an answer within 30 s");
    parse(&out)
}

/// A node with one node's API: no channels, no chain.
async fn lone_api() -> (SocketAddr, por_node::RunningNode, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = Registry::default();
    let node = por_node::start(por_node::NodeConfig::new(dir.path()), [9; 32], &mut reg).await.unwrap();
    let addr = serve(por_node::api::router(node.handle.clone(), Arc::new(reg))).await;
    (addr, node, dir)
}

/// Two nodes with a channel and the graph, node 1 serving `upper`; the API
/// of node 0 (which pays node 1 for every request sent).
async fn paying_api() -> (SocketAddr, common::Net, Arc<Registry>) {
    let net = spawn_network(2).await;
    net.link(0, 1, 1, 10).await;
    let (a, b) = (&net.nodes[0], &net.nodes[1]);
    b.handle
        .serve("upper", Arc::new(|r: ServiceRequest| async move { Reply::ok(r.body.to_ascii_uppercase()) }))
        .await
        .unwrap();
    let mut g = por_core::Graph::new();
    for _ in 0..2 {
        g.add_node(por_core::graph::NodeInfo { stake: 1, service_ms: 5 });
    }
    let params = EdgeParams { latency_ms: 10, base_fee: 7, byte_fee: 1 };
    g.add_edge(por_core::graph::Edge { channel: ChannelId(1), a: 0, b: 1, params }).unwrap();
    let graph = por_node::NetworkGraph::new(
        1,
        g,
        vec![a.key, b.key],
        vec!["a.devnet".into(), "b.devnet".into()],
        vec![true, true],
    );
    a.handle.set_graph(graph.clone());
    b.handle.set_graph(graph);
    // The spawned nodes' registries are their own; this one is the API's.
    let reg = Arc::new(Registry::default());
    let addr = serve(por_node::api::router(a.handle.clone(), reg.clone())).await;
    // Wait for the channel neighbour, so that a send is carried out at once.
    for _ in 0..100 {
        if !a.handle.peers().await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (addr, net, reg)
}

/// What node 0 can still spend on channel 1.
async fn spendable(net: &common::Net) -> u128 {
    let s = net.nodes[0].handle.status().await.unwrap();
    s.channels.iter().find(|c| c.0 == ChannelId(1)).map(|c| c.2).unwrap()
}

/// Hole: a web page's `fetch("http://127.0.0.1:PORT/send", {method: "POST",
/// body, headers: {"Content-Type": "text/plain"}})` needs no preflight; it
/// was carried out and paid for. Now: refused, and nothing is spent.
#[tokio::test]
async fn cross_site_simple_post_to_send_is_refused_and_costs_nothing() {
    let (addr, net, _reg) = paying_api().await;
    let before = spendable(&net).await;
    let send = serde_json::json!({"to": net.nodes[1].key.to_hex(), "service": "upper", "body": "pay"}).to_string();
    let host = format!("Host: 127.0.0.1:{}\r\n", addr.port());

    let a = raw(
        addr,
        "POST /send HTTP/1.1",
        &format!("{host}Origin: http://evil.example\r\nContent-Type: text/plain;charset=UTF-8\r\n"),
        send.as_bytes(),
    )
    .await;
    assert_eq!((a.status, a.code().as_str()), (403, "origin_not_allowed"), "{}", a.body);
    // Without an Origin (a non-browser client, or a browser that omits it):
    // the content type alone refuses it.
    for ct in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let a = raw(addr, "POST /send HTTP/1.1", &format!("{host}Content-Type: {ct}\r\n"), send.as_bytes()).await;
        assert_eq!((a.status, a.code().as_str()), (415, "unsupported_media_type"), "{ct}: {}", a.body);
    }
    let a = raw(addr, "POST /send HTTP/1.1", &host, send.as_bytes()).await;
    assert_eq!((a.status, a.code().as_str()), (415, "unsupported_media_type"), "no content type: {}", a.body);
    // A JSON body from a foreign origin (which a browser would preflight).
    let a = raw(
        addr,
        "POST /send HTTP/1.1",
        &format!("{host}Origin: http://evil.example\r\nContent-Type: application/json\r\n"),
        send.as_bytes(),
    )
    .await;
    assert_eq!((a.status, a.code().as_str()), (403, "origin_not_allowed"), "{}", a.body);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(spendable(&net).await, before, "a refused request spent nothing");
}

/// The preflight a browser sends before a JSON POST gets no CORS grant, so
/// the browser never sends the POST; no answer carries a CORS header.
#[tokio::test]
async fn preflight_gets_no_cors_grant() {
    let (addr, _node, _dir) = lone_api().await;
    let host = format!("Host: 127.0.0.1:{}\r\n", addr.port());
    let a = raw(
        addr,
        "OPTIONS /send HTTP/1.1",
        &format!(
            "{host}Origin: http://evil.example\r\nAccess-Control-Request-Method: POST\r\n\
             Access-Control-Request-Headers: content-type\r\n"
        ),
        b"",
    )
    .await;
    assert_eq!((a.status, a.code().as_str()), (403, "origin_not_allowed"), "{}", a.body);
    assert!(!a.head.contains("access-control-"), "{}", a.head);
    let a = raw(addr, "OPTIONS /send HTTP/1.1", &host, b"").await;
    assert!(!a.head.contains("access-control-"), "{}", a.head);
    let origin = format!("{host}Origin: http://127.0.0.1:{}\r\n{}", addr.port(), admin_auth());
    let a = raw(addr, "GET /status HTTP/1.1", &origin, b"").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(!a.head.contains("access-control-"), "{}", a.head);
}

/// Hole: DNS rebinding. A page at `http://evil.example:PORT/` whose name
/// then resolves to 127.0.0.1 reads the API as its own origin; its requests
/// carry `Host: evil.example:PORT`. Now refused.
#[tokio::test]
async fn foreign_host_is_refused() {
    let (addr, _node, _dir) = lone_api().await;
    let port = addr.port();
    for host in [
        format!("evil.example:{port}"),
        "evil.example".to_string(),
        format!("localhost.evil.example:{port}"),
        format!("127.0.0.1.nip.io:{port}"),
        format!("10.0.0.1:{port}"),
        "".to_string(),
        "127.0.0.1:x".to_string(),
    ] {
        let a = raw(addr, "GET /channels HTTP/1.1", &format!("Host: {host}\r\n"), b"").await;
        assert_eq!((a.status, a.code().as_str()), (421, "host_not_allowed"), "Host {host:?}: {}", a.body);
        assert!(!a.body.contains("channels\""), "{}", a.body);
    }
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}"), "LocalHost".into(), format!("[::1]:{port}")]
    {
        let a = raw(addr, "GET /channels HTTP/1.1", &format!("Host: {host}\r\n{}", admin_auth()), b"").await;
        assert_eq!(a.status, 200, "Host {host:?}: {}", a.body);
    }
    // HTTP/1.0 without a Host.
    let a = raw(addr, "GET /channels HTTP/1.0", &admin_auth(), b"").await;
    assert_eq!(a.status, 200, "{}", a.body);
}

/// The listen address and configured names are allowed when the served
/// router is wrapped in a guard that knows them; on an unspecified listen
/// address any IP literal is (Kubernetes probes use the pod IP).
#[tokio::test]
async fn outer_guard_allows_listen_address_and_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = Registry::default();
    let node = por_node::start(por_node::NodeConfig::new(dir.path()), [9; 32], &mut reg).await.unwrap();
    let reg = Arc::new(reg);
    let mut cfg =
        por_node::api::GuardConfig::listening_on("0.0.0.0:8080".parse().unwrap()).with_tokens(common::tokens());
    cfg.allowed_hosts.push("node0".into());
    let addr = common::serve_raw(por_node::api::guard(por_node::api::router(node.handle.clone(), reg), cfg)).await;
    for host in ["10.1.2.3:8080", "node0:8080", "[fd00::1]:8080", "127.0.0.1"] {
        let a = raw(addr, "GET /livez HTTP/1.1", &format!("Host: {host}\r\n"), b"").await;
        assert_eq!(a.status, 200, "Host {host}: {}", a.body);
    }
    let a = raw(addr, "GET /livez HTTP/1.1", "Host: evil.example:8080\r\n", b"").await;
    assert_eq!((a.status, a.code().as_str()), (421, "host_not_allowed"), "{}", a.body);
    // An IP literal is fine as Host, not as a page's origin.
    let a = raw(addr, "GET /livez HTTP/1.1", "Host: 10.1.2.3:8080\r\nOrigin: http://10.9.9.9\r\n", b"").await;
    assert_eq!((a.status, a.code().as_str()), (403, "origin_not_allowed"), "{}", a.body);
}

/// Oversized bodies get a JSON 413, whether the length is declared or the
/// body is chunked.
#[tokio::test]
async fn oversized_body_gets_json_413() {
    let (addr, _node, _dir) = lone_api().await;
    let max = por_node::api::MAX_API_BODY;
    let host = format!("Host: 127.0.0.1:{}\r\nContent-Type: application/json\r\n{}", addr.port(), admin_auth());
    // Declared: refused before the body is read.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("POST /request HTTP/1.1\r\n{host}Connection: close\r\nContent-Length: {}\r\n\r\n", max + 1);
    s.write_all(head.as_bytes()).await.unwrap();
    let a = answer(&mut s).await;
    assert_eq!((a.status, a.code().as_str()), (413, "payload_too_large"), "{}", a.body);
    assert!(a.body.contains(&format!("larger than {max} bytes")), "{}", a.body);
    // Chunked: refused by axum's limit, answered in JSON.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("POST /request HTTP/1.1\r\n{host}Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..(max >> 20) + 2 {
        if s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await.is_err()
            || s.write_all(&chunk).await.is_err()
            || s.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let a = answer(&mut s).await;
    assert_eq!(a.status, 413, "{}", a.body);
    assert!(a.head.contains("content-type: application/json"), "{}", a.head);
    assert!(a.body.contains("payload_too_large"), "{}", a.body);
}

/// What the operator's own tools send still works: JSON with a Host of
/// 127.0.0.1:PORT (the `por` CLI), a GET without a content type
/// (Prometheus), and a paid `POST /send` is carried out.
#[tokio::test]
async fn json_from_loopback_still_works() {
    let (addr, net, _reg) = paying_api().await;
    let before = spendable(&net).await;
    let host = format!("Host: 127.0.0.1:{}\r\n{}", addr.port(), admin_auth());
    let send = serde_json::json!({"to": net.nodes[1].key.to_hex(), "service": "upper", "body": "hi"}).to_string();
    let a = raw(
        addr,
        "POST /send HTTP/1.1",
        &format!("{host}Content-Type: application/json; charset=utf-8\r\n"),
        send.as_bytes(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!((&v["outcome"], &v["body"]), (&serde_json::json!("response"), &serde_json::json!("HI")), "{v}");
    assert!(spendable(&net).await < before, "the request was paid");
    let a = raw(addr, "GET /metrics HTTP/1.1", &format!("{host}Accept: application/openmetrics-text\r\n"), b"").await;
    assert_eq!(a.status, 200, "{}", a.body);
    // A body-less POST from the CLI (`por channel close`) carries the JSON type.
    let a =
        raw(addr, "POST /channels/1/close HTTP/1.1", &format!("{host}Content-Type: application/json\r\n"), b"").await;
    assert_eq!(a.code(), "no_chain", "{}", a.body);
}

/// Every route of the node's API (method, path as sent), and one that does
/// not exist; `/livez` and `/readyz` are the probes.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/status"),
    ("GET", "/channels"),
    ("POST", "/channels"),
    ("POST", "/channels/1/confirm"),
    ("POST", "/channels/1/close"),
    ("POST", "/channels/1/sever"),
    ("GET", "/peers"),
    ("GET", "/routes?to=00"),
    ("POST", "/send"),
    ("POST", "/request"),
    ("GET", "/metrics"),
    ("GET", "/no-such-route"),
    ("GET", "/livez"),
    ("GET", "/readyz"),
];

fn is_probe(path: &str) -> bool {
    matches!(path, "/livez" | "/readyz")
}

/// Hole: whoever reached the port could spend and cut channels. Now every
/// route but the probes answers 401 `unauthorized` (with `WWW-Authenticate:
/// Bearer`) without a token, with a wrong token of the right length, with a
/// token that is not a bearer one; the probes need none.
#[tokio::test]
async fn every_route_but_the_probes_needs_a_token() {
    let (addr, _node, _dir) = lone_api().await;
    let host = format!("Host: 127.0.0.1:{}\r\nContent-Type: application/json\r\n", addr.port());
    let wrong = por_node::api::auth::ApiToken::from_bytes([0xae; 32]);
    let admin = common::tokens().admin;
    for (method, path) in ROUTES {
        let line = format!("{method} {path} HTTP/1.1");
        for (what, auth) in [
            ("no token", String::new()),
            ("a wrong token", format!("Authorization: {}\r\n", wrong.bearer())),
            ("a truncated token", format!("Authorization: Bearer {}\r\n", &admin.as_str()[..63])),
            ("the token as Basic", format!("Authorization: Basic {}\r\n", admin.as_str())),
            ("the token with no scheme", format!("Authorization: {}\r\n", admin.as_str())),
        ] {
            let a = raw(addr, &line, &format!("{host}{auth}"), b"").await;
            if is_probe(path) {
                assert_eq!(a.status, 200, "{line} with {what}: {}", a.body);
            } else {
                assert_eq!((a.status, a.code().as_str()), (401, "unauthorized"), "{line} with {what}: {}", a.body);
                assert!(a.head.contains("www-authenticate: bearer"), "{line}: {}", a.head);
                assert!(a.body.contains("api-admin.token"), "the error says where the token is: {}", a.body);
            }
        }
        // The admin token passes the guard: whatever the route answers, it
        // is not the guard's refusal.
        let a = raw(addr, &line, &format!("{host}{}", admin_auth()), b"").await;
        assert!(!matches!(a.status, 401 | 403), "{line} with the admin token: {} {}", a.status, a.body);
    }
}

/// The read-only token reads (status, channels, peers, routes, metrics) but
/// every route that spends or administers answers 403 `forbidden_scope`, and
/// nothing is spent; the admin token sends and pays.
#[tokio::test]
async fn read_only_token_reads_but_cannot_spend_or_cut_channels() {
    let (addr, net, _reg) = paying_api().await;
    let before = spendable(&net).await;
    let host = format!("Host: 127.0.0.1:{}\r\nContent-Type: application/json\r\n", addr.port());
    let read = format!("{host}{}", common::readonly_auth());
    let to = net.nodes[1].key.to_hex();
    for path in ["/status", "/channels", "/peers", "/metrics", &format!("/routes?to={to}")] {
        let a = raw(addr, &format!("GET {path} HTTP/1.1"), &read, b"").await;
        assert_eq!(a.status, 200, "GET {path}: {}", a.body);
    }
    let send = serde_json::json!({"to": to, "service": "upper", "body": "pay"}).to_string();
    let open = r#"{"peer":"b.devnet","deposit":"1","latency_ms":10,"base_fee":"1"}"#;
    for (path, body) in [
        ("/send", send.as_str()),
        ("/request", r#"{"route":{"hops":[],"service_ms":0},"service":"upper","max_response_bytes":0}"#),
        ("/channels", open),
        ("/channels/1/confirm", r#"{"deposit":"1"}"#),
        ("/channels/1/close", ""),
        ("/channels/1/sever", ""),
    ] {
        let a = raw(addr, &format!("POST {path} HTTP/1.1"), &read, body.as_bytes()).await;
        assert_eq!((a.status, a.code().as_str()), (403, "forbidden_scope"), "POST {path}: {}", a.body);
        assert!(a.body.contains("api-admin.token"), "{}", a.body);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(spendable(&net).await, before, "the read-only token spent nothing");
    assert_eq!(net.nodes[0].handle.status().await.unwrap().channels.len(), 1, "and cut nothing");

    let a = raw(addr, "POST /send HTTP/1.1", &format!("{host}{}", admin_auth()), send.as_bytes()).await;
    assert_eq!((a.status, a.json()["outcome"].as_str()), (200, Some("response")), "{}", a.body);
    assert!(spendable(&net).await < before, "the admin token's request was paid");
}

/// A router served without tokens (the library's default guard) is closed,
/// not open: only the probes answer.
#[tokio::test]
async fn a_router_served_without_tokens_answers_only_probes() {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = Registry::default();
    let node = por_node::start(por_node::NodeConfig::new(dir.path()), [9; 32], &mut reg).await.unwrap();
    let addr = common::serve_raw(por_node::api::router(node.handle.clone(), Arc::new(reg))).await;
    let host = format!("Host: 127.0.0.1:{}\r\nContent-Type: application/json\r\n{}", addr.port(), admin_auth());
    for (method, path) in ROUTES {
        let a = raw(addr, &format!("{method} {path} HTTP/1.1"), &host, b"").await;
        let want = if is_probe(path) { 200 } else { 401 };
        assert_eq!(a.status, want, "{method} {path}: {}", a.body);
    }
}

/// `/metrics` on a listener of its own answers without a token (what
/// Prometheus scrapes), serves nothing else and keeps the Host check; on the
/// API listener it needs a token (the read-only one is enough).
#[tokio::test]
async fn metrics_listener_serves_metrics_without_a_token_and_nothing_else() {
    let (addr, _net, reg) = paying_api().await;
    let metrics = common::serve_raw(por_node::api::metrics_router(reg, por_node::api::GuardConfig::default())).await;
    let host = format!("Host: 127.0.0.1:{}\r\n", metrics.port());
    let a = raw(metrics, "GET /metrics HTTP/1.1", &host, b"").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.head.contains("application/openmetrics-text") && a.body.contains("# EOF"), "{}", a.body);
    for (line, status) in [("GET /status HTTP/1.1", 404), ("GET /channels HTTP/1.1", 404), ("POST /send HTTP/1.1", 404)]
    {
        let a = raw(metrics, line, &format!("{host}Content-Type: application/json\r\n{}", admin_auth()), b"{}").await;
        assert_eq!(a.status, status, "{line} on the metrics listener: {}", a.body);
    }
    let a = raw(metrics, "GET /metrics HTTP/1.1", "Host: evil.example\r\n", b"").await;
    assert_eq!((a.status, a.code().as_str()), (421, "host_not_allowed"), "{}", a.body);

    let api_host = format!("Host: 127.0.0.1:{}\r\n", addr.port());
    let a = raw(addr, "GET /metrics HTTP/1.1", &api_host, b"").await;
    assert_eq!((a.status, a.code().as_str()), (401, "unauthorized"), "{}", a.body);
    let a = raw(addr, "GET /metrics HTTP/1.1", &format!("{api_host}{}", common::readonly_auth()), b"").await;
    assert_eq!(a.status, 200, "{}", a.body);
}
