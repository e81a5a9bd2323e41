//! The contract as the simulator models it (DESIGN §2.8): stakes, balances,
//! adversarial closes with half penalties, and the partition check — the
//! very `por_core::partition` code the contract runs, in bounded steps — with
//! slashing and reimbursement of the large side's half penalties.

use por_core::graph::{Edge, Graph, NodeInfo};
use por_core::partition::{Outcome, PartitionCheck, Progress};
use por_core::{Amount, ChannelId, EdgeParams};
use serde::Serialize;

/// One severance as the chain recorded it.
#[derive(Debug, Clone)]
struct Severance {
    a: u32,
    b: u32,
    half: Amount,
    reimbursed: bool,
}

/// The result of a partition check that split the graph.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionReport {
    /// The severed channel that caused it.
    pub channel: u64,
    /// Nodes of the smaller-stake side.
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
    /// Calls the check took (each within the step budget).
    pub calls: u32,
}

/// The chain's state.
#[derive(Debug, Clone)]
pub struct Chain {
    /// The graph of open edges.
    pub graph: Graph,
    /// Each node's stake.
    pub stake: Vec<Amount>,
    /// Each node's withdrawable balance (payouts, reimbursements).
    pub balance: Vec<Amount>,
    /// Deposits of open channels: (a, b, deposit of each side).
    pub deposits: Vec<Option<(u32, u32, Amount)>>,
    /// Slashed money not paid back (the contract keeps it).
    pub treasury: Amount,
    /// Whether a node ended on the small side of a partition.
    pub partitioned: Vec<bool>,
    /// The money there is, fixed at the start.
    pub total: Amount,
    /// Per node, what the chain took and gave back (the books' penalty
    /// columns).
    pub books: Vec<ChainBooks>,
    severances: Vec<Severance>,
    penalty: Amount,
    slash_bps: u32,
    step_budget: u64,
}

/// What the chain took from one node and gave back, in all.
#[derive(Debug, Clone, Copy, Default)]
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
    /// A partition, if the graph split and one side had less stake.
    pub partition: Option<PartitionReport>,
}

impl Chain {
    /// A chain with these nodes (stake, service time) and no channel.
    pub fn new(stakes: &[Amount], service_ms: &[u64], penalty: Amount, slash_bps: u32, step_budget: u64) -> Self {
        let mut graph = Graph::new();
        for (s, svc) in stakes.iter().zip(service_ms) {
            graph.add_node(NodeInfo { stake: *s, service_ms: *svc });
        }
        Chain {
            graph,
            stake: stakes.to_vec(),
            balance: vec![0; stakes.len()],
            deposits: Vec::new(),
            treasury: 0,
            partitioned: vec![false; stakes.len()],
            total: stakes.iter().sum(),
            books: vec![ChainBooks::default(); stakes.len()],
            severances: Vec::new(),
            penalty,
            slash_bps,
            step_budget: step_budget.max(1),
        }
    }

    /// Opens a channel with `deposit` from each side (fresh money).
    pub fn open(&mut self, channel: ChannelId, a: u32, b: u32, params: EdgeParams, deposit: Amount) {
        self.graph.add_edge(Edge { channel, a, b, params }).expect("the simulator numbers channels itself");
        let i = channel.0 as usize;
        if self.deposits.len() <= i {
            self.deposits.resize(i + 1, None);
        }
        self.deposits[i] = Some((a, b, deposit));
        self.total += 2 * deposit;
    }

    /// Whether the channel is still open.
    pub fn is_open(&self, channel: ChannelId) -> bool {
        self.deposits.get(channel.0 as usize).is_some_and(|d| d.is_some())
    }

    /// Adversarial close by `cutter`: pays each side out by the best
    /// vouchers (`a_received`: what `a` holds from `b`, and the reverse),
    /// charges half the penalty to each, and runs the partition check. `Err`
    /// names a violation (a payout that would go negative).
    pub fn sever(
        &mut self,
        channel: ChannelId,
        cutter: u32,
        a_received: Amount,
        b_received: Amount,
    ) -> Result<SeverOutcome, String> {
        let Some((a, b, dep)) = self.deposits.get_mut(channel.0 as usize).and_then(|d| d.take()) else {
            return Err(format!("channel {} severed twice", channel.0));
        };
        self.graph.remove_edge(channel);
        let pa = (dep + a_received).checked_sub(b_received);
        let pb = (dep + b_received).checked_sub(a_received);
        let (Some(pa), Some(pb)) = (pa, pb) else {
            return Err(format!(
                "channel {}: vouchers exceed the deposits ({a_received} vs {b_received} on {dep})",
                channel.0
            ));
        };
        self.balance[a as usize] += pa;
        self.balance[b as usize] += pb;
        let half = self.penalty / 2;
        for n in [a, b] {
            let took = self.charge(n, half);
            let books = &mut self.books[n as usize];
            if n == cutter {
                books.cut_penalties += took;
            } else {
                books.cut_against += took;
            }
        }
        self.severances.push(Severance { a, b, half, reimbursed: false });
        let mut check = PartitionCheck::new(channel, a, b, &self.graph);
        let mut calls = 0;
        let outcome = loop {
            calls += 1;
            if let Progress::Done(o) = check.step(&self.graph, self.step_budget) {
                break o;
            }
        };
        let partition = match outcome {
            Outcome::Partitioned { nodes, stake } => Some(self.partition(channel, nodes, stake, calls)),
            Outcome::Connected | Outcome::Tie { .. } => None,
        };
        Ok(SeverOutcome { payouts: (pa, pb), partition })
    }

    /// Takes `amount` from the node's stake, then from its balance; what
    /// neither covers is not collected. Returns what was collected.
    fn charge(&mut self, n: u32, amount: Amount) -> Amount {
        let n = n as usize;
        let from_stake = amount.min(self.stake[n]);
        self.stake[n] -= from_stake;
        let rest = (amount - from_stake).min(self.balance[n]);
        self.balance[n] -= rest;
        self.treasury += from_stake + rest;
        from_stake + rest
    }

    fn partition(&mut self, channel: ChannelId, nodes: Vec<u32>, stake: Amount, calls: u32) -> PartitionReport {
        let mut pool: Amount = 0;
        let mut small = vec![false; self.stake.len()];
        for &n in &nodes {
            small[n as usize] = true;
            if !self.partitioned[n as usize] {
                self.partitioned[n as usize] = true;
                let s = self.stake[n as usize] * self.slash_bps as Amount / 10_000;
                self.stake[n as usize] -= s;
                self.books[n as usize].slashed += s;
                pool += s;
            }
        }
        let mut reimbursed = 0;
        for s in self.severances.iter_mut().filter(|s| !s.reimbursed) {
            let (sa, sb) = (small[s.a as usize], small[s.b as usize]);
            if sa == sb {
                continue;
            }
            let big = if sa { s.b } else { s.a };
            // Paid back out of the slash only (DESIGN §2.8).
            let pay = s.half.min(pool);
            pool -= pay;
            self.balance[big as usize] += pay;
            self.books[big as usize].reimbursed += pay;
            reimbursed += pay;
            s.reimbursed = pay == s.half;
        }
        self.treasury += pool;
        let slashed = reimbursed + pool;
        PartitionReport { channel: channel.0, nodes, stake, slashed, reimbursed, calls }
    }

    /// The two ends of every severance so far.
    pub fn severed_pairs(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.severances.iter().map(|s| (s.a, s.b))
    }

    /// Money held by the chain now: stakes, balances, open deposits and the
    /// treasury. Equals [`Chain::total`] when money is conserved.
    pub fn held(&self) -> Amount {
        let deposits: Amount = self.deposits.iter().flatten().map(|(_, _, d)| 2 * d).sum();
        self.stake.iter().sum::<Amount>() + self.balance.iter().sum::<Amount>() + deposits + self.treasury
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolated_node_pays_back_the_half_penalties() {
        // 0 offline, joined to 1 and 2; 1–2 joined. Stake 100 / 1000 / 1000.
        let mut c = Chain::new(&[100, 1000, 1000], &[0, 0, 0], 20, 5000, 2);
        let p = EdgeParams::default();
        c.open(ChannelId(0), 0, 1, p, 50);
        c.open(ChannelId(1), 0, 2, p, 50);
        c.open(ChannelId(2), 1, 2, p, 50);
        let o = c.sever(ChannelId(0), 1, 0, 7).unwrap();
        assert_eq!(o.payouts, (43, 57));
        assert!(o.partition.is_none(), "0 still reaches 2");
        let o = c.sever(ChannelId(1), 2, 0, 0).unwrap();
        let part = o.partition.expect("0 is cut off");
        assert_eq!(part.nodes, vec![0]);
        assert_eq!(part.reimbursed, 20, "both neighbours get their half back");
        assert_eq!(c.stake[1], 1000 - 10);
        assert_eq!(c.balance[1], 57 + 10);
        assert_eq!(c.held(), c.total, "money is conserved");
        assert_eq!((c.books[1].cut_penalties, c.books[1].reimbursed), (10, 10));
        assert_eq!((c.books[0].cut_against, c.books[0].slashed), (20, 40));
        assert!(c.sever(ChannelId(1), 2, 0, 0).is_err(), "twice");
    }
}
