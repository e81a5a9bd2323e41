//! The partition check of DESIGN §2.8, in steps of bounded work.
//!
//! After the edge between `a` and `b` is removed, are `a` and `b` still joined
//! through open edges? If not, the side with the smaller total stake is
//! *partitioned*. Nodes are never counted: a cluster of many low-stake
//! sockpuppets is the smaller side when its stake is smaller.
//!
//! # How it searches
//! Two breadth-first searches grow from `a` and from `b`, always expanding the
//! side that has visited fewer nodes. They stop when:
//! - one side reaches a node the other has visited: **connected**, nothing
//!   happens (in a well-connected graph the searches meet after little work);
//! - one side runs out of nodes without meeting the other: the graph is split,
//!   and that side's component and total stake `S` are known exactly. The other
//!   side keeps growing only until its stake *exceeds* `S` (then the finished
//!   side is the smaller one) or it runs out too (then the two totals are
//!   compared exactly).
//!
//! So the work grows with the smaller side, not with the network, except when
//! the larger side by node count is the smaller by stake, where it grows until
//! the stake comparison is settled.
//!
//! **Tie rule:** when both sides are complete and their stakes are equal, no
//! side is partitioned ([`Outcome::Tie`]): in doubt, nobody is slashed.
//!
//! # Bounded steps
//! [`PartitionCheck::step`] does at most about `budget` units of work (one per
//! node expanded plus one per adjacency entry read, finishing the node it
//! started) and returns [`Progress::Pending`] when it has to continue. The
//! state is plain data (serde, and borsh with the `borsh` feature), so the
//! contract stores it between calls. The caller must keep the graph unchanged
//! between the removal and the final step (the contract refuses graph changes
//! while a check is pending).

use std::collections::{BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::graph::{Graph, GraphView, NodeIdx, UnionFind};
use crate::voucher::{Amount, ChannelId};

/// The result of a finished check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "borsh", derive(borsh::BorshSerialize, borsh::BorshDeserialize))]
pub enum Outcome {
    /// `a` and `b` are still joined.
    Connected,
    /// The graph split and `nodes` (sorted) is the side with less stake.
    Partitioned {
        /// The nodes of the smaller side, sorted.
        nodes: Vec<NodeIdx>,
        /// Their total stake.
        #[serde(with = "crate::bytes::amount_serde")]
        stake: Amount,
    },
    /// The graph split into two sides of exactly equal stake: nobody is
    /// partitioned.
    Tie {
        /// The stake of each side.
        #[serde(with = "crate::bytes::amount_serde")]
        stake: Amount,
    },
}

/// Where a check stands after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// More steps are needed.
    Pending,
    /// Finished.
    Done(Outcome),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "borsh", derive(borsh::BorshSerialize, borsh::BorshDeserialize))]
struct Side {
    visited: BTreeSet<NodeIdx>,
    frontier: VecDeque<NodeIdx>,
    #[serde(with = "crate::bytes::amount_serde")]
    stake: Amount,
}

impl Side {
    fn new(start: NodeIdx, stake: Amount) -> Self {
        Side { visited: BTreeSet::from([start]), frontier: VecDeque::from([start]), stake }
    }
    fn empty() -> Self {
        Side { visited: BTreeSet::new(), frontier: VecDeque::new(), stake: 0 }
    }
    fn done(&self) -> bool {
        self.frontier.is_empty()
    }
}

/// A partition check in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "borsh", derive(borsh::BorshSerialize, borsh::BorshDeserialize))]
pub struct PartitionCheck {
    /// The channel whose removal is checked.
    pub channel: ChannelId,
    /// Its two ends.
    pub ends: (NodeIdx, NodeIdx),
    sides: [Side; 2],
    /// Work done so far, in the units of [`PartitionCheck::step`].
    pub work: u64,
    result: Option<Outcome>,
    /// The node being expanded across calls, if one is.
    cursor: Option<Cursor>,
}

/// Where the expansion of one node stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "borsh", derive(borsh::BorshSerialize, borsh::BorshDeserialize))]
struct Cursor {
    side: u8,
    node: NodeIdx,
    next: u32,
}

impl PartitionCheck {
    /// Starts checking after `channel` between `a` and `b` was removed from `g`.
    pub fn new(channel: ChannelId, a: NodeIdx, b: NodeIdx, g: &impl GraphView) -> Self {
        PartitionCheck {
            channel,
            ends: (a, b),
            sides: [Side::new(a, g.stake(a)), Side::new(b, g.stake(b))],
            work: 0,
            result: None,
            cursor: None,
        }
    }

    /// Nodes visited so far on both sides (what the stored state costs).
    pub fn visited(&self) -> usize {
        self.sides[0].visited.len() + self.sides[1].visited.len()
    }

    /// Runs until finished or until `budget` units of work are done: one
    /// unit per adjacency list fetched and one per neighbour looked at. A node
    /// with more neighbours than the budget is expanded over several calls
    /// (the check keeps a cursor into its adjacency list), so no call does
    /// more than `budget` units, however large a node's degree.
    pub fn step(&mut self, g: &impl GraphView, budget: u64) -> Progress {
        let budget = budget.max(2);
        let mut spent = 0u64;
        let mut buf = Vec::new();
        loop {
            if let Some(out) = self.result.clone().or_else(|| self.settled()) {
                self.result = Some(out.clone());
                return Progress::Done(out);
            }
            if spent + 2 > budget {
                return Progress::Pending;
            }
            let (i, u, start) = match self.cursor.take() {
                Some(c) => (c.side as usize, c.node, c.next as usize),
                None => {
                    let i = match (self.side_done(0), self.side_done(1)) {
                        (true, _) => 1,
                        (_, true) => 0,
                        _ if self.sides[1].visited.len() < self.sides[0].visited.len() => 1,
                        _ => 0,
                    };
                    let Some(u) = self.sides[i].frontier.pop_front() else { continue };
                    (i, u, 0)
                }
            };
            buf.clear();
            g.neighbors(u, &mut buf);
            spent += 1;
            self.work += 1;
            let mut j = start.min(buf.len());
            while j < buf.len() {
                if spent >= budget {
                    self.cursor = Some(Cursor { side: i as u8, node: u, next: j as u32 });
                    return Progress::Pending;
                }
                let v = buf[j];
                j += 1;
                spent += 1;
                self.work += 1;
                if self.sides[1 - i].visited.contains(&v) {
                    // Met the other side: still connected. Drop the search
                    // state so a stored finished check costs little.
                    self.sides = [Side::empty(), Side::empty()];
                    self.result = Some(Outcome::Connected);
                    return Progress::Done(Outcome::Connected);
                }
                if self.sides[i].visited.insert(v) {
                    self.sides[i].frontier.push_back(v);
                    self.sides[i].stake = self.sides[i].stake.saturating_add(g.stake(v));
                }
            }
        }
    }

    /// A side is done when nothing is left to expand on it, the node in
    /// hand included.
    fn side_done(&self, i: usize) -> bool {
        self.sides[i].done() && self.cursor.is_none_or(|c| c.side as usize != i)
    }

    /// The outcome, if the sides already decide it.
    fn settled(&self) -> Option<Outcome> {
        let [s0, s1] = &self.sides;
        let part = |s: &Side| Outcome::Partitioned { nodes: s.visited.iter().copied().collect(), stake: s.stake };
        match (self.side_done(0), self.side_done(1)) {
            (true, true) => Some(match s0.stake.cmp(&s1.stake) {
                core::cmp::Ordering::Less => part(s0),
                core::cmp::Ordering::Greater => part(s1),
                core::cmp::Ordering::Equal => Outcome::Tie { stake: s0.stake },
            }),
            (true, false) if s1.stake > s0.stake => Some(part(s0)),
            (false, true) if s0.stake > s1.stake => Some(part(s1)),
            _ => None,
        }
    }
}

/// The same decision by brute force over the whole graph (union-find over all
/// open edges). The test oracle for [`PartitionCheck`]; also fine for small
/// graphs off chain. `g` must already lack the removed edge.
pub fn partition_oracle(g: &Graph, a: NodeIdx, b: NodeIdx) -> Outcome {
    let mut uf = UnionFind::new(g.node_count());
    for e in g.edges() {
        uf.union(e.a, e.b);
    }
    let (ra, rb) = (uf.find(a), uf.find(b));
    if ra == rb {
        return Outcome::Connected;
    }
    let mut side = |r: NodeIdx| {
        let nodes: Vec<NodeIdx> = (0..g.node_count() as NodeIdx).filter(|&n| uf.find(n) == r).collect();
        let stake = nodes.iter().map(|&n| g.stake(n)).fold(0u128, |s, x| s.saturating_add(x));
        (nodes, stake)
    };
    let (na, sa) = side(ra);
    let (nb, sb) = side(rb);
    match sa.cmp(&sb) {
        core::cmp::Ordering::Less => Outcome::Partitioned { nodes: na, stake: sa },
        core::cmp::Ordering::Greater => Outcome::Partitioned { nodes: nb, stake: sb },
        core::cmp::Ordering::Equal => Outcome::Tie { stake: sa },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::EdgeParams;
    use crate::graph::{Edge, NodeInfo};
    use proptest::prelude::*;

    fn graph(stakes: &[u128], edges: &[(NodeIdx, NodeIdx)]) -> Graph {
        let mut g = Graph::new();
        for &s in stakes {
            g.add_node(NodeInfo { stake: s, service_ms: 0 });
        }
        for (i, &(a, b)) in edges.iter().enumerate() {
            g.add_edge(Edge { channel: ChannelId(i as u64), a, b, params: EdgeParams::default() }).unwrap();
        }
        g
    }

    fn run(g: &Graph, a: NodeIdx, b: NodeIdx, budget: u64) -> (Outcome, u32) {
        let mut c = PartitionCheck::new(ChannelId(999), a, b, g);
        let mut steps = 0;
        loop {
            steps += 1;
            if let Progress::Done(o) = c.step(g, budget) {
                return (o, steps);
            }
            assert!(steps < 1_000_000, "check does not terminate");
        }
    }

    #[test]
    fn offline_node_alone_is_partitioned() {
        // 0 is the offline node; its last edge to 1 was severed.
        let g = graph(&[10, 100, 100], &[(1, 2)]);
        assert_eq!(run(&g, 0, 1, 10).0, Outcome::Partitioned { nodes: vec![0], stake: 10 });
    }

    #[test]
    fn sockpuppets_go_down_with_the_offline_node() {
        // Offline node 0 with puppets 1..=4 (stake 1 each) attached only to it;
        // the honest side 5..=7 (stake 50 each) severed the edge 0–5.
        let g = graph(&[20, 1, 1, 1, 1, 50, 50, 50], &[(0, 1), (0, 2), (0, 3), (0, 4), (5, 6), (6, 7)]);
        assert_eq!(run(&g, 0, 5, 3).0, Outcome::Partitioned { nodes: vec![0, 1, 2, 3, 4], stake: 24 });
    }

    #[test]
    fn fewer_nodes_more_stake_wins() {
        // Side {0,1}: 2 nodes, stake 1000. Side {2..=6}: 5 nodes, stake 50.
        let g = graph(&[500, 500, 10, 10, 10, 10, 10], &[(0, 1), (2, 3), (3, 4), (4, 5), (5, 6)]);
        assert_eq!(run(&g, 1, 2, 1).0, Outcome::Partitioned { nodes: vec![2, 3, 4, 5, 6], stake: 50 });
    }

    #[test]
    fn tie_partitions_nobody() {
        let g = graph(&[5, 5, 5, 5], &[(0, 1), (2, 3)]);
        assert_eq!(run(&g, 0, 2, 100).0, Outcome::Tie { stake: 10 });
    }

    #[test]
    fn connected_through_a_cycle() {
        let g = graph(&[1, 1, 1, 1], &[(1, 2), (2, 3), (3, 0)]);
        assert_eq!(run(&g, 0, 1, 1).0, Outcome::Connected);
    }

    #[test]
    fn work_grows_with_the_small_side() {
        // A long path of 20,000 nodes, and a 3-node side cut off from it.
        let n = 20_000u32;
        let mut stakes = vec![100u128; n as usize];
        stakes.extend([1, 1, 1]);
        let mut edges: Vec<(u32, u32)> = (0..n - 1).map(|i| (i, i + 1)).collect();
        edges.extend([(n, n + 1), (n + 1, n + 2)]);
        let g = graph(&stakes, &edges);
        let mut c = PartitionCheck::new(ChannelId(1), n / 2, n + 1, &g);
        let mut total = 0;
        loop {
            match c.step(&g, 4) {
                Progress::Done(o) => {
                    assert_eq!(o, Outcome::Partitioned { nodes: vec![n, n + 1, n + 2], stake: 3 });
                    break;
                }
                Progress::Pending => total += 1,
            }
        }
        assert!(c.work < 64, "work {} should not grow with the 20,000-node side", c.work);
        assert!(total >= 1, "a budget of 4 needs more than one step");
    }

    #[test]
    fn a_hub_is_expanded_over_several_calls() {
        // A hub (node 1) with 5,000 leaves, cut off from node 0: no call may
        // exceed the budget even though one node has 5,000 neighbours.
        let n = 5_000u32;
        let mut stakes = vec![1_000_000u128, 1];
        stakes.extend(std::iter::repeat_n(1, n as usize));
        let edges: Vec<(u32, u32)> = (0..n).map(|i| (1, 2 + i)).collect();
        let g = graph(&stakes, &edges);
        let mut c = PartitionCheck::new(ChannelId(1), 0, 1, &g);
        let mut calls = 0;
        loop {
            let before = c.work;
            let p = c.step(&g, 100);
            assert!(c.work - before <= 100, "a call did {} units", c.work - before);
            calls += 1;
            if let Progress::Done(o) = p {
                let Outcome::Partitioned { nodes, stake } = o else { panic!("{o:?}") };
                assert_eq!((nodes.len(), stake), (n as usize + 1, n as u128 + 1));
                break;
            }
        }
        assert!(calls > 50, "{calls} calls");
    }

    #[test]
    fn state_roundtrips_through_serde() {
        let g = graph(&[1, 2, 3, 4, 5, 6], &[(0, 1), (1, 2), (3, 4), (4, 5)]);
        let mut c = PartitionCheck::new(ChannelId(1), 0, 3, &g);
        assert_eq!(c.step(&g, 1), Progress::Pending);
        let json = serde_json::to_string(&c).unwrap();
        let mut back: PartitionCheck = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.step(&g, 1000), Progress::Done(partition_oracle(&g, 0, 3)));
    }

    fn random_graph() -> impl Strategy<Value = (Vec<u128>, Vec<(NodeIdx, NodeIdx)>, usize, u64)> {
        (2usize..24)
            .prop_flat_map(|n| {
                (
                    // Small stakes so that ties happen.
                    prop::collection::vec(0u128..4, n),
                    prop::collection::vec((0..n as NodeIdx, 0..n as NodeIdx), 1..(3 * n)),
                    any::<prop::sample::Index>().prop_map(move |i| i.index(usize::MAX)),
                    1u64..40,
                )
            })
            .prop_map(|(stakes, mut edges, pick, budget)| {
                edges.retain(|(a, b)| a != b);
                if edges.is_empty() {
                    edges.push((0, 1));
                }
                let pick = pick % edges.len();
                (stakes, edges, pick, budget)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Resumed in random budgets, the check agrees with brute force,
        /// ties included.
        #[test]
        fn agrees_with_oracle((stakes, edges, pick, budget) in random_graph()) {
            let mut g = graph(&stakes, &edges);
            let removed = g.remove_edge(ChannelId(pick as u64)).unwrap();
            let (out, _) = run(&g, removed.a, removed.b, budget);
            prop_assert_eq!(out, partition_oracle(&g, removed.a, removed.b));
        }
    }
}
