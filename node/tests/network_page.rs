//! The network page in a real headless browser against a running node
//! without a chain: the graph is published by hand and the chain history is
//! fed as the chain agent feeds it (por/tests/network_page.rs does the same
//! on the devnet, with the agent). The page loads with the read-only token,
//! shows every node and edge, the server this node used, and follows a
//! severance without a reload; the API's `/network` says the same.

mod common;
mod webdriver;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{outcome, spawn_network, tokens, until};
use por_core::{ChannelId, Edge, EdgeParams, Graph, NodeInfo};
use por_node::NetworkGraph;
use por_node::history::{Removal, SnapEdge, SnapNode, Snapshot};
use serde_json::{Value, json};
use webdriver::{Driver, READ_PAGE, browser};

const ACCOUNTS: [&str; 3] = ["a.test", "b.test", "c.test"];

/// The graph with `edges` (channel, a, b), as the chain agent would publish
/// it, and the history's snapshot of it.
fn graph(net: &common::Net, version: u64, edges: &[(u64, u32, u32)]) -> (NetworkGraph, Snapshot) {
    let params = EdgeParams { latency_ms: 10, base_fee: 5, byte_fee: 0 };
    let mut g = Graph::new();
    for i in 0..3u128 {
        g.add_node(NodeInfo { stake: (i + 1) * 10u128.pow(24), service_ms: 0 });
    }
    for (c, a, b) in edges {
        g.add_edge(Edge { channel: ChannelId(*c), a: *a, b: *b, params }).unwrap();
    }
    let keys = net.nodes.iter().map(|n| n.key).collect();
    let accounts: Vec<String> = ACCOUNTS.iter().map(|a| a.to_string()).collect();
    let snap = Snapshot {
        version,
        nodes: accounts
            .iter()
            .enumerate()
            .map(|(i, a)| {
                (a.clone(), SnapNode { stake: ((i as u128 + 1) * 10u128.pow(24)).to_string(), status: "active".into() })
            })
            .collect(),
        edges: edges
            .iter()
            .map(|(c, a, b)| {
                let e = SnapEdge { a: accounts[*a as usize].clone(), b: accounts[*b as usize].clone(), closing: false };
                (*c, e)
            })
            .collect(),
    };
    (NetworkGraph::new(version, g, keys, accounts, vec![true; 3]), snap)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_every_node_and_edge_and_follows_a_severance() {
    let Some((chromium, chromedriver)) = browser() else { return };
    let net = spawn_network(3).await;
    for (c, a, b) in [(1, 0, 1), (2, 1, 2), (3, 0, 2)] {
        net.link(a, b, c, 10).await;
    }
    net.serve_echo(2).await;
    let h = net.nodes[0].handle.clone();
    let params = EdgeParams { latency_ms: 10, base_fee: 5, byte_fee: 0 };
    for _ in 0..3 {
        let (_, mut rx) = h.request(net.route(&[0, 2], &[3], params, 300), "echo", b"x".to_vec(), 64).await.unwrap();
        outcome(&mut rx, Duration::from_secs(10)).await;
    }
    let (g, snap) = graph(&net, 1, &[(1, 0, 1), (2, 1, 2), (3, 0, 2)]);
    h.set_graph(g);
    let none = BTreeMap::new();
    h.history().observe(snap, &none, &BTreeMap::new());

    let registry = Arc::new(prometheus_client::registry::Registry::default());
    let addr = common::serve_http(por_node::api::versioned(por_node::api::router(h.clone(), registry))).await;
    let base = format!("http://{addr}");
    let api = || async {
        let r = reqwest::Client::new()
            .get(format!("{base}/v1/network"))
            .header("Authorization", tokens().readonly.bearer())
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()
    };

    let driver = Driver::start(&chromium, &chromedriver).await;
    driver.go(&format!("{base}/ui")).await;
    until(Duration::from_secs(20), "the page asks for a token", || async {
        driver.js(READ_PAGE).await["login"] == true
    })
    .await;
    driver.go(&format!("{base}/ui#token={}", tokens().readonly.as_str())).await;
    let open = json!(["1:open", "2:open", "3:open"]);
    until(Duration::from_secs(20), "the page shows every node and edge", || async {
        let p = driver.js(READ_PAGE).await;
        p["nodes"] == json!(ACCOUNTS) && p["edges"] == open
    })
    .await;
    let page = driver.js(READ_PAGE).await;
    assert!(!page["href"].as_str().unwrap().contains("token"), "the token stays in the URL: {page}");
    assert_eq!(page["servers"], json!([net.nodes[2].key.to_hex()]), "{page}");
    // Edge 3 carried three requests, all within their bound: green.
    let class = driver.js("return document.querySelector('[data-edge=\"3\"]').dataset.class").await;
    assert_eq!(class, json!("good"));

    // Node 0 cuts channel 3; the agent's next graph lacks it, and it reads
    // who severed it.
    assert!(h.sever(ChannelId(3)).await.unwrap());
    let (g, snap) = graph(&net, 2, &[(1, 0, 1), (2, 1, 2)]);
    h.set_graph(g);
    h.history().observe(snap, &BTreeMap::from([(3, Removal::Severed("a.test".into()))]), &BTreeMap::new());
    let severed = json!(["1:open", "2:open", "3:severed"]);
    until(Duration::from_secs(20), "the page shows the severance", || async {
        let p = driver.js(READ_PAGE).await;
        p["edges"] == severed && p["events"] == json!(["channel_severed"])
    })
    .await;
    let v = api().await;
    let mut edges: Vec<String> = v["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{}:{}", e["channel"], e["state"].as_str().unwrap()))
        .collect();
    edges.sort();
    assert_eq!(json!(edges), severed, "the API and the page agree");
    assert_eq!(v["events"][0]["by"], json!("a.test"));
    if let Some(path) = std::env::var_os("POR_SCREENSHOT") {
        let png = driver.call("GET", &format!("/session/{}/screenshot", driver.session), Value::Null).await;
        std::fs::write(&path, png.as_str().unwrap_or_default()).unwrap();
    }
}
