//! The contract's configuration: who owns it, what stake and penalties cost,
//! how long windows last and how much work one call may do.
//!
//! Amounts are yoctoNEAR, durations milliseconds. The owner replaces the whole
//! config with `update_config`; nobody else can change it. Changes apply to
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
    /// and rejoin. Default 1 NEAR.
    pub min_stake: U128,
    /// Penalty of one severance; each side's stake pays half. Default 0.1 NEAR.
    pub severance_penalty: U128,
    /// How long after a severance the other side may still submit a better
    /// voucher; `finalize` is possible from then on. Default 60 000 ms (use
    /// hours on a public network).
    pub challenge_period_ms: u64,
    /// How long after a severance that split the graph the split waits
    /// before anyone may `settle` it (the nodes stranded on the smaller side
    /// reconnect meanwhile). Longer than `challenge_period_ms`, at most
    /// `claim_ttl_ms`. May be omitted in JSON (then the default). Default
    /// 7 200 000 ms (2 hours).
    #[serde(default = "default_reconnect_window_ms")]
    pub reconnect_window_ms: u64,
    /// How long a channel proposal must wait before its opener may cancel
    /// it. Default 600 000 ms.
    pub proposal_timeout_ms: u64,
    /// Share of its stake every node of a partitioned side loses, in basis
    /// points (1/10 000). At most 10 000. Default 1 000 (10 %).
    pub partition_slash_bps: u32,
    /// Late fee per second of lateness of one request, network-wide (nodes
    /// read it; the contract does not charge it). Default 10^18 yocto.
    pub late_fee_per_sec: U128,
    /// Longest lateness a node owes late fees for before it must sever
    /// (nodes read it). Default 60 000 ms.
    pub max_late_ms: u64,
    /// Lifetime of a reimbursement claim; older claims lapse. Default
    /// 2 592 000 000 ms (30 days).
    pub claim_ttl_ms: u64,
    /// Storage reads one call may spend on a pending partition check, all
    /// phases together: the search reads one adjacency list per node it
    /// expands and one 17-byte node state per node it meets; settling reads
    /// one record per claim-queue position and about four per claim paid.
    /// Values above [`crate::partition::MAX_STEP_BUDGET`] (1 500) count as
    /// that. Default 1 000: under 100 Tgas per call on the real wasm, a
    /// third of NEAR's 300 Tgas limit (see docs/BENCHMARKS.md).
    pub partition_step_budget: u64,
    /// Nodes slashed, or claims paid, per call while a partition is
    /// settled (each batch is one event). At most 100 (a call's logs are
    /// limited to 16 KiB). Default 25.
    pub settle_batch: u32,
    /// Part of `register_node`'s deposit that pays for the node's storage
    /// (kept by the contract, not part of the stake). Default 0.01 NEAR.
    pub node_storage_fee: U128,
    /// Part of `open_channel`'s deposit that pays for the channel's storage
    /// (kept by the contract, not part of the deposit). Default 0.01 NEAR.
    pub channel_storage_fee: U128,
    /// Storage fee of one reimbursement claim (about 200 bytes with its
    /// index entry), paid out of the half-penalty the claim reimburses: of
    /// each half-penalty taken, this much goes to the storage reserve and
    /// the rest to the treasury (a half-penalty smaller than the fee makes
    /// no claim). At most half the severance penalty, unless that is 0. May
    /// be omitted in JSON (then the default). Default 0.002 NEAR.
    #[serde(default = "default_claim_storage_fee")]
    pub claim_storage_fee: U128,
}

fn default_reconnect_window_ms() -> u64 {
    7_200_000
}

fn default_claim_storage_fee() -> U128 {
    U128(2 * MILLINEAR)
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
        }
    }

    /// Refuses a config the contract cannot work with.
    pub fn validate(&self) {
        require!(
            self.partition_slash_bps <= 10_000,
            "config: partition_slash_bps is in basis points and must be at most 10000"
        );
        require!(self.settle_batch >= 1, "config: settle_batch must be at least 1");
        require!(self.partition_step_budget >= 1, "config: partition_step_budget must be at least 1");
        require!(
            self.severance_penalty.0 == 0 || self.claim_storage_fee.0 <= self.half_penalty(),
            "config: claim_storage_fee must be at most half the severance_penalty (each claim's storage is paid out of the half-penalty it reimburses)"
        );
        require!(
            self.reconnect_window_ms > self.challenge_period_ms && self.reconnect_window_ms <= self.claim_ttl_ms,
            format!(
                "config: reconnect_window_ms ({}) must be longer than challenge_period_ms ({}) and at most claim_ttl_ms ({})",
                self.reconnect_window_ms, self.challenge_period_ms, self.claim_ttl_ms
            )
        );
        require!(
            self.settle_batch <= 100,
            "config: settle_batch must be at most 100 (one call's logs are limited to 16 KiB)"
        );
    }

    /// Half of the severance penalty: what each side of a severance pays.
    pub fn half_penalty(&self) -> u128 {
        self.severance_penalty.0 / 2
    }
}
