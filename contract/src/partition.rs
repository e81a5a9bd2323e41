//! The partition check that follows every severance, and the settlement of
//! a partition (slashing, pro-rata claim payment): storage glue around
//! por-core's [`Check`] (the rules are there, shared with the simulator).
//!
//! [`Store`] implements por-core's [`SettlementStore`] over the contract's
//! storage, reading only the small per-node records it needs: the
//! adjacency list of a node the search expands and the [`NodeState`](crate::nodes::NodeState)
//! (stake, status) of a neighbour it meets; it turns the rules'
//! [`SettleEvent`]s into NEP-297 events.
//!
//! Checks are of two kinds. A severance's check (`sever`) only searches; a
//! split it finds is recorded and waits for its reconnection window (see
//! [`crate::splits`]). A settle's check (`settle`) searches again and, if
//! the ends are still apart, settles. One check may be pending at a time;
//! while it is, every call that would change the graph, the stakes or the
//! claims is refused, so the stored state always matches the graph. A
//! pending check goes through up to four phases, continued by
//! `continue_partition_check`, which anyone may call:
//! 1. `search`: the search proper;
//! 2. `slash` (settle only): the smaller side's nodes lose the
//!    `partition_slash_bps` in force at the severance into a pool and are
//!    marked partitioned (`settle_batch` nodes per call, one event each
//!    call);
//! 3. `tally`: the claims owed by the side's nodes are walked with a cursor;
//!    those lapsed at the `settle` call are dropped, those held by nodes
//!    outside the side are summed;
//! 4. `pay`: the same walk again pays each of those claims in full when the
//!    pool covers their sum, else `amount · pool / sum` (rounded down), at
//!    most `settle_batch` claims per call. What is left of the pool goes to
//!    the treasury.
//!
//! **Work per call.** Every phase spends from one allowance per call of
//! `partition_step_budget` *storage reads* (a search reads one adjacency
//! list per node expanded and one 17-byte node state per node met; a claim
//! walk one record per queue position; a payment about four), capped at
//! [`MAX_STEP_BUDGET`]. The search's in-memory work (neighbours looked at,
//! por-core's unit) is capped at [`SEARCH_WORK_PER_READ`] times the
//! allowance. So a call's gas is bounded by the budget, not by the size of
//! the graph or the number of claims; only the stored search state (about 8
//! bytes per visited node, read and written once per call) grows with the
//! walked side.
//!
//! Tie rule (from por-core): two complete sides of exactly equal stake
//! partition nobody.

use std::cell::Cell;

use near_sdk::json_types::U128;
use near_sdk::{AccountId, near};
use por_core::settlement::{
    Check, Claim, ClaimKey, ClaimQueue, Pot, Role, Rules, SettleEvent, SettlementStore, StepResult,
};
use por_core::{GraphView, NodeIdx, Outcome};

use crate::Contract;
use crate::claims::emit_lapsed;
use crate::events::{Event, OutcomeSummary, PaidClaim};
use crate::nodes::NodeStatus;

pub use por_core::settlement::{MAX_LAPSED_PER_CALL, PAY_READS, SEARCH_WORK_PER_READ, mul_div};

/// Hard cap on `partition_step_budget` (storage reads per call): a larger
/// configured value is treated as this one, so a config mistake cannot make
/// every continuation run out of gas and freeze the check.
pub const MAX_STEP_BUDGET: u64 = 1_500;

/// A pending partition check as stored: por-core's check state.
pub type PendingCheck = Check;

/// The contract's storage as por-core's settlement sees it; counts the
/// storage reads the search makes (an upper bound: near-sdk caches records
/// read twice in one call).
pub struct Store<'a> {
    c: &'a mut Contract,
    reads: Cell<u64>,
}

impl<'a> Store<'a> {
    /// The store over `c`, no reads counted yet.
    pub fn new(c: &'a mut Contract) -> Self {
        Store { c, reads: Cell::new(0) }
    }

    fn count(&self) {
        self.reads.set(self.reads.get() + 1);
    }

    fn account(&self, n: NodeIdx) -> AccountId {
        self.c.rec(n).account_id.clone()
    }
}

impl GraphView for Store<'_> {
    fn neighbors(&self, n: NodeIdx, out: &mut Vec<NodeIdx>) {
        self.count();
        if let Some(adj) = self.c.adj.get(n) {
            out.extend(adj.iter().map(|e| e.peer));
        }
    }
    fn stake(&self, n: NodeIdx) -> u128 {
        self.count();
        self.c.states.get(n).map_or(0, |s| s.stake)
    }
}

impl SettlementStore for Store<'_> {
    fn transfer(&mut self, from: Pot, to: Pot, amount: u128) {
        if amount == 0 {
            return;
        }
        let c = &mut *self.c;
        match from {
            Pot::Stake(n) => {
                c.state_mut(n).stake -= amount;
                c.total_stake -= amount;
            }
            Pot::Balance(n) => {
                let acc = c.rec(n).account_id.clone();
                c.debit(&acc, amount);
            }
            Pot::Treasury => c.treasury -= amount,
            Pot::Reserve => c.storage_reserve -= amount,
            Pot::Pool => c.partition_pool -= amount,
        }
        match to {
            Pot::Stake(n) => {
                c.state_mut(n).stake += amount;
                c.total_stake += amount;
            }
            Pot::Balance(n) => {
                let acc = c.rec(n).account_id.clone();
                c.credit(&acc, amount);
            }
            Pot::Treasury => c.treasury += amount,
            Pot::Reserve => c.storage_reserve += amount,
            Pot::Pool => c.partition_pool += amount,
        }
    }
    fn mark_partitioned(&mut self, n: NodeIdx) {
        self.c.state_mut(n).status = NodeStatus::Partitioned;
    }
    fn queue(&self, n: NodeIdx, role: Role) -> ClaimQueue {
        let r = self.c.rec(n);
        match role {
            Role::Owed => r.owed,
            Role::Held => r.held,
        }
    }
    fn set_queue(&mut self, n: NodeIdx, role: Role, q: ClaimQueue) {
        let r = self.c.rec_mut(n);
        match role {
            Role::Owed => r.owed = q,
            Role::Held => r.held = q,
        }
    }
    fn claim(&self, key: ClaimKey) -> Option<Claim> {
        self.c.claims.get(&key).cloned()
    }
    fn insert_claim(&mut self, key: ClaimKey, claim: Claim) {
        self.c.claims.insert(key, claim);
    }
    fn take_claim(&mut self, key: ClaimKey) -> Option<Claim> {
        self.c.claims.remove(&key)
    }
    fn held(&self, key: ClaimKey) -> Option<ClaimKey> {
        self.c.held.get(&key).copied()
    }
    fn insert_held(&mut self, key: ClaimKey, target: ClaimKey) {
        self.c.held.insert(key, target);
    }
    fn remove_held(&mut self, key: ClaimKey) {
        self.c.held.remove(&key);
    }
    fn next_claim_id(&mut self) -> u64 {
        let id = self.c.next_claim;
        self.c.next_claim += 1;
        id
    }
    fn reads(&self) -> u64 {
        self.reads.get()
    }
    fn emit(&mut self, event: SettleEvent) {
        match event {
            SettleEvent::ClaimCreated(claim) => Event::ClaimCreated {
                claim_id: claim.id,
                creditor: self.account(claim.creditor),
                debtor: self.account(claim.debtor),
                amount: U128(claim.amount),
                channel_id: claim.channel,
                expires_ms: claim.expires_ms,
            }
            .emit(),
            SettleEvent::ClaimsLapsed(lapsed) => emit_lapsed(lapsed),
            SettleEvent::NodesPartitioned { channel, nodes, slashed } => {
                self.c.bump_graph();
                Event::NodePartitioned { channel_id: channel, nodes, slashed: U128(slashed) }.emit();
            }
            SettleEvent::ClaimsPaid { channel, claims } => Event::ClaimsPaid {
                channel_id: channel,
                claims: claims
                    .into_iter()
                    .map(|p| PaidClaim {
                        claim_id: p.claim_id,
                        creditor: p.creditor,
                        debtor: p.debtor,
                        amount: U128(p.amount),
                        paid: U128(p.paid),
                    })
                    .collect(),
            }
            .emit(),
            SettleEvent::PartitionSettled { channel, nodes, slashed, reimbursed, to_treasury } => {
                Event::PartitionSettled {
                    channel_id: channel,
                    nodes,
                    slashed: U128(slashed),
                    reimbursed: U128(reimbursed),
                    to_treasury: U128(to_treasury),
                }
                .emit()
            }
        }
    }
}

/// Where a partition check stands (returned by `sever`,
/// `continue_partition_check` and the `partition_check` view).
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckStatus {
    /// The severed channel checked.
    pub channel_id: u64,
    /// `sever` (the check after a severance: it only searches) or `settle`
    /// (the check of a recorded split at `settle`: it slashes and pays).
    pub kind: String,
    /// `search`, `slash`, `tally`, `pay`, or `done` (nothing pending any more).
    pub phase: String,
    /// Search work so far (por-core units).
    pub work: u64,
    /// Storage reads spent so far, all phases.
    pub reads: u64,
    /// The search's outcome once known.
    pub outcome: Option<Outcome>,
}

impl CheckStatus {
    /// The status of `p`.
    pub fn of(p: &Check) -> Self {
        CheckStatus {
            channel_id: p.channel,
            kind: if p.settles { "settle" } else { "sever" }.to_string(),
            phase: p.phase().name().to_string(),
            work: p.work,
            reads: p.reads,
            outcome: p.outcome.clone(),
        }
    }

    /// Emits the `partition_check` event for this status (size and stake of
    /// the outcome only, never its node list).
    fn emit(&self) {
        Event::PartitionCheck {
            channel_id: self.channel_id,
            phase: self.phase.clone(),
            work: self.work,
            outcome: self.outcome.as_ref().map(OutcomeSummary::from),
        }
        .emit();
    }
}

impl Contract {
    /// Refuses a graph change while a check is pending.
    pub(crate) fn require_no_check(&self, what: &str) {
        if let Some(c) = self.check_channel {
            near_sdk::env::panic_str(&format!(
                "{what}: a partition check (after the severance of channel {c}) is pending and the graph cannot change until it ends; call continue_partition_check (anyone may) until the view partition_check returns null, then retry"
            ));
        }
    }

    /// Bumps the graph version.
    pub(crate) fn bump_graph(&mut self) {
        self.graph_version += 1;
    }

    /// The settlement rules of the config in force.
    pub(crate) fn rules(&self) -> Rules {
        Rules {
            half_penalty: self.config.half_penalty(),
            claim_storage_fee: self.config.claim_storage_fee.0,
            claim_ttl_ms: self.config.claim_ttl_ms,
            step_budget: self.config.partition_step_budget.clamp(2, MAX_STEP_BUDGET),
            settle_batch: self.config.settle_batch,
        }
    }

    /// Starts the check after channel `channel` between `s` and `o` left
    /// the graph at `now_ms` and runs its first bounded step. It only
    /// searches: a split it finds is recorded and settled later.
    pub(crate) fn start_check(&mut self, channel: u64, s: u32, o: u32, now_ms: u64) -> CheckStatus {
        let bps = self.config.partition_slash_bps;
        let mut check = Check::new(&Store::new(self), channel, s, o, now_ms, bps, false);
        check.deadline_ms = now_ms.saturating_add(self.config.reconnect_window_ms);
        self.check_channel = Some(channel);
        self.run_check(check)
    }

    /// `continue_partition_check`.
    pub(crate) fn do_continue(&mut self) -> CheckStatus {
        let Some(pending) = self.check.take() else {
            near_sdk::env::panic_str("continue_partition_check: no partition check is pending; nothing to do")
        };
        self.run_check(pending)
    }

    /// The pending check, if any, as a status.
    pub(crate) fn check_status(&self) -> Option<CheckStatus> {
        self.check.get().as_ref().map(CheckStatus::of)
    }

    /// Advances `p` by one call's allowance and stores it (or clears it when
    /// finished: a severance's check that found a split records it, a
    /// settling check announces its end).
    pub(crate) fn run_check(&mut self, mut p: Check) -> CheckStatus {
        let rules = self.rules();
        let done = p.step(&mut Store::new(self), &rules);
        let status = CheckStatus::of(&p);
        if done == StepResult::Pending {
            status.emit();
            self.check.set(Some(p));
            return status;
        }
        self.check.set(None);
        self.check_channel = None;
        status.emit();
        if p.settles {
            self.split_settled(&p);
        } else {
            self.record_split(&p);
        }
        status
    }
}
