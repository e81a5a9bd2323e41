//! Hostile JSON-RPC against the devnet server over real HTTP on loopback:
//! huge bodies, deep nesting, batches, requests of the wrong shape, wrong
//! param types and absurd values each get a JSON-RPC error object with the
//! standard code, and the server keeps serving.

use std::net::SocketAddr;

use near_crypto::{InMemorySigner, KeyType, SecretKey, Signer};
use near_primitives::transaction::{
    Action, FunctionCallAction, SignedTransaction, Transaction, TransactionV0, TransferAction,
};
use near_primitives::types::{AccountId, Balance, Gas};
use por_devnet::rpc::{DevnetServer, ServerConfig};
use por_devnet::{Chain, ChainConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NEAR: u128 = 1_000_000_000_000_000_000_000_000;

fn id(s: &str) -> AccountId {
    s.parse().unwrap()
}

fn alice_key() -> SecretKey {
    SecretKey::from_seed(KeyType::ED25519, "alice")
}

async fn serve(cfg: ServerConfig) -> DevnetServer {
    let mut chain = Chain::new(ChainConfig::default());
    chain.create_account(id("alice.test"), 100 * NEAR, Some(alice_key().public_key())).unwrap();
    chain.create_account(id("c.test"), 10 * NEAR, None).unwrap();
    let wasm = wat::parse_str(include_str!("fixtures/test_contract.wat")).unwrap();
    chain.deploy(&id("c.test"), wasm).unwrap();
    DevnetServer::start(chain, ServerConfig { produce_blocks: false, ..cfg }).await.unwrap()
}

/// Posts `body` over a raw HTTP/1.1 connection; returns the status and the
/// JSON answer (the server may answer before reading all of a huge body).
async fn post(addr: SocketAddr, body: &[u8]) -> (u16, Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out);
    let (head, json) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no answer: {text:?}"));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("{head}"));
    (status, serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}")))
}

/// Posts a request and asserts it got a JSON-RPC error with `code`; returns it.
async fn refused(addr: SocketAddr, body: &[u8], code: i64) -> Value {
    let (status, r) = post(addr, body).await;
    assert_eq!(r["jsonrpc"], "2.0", "{r}");
    assert!(r.get("result").is_none(), "{r}");
    assert_eq!(r["error"]["code"], code, "HTTP {status}: {r}");
    r
}

fn request(method: &str, params: Value) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": "t", "method": method, "params": params}).to_string().into_bytes()
}

/// The server still answers, and the chain did not move.
async fn still_serving(addr: SocketAddr, height: u64) {
    let (status, r) = post(addr, &request("status", json!([]))).await;
    assert_eq!(status, 200);
    assert_eq!(r["result"]["sync_info"]["latest_block_height"], height, "{r}");
}

async fn height(addr: SocketAddr) -> u64 {
    post(addr, &request("status", json!([]))).await.1["result"]["sync_info"]["latest_block_height"].as_u64().unwrap()
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_with_a_jsonrpc_error() {
    let srv = serve(ServerConfig { max_body_bytes: 64 << 10, ..ServerConfig::default() }).await;
    let h = height(srv.addr()).await;
    let big = request("status", json!(["x".repeat(1 << 20)]));
    let (status, r) = post(srv.addr(), &big).await;
    assert_eq!(status, 413, "{r}");
    assert_eq!(r["error"]["code"], -32700, "{r}");
    assert!(r["error"]["data"].as_str().unwrap().contains(&(64 << 10).to_string()), "{r}");
    still_serving(srv.addr(), h).await;
    srv.shutdown().await.unwrap();
}

#[tokio::test]
async fn deep_nesting_is_a_parse_error_not_a_dropped_connection() {
    let srv = serve(ServerConfig::default()).await;
    let addr = srv.addr();
    let h = height(addr).await;
    for depth in [200, 100_000] {
        let nested = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"status","params":{}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let r = refused(addr, nested.as_bytes(), -32700).await;
        assert!(r["error"]["data"].as_str().unwrap().contains("recursion limit"), "{r}");
        let objects = format!(r#"{}{}"#, r#"{"a":"#.repeat(depth), "}".repeat(depth));
        refused(addr, objects.as_bytes(), -32700).await;
    }
    still_serving(addr, h).await;
    srv.shutdown().await.unwrap();
}

#[tokio::test]
async fn batches_and_requests_of_the_wrong_shape_are_invalid_requests() {
    let srv = serve(ServerConfig::default()).await;
    let addr = srv.addr();
    let h = height(addr).await;
    // Batches are refused unparsed, however large or deep.
    let one = String::from_utf8(request("status", json!([]))).unwrap();
    let r = refused(addr, format!("[{one},{one}]").as_bytes(), -32600).await;
    assert!(r["error"]["data"].as_str().unwrap().contains("batch"), "{r}");
    let wide = format!("[{}{{}}]", "{},".repeat(1 << 20));
    refused(addr, wide.as_bytes(), -32600).await;
    refused(addr, format!("  \n{}", "[".repeat(100_000)).as_bytes(), -32600).await;
    // Valid JSON that is not a request.
    for body in [
        r#"{"foo":1}"#,
        "42",
        "null",
        r#""status""#,
        r#"{"jsonrpc":"1.0","id":1,"method":"status","params":[]}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":7,"params":[]}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
        r#"{"jsonrpc":"2.0","method":"status","params":[]}"#,
    ] {
        refused(addr, body.as_bytes(), -32600).await;
    }
    refused(addr, b"", -32700).await;
    refused(addr, b"{\"jsonrpc\":", -32700).await;
    refused(addr, &[0xff, 0xfe, 0x00], -32700).await;
    still_serving(addr, h).await;
    srv.shutdown().await.unwrap();
}

#[tokio::test]
async fn unknown_methods_wrong_params_and_absurd_values_get_jsonrpc_errors() {
    let srv = serve(ServerConfig::default()).await;
    let addr = srv.addr();
    let h = height(addr).await;
    let r = refused(addr, &request("no_such_method", json!([])), -32601).await;
    assert_eq!(r["id"], "t", "the request's id is echoed: {r}");
    refused(addr, &request("EXPERIMENTAL_changes", json!({})), -32601).await;
    refused(addr, &request("devnet_advance_time", json!({"ms": 1})), -32601).await;

    // Wrong param types: invalid params, with the id echoed.
    for (method, params) in [
        ("block", json!({"block_id": "not a hash"})),
        ("block", json!({"block_id": -1})),
        ("block", json!("finality")),
        ("query", json!({"request_type": 5})),
        ("query", json!({"request_type": "view_account", "finality": "final", "account_id": ["x"]})),
        (
            "query",
            json!({"request_type": "call_function", "finality": "final", "account_id": "c.test",
                         "method_name": "get", "args_base64": "%%% not base64 %%%"}),
        ),
        ("send_tx", json!({"signed_tx_base64": "AAAA"})),
        ("send_tx", json!({"signed_tx_base64": 12})),
        ("broadcast_tx_commit", json!({"x": 1})),
        ("tx", json!([1, 2, 3])),
    ] {
        let r = refused(addr, &request(method, params.clone()), -32602).await;
        assert_eq!(r["id"], "t", "{method} {params}: {r}");
        assert_eq!(r["error"]["name"], "REQUEST_VALIDATION_ERROR", "NEAR clients still read the cause: {r}");
    }

    // Absurd values: the method's own error, never a panic.
    let r = refused(addr, &request("block", json!({"block_id": u64::MAX})), -32000).await;
    assert_eq!(r["error"]["cause"]["name"], "UNKNOWN_BLOCK", "{r}");
    let q = json!({"request_type": "view_account", "block_id": u64::MAX, "account_id": "alice.test"});
    refused(addr, &request("query", q), -32000).await;
    let q = json!({"request_type": "view_account", "finality": "final", "account_id": "a".repeat(65)});
    refused(addr, &request("query", q), -32602).await;
    // A huge args_base64 (6 MiB of base64, under the 8 MiB body limit) runs
    // as any view does.
    let args = near_primitives_core::serialize::to_base64(&vec![7u8; 9 << 19]);
    let q = json!({"request_type": "call_function", "finality": "final", "account_id": "c.test",
                   "method_name": "no_such_export", "args_base64": args});
    let r = refused(addr, &request("query", q), -32000).await;
    assert_eq!(r["error"]["cause"]["name"], "CONTRACT_EXECUTION_ERROR", "{r}");
    still_serving(addr, h).await;
    srv.shutdown().await.unwrap();
}

fn signed(
    nonce: u64,
    block_hash: near_primitives::hash::CryptoHash,
    to: &str,
    actions: Vec<Action>,
) -> SignedTransaction {
    let signer: Signer = InMemorySigner::from_secret_key(id("alice.test"), alice_key());
    let tx = Transaction::V0(TransactionV0 {
        signer_id: id("alice.test"),
        public_key: signer.public_key(),
        nonce,
        receiver_id: id(to),
        block_hash,
        actions,
    });
    let (hash, _) = tx.get_hash_and_size();
    SignedTransaction::new(signer.sign(hash.as_ref()), tx)
}

/// Gas past the limit and deposits whose sum overflows u128 are invalid
/// transactions: refused before anything is charged.
#[tokio::test]
async fn gas_and_deposits_out_of_range_are_invalid_transactions() {
    let srv = serve(ServerConfig::default()).await;
    let addr = srv.addr();
    let h = height(addr).await;
    let head = srv.chain().lock().unwrap().head().hash;
    let balance = || srv.chain().lock().unwrap().account(&id("alice.test")).unwrap().balance;
    let before = balance();
    let call = |gas: u64, deposit: u128| {
        Action::FunctionCall(Box::new(FunctionCallAction {
            method_name: "set".into(),
            args: b"x".to_vec(),
            gas: Gas::from_gas(gas),
            deposit: Balance::from_yoctonear(deposit),
        }))
    };
    let transfer = |d: u128| Action::Transfer(TransferAction { deposit: Balance::from_yoctonear(d) });
    let cases = [
        (vec![call(u64::MAX, 0)], "TotalPrepaidGasExceeded"),
        (vec![call(u64::MAX / 2, 0), call(u64::MAX / 2, 0)], "TotalPrepaidGasExceeded"),
        (vec![transfer(u128::MAX), transfer(1)], "CostOverflow"),
        (vec![call(1, u128::MAX), call(1, u128::MAX)], "CostOverflow"),
        (vec![transfer(u128::MAX)], "CostOverflow"),
    ];
    for (nonce, (actions, want)) in cases.into_iter().enumerate() {
        let tx = signed(nonce as u64 + 1, head, "c.test", actions);
        let body = request("send_tx", json!({"signed_tx_base64": tx, "wait_until": "FINAL"}));
        let r = refused(addr, &body, -32000).await;
        assert_eq!(r["error"]["cause"]["name"], "INVALID_TRANSACTION", "{r}");
        assert!(r.to_string().contains(want), "{want}: {r}");
    }
    assert_eq!(balance(), before, "nothing was charged");
    still_serving(addr, h).await;
    srv.shutdown().await.unwrap();
}

/// Many clients at once, each with a body near the limit: every one gets
/// an answer (at most `max_in_flight` are read at a time).
#[tokio::test]
async fn many_large_requests_at_once_are_all_answered() {
    let srv = serve(ServerConfig { max_body_bytes: 1 << 20, max_in_flight: 2, ..ServerConfig::default() }).await;
    let addr = srv.addr();
    let h = height(addr).await;
    let body = request("status", json!(["y".repeat((1 << 20) - 200)]));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let body = body.clone();
            tokio::spawn(async move { post(addr, &body).await })
        })
        .collect();
    for t in tasks {
        let (status, r) = t.await.unwrap();
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["result"]["protocol_version"], 88, "{r}");
    }
    still_serving(addr, h).await;
    srv.shutdown().await.unwrap();
}
