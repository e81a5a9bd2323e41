//! The contract's configuration: who owns it, what stake and penalties cost,
//! how long windows last and how much work one call may do.
//!
//! Amounts are yoctoNEAR, durations milliseconds. The owner replaces the whole
//! config with `update_config`; nobody else can change it, and the owner's
//! powers are bounded: every value has limits ([`Config::validate`], listed
//! in each field's doc and in `contract/API.md`), and a new config takes
//! effect only `config_delay_ms` (of the config in force) after the owner
//! submits it, announced at once by a `config_proposed` event and visible
//! meanwhile in the `pending_config` view, so nodes follow it at the moment
//! it takes effect. Changes apply to
//! what happens afterwards, never retroactively: a running challenge window
//! keeps its deadline, a claim its expiry (`expires_ms`, fixed when it is
//! made), a pending split its settle deadline and the `partition_slash_bps`
//! of its severance. Only the work-per-call knobs (`partition_step_budget`,
//! `settle_batch`) apply to a pending check at once, so the owner can
//! change its pace.

use near_sdk::json_types::U128;
use near_sdk::{AccountId, near, require};

/// One NEAR in yocto.
pub const NEAR: u128 = 1_000_000_000_000_000_000_000_000;
/// One milli-NEAR in yocto.
pub const MILLINEAR: u128 = NEAR / 1_000;

/// The contract's configuration.
#[near(serializers = [borsh, json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The account that may change this config and move the treasury.
    pub owner: AccountId,
    /// Smallest stake a node must hold to register, open or confirm channels
    /// and rejoin. Limits: 1 yocto to 10 000 NEAR. Default 1 NEAR.
    pub min_stake: U128,
    /// Penalty of one severance; each side's stake pays half. Limits: 0 to
    /// 100 NEAR. Default 0.1 NEAR.
    pub severance_penalty: U128,
    /// How long after a severance the other side may still submit a better
    /// voucher; `finalize` is possible from then on. Limits: 100 ms to
    /// 7 days. Default 60 000 ms (use hours on a public network).
    pub challenge_period_ms: u64,
    /// How long after a severance that split the graph the split waits
    /// before anyone may `settle` it (the nodes stranded on the smaller side
    /// reconnect meanwhile). Limits: longer than `challenge_period_ms`, at
    /// most `claim_ttl_ms` and at most 30 days. May be omitted in JSON (then
    /// the default). Default 7 200 000 ms (2 hours).
    #[serde(default = "default_reconnect_window_ms")]
    pub reconnect_window_ms: u64,
    /// How long a channel proposal must wait before its opener may cancel
    /// it. Limits: 0 to 30 days. Default 600 000 ms.
    pub proposal_timeout_ms: u64,
    /// Share of its stake every node of a partitioned side loses, in basis
    /// points (1/10 000). Limits: 0 to 10 000. Default 1 000 (10 %).
    pub partition_slash_bps: u32,
    /// Late fee per second of lateness of one request, network-wide (nodes
    /// read it; the contract does not charge it). Limits: 0 to 10^21 yocto
    /// (1 milli-NEAR a second). Default 10^18 yocto.
    pub late_fee_per_sec: U128,
    /// Longest lateness a node owes late fees for before it must sever
    /// (nodes read it). Limits: 1 000 ms to 3 600 000 ms (an hour). Default
    /// 60 000 ms.
    pub max_late_ms: u64,
    /// Lifetime of a reimbursement claim; older claims lapse. Limits: at
    /// least `reconnect_window_ms`, at most 365 days. Default
    /// 2 592 000 000 ms (30 days).
    pub claim_ttl_ms: u64,
    /// Storage reads one call may spend on a pending partition check, all
    /// phases together: the search reads one adjacency list per node it
    /// expands and one 17-byte node state per node it meets; settling reads
    /// one record per claim-queue position and about four per claim paid.
    /// Limits: 1 to [`crate::partition::MAX_STEP_BUDGET`] (1 500; a call
    /// spends at least 2). Default 1 000: under 100 Tgas per call on the
    /// real wasm, a third of NEAR's 300 Tgas limit (see docs/BENCHMARKS.md).
    pub partition_step_budget: u64,
    /// Nodes slashed, or claims paid, per call while a partition is
    /// settled (each batch is one event). Limits: 1 to 100 (a call's logs
    /// are limited to 16 KiB). Default 25.
    pub settle_batch: u32,
    /// Part of `register_node`'s deposit that pays for the node's storage
    /// (kept by the contract, not part of the stake). Limits: 0 to 1 NEAR.
    /// Default 0.01 NEAR.
    pub node_storage_fee: U128,
    /// Part of `open_channel`'s deposit that pays for the channel's storage
    /// (kept by the contract, not part of the deposit). Limits: 0 to 1 NEAR.
    /// Default 0.01 NEAR.
    pub channel_storage_fee: U128,
    /// Storage fee of one reimbursement claim (about 200 bytes with its
    /// index entry), paid out of the half-penalty the claim reimburses: of
    /// each half-penalty taken, this much goes to the storage reserve and
    /// the rest to the treasury (a half-penalty smaller than the fee makes
    /// no claim). Limits: 0 to 1 NEAR, and at most half the severance
    /// penalty unless that is 0. May be omitted in JSON (then the default).
    /// Default 0.002 NEAR.
    #[serde(default = "default_claim_storage_fee")]
    pub claim_storage_fee: U128,
    /// How long after the owner submits a new config it takes effect (the
    /// delay of the config in force when it is submitted applies), so
    /// nodes see every change coming and follow it when it lands. Limits:
    /// 1 000 ms to 30 days. May be omitted in JSON (then the default).
    /// Default 86 400 000 ms (a day; seconds on a local devnet).
    #[serde(default = "default_config_delay_ms")]
    pub config_delay_ms: u64,
}

fn default_reconnect_window_ms() -> u64 {
    7_200_000
}

fn default_claim_storage_fee() -> U128 {
    U128(2 * MILLINEAR)
}

fn default_config_delay_ms() -> u64 {
    86_400_000
}

/// One day in ms.
const DAY_MS: u64 = 86_400_000;

/// The limits of every value (DESIGN §2.8: the owner's powers are
/// bounded). Each is `(smallest, largest)`; the relations between fields
/// are checked in [`Config::validate`].
pub mod limits {
    use super::{DAY_MS, NEAR};

    /// `min_stake`, yocto.
    pub const MIN_STAKE: (u128, u128) = (1, 10_000 * NEAR);
    /// `severance_penalty`, yocto.
    pub const SEVERANCE_PENALTY: (u128, u128) = (0, 100 * NEAR);
    /// `challenge_period_ms`.
    pub const CHALLENGE_PERIOD_MS: (u64, u64) = (100, 7 * DAY_MS);
    /// `reconnect_window_ms` (also longer than the challenge period, at
    /// most the claim lifetime).
    pub const RECONNECT_WINDOW_MS: (u64, u64) = (101, 30 * DAY_MS);
    /// `proposal_timeout_ms`.
    pub const PROPOSAL_TIMEOUT_MS: (u64, u64) = (0, 30 * DAY_MS);
    /// `partition_slash_bps`.
    pub const PARTITION_SLASH_BPS: (u32, u32) = (0, 10_000);
    /// `late_fee_per_sec`, yocto a second.
    pub const LATE_FEE_PER_SEC: (u128, u128) = (0, NEAR / 1_000);
    /// `max_late_ms`.
    pub const MAX_LATE_MS: (u64, u64) = (1_000, 3_600_000);
    /// `claim_ttl_ms` (also at least the reconnection window).
    pub const CLAIM_TTL_MS: (u64, u64) = (1_000, 365 * DAY_MS);
    /// `partition_step_budget`.
    pub const PARTITION_STEP_BUDGET: (u64, u64) = (1, crate::partition::MAX_STEP_BUDGET);
    /// `settle_batch` (one call's logs are limited to 16 KiB).
    pub const SETTLE_BATCH: (u32, u32) = (1, 100);
    /// `node_storage_fee`, `channel_storage_fee` and `claim_storage_fee`,
    /// yocto.
    pub const STORAGE_FEE: (u128, u128) = (0, NEAR);
    /// `config_delay_ms`.
    pub const CONFIG_DELAY_MS: (u64, u64) = (1_000, 30 * DAY_MS);
}

/// Refuses `value` of `field` outside `(lo, hi)`, naming both.
fn require_within<T: PartialOrd + std::fmt::Display>(field: &str, value: T, (lo, hi): (T, T), unit: &str) {
    if value < lo || value > hi {
        near_sdk::env::panic_str(&format!("config: {field} must be between {lo} and {hi}{unit} (got {value}{unit})"));
    }
}

impl Config {
    /// The defaults above with `owner` as owner.
    pub fn with_defaults(owner: AccountId) -> Self {
        Config {
            owner,
            min_stake: U128(NEAR),
            severance_penalty: U128(NEAR / 10),
            challenge_period_ms: 60_000,
            reconnect_window_ms: default_reconnect_window_ms(),
            proposal_timeout_ms: 600_000,
            partition_slash_bps: 1_000,
            late_fee_per_sec: U128(1_000_000_000_000_000_000),
            max_late_ms: 60_000,
            claim_ttl_ms: 30 * 24 * 3_600_000,
            partition_step_budget: 1_000,
            settle_batch: 25,
            node_storage_fee: U128(10 * MILLINEAR),
            channel_storage_fee: U128(10 * MILLINEAR),
            claim_storage_fee: default_claim_storage_fee(),
            config_delay_ms: default_config_delay_ms(),
        }
    }

    /// Refuses a config outside its limits ([`limits`]), naming the field
    /// and the limit.
    pub fn validate(&self) {
        use limits::*;
        require_within("min_stake", self.min_stake.0, MIN_STAKE, " yocto");
        require_within("severance_penalty", self.severance_penalty.0, SEVERANCE_PENALTY, " yocto");
        require_within("challenge_period_ms", self.challenge_period_ms, CHALLENGE_PERIOD_MS, " ms");
        require_within("reconnect_window_ms", self.reconnect_window_ms, RECONNECT_WINDOW_MS, " ms");
        require_within("proposal_timeout_ms", self.proposal_timeout_ms, PROPOSAL_TIMEOUT_MS, " ms");
        require_within("partition_slash_bps", self.partition_slash_bps, PARTITION_SLASH_BPS, " bps");
        require_within("late_fee_per_sec", self.late_fee_per_sec.0, LATE_FEE_PER_SEC, " yocto/s");
        require_within("max_late_ms", self.max_late_ms, MAX_LATE_MS, " ms");
        require_within("claim_ttl_ms", self.claim_ttl_ms, CLAIM_TTL_MS, " ms");
        require_within("partition_step_budget", self.partition_step_budget, PARTITION_STEP_BUDGET, " reads");
        require_within("settle_batch", self.settle_batch, SETTLE_BATCH, " per call");
        require_within("node_storage_fee", self.node_storage_fee.0, STORAGE_FEE, " yocto");
        require_within("channel_storage_fee", self.channel_storage_fee.0, STORAGE_FEE, " yocto");
        require_within("claim_storage_fee", self.claim_storage_fee.0, STORAGE_FEE, " yocto");
        require_within("config_delay_ms", self.config_delay_ms, CONFIG_DELAY_MS, " ms");
        require!(
            self.severance_penalty.0 == 0 || self.claim_storage_fee.0 <= self.half_penalty(),
            format!(
                "config: claim_storage_fee ({}) must be at most half the severance_penalty ({}): each claim's storage is paid out of the half-penalty it reimburses",
                self.claim_storage_fee.0,
                self.half_penalty()
            )
        );
        require!(
            self.reconnect_window_ms > self.challenge_period_ms && self.reconnect_window_ms <= self.claim_ttl_ms,
            format!(
                "config: reconnect_window_ms ({}) must be longer than challenge_period_ms ({}) and at most claim_ttl_ms ({})",
                self.reconnect_window_ms, self.challenge_period_ms, self.claim_ttl_ms
            )
        );
    }

    /// Half of the severance penalty: what each side of a severance pays.
    pub fn half_penalty(&self) -> u128 {
        self.severance_penalty.0 / 2
    }
}

/// A config the owner submitted, waiting for its time.
#[near(serializers = [borsh, json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingConfig {
    /// The config that will be in force.
    pub config: Config,
    /// From when (block time, ms): the first call at or after it applies it.
    pub effective_ms: u64,
}

impl crate::Contract {
    /// `update_config`: checks the caller and the limits, and records
    /// `config` to take effect `config_delay_ms` (of the config in force)
    /// from `now_ms`, replacing a config still pending.
    pub(crate) fn do_update_config(&mut self, caller: &near_sdk::AccountId, config: Config, now_ms: u64) -> u64 {
        require!(
            *caller == self.config.owner,
            format!("update_config: only the owner {} may change the config", self.config.owner)
        );
        config.validate();
        let effective_ms = now_ms.saturating_add(self.config.config_delay_ms);
        let replaces = self.pending_config.replace(PendingConfig { config: config.clone(), effective_ms }).is_some();
        crate::events::Event::ConfigProposed { config, effective_ms, replaces }.emit();
        effective_ms
    }

    /// Puts a pending config whose time has come in force (every changing
    /// call does this first, so none runs under a config past its time).
    pub(crate) fn apply_due_config(&mut self, now_ms: u64) {
        if self.pending_config.as_ref().is_some_and(|p| now_ms >= p.effective_ms) {
            let p = self.pending_config.take().expect("checked above");
            self.config = p.config.clone();
            crate::events::Event::ConfigUpdated { config: p.config, effective_ms: p.effective_ms }.emit();
        }
    }

    /// The config in force at `now_ms` (a due pending config counts even
    /// before a call applies it).
    pub(crate) fn config_at(&self, now_ms: u64) -> Config {
        match &self.pending_config {
            Some(p) if now_ms >= p.effective_ms => p.config.clone(),
            _ => self.config.clone(),
        }
    }

    /// The pending config, if its time has not come.
    pub(crate) fn pending_config_at(&self, now_ms: u64) -> Option<PendingConfig> {
        self.pending_config.clone().filter(|p| now_ms < p.effective_ms)
    }
}
