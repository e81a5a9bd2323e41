//! The contract as the simulator models it (DESIGN §2.8): channels with
//! their deposits, and everything else — stakes, balances, half-penalties,
//! claims, recorded splits, slashing and reimbursement — is por-core's
//! settlement (`por_core::settlement`, the code the contract runs) over its
//! in-memory store. So the simulator's economic figures are the contract's.
//!
//! What differs from the contract, on purpose: a severed channel pays out
//! at once (the simulator has no challenge window to wait for; nodes hand
//! in their best vouchers when they cut), and there are no storage fees
//! unless the rules set a claim fee. A differential test
//! (`sim/tests/differential.rs`) runs the same operations on both.

use std::collections::{BTreeMap, BTreeSet};

use por_core::graph::{Edge, Graph, GraphView, NodeInfo};
use por_core::partition::Outcome;
use por_core::settlement::memory::MemStore;
use por_core::settlement::{self, Check, Claim, ClaimKey, Rules, SettleEvent, StepResult};
use por_core::{Amount, ChannelId, EdgeParams};
use serde::Serialize;

/// Ids of the channels [`Chain::reconnect`] opens start here, far above
/// the scenario's.
pub const RECONNECT_IDS: u64 = 1 << 40;

/// The chain's rules (the contract's config, as far as settlement goes).
#[derive(Debug, Clone, Copy)]
pub struct ChainRules {
    /// Severance penalty; each side's stake pays half.
    pub penalty: Amount,
    /// Share of its stake a partitioned node loses, basis points.
    pub slash_bps: u32,
    /// Storage reads one call of a check may make.
    pub step_budget: u64,
    /// Nodes slashed, or claims paid, per call.
    pub settle_batch: u32,
    /// Lifetime of a reimbursement claim.
    pub claim_ttl_ms: u64,
    /// Part of each half-penalty that pays for its claim's storage.
    pub claim_storage_fee: Amount,
    /// How long a split waits before it may be settled.
    pub reconnect_window_ms: u64,
}

impl ChainRules {
    fn rules(&self) -> Rules {
        Rules {
            half_penalty: self.penalty / 2,
            claim_storage_fee: self.claim_storage_fee,
            claim_ttl_ms: self.claim_ttl_ms,
            step_budget: self.step_budget.max(2),
            settle_batch: self.settle_batch.max(1),
        }
    }
}

/// The result of settling a split that was still there.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionReport {
    /// The severed channel that caused it.
    pub channel: u64,
    /// Nodes of the smaller-stake side when it was settled.
    pub nodes: Vec<u32>,
    /// Their stake before the slash.
    #[serde(with = "por_core::bytes::amount_serde")]
    pub stake: Amount,
    /// Slashed from them.
    #[serde(with = "por_core::bytes::amount_serde")]
    pub slashed: Amount,
    /// Paid back to large-side nodes for their half penalties.
    #[serde(with = "por_core::bytes::amount_serde")]
    pub reimbursed: Amount,
    /// Calls the checks took (the severance's and the settlement's, each
    /// within the step budget).
    pub calls: u32,
}

/// A split recorded by a severance, waiting for its window.
#[derive(Debug, Clone, Serialize)]
pub struct PendingSplit {
    /// The severed channel.
    pub channel: u64,
    /// Who severed.
    pub severer: u32,
    /// The other end.
    pub other: u32,
    /// When it may be settled.
    pub deadline_ms: u64,
    /// The slash in force at the severance.
    pub slash_bps: u32,
    /// The smaller side at the severance.
    pub nodes: Vec<u32>,
    /// Calls the severance's check took.
    pub calls: u32,
}

/// A channel's collateral: its ends and each one's deposit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deposits {
    /// The opener.
    pub a: u32,
    /// The peer.
    pub b: u32,
    /// The opener's deposit.
    pub dep_a: Amount,
    /// The peer's deposit.
    pub dep_b: Amount,
}

/// The chain's state.
#[derive(Debug, Clone)]
pub struct Chain {
    store: MemStore,
    /// The channels the nodes' engines know and route over (the
    /// settlement's graph also holds the channels opened by reconnecting
    /// nodes, which carry no traffic in the simulator).
    routing: Graph,
    /// Channels opened to reconnect, by id: their ends.
    reconnects: BTreeMap<u64, (u32, u32)>,
    /// Deposits of open channels, by channel id.
    pub deposits: Vec<Option<Deposits>>,
    /// The money there is: what was put in.
    pub total: Amount,
    /// Per node, what the chain took and gave back (the books' penalty
    /// columns).
    pub books: Vec<ChainBooks>,
    /// Every severance: (a, b, who cut).
    severances: Vec<(u32, u32, u32)>,
    splits: BTreeMap<u64, PendingSplit>,
    /// Channels closed cooperatively.
    coop_closed: BTreeSet<u64>,
    rules: ChainRules,
}

/// What the chain took from one node and gave back, in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChainBooks {
    /// Half penalties collected for cuts this node made.
    pub cut_penalties: Amount,
    /// Half penalties collected for cuts its neighbours made.
    pub cut_against: Amount,
    /// Stake slashed for ending on the small side of a partition.
    pub slashed: Amount,
    /// Half penalties paid back to it out of a partition's slash.
    pub reimbursed: Amount,
}

/// What a severance did on chain.
#[derive(Debug, Clone)]
pub struct SeverOutcome {
    /// Payout of end `a` and of end `b`.
    pub payouts: (Amount, Amount),
    /// The split it recorded, if the graph split and one side had less
    /// stake: nobody is slashed before [`Chain::settle`].
    pub split: Option<PendingSplit>,
}

impl Chain {
    /// A chain with these nodes (stake, service time) and no channel.
    pub fn new(stakes: &[Amount], service_ms: &[u64], rules: ChainRules) -> Self {
        let mut store = MemStore::new();
        store.keep_events = true;
        let mut routing = Graph::new();
        for (s, svc) in stakes.iter().zip(service_ms) {
            store.add_node(NodeInfo { stake: *s, service_ms: *svc });
            routing.add_node(NodeInfo { stake: *s, service_ms: *svc });
        }
        Chain {
            store,
            routing,
            reconnects: BTreeMap::new(),
            deposits: Vec::new(),
            total: stakes.iter().sum(),
            books: vec![ChainBooks::default(); stakes.len()],
            severances: Vec::new(),
            splits: BTreeMap::new(),
            coop_closed: BTreeSet::new(),
            rules,
        }
    }

    /// Adds a node with `stake` (fresh money); its index.
    pub fn add_node(&mut self, stake: Amount, service_ms: u64) -> u32 {
        self.total += stake;
        self.books.push(ChainBooks::default());
        self.routing.add_node(NodeInfo { stake, service_ms });
        self.store.add_node(NodeInfo { stake, service_ms })
    }

    /// The open channels the nodes route over (stakes as at the start).
    pub fn graph(&self) -> &Graph {
        &self.routing
    }

    /// Every open edge, reconnections included, with stakes as they are
    /// now: what the partition check reads.
    pub fn settlement_graph(&self) -> &Graph {
        &self.store.graph
    }

    /// Opens a channel with no deposits between `a` and `b`, on chain only
    /// (the nodes do not route over it): a node stranded on the small side
    /// of a split reconnecting into the larger side. Its id.
    pub fn reconnect(&mut self, a: u32, b: u32, params: EdgeParams) -> ChannelId {
        let id = ChannelId(RECONNECT_IDS + self.reconnects.len() as u64);
        self.store.graph.add_edge(Edge { channel: id, a, b, params }).expect("fresh id, two nodes");
        self.reconnects.insert(id.0, (a, b));
        id
    }

    /// Channels opened by [`Chain::reconnect`]: id and ends.
    pub fn reconnections(&self) -> impl Iterator<Item = (u64, u32, u32)> + '_ {
        self.reconnects.iter().map(|(id, (a, b))| (*id, *a, *b))
    }

    /// A node's stake.
    pub fn stake(&self, n: u32) -> Amount {
        self.store.graph.stake(n)
    }

    /// A node's withdrawable balance (payouts, reimbursements).
    pub fn balance(&self, n: u32) -> Amount {
        self.store.balance[n as usize]
    }

    /// Whether a node was partitioned by a settlement.
    pub fn partitioned(&self, n: u32) -> bool {
        self.store.partitioned[n as usize]
    }

    /// Penalties and slashes not paid back.
    pub fn treasury(&self) -> Amount {
        self.store.treasury
    }

    /// Claim storage fees collected.
    pub fn reserve(&self) -> Amount {
        self.store.reserve
    }

    /// Unpaid claims (lapsed ones not yet pruned included), by key.
    pub fn claims(&self) -> impl Iterator<Item = (&ClaimKey, &Claim)> {
        self.store.claims()
    }

    /// Adds `amount` of fresh money to a node's stake.
    pub fn add_stake(&mut self, n: u32, amount: Amount) {
        let s = self.stake(n);
        self.store.set_stake(n, s + amount);
        self.total += amount;
    }

    /// Opens a channel with `deposit` from each side (fresh money).
    pub fn open(&mut self, channel: ChannelId, a: u32, b: u32, params: EdgeParams, deposit: Amount) {
        self.open_with(channel, a, b, params, deposit, deposit);
    }

    /// Opens a channel with the deposits of each side (fresh money).
    pub fn open_with(&mut self, channel: ChannelId, a: u32, b: u32, params: EdgeParams, dep_a: Amount, dep_b: Amount) {
        self.store.graph.add_edge(Edge { channel, a, b, params }).expect("the caller numbers channels itself");
        self.routing.add_edge(Edge { channel, a, b, params }).expect("the caller numbers channels itself");
        let i = channel.0 as usize;
        if self.deposits.len() <= i {
            self.deposits.resize(i + 1, None);
        }
        self.deposits[i] = Some(Deposits { a, b, dep_a, dep_b });
        self.total += dep_a + dep_b;
    }

    /// Whether the channel is still open.
    pub fn is_open(&self, channel: ChannelId) -> bool {
        self.deposits.get(channel.0 as usize).is_some_and(|d| d.is_some())
    }

    /// Adversarial close by `cutter` at `now_ms`: pays each side out by the
    /// best vouchers (`a_received`: what `a` holds from `b`, and the
    /// reverse) as the contract's finalize does, charges half the penalty to
    /// each stake, makes the claims and runs the partition check; a split is
    /// recorded, not settled. `Err` names a violation (vouchers beyond what
    /// a side could cover).
    pub fn sever(
        &mut self,
        channel: ChannelId,
        cutter: u32,
        a_received: Amount,
        b_received: Amount,
        now_ms: u64,
    ) -> Result<SeverOutcome, String> {
        let (d, pa, pb) = self.pay_out(channel, a_received, b_received, "severed")?;
        let other = if cutter == d.a { d.b } else { d.a };
        let rules = self.rules.rules();
        let pen = settlement::charge_penalties(&mut self.store, &rules, cutter, other);
        self.books[cutter as usize].cut_penalties += pen.severer;
        self.books[other as usize].cut_against += pen.other;
        settlement::record_claims(&mut self.store, &rules, channel.0, cutter, other, pen, now_ms);
        self.severances.push((d.a, d.b, cutter));
        let (check, calls) =
            self.run(Check::new(&self.store, channel.0, cutter, other, now_ms, self.rules.slash_bps, false));
        self.store.events.clear();
        let split = match check.outcome {
            Some(Outcome::Partitioned { nodes, .. }) => {
                let split = PendingSplit {
                    channel: channel.0,
                    severer: cutter,
                    other,
                    deadline_ms: now_ms.saturating_add(self.rules.reconnect_window_ms),
                    slash_bps: self.rules.slash_bps,
                    nodes,
                    calls,
                };
                self.splits.insert(channel.0, split.clone());
                Some(split)
            }
            _ => None,
        };
        Ok(SeverOutcome { payouts: (pa, pb), split })
    }

    /// Cooperative close (both ends signed it): pays each side out by the
    /// vouchers as [`Chain::sever`] does, with no penalty and no partition
    /// check. `Err` names a violation. The channel's payouts.
    pub fn close(
        &mut self,
        channel: ChannelId,
        a_received: Amount,
        b_received: Amount,
    ) -> Result<(Amount, Amount), String> {
        let (_, pa, pb) = self.pay_out(channel, a_received, b_received, "closed")?;
        self.coop_closed.insert(channel.0);
        Ok((pa, pb))
    }

    /// Takes `channel` out of the graph and pays each side out by the best
    /// vouchers, as the contract's finalize and close do: its deposits and
    /// the payouts. `Err` if it was not open (`how`: "severed" or "closed"
    /// twice) or the vouchers exceed what a side could cover.
    fn pay_out(
        &mut self,
        channel: ChannelId,
        a_received: Amount,
        b_received: Amount,
        how: &str,
    ) -> Result<(Deposits, Amount, Amount), String> {
        let Some(d) = self.deposits.get(channel.0 as usize).copied().flatten() else {
            return Err(format!("channel {} {how} twice", channel.0));
        };
        if d.dep_a + a_received < b_received || d.dep_b + b_received < a_received {
            return Err(format!(
                "channel {}: vouchers exceed the deposits ({a_received} vs {b_received} on {} + {})",
                channel.0, d.dep_a, d.dep_b
            ));
        }
        self.deposits[channel.0 as usize] = None;
        self.store.graph.remove_edge(channel);
        self.routing.remove_edge(channel);
        let (pa, pb) = settlement::settle_amounts(d.dep_a, d.dep_b, b_received, a_received);
        self.store.balance[d.a as usize] += pa;
        self.store.balance[d.b as usize] += pb;
        Ok((d, pa, pb))
    }

    /// Whether `channel` left the graph by a cooperative close (which no
    /// severance notice can name, DESIGN §2.7).
    pub fn closed_cooperatively(&self, channel: ChannelId) -> bool {
        self.coop_closed.contains(&channel.0)
    }

    /// Runs a check to its end, one call's budget at a time; the check and
    /// the calls it took.
    fn run(&mut self, mut check: Check) -> (Check, u32) {
        let rules = self.rules.rules();
        let mut calls = 0;
        loop {
            calls += 1;
            self.store.reset_reads();
            if check.step(&mut self.store, &rules) == StepResult::Done {
                return (check, calls);
            }
        }
    }

    /// Splits recorded and not settled yet, by severed channel.
    pub fn pending_splits(&self) -> impl Iterator<Item = &PendingSplit> {
        self.splits.values()
    }

    /// Settles the split recorded after the severance of `channel`, at
    /// `now_ms` (at or after its deadline): checks again whether its two
    /// ends are apart and, if so, slashes the smaller side as it is now and
    /// pays the claims on it. The report when a side was partitioned.
    pub fn settle(&mut self, channel: u64, now_ms: u64) -> Result<Option<PartitionReport>, String> {
        let Some(split) = self.splits.get(&channel) else {
            return Err(format!("no split pending for channel {channel}"));
        };
        if now_ms < split.deadline_ms {
            return Err(format!("the window of channel {channel} lasts until {} ms", split.deadline_ms));
        }
        let split = self.splits.remove(&channel).expect("just found");
        let before: Vec<Amount> = (0..self.books.len() as u32).map(|n| self.stake(n)).collect();
        let check = Check::new(&self.store, channel, split.severer, split.other, now_ms, split.slash_bps, true);
        let (check, calls) = self.run(check);
        let mut reimbursed = 0;
        for e in self.store.events.drain(..) {
            if let SettleEvent::ClaimsPaid { claims, .. } = e {
                for p in claims {
                    self.books[p.creditor as usize].reimbursed += p.paid;
                    reimbursed += p.paid;
                }
            }
        }
        let Some(Outcome::Partitioned { nodes, stake }) = check.outcome else { return Ok(None) };
        let mut slashed = 0;
        for &n in &nodes {
            let cut = before[n as usize] - self.stake(n);
            self.books[n as usize].slashed += cut;
            slashed += cut;
        }
        Ok(Some(PartitionReport { channel, nodes, stake, slashed, reimbursed, calls: split.calls + calls }))
    }

    /// The two ends of every severance so far.
    pub fn severed_pairs(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.severances.iter().map(|&(a, b, _)| (a, b))
    }

    /// Every severance as (who cut, the other end).
    pub fn cuts(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.severances.iter().map(|&(a, b, by)| (by, if by == a { b } else { a }))
    }

    /// The rules.
    pub fn rules(&self) -> &ChainRules {
        &self.rules
    }

    /// Money held by the chain now: stakes, balances, open deposits, the
    /// treasury, the claims' reserve and any pool. Equals [`Chain::total`]
    /// when money is conserved.
    pub fn held(&self) -> Amount {
        let deposits: Amount = self.deposits.iter().flatten().map(|d| d.dep_a + d.dep_b).sum();
        self.store.held_money() + deposits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ChainRules {
        ChainRules {
            penalty: 20,
            slash_bps: 5_000,
            step_budget: 2,
            settle_batch: 1,
            claim_ttl_ms: 1_000_000,
            claim_storage_fee: 0,
            reconnect_window_ms: 100,
        }
    }

    #[test]
    fn isolated_node_pays_back_the_half_penalties_after_the_window() {
        // 0 offline, joined to 1 and 2; 1–2 joined. Stake 100 / 1000 / 1000.
        let mut c = Chain::new(&[100, 1000, 1000], &[0, 0, 0], rules());
        let p = EdgeParams::default();
        c.open(ChannelId(0), 0, 1, p, 50);
        c.open(ChannelId(1), 0, 2, p, 50);
        c.open(ChannelId(2), 1, 2, p, 50);
        let o = c.sever(ChannelId(0), 1, 0, 7, 0).unwrap();
        assert_eq!(o.payouts, (43, 57));
        assert!(o.split.is_none(), "0 still reaches 2");
        let o = c.sever(ChannelId(1), 2, 0, 0, 10).unwrap();
        let split = o.split.expect("0 is cut off");
        assert_eq!((split.nodes.clone(), split.deadline_ms), (vec![0], 110));
        assert!(!c.partitioned(0), "nobody is slashed before the window ends");
        assert!(c.settle(1, 109).is_err(), "too early");
        let part = c.settle(1, 110).unwrap().expect("still cut off");
        assert_eq!(part.nodes, vec![0]);
        assert_eq!(part.reimbursed, 20, "both neighbours get their half back");
        assert_eq!(c.stake(1), 1000 - 10);
        assert_eq!(c.balance(1), 57 + 10);
        assert_eq!(c.held(), c.total, "money is conserved");
        assert_eq!((c.books[1].cut_penalties, c.books[1].reimbursed), (10, 10));
        assert_eq!((c.books[0].cut_against, c.books[0].slashed), (20, 40));
        assert!(c.sever(ChannelId(1), 2, 0, 0, 200).is_err(), "twice");
        assert!(c.settle(1, 200).is_err(), "settled once");
    }

    #[test]
    fn a_node_that_reconnects_within_the_window_is_not_slashed() {
        let mut c = Chain::new(&[100, 1000, 1000], &[0, 0, 0], rules());
        let p = EdgeParams::default();
        c.open(ChannelId(0), 0, 1, p, 50);
        c.open(ChannelId(1), 1, 2, p, 50);
        assert!(c.sever(ChannelId(0), 0, 0, 0, 0).unwrap().split.is_some());
        c.open(ChannelId(2), 0, 2, p, 50);
        assert!(c.settle(0, 100).unwrap().is_none());
        assert!(!c.partitioned(0));
        assert_eq!(c.stake(0), 90);
        assert_eq!(c.held(), c.total);
    }
}
