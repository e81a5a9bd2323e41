//! The record of outcomes against real nodes: a run with a known mix of
//! requests answered within their bound, answered late, and refused, is
//! counted exactly, per server and per edge, and the API's `/network` shows
//! the same counts.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{outcome, spawn_network};
use por_core::protocol::Delivery;
use por_core::{ChannelId, EdgeParams, RouteHop};
use por_node::{Reply, ServiceRequest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_mix_of_on_time_late_and_refused_requests_is_counted_exactly() {
    let net = spawn_network(2).await;
    let (client, server) = (&net.nodes[0], &net.nodes[1]);
    net.link(0, 1, 1, 10).await;
    net.serve_echo(1).await;
    let slow = |r: ServiceRequest| async move {
        tokio::time::sleep(Duration::from_millis(600)).await;
        Reply::ok(r.body)
    };
    server.handle.serve("slow", Arc::new(slow)).await.unwrap();
    let params = EdgeParams { latency_ms: 10, base_fee: 5, byte_fee: 0 };
    // `echo` within a bound of 2 × 10 ms + 300 ms; `slow` promised in 0 ms
    // of service, answered after 600.
    let (on_time, late, refused) = (4, 2, 3);
    for _ in 0..on_time {
        let route = net.route(&[0, 1], &[1], params, 300);
        let (_, mut rx) = client.handle.request(route, "echo", b"x".to_vec(), 64).await.unwrap();
        let seen = outcome(&mut rx, Duration::from_secs(10)).await;
        assert!(seen.iter().any(|d| matches!(d, Delivery::Response { .. })), "{seen:?}");
    }
    for _ in 0..late {
        let route = net.route(&[0, 1], &[1], params, 0);
        let (_, mut rx) = client.handle.request(route, "slow", b"x".to_vec(), 64).await.unwrap();
        let seen = outcome(&mut rx, Duration::from_secs(10)).await;
        assert!(seen.iter().any(|d| matches!(d, Delivery::Response { .. })), "{seen:?}");
    }
    // Through the server to a channel it does not have: refused by the
    // first hop, with its reason.
    for _ in 0..refused {
        let mut route = net.route(&[0, 1], &[1], params, 0);
        route.hops.push(RouteHop { channel: ChannelId(99), node: client.key, params });
        let (id, mut rx) = client.handle.request(route, "echo", b"x".to_vec(), 64).await.unwrap();
        let _ = outcome(&mut rx, Duration::from_secs(5)).await;
        assert!(client.handle.refusal(id).await.unwrap().is_some(), "request {id} was not refused");
    }

    let v = client.handle.outcomes();
    assert_eq!(v.pending, 0, "{v:?}");
    let echo_server = v.servers.iter().find(|s| s.key == server.key.to_hex()).expect("the server is in the record");
    for w in ["5m", "1h", "24h", "all"] {
        let c = &echo_server.windows[w];
        assert_eq!((c.on_time, c.late, c.notices, c.refused_total()), (on_time, late, 0, 0), "{w}: {c:?}");
        assert!(c.late_ms_max >= 500 && c.late_ms_max < 5_000, "{w}: {c:?}");
        assert!(c.late_ms_total >= 2 * 500, "{w}: {c:?}");
    }
    // The refused ones went to the client's own key as their server.
    let other = v.servers.iter().find(|s| s.key == client.key.to_hex()).expect("the refused route's server");
    assert_eq!(other.windows["1h"].refused_total(), refused, "{other:?}");
    assert_eq!(other.windows["1h"].ended(), refused);
    // Edge 1 carried every one of them.
    let edge = v.edges.iter().find(|e| e.key == "1").expect("edge 1");
    let c = &edge.windows["1h"];
    assert_eq!((c.on_time, c.late, c.refused_total()), (on_time, late, refused), "{c:?}");
    let reasons: Vec<&String> = c.refused.keys().collect();
    assert_eq!(reasons.len(), 1, "one reason for the three refusals: {c:?}");
    // Ranked by responses within bound.
    assert_eq!(v.servers[0].key, server.key.to_hex());

    // The API's view is the handle's.
    let view = por_node::api::network::view(&client.handle, 10);
    assert_eq!(view.servers, v.servers);
    assert_eq!(view.observed_edges, v.edges);
}

/// `/network` needs the read-only token like every data route; the page's
/// files need none and come with a strict Content-Security-Policy; the
/// view carries a hand-made graph's nodes and edges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_route_and_the_page_are_served_with_their_scopes() {
    let net = spawn_network(2).await;
    net.link(0, 1, 1, 10).await;
    let h = &net.nodes[0].handle;
    let mut graph = por_core::Graph::new();
    for _ in 0..2 {
        graph.add_node(por_core::NodeInfo { stake: 7, service_ms: 0 });
    }
    let params = EdgeParams { latency_ms: 10, base_fee: 5, byte_fee: 0 };
    graph.add_edge(por_core::Edge { channel: ChannelId(1), a: 0, b: 1, params }).unwrap();
    let keys = vec![net.nodes[0].key, net.nodes[1].key];
    h.set_graph(por_node::NetworkGraph::new(3, graph, keys, vec!["a.test".into(), "b.test".into()], vec![true, true]));
    let registry = Arc::new(prometheus_client::registry::Registry::default());
    let addr = common::serve_http(por_node::api::versioned(por_node::api::router(h.clone(), registry))).await;
    let get = |path: &str, auth: String| {
        let first = format!("GET {path} HTTP/1.1");
        async move { common::raw_http(addr, &first, &format!("Host: {addr}\r\n{auth}"), b"").await }
    };
    let anon = get("/v1/network", String::new()).await;
    assert_eq!((anon.status, anon.code().as_str()), (401, "unauthorized"), "{}", anon.body);
    let a = get("/v1/network?events=3", common::readonly_auth()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let v: por_node::api::network::NetworkView = serde_json::from_str(&a.body).unwrap();
    assert_eq!(v.graph_version, Some(3));
    assert_eq!(
        v.nodes.iter().map(|n| (n.account.as_str(), n.stake.as_str(), n.me)).collect::<Vec<_>>(),
        [("a.test", "7", true), ("b.test", "7", false)]
    );
    assert_eq!(v.edges.len(), 1);
    assert_eq!((v.edges[0].channel, v.edges[0].state.as_str(), v.edges[0].on_time_ratio_1h), (1, "open", None));
    let bad = get("/v1/network?events=5000", common::readonly_auth()).await;
    assert_eq!((bad.status, bad.code().as_str()), (400, "bad_request"), "{}", bad.body);
    let unknown = get("/v1/network?token=abc", common::readonly_auth()).await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    for (path, kind) in [
        ("/ui", "text/html"),
        ("/v1/ui", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/style.css", "text/css"),
    ] {
        let p = get(path, String::new()).await;
        assert_eq!(p.status, 200, "{path}: {}", p.body);
        assert!(p.head.contains(&format!("content-type: {kind}")), "{path}: {}", p.head);
        assert!(p.head.contains("content-security-policy: default-src 'none'; script-src 'self'"), "{}", p.head);
        assert!(p.head.contains("x-frame-options: deny") && p.head.contains("referrer-policy: no-referrer"));
    }
    // The page reads the API with the bearer header, never a token in a URL.
    let js = get("/ui/app.js", String::new()).await.body;
    assert!(js.contains("Authorization: \"Bearer \"") && !js.contains("?token"), "{js}");
}
