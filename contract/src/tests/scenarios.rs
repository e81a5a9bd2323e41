//! The scenarios of issue #3: an offline node severed by all its neighbours,
//! sockpuppets that go down with it, a split where fewer nodes hold more
//! stake, and a check continued over many calls on a large component.

use super::*;
use crate::nodes::NodeStatus;
use crate::partition::MAX_STEP_BUDGET;
use por_core::Outcome;

fn status(ch: &mut Chain, name: &str) -> NodeStatus {
    ch.view(|c| c.node_at(c.node_of.get(&acc(name)).copied().unwrap())).unwrap().status
}

fn withdrawable(ch: &mut Chain, name: &str) -> u128 {
    ch.view(|c| c.balances(acc(name))).withdrawable.0
}

#[test]
fn offline_node_severed_by_all_neighbours_reimburses_each() {
    // Ring of honest nodes h0..h3, all connected to the offline node x.
    let mut ch = Chain::new(|c| {
        c.severance_penalty = (N / 5).into();
        c.partition_slash_bps = 5_000;
    });
    let honest = ["h0", "h1", "h2", "h3"];
    for h in honest {
        ch.register(h, 10 * N);
    }
    ch.register("x", 5 * N);
    for i in 0..4 {
        ch.open(honest[i], honest[(i + 1) % 4], N, N);
    }
    let ids: Vec<u64> = honest.iter().map(|h| ch.open(h, "x", N, N)).collect();
    let half = N / 10;
    // The first three severances leave x connected: claims only.
    for (h, id) in honest.iter().zip(&ids).take(3) {
        let st = ch.call(h, 0, |c| c.sever(*id, None));
        assert_eq!(st.outcome, Some(Outcome::Connected));
        assert_eq!(withdrawable(&mut ch, h), 0);
    }
    assert_eq!(status(&mut ch, "x"), NodeStatus::Active);
    assert_eq!(ch.view(|c| c.claims(acc("x"))).owed_by.len(), 3);
    // The last cut isolates x: it is partitioned, slashed by half, and every
    // neighbour gets its half-penalty back.
    let x_stake = 5 * N - 4 * half;
    let st = ch.call("h3", 0, |c| c.sever(ids[3], None));
    assert_eq!(st.outcome, Some(Outcome::Partitioned { nodes: vec![4], stake: x_stake }));
    assert!(ch.event_names().contains(&"split_recorded".to_string()));
    assert!(!ch.event_names().contains(&"node_partitioned".to_string()), "nobody is slashed before settle");
    assert_eq!(status(&mut ch, "x"), NodeStatus::Active);
    let split = ch.view(|c| c.pending_split(ids[3])).expect("a pending split");
    assert_eq!((split.nodes, split.stake.0), (1, x_stake));
    ch.refuse("anyone", 0, "reconnection window", |c| c.settle(ids[3]));
    // x is offline: it does not reconnect; at the window's end it is
    // partitioned, slashed by half, and every neighbour gets its
    // half-penalty back.
    let st = ch.settle(ids[3]);
    assert_eq!(st.kind, "settle");
    assert_eq!(st.outcome, Some(Outcome::Partitioned { nodes: vec![4], stake: x_stake }));
    assert!(ch.event_names().contains(&"split_settled".to_string()));
    assert!(ch.view(|c| c.pending_split(ids[3])).is_none());
    assert_eq!(status(&mut ch, "x"), NodeStatus::Partitioned);
    for h in honest {
        assert_eq!(withdrawable(&mut ch, h), half, "{h} is reimbursed its half-penalty");
    }
    assert_eq!(ch.view(|c| c.node(acc("x"))).unwrap().stake.0, x_stake - x_stake / 2);
    assert!(ch.view(|c| c.claims(acc("x"))).owed_by.is_empty(), "paid claims are gone");
    // x's own claims on its neighbours remain.
    assert_eq!(ch.view(|c| c.claims(acc("x"))).held.len(), 4);
    ch.assert_conserved();
}

#[test]
fn sockpuppets_attached_only_to_the_offline_node_go_down_with_it() {
    let mut ch = Chain::new(|c| c.severance_penalty = (N / 5).into());
    for h in ["h0", "h1", "h2"] {
        ch.register(h, 20 * N);
    }
    ch.open("h0", "h1", N, N);
    ch.open("h1", "h2", N, N);
    ch.register("x", 3 * N);
    let puppets: Vec<String> = (0..6).map(|i| format!("puppet{i}")).collect();
    for p in &puppets {
        ch.register(p, N);
        ch.open("x", p, N, N);
    }
    // The puppets also link among themselves: still only through x to the rest.
    ch.open(&puppets[0], &puppets[1], N, N);
    let e0 = ch.open("h0", "x", N, N);
    let e2 = ch.open("h2", "x", N, N);
    assert_eq!(ch.call("h0", 0, |c| c.sever(e0, None)).outcome, Some(Outcome::Connected));
    let st = ch.call("h2", 0, |c| c.sever(e2, None));
    let Some(Outcome::Partitioned { nodes, stake }) = st.outcome else { panic!("expected a partition, got {st:?}") };
    assert_eq!(nodes.len(), 7, "x and its six puppets, however many they are");
    assert_eq!(stake, 3 * N - 2 * (N / 10) + 6 * N);
    ch.settle(e2);
    for p in &puppets {
        assert_eq!(status(&mut ch, p), NodeStatus::Partitioned);
        assert_eq!(ch.view(|c| c.node(acc(p))).unwrap().stake.0, N - N / 10, "{p} loses 10 %");
    }
    assert_eq!(status(&mut ch, "x"), NodeStatus::Partitioned);
    for h in ["h0", "h2"] {
        assert_eq!(withdrawable(&mut ch, h), N / 10);
        assert_eq!(status(&mut ch, h), NodeStatus::Active);
    }
    ch.assert_conserved();
}

#[test]
fn fewer_nodes_with_more_stake_win_the_split() {
    let mut ch = Chain::new(|c| c.severance_penalty = (N / 5).into());
    // Side R: two rich nodes. Side P: five poor nodes in a path.
    ch.register("r0", 50 * N);
    ch.register("r1", 50 * N);
    ch.open("r0", "r1", N, N);
    for i in 0..5 {
        ch.register(&format!("p{i}"), 2 * N);
    }
    for i in 0..4 {
        ch.open(&format!("p{i}"), &format!("p{}", i + 1), N, N);
    }
    let bridge = ch.open("r1", "p0", N, N);
    // The poor side severs the bridge itself; it is still the smaller side.
    let st = ch.call("p0", 0, |c| c.sever(bridge, None));
    let Some(Outcome::Partitioned { nodes, .. }) = st.outcome else { panic!("expected a partition, got {st:?}") };
    assert_eq!(nodes, vec![2, 3, 4, 5, 6]);
    ch.settle(bridge);
    for i in 0..5 {
        assert_eq!(status(&mut ch, &format!("p{i}")), NodeStatus::Partitioned);
    }
    assert_eq!(status(&mut ch, "r1"), NodeStatus::Active);
    assert_eq!(withdrawable(&mut ch, "r1"), N / 10, "r1's half-penalty is paid back");
    ch.assert_conserved();
}

#[test]
fn pro_rata_when_the_slash_cannot_cover_the_claims() {
    // x has 1 NEAR of stake and a 1 % slash; three neighbours claim 0.5 each.
    let mut ch = Chain::new(|c| {
        c.severance_penalty = N.into();
        c.partition_slash_bps = 100;
        c.min_stake = (N / 100).into();
    });
    for h in ["h0", "h1", "h2"] {
        ch.register(h, 10 * N);
    }
    ch.open("h0", "h1", N, N);
    ch.open("h1", "h2", N, N);
    ch.register("x", 2 * N);
    let ids: Vec<u64> = ["h0", "h1", "h2"].iter().map(|h| ch.open(h, "x", N, N)).collect();
    for (h, id) in ["h0", "h1", "h2"].iter().zip(&ids) {
        ch.call(h, 0, |c| c.sever(*id, None));
    }
    ch.settle(ids[2]);
    // x's stake: 2 − 3 × 0.5 = 0.5; slash 1 % = 0.005; claims 1.5 in all.
    let pool = (N / 2) / 100;
    for h in ["h0", "h1", "h2"] {
        assert_eq!(withdrawable(&mut ch, h), pool / 3, "{h} gets a third of the pool");
    }
    ch.assert_conserved();
}

#[test]
fn tie_partitions_nobody() {
    let mut ch = Chain::new(|_| {});
    for n in ["a", "b", "c", "d"] {
        ch.register(n, 3 * N);
    }
    ch.open("a", "b", N, N);
    ch.open("c", "d", N, N);
    let bridge = ch.open("b", "c", N, N);
    let st = ch.call("b", 0, |c| c.sever(bridge, None));
    assert!(matches!(st.outcome, Some(Outcome::Tie { .. })), "{st:?}");
    assert!(ch.view(|c| c.pending_split(bridge)).is_none(), "a tie records no split");
    for n in ["a", "b", "c", "d"] {
        assert_eq!(status(&mut ch, n), NodeStatus::Active);
    }
    ch.assert_conserved();
}

#[test]
fn partition_check_continues_over_many_calls_on_a_large_component() {
    // Two paths of 150 nodes joined by one bridge; the component must be
    // walked to compare stakes. A small budget and batch force many calls.
    let mut ch = Chain::new(|c| {
        c.partition_step_budget = 40;
        c.settle_batch = 10;
        c.min_stake = 1.into();
        c.node_storage_fee = 0.into();
        c.channel_storage_fee = 0.into();
        c.severance_penalty = 0.into();
    });
    let n = 150;
    for i in 0..2 * n {
        // The left side is poorer.
        let stake = if i < n { 1_000 } else { 1_001 };
        ch.register(&format!("n{i}"), stake);
    }
    for i in 0..2 * n - 1 {
        if i != n - 1 {
            ch.open(&format!("n{i}"), &format!("n{}", i + 1), 0, 0);
        }
    }
    let bridge = ch.open(&format!("n{}", n - 1), &format!("n{n}"), 0, 0);
    let first = ch.call(&format!("n{n}"), 0, |c| c.sever(bridge, None));
    assert_eq!(first.phase, "search");
    let calls = ch.finish_check();
    assert!(calls > 10, "a budget of 40 needs many calls, got {calls}");
    let v = ch.view(|c| c.graph_version());
    let (_, calls, _, _) = ch.settle_measured(bridge);
    assert!(calls > 10, "settling with a budget of 40 needs many calls too, got {calls}");
    assert_eq!(ch.view(|c| c.graph_version()), v + (n as u64).div_ceil(10), "one bump per slash batch");
    for i in [0, n / 2, n - 1] {
        assert_eq!(status(&mut ch, &format!("n{i}")), NodeStatus::Partitioned);
    }
    for i in [n, 2 * n - 1] {
        assert_eq!(status(&mut ch, &format!("n{i}")), NodeStatus::Active);
    }
    ch.assert_conserved();
}

#[test]
fn a_hundred_claims_are_paid_within_the_log_limits() {
    // 100 honest nodes in a ring, each also linked to x; all sever x. The
    // last severance pays 100 claims in one call (settle_batch 100): the
    // mocked VM enforces NEAR's limits of 100 logs and 16 KiB per call.
    let mut ch = Chain::new(|c| {
        c.settle_batch = 100;
        c.min_stake = 1.into();
        c.severance_penalty = (N / 5).into();
        c.partition_slash_bps = 10_000;
    });
    let k = 100;
    for i in 0..k {
        ch.register(&format!("honest-node-with-a-long-name-{i}"), 10 * N);
    }
    ch.register("x", 100 * N);
    for i in 0..k {
        ch.open(
            &format!("honest-node-with-a-long-name-{i}"),
            &format!("honest-node-with-a-long-name-{}", (i + 1) % k),
            0,
            0,
        );
    }
    let ids: Vec<u64> = (0..k).map(|i| ch.open(&format!("honest-node-with-a-long-name-{i}"), "x", 0, 0)).collect();
    for (i, id) in ids.iter().enumerate() {
        ch.call(&format!("honest-node-with-a-long-name-{i}"), 0, |c| c.sever(*id, None));
    }
    assert_eq!(ch.view(|c| c.partition_check()), None);
    let st = ch.settle(ids[k - 1]);
    assert_eq!(st.phase, "done");
    let paid = ch.events().into_iter().find(|(n, _)| n == "claims_paid").expect("a claims_paid event").1;
    assert_eq!(paid["claims"].as_array().unwrap().len(), k);
    let bytes: usize = ch.logs.iter().map(|l| l.len()).sum();
    assert!(bytes < 16 * 1024, "logs of one call: {bytes} bytes");
    for i in [0, k - 1] {
        assert_eq!(withdrawable(&mut ch, &format!("honest-node-with-a-long-name-{i}")), N / 10);
    }
    ch.assert_conserved();
}

#[test]
fn a_large_partitioned_side_finishes_within_the_log_limits_and_the_read_budget() {
    // A whale cut off from a 3,500-node path of small stakes: the outcome
    // names 3,500 nodes (about 17 KB of JSON), more than a 16 KiB log could
    // list. The events carry only the side's size and stake, so every call
    // stays within NEAR's log limits (the mocked VM enforces them) and the
    // check finishes. At the largest budget the contract accepts, no call
    // makes more storage reads than the budget and each stays far below 300
    // Tgas of host-function gas. (Before node states had their own small
    // records, a budget of 4,000 work units ran out of gas here.)
    let mut ch = Chain::new(|c| {
        c.min_stake = 1.into();
        c.node_storage_fee = 0.into();
        c.channel_storage_fee = 0.into();
        c.severance_penalty = 0.into();
        c.partition_step_budget = crate::partition::MAX_STEP_BUDGET;
    });
    let n = 3_500;
    ch.register("whale", 1_000_000_000);
    for i in 0..n {
        ch.register(&format!("p{i}"), 1);
    }
    for i in 0..n - 1 {
        ch.open(&format!("p{i}"), &format!("p{}", i + 1), 0, 0);
    }
    let bridge = ch.open("whale", "p0", 0, 0);
    let mut st = ch.call("whale", 0, |c| c.sever(bridge, None));
    let (mut max_gas, mut max_reads, mut calls) = (ch.last_gas, st.reads, 1);
    while st.phase != "done" {
        let before = st.reads;
        st = ch.call("anyone", 0, |c| c.continue_partition_check());
        max_gas = max_gas.max(ch.last_gas);
        max_reads = max_reads.max(st.reads - before);
        calls += 1;
    }
    assert!(max_reads <= MAX_STEP_BUDGET + 2, "a call made {max_reads} storage reads");
    assert!(max_gas < 150 * TGAS, "a call used {} Tgas of host functions", max_gas / TGAS);
    assert!(calls >= 7_000 / MAX_STEP_BUDGET, "{calls} calls for ~7,000 reads");
    // Settling searches again and then slashes 3,500 nodes, within the
    // same bounds.
    let (_, calls, max_gas, max_reads) = ch.settle_measured(bridge);
    assert!(max_reads <= MAX_STEP_BUDGET + 2, "a settle call made {max_reads} storage reads");
    assert!(max_gas < 150 * TGAS, "a settle call used {} Tgas of host functions", max_gas / TGAS);
    assert!(calls as u64 >= 7_000 / MAX_STEP_BUDGET, "{calls} settle calls for ~7,000 reads");
    assert_eq!(status(&mut ch, "p3499"), NodeStatus::Partitioned);
    assert_eq!(status(&mut ch, "whale"), NodeStatus::Active);
}

/// Severs and finalizes `k` parallel channels between `h` and `x` (kept
/// connected through `m`), so `x` owes `h` `k` claims; returns the gas of
/// each sever.
fn sever_many(ch: &mut Chain, k: usize) -> Vec<u64> {
    ch.open("h", "m", 0, 0);
    ch.open("m", "x", 0, 0);
    let mut gas = Vec::new();
    for _ in 0..k {
        let id = ch.open("h", "x", 0, 0);
        let st = ch.call("h", 0, |c| c.sever(id, None));
        assert_eq!(st.outcome, Some(Outcome::Connected));
        gas.push(ch.last_gas);
        // Settle it, so the nodes' lists of live channels stay short.
        ch.now_ms += 60_000;
        ch.call("anyone", 0, |c| c.finalize(id));
    }
    gas
}

#[test]
fn thousands_of_claims_against_one_node_keep_every_call_bounded() {
    // 2,000 severances within claim_ttl_ms pile up claims on x. Making a
    // claim used to scan all of a node's claims (so after ~1,500 its
    // channels could not be severed any more); now each call prunes a few
    // from the front of a queue, and the last severance costs what the
    // first did. Then x is cut off: its claims are tallied and paid pro
    // rata over many bounded calls.
    let mut ch = Chain::new(|c| {
        c.min_stake = 1.into();
        c.node_storage_fee = 0.into();
        c.channel_storage_fee = 0.into();
        // Small amounts keep the expected shares exact in u128 arithmetic.
        c.severance_penalty = 2_000.into();
        c.claim_storage_fee = 0.into();
        c.partition_slash_bps = 10_000;
    });
    let half = ch.view(|c| c.config.half_penalty());
    ch.register("h", N);
    ch.register("m", N);
    // x's stake covers its 2,000 half-penalties and leaves less than the
    // claims it owes: the payment is pro rata.
    let k = 2_000usize;
    let x_left = half * k as u128 / 3;
    ch.register("x", half * k as u128 + x_left);
    let gas = sever_many(&mut ch, k);
    let (first, last) = (gas[10], gas[k - 1]);
    assert!(last < first + first / 4, "sever gas grew from {} to {} Ggas", first / 1_000_000_000, last / 1_000_000_000);
    assert!(gas.iter().all(|&g| g < 50 * TGAS));
    assert_eq!(ch.view(|c| c.rec(c.node_of.get(&acc("x")).copied().unwrap()).owed.live), k as u32);
    // Cut x off: x is partitioned, its 2,000 claims are paid pro rata.
    let mx = ch.view(|c| c.channels_of(acc("x"))).into_iter().find(|c| c.state == "open").unwrap().channel_id;
    ch.call("m", 0, |c| c.sever(mx, None));
    ch.finish_check();
    let (_, calls, max_gas, _) = ch.settle_measured(mx);
    let calls = calls as usize;
    assert!(calls >= k / 25, "settle_batch 25 pays 2,000 claims over many calls ({calls})");
    assert!(max_gas < 100 * TGAS, "a settlement call used {} Tgas", max_gas / TGAS);
    // x's stake after its last half-penalty, all slashed (10 000 bps), is the
    // pool; h's 2,000 claims and m's last one share it pro rata.
    let x_stake = x_left - half;
    let claimed = half * (k as u128 + 1);
    let share = |amount: u128| amount * x_stake / claimed;
    assert_eq!(withdrawable(&mut ch, "h"), k as u128 * share(half));
    assert_eq!(withdrawable(&mut ch, "m"), share(half));
    assert!(ch.view(|c| c.claims(acc("x"))).owed_by.is_empty());
    ch.assert_conserved();
}
