//! What a run reports: the summary printed as JSON (deterministic: ordered
//! maps, amounts as decimal strings), built from the run's [`Stats`] and its
//! end state.

use std::collections::BTreeMap;

use por_core::Amount;
use serde::Serialize;

use crate::chain::PartitionReport;
use crate::sim::Sim;
pub use crate::stats::{EconViolation, NodeBooks, RequestCounts, Stats, Violation};

#[derive(Serialize)]
struct Money {
    #[serde(with = "por_core::bytes::amount_serde")]
    total: Amount,
    conserved: bool,
    #[serde(with = "por_core::bytes::amount_serde")]
    treasury: Amount,
    #[serde(with = "por_core::bytes::amount_serde")]
    in_flight: Amount,
    by_role: BTreeMap<String, Net>,
    by_class: BTreeMap<String, Net>,
    per_node: Option<Vec<NodeMoney>>,
}

#[derive(Serialize, Default, Clone)]
struct Net {
    nodes: u64,
    /// Sum of gains (decimal string).
    gained: String,
    /// Sum of losses.
    lost: String,
    #[serde(skip)]
    g: Amount,
    #[serde(skip)]
    l: Amount,
}

#[derive(Serialize)]
struct NodeMoney {
    node: u32,
    name: String,
    class: String,
    role: String,
    net: String,
    partitioned: bool,
    #[serde(with = "por_core::bytes::amount_serde")]
    late_paid: Amount,
    #[serde(with = "por_core::bytes::amount_serde")]
    late_received: Amount,
    /// Half-penalties its own cuts cost it.
    #[serde(with = "por_core::bytes::amount_serde")]
    cut_penalties: Amount,
    /// Paid back to it out of partitions' slashes (a cut towards a side
    /// that ended partitioned is paid back in full when the slash covers
    /// the claims, before anything goes to the treasury).
    #[serde(with = "por_core::bytes::amount_serde")]
    reimbursed: Amount,
}

/// The JSON summary of a run.
#[derive(Serialize)]
pub struct Summary {
    pub(crate) scenario: String,
    pub(crate) seed: u64,
    nodes: usize,
    edges: usize,
    pub(crate) virtual_ms: u64,
    events: u64,
    messages: u64,
    /// Messages the network lost (`network.loss`).
    pub lost: u64,
    dropped_offline: u64,
    /// Requests by outcome.
    pub requests: RequestCounts,
    deadlines_passed: u64,
    /// Requests the nodes' engines still track at the end (all roles).
    tracked_at_end: u64,
    late_fees: LateFees,
    /// Severances by reason.
    pub severances: BTreeMap<String, u64>,
    /// Severances in all.
    pub severances_total: u64,
    sever_failed: u64,
    /// Cooperative closes (by `close_dodge` nodes).
    pub cooperative_closes: u64,
    partitions: Vec<PartitionReport>,
    /// Channels opened on chain by stranded nodes within a split's window.
    pub reconnections: u64,
    /// Splits settled with nobody partitioned.
    pub splits_resolved: u64,
    /// Names of partitioned nodes.
    pub partitioned: Vec<String>,
    /// Messages refused, by reason.
    pub refused: BTreeMap<String, u64>,
    /// Requests refused, by the sender's class and the reason.
    pub refused_to: BTreeMap<String, BTreeMap<String, u64>>,
    /// Requests started and answered, by the client's class.
    pub requests_by_client_class: BTreeMap<String, [u64; 2]>,
    /// A lying requester's lies: told, refused with the matching reason.
    pub lies: [u64; 2],
    routing: BTreeMap<String, u64>,
    money: Money,
    /// Each node's books, summed by class, with the worst honest nodes and
    /// the attackers, and the economic invariants.
    pub economics: Economics,
    /// Invariant violations in all.
    pub violation_count: u64,
    /// The first 100.
    pub violations: Vec<Violation>,
    #[serde(skip)]
    /// Net money per node name (for the tests).
    pub net_by_name: BTreeMap<String, i128>,
    #[serde(skip)]
    /// Late fees paid in all.
    pub late_paid: Amount,
    #[serde(skip)]
    /// Late fees received by requesters.
    pub late_to_requesters: Amount,
    #[serde(skip)]
    /// Late fees per second, for the plot.
    pub late_series: BTreeMap<u64, Amount>,
    #[serde(skip)]
    /// Outcomes per client class, for the plot.
    pub outcomes_by_class: BTreeMap<String, [u64; 3]>,
}

/// The books of a run (see [`NodeBooks`]).
#[derive(Serialize)]
pub struct Economics {
    /// Sums by behaviour class.
    pub by_class: BTreeMap<String, ClassBooks>,
    /// The ten honest nodes that lost most (by `loss`), worst first.
    pub worst_honest: Vec<NodeBooks>,
    /// Every node not honest (the first 100), by `loss`, least first.
    pub attackers: Vec<NodeBooks>,
    /// Broken economic invariants, by kind.
    pub violations_by_kind: BTreeMap<String, u64>,
    /// The first 100.
    pub violations: Vec<EconViolation>,
}

/// One class's books, summed (decimal strings), with its extremes.
#[derive(Serialize, Default)]
pub struct ClassBooks {
    /// Nodes of the class.
    pub nodes: u64,
    /// Sum of `net`.
    pub net: String,
    /// Sum of `loss` over the nodes that lost.
    pub lost: String,
    /// Sum of `earned`.
    pub earned: String,
    /// Sum of half penalties of own cuts.
    pub cut_penalties: String,
    /// Sum of half penalties of cuts by others.
    pub cut_against: String,
    /// Sum slashed.
    pub slashed: String,
    /// Sum reimbursed.
    pub reimbursed: String,
    /// The largest `loss` of one node.
    pub worst_loss: String,
    /// The smallest `loss` of one node.
    pub least_loss: String,
    /// The largest `beyond` of one node.
    pub worst_beyond: String,
}

impl Economics {
    fn build(s: &Stats) -> Economics {
        let mut by_class: BTreeMap<String, Vec<&NodeBooks>> = BTreeMap::new();
        for b in &s.books {
            by_class.entry(b.class.clone()).or_default().push(b);
        }
        let by_class = by_class
            .into_iter()
            .map(|(k, v)| {
                let sum = |f: &dyn Fn(&NodeBooks) -> i128| v.iter().map(|b| f(b)).sum::<i128>().to_string();
                let c = ClassBooks {
                    nodes: v.len() as u64,
                    net: sum(&|b| b.net),
                    lost: sum(&|b| b.loss.max(0)),
                    earned: sum(&|b| b.earned),
                    cut_penalties: sum(&|b| b.cut_penalties as i128),
                    cut_against: sum(&|b| b.cut_against as i128),
                    slashed: sum(&|b| b.slashed as i128),
                    reimbursed: sum(&|b| b.reimbursed as i128),
                    worst_loss: v.iter().map(|b| b.loss).max().unwrap_or(0).to_string(),
                    least_loss: v.iter().map(|b| b.loss).min().unwrap_or(0).to_string(),
                    worst_beyond: v.iter().map(|b| b.beyond).max().unwrap_or(0).to_string(),
                };
                (k, c)
            })
            .collect();
        let mut honest: Vec<&NodeBooks> = s.books.iter().filter(|b| b.class == "honest").collect();
        honest.sort_by_key(|b| (std::cmp::Reverse(b.loss), b.node));
        let mut attackers: Vec<&NodeBooks> = s.books.iter().filter(|b| b.class != "honest").collect();
        attackers.sort_by_key(|b| (b.loss, b.node));
        Economics {
            by_class,
            worst_honest: honest.into_iter().take(10).cloned().collect(),
            attackers: attackers.into_iter().take(100).cloned().collect(),
            violations_by_kind: s.econ_by_kind.clone(),
            violations: s.econ_violations.clone(),
        }
    }
}

#[derive(Serialize)]
struct LateFees {
    #[serde(with = "por_core::bytes::amount_serde")]
    paid_total: Amount,
    #[serde(with = "por_core::bytes::amount_serde")]
    to_requesters: Amount,
    cannot_pay: u64,
}

fn signed(v: i128) -> String {
    v.to_string()
}

impl Summary {
    /// Builds the summary at the end of a run (after [`Sim::finish`]).
    pub fn build(sim: &Sim, edges: usize) -> Summary {
        let s = &sim.stats;
        let roles = sim.roles();
        let mut by_role: BTreeMap<String, Net> = BTreeMap::new();
        let mut by_class: BTreeMap<String, Net> = BTreeMap::new();
        let mut per_node = Vec::new();
        let mut net_by_name = BTreeMap::new();
        for (i, n) in sim.nodes.iter().enumerate() {
            let i = i as u32;
            let w = sim.wealth(i) as i128 - n.initial as i128;
            net_by_name.insert(n.name.clone(), w);
            for (map, key) in [(&mut by_role, roles[&i].to_string()), (&mut by_class, n.class.clone())] {
                let e = map.entry(key).or_default();
                e.nodes += 1;
                if w >= 0 {
                    e.g += w as Amount;
                } else {
                    e.l += (-w) as Amount;
                }
            }
            per_node.push(NodeMoney {
                node: i,
                name: n.name.clone(),
                class: n.class.clone(),
                role: roles[&i].to_string(),
                net: signed(w),
                partitioned: sim.chain.partitioned(i),
                late_paid: s.late_paid_by.get(&i).copied().unwrap_or(0),
                late_received: s.late_received_by.get(&i).copied().unwrap_or(0),
                cut_penalties: sim.chain.books[i as usize].cut_penalties,
                reimbursed: sim.chain.books[i as usize].reimbursed,
            });
        }
        for m in [&mut by_role, &mut by_class] {
            for v in m.values_mut() {
                v.gained = v.g.to_string();
                v.lost = v.l.to_string();
            }
        }
        let (exact, trees) = sim.routing_work();
        let partitioned = sim
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| sim.chain.partitioned(*i as u32))
            .map(|(_, n)| n.name.clone())
            .collect();
        Summary {
            scenario: sim.sc.name.clone(),
            seed: sim.sc.seed,
            nodes: sim.nodes.len(),
            edges,
            virtual_ms: sim.now,
            events: s.events,
            messages: s.messages,
            lost: s.lost,
            dropped_offline: s.dropped_offline,
            requests: s.requests.clone(),
            deadlines_passed: s.deadlines_passed,
            tracked_at_end: sim.nodes.iter().map(|n| n.engine.in_flight() as u64).sum(),
            late_fees: LateFees {
                paid_total: s.late_paid,
                to_requesters: s.late_to_requesters,
                cannot_pay: s.cannot_pay,
            },
            severances: s.severances.clone(),
            severances_total: s.severances_total,
            sever_failed: s.sever_failed,
            cooperative_closes: s.cooperative_closes,
            partitions: s.partitions.clone(),
            reconnections: s.reconnections,
            splits_resolved: s.splits_resolved,
            partitioned,
            refused: s.refused.clone(),
            refused_to: s.refused_to.clone(),
            requests_by_client_class: s.requests_by_client_class.clone(),
            lies: s.lies,
            routing: BTreeMap::from([("exact_calls".to_string(), exact), ("trees_built".to_string(), trees)]),
            money: Money {
                total: sim.chain.total,
                conserved: sim.chain.held() == sim.chain.total,
                treasury: sim.chain.treasury(),
                in_flight: s.money_in_flight,
                by_role,
                by_class,
                per_node: (sim.nodes.len() <= 200).then_some(per_node),
            },
            economics: Economics::build(s),
            violation_count: s.violation_count,
            violations: s.violations.clone(),
            net_by_name,
            late_paid: s.late_paid,
            late_to_requesters: s.late_to_requesters,
            late_series: s.late_series.clone(),
            outcomes_by_class: s.outcomes_by_class.clone(),
        }
    }

    /// Responses in all.
    pub fn responses(&self) -> u64 {
        self.requests.response_in_bound + self.requests.response_late
    }

    /// Events processed.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Notices in all.
    pub fn notices(&self) -> u64 {
        self.requests.notice_in_bound + self.requests.notice_late
    }
}
