//! The check that follows a severance, or settles a recorded split, in
//! bounded resumable steps.
//!
//! A [`Check`] goes through up to four phases, one call's allowance at a
//! time ([`Check::step`]):
//! 1. `search`: the partition search ([`PartitionCheck`]) between the two
//!    ends of the severed channel;
//! 2. `slash`: when the search found a partitioned side and the check was
//!    made to settle, the side's nodes lose `slash_bps` of their stake into
//!    [`Pot::Pool`] and are marked partitioned (`settle_batch` nodes per
//!    call, one event per batch). A node still partitioned from an earlier
//!    settlement is slashed again: the claims of the later cuts are paid out
//!    of this slash;
//! 3. `tally`: the claims owed by the side's nodes are walked with a
//!    cursor; those lapsed at the check's time are dropped, those held by
//!    nodes outside the side are summed;
//! 4. `pay`: the same walk again pays each of those claims in full when the
//!    pool covers their sum, else `amount · pool / sum` (rounded down), at
//!    most `settle_batch` claims per call. What is left of the pool goes to
//!    the treasury, only then.
//!
//! **Work per call.** Every phase spends from one allowance per call of
//! `step_budget` *storage reads*: the search what the store counts
//! ([`SettlementStore::reads`]: one adjacency list per node expanded and one
//! node state per node met), a claim walk one per queue position, a payment
//! [`PAY_READS`]. The search's in-memory work (neighbours looked at, the
//! partition search's unit) is capped at [`SEARCH_WORK_PER_READ`] times the
//! allowance. So a call's work is bounded by the budget, not by the size of
//! the graph or the number of claims. The outcome does not depend on the
//! budget (tested).

use super::claims::{emit_lapsed, remove_claim};
use super::{Claim, ClaimKey, PaidClaim, Pot, Role, Rules, SettleEvent, SettlementStore, mul_div};
use crate::graph::NodeIdx;
use crate::partition::{Outcome, PartitionCheck, Progress};
use crate::voucher::{Amount, ChannelId};

/// The search's in-memory work per storage read allowed in one call.
pub const SEARCH_WORK_PER_READ: u64 = 8;

/// Most lapsed claims one call drops while tallying (their ids go into one
/// event; a contract call's logs are limited to 16 KiB).
pub const MAX_LAPSED_PER_CALL: usize = 100;

/// Storage reads a claim payment counts for (the claim, the held entry,
/// the creditor's record, its balance).
pub const PAY_READS: u64 = 4;

/// Which part of a check runs next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckPhase {
    /// The partition search.
    Search,
    /// Slashing the partitioned side's nodes.
    Slash,
    /// Summing the claims to pay.
    Tally,
    /// Paying them.
    Pay,
    /// Nothing left to do.
    Done,
}

impl CheckPhase {
    /// Its name in views and events.
    pub fn name(self) -> &'static str {
        match self {
            CheckPhase::Search => "search",
            CheckPhase::Slash => "slash",
            CheckPhase::Tally => "tally",
            CheckPhase::Pay => "pay",
            CheckPhase::Done => "done",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "borsh", derive(borsh::BorshSerialize, borsh::BorshDeserialize))]
enum SettlePhase {
    Slash,
    Tally,
    Pay,
}

/// Settling a partition after the search found the smaller side.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "borsh", derive(borsh::BorshSerialize, borsh::BorshDeserialize))]
struct Settlement {
    phase: SettlePhase,
    /// Cursor: index into the side's node list.
    next_node: u32,
    /// Cursor: position in that node's owed queue (tally and pay).
    next_pos: u32,
    /// Stake slashed so far.
    pool: Amount,
    /// Sum of the claims to pay (known after the tally).
    claimed: Amount,
    /// Paid so far.
    paid: Amount,
    /// Claims paid so far.
    claims_paid: u32,
}

/// A check in progress: plain data, stored between calls.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "borsh", derive(borsh::BorshSerialize, borsh::BorshDeserialize))]
pub struct Check {
    /// The severed channel.
    pub channel: u64,
    /// Its two ends (severer first).
    pub ends: (NodeIdx, NodeIdx),
    /// When the check started: claims lapsed by then are not paid.
    pub at_ms: u64,
    /// Share of stake a partitioned node loses, basis points.
    pub slash_bps: u32,
    /// Whether a partition found is settled (slashed and paid) by this
    /// check; if not, the check ends with the search's outcome.
    pub settles: bool,
    /// A time the caller carries with the check and the check never reads
    /// (the contract: when a split this check finds may be settled, fixed
    /// by the config in force when the check started). 0 unless set.
    pub deadline_ms: u64,
    search: Option<PartitionCheck>,
    /// Search work spent (partition search units).
    pub work: u64,
    /// Storage reads spent by all phases.
    pub reads: u64,
    /// The search's outcome, once known.
    pub outcome: Option<Outcome>,
    settlement: Option<Settlement>,
}

/// What one step left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepResult {
    /// More steps are needed: store the check and continue it later.
    Pending,
    /// Finished: [`Check::outcome`] is known and any settlement is done.
    Done,
}

/// One call's allowance of storage reads, shared by the phases.
struct Allowance(u64);

impl Allowance {
    fn take(&mut self, n: u64) -> bool {
        if self.0 == 0 {
            return false;
        }
        self.0 = self.0.saturating_sub(n);
        true
    }
}

impl Check {
    /// A check of the channel `channel` between `severer` and `other`, which
    /// must already be out of the store's graph, started at `at_ms`. With
    /// `settles`, a partitioned side is slashed by `slash_bps` and the
    /// claims on it are paid.
    pub fn new<S: SettlementStore>(
        store: &S,
        channel: u64,
        severer: NodeIdx,
        other: NodeIdx,
        at_ms: u64,
        slash_bps: u32,
        settles: bool,
    ) -> Self {
        let r0 = store.reads();
        let search = PartitionCheck::new(ChannelId(channel), severer, other, store);
        Check {
            channel,
            ends: (severer, other),
            at_ms,
            slash_bps,
            settles,
            deadline_ms: 0,
            search: Some(search),
            work: 0,
            reads: store.reads() - r0,
            outcome: None,
            settlement: None,
        }
    }

    /// What runs next.
    pub fn phase(&self) -> CheckPhase {
        match (&self.search, &self.settlement) {
            (Some(_), _) => CheckPhase::Search,
            (None, Some(s)) => match s.phase {
                SettlePhase::Slash => CheckPhase::Slash,
                SettlePhase::Tally => CheckPhase::Tally,
                SettlePhase::Pay => CheckPhase::Pay,
            },
            (None, None) => CheckPhase::Done,
        }
    }

    /// Nodes of the partitioned side, when the outcome is a partition.
    pub fn partitioned(&self) -> Option<&[NodeIdx]> {
        match &self.outcome {
            Some(Outcome::Partitioned { nodes, .. }) => Some(nodes),
            _ => None,
        }
    }

    /// Advances by one call's allowance (`rules.step_budget` storage
    /// reads). The store's graph must not change between steps.
    pub fn step<S: SettlementStore>(&mut self, store: &mut S, rules: &Rules) -> StepResult {
        let allowance = rules.step_budget.max(2);
        let mut left = Allowance(allowance);
        if let Some(mut search) = self.search.take() {
            let progress = search_step(store, &mut search, &mut left);
            self.work = search.work;
            match progress {
                Progress::Pending => {
                    self.search = Some(search);
                    self.reads += allowance - left.0;
                    return StepResult::Pending;
                }
                Progress::Done(out) => {
                    if self.settles && matches!(out, Outcome::Partitioned { .. }) {
                        self.settlement = Some(Settlement {
                            phase: SettlePhase::Slash,
                            next_node: 0,
                            next_pos: 0,
                            pool: 0,
                            claimed: 0,
                            paid: 0,
                            claims_paid: 0,
                        });
                    }
                    self.outcome = Some(out);
                }
            }
        }
        if let Some(mut st) = self.settlement.take() {
            let nodes = match self.outcome.take() {
                Some(Outcome::Partitioned { nodes, stake }) => (nodes, stake),
                _ => unreachable!("a settlement runs only after a partition"),
            };
            let finished = self.settle_step(store, rules, &nodes.0, &mut st, &mut left);
            self.reads += allowance - left.0;
            let count = nodes.0.len() as u32;
            self.outcome = Some(Outcome::Partitioned { nodes: nodes.0, stake: nodes.1 });
            if !finished {
                self.settlement = Some(st);
                return StepResult::Pending;
            }
            let rest = st.pool - st.paid;
            store.transfer(Pot::Pool, Pot::Treasury, rest);
            store.emit(SettleEvent::PartitionSettled {
                channel: self.channel,
                nodes: count,
                slashed: st.pool,
                reimbursed: st.paid,
                to_treasury: rest,
            });
        } else {
            self.reads += allowance - left.0;
        }
        StepResult::Done
    }

    /// Runs the settlement's phases within the allowance; true when done.
    fn settle_step<S: SettlementStore>(
        &self,
        store: &mut S,
        rules: &Rules,
        nodes: &[NodeIdx],
        st: &mut Settlement,
        left: &mut Allowance,
    ) -> bool {
        if st.phase == SettlePhase::Slash {
            self.slash_batch(store, rules, nodes, st, left);
            if (st.next_node as usize) < nodes.len() {
                return false;
            }
            st.phase = SettlePhase::Tally;
            (st.next_node, st.next_pos) = (0, 0);
        }
        if st.phase == SettlePhase::Tally {
            let at_ms = self.at_ms;
            let mut lapsed = Vec::new();
            // Every claim held outside the side: drop it if it has lapsed,
            // else count it.
            let walked = walk_claims(store, nodes, st, left, 1, |store, st, key, claim| {
                if claim.lapsed(at_ms) {
                    if lapsed.len() >= MAX_LAPSED_PER_CALL {
                        return false;
                    }
                    let claim = remove_claim(store, key).expect("the claim was just read");
                    lapsed.push((claim.id, claim.amount));
                } else {
                    st.claimed += claim.amount;
                }
                true
            });
            emit_lapsed(store, lapsed);
            if !walked {
                return false;
            }
            st.phase = SettlePhase::Pay;
            (st.next_node, st.next_pos) = (0, 0);
        }
        let batch = rules.settle_batch.max(1) as usize;
        let mut done = Vec::new();
        let walked = st.claimed == 0
            || walk_claims(store, nodes, st, left, PAY_READS, |store, st, key, claim| {
                if done.len() >= batch {
                    return false;
                }
                let amount = claim.amount;
                let paid = if st.pool >= st.claimed { amount } else { mul_div(amount, st.pool, st.claimed) };
                let claim = remove_claim(store, key).expect("the claim was just read");
                store.transfer(Pot::Pool, Pot::Balance(claim.creditor), paid);
                st.paid += paid;
                st.claims_paid += 1;
                done.push(PaidClaim {
                    claim_id: claim.id,
                    creditor: claim.creditor,
                    debtor: claim.debtor,
                    amount,
                    paid,
                });
                true
            });
        if !done.is_empty() {
            store.emit(SettleEvent::ClaimsPaid { channel: self.channel, claims: done });
        }
        walked
    }

    /// Slashes up to `settle_batch` nodes of the smaller side.
    fn slash_batch<S: SettlementStore>(
        &self,
        store: &mut S,
        rules: &Rules,
        nodes: &[NodeIdx],
        st: &mut Settlement,
        left: &mut Allowance,
    ) {
        let batch = rules.settle_batch.max(1) as usize;
        let mut done = Vec::new();
        let mut slashed = 0u128;
        while done.len() < batch && (st.next_node as usize) < nodes.len() && left.take(1) {
            let n = nodes[st.next_node as usize];
            st.next_node += 1;
            let cut = mul_div(store.stake(n), self.slash_bps.min(10_000) as u128, 10_000);
            store.transfer(Pot::Stake(n), Pot::Pool, cut);
            store.mark_partitioned(n);
            st.pool += cut;
            slashed += cut;
            done.push(n);
        }
        if !done.is_empty() {
            store.emit(SettleEvent::NodesPartitioned { channel: self.channel, nodes: done, slashed });
        }
    }
}

/// Runs the search for at most the allowance's storage reads; returns its
/// progress and leaves the rest of the allowance in `left`.
fn search_step<S: SettlementStore>(store: &S, search: &mut PartitionCheck, left: &mut Allowance) -> Progress {
    let r0 = store.reads();
    let budget = left.0;
    let work_cap = budget.saturating_mul(SEARCH_WORK_PER_READ);
    let work0 = search.work;
    let progress = loop {
        let used = store.reads() - r0;
        let reads_left = budget.saturating_sub(used);
        let work_left = work_cap.saturating_sub(search.work - work0);
        let chunk = reads_left.min(work_left);
        // The search needs 2 units to expand a node; the first round always
        // runs, so every call makes progress.
        if chunk < 2 && search.work > work0 {
            break Progress::Pending;
        }
        match search.step(store, chunk.max(2)) {
            Progress::Pending => continue,
            done => break done,
        }
    };
    left.0 = budget.saturating_sub(store.reads() - r0);
    progress
}

/// Walks the claims owed by the side's `nodes` from the settlement's
/// cursor, calling `f` on each claim held by a node outside the side. One
/// read per queue position and per node entered, plus `per_claim` per call
/// of `f`. Stops when `f` returns false (the cursor stays on that claim) or
/// the allowance is spent; true when the walk reached the end.
fn walk_claims<S: SettlementStore>(
    store: &mut S,
    nodes: &[NodeIdx],
    st: &mut Settlement,
    left: &mut Allowance,
    per_claim: u64,
    mut f: impl FnMut(&mut S, &mut Settlement, ClaimKey, Claim) -> bool,
) -> bool {
    loop {
        let Some(&n) = nodes.get(st.next_node as usize) else { return true };
        if !left.take(1) {
            return false;
        }
        let q = store.queue(n, Role::Owed);
        st.next_pos = st.next_pos.max(q.head);
        if st.next_pos >= q.tail {
            (st.next_node, st.next_pos) = (st.next_node + 1, 0);
            continue;
        }
        let key = ClaimKey { node: n, pos: st.next_pos };
        if let Some(claim) = store.claim(key)
            && nodes.binary_search(&claim.creditor).is_err()
            && (!left.take(per_claim) || !f(store, st, key, claim))
        {
            return false;
        }
        st.next_pos += 1;
    }
}
