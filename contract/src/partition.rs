//! The partition check that follows every severance, reimbursement claims,
//! and the settlement of a partition (slashing, pro-rata claim payment).
//!
//! The search is por-core's [`PartitionCheck`] (shared with the simulator),
//! run over the contract's storage through [`StoreGraph`]. One check may be
//! pending at a time; while it is, every call that would change the graph
//! (edges, stakes, statuses) is refused, so the stored search state always
//! matches the graph. A pending check goes through three phases, each
//! bounded per call and continued by `continue_partition_check`, which
//! anyone may call:
//! 1. `search`: at most `partition_step_budget` work units per call;
//! 2. `slash`: the smaller side's nodes lose `partition_slash_bps` of their
//!    stake into a pool and are marked partitioned; the open claims that
//!    nodes outside hold against them are collected (lapsed ones dropped);
//!    about `settle_batch` nodes-plus-claims per call;
//! 3. `pay`: the collected claims are paid out of the pool, in full when it
//!    covers them all and pro rata otherwise (rounded down); `settle_batch`
//!    claims per call. What is left of the pool goes to the treasury.
//!
//! Tie rule (from por-core): two complete sides of exactly equal stake
//! partition nobody.

use near_sdk::json_types::U128;
use near_sdk::store::Vector;
use near_sdk::{AccountId, near};
use por_core::{GraphView, NodeIdx, Outcome, PartitionCheck, Progress};

use crate::Contract;
use crate::events::{Event, OutcomeSummary, PaidClaim};
use crate::nodes::{Node, NodeStatus};

/// A reimbursement claim: `creditor` paid `amount` of penalty when the
/// channel between it and `debtor` was severed.
#[near(serializers = [borsh])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Who is owed.
    pub creditor: u32,
    /// Who owes, if it ends up on a partitioned side.
    pub debtor: u32,
    /// The half-penalty the creditor paid.
    pub amount: u128,
    /// The severed channel.
    pub channel: u64,
    /// When it was made.
    pub created_ms: u64,
}

/// The graph as stored: node records hold their adjacency and stake.
pub struct StoreGraph<'a>(pub &'a Vector<Node>);

impl GraphView for StoreGraph<'_> {
    fn neighbors(&self, n: NodeIdx, out: &mut Vec<NodeIdx>) {
        if let Some(node) = self.0.get(n) {
            out.extend(node.adj.iter().map(|e| e.peer));
        }
    }
    fn stake(&self, n: NodeIdx) -> u128 {
        self.0.get(n).map_or(0, |node| node.stake)
    }
}

/// Settling a partition after the search found the smaller side.
#[near(serializers = [borsh])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// The smaller side, sorted.
    pub nodes: Vec<u32>,
    /// Nodes slashed so far.
    pub next_node: u32,
    /// Stake slashed so far.
    pub pool: u128,
    /// Claims to pay: `(claim id, amount)`.
    pub payable: Vec<(u64, u128)>,
    /// Their sum.
    pub claimed: u128,
    /// Claims paid so far.
    pub next_pay: u32,
    /// Paid so far.
    pub paid: u128,
}

/// A pending partition check.
#[near(serializers = [borsh])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingCheck {
    /// The severed channel.
    pub channel: u64,
    /// The search, while it runs.
    pub search: Option<PartitionCheck>,
    /// Search work spent.
    pub work: u64,
    /// The search's outcome, once known.
    pub outcome: Option<Outcome>,
    /// The settlement, once the outcome is a partition.
    pub settlement: Option<Settlement>,
}

impl PendingCheck {
    fn phase(&self) -> &'static str {
        match (&self.search, &self.settlement) {
            (Some(_), _) => "search",
            (None, Some(s)) if (s.next_node as usize) < s.nodes.len() => "slash",
            (None, Some(_)) => "pay",
            (None, None) => "done",
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
    /// `search`, `slash`, `pay`, or `done` (nothing pending any more).
    pub phase: String,
    /// Search work so far.
    pub work: u64,
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

    /// Records a claim of `creditor` against `debtor` (nothing for 0).
    pub(crate) fn add_claim(&mut self, creditor: u32, debtor: u32, amount: u128, channel: u64, now_ms: u64) {
        if amount == 0 {
            return;
        }
        let id = self.next_claim;
        self.next_claim += 1;
        self.claims.insert(id, Claim { creditor, debtor, amount, channel, created_ms: now_ms });
        self.prune_claims(debtor, now_ms);
        self.prune_claims(creditor, now_ms);
        self.rec_mut(debtor).claims_owed.push(id);
        self.rec_mut(creditor).claims_held.push(id);
        let expires_ms = now_ms.saturating_add(self.config.claim_ttl_ms);
        let (c, d) = (self.rec(creditor).account_id.clone(), self.rec(debtor).account_id.clone());
        Event::ClaimCreated {
            claim_id: id,
            creditor: c,
            debtor: d,
            amount: U128(amount),
            channel_id: channel,
            expires_ms,
        }
        .emit();
    }

    /// True when `c` has lapsed at `now_ms`.
    pub(crate) fn lapsed(&self, c: &Claim, now_ms: u64) -> bool {
        now_ms >= c.created_ms.saturating_add(self.config.claim_ttl_ms)
    }

    /// Drops lapsed claims owed by `n` and forgets paid or lapsed ids on its lists.
    fn prune_claims(&mut self, n: u32, now_ms: u64) {
        let owed = self.rec(n).claims_owed.clone();
        let lapsed: Vec<u64> =
            owed.iter().copied().filter(|id| self.claims.get(id).is_some_and(|c| self.lapsed(c, now_ms))).collect();
        self.lapse(&lapsed);
        let claims = &self.claims;
        let node = self.nodes.get_mut(n).unwrap_or_else(|| near_sdk::env::panic_str("internal: node"));
        node.claims_owed.retain(|id| claims.contains_key(id));
        node.claims_held.retain(|id| claims.contains_key(id));
    }

    /// Removes lapsed claims `ids`, with one event.
    fn lapse(&mut self, ids: &[u64]) {
        let mut gone = Vec::new();
        let mut amount = 0u128;
        for id in ids {
            if let Some(c) = self.claims.remove(id) {
                gone.push(*id);
                amount += c.amount;
            }
        }
        if !gone.is_empty() {
            Event::ClaimsLapsed { claim_ids: gone, amount: U128(amount) }.emit();
        }
    }

    /// Starts the check after channel `channel` between `s` and `o` left
    /// the graph and runs its first bounded step.
    pub(crate) fn start_check(&mut self, channel: u64, s: u32, o: u32, now_ms: u64) -> CheckStatus {
        let search = PartitionCheck::new(por_core::ChannelId(channel), s, o, &StoreGraph(&self.nodes));
        let pending = PendingCheck { channel, search: Some(search), work: 0, outcome: None, settlement: None };
        self.check_channel = Some(channel);
        self.run_check(pending, now_ms)
    }

    /// `continue_partition_check`.
    pub(crate) fn do_continue(&mut self, now_ms: u64) -> CheckStatus {
        let Some(pending) = self.check.take() else {
            near_sdk::env::panic_str("continue_partition_check: no partition check is pending; nothing to do")
        };
        self.run_check(pending, now_ms)
    }

    /// The pending check, if any, as a status.
    pub(crate) fn check_status(&self) -> Option<CheckStatus> {
        self.check.get().as_ref().map(|p| CheckStatus {
            channel_id: p.channel,
            phase: p.phase().to_string(),
            work: p.work,
            outcome: p.outcome.clone(),
        })
    }

    /// Advances `p` by one bounded call's worth of work and stores it (or
    /// clears it when finished).
    fn run_check(&mut self, mut p: PendingCheck, now_ms: u64) -> CheckStatus {
        if let Some(mut search) = p.search.take() {
            let progress = search.step(&StoreGraph(&self.nodes), self.config.partition_step_budget);
            p.work = search.work;
            match progress {
                Progress::Pending => {
                    p.search = Some(search);
                    return self.save_check(p);
                }
                Progress::Done(out) => {
                    if let Outcome::Partitioned { nodes, .. } = &out {
                        p.settlement = Some(Settlement {
                            nodes: nodes.clone(),
                            next_node: 0,
                            pool: 0,
                            payable: Vec::new(),
                            claimed: 0,
                            next_pay: 0,
                            paid: 0,
                        });
                    }
                    p.outcome = Some(out);
                }
            }
        }
        if let Some(mut st) = p.settlement.take() {
            if (st.next_node as usize) < st.nodes.len() {
                self.slash_batch(p.channel, &mut st, now_ms);
                if (st.next_node as usize) < st.nodes.len() {
                    p.settlement = Some(st);
                    return self.save_check(p);
                }
            }
            self.pay_batch(p.channel, &mut st);
            if (st.next_pay as usize) < st.payable.len() {
                p.settlement = Some(st);
                return self.save_check(p);
            }
            let rest = st.pool - st.paid;
            self.treasury += rest;
            Event::PartitionSettled {
                channel_id: p.channel,
                nodes: st.nodes.len() as u32,
                slashed: U128(st.pool),
                reimbursed: U128(st.paid),
                to_treasury: U128(rest),
            }
            .emit();
        }
        self.check.set(None);
        self.check_channel = None;
        let status = CheckStatus { channel_id: p.channel, phase: "done".into(), work: p.work, outcome: p.outcome };
        status.emit();
        status
    }

    fn save_check(&mut self, p: PendingCheck) -> CheckStatus {
        let status = CheckStatus {
            channel_id: p.channel,
            phase: p.phase().to_string(),
            work: p.work,
            outcome: p.outcome.clone(),
        };
        status.emit();
        self.check.set(Some(p));
        status
    }

    /// Slashes about `settle_batch` nodes-plus-claims of the smaller side.
    fn slash_batch(&mut self, channel: u64, st: &mut Settlement, now_ms: u64) {
        let batch = self.config.settle_batch as usize;
        let bps = self.config.partition_slash_bps as u128;
        let mut spent = 0usize;
        let mut done = Vec::new();
        let mut slashed = 0u128;
        let mut lapsed = Vec::new();
        while spent < batch && (st.next_node as usize) < st.nodes.len() {
            let n = st.nodes[st.next_node as usize];
            st.next_node += 1;
            let node = self.rec_mut(n);
            let cut = mul_div(node.stake, bps, 10_000);
            node.stake -= cut;
            node.status = NodeStatus::Partitioned;
            let owed = node.claims_owed.clone();
            self.total_stake -= cut;
            st.pool += cut;
            slashed += cut;
            done.push(n);
            spent += 1 + owed.len();
            for id in owed {
                let Some(c) = self.claims.get(&id) else { continue };
                if self.lapsed(c, now_ms) {
                    lapsed.push(id);
                } else if st.nodes.binary_search(&c.creditor).is_err() {
                    st.payable.push((id, c.amount));
                    st.claimed += c.amount;
                }
            }
        }
        self.lapse(&lapsed);
        self.bump_graph();
        Event::NodePartitioned { channel_id: channel, nodes: done, slashed: U128(slashed) }.emit();
    }

    /// Pays up to `settle_batch` collected claims.
    fn pay_batch(&mut self, channel: u64, st: &mut Settlement) {
        let batch = self.config.settle_batch as usize;
        let end = (st.next_pay as usize + batch).min(st.payable.len());
        let mut done = Vec::new();
        for i in st.next_pay as usize..end {
            let (id, amount) = st.payable[i];
            let Some(c) = self.claims.remove(&id) else { continue };
            let paid = if st.pool >= st.claimed { amount } else { mul_div(amount, st.pool, st.claimed) };
            let creditor: AccountId = self.rec(c.creditor).account_id.clone();
            self.credit(&creditor, paid);
            st.paid += paid;
            done.push(PaidClaim {
                claim_id: id,
                creditor: c.creditor,
                debtor: c.debtor,
                amount: U128(amount),
                paid: U128(paid),
            });
        }
        st.next_pay = end as u32;
        if !done.is_empty() {
            Event::ClaimsPaid { channel_id: channel, claims: done }.emit();
        }
    }
}
