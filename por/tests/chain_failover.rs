//! The chain client over several RPC endpoints: it fails over from a dead,
//! hung, overloaded or answer-losing endpoint to a live devnet, stays on the
//! one that answered, sends a transaction once whichever endpoint carries
//! it, and its metrics say which endpoint answered.

use std::time::Duration;

use near_crypto::{KeyType, SecretKey};
use near_primitives::types::AccountId;
use por_devnet::rpc::{DevnetServer, ServerConfig};
use por_devnet::{Chain, ChainConfig};
use por_node::chain::{ChainClient, ChainError, DEFAULT_GAS, NearRpcChain, RetryPolicy, RpcEndpoints, RpcMetrics};
use prometheus_client::registry::Registry;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NEAR: u128 = 1_000_000_000_000_000_000_000_000;

fn id(s: &str) -> AccountId {
    s.parse().unwrap()
}

fn alice_key() -> SecretKey {
    SecretKey::from_seed(KeyType::ED25519, "alice")
}

async fn devnet() -> DevnetServer {
    let mut chain = Chain::new(ChainConfig::default());
    chain.create_account(id("alice.test"), 100 * NEAR, Some(alice_key().public_key())).unwrap();
    chain.create_account(id("c.test"), 10 * NEAR, None).unwrap();
    let wasm = wat::parse_str(include_str!("../../devnet/tests/fixtures/test_contract.wat")).unwrap();
    chain.deploy(&id("c.test"), wasm).unwrap();
    DevnetServer::start(chain, ServerConfig { produce_blocks: false, ..ServerConfig::default() }).await.unwrap()
}

/// A URL where nothing listens (a port bound, then freed).
fn dead() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    format!("http://127.0.0.1:{port}")
}

/// An endpoint that accepts connections and never answers.
async fn hung() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    format!("http://{addr}")
}

/// An endpoint that answers every request `503 Service Unavailable`.
async fn overloaded() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

/// A proxy to `to` that passes the first `send_tx` on and closes the
/// connection instead of answering (the chain executed it; the answer is
/// lost), and forwards everything else.
async fn loses_first_send(to: std::net::SocketAddr) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let mut lost = false;
        while let Ok((mut client, _)) = l.accept().await {
            let mut req = Vec::new();
            let mut buf = [0u8; 8192];
            let (start, len) = loop {
                let n = client.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break (0, usize::MAX);
                }
                req.extend_from_slice(&buf[..n]);
                if let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                        .unwrap_or(0);
                    break (end + 4, len);
                }
            };
            if len == usize::MAX {
                continue;
            }
            while req.len() < start + len {
                let n = client.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            let body = req[start..].to_vec();
            let is_send = String::from_utf8_lossy(&body).contains("\"send_tx\"");
            let mut up = tokio::net::TcpStream::connect(to).await.unwrap();
            let head = format!(
                "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            up.write_all(head.as_bytes()).await.unwrap();
            up.write_all(&body).await.unwrap();
            let mut resp = Vec::new();
            up.read_to_end(&mut resp).await.unwrap();
            if is_send && !lost {
                lost = true;
                drop(client);
                continue;
            }
            let _ = client.write_all(&resp).await;
        }
    });
    format!("http://{addr}")
}

fn client(urls: &[String], registry: &mut Registry) -> NearRpcChain {
    let endpoints = RpcEndpoints::parse(urls).unwrap().with_metrics(RpcMetrics::new(registry));
    let retry = RetryPolicy { request_timeout: Duration::from_millis(500), ..RetryPolicy::default() };
    NearRpcChain::over(endpoints).signing(id("alice.test"), Some(alice_key()), None).with_retry(retry)
}

fn metrics(registry: &Registry) -> String {
    let mut s = String::new();
    prometheus_client::encoding::text::encode(&mut s, registry).unwrap();
    s
}

/// The value of the sample `series` (name and labels, exactly) in `text`.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no sample {series} in\n{text}"))
}

#[tokio::test]
async fn a_dead_endpoint_fails_over_to_a_live_one_and_the_metrics_say_which_answered() {
    let srv = devnet().await;
    let (dead, live) = (dead(), srv.url());
    let mut reg = Registry::default();
    let c = client(&[dead.clone(), live.clone()], &mut reg);
    let s = c.status().await.unwrap();
    assert_eq!(s.chain_id, "por-devnet");
    assert_eq!(c.url(), live, "the client stays on the endpoint that answered");
    c.call(&id("c.test"), "set", json!("via the second endpoint"), 0, DEFAULT_GAS).await.unwrap();
    assert_eq!(c.view(&id("c.test"), "get", json!(null)).await.unwrap(), json!("via the second endpoint"));
    let text = metrics(&reg);
    let calls = |url: &str, result: &str| {
        sample(&text, &format!("por_chain_rpc_calls_total{{endpoint=\"{url}\",result=\"{result}\"}}"))
    };
    assert_eq!(calls(&dead, "failed"), 1.0, "asked once, then never again:\n{text}");
    assert_eq!(calls(&dead, "answered"), 0.0);
    assert!(calls(&live, "answered") >= 4.0, "status, the access key, the send, the view:\n{text}");
    assert_eq!(calls(&live, "failed"), 0.0);
    assert_eq!(sample(&text, &format!("por_chain_rpc_endpoint_in_use{{endpoint=\"{live}\"}}")), 1.0);
    assert_eq!(sample(&text, &format!("por_chain_rpc_endpoint_in_use{{endpoint=\"{dead}\"}}")), 0.0);
    srv.shutdown().await.unwrap();
}

#[tokio::test]
async fn hung_and_overloaded_endpoints_are_passed_over() {
    let srv = devnet().await;
    let (hung, busy, live) = (hung().await, overloaded().await, srv.url());
    let mut reg = Registry::default();
    let c = client(&[hung.clone(), busy.clone(), live.clone()], &mut reg);
    let started = std::time::Instant::now();
    c.status().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "the hung endpoint held the call {:?}", started.elapsed());
    let text = metrics(&reg);
    for url in [&hung, &busy] {
        let failed = sample(&text, &format!("por_chain_rpc_calls_total{{endpoint=\"{url}\",result=\"failed\"}}"));
        assert_eq!(failed, 1.0, "{url}:\n{text}");
    }
    assert_eq!(c.url(), live);
    srv.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_send_whose_answer_was_lost_is_not_executed_twice_on_the_next_endpoint() {
    let srv = devnet().await;
    let lossy = loses_first_send(srv.addr()).await;
    let mut reg = Registry::default();
    let c = client(&[lossy, srv.url()], &mut reg);
    let out = c.call(&id("c.test"), "set", json!("once"), 0, DEFAULT_GAS).await.unwrap();
    let pk = alice_key().public_key();
    let chain = srv.chain();
    let chain = chain.lock().unwrap();
    assert_eq!(chain.access_key(&id("alice.test"), &pk).unwrap().nonce, 1, "one transaction, not two");
    assert!(chain.tx(&out.tx_hash).unwrap().is_success());
}

#[tokio::test]
async fn with_every_endpoint_down_the_error_names_them_all() {
    let (a, b) = (dead(), dead());
    let mut reg = Registry::default();
    let c = client(&[a.clone(), b.clone()], &mut reg);
    match c.status().await {
        Err(ChainError::Unreachable { url, .. }) => assert!(url.contains(&a) && url.contains(&b), "{url}"),
        other => panic!("expected Unreachable, got {other:?}"),
    }
    // Two passes round the list (RetryPolicy::read_passes).
    let text = metrics(&reg);
    assert_eq!(sample(&text, &format!("por_chain_rpc_calls_total{{endpoint=\"{a}\",result=\"failed\"}}")), 2.0);
    assert!(matches!(
        c.call(&id("c.test"), "set", json!(1), 0, DEFAULT_GAS).await,
        Err(ChainError::Unreachable { .. })
    ));
}
