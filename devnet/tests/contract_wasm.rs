//! The PoR contract's real wasm (`artifacts/por_contract.wasm`, built by
//! `make contract`) on the devnet engine: every public method runs, its gas
//! is printed, refusals surface the contract's message, storage staking
//! holds, and a partition check on a large component is continued over
//! several calls, each below 300 Tgas.
//!
//! Gas figures go to `docs/BENCHMARKS.md` (section "Contract gas"). The big
//! graph is sized by `POR_GAS_NODES` (default 200 nodes with 5 edges each;
//! building it through the VM is what takes the time) and its per-call
//! budget by `POR_GAS_BUDGET` (default 1,000 storage reads, the contract's
//! default); the recorded 10,000-node / 50,000-edge figure is the same test
//! run as
//! `POR_GAS_NODES=10000 cargo test --release -p por-devnet --test contract_wasm -- --nocapture big_graph`.

use near_crypto::{KeyType, SecretKey, Signature};
use near_primitives::transaction::{Action, FunctionCallAction};
use near_primitives::types::AccountId;
use por_devnet::{Chain, ChainConfig, DEFAULT_GAS, TxRecord};
use serde_json::{Value, json};

const NEAR: u128 = 1_000_000_000_000_000_000_000_000;
const TGAS: f64 = 1e12;
const CONTRACT: &str = "por.test";

fn id(s: &str) -> AccountId {
    s.parse().unwrap()
}

fn wasm() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../artifacts/por_contract.wasm");
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}; build it with `make contract` (make test does)"))
}

fn key(name: &str) -> SecretKey {
    SecretKey::from_seed(KeyType::ED25519, &format!("node-key-{name}"))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// por-core's canonical voucher bytes, written out independently here so
/// the wasm is checked against the documented encoding (domain tag and
/// strings with u32 big-endian length prefixes, integers big-endian).
fn voucher_bytes(contract: &str, channel: u64, payer: &[u8], cumulative: u128) -> Vec<u8> {
    let mut v = Vec::new();
    for s in ["por/voucher/v1", contract] {
        v.extend_from_slice(&(s.len() as u32).to_be_bytes());
        v.extend_from_slice(s.as_bytes());
    }
    v.extend_from_slice(&channel.to_be_bytes());
    v.extend_from_slice(payer);
    v.extend_from_slice(&cumulative.to_be_bytes());
    v
}

/// `name`'s node key's signature over `bytes`, in hex.
fn sign(name: &str, bytes: &[u8]) -> String {
    match key(name).sign(bytes) {
        Signature::ED25519(s) => hex(&s.to_bytes()),
        other => panic!("unexpected signature {other:?}"),
    }
}

fn voucher(payer: &str, channel: u64, cumulative: u128) -> Value {
    let pk = key(payer).public_key();
    let sig = sign(payer, &voucher_bytes(CONTRACT, channel, pk.key_data(), cumulative));
    json!({"voucher": {"contract": CONTRACT, "channel": channel, "payer": hex(pk.key_data()),
                       "cumulative": cumulative.to_string()},
           "signature": sig})
}

/// por-core's canonical registration bytes, written out independently as
/// the voucher's are: the domain tag, the contract and the registering
/// account (u32 big-endian length prefixes), then the 32-byte node key.
fn registration_bytes(contract: &str, account: &str, node_key: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for s in ["por/registration/v1", contract, account] {
        v.extend_from_slice(&(s.len() as u32).to_be_bytes());
        v.extend_from_slice(s.as_bytes());
    }
    v.extend_from_slice(node_key);
    v
}

/// `register_node`'s arguments for `name` with its node key and the key's
/// proof over this contract and `name`'s account.
fn registration(name: &str, service_ms: u64) -> Value {
    let pk = key(name).public_key();
    let sig = sign(name, &registration_bytes(CONTRACT, name, pk.key_data()));
    json!({"node_key": hex(pk.key_data()), "service_ms": service_ms, "signature": sig})
}

struct Net {
    chain: Chain,
    gas: Vec<(String, u64)>,
}

impl Net {
    fn new(config: Value) -> Net {
        let mut chain = Chain::new(ChainConfig::default());
        chain.create_account(id(CONTRACT), 1_000 * NEAR, None).unwrap();
        chain.create_account(id("owner.test"), 100 * NEAR, None).unwrap();
        chain.deploy(&id(CONTRACT), wasm()).unwrap();
        let mut n = Net { chain, gas: Vec::new() };
        // `new` is private: only the contract account (the deploy
        // transaction) may initialise.
        n.refused("owner.test", "new", json!({ "config": config.clone() }), 0, "private");
        n.ok(CONTRACT, "new", json!({ "config": config }), 0);
        n.refused(CONTRACT, "new", json!({ "config": config }), 0, "already been initialized");
        n
    }

    fn account(&mut self, name: &str, balance: u128) {
        self.chain.create_account(id(name), balance, None).unwrap();
    }

    fn try_call(&mut self, who: &str, method: &str, args: Value, deposit: u128) -> TxRecord {
        let args = serde_json::to_vec(&args).unwrap();
        let out = self.chain.call(&id(who), &id(CONTRACT), method, &args, deposit, DEFAULT_GAS).unwrap();
        let burnt = out.call_gas_burnt();
        assert!(burnt < 300_000_000_000_000, "{method} burnt {} Tgas", burnt as f64 / TGAS);
        self.gas.push((method.to_string(), burnt));
        out
    }

    #[track_caller]
    fn ok(&mut self, who: &str, method: &str, args: Value, deposit: u128) -> Value {
        let out = self.try_call(who, method, args, deposit);
        assert!(out.is_success(), "{method} by {who} failed: {:?}", out.error_message());
        out.json().unwrap_or(Value::Null)
    }

    #[track_caller]
    fn refused(&mut self, who: &str, method: &str, args: Value, deposit: u128, needle: &str) {
        let out = self.try_call(who, method, args, deposit);
        let msg = out.error_message().unwrap_or_default();
        assert!(msg.contains(needle), "{method} by {who}: expected a refusal with {needle:?}, got {msg:?}");
    }

    /// Runs several calls of `who` in one transaction (one receipt and one
    /// block for all of them: fewer transactions to build a big graph).
    #[track_caller]
    fn batch(&mut self, who: &str, calls: Vec<(&str, Value, u128)>) {
        if calls.is_empty() {
            return;
        }
        let actions = calls
            .into_iter()
            .map(|(method, args, deposit)| {
                Action::FunctionCall(Box::new(FunctionCallAction {
                    method_name: method.to_string(),
                    args: serde_json::to_vec(&args).unwrap(),
                    gas: near_primitives::types::Gas::from_gas(20_000_000_000_000),
                    deposit: near_primitives::types::Balance::from_yoctonear(deposit),
                }))
            })
            .collect();
        let out = self.chain.execute_unsigned(&id(who), &id(CONTRACT), actions).unwrap();
        assert!(out.is_success(), "batch by {who} failed: {:?}", out.error_message());
    }

    fn view(&mut self, method: &str, args: Value) -> Value {
        let out = self.chain.view(&id(CONTRACT), method, &serde_json::to_vec(&args).unwrap()).unwrap();
        self.gas.push((format!("{method} (view)"), out.gas_burnt));
        serde_json::from_slice(&out.result).unwrap()
    }

    fn register(&mut self, name: &str, stake: u128) {
        self.ok(name, "register_node", registration(name, 20), stake + NEAR / 100);
    }

    fn open(&mut self, a: &str, b: &str, dep: u128) -> u64 {
        let id = self.ok(
            a,
            "open_channel",
            json!({"peer": b, "latency_ms": 50, "base_fee": "1000", "byte_fee": "1"}),
            dep + NEAR / 100,
        );
        let id = id.as_u64().unwrap();
        self.ok(b, "confirm_channel", json!({ "channel_id": id }), dep);
        id
    }

    /// Max gas per method name, in order of first appearance.
    fn report(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = Vec::new();
        for (m, g) in &self.gas {
            match out.iter_mut().find(|(n, _)| n == m) {
                Some(e) => e.1 = e.1.max(*g),
                None => out.push((m.clone(), *g)),
            }
        }
        out
    }
}

/// The reconnection window of the tests' config.
const BIG_WINDOW_MS: u64 = 20_000;

/// How long after `update_config` a config takes effect in these tests.
const CONFIG_DELAY_MS: u64 = 1_000;

fn config(extra: Value) -> Value {
    let mut c = json!({
        "owner": "owner.test",
        "min_stake": NEAR.to_string(),
        "severance_penalty": (NEAR / 10).to_string(),
        "challenge_period_ms": 10_000,
        "proposal_timeout_ms": 30_000,
        "partition_slash_bps": 1000,
        "late_fee_per_sec": "1000000000000000000",
        "max_late_ms": 60_000,
        "claim_ttl_ms": 86_400_000u64,
        "reconnect_window_ms": BIG_WINDOW_MS,
        "partition_step_budget": 1000,
        "settle_batch": 25,
        "node_storage_fee": (NEAR / 100).to_string(),
        "channel_storage_fee": (NEAR / 100).to_string(),
        "config_delay_ms": CONFIG_DELAY_MS,
    });
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

#[test]
fn every_public_method_runs_on_the_wasm() {
    let mut n = Net::new(config(json!({})));
    for a in ["alice.test", "bob.test", "carol.test", "dave.test"] {
        n.account(a, 100 * NEAR);
    }
    n.ok("owner.test", "update_config", json!({"config": config(json!({"challenge_period_ms": 5_000}))}), 0);
    assert_eq!(n.view("pending_config", json!({}))["config"]["challenge_period_ms"], 5_000);
    assert_eq!(n.view("config", json!({}))["challenge_period_ms"], 10_000, "not before its time");
    n.refused("alice.test", "update_config", json!({"config": config(json!({}))}), 0, "only the owner");
    n.refused(
        "owner.test",
        "update_config",
        json!({"config": config(json!({"max_late_ms": 10}))}),
        0,
        "max_late_ms must be between",
    );
    n.chain.advance_time(CONFIG_DELAY_MS);
    n.register("alice.test", 5 * NEAR);
    n.register("bob.test", 5 * NEAR);
    n.register("carol.test", 5 * NEAR);
    n.refused("dave.test", "register_node", registration("dave.test", 1), NEAR, "at least");
    // Carol's proof does not register Dave's account, nor a key without one.
    n.refused("dave.test", "register_node", registration("carol.test", 1), 2 * NEAR, "does not prove node key");
    let mut unsigned = registration("dave.test", 1);
    unsigned.as_object_mut().unwrap().remove("signature");
    n.refused("dave.test", "register_node", unsigned, 2 * NEAR, "signature");
    n.ok("carol.test", "add_stake", json!({}), NEAR);
    // A non-payable method refuses a deposit (near-sdk's own check).
    let out = n.try_call("alice.test", "leave", json!({}), 1);
    assert!(!out.is_success());

    let ab = n.open("alice.test", "bob.test", 3 * NEAR);
    let bc = n.open("bob.test", "carol.test", 3 * NEAR);
    n.open("carol.test", "alice.test", NEAR);
    let p = n.ok(
        "alice.test",
        "open_channel",
        json!({"peer": "carol.test", "latency_ms": 5, "base_fee": "0", "byte_fee": "0"}),
        NEAR,
    );
    n.refused("alice.test", "cancel_proposal", json!({"channel_id": p}), 0, "may still confirm");
    n.chain.advance_time(31_000);
    n.ok("alice.test", "cancel_proposal", json!({"channel_id": p}), 0);

    // Cooperative close with vouchers both ways.
    n.ok("bob.test", "propose_close", json!({"channel_id": bc, "voucher": voucher("carol.test", bc, NEAR / 2)}), 0);
    // Closing: still an edge, marked so that nobody routes over it.
    let edges = n.view("graph_edges", json!({"from_index": 0, "limit": 10}))["edges"].clone();
    let closing: Vec<bool> = edges.as_array().unwrap().iter().map(|e| e["closing"].as_bool().unwrap()).collect();
    let ids: Vec<u64> = edges.as_array().unwrap().iter().map(|e| e["channel_id"].as_u64().unwrap()).collect();
    assert_eq!(closing, ids.iter().map(|&i| i == bc).collect::<Vec<_>>(), "{edges}");
    // Carol also records her own latest voucher to Bob (equal to the one he
    // proposed with: accepted, changes nothing).
    n.ok(
        "carol.test",
        "confirm_close",
        json!({"channel_id": bc, "voucher": voucher("bob.test", bc, NEAR), "own": voucher("carol.test", bc, NEAR / 2)}),
        0,
    );

    // Severance: forged voucher refused, then a good one; challenge; finalize.
    let mut forged = voucher("bob.test", ab, NEAR);
    forged["signature"] = voucher("carol.test", ab, NEAR)["signature"].clone();
    n.refused("alice.test", "sever", json!({"channel_id": ab, "voucher": forged}), 0, "does not verify");
    let st = n.ok("alice.test", "sever", json!({"channel_id": ab, "voucher": voucher("bob.test", ab, NEAR)}), 0);
    assert_eq!(st["phase"], "done");
    n.ok("bob.test", "submit_voucher", json!({"channel_id": ab, "voucher": voucher("alice.test", ab, 2 * NEAR)}), 0);
    n.refused(
        "bob.test",
        "submit_voucher",
        json!({"channel_id": ab, "voucher": voucher("alice.test", ab, 2 * NEAR)}),
        0,
        "does not exceed",
    );
    n.refused("dave.test", "finalize", json!({"channel_id": ab}), 0, "lasts until");
    n.chain.advance_time(6_000);
    n.ok("dave.test", "finalize", json!({"channel_id": ab}), 0);
    n.refused("dave.test", "continue_partition_check", json!({}), 0, "no partition check is pending");
    // Bob is cut off: the split waits for its reconnection window, then
    // anyone settles it.
    assert_eq!(n.view("pending_split", json!({"channel_id": ab}))["nodes"], 1);
    assert_eq!(n.view("pending_splits", json!({"from_index": 0, "limit": 10}))["total"], 1);
    assert_eq!(n.view("node", json!({"account_id": "bob.test"}))["status"], "active");
    n.refused("dave.test", "settle", json!({"channel_id": ab}), 0, "reconnection window");
    n.chain.advance_time(15_000);
    let st = n.ok("dave.test", "settle", json!({"channel_id": ab}), 0);
    assert_eq!((st["kind"].as_str(), st["phase"].as_str()), (Some("settle"), Some("done")), "{st}");

    // Money out: pull, one transfer receipt.
    let before = n.chain.account(&id("bob.test")).unwrap().balance;
    n.ok("bob.test", "withdraw", json!({"amount": NEAR.to_string()}), 0);
    assert!(n.chain.account(&id("bob.test")).unwrap().balance > before + NEAR - NEAR / 100);
    n.ok("owner.test", "withdraw_treasury", json!({"amount": "1"}), 0);

    // Views.
    let v = n.view("config", json!({}));
    assert_eq!(v["challenge_period_ms"], 5_000);
    assert!(n.view("graph_version", json!({})).as_u64().unwrap() > 0);
    assert_eq!(n.view("node", json!({"account_id": "alice.test"}))["status"], "active");
    assert_eq!(n.view("node_at", json!({"index": 1}))["account_id"], "bob.test");
    assert_eq!(n.view("channel", json!({"channel_id": ab}))["state"], "closed");
    assert_eq!(n.view("channels_of", json!({"account_id": "carol.test"})).as_array().unwrap().len(), 1);
    // Bob, cut off by Alice's severance, was partitioned and Alice's claim paid.
    assert_eq!(n.view("node", json!({"account_id": "bob.test"}))["status"], "partitioned");
    assert_eq!(n.view("claims", json!({"account_id": "alice.test"}))["owed_by"].as_array().unwrap().len(), 1);
    assert!(n.view("balances", json!({"account_id": "alice.test"}))["withdrawable"].as_str().is_some());
    assert!(n.view("totals", json!({}))["treasury"].as_str().is_some());
    assert_eq!(n.view("graph_nodes", json!({"from_index": 0, "limit": 10}))["total"], 3);
    assert_eq!(n.view("graph_edges", json!({"from_index": 0, "limit": 10}))["total"], 1);
    assert_eq!(n.view("partition_check", json!({})), Value::Null);

    // Rejoin and leave: carol cut off by alice, partitioned, rejoins, leaves.
    let ca = n.view("channels_of", json!({"account_id": "carol.test"}))[0]["channel_id"].as_u64().unwrap();
    let st = n.ok("alice.test", "sever", json!({ "channel_id": ca }), 0);
    assert!(st["outcome"]["Partitioned"].is_object() || st["outcome"]["Tie"].is_object(), "{st}");
    if st["outcome"]["Partitioned"].is_object() {
        n.chain.advance_time(21_000);
        n.ok("dave.test", "settle", json!({ "channel_id": ca }), 0);
    }
    let partitioned = n.view("node", json!({"account_id": "carol.test"}))["status"] == "partitioned";
    let who = if partitioned { "carol.test" } else { "alice.test" };
    if n.view("node", json!({ "account_id": who }))["status"] == "partitioned" {
        n.ok(who, "rejoin", json!({}), NEAR);
    }
    n.chain.advance_time(6_000);
    n.ok("dave.test", "finalize", json!({ "channel_id": ca }), 0);
    n.refused("carol.test", "leave", json!({}), 0, "claims against you");

    println!("\n| method | max gas (Tgas) |\n|---|---|");
    for (m, g) in n.report() {
        println!("| `{m}` | {:.2} |", g as f64 / TGAS);
    }
    let contract = n.chain.account(&id(CONTRACT)).unwrap();
    println!("contract storage: {} bytes", contract.storage_usage);
}

fn big_config(budget: u64) -> Value {
    config(json!({
        "min_stake": "1", "node_storage_fee": (NEAR / 100).to_string(), "channel_storage_fee": (NEAR / 200).to_string(),
        "severance_penalty": (NEAR / 100).to_string(), "settle_batch": 25, "partition_step_budget": budget,
    }))
}

/// Two halves of `POR_GAS_NODES` nodes in all, each node linked to the next
/// five of its half (a ring lattice: ~5 edges per node), joined by one
/// bridge; severing the bridge splits the graph into two equal-sized halves
/// whose stakes differ by one yocto per node, so the search walks both.
/// `POR_GAS_DEGREE` changes the five (1 makes each half a ring).
/// `POR_GAS_BUDGET` sets `partition_step_budget` (default: the contract's
/// default, 1,000 storage reads per call); a comma-separated list runs the
/// check once per budget on the same graph. `POR_GAS_CLAIMS` (default 60)
/// rich-side nodes each hold a reimbursement claim on a poor-side node
/// before the bridge is cut (made by severing one of two parallel channels
/// between them, the other then closed cooperatively), so `settle` pays
/// claims in batches of `settle_batch` besides slashing.
#[test]
fn big_graph_partition_check_stays_under_300_tgas_per_call() {
    let nodes: usize = std::env::var("POR_GAS_NODES").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let nodes = nodes.max(20) / 2 * 2;
    let degree: usize = std::env::var("POR_GAS_DEGREE").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let half = nodes / 2;
    let budgets: Vec<u64> = std::env::var("POR_GAS_BUDGET")
        .map(|v| v.split(',').map(|b| b.trim().parse().expect("POR_GAS_BUDGET: numbers, comma-separated")).collect())
        .unwrap_or_else(|_| vec![1_000]);
    let mut n = Net::new(big_config(budgets[0]));
    n.chain.mint(&id(CONTRACT), (nodes as u128) * NEAR).unwrap();
    let t0 = std::time::Instant::now();
    let name = |i: usize| format!("n{i}.test");
    for i in 0..nodes {
        n.account(&name(i), 10 * NEAR);
        // The first half is poorer by one yocto per node.
        let stake = if i < half { NEAR / 10 } else { NEAR / 10 + 1 };
        n.ok(&name(i), "register_node", registration(&name(i), 1), stake + NEAR / 100);
    }
    // Each node, in one transaction, confirms the channels opened to it so
    // far and opens its own; channel ids are handed out in order from 1.
    let mut to_confirm: Vec<Vec<u64>> = vec![Vec::new(); nodes];
    let mut next_id = 1u64;
    let mut edges = 0;
    for side in 0..2 {
        for j in 0..half {
            let a = side * half + j;
            let mut calls: Vec<(&str, Value, u128)> =
                to_confirm[a].drain(..).map(|id| ("confirm_channel", json!({ "channel_id": id }), 0)).collect();
            for d in 1..=degree {
                if d == half - d || d >= half {
                    continue;
                }
                let b = side * half + (j + d) % half;
                calls.push((
                    "open_channel",
                    json!({"peer": name(b), "latency_ms": 1, "base_fee": "0", "byte_fee": "0"}),
                    NEAR / 200,
                ));
                to_confirm[b].push(next_id);
                next_id += 1;
                edges += 1;
            }
            n.batch(&name(a), calls);
        }
    }
    for (b, ids) in to_confirm.iter_mut().enumerate() {
        let calls = ids.drain(..).map(|id| ("confirm_channel", json!({ "channel_id": id }), 0)).collect();
        n.batch(&name(b), calls);
    }
    let claims: usize = std::env::var("POR_GAS_CLAIMS").ok().and_then(|v| v.parse().ok()).unwrap_or(60).min(half);
    for k in 0..claims {
        let (poor, rich) = (name(k), name(half + k));
        let cut = n.open(&poor, &rich, 0);
        let kept = n.open(&poor, &rich, 0);
        let st = n.ok(&rich, "sever", json!({ "channel_id": cut }), 0);
        assert_eq!(st["outcome"], "Connected", "the parallel channel keeps the two joined");
        n.ok(&rich, "propose_close", json!({ "channel_id": kept }), 0);
        n.ok(&poor, "confirm_close", json!({ "channel_id": kept }), 0);
    }
    next_id += 2 * claims as u64;
    let bridge = n.open(&name(0), &name(half), 0);
    assert_eq!(bridge, next_id);
    edges += 1;
    assert_eq!(n.view("graph_edges", json!({"from_index": 0, "limit": 1}))["total"], edges);
    let build = t0.elapsed();
    println!("\nbig graph: {nodes} nodes, {edges} edges, {claims} claims across, built in {build:?}");
    // Every budget runs the check on the same graph (a snapshot of the chain).
    let snapshot = (budgets.len() > 1).then(|| n.chain.to_bytes());
    for (round, &budget) in budgets.iter().enumerate() {
        if round > 0 {
            n.chain = Chain::from_bytes(snapshot.as_ref().unwrap()).unwrap();
            n.ok("owner.test", "update_config", json!({ "config": big_config(budget) }), 0);
            n.chain.advance_time(CONFIG_DELAY_MS);
        }
        run_check(&mut n, &name(0), bridge, budget, half);
        assert_eq!(n.view("node", json!({"account_id": name(1)}))["status"], "partitioned");
        assert_eq!(n.view("node", json!({"account_id": name(half + 1)}))["status"], "active");
        // Every rich-side holder of a claim was paid back (the slash covers them all).
        for k in 0..claims {
            let held = n.view("claims", json!({"account_id": name(half + k)}))["held"].clone();
            assert_eq!(held, json!([]), "{}'s claims on the cut-off half are paid", name(half + k));
        }
        if claims > 1 {
            let paid = n.view("balances", json!({"account_id": name(half + claims - 1)}))["withdrawable"].clone();
            assert_eq!(paid, (NEAR / 200).to_string(), "the half-penalty comes back in full");
        }
    }
}

/// Severs `bridge` as `who` and continues the check to its end; prints gas
/// and storage reads per call by phase.
fn run_check(n: &mut Net, who: &str, bridge: u64, budget: u64, half: usize) {
    n.gas.clear();
    let mut calls = 1;
    let mut status = n.ok(who, "sever", json!({ "channel_id": bridge }), 0);
    // Gas and storage reads per call, by the phase the call started in.
    let mut phases: Vec<(String, u64, u64, u32)> = Vec::new();
    let mut note = |phase: &str, gas: u64, reads: u64| match phases.iter_mut().find(|p| p.0 == phase) {
        Some(p) => (p.1, p.2, p.3) = (p.1.max(gas), p.2.max(reads), p.3 + 1),
        None => phases.push((phase.to_string(), gas, reads, 1)),
    };
    note("search", n.gas.last().unwrap().1, status["reads"].as_u64().unwrap());
    while status["phase"] != "done" {
        let phase = status["phase"].as_str().unwrap().to_string();
        let reads = status["reads"].as_u64().unwrap();
        status = n.ok("owner.test", "continue_partition_check", json!({}), 0);
        note(&phase, n.gas.last().unwrap().1, status["reads"].as_u64().unwrap() - reads);
        calls += 1;
        assert!(calls < 100_000);
    }
    let nodes_out = status["outcome"]["Partitioned"]["nodes"].as_array().expect("the poorer half is cut off").len();
    assert_eq!(nodes_out, half);
    // Nobody is slashed before the reconnection window ends; then settle
    // searches again and slashes, in calls of the same bounded size.
    assert_eq!(n.view("node", json!({"account_id": who}))["status"], "active");
    n.chain.advance_time(BIG_WINDOW_MS + 1);
    status = n.ok("owner.test", "settle", json!({ "channel_id": bridge }), 0);
    calls += 1;
    note("settle:search", n.gas.last().unwrap().1, status["reads"].as_u64().unwrap());
    while status["phase"] != "done" {
        let phase = format!("settle:{}", status["phase"].as_str().unwrap());
        let reads = status["reads"].as_u64().unwrap();
        status = n.ok("owner.test", "continue_partition_check", json!({}), 0);
        note(&phase, n.gas.last().unwrap().1, status["reads"].as_u64().unwrap() - reads);
        calls += 1;
        assert!(calls < 100_000);
    }
    let nodes_out = status["outcome"]["Partitioned"]["nodes"].as_array().expect("the poorer half is partitioned").len();
    assert_eq!(nodes_out, half);
    let max = n.gas.iter().map(|(_, g)| *g).max().unwrap();
    let total: u64 = n.gas.iter().map(|(_, g)| *g).sum();
    println!(
        "partition check, budget {budget} reads: search work {}, reads {}, {calls} calls, \
         max {:.1} Tgas per call, {:.1} Tgas in all",
        status["work"],
        status["reads"],
        max as f64 / TGAS,
        total as f64 / TGAS
    );
    for (phase, gas, reads, k) in &phases {
        println!(
            "  calls starting in phase {phase}: {k}, max {:.2} Tgas, max {reads} reads per call",
            *gas as f64 / TGAS
        );
        assert!(*reads <= budget.clamp(2, 1_500) + 2, "{phase}: {reads} reads in one call");
    }
}
