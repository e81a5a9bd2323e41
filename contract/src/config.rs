//! The contract's configuration: who owns it, what stake and penalties cost,
//! how long windows last and how much work one call may do.
//!
//! Amounts are yoctoNEAR, durations milliseconds. The owner replaces the whole
//! config with `update_config`; nobody else can change it. Changes apply to
//! what happens afterwards (a running challenge window keeps its deadline).

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
    /// Work units (nodes expanded plus adjacency entries read) one call may
    /// spend on a partition search. Default 4 000, which keeps a call far
    /// below 300 Tgas (see docs/BENCHMARKS.md).
    pub partition_step_budget: u64,
    /// Nodes-plus-claims slashed, or claims paid, per call while a
    /// partition is settled. At most 100 (a call's logs are limited to 16
    /// KiB). Default 25.
    pub settle_batch: u32,
    /// Part of `register_node`'s deposit that pays for the node's storage
    /// (kept by the contract, not part of the stake). Default 0.01 NEAR.
    pub node_storage_fee: U128,
    /// Part of `open_channel`'s deposit that pays for the channel's storage
    /// (kept by the contract, not part of the deposit). Default 0.01 NEAR.
    pub channel_storage_fee: U128,
}

impl Config {
    /// The defaults above with `owner` as owner.
    pub fn with_defaults(owner: AccountId) -> Self {
        Config {
            owner,
            min_stake: U128(NEAR),
            severance_penalty: U128(NEAR / 10),
            challenge_period_ms: 60_000,
            proposal_timeout_ms: 600_000,
            partition_slash_bps: 1_000,
            late_fee_per_sec: U128(1_000_000_000_000_000_000),
            max_late_ms: 60_000,
            claim_ttl_ms: 30 * 24 * 3_600_000,
            partition_step_budget: 4_000,
            settle_batch: 25,
            node_storage_fee: U128(10 * MILLINEAR),
            channel_storage_fee: U128(10 * MILLINEAR),
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
            self.settle_batch <= 100,
            "config: settle_batch must be at most 100 (one call's logs are limited to 16 KiB)"
        );
    }

    /// Half of the severance penalty: what each side of a severance pays.
    pub fn half_penalty(&self) -> u128 {
        self.severance_penalty.0 / 2
    }
}
