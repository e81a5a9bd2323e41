//! The chain client against a devnet on loopback, with the devnet's tiny test
//! contract (`devnet/tests/fixtures/test_contract.wat`): the RPC formats, typed
//! errors, signature and nonce refusal, nonce refresh, malformed requests and
//! restart persistence. The PoR contract's lifecycle is in `lifecycle.rs`.

use std::time::{SystemTime, UNIX_EPOCH};

use near_crypto::{InMemorySigner, KeyType, SecretKey, Signer};
use near_jsonrpc_client::errors::{JsonRpcError, JsonRpcServerError};
use near_jsonrpc_client::{JsonRpcClient, methods};
use near_jsonrpc_primitives::types::transactions::RpcTransactionError;
use near_primitives::errors::InvalidTxError;
use near_primitives::transaction::{Action, FunctionCallAction, SignedTransaction, Transaction, TransactionV0};
use near_primitives::types::{AccountId, Balance, Gas};
use near_primitives::views::TxExecutionStatus;
use por_devnet::rpc::{DevnetServer, ServerConfig};
use por_devnet::{Chain, ChainConfig};
use por_node::chain::{ChainClient, ChainError, DEFAULT_GAS, NearRpcChain};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NEAR: u128 = 1_000_000_000_000_000_000_000_000;

fn id(s: &str) -> AccountId {
    s.parse().unwrap()
}

fn alice_key() -> SecretKey {
    SecretKey::from_seed(KeyType::ED25519, "alice")
}

fn chain() -> Chain {
    let mut chain = Chain::new(ChainConfig::default());
    chain.create_account(id("alice.test"), 100 * NEAR, Some(alice_key().public_key())).unwrap();
    chain.create_account(id("c.test"), 10 * NEAR, None).unwrap();
    let wasm = wat::parse_str(include_str!("../../devnet/tests/fixtures/test_contract.wat")).unwrap();
    chain.deploy(&id("c.test"), wasm).unwrap();
    chain
}

async fn serve(chain: Chain, cfg: ServerConfig) -> DevnetServer {
    DevnetServer::start(chain, ServerConfig { produce_blocks: false, ..cfg }).await.unwrap()
}

fn alice(url: &str) -> NearRpcChain {
    NearRpcChain::with_signer(url, id("alice.test"), alice_key())
}

#[tokio::test]
async fn status_call_view_and_events_through_rpc() {
    let srv = serve(chain(), ServerConfig::default()).await;
    let c = alice(&srv.url());
    let s = c.status().await.unwrap();
    assert_eq!(s.protocol_version, 88);
    assert_eq!(s.chain_id, "por-devnet");
    let out = c.call(&id("c.test"), "set", json!("hello"), 0, DEFAULT_GAS).await.unwrap();
    assert_eq!(out.event_names(), vec!["set"]);
    assert!(out.gas_burnt > 0);
    assert_eq!(c.view(&id("c.test"), "get", json!(null)).await.unwrap(), json!("hello"));
    let after = c.status().await.unwrap();
    assert!(after.height > s.height);
    srv.shutdown().await.unwrap();
}

#[tokio::test]
async fn failures_are_typed_and_change_nothing() {
    let srv = serve(chain(), ServerConfig::default()).await;
    let c = alice(&srv.url());
    c.call(&id("c.test"), "set", json!("v1"), 0, DEFAULT_GAS).await.unwrap();
    let before = c.balance(&id("c.test")).await.unwrap();
    match c.call(&id("c.test"), "fail", json!(null), 2 * NEAR, DEFAULT_GAS).await {
        Err(ChainError::TxFailed { message, .. }) => assert_eq!(message, "boom"),
        other => panic!("expected the contract's message, got {other:?}"),
    }
    assert_eq!(c.view(&id("c.test"), "get", json!(null)).await.unwrap(), json!("v1"));
    assert_eq!(c.balance(&id("c.test")).await.unwrap(), before, "the deposit went back");
    match c.call(&id("c.test"), "set", json!("x"), 1000 * NEAR, DEFAULT_GAS).await {
        Err(ChainError::NotEnoughBalance { account, .. }) => assert_eq!(account, id("alice.test")),
        other => panic!("expected NotEnoughBalance, got {other:?}"),
    }
    match c.view(&id("c.test"), "fail", json!(null)).await {
        Err(ChainError::ViewFailed { message, .. }) => assert!(message.contains("storage_write"), "{message}"),
        other => panic!("a view cannot write: {other:?}"),
    }
    match c.balance(&id("nobody.test")).await {
        Err(ChainError::UnknownAccount(a)) => assert_eq!(a, id("nobody.test")),
        other => panic!("{other:?}"),
    }
    let ro = NearRpcChain::new(&srv.url());
    assert!(matches!(ro.call(&id("c.test"), "set", json!(1), 0, DEFAULT_GAS).await, Err(ChainError::NoSigner)));
    srv.shutdown().await.unwrap();
}

#[tokio::test]
async fn unreachable_rpc_is_reported() {
    // Bind then drop a listener: the port is free and nothing answers.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let c = alice(&format!("http://127.0.0.1:{port}"));
    assert!(matches!(c.status().await, Err(ChainError::Unreachable { .. })));
    assert!(matches!(
        c.call(&id("c.test"), "set", json!(1), 0, DEFAULT_GAS).await,
        Err(ChainError::Unreachable { .. })
    ));
}

fn raw_tx(block_hash: near_primitives::hash::CryptoHash, nonce: u64, signer: &Signer, arg: &str) -> SignedTransaction {
    let tx = Transaction::V0(TransactionV0 {
        signer_id: id("alice.test"),
        public_key: alice_key().public_key(),
        nonce,
        receiver_id: id("c.test"),
        block_hash,
        actions: vec![Action::FunctionCall(Box::new(FunctionCallAction {
            method_name: "set".into(),
            args: arg.as_bytes().to_vec(),
            gas: Gas::from_gas(DEFAULT_GAS),
            deposit: Balance::ZERO,
        }))],
    });
    let (h, _) = tx.get_hash_and_size();
    SignedTransaction::new(signer.sign(h.as_ref()), tx)
}

async fn send(client: &JsonRpcClient, tx: SignedTransaction) -> Result<(), InvalidTxError> {
    let req =
        methods::send_tx::RpcSendTransactionRequest { signed_transaction: tx, wait_until: TxExecutionStatus::Final };
    match client.call(req).await {
        Ok(_) => Ok(()),
        Err(JsonRpcError::ServerError(JsonRpcServerError::HandlerError(RpcTransactionError::InvalidTransaction {
            context,
        }))) => Err(context),
        Err(e) => panic!("unexpected RPC error: {e}"),
    }
}

#[tokio::test]
async fn bad_signature_and_reused_nonce_are_refused() {
    let srv = serve(chain(), ServerConfig::default()).await;
    let client = JsonRpcClient::connect(srv.url());
    let head = srv.chain().lock().unwrap().head().hash;
    let alice = InMemorySigner::from_secret_key(id("alice.test"), alice_key());
    let mallory = InMemorySigner::from_secret_key(id("alice.test"), SecretKey::from_seed(KeyType::ED25519, "mallory"));

    assert_eq!(send(&client, raw_tx(head, 1, &mallory, "\"forged\"")).await, Err(InvalidTxError::InvalidSignature));
    send(&client, raw_tx(head, 1, &alice, "\"first\"")).await.unwrap();
    assert_eq!(
        send(&client, raw_tx(head, 1, &alice, "\"replay\"")).await,
        Err(InvalidTxError::InvalidNonce { tx_nonce: 1, ak_nonce: 1 })
    );
    // broadcast_tx_commit speaks the same errors.
    let req = methods::broadcast_tx_commit::RpcBroadcastTxCommitRequest {
        signed_transaction: raw_tx(head, 1, &alice, "\"again\""),
    };
    let err = client.call(req).await.unwrap_err();
    assert!(
        matches!(
            err.handler_error(),
            Some(RpcTransactionError::InvalidTransaction { context: InvalidTxError::InvalidNonce { .. } })
        ),
        "{err:?}"
    );
    let c = NearRpcChain::new(&srv.url());
    assert_eq!(c.view(&id("c.test"), "get", json!(null)).await.unwrap(), json!("first"));
    srv.shutdown().await.unwrap();
}

#[tokio::test]
async fn nonce_is_refreshed_when_another_client_used_the_key() {
    let srv = serve(chain(), ServerConfig::default()).await;
    let (a, b) = (alice(&srv.url()), alice(&srv.url()));
    a.call(&id("c.test"), "set", json!(1), 0, DEFAULT_GAS).await.unwrap();
    b.call(&id("c.test"), "set", json!(2), 0, DEFAULT_GAS).await.unwrap();
    b.call(&id("c.test"), "set", json!(3), 0, DEFAULT_GAS).await.unwrap();
    // `a` still believes the next nonce is 2; the chain says 3 is used.
    a.call(&id("c.test"), "set", json!(4), 0, DEFAULT_GAS).await.unwrap();
    assert_eq!(a.view(&id("c.test"), "get", json!(null)).await.unwrap(), json!(4));
    let pk = alice_key().public_key();
    assert_eq!(srv.chain().lock().unwrap().access_key(&id("alice.test"), &pk).unwrap().nonce, 4);
    srv.shutdown().await.unwrap();
}

#[tokio::test]
async fn advance_time_moves_the_block_clock() {
    let srv = serve(chain(), ServerConfig { allow_time_travel: true, ..ServerConfig::default() }).await;
    let c = alice(&srv.url());
    let t0 = c.status().await.unwrap().time_ms;
    c.advance_time(3_600_000).await.unwrap();
    let t1 = c.status().await.unwrap().time_ms;
    assert_eq!(t1 - t0, 3_600_000);
    srv.shutdown().await.unwrap();
}

/// Time travel is off unless the server allows it, and bounded when it is:
/// `u64::MAX` once froze the clock at its end.
#[tokio::test]
async fn advance_time_is_opt_in_and_bounded() {
    let srv = serve(chain(), ServerConfig::default()).await;
    let c = alice(&srv.url());
    let t0 = c.status().await.unwrap().time_ms;
    assert!(matches!(c.advance_time(1_000).await, Err(ChainError::Unsupported(_))));
    let r =
        post_raw(srv.addr(), br#"{"jsonrpc":"2.0","id":1,"method":"devnet_advance_time","params":{"ms":1000}}"#).await;
    assert!(r["error"]["data"].as_str().unwrap().contains("--allow-time-travel"), "{r}");
    assert_eq!(c.status().await.unwrap().time_ms, t0);
    srv.shutdown().await.unwrap();

    let srv = serve(chain(), ServerConfig { allow_time_travel: true, ..ServerConfig::default() }).await;
    let c = alice(&srv.url());
    let t0 = c.status().await.unwrap().time_ms;
    let e = c.advance_time(u64::MAX).await.unwrap_err();
    assert!(e.to_string().contains(&por_devnet::rpc::MAX_TIME_TRAVEL_MS.to_string()), "{e}");
    let raw = format!(r#"{{"jsonrpc":"2.0","id":2,"method":"devnet_advance_time","params":{{"ms":{}}}}}"#, u64::MAX);
    let r = post_raw(srv.addr(), raw.as_bytes()).await;
    assert!(r["error"]["data"].as_str().unwrap().contains("30 days"), "{r}");
    assert_eq!(c.status().await.unwrap().time_ms, t0, "the clock did not move");
    c.advance_time(por_devnet::rpc::MAX_TIME_TRAVEL_MS).await.unwrap();
    c.advance_time(1_000).await.unwrap();
    assert_eq!(c.status().await.unwrap().time_ms - t0, por_devnet::rpc::MAX_TIME_TRAVEL_MS + 1_000, "still moving");
    srv.shutdown().await.unwrap();
}

/// Posts `body` over a raw HTTP/1.1 connection; returns the JSON answer.
async fn post_raw(addr: std::net::SocketAddr, body: &[u8]) -> Value {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    let json = text.split("\r\n\r\n").nth(1).unwrap_or_else(|| panic!("no body in {text}"));
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

#[tokio::test]
async fn malformed_and_oversized_requests_get_jsonrpc_errors() {
    let srv = serve(chain(), ServerConfig { max_body_bytes: 1024, ..ServerConfig::default() }).await;
    let addr = srv.addr();
    let r = post_raw(addr, b"this is not json").await;
    assert_eq!(r["error"]["code"], -32700, "{r}");
    let r = post_raw(addr, br#"{"jsonrpc":"2.0","id":1,"method":"no_such_method","params":[]}"#).await;
    assert_eq!(r["error"]["cause"]["name"], "METHOD_NOT_FOUND", "{r}");
    let r =
        post_raw(addr, br#"{"jsonrpc":"2.0","id":2,"method":"send_tx","params":{"signed_tx_base64":"AAAA"}}"#).await;
    assert_eq!(r["error"]["code"], -32602, "invalid params: {r}");
    let r =
        post_raw(addr, br#"{"jsonrpc":"2.0","id":3,"method":"query","params":{"request_type":"call_function"}}"#).await;
    assert!(r["error"].is_object(), "{r}");
    let big = format!(r#"{{"jsonrpc":"2.0","id":4,"method":"status","params":["{}"]}}"#, "x".repeat(4096));
    let r = post_raw(addr, big.as_bytes()).await;
    assert_eq!(r["error"]["code"], -32700, "{r}");
    assert!(r["error"]["data"].as_str().unwrap().contains("1024"), "{r}");
    // Still serving.
    let r = post_raw(addr, br#"{"jsonrpc":"2.0","id":5,"method":"status","params":[]}"#).await;
    assert_eq!(r["result"]["protocol_version"], 88, "{r}");
    srv.shutdown().await.unwrap();
}

#[tokio::test]
async fn restarted_devnet_keeps_its_state() {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("por-devnet-restart-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("chain.borsh");
    let cfg = ServerConfig { state_file: Some(file.clone()), ..ServerConfig::default() };

    let srv = serve(chain(), cfg.clone()).await;
    let c = alice(&srv.url());
    c.call(&id("c.test"), "set", json!("persisted"), 0, DEFAULT_GAS).await.unwrap();
    let height = c.status().await.unwrap().height;
    srv.shutdown().await.unwrap();

    let restored = Chain::from_bytes(&std::fs::read(&file).unwrap()).unwrap();
    let srv = serve(restored, cfg).await;
    let c = alice(&srv.url());
    assert_eq!(c.view(&id("c.test"), "get", json!(null)).await.unwrap(), json!("persisted"));
    assert_eq!(c.status().await.unwrap().height, height);
    // The key's nonce survived too: a fresh client picks up after it.
    c.call(&id("c.test"), "set", json!("after restart"), 0, DEFAULT_GAS).await.unwrap();
    srv.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A proxy that forwards each HTTP request to `to`, except that it swallows
/// the response to the first `send_tx` (closing the connection), as a network
/// that loses the answer after the chain executed the transaction.
async fn lossy_proxy(to: std::net::SocketAddr) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut dropped = false;
        loop {
            let Ok((mut client, _)) = listener.accept().await else { return };
            let mut req = Vec::new();
            let mut buf = [0u8; 8192];
            // Read the head, then the body by Content-Length.
            let body_len = loop {
                let n = client.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break None;
                }
                req.extend_from_slice(&buf[..n]);
                if let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                        .unwrap_or(0);
                    break Some((end + 4, len));
                }
            };
            let Some((start, len)) = body_len else { continue };
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
            if is_send && !dropped {
                dropped = true;
                drop(client); // the chain executed it; the answer is lost
                continue;
            }
            let _ = client.write_all(&resp).await;
        }
    });
    addr
}

#[tokio::test]
async fn a_lost_answer_is_retried_with_the_same_transaction() {
    let srv = serve(chain(), ServerConfig::default()).await;
    let proxy = lossy_proxy(srv.addr()).await;
    let c = alice(&format!("http://{proxy}"));
    let out = c.call(&id("c.test"), "set", json!("once"), 0, DEFAULT_GAS).await.unwrap();
    let pk = alice_key().public_key();
    let chain = srv.chain();
    let chain = chain.lock().unwrap();
    assert_eq!(chain.access_key(&id("alice.test"), &pk).unwrap().nonce, 1, "one transaction, not two");
    assert!(chain.tx(&out.tx_hash).unwrap().is_success());
}
