//! Unit tests on near-sdk's mocked blockchain, through a small harness that
//! behaves like the chain: every call reads the state from storage, runs,
//! writes it back, and a refused call (a panic) rolls storage back.

mod closing;
mod differential;
mod methods;
mod money;
mod owner;
mod scenarios;
mod vectors;
mod window;

use std::cell::Cell;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use near_sdk::test_utils::VMContextBuilder;
use near_sdk::{AccountId, Gas, MockedBlockchain, NearToken, RuntimeFeesConfig, env, test_vm_config};
use por_core::{ChannelId, NodeSigner, SignedVoucher, Signer, Voucher};

use crate::Contract;
use crate::config::{Config, NEAR};
use crate::views::TotalsView;

/// The contract's account in tests.
pub const CONTRACT: &str = "por.test.near";
/// The owner.
pub const OWNER: &str = "owner.test.near";

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

fn install_quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                prev(info);
            }
        }));
    });
}

/// Whether a panic message is a bug rather than a refusal: Rust's own
/// runtime panics (overflow, unwrap, indexing) and the contract's
/// `internal:` invariants. Refusals are the messages of `require!` and
/// `panic_str` (which the mocked host reports as a `HostError`), written
/// for users.
pub fn is_bug(msg: &str) -> bool {
    if msg.contains("HostError(") {
        return msg.contains("internal:");
    }
    const BUGS: [&str; 8] = [
        "attempt to ",
        "called `Option::unwrap()`",
        "called `Result::unwrap()`",
        "index out of bounds",
        "internal:",
        "<non-string panic>",
        "explicit panic",
        "mul_div needs",
    ];
    BUGS.iter().any(|b| msg.contains(b)) || msg.starts_with("assertion failed")
}

/// An account id of the test network.
pub fn acc(name: &str) -> AccountId {
    format!("{name}.test.near").parse().unwrap()
}

/// The node key of `name` (deterministic).
pub fn signer(name: &str) -> NodeSigner {
    let h = por_core::sha256(name.as_bytes());
    NodeSigner::from_seed(h.0)
}

/// The registration proof of `key_name`'s node key for account `who` on
/// the test contract.
pub fn proof(who: &str, key_name: &str) -> por_core::Signature {
    let s = signer(key_name);
    let account = if who.contains('.') { who.to_string() } else { acc(who).to_string() };
    por_core::Registration { contract: CONTRACT.into(), account, node_key: s.public() }.sign(&s)
}

/// A voucher of `payer` on `channel` of the test contract.
pub fn voucher(payer: &str, channel: u64, cumulative: u128) -> SignedVoucher {
    let s = signer(payer);
    Voucher { contract: CONTRACT.into(), channel: ChannelId(channel), payer: s.public(), cumulative }.sign(&s)
}

/// What the contract account holds at deploy (before anyone attaches
/// anything): enough for its code and some headroom.
pub const DEPLOY_BALANCE: u128 = 10 * NEAR;
/// Storage the contract account uses at deploy (its code, roughly).
pub const CODE_BYTES: u64 = 400_000;

/// The mocked chain with the contract deployed.
pub struct Chain {
    /// Block time, ms.
    pub now_ms: u64,
    /// Everything attached by successful calls.
    pub attached: u128,
    /// Everything withdrawn.
    pub withdrawn: u128,
    /// Logs of the last call.
    pub logs: Vec<String>,
    /// Prepaid gas per call, Tgas.
    pub tgas: u64,
    /// The contract account's balance (deploy balance + attached − transferred out).
    pub balance: u128,
    /// The contract account's storage usage, carried from call to call.
    pub storage_usage: u64,
    /// Gas the last successful call used (host functions only: the mock
    /// does not meter wasm instructions).
    pub last_gas: u64,
}

fn ctx(who: &str, deposit: u128, now_ms: u64, tgas: u64, balance: u128, storage: u64) -> near_sdk::VMContext {
    let a: AccountId = if who.contains('.') { who.parse().unwrap() } else { acc(who) };
    VMContextBuilder::new()
        .current_account_id(CONTRACT.parse().unwrap())
        .predecessor_account_id(a.clone())
        .signer_account_id(a)
        .attached_deposit(NearToken::from_yoctonear(deposit))
        .block_timestamp(now_ms * 1_000_000)
        .prepaid_gas(Gas::from_tgas(tgas))
        .account_balance(NearToken::from_yoctonear(balance + deposit))
        .storage_usage(storage)
        .build()
}

fn install(c: near_sdk::VMContext, storage: HashMap<Vec<u8>, Vec<u8>>) {
    // Building these parses the runtime's configs: do it once per thread.
    thread_local! {
        static CONFIGS: (near_parameters::vm::Config, RuntimeFeesConfig) = (test_vm_config(), RuntimeFeesConfig::test());
    }
    let (vm, fees) = CONFIGS.with(|c| c.clone());
    env::set_blockchain_interface(MockedBlockchain::new(c, vm, fees, vec![], storage, Default::default(), None));
}

fn take_storage() -> HashMap<Vec<u8>, Vec<u8>> {
    near_sdk::mock::with_mocked_blockchain(|b| b.take_storage())
}

impl Chain {
    /// Deploys with the default config (owner [`OWNER`]) changed by `f`;
    /// `new` is called by the contract account itself, as in the deploy
    /// transaction.
    pub fn new(f: impl FnOnce(&mut Config)) -> Self {
        Self::deploy(DEPLOY_BALANCE, f)
    }

    /// [`Chain::new`] with the contract account funded with `balance`.
    pub fn deploy(balance: u128, f: impl FnOnce(&mut Config)) -> Self {
        install_quiet_hook();
        let mut cfg = Config::with_defaults(OWNER.parse().unwrap());
        f(&mut cfg);
        let mut ch = Chain {
            now_ms: 1_000,
            attached: 0,
            withdrawn: 0,
            logs: Vec::new(),
            tgas: 300,
            balance,
            storage_usage: CODE_BYTES,
            last_gas: 0,
        };
        install(ch.ctx(CONTRACT, 0), HashMap::new());
        let c = Contract::new(cfg);
        env::state_write(&c);
        drop(c);
        ch.storage_usage = env::storage_usage();
        ch
    }

    fn ctx(&self, who: &str, deposit: u128) -> near_sdk::VMContext {
        ctx(who, deposit, self.now_ms, self.tgas, self.balance, self.storage_usage)
    }

    /// Runs `f` as `who` with `deposit` attached, like a transaction: a
    /// refusal returns its message and leaves storage as it was.
    pub fn try_call<R>(&mut self, who: &str, deposit: u128, f: impl FnOnce(&mut Contract) -> R) -> Result<R, String> {
        let before = take_storage();
        install(self.ctx(who, deposit), before.clone());
        QUIET.with(|q| q.set(true));
        let out = catch_unwind(AssertUnwindSafe(|| {
            let mut c: Contract = env::state_read().expect("contract state");
            let r = f(&mut c);
            env::state_write(&c);
            drop(c);
            r
        }));
        QUIET.with(|q| q.set(false));
        match out {
            Ok(r) => {
                self.logs = near_sdk::test_utils::get_logs();
                self.attached += deposit;
                self.balance += deposit;
                self.storage_usage = env::storage_usage();
                self.last_gas = env::used_gas().as_gas();
                Ok(r)
            }
            Err(p) => {
                install(self.ctx(who, 0), before);
                self.logs.clear();
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "<non-string panic>".into());
                assert!(!is_bug(&msg), "the call by {who} panicked with a bug, not a refusal: {msg}");
                Err(msg)
            }
        }
    }

    /// Like [`Chain::try_call`], failing the test on a refusal.
    #[track_caller]
    pub fn call<R>(&mut self, who: &str, deposit: u128, f: impl FnOnce(&mut Contract) -> R) -> R {
        match self.try_call(who, deposit, f) {
            Ok(r) => r,
            Err(e) => panic!("call by {who} refused: {e}"),
        }
    }

    /// Asserts that the call is refused with a message containing `needle`.
    #[track_caller]
    pub fn refuse<R: std::fmt::Debug>(
        &mut self,
        who: &str,
        deposit: u128,
        needle: &str,
        f: impl FnOnce(&mut Contract) -> R,
    ) {
        match self.try_call(who, deposit, f) {
            Ok(r) => panic!("expected a refusal containing {needle:?}, got Ok({r:?})"),
            Err(e) => assert!(e.contains(needle), "refusal {e:?} does not contain {needle:?}"),
        }
    }

    /// Reads the state without changing it.
    pub fn view<R>(&mut self, f: impl FnOnce(&Contract) -> R) -> R {
        // A view writes nothing (unmodified collections do not flush), so
        // the storage needs no copy.
        install(self.ctx(OWNER, 0), take_storage());
        let c: Contract = env::state_read().expect("contract state");
        let r = f(&c);
        drop(c);
        r
    }

    /// Events of the last call, as (name, data).
    pub fn events(&self) -> Vec<(String, serde_json::Value)> {
        self.logs
            .iter()
            .filter_map(|l| l.strip_prefix("EVENT_JSON:"))
            .map(|j| {
                let v: serde_json::Value = serde_json::from_str(j).unwrap();
                assert_eq!(v["standard"], "por");
                assert_eq!(v["version"], "1.0.0");
                (v["event"].as_str().unwrap().to_string(), v["data"].clone())
            })
            .collect()
    }

    /// Names of the last call's events.
    pub fn event_names(&self) -> Vec<String> {
        self.events().into_iter().map(|(n, _)| n).collect()
    }

    /// Registers `name` with `stake` (plus the storage fee).
    pub fn register(&mut self, name: &str, stake: u128) -> u32 {
        let fee = self.view(|c| c.config.node_storage_fee.0);
        let key = signer(name).public();
        let sig = proof(name, name);
        self.call(name, stake + fee, |c| c.register_node(key, 10, sig))
    }

    /// Opens and confirms a channel `a`–`b` with the deposits; its id.
    pub fn open(&mut self, a: &str, b: &str, dep_a: u128, dep_b: u128) -> u64 {
        let fee = self.view(|c| c.config.channel_storage_fee.0);
        let peer = acc(b);
        let id = self.call(a, dep_a + fee, |c| c.open_channel(peer, 50, 1.into(), 0.into()));
        self.call(b, dep_b, |c| c.confirm_channel(id));
        id
    }

    /// Withdraws `amount` as `who`.
    pub fn withdraw(&mut self, who: &str, amount: u128) -> Result<(), String> {
        self.try_call(who, 0, |c| {
            let _ = c.withdraw(amount.into());
        })?;
        self.withdrawn += amount;
        self.balance -= amount;
        Ok(())
    }

    /// Runs `continue_partition_check` until nothing is pending; the number of calls.
    pub fn finish_check(&mut self) -> u32 {
        let mut n = 0;
        while self.view(|c| c.partition_check()).is_some() {
            self.call("anyone", 0, |c| c.continue_partition_check());
            n += 1;
            assert!(n < 100_000, "partition check does not end");
        }
        n
    }

    /// Waits out the reconnection window of the split recorded after the
    /// severance of `channel`, calls `settle` and continues the check until
    /// it is done; the last status.
    #[track_caller]
    pub fn settle(&mut self, channel: u64) -> crate::partition::CheckStatus {
        self.settle_measured(channel).0
    }

    /// [`Chain::settle`], also returning the calls it took, the most gas
    /// one of them used and the most storage reads one of them made.
    #[track_caller]
    pub fn settle_measured(&mut self, channel: u64) -> (crate::partition::CheckStatus, u32, u64, u64) {
        let split = self.view(|c| c.pending_split(channel));
        let split = split.unwrap_or_else(|| panic!("no split pending for channel {channel}"));
        self.now_ms = self.now_ms.max(split.settle_after_ms);
        let mut st = self.call("anyone", 0, |c| c.settle(channel));
        let (mut calls, mut max_gas, mut max_reads) = (1, self.last_gas, st.reads);
        while st.phase != "done" {
            let before = st.reads;
            st = self.call("anyone", 0, |c| c.continue_partition_check());
            calls += 1;
            max_gas = max_gas.max(self.last_gas);
            max_reads = max_reads.max(st.reads - before);
        }
        (st, calls, max_gas, max_reads)
    }

    /// Bytes of contract storage as NEAR counts them (key + value + 40 per record).
    pub fn storage_bytes(&mut self) -> u64 {
        let st = take_storage();
        let n = st.iter().map(|(k, v)| (k.len() + v.len() + 40) as u64).sum();
        install(self.ctx(OWNER, 0), st);
        n
    }

    /// The books.
    pub fn totals(&mut self) -> TotalsView {
        self.view(|c| c.totals())
    }

    /// Asserts that the books add up to what was attached minus what was
    /// withdrawn, and that the running totals match the records.
    #[track_caller]
    pub fn assert_conserved(&mut self) {
        let t = self.totals();
        let sum = t.treasury.0 + t.storage_reserve.0 + t.balances.0 + t.stakes.0 + t.deposits.0 + t.partition_pool.0;
        assert_eq!(sum, self.attached - self.withdrawn, "money created or destroyed: {t:?}");
        let (stakes, deposits) = self.view(|c| {
            let stakes: u128 = c.states.iter().map(|n| n.stake).sum();
            let deposits: u128 = (1..c.next_channel)
                .filter_map(|id| c.channels.get(&id))
                .filter(|ch| !matches!(ch.state, crate::channels::ChannelState::Closed { .. }))
                .map(|ch| ch.deposit_a + ch.deposit_b)
                .sum();
            (stakes, deposits)
        });
        assert_eq!(stakes, t.stakes.0, "running stake total drifted");
        assert_eq!(deposits, t.deposits.0, "running deposit total drifted");
    }
}

/// One NEAR.
pub const N: u128 = NEAR;
/// One Tgas.
pub const TGAS: u64 = 1_000_000_000_000;
