use proptest::prelude::*;

use super::memory::MemStore;
use super::*;
use crate::cost::EdgeParams;
use crate::graph::{Edge, NodeInfo};
use crate::partition::Outcome;
use crate::voucher::ChannelId;

fn rules(budget: u64, batch: u32) -> Rules {
    Rules { half_penalty: 10, claim_storage_fee: 1, claim_ttl_ms: 1_000, step_budget: budget, settle_batch: batch }
}

fn store(stakes: &[Amount], edges: &[(NodeIdx, NodeIdx)]) -> MemStore {
    let mut s = MemStore::new();
    s.keep_events = true;
    for &st in stakes {
        s.add_node(NodeInfo { stake: st, service_ms: 0 });
    }
    for (i, &(a, b)) in edges.iter().enumerate() {
        s.graph.add_edge(Edge { channel: ChannelId(i as u64), a, b, params: EdgeParams::default() }).unwrap();
    }
    s
}

/// Severs `channel` (by its end `by`), charges, makes claims and runs the
/// check to its end; returns the finished check and the calls it took.
fn sever(s: &mut MemStore, r: &Rules, channel: u64, by: NodeIdx, now_ms: u64, slash_bps: u32) -> (Check, u32) {
    let e = s.graph.remove_edge(ChannelId(channel)).expect("an open edge");
    let other = e.other(by);
    let pen = charge_penalties(s, r, by, other);
    record_claims(s, r, channel, by, other, pen, now_ms);
    s.reset_reads();
    let mut c = Check::new(s, channel, by, other, now_ms, slash_bps, true);
    let mut calls = 0;
    loop {
        calls += 1;
        s.reset_reads();
        if c.step(s, r) == StepResult::Done {
            return (c, calls);
        }
        assert!(calls < 1_000_000, "the check does not end");
    }
}

#[test]
fn an_isolated_node_pays_back_every_neighbour_before_the_treasury() {
    // 0 is offline, joined to 1, 2 and 3, which are joined among
    // themselves.
    let mut s = store(&[100, 1_000, 1_000, 1_000], &[(0, 1), (0, 2), (0, 3), (1, 2), (2, 3)]);
    let r = rules(1_000, 25);
    let total = s.held_money();
    for (ch, by) in [(0, 1), (1, 2)] {
        let (c, _) = sever(&mut s, &r, ch, by, 0, 5_000);
        assert_eq!(c.outcome, Some(Outcome::Connected));
    }
    let (c, _) = sever(&mut s, &r, 2, 3, 0, 5_000);
    assert_eq!(c.outcome, Some(Outcome::Partitioned { nodes: vec![0], stake: 70 }));
    // 0 lost 3 half-penalties (30) then half of the rest (35); 1, 2, 3 get
    // their 10 back; 5 goes to the treasury.
    assert_eq!(s.graph.stake(0), 35);
    for n in 1..=3 {
        assert_eq!((s.graph.stake(n), s.balance[n as usize]), (990, 10), "node {n}");
    }
    assert!(s.partitioned[0]);
    assert_eq!(s.pool, 0);
    assert_eq!(s.reserve, 6, "six claims made, one fee each");
    assert_eq!(s.treasury, 60 - 6 + 5);
    assert_eq!(s.held_money(), total);
    // 0's claims on its neighbours are still there; those on it are paid.
    assert!(s.claims().all(|(_, c)| c.creditor == 0));
    let settled = s.events.iter().find(|e| matches!(e, SettleEvent::PartitionSettled { .. })).unwrap();
    assert_eq!(
        *settled,
        SettleEvent::PartitionSettled { channel: 2, nodes: 1, slashed: 35, reimbursed: 30, to_treasury: 5 }
    );
}

#[test]
fn claims_are_paid_pro_rata_when_the_slash_is_short() {
    // 0 (stake 40) is cut by 1, 2 and 3; a 10 % slash of the 10 left is 1,
    // shared by three claims of 10: each gets floor(10 · 1 / 30) = 0.
    let mut s = store(&[40, 1_000, 1_000, 1_000], &[(0, 1), (0, 2), (0, 3), (1, 2), (2, 3)]);
    let r = rules(1_000, 25);
    for (ch, by) in [(0, 1), (1, 2), (2, 3)] {
        sever(&mut s, &r, ch, by, 0, 1_000);
    }
    assert_eq!(s.graph.stake(0), 9);
    assert_eq!(s.balance, vec![0, 0, 0, 0]);
    assert_eq!(s.treasury + s.reserve, 30 + 30 + 1);
    // With a 50 % slash the pool is 5: floor(10 · 5 / 30) = 1 each, the 2
    // rounded away go to the treasury.
    let mut s = store(&[40, 1_000, 1_000, 1_000], &[(0, 1), (0, 2), (0, 3), (1, 2), (2, 3)]);
    for (ch, by) in [(0, 1), (1, 2), (2, 3)] {
        sever(&mut s, &r, ch, by, 0, 5_000);
    }
    assert_eq!(s.balance, vec![0, 1, 1, 1]);
    assert_eq!(s.graph.stake(0), 5);
}

#[test]
fn lapsed_claims_are_not_paid_and_are_dropped() {
    let mut s = store(&[100, 1_000, 1_000], &[(0, 1), (0, 2), (1, 2)]);
    let r = rules(1_000, 25);
    sever(&mut s, &r, 0, 1, 0, 5_000);
    // The claim of 1 on 0 lapses at 1 000; 0 is cut off at 1 500.
    sever(&mut s, &r, 1, 2, 1_500, 5_000);
    assert_eq!(s.balance[1], 0, "1's claim had lapsed");
    assert_eq!(s.balance[2], 10);
    assert!(s.events.iter().any(|e| matches!(e, SettleEvent::ClaimsLapsed(v) if v.len() == 1)));
    assert!(s.claims().all(|(_, c)| c.debtor != 0), "no claim on 0 is left");
}

#[test]
fn a_check_that_does_not_settle_leaves_the_money_alone() {
    let mut s = store(&[100, 1_000], &[(0, 1)]);
    let r = rules(1_000, 25);
    s.graph.remove_edge(ChannelId(0));
    let pen = charge_penalties(&mut s, &r, 1, 0);
    record_claims(&mut s, &r, 0, 1, 0, pen, 0);
    let before = (s.total_stake(), s.balance.clone(), s.treasury);
    let mut c = Check::new(&s, 0, 1, 0, 0, 5_000, false);
    assert_eq!(c.step(&mut s, &r), StepResult::Done);
    assert_eq!(c.partitioned(), Some(&[0][..]));
    assert_eq!(c.phase(), CheckPhase::Done);
    assert_eq!((s.total_stake(), s.balance.clone(), s.treasury), before);
    assert!(!s.partitioned[0]);
}

#[test]
fn a_half_penalty_below_the_claim_fee_makes_no_claim() {
    let mut s = store(&[5, 1_000], &[(0, 1)]);
    let r = Rules { claim_storage_fee: 6, ..rules(1_000, 25) };
    s.graph.remove_edge(ChannelId(0));
    let pen = charge_penalties(&mut s, &r, 1, 0);
    assert_eq!(pen, Penalties { severer: 10, other: 5 });
    record_claims(&mut s, &r, 0, 1, 0, pen, 0);
    assert_eq!(s.claims().count(), 1, "only 1's half of 10 makes a claim");
    assert_eq!((s.reserve, s.treasury), (6, 9));
}

#[test]
fn mul_div_is_exact_on_wide_products() {
    assert_eq!(mul_div(u128::MAX, 3, 4), u128::MAX / 4 * 3 + 2);
    assert_eq!(mul_div(10, 5, 30), 1);
    assert_eq!(mul_div(0, 0, 1), 0);
}

/// Stakes, edges, severances (which open edge, by which end, after how
/// long) and the slash.
type Scenario = (Vec<Amount>, Vec<(NodeIdx, NodeIdx)>, Vec<(usize, bool, u64)>, u32);

/// Stakes, balances, statuses, treasury, reserve, pool and claims.
type Books = (Vec<Amount>, Vec<Amount>, Vec<bool>, Amount, Amount, Amount, Vec<(ClaimKey, Claim)>);

/// A random network and a random sequence of severances.
fn scenario() -> impl Strategy<Value = Scenario> {
    (2usize..14).prop_flat_map(|n| {
        (
            prop::collection::vec(0u128..200, n),
            prop::collection::vec((0..n as NodeIdx, 0..n as NodeIdx), 1..(3 * n)),
            prop::collection::vec((any::<usize>(), any::<bool>(), 0u64..600), 1..12),
            0u32..=10_000,
        )
    })
}

/// Everything the settlement decides, to compare two runs.
fn books(s: &MemStore) -> Books {
    let stakes = (0..s.node_count() as NodeIdx).map(|n| s.graph.stake(n)).collect();
    let claims = s.claims().map(|(k, c)| (*k, c.clone())).collect();
    (stakes, s.balance.clone(), s.partitioned.clone(), s.treasury, s.reserve, s.pool, claims)
}

fn run_scenario(
    stakes: &[Amount],
    edges: &[(NodeIdx, NodeIdx)],
    cuts: &[(usize, bool, u64)],
    bps: u32,
    r: &Rules,
) -> MemStore {
    let edges: Vec<_> = edges.iter().copied().filter(|(a, b)| a != b).collect();
    let mut s = store(stakes, &edges);
    let mut now = 0;
    for &(pick, by_a, dt) in cuts {
        let open: Vec<u64> = s.graph.edges().map(|e| e.channel.0).collect();
        if open.is_empty() {
            break;
        }
        now += dt;
        let ch = open[pick % open.len()];
        let e = *s.graph.edge(ChannelId(ch)).unwrap();
        let by = if by_a { e.a } else { e.b };
        sever(&mut s, r, ch, by, now, bps);
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    /// Whatever the allowance per call and the batch size, the settlement
    /// ends with the same stakes, balances, statuses, claims and treasury,
    /// and money is conserved.
    #[test]
    fn the_outcome_does_not_depend_on_the_step_budget(
        (stakes, edges, cuts, bps) in scenario(),
        budget in 2u64..30,
        batch in 1u32..5,
    ) {
        let total: Amount = stakes.iter().sum();
        let big = run_scenario(&stakes, &edges, &cuts, bps, &rules(1_000_000, 1_000));
        let small = run_scenario(&stakes, &edges, &cuts, bps, &rules(budget, batch));
        prop_assert_eq!(books(&big), books(&small));
        prop_assert_eq!(big.held_money(), total);
        prop_assert_eq!(big.pool, 0);
    }
}
