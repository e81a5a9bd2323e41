//! NEP-297 events (`standard = "por"`, version 1.0.0): one for every state
//! change, so nodes and indexers can follow the contract from its logs.
//!
//! Amounts are decimal strings, node indices numbers, accounts strings. A
//! call's logs are limited to 16 KiB in all, which is why partition
//! settlement emits one event per batch and bounds its batches.
//!
//! near-sdk's `EventMetadata` derive generates undocumented methods, hence
//! this module's `allow(missing_docs)`; every variant and field is documented.
#![allow(missing_docs)]

use near_sdk::json_types::U128;
use near_sdk::{AccountId, near};
use por_core::{EdgeParams, NodeKey, Outcome};

use crate::config::Config;

/// One paid claim in [`Event::ClaimsPaid`]. Nodes are graph indices
/// (`node_at` gives the account) to keep the event small.
#[near(serializers = [json])]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidClaim {
    /// The claim.
    pub claim_id: u64,
    /// Who was paid (graph index).
    pub creditor: u32,
    /// Who owed (graph index).
    pub debtor: u32,
    /// The claim's amount.
    pub amount: U128,
    /// What was paid (less when pro rata).
    pub paid: U128,
}

/// A partition check's outcome as events carry it: the side's size and
/// stake, never its node list (a call's logs are capped at 16 KiB; the nodes
/// go out in bounded `node_partitioned` batches).
#[near(serializers = [json])]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeSummary {
    /// `connected`, `partitioned` or `tie`.
    pub kind: String,
    /// Nodes on the partitioned side (0 otherwise).
    pub nodes: u32,
    /// The partitioned side's stake, or each side's stake on a tie.
    pub stake: U128,
}

impl From<&Outcome> for OutcomeSummary {
    fn from(o: &Outcome) -> Self {
        match o {
            Outcome::Connected => OutcomeSummary { kind: "connected".into(), nodes: 0, stake: U128(0) },
            Outcome::Partitioned { nodes, stake } => {
                OutcomeSummary { kind: "partitioned".into(), nodes: nodes.len() as u32, stake: U128(*stake) }
            }
            Outcome::Tie { stake } => OutcomeSummary { kind: "tie".into(), nodes: 0, stake: U128(*stake) },
        }
    }
}

/// Every event the contract emits.
#[near(event_json(standard = "por"))]
#[derive(Debug, Clone)]
pub enum Event {
    /// The owner submitted a new config; it takes effect at
    /// `effective_ms` (nodes schedule the change for then).
    #[event_version("1.0.0")]
    ConfigProposed {
        /// The config submitted.
        config: Config,
        /// When it takes effect (block time, ms).
        effective_ms: u64,
        /// Whether it replaces a config that was still pending.
        replaces: bool,
    },
    /// A submitted config took effect (emitted by the first call at or
    /// after its time).
    #[event_version("1.0.0")]
    ConfigUpdated {
        /// The config now in force.
        config: Config,
        /// When it took effect (block time, ms).
        effective_ms: u64,
    },
    /// A node registered.
    #[event_version("1.0.0")]
    NodeRegistered {
        /// Its account.
        account_id: AccountId,
        /// Its graph index.
        index: u32,
        /// Its node key.
        node_key: NodeKey,
        /// Its stake.
        stake: U128,
        /// Its promised service time.
        service_ms: u64,
    },
    /// A node added stake.
    #[event_version("1.0.0")]
    StakeAdded {
        /// Its account.
        account_id: AccountId,
        /// Its graph index.
        index: u32,
        /// The amount added.
        amount: U128,
        /// The stake now.
        stake: U128,
    },
    /// A node left; its stake went to its withdrawable balance.
    #[event_version("1.0.0")]
    NodeLeft {
        /// Its account.
        account_id: AccountId,
        /// Its graph index (never reused).
        index: u32,
        /// Stake credited to its balance.
        returned: U128,
    },
    /// A partitioned node is active again.
    #[event_version("1.0.0")]
    NodeRejoined {
        /// Its account.
        account_id: AccountId,
        /// Its graph index.
        index: u32,
        /// Its stake.
        stake: U128,
    },
    /// A channel was proposed (not yet an edge).
    #[event_version("1.0.0")]
    ChannelProposed {
        /// The channel.
        channel_id: u64,
        /// The opener's index.
        a: u32,
        /// The peer's index.
        b: u32,
        /// The opener.
        a_account: AccountId,
        /// The peer.
        b_account: AccountId,
        /// The edge parameters.
        params: EdgeParams,
        /// The opener's deposit.
        deposit_a: U128,
    },
    /// The peer confirmed: the channel is an edge of the graph.
    #[event_version("1.0.0")]
    ChannelOpened {
        /// The channel.
        channel_id: u64,
        /// The opener's index.
        a: u32,
        /// The peer's index.
        b: u32,
        /// The opener's deposit.
        deposit_a: U128,
        /// The peer's deposit.
        deposit_b: U128,
    },
    /// The opener cancelled a proposal; its deposit went to its balance.
    #[event_version("1.0.0")]
    ProposalCancelled {
        /// The channel.
        channel_id: u64,
        /// Deposit credited to the opener.
        refunded: U128,
    },
    /// One side proposed a cooperative close.
    #[event_version("1.0.0")]
    CloseProposed {
        /// The channel.
        channel_id: u64,
        /// The proposer.
        proposer: AccountId,
        /// What the other side paid the proposer (its voucher).
        paid_to_proposer: U128,
    },
    /// A cooperative close was confirmed: the edge left the graph.
    #[event_version("1.0.0")]
    ChannelClosed {
        /// The channel.
        channel_id: u64,
        /// Credited to the opener.
        credit_a: U128,
        /// Credited to the peer.
        credit_b: U128,
    },
    /// One side severed the channel: the edge left the graph.
    #[event_version("1.0.0")]
    ChannelSevered {
        /// The channel.
        channel_id: u64,
        /// Who severed.
        severer: AccountId,
        /// The other side.
        other: AccountId,
        /// What the severer's stake paid.
        penalty_severer: U128,
        /// What the other side's stake paid.
        penalty_other: U128,
        /// When `finalize` becomes possible.
        challenge_deadline_ms: u64,
    },
    /// A reimbursement claim was created.
    #[event_version("1.0.0")]
    ClaimCreated {
        /// The claim.
        claim_id: u64,
        /// Who is owed.
        creditor: AccountId,
        /// Who owes (if it ends up partitioned).
        debtor: AccountId,
        /// The amount.
        amount: U128,
        /// The severed channel.
        channel_id: u64,
        /// When it lapses.
        expires_ms: u64,
    },
    /// A better voucher was submitted during the challenge window.
    #[event_version("1.0.0")]
    VoucherSubmitted {
        /// The channel.
        channel_id: u64,
        /// The voucher's payer.
        payer: AccountId,
        /// Its cumulative amount.
        cumulative: U128,
    },
    /// A severed channel was settled after its challenge window.
    #[event_version("1.0.0")]
    ChannelFinalized {
        /// The channel.
        channel_id: u64,
        /// Credited to the opener.
        credit_a: U128,
        /// Credited to the peer.
        credit_b: U128,
    },
    /// A partition check advanced (or finished its search).
    #[event_version("1.0.0")]
    PartitionCheck {
        /// The severed channel it checks.
        channel_id: u64,
        /// `search`, `slash`, `tally`, `pay` or `done`.
        phase: String,
        /// Search work so far.
        work: u64,
        /// The search's outcome, once known (size and stake only).
        outcome: Option<OutcomeSummary>,
    },
    /// A batch of nodes of the smaller side was slashed and marked partitioned.
    #[event_version("1.0.0")]
    NodePartitioned {
        /// The severed channel that split the graph.
        channel_id: u64,
        /// The nodes of this batch.
        nodes: Vec<u32>,
        /// What this batch lost in all.
        slashed: U128,
    },
    /// A batch of claims was paid out of the partitioned side's slashed
    /// stake (one event per call, to stay within the log limits).
    #[event_version("1.0.0")]
    ClaimsPaid {
        /// The severed channel that split the graph.
        channel_id: u64,
        /// The claims paid in this call.
        claims: Vec<PaidClaim>,
    },
    /// Claims lapsed (older than `claim_ttl_ms`) and were dropped.
    #[event_version("1.0.0")]
    ClaimsLapsed {
        /// The claims.
        claim_ids: Vec<u64>,
        /// Their amounts in all.
        amount: U128,
    },
    /// A partition was settled.
    #[event_version("1.0.0")]
    PartitionSettled {
        /// The severed channel that split the graph.
        channel_id: u64,
        /// Nodes partitioned.
        nodes: u32,
        /// Stake slashed in all.
        slashed: U128,
        /// Paid to claims.
        reimbursed: U128,
        /// The rest, to the treasury.
        to_treasury: U128,
    },
    /// A severance split the graph: the split waits for its reconnection
    /// window; `settle` is possible from `settle_after_ms` on.
    #[event_version("1.0.0")]
    SplitRecorded {
        /// The severed channel.
        channel_id: u64,
        /// Who severed.
        severer: AccountId,
        /// The other end.
        other: AccountId,
        /// Nodes on the smaller side at the severance.
        nodes: u32,
        /// Their stake then.
        stake: U128,
        /// When `settle` becomes possible.
        settle_after_ms: u64,
    },
    /// A split was settled: `outcome` is the check made at `settle`
    /// (`connected` or `tie`: nobody slashed; `partitioned`: slashed and
    /// claims paid, see `node_partitioned`, `claims_paid`,
    /// `partition_settled`).
    #[event_version("1.0.0")]
    SplitSettled {
        /// The severed channel.
        channel_id: u64,
        /// What the check at settle found.
        outcome: OutcomeSummary,
    },
    /// An account withdrew from its balance.
    #[event_version("1.0.0")]
    Withdrawn {
        /// The account.
        account_id: AccountId,
        /// The amount transferred.
        amount: U128,
    },
    /// The owner moved treasury funds to its balance.
    #[event_version("1.0.0")]
    TreasuryWithdrawn {
        /// The amount.
        amount: U128,
    },
}
