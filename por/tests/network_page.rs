//! The network page in a real headless browser (Debian's `chromium`, driven
//! over WebDriver by `chromedriver`): it loads from a running node's API
//! with the read-only token, shows every node and edge of a small network
//! on the devnet, and updates after a severance; the API's `/network` and
//! `por network` show the same nodes, edges and events as the page.
//!
//! The browser and its driver: node/tests/webdriver (installed by `make
//! test`'s deps step; missing outside CI, the test says so loudly and skips).

mod chain_common;
#[path = "../../node/tests/webdriver/mod.rs"]
mod webdriver;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chain_common::{ChainNet, until};
use por_core::protocol::ProtocolConfig;
use por_core::{ChannelId, EdgeParams};
use por_node::RouteLimits;
use por_node::api::auth::ApiTokens;
use serde_json::{Value, json};
use webdriver::{Driver, READ_PAGE, browser};

fn edges_of(view: &Value) -> Vec<String> {
    let mut e: Vec<String> = view["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{}:{}", e["channel"], e["state"].as_str().unwrap()))
        .collect();
    e.sort();
    e
}

fn nodes_of(view: &Value) -> Vec<String> {
    let mut n: Vec<String> =
        view["nodes"].as_array().unwrap().iter().map(|n| n["account"].as_str().unwrap().to_string()).collect();
    n.sort();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_page_shows_the_network_and_follows_a_severance() {
    let Some((chromium, chromedriver)) = browser() else { return };
    let params = EdgeParams { latency_ms: 20, base_fee: 1_000, byte_fee: 2 };
    let net = ChainNet::start(3, 200, |_| ProtocolConfig::default()).await;
    let c01 = net.open(0, 1, params).await;
    let c12 = net.open(1, 2, params).await;
    let c02 = net.open(0, 2, params).await;
    for i in 0..3 {
        net.wait_graph(i, 3).await;
    }
    net.serve_echo(2).await;
    // Some traffic from node 0 to node 2, for the servers table.
    let h0 = net.nodes[0].node.handle.clone();
    for _ in 0..3 {
        let r = h0.routes_to(&net.nodes[2].node.key, 4, 64, &RouteLimits::default(), 1).unwrap().remove(0).route;
        let (_, mut rx) = h0.request(r, "echo", b"ping".to_vec(), 64).await.unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(d) = rx.recv().await {
                if matches!(d, por_core::protocol::Delivery::Response { .. }) {
                    return;
                }
            }
        })
        .await;
    }

    // Node 0's API, as `por node run` serves it, with its tokens in files.
    let tokens = ApiTokens::from_bytes([0xad; 32], [0x5e; 32]);
    let dir = tempfile::tempdir().unwrap();
    let readonly_file = dir.path().join("api-readonly.token");
    std::fs::write(&readonly_file, tokens.readonly.as_str()).unwrap();
    // `por` refuses a token file others can read, as it should.
    std::fs::set_permissions(&readonly_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let registry = Arc::new(prometheus_client::registry::Registry::default());
    let app = por_node::api::guard(
        por_node::api::versioned(por_node::api::router_with_chain(h0.clone(), registry, None)),
        por_node::api::GuardConfig::listening_on(addr).with_tokens(tokens.clone()),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let base = format!("http://{addr}");
    let api = |path: &str| {
        let (url, bearer) = (format!("{base}{path}"), tokens.readonly.bearer());
        async move {
            let r = reqwest::Client::new().get(url).header("Authorization", bearer).send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.json::<Value>().await.unwrap()
        }
    };
    let accounts: Vec<String> = {
        let mut a: Vec<String> = net.nodes.iter().map(|n| n.account.to_string()).collect();
        a.sort();
        a
    };

    let driver = Driver::start(&chromium, &chromedriver).await;
    // Without a token the page asks for one.
    driver.go(&format!("{base}/ui")).await;
    until(Duration::from_secs(20), "the page asks for a token", || async {
        driver.js(READ_PAGE).await["login"] == true
    })
    .await;
    // With the token in the fragment: taken, removed from the URL, used.
    driver.go(&format!("{base}/ui#token={}", tokens.readonly.as_str())).await;
    let want_edges: Vec<String> = {
        let mut e: Vec<String> = [c01, c12, c02].iter().map(|c| format!("{c}:open")).collect();
        e.sort();
        e
    };
    until(Duration::from_secs(30), "the page shows every node and edge", || async {
        let page = driver.js(READ_PAGE).await;
        page["nodes"] == json!(accounts) && page["edges"] == json!(want_edges)
    })
    .await;
    let page = driver.js(READ_PAGE).await;
    assert!(!page["href"].as_str().unwrap().contains("token"), "the token stays in the URL: {page}");
    assert_eq!(page["servers"], json!([net.nodes[2].node.key.to_hex()]), "{page}");
    // The API says the same.
    let view = api("/v1/network").await;
    assert_eq!(nodes_of(&view), accounts);
    assert_eq!(edges_of(&view), want_edges);

    // Node 0 cuts channel 0–2: the page follows without a reload.
    assert!(h0.sever(ChannelId(c02)).await.unwrap());
    let severed: Vec<String> = {
        let mut e = vec![format!("{c01}:open"), format!("{c12}:open"), format!("{c02}:severed")];
        e.sort();
        e
    };
    until(Duration::from_secs(30), "the page shows the severance", || async {
        let page = driver.js(READ_PAGE).await;
        page["edges"] == json!(severed)
            && page["events"].as_array().is_some_and(|e| e.contains(&json!("channel_severed")))
    })
    .await;
    // Wait one more poll so that the page and the API read the same log.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let page = driver.js(READ_PAGE).await;
    let view = api("/v1/network?events=100").await;
    assert_eq!(edges_of(&view), severed);
    let cut = view["events"].as_array().unwrap().iter().find(|e| e["kind"] == "channel_severed").unwrap().clone();
    assert_eq!(cut["channel"], json!(c02));
    assert_eq!(cut["by"], json!(net.nodes[0].account.to_string()));
    let page_events: Vec<Value> = page["events"].as_array().unwrap().clone();
    let mut api_events: Vec<Value> = view["events"].as_array().unwrap().iter().map(|e| e["kind"].clone()).collect();
    api_events.reverse();
    assert_eq!(page_events, api_events, "the page lists the API's events, newest first");

    // `por network` reads the same answer: as JSON, and as tables.
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_por"))
            .args(["network", "--api", &base, "--token-file"])
            .arg(&readonly_file)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let json_out: Value = serde_json::from_str(&cli(&["--json", "--events", "100"])).unwrap();
    assert_eq!(nodes_of(&json_out), accounts);
    assert_eq!(edges_of(&json_out), severed);
    assert_eq!(json_out["events"], view["events"]);
    let tables = cli(&[]);
    for want in ["NODES", "EDGES", "SERVERS", "CHAIN EVENTS", "channel_severed", "severed"] {
        assert!(tables.contains(want), "{want:?} missing:\n{tables}");
    }
    for a in &accounts {
        assert!(tables.contains(a.as_str()), "{a} missing:\n{tables}");
    }
    // A node that is not there: a clear error.
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_por"))
        .args(["network", "--api", &format!("http://{gone}"), "--token-file"])
        .arg(&readonly_file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the node's API"), "{out:?}");

    // A screenshot for people, when asked (POR_SCREENSHOT=path.png).
    if let Some(path) = std::env::var_os("POR_SCREENSHOT") {
        let png = driver.call("GET", &format!("/session/{}/screenshot", driver.session), Value::Null).await;
        std::fs::write(&path, png.as_str().unwrap_or_default()).unwrap();
        eprintln!("screenshot (base64 PNG) written to {}", std::path::Path::new(&path).display());
    }
}
