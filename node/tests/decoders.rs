//! Every decoder of the node survives anything: the envelope the relay and
//! sync lanes decode, a server's reply body, the HTTP API's JSON bodies
//! (through the real router over loopback), the contract's view results and
//! transaction return values (through `PorContract` and the graph follower),
//! and the JSON-RPC answers the chain client reads (through `NearRpcChain`
//! against a fake endpoint). Inputs are arbitrary, truncated and mutated
//! valid encodings, and hostile shapes; each answer is a value or a typed
//! error, never a panic, a hang or a dropped connection.
//!
//! Cases per property: `POR_FUZZ_CASES` (default 256; `make fuzz` runs a
//! million).

#[path = "../../core/tests/fuzz/mod.rs"]
mod fuzz;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::executor::block_on;
use near_primitives::hash::CryptoHash;
use near_primitives::transaction::Action;
use near_primitives::types::AccountId;
use por_behaviours::FrameError;
use por_behaviours::codec::{decode, encode};
use por_behaviours::frame::{self, FrameBuf};
use por_behaviours::protocol::{MAX_RELAY_FRAME, MAX_RELAY_MESSAGE};
use por_node::chain::{ChainClient, ChainError, ChainStatus, GraphFollower, NearRpcChain, PorContract, TxOutcome};
use por_node::{Envelope, NodeConfig, Reply, start};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::Value;

// ---- the envelope and the reply ----

fn envelope() -> impl Strategy<Value = Envelope> {
    (fuzz::channel(), fuzz::wire()).prop_map(|(channel, msg)| Envelope { channel, msg })
}

fn reply() -> impl Strategy<Value = Reply> {
    (any::<u16>(), fuzz::body(), prop::option::of(fuzz::text())).prop_map(|(status, body, error)| Reply {
        status,
        body,
        error,
    })
}

proptest! {
    #![proptest_config(fuzz::config(256))]

    /// What the relay and sync lanes decode: a valid envelope round-trips
    /// through a lane's frame; a hostile one reads as an envelope or a
    /// typed error.
    #[test]
    fn envelope_decoder(m in envelope(), h in fuzz::hostile()) {
        let body = encode(&m).unwrap();
        prop_assert_eq!(&decode::<Envelope>(&body).unwrap(), &m);
        match decode::<Envelope>(&h.bytes(&body)) {
            Ok(got) => prop_assert_eq!(&decode::<Envelope>(&encode(&got).unwrap()).unwrap(), &got),
            Err(FrameError::Decode(_)) => {}
            Err(e) => return Err(TestCaseError::fail(format!("not a decode error: {e:?}"))),
        }
        // In a lane's frame: the envelope, or a typed error.
        let mut f = FrameBuf::new();
        f.push_message(&body);
        let framed = f.finish();
        prop_assert_eq!(&frame::messages::<Envelope>(&framed[4..], MAX_RELAY_MESSAGE).unwrap()[0].0, &m);
        let _ = frame::messages::<Envelope>(&h.bytes(&framed[4..]), MAX_RELAY_MESSAGE);
    }

    /// A server's reply as the requester's API reads it out of a response
    /// body (the remote server chose those bytes).
    #[test]
    fn reply_decoder(r in reply(), h in fuzz::hostile()) {
        let valid = r.encode();
        prop_assert_eq!(Reply::decode(&valid), Some(r));
        if let Some(got) = Reply::decode(&h.bytes(&valid)) {
            prop_assert_eq!(Reply::decode(&got.encode()), Some(got));
        }
    }
}

#[test]
fn envelope_hostile_shapes_fail_cleanly() {
    const DEPTH: usize = 100_000;
    let mut shapes = vec![
        fuzz::cbor_nested_arrays(DEPTH),
        fuzz::cbor_nested_maps(DEPTH),
        fuzz::cbor_nested_indefinite(DEPTH),
        fuzz::cbor_nested_tags(DEPTH),
    ];
    for deep in shapes.clone() {
        // {"channel": 1, "msg": <deep>} and {"zzz": <deep>}
        let mut msg = vec![0xa2];
        msg.extend(encode(&"channel").unwrap());
        msg.push(0x01);
        msg.extend(encode(&"msg").unwrap());
        msg.extend_from_slice(&deep);
        shapes.push(msg);
        let mut unknown = vec![0xa1];
        unknown.extend(encode(&"zzz").unwrap());
        unknown.extend_from_slice(&deep);
        shapes.push(unknown);
    }
    shapes.extend(fuzz::cbor_huge_lengths());
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            for s in &shapes {
                assert!(matches!(decode::<Envelope>(s), Err(FrameError::Decode(_))));
                assert!(Reply::decode(s).is_none());
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

// ---- the HTTP API ----

/// One node without channels or chain, its API on loopback, and a runtime
/// that outlives the tests.
struct Api {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
    http: reqwest::Client,
    key_hex: String,
    _dir: tempfile::TempDir,
}

fn api() -> &'static Api {
    static API: OnceLock<Api> = OnceLock::new();
    API.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (addr, key_hex) = rt.block_on(async {
            let mut registry = prometheus_client::registry::Registry::default();
            let mut cfg = NodeConfig::new(dir.path());
            cfg.protocol.limits.trust_route_terms = true;
            let node = start(cfg, [1; 32], &mut registry).await.unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let app = por_node::api::guard(
                por_node::api::router(node.handle.clone(), Arc::new(registry)),
                por_node::api::GuardConfig::default().with_tokens(api_tokens()),
            );
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            // The node lives as long as the runtime.
            std::mem::forget(node);
            (addr, {
                use por_core::Signer;
                por_core::NodeSigner::from_seed([2; 32]).public().to_hex()
            })
        });
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        Api { rt, addr, http, key_hex, _dir: dir }
    })
}

/// The tokens the fuzzed API is served with.
fn api_tokens() -> por_node::api::auth::ApiTokens {
    por_node::api::auth::ApiTokens::from_bytes([0xad; 32], [0x5e; 32])
}

/// The valid bodies of the API's JSON endpoints, `{key}` standing for a
/// node key.
const API_BODIES: &[(&str, &str)] = &[
    (
        "/request",
        r#"{"route":{"hops":[{"channel":1,"node":"{key}","params":{"latency_ms":10,"base_fee":"7","byte_fee":"1"}}],"service_ms":4},"service":"echo","body":"hi","max_response_bytes":100,"wait_ms":50}"#,
    ),
    ("/request", r#"{"route":{"hops":[],"service_ms":0},"service":"echo","body_hex":"00ff","max_response_bytes":0}"#),
    (
        "/send",
        r#"{"to":"{key}","service":"echo","body":"hi","max_response_bytes":100,"max_cost":"1000","max_bound_ms":1000,"attempts":1,"timeout_ms":50}"#,
    ),
    ("/channels", r#"{"peer":"bob.test","deposit":"1","latency_ms":10,"base_fee":"1","byte_fee":"0"}"#),
    ("/channels/1/confirm", r#"{"deposit":"1"}"#),
];

/// POSTs `body` to `path`: a 2xx, or a 4xx/5xx whose body is JSON with an
/// `error` string; the connection must answer.
fn post(path: &str, body: Vec<u8>) -> Result<(u16, Value), TestCaseError> {
    let api = api();
    let url = format!("http://{}{path}", api.addr);
    let (status, text) = api
        .rt
        .block_on(async {
            let r = api
                .http
                .post(&url)
                .header("content-type", "application/json")
                .header("authorization", api_tokens().admin.bearer())
                .body(body)
                .send()
                .await?;
            let status = r.status().as_u16();
            Ok::<_, reqwest::Error>((status, r.bytes().await?))
        })
        .map_err(|e| TestCaseError::fail(format!("POST {path}: no answer: {e}")))?;
    let json: Value = serde_json::from_slice(&text).unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        prop_assert!((400..600).contains(&status), "POST {path}: status {status}");
        prop_assert!(
            json["error"].is_string(),
            "POST {path}: {status} without a JSON error: {:?}",
            String::from_utf8_lossy(&text)
        );
    }
    Ok((status, json))
}

proptest! {
    #![proptest_config(fuzz::config(256))]

    /// The API's JSON bodies, valid and hostile, through the real router.
    #[test]
    fn api_json_bodies(which in 0..API_BODIES.len(), h in fuzz::hostile()) {
        let (path, template) = API_BODIES[which];
        let valid = template.replace("{key}", &api().key_hex).into_bytes();
        let (_, answer) = post(path, valid.clone())?;
        // Valid bodies get past the parser: refused for what they ask
        // (an empty route, no channel, no graph, no chain here), not for
        // their shape.
        let error = answer["error"].as_str().unwrap_or_default();
        prop_assert!(!error.starts_with("malformed"), "valid body refused: {error}: {}", String::from_utf8_lossy(&valid));
        post(path, h.bytes(&valid))?;
    }
}

#[test]
fn api_deep_json_fails_cleanly() {
    for (path, _) in API_BODIES {
        for deep in [fuzz::json_nested_arrays(100_000), fuzz::json_nested_objects(100_000)] {
            let (status, _) = post(path, deep).unwrap();
            assert_eq!(status, 400, "{path}");
        }
        // Deep inside a field the decoder buffers or skips.
        let mut deep = br#"{"route":"#.to_vec();
        deep.extend(fuzz::json_nested_arrays(100_000));
        deep.push(b'}');
        assert_eq!(post(path, deep).unwrap().0, 400, "{path}");
    }
}

// ---- the contract's answers, through PorContract ----

/// A chain whose every answer is the next scripted JSON (views) or return
/// value (transactions); it parses view results as `NearRpcChain::view` does.
struct Scripted {
    answers: Mutex<std::collections::VecDeque<Vec<u8>>>,
    /// The account it signs for.
    account: AccountId,
}

impl Scripted {
    fn new(answers: Vec<Vec<u8>>) -> Scripted {
        Scripted { answers: Mutex::new(answers.into()), account: "alice.test".parse().unwrap() }
    }

    fn next(&self) -> Vec<u8> {
        self.answers.lock().unwrap().pop_front().unwrap_or_default()
    }
}

impl ChainClient for Scripted {
    async fn status(&self) -> Result<ChainStatus, ChainError> {
        Err(ChainError::Unsupported("status"))
    }

    async fn view(&self, _: &AccountId, method: &str, _: Value) -> Result<Value, ChainError> {
        let bytes = self.next();
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| ChainError::Decode { what: format!("view {method}"), detail: e.to_string() })
    }

    async fn transact(&self, _: &AccountId, _: Vec<Action>) -> Result<TxOutcome, ChainError> {
        Ok(TxOutcome { tx_hash: CryptoHash::default(), value: self.next(), logs: Vec::new(), gas_burnt: 0 })
    }

    async fn balance(&self, _: &AccountId) -> Result<u128, ChainError> {
        Ok(0)
    }

    async fn advance_time(&self, _: u64) -> Result<(), ChainError> {
        Ok(())
    }

    fn signer_account(&self) -> Option<&AccountId> {
        Some(&self.account)
    }
}

const KEY: &str = "0101010101010101010101010101010101010101010101010101010101010101";
const NODE: &str = r#"{"index":0,"account_id":"alice.test","node_key":"{key}","stake":"1000","service_ms":5,"status":"active","open_edges":1,"live_channels":1}"#;
const CHANNEL: &str = r#"{"channel_id":1,"a":0,"b":1,"a_account":"alice.test","b_account":"bob.test","params":{"latency_ms":10,"base_fee":"1","byte_fee":"2"},"deposit_a":"5","deposit_b":"6","paid_by_a":"0","paid_by_b":"3","state":"severed","proposed_at_ms":7,"close_proposer":null,"severer":"bob.test","severed_at_ms":9,"challenge_deadline_ms":99}"#;
const CONFIG: &str = r#"{"owner":"owner.test","min_stake":"1","severance_penalty":"2","challenge_period_ms":3,"proposal_timeout_ms":4,"partition_slash_bps":5,"late_fee_per_sec":"6","max_late_ms":7,"claim_ttl_ms":8,"partition_step_budget":9,"settle_batch":10,"node_storage_fee":"11","channel_storage_fee":"12","claim_storage_fee":"13"}"#;
const CLAIMS: &str = r#"{"owed_by":[{"id":1,"creditor":"a.test","debtor":"b.test","amount":"5","channel_id":2,"created_ms":3,"expires_ms":4}],"held":[]}"#;
const BALANCES: &str = r#"{"withdrawable":"1","stake":"2","in_channels":"3"}"#;
const TOTALS: &str =
    r#"{"treasury":"1","storage_reserve":"2","balances":"3","stakes":"4","deposits":"5","partition_pool":"6"}"#;
const CHECK: &str =
    r#"{"channel_id":1,"phase":"search","work":5,"outcome":{"Partitioned":{"nodes":[1,2],"stake":"7"}}}"#;
const NODES_PAGE: &str = r#"{"graph_version":3,"total":2,"nodes":[{node0},{node1}]}"#;
const EDGES_PAGE: &str = r#"{"graph_version":3,"total":1,"edges":[{"channel_id":1,"a":0,"b":1,"a_account":"alice.test","b_account":"bob.test","params":{"latency_ms":10,"base_fee":"1","byte_fee":"2"},"deposit_a":"5","deposit_b":"6"}]}"#;

fn node_json(index: u32, account: &str) -> String {
    NODE.replace("{key}", KEY).replace(r#""index":0"#, &format!(r#""index":{index}"#)).replace("alice.test", account)
}

/// The contract's methods the node reads answers of, each with a valid answer.
fn contract_answers() -> Vec<(&'static str, String)> {
    let nodes_page =
        NODES_PAGE.replace("{node0}", &node_json(0, "alice.test")).replace("{node1}", &node_json(1, "bob.test"));
    vec![
        ("config", CONFIG.into()),
        ("pending_config", format!(r#"{{"config":{CONFIG},"effective_ms":5}}"#)),
        ("graph_version", "3".into()),
        ("node", node_json(0, "alice.test")),
        ("channel", CHANNEL.into()),
        ("channels_of", format!("[{CHANNEL},{CHANNEL}]")),
        ("claims", CLAIMS.into()),
        ("balances", BALANCES.into()),
        ("totals", TOTALS.into()),
        ("graph_nodes", nodes_page),
        ("graph_edges", EDGES_PAGE.into()),
        ("partition_check", CHECK.into()),
        ("add_stake", r#""12345678901234567890123""#.into()),
        ("open_channel", "17".into()),
        ("register_node", "4".into()),
        ("sever", CHECK.into()),
        ("continue_partition_check", r#"{"channel_id":1,"phase":"done","work":5,"outcome":"Connected"}"#.into()),
    ]
}

/// Calls `method` with the scripted `answer`; whether it decoded, or the
/// typed error (a decode error for anything the node cannot read).
fn call_contract(method: &str, answers: Vec<Vec<u8>>) -> Result<bool, ChainError> {
    let chain = Scripted::new(answers);
    let c = PorContract::new(chain, "por.test".parse().unwrap());
    let alice: AccountId = "alice.test".parse().unwrap();
    block_on(async {
        Ok(match method {
            "config" => c.config().await.map(|_| true)?,
            "pending_config" => c.pending_config().await?.is_some(),
            "graph_version" => c.graph_version().await.map(|_| true)?,
            "node" => c.node(&alice).await?.is_some(),
            "channel" => c.channel(1).await?.is_some(),
            "channels_of" => !c.channels_of(&alice).await?.is_empty(),
            "claims" => c.claims(&alice).await.map(|_| true)?,
            "balances" => c.balances(&alice).await.map(|_| true)?,
            "totals" => c.totals().await.map(|_| true)?,
            "graph_nodes" => c.graph_nodes(0, 500).await.map(|_| true)?,
            "graph_edges" => c.graph_edges(0, 500).await.map(|_| true)?,
            "partition_check" => c.partition_check().await?.is_some(),
            "add_stake" => c.add_stake(1).await.map(|_| true)?,
            "open_channel" => c.open_channel(&alice, Default::default(), 1).await.map(|_| true)?,
            "register_node" => c.register_node(&por_core::NodeSigner::from_seed([1; 32]), 5, 1).await.map(|_| true)?,
            "sever" => c.sever(1, None).await.map(|_| true)?,
            "continue_partition_check" => c.continue_partition_check().await.map(|_| true)?,
            other => unreachable!("{other}"),
        })
    })
}

fn typed_chain_error(e: ChainError) -> Result<(), TestCaseError> {
    prop_assert!(matches!(e, ChainError::Decode { .. }), "not a decode error: {e:?}");
    Ok(())
}

proptest! {
    #![proptest_config(fuzz::config(256))]

    /// Each view result and return value the node reads, valid and hostile.
    #[test]
    fn contract_answers_decode(which in 0..16usize, h in fuzz::hostile()) {
        let answers = contract_answers();
        let (method, valid) = &answers[which % answers.len()];
        prop_assert!(call_contract(method, vec![valid.clone().into_bytes()]).unwrap(), "{method}: valid answer refused");
        if let Err(e) = call_contract(method, vec![h.bytes(valid.as_bytes())]) {
            typed_chain_error(e)?;
        }
    }

    /// The graph follower over hostile pages (and a version that moves).
    #[test]
    fn graph_follower_survives_hostile_pages(h in fuzz::hostile(), which in 0..3usize, version in 2u64..5) {
        let answers = contract_answers();
        let nodes = answers.iter().find(|a| a.0 == "graph_nodes").unwrap().1.clone();
        let edges = answers.iter().find(|a| a.0 == "graph_edges").unwrap().1.clone();
        let mut script = vec![version.to_string().into_bytes(), nodes.into_bytes(), edges.into_bytes()];
        script[which] = h.bytes(&script[which]);
        let chain = Scripted::new(script);
        let c = PorContract::new(chain, "por.test".parse().unwrap());
        let mut g = GraphFollower::new();
        if let Err(e) = block_on(g.refresh(&c)) {
            typed_chain_error(e)?;
        }
    }

    /// A transaction's return value and logs (NEP-297 events).
    #[test]
    fn tx_outcome_decodes(h in fuzz::hostile(), logs in prop::collection::vec(fuzz::text(), 0..3)) {
        let valid = br#"{"channel_id":1,"phase":"done","work":5,"outcome":null}"#;
        let event = r#"EVENT_JSON:{"standard":"por","version":"1.0.0","event":"channel_opened","data":[{"channel_id":1}]}"#;
        let mut all_logs: Vec<String> = logs.iter().map(|l| format!("EVENT_JSON:{l}")).collect();
        all_logs.push(String::from_utf8_lossy(&h.bytes(event.as_bytes())).into_owned());
        let out = TxOutcome { tx_hash: CryptoHash::default(), value: h.bytes(valid), logs: all_logs, gas_burnt: 0 };
        if let Err(e) = out.json() {
            typed_chain_error(e)?;
        }
        let _ = out.event_names();
    }
}

/// A graph page whose `total` never comes: the follower must stop paging
/// (each page is one view call; a hostile or broken endpoint must not keep
/// it reading forever).
#[test]
fn graph_follower_stops_on_endless_pages() {
    let page = NODES_PAGE
        .replace("{node0}", &node_json(0, "alice.test"))
        .replace("{node1}", &node_json(1, "bob.test"))
        .replace(r#""total":2"#, r#""total":18446744073709551615"#);
    let mut script = vec![b"3".to_vec()];
    script.extend(std::iter::repeat_n(page.into_bytes(), 10_000));
    let chain = Scripted::new(script);
    let c = PorContract::new(chain, "por.test".parse().unwrap());
    let mut g = GraphFollower::new();
    // The script runs out after 10 000 pages (then a `null` page is a decode
    // error); a follower that stops earlier on its own is also fine.
    if let Err(e) = block_on(g.refresh(&c)) {
        assert!(matches!(e, ChainError::Decode { .. }), "{e:?}");
    }
    let left = c.chain().answers.lock().unwrap().len();
    assert!(left > 0, "the follower read 10 000 pages of a graph that claims u64::MAX nodes");
}

#[test]
fn contract_deep_json_fails_cleanly() {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            for (method, _) in contract_answers() {
                for deep in [fuzz::json_nested_arrays(100_000), fuzz::json_nested_objects(100_000)] {
                    let e = call_contract(method, vec![deep]).unwrap_err();
                    assert!(matches!(e, ChainError::Decode { .. }), "{method}: {e:?}");
                }
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

// ---- the JSON-RPC answers, through NearRpcChain ----

/// A fake JSON-RPC endpoint answering every POST with the current body.
struct Rpc {
    rt: tokio::runtime::Runtime,
    url: String,
    body: Arc<Mutex<Vec<u8>>>,
    /// Serialises the tests sharing the endpoint's one answer.
    turn: tokio::sync::Mutex<()>,
}

fn rpc() -> &'static Rpc {
    static RPC: OnceLock<Rpc> = OnceLock::new();
    RPC.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let body = Arc::new(Mutex::new(Vec::new()));
        let served = body.clone();
        let url = rt.block_on(async move {
            let app = axum::Router::new().fallback(move || {
                let b = served.lock().unwrap().clone();
                async move { ([("content-type", "application/json")], b) }
            });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            format!("http://{addr}")
        });
        Rpc { rt, url, body, turn: tokio::sync::Mutex::new(()) }
    })
}

const HASH: &str = "11111111111111111111111111111111";

/// Valid JSON-RPC answers: a view result, an account, a handler error.
fn rpc_answers() -> Vec<(&'static str, String)> {
    let result: Vec<u8> = BALANCES.as_bytes().to_vec();
    vec![
        (
            "view",
            format!(
                r#"{{"jsonrpc":"2.0","id":"dontcare","result":{{"result":{},"logs":[],"block_height":17,"block_hash":"{HASH}"}}}}"#,
                serde_json::to_string(&result).unwrap()
            ),
        ),
        (
            "balance",
            format!(
                r#"{{"jsonrpc":"2.0","id":"dontcare","result":{{"amount":"100","locked":"0","code_hash":"{HASH}","storage_usage":182,"storage_paid_at":0,"block_height":17,"block_hash":"{HASH}"}}}}"#
            ),
        ),
        (
            "error",
            format!(
                r#"{{"jsonrpc":"2.0","id":"dontcare","error":{{"name":"HANDLER_ERROR","cause":{{"name":"UNKNOWN_ACCOUNT","info":{{"requested_account_id":"x.test","block_height":1,"block_hash":"{HASH}"}}}},"code":-32000,"message":"Server error","data":"account x.test does not exist while viewing"}}}}"#
            ),
        ),
    ]
}

/// Asks the fake endpoint, answering `body`: the view's or the balance's
/// result, or a typed chain error.
fn ask_rpc(what: &str, body: Vec<u8>) -> Result<bool, ChainError> {
    let rpc = rpc();
    let chain = NearRpcChain::new(&rpc.url);
    let contract: AccountId = "por.test".parse().unwrap();
    rpc.rt.block_on(async {
        let _turn = rpc.turn.lock().await;
        *rpc.body.lock().unwrap() = body;
        let r = tokio::time::timeout(Duration::from_secs(30), async {
            if what == "balance" {
                chain.balance(&contract).await.map(|_| true)
            } else {
                chain.view(&contract, "balances", serde_json::json!({})).await.map(|v| v.is_object())
            }
        });
        r.await.expect("the chain client hung on an answer")
    })
}

proptest! {
    #![proptest_config(fuzz::config(256))]

    /// NEAR JSON-RPC answers, valid and hostile, through the real client.
    #[test]
    fn rpc_answers_decode(which in 0..3usize, h in fuzz::hostile()) {
        let answers = rpc_answers();
        let (what, valid) = &answers[which];
        let got = ask_rpc(what, valid.clone().into_bytes());
        match *what {
            "error" => prop_assert!(matches!(got, Err(ChainError::UnknownAccount(_))), "{:?}", got),
            _ => prop_assert!(matches!(got, Ok(true)), "{what}: {got:?}"),
        }
        // Any answer is a value or a typed error; reaching here without a
        // panic or a hang is the property.
        let _ = ask_rpc(what, h.bytes(valid.as_bytes()));
    }
}

#[test]
fn rpc_deep_json_fails_cleanly() {
    for deep in [fuzz::json_nested_arrays(100_000), fuzz::json_nested_objects(100_000)] {
        assert!(ask_rpc("view", deep.clone()).is_err());
        assert!(ask_rpc("balance", deep).is_err());
    }
    // A valid envelope carrying a deep view result.
    let deep = fuzz::json_nested_arrays(100_000);
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":"dontcare","result":{{"result":{},"logs":[],"block_height":17,"block_hash":"{HASH}"}}}}"#,
        serde_json::to_string(&deep).unwrap()
    );
    let e = ask_rpc("view", body.into_bytes()).unwrap_err();
    assert!(matches!(e, ChainError::Decode { .. }), "{e:?}");
}

/// The largest response allowance a request may ask for by default
/// (`Limits::max_response_bytes`) fits the relay lane's frame as the node
/// sends it: a signed response with a body that large, in its envelope,
/// encodes within `MAX_RELAY_MESSAGE`, and decodes back. (A larger
/// allowance would be accepted and its response then dropped as an
/// oversized frame: the limits must stay tied.)
#[test]
fn the_largest_allowance_fits_the_relay_frame() {
    let allowance = por_core::protocol::Limits::default().max_response_bytes as usize;
    assert_eq!(allowance, por_behaviours::protocol::MAX_RELAY_BODY, "the default is the most a node accepts");
    let server = por_core::NodeSigner::from_seed([9; 32]);
    let id = por_core::RequestId([3; 32]);
    let body = vec![0xA5; allowance];
    let env = Envelope {
        channel: por_core::ChannelId(u64::MAX),
        msg: por_core::Wire::Response(Box::new(por_core::Response::create(id, body, &server))),
    };
    let bytes = encode(&env).unwrap();
    assert!(bytes.len() <= MAX_RELAY_MESSAGE, "{} > {MAX_RELAY_MESSAGE}", bytes.len());
    let mut f = FrameBuf::new();
    f.push_message(&bytes);
    let framed = f.finish();
    assert!(framed.len() - 4 <= MAX_RELAY_FRAME, "{} > {MAX_RELAY_FRAME}", framed.len() - 4);
    let (back, _) = frame::messages::<Envelope>(&framed[4..], MAX_RELAY_MESSAGE).unwrap().remove(0);
    assert_eq!(back.msg, env.msg);
}

/// A node configured to accept a larger allowance than the relay lane can
/// carry refuses to start, naming the setting.
#[tokio::test]
async fn an_allowance_above_the_frame_limit_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = NodeConfig::new(dir.path());
    cfg.protocol.limits.max_response_bytes = por_behaviours::protocol::MAX_RELAY_BODY as u64 + 1;
    let mut registry = prometheus_client::registry::Registry::default();
    let Err(e) = start(cfg, [1; 32], &mut registry).await else { panic!("started") };
    assert!(e.to_string().contains("protocol.limits.max_response_bytes = 4194305"), "{e}");
}

/// An edge the contract marks `closing` (its cooperative close proposed) is
/// in the follower's graph, marked closing, so routes skip it; one without
/// the field (an older contract) is not.
#[test]
fn graph_follower_reads_closing_edges() {
    let answers = contract_answers();
    let nodes = answers.iter().find(|a| a.0 == "graph_nodes").unwrap().1.clone();
    for (edges, closing) in [
        (EDGES_PAGE.to_string(), false),
        (EDGES_PAGE.replace(r#""deposit_b":"6""#, r#""deposit_b":"6","closing":true"#), true),
    ] {
        let script = vec![b"3".to_vec(), nodes.clone().into_bytes(), edges.into_bytes()];
        let c = PorContract::new(Scripted::new(script), "por.test".parse().unwrap());
        let mut g = GraphFollower::new();
        assert!(block_on(g.refresh(&c)).unwrap());
        assert!(g.graph().edge(por_core::ChannelId(1)).is_some(), "still an edge");
        assert_eq!(g.graph().is_closing(por_core::ChannelId(1)), closing);
    }
}
