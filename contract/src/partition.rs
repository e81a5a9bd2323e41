//! The partition check that follows every severance, and the settlement of
//! a partition (slashing, pro-rata claim payment).
//!
//! The search is por-core's [`PartitionCheck`] (shared with the simulator),
//! run over the contract's storage through [`StoreGraph`], which reads only
//! the small per-node records it needs: the adjacency list of a node it
//! expands and the [`NodeState`] (stake, status) of a neighbour it meets.
//! One check may be pending at a time; while it is, every call that would
//! change the graph, the stakes or the claims is refused, so the stored
//! state always matches the graph. A pending check goes through up to four
//! phases, continued by `continue_partition_check`, which anyone may call:
//! 1. `search`: the search proper;
//! 2. `slash`: the smaller side's nodes lose the `partition_slash_bps` in
//!    force at the severance into a pool and are marked partitioned
//!    (`settle_batch` nodes per call, one event each call);
//! 3. `tally`: the claims owed by the side's nodes are walked with a cursor;
//!    those that had lapsed at the severance are dropped, those held by nodes
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
use near_sdk::store::Vector;
use near_sdk::{AccountId, near};
use por_core::{GraphView, NodeIdx, Outcome, PartitionCheck, Progress};

use crate::Contract;
use crate::claims::{Claim, ClaimKey, emit_lapsed};
use crate::events::{Event, OutcomeSummary, PaidClaim};
use crate::nodes::{AdjEntry, NodeState, NodeStatus};

/// Hard cap on `partition_step_budget` (storage reads per call): a larger
/// configured value is treated as this one, so a config mistake cannot make
/// every continuation run out of gas and freeze the check.
pub const MAX_STEP_BUDGET: u64 = 1_500;

/// The search's in-memory work (por-core units: adjacency lists fetched
/// plus neighbours looked at) per storage read allowed in one call.
pub const SEARCH_WORK_PER_READ: u64 = 8;

/// Most lapsed claims one call drops while tallying (their ids go into one
/// event; a call's logs are limited to 16 KiB).
pub const MAX_LAPSED_PER_CALL: usize = 100;

/// Storage reads a claim payment counts for (the claim, the held entry,
/// the creditor's record, its balance).
pub const PAY_READS: u64 = 4;

/// The graph as stored: adjacency lists and node states, each node's in its
/// own record; counts the storage reads it makes.
pub struct StoreGraph<'a> {
    states: &'a Vector<NodeState>,
    adj: &'a Vector<Vec<AdjEntry>>,
    reads: Cell<u64>,
}

impl<'a> StoreGraph<'a> {
    /// The graph over these collections, no reads counted yet.
    pub fn new(states: &'a Vector<NodeState>, adj: &'a Vector<Vec<AdjEntry>>) -> Self {
        StoreGraph { states, adj, reads: Cell::new(0) }
    }

    /// Storage reads made so far (an upper bound: near-sdk caches records
    /// read twice in one call).
    pub fn reads(&self) -> u64 {
        self.reads.get()
    }
}

impl GraphView for StoreGraph<'_> {
    fn neighbors(&self, n: NodeIdx, out: &mut Vec<NodeIdx>) {
        self.reads.set(self.reads.get() + 1);
        if let Some(adj) = self.adj.get(n) {
            out.extend(adj.iter().map(|e| e.peer));
        }
    }
    fn stake(&self, n: NodeIdx) -> u128 {
        self.reads.set(self.reads.get() + 1);
        self.states.get(n).map_or(0, |s| s.stake)
    }
}

/// Which part of a settlement is running.
#[near(serializers = [borsh])]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettlePhase {
    /// Slashing the side's nodes.
    Slash,
    /// Summing the claims to pay.
    Tally,
    /// Paying them.
    Pay,
}

/// Settling a partition after the search found the smaller side (the
/// side's nodes are the pending check's outcome).
#[near(serializers = [borsh])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// What runs now.
    pub phase: SettlePhase,
    /// Cursor: index into the side's node list.
    pub next_node: u32,
    /// Cursor: position in that node's owed queue (tally and pay).
    pub next_pos: u32,
    /// Stake slashed so far.
    pub pool: u128,
    /// Sum of the claims to pay (known after the tally).
    pub claimed: u128,
    /// Paid so far.
    pub paid: u128,
    /// Claims paid so far.
    pub claims_paid: u32,
}

/// A pending partition check.
#[near(serializers = [borsh])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingCheck {
    /// The severed channel.
    pub channel: u64,
    /// When it was severed: claims lapsed by then are not paid.
    pub at_ms: u64,
    /// `partition_slash_bps` in force at the severance.
    pub slash_bps: u32,
    /// The search, while it runs.
    pub search: Option<PartitionCheck>,
    /// Search work spent (por-core units).
    pub work: u64,
    /// Storage reads spent by all phases.
    pub reads: u64,
    /// The search's outcome, once known.
    pub outcome: Option<Outcome>,
    /// The settlement, once the outcome is a partition.
    pub settlement: Option<Settlement>,
}

impl PendingCheck {
    fn phase(&self) -> &'static str {
        match (&self.search, &self.settlement) {
            (Some(_), _) => "search",
            (None, Some(s)) => match s.phase {
                SettlePhase::Slash => "slash",
                SettlePhase::Tally => "tally",
                SettlePhase::Pay => "pay",
            },
            (None, None) => "done",
        }
    }

    fn status(&self) -> CheckStatus {
        CheckStatus {
            channel_id: self.channel,
            phase: self.phase().to_string(),
            work: self.work,
            reads: self.reads,
            outcome: self.outcome.clone(),
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

/// `floor(a · b / c)` without overflow, for `b ≤ c` (so the result fits).
pub fn mul_div(a: u128, b: u128, c: u128) -> u128 {
    assert!(c > 0 && b <= c, "mul_div needs 0 < c and b ≤ c");
    // 256-bit product.
    let (a1, a0) = (a >> 64, a & u64::MAX as u128);
    let (b1, b0) = (b >> 64, b & u64::MAX as u128);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & u64::MAX as u128) + (p10 & u64::MAX as u128);
    let lo = (p00 & u64::MAX as u128) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    // Long division, one bit at a time.
    let mut rem: u128 = 0;
    let mut q: u128 = 0;
    for i in (0..256u32).rev() {
        let bit = if i >= 128 { (hi >> (i - 128)) & 1 } else { (lo >> i) & 1 };
        let carry = rem >> 127;
        rem = (rem << 1) | bit;
        if carry == 1 || rem >= c {
            rem = rem.wrapping_sub(c);
            if i < 128 {
                q |= 1 << i;
            }
        }
    }
    q
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

    /// The storage reads one call may spend on a check.
    fn step_budget(&self) -> u64 {
        self.config.partition_step_budget.clamp(2, MAX_STEP_BUDGET)
    }

    /// Starts the check after channel `channel` between `s` and `o` left
    /// the graph at `now_ms` and runs its first bounded step.
    pub(crate) fn start_check(&mut self, channel: u64, s: u32, o: u32, now_ms: u64) -> CheckStatus {
        let g = StoreGraph::new(&self.states, &self.adj);
        let search = PartitionCheck::new(por_core::ChannelId(channel), s, o, &g);
        let pending = PendingCheck {
            channel,
            at_ms: now_ms,
            slash_bps: self.config.partition_slash_bps,
            search: Some(search),
            work: 0,
            reads: g.reads(),
            outcome: None,
            settlement: None,
        };
        self.check_channel = Some(channel);
        self.run_check(pending)
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
        self.check.get().as_ref().map(PendingCheck::status)
    }

    /// Runs the search for at most one call's allowance; returns its
    /// progress and leaves the rest of the allowance in `left`.
    fn search_step(&self, search: &mut PartitionCheck, left: &mut Allowance) -> Progress {
        let g = StoreGraph::new(&self.states, &self.adj);
        let budget = left.0;
        let work_cap = budget.saturating_mul(SEARCH_WORK_PER_READ);
        let work0 = search.work;
        let progress = loop {
            let reads_left = budget.saturating_sub(g.reads());
            let work_left = work_cap.saturating_sub(search.work - work0);
            let chunk = reads_left.min(work_left);
            // por-core needs 2 units to expand a node; the first round
            // always runs, so every call makes progress.
            if chunk < 2 && search.work > work0 {
                break Progress::Pending;
            }
            match search.step(&g, chunk.max(2)) {
                Progress::Pending => continue,
                done => break done,
            }
        };
        left.0 = budget.saturating_sub(g.reads());
        progress
    }

    /// Advances `p` by one call's allowance and stores it (or clears it when
    /// finished).
    fn run_check(&mut self, mut p: PendingCheck) -> CheckStatus {
        let mut left = Allowance(self.step_budget());
        let allowance = left.0;
        if let Some(mut search) = p.search.take() {
            let progress = self.search_step(&mut search, &mut left);
            p.work = search.work;
            match progress {
                Progress::Pending => {
                    p.search = Some(search);
                    p.reads += allowance - left.0;
                    return self.save_check(p);
                }
                Progress::Done(out) => {
                    if let Outcome::Partitioned { .. } = &out {
                        p.settlement = Some(Settlement {
                            phase: SettlePhase::Slash,
                            next_node: 0,
                            next_pos: 0,
                            pool: 0,
                            claimed: 0,
                            paid: 0,
                            claims_paid: 0,
                        });
                    }
                    p.outcome = Some(out);
                }
            }
        }
        if let Some(mut st) = p.settlement.take() {
            let nodes = match &p.outcome {
                Some(Outcome::Partitioned { nodes, .. }) => nodes,
                _ => near_sdk::env::panic_str("internal: settlement without a partition"),
            };
            let finished = self.settle_step(p.channel, p.at_ms, p.slash_bps, nodes, &mut st, &mut left);
            p.reads += allowance - left.0;
            if !finished {
                p.settlement = Some(st);
                return self.save_check(p);
            }
            let rest = st.pool - st.paid;
            self.partition_pool -= rest;
            self.treasury += rest;
            Event::PartitionSettled {
                channel_id: p.channel,
                nodes: nodes.len() as u32,
                slashed: U128(st.pool),
                reimbursed: U128(st.paid),
                to_treasury: U128(rest),
            }
            .emit();
        } else {
            p.reads += allowance - left.0;
        }
        self.check.set(None);
        self.check_channel = None;
        let status = CheckStatus { phase: "done".into(), ..p.status() };
        status.emit();
        status
    }

    fn save_check(&mut self, p: PendingCheck) -> CheckStatus {
        let status = p.status();
        status.emit();
        self.check.set(Some(p));
        status
    }

    /// Runs the settlement's phases within the allowance; true when done.
    fn settle_step(
        &mut self,
        channel: u64,
        at_ms: u64,
        bps: u32,
        nodes: &[u32],
        st: &mut Settlement,
        left: &mut Allowance,
    ) -> bool {
        if st.phase == SettlePhase::Slash {
            self.slash_batch(channel, bps, nodes, st, left);
            if (st.next_node as usize) < nodes.len() {
                return false;
            }
            st.phase = SettlePhase::Tally;
            (st.next_node, st.next_pos) = (0, 0);
        }
        if st.phase == SettlePhase::Tally {
            let mut lapsed = Vec::new();
            // Every claim held outside the side: drop it if it had lapsed at
            // the severance, else count it.
            let walked = self.walk_claims(nodes, st, left, 1, |c, st, key, claim| {
                if claim.lapsed(at_ms) {
                    if lapsed.len() >= MAX_LAPSED_PER_CALL {
                        return false;
                    }
                    let claim = c.remove_claim(key).unwrap_or_else(|| near_sdk::env::panic_str("internal: claim"));
                    lapsed.push((claim.id, claim.amount));
                } else {
                    st.claimed += claim.amount;
                }
                true
            });
            emit_lapsed(lapsed);
            if !walked {
                return false;
            }
            st.phase = SettlePhase::Pay;
            (st.next_node, st.next_pos) = (0, 0);
        }
        let batch = self.config.settle_batch as usize;
        let mut done = Vec::new();
        let walked = st.claimed == 0
            || self.walk_claims(nodes, st, left, PAY_READS, |c, st, key, claim| {
                if done.len() >= batch {
                    return false;
                }
                let amount = claim.amount;
                let paid = if st.pool >= st.claimed { amount } else { mul_div(amount, st.pool, st.claimed) };
                let claim = c.remove_claim(key).unwrap_or_else(|| near_sdk::env::panic_str("internal: claim"));
                let creditor: AccountId = c.rec(claim.creditor).account_id.clone();
                c.credit(&creditor, paid);
                c.partition_pool -= paid;
                st.paid += paid;
                st.claims_paid += 1;
                done.push(PaidClaim {
                    claim_id: claim.id,
                    creditor: claim.creditor,
                    debtor: claim.debtor,
                    amount: U128(amount),
                    paid: U128(paid),
                });
                true
            });
        if !done.is_empty() {
            Event::ClaimsPaid { channel_id: channel, claims: done }.emit();
        }
        walked
    }

    /// Walks the claims owed by the side's `nodes` from the settlement's
    /// cursor, calling `f` on each unpaid claim held by a node outside the
    /// side (a claim that had lapsed at `at_ms` included: `f` decides).
    /// One read per queue position and per node entered, plus `per_claim`
    /// per call of `f`. Stops when `f` returns false (the cursor stays on
    /// that claim) or the allowance is spent; true when the walk reached the
    /// end.
    fn walk_claims(
        &mut self,
        nodes: &[u32],
        st: &mut Settlement,
        left: &mut Allowance,
        per_claim: u64,
        mut f: impl FnMut(&mut Contract, &mut Settlement, ClaimKey, Claim) -> bool,
    ) -> bool {
        loop {
            let Some(&n) = nodes.get(st.next_node as usize) else { return true };
            if !left.take(1) {
                return false;
            }
            let q = self.rec(n).owed;
            st.next_pos = st.next_pos.max(q.head);
            if st.next_pos >= q.tail {
                (st.next_node, st.next_pos) = (st.next_node + 1, 0);
                continue;
            }
            let key = ClaimKey { node: n, pos: st.next_pos };
            if let Some(claim) = self.claims.get(&key).cloned()
                && nodes.binary_search(&claim.creditor).is_err()
                && (!left.take(per_claim) || !f(self, st, key, claim))
            {
                return false;
            }
            st.next_pos += 1;
        }
    }

    /// Slashes up to `settle_batch` nodes of the smaller side.
    fn slash_batch(&mut self, channel: u64, bps: u32, nodes: &[u32], st: &mut Settlement, left: &mut Allowance) {
        let batch = self.config.settle_batch as usize;
        let mut done = Vec::new();
        let mut slashed = 0u128;
        while done.len() < batch && (st.next_node as usize) < nodes.len() && left.take(1) {
            let n = nodes[st.next_node as usize];
            st.next_node += 1;
            let s = self.state_mut(n);
            let cut = mul_div(s.stake, bps as u128, 10_000);
            s.stake -= cut;
            s.status = NodeStatus::Partitioned;
            self.total_stake -= cut;
            self.partition_pool += cut;
            st.pool += cut;
            slashed += cut;
            done.push(n);
        }
        if !done.is_empty() {
            self.bump_graph();
            Event::NodePartitioned { channel_id: channel, nodes: done, slashed: U128(slashed) }.emit();
        }
    }
}
