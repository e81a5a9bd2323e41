//! The reconnection window: a severance that splits the graph is settled
//! only after `reconnect_window_ms`, and only if the two ends are still
//! apart then. The paper's topology (Alex – Alice – Bob – Carol, plus Dave
//! behind Carol) where Bob withholds and Alice cuts him, three ways.

use super::*;
use crate::nodes::NodeStatus;
use por_core::Outcome;

fn status(ch: &mut Chain, name: &str) -> NodeStatus {
    ch.view(|c| c.node(acc(name))).unwrap().status
}

fn stake(ch: &mut Chain, name: &str) -> u128 {
    ch.view(|c| c.node(acc(name))).unwrap().stake.0
}

fn withdrawable(ch: &mut Chain, name: &str) -> u128 {
    ch.view(|c| c.balances(acc(name))).withdrawable.0
}

/// Alex – Alice – Bob – Carol – Dave; Alex and Alice hold less stake than
/// Bob, Carol and Dave. Alice has cut Bob (he withheld): returns the
/// channel Alice–Bob.
fn alice_cuts_bob() -> (Chain, u64) {
    let mut ch = Chain::new(|c| {
        c.severance_penalty = (N / 5).into();
        c.partition_slash_bps = 5_000;
        c.challenge_period_ms = 10_000;
        c.reconnect_window_ms = 60_000;
    });
    for (n, s) in [("alex", 2 * N), ("alice", 2 * N), ("bob", 3 * N), ("carol", 3 * N), ("dave", 3 * N)] {
        ch.register(n, s);
    }
    ch.open("alex", "alice", N, N);
    let ab = ch.open("alice", "bob", N, N);
    ch.open("bob", "carol", N, N);
    ch.open("carol", "dave", N, N);
    let st = ch.call("alice", 0, |c| c.sever(ab, None));
    let Some(Outcome::Partitioned { nodes, .. }) = st.outcome else { panic!("expected a split, got {st:?}") };
    assert_eq!(nodes, vec![0, 1], "Alex and Alice are the smaller side at the severance");
    assert!(ch.event_names().contains(&"split_recorded".to_string()));
    (ch, ab)
}

#[test]
fn the_victim_reconnects_within_the_window_and_nobody_is_slashed() {
    let (mut ch, ab) = alice_cuts_bob();
    let half = N / 10;
    // Alice is online (she just severed): she opens a channel into the
    // larger side and Carol confirms it, within the window.
    ch.now_ms += 30_000;
    ch.open("alice", "carol", N, N);
    let st = ch.settle(ab);
    assert_eq!(st.outcome, Some(Outcome::Connected));
    let settled = ch.events().into_iter().find(|(n, _)| n == "split_settled").expect("split_settled").1;
    assert_eq!(settled["outcome"]["kind"], "connected");
    for n in ["alex", "alice", "bob", "carol", "dave"] {
        assert_eq!(status(&mut ch, n), NodeStatus::Active, "{n}");
    }
    assert_eq!(stake(&mut ch, "alex"), 2 * N, "Alex is not slashed");
    assert_eq!(stake(&mut ch, "alice"), 2 * N - half, "Alice pays only her half-penalty");
    assert_eq!(stake(&mut ch, "bob"), 3 * N - half);
    assert_eq!(withdrawable(&mut ch, "bob"), 0, "the withholder is not paid");
    // Both claims stay open: they are paid only if a debtor is partitioned later.
    assert_eq!(ch.view(|c| c.claims(acc("alice"))).owed_by.len(), 1);
    assert_eq!(ch.view(|c| c.claims(acc("bob"))).owed_by.len(), 1);
    assert!(ch.view(|c| c.pending_splits(0, 10)).splits.is_empty());
    ch.assert_conserved();
}

#[test]
fn the_victim_does_not_reconnect_and_pays_the_withholder() {
    // The paper's literal rule: Alex and Alice are the smaller side.
    let (mut ch, ab) = alice_cuts_bob();
    let half = N / 10;
    let st = ch.settle(ab);
    assert_eq!(st.outcome.as_ref().map(|o| matches!(o, Outcome::Partitioned { .. })), Some(true));
    assert_eq!(status(&mut ch, "alex"), NodeStatus::Partitioned);
    assert_eq!(status(&mut ch, "alice"), NodeStatus::Partitioned);
    assert_eq!(stake(&mut ch, "alex"), N);
    assert_eq!(stake(&mut ch, "alice"), (2 * N - half) / 2);
    assert_eq!(withdrawable(&mut ch, "bob"), half, "Bob's half-penalty is paid back out of the slash");
    assert_eq!(status(&mut ch, "bob"), NodeStatus::Active);
    ch.assert_conserved();
}

#[test]
fn a_node_stranded_behind_an_offline_node_reconnects_and_only_the_offline_node_pays() {
    // Bob – Eve – Dave, Bob – Carol: Eve goes offline and Bob cuts her;
    // honest Dave, whose only link was Eve, is on the smaller side with her.
    let mut ch = Chain::new(|c| {
        c.severance_penalty = (N / 5).into();
        c.partition_slash_bps = 5_000;
        c.challenge_period_ms = 10_000;
        c.reconnect_window_ms = 60_000;
    });
    for (n, s) in [("bob", 5 * N), ("carol", 5 * N), ("eve", 2 * N), ("dave", 2 * N)] {
        ch.register(n, s);
    }
    ch.open("bob", "carol", N, N);
    let be = ch.open("bob", "eve", N, N);
    ch.open("eve", "dave", N, N);
    let st = ch.call("bob", 0, |c| c.sever(be, None));
    assert_eq!(st.outcome.map(|o| matches!(o, Outcome::Partitioned { nodes, .. } if nodes == vec![2, 3])), Some(true));
    let split = ch.view(|c| c.pending_split(be)).expect("pending split");
    assert_eq!((split.nodes, split.severer.as_str()), (2, "bob.test.near"));
    // Dave reconnects into the larger side, then cuts Eve too (she misses
    // his syncs); Eve, offline, cannot reconnect.
    ch.open("dave", "carol", N, N);
    let ed = 3;
    let st = ch.call("dave", 0, |c| c.sever(ed, None));
    assert_eq!(st.outcome, Some(Outcome::Partitioned { nodes: vec![2], stake: 2 * N - 2 * (N / 10) }));
    let st = ch.settle(be);
    let eve_stake = 2 * N - 2 * (N / 10);
    assert_eq!(st.outcome, Some(Outcome::Partitioned { nodes: vec![2], stake: eve_stake }));
    assert_eq!(status(&mut ch, "eve"), NodeStatus::Partitioned);
    assert_eq!(status(&mut ch, "dave"), NodeStatus::Active);
    assert_eq!(stake(&mut ch, "dave"), 2 * N - N / 10);
    assert_eq!(stake(&mut ch, "eve"), eve_stake - eve_stake / 2);
    assert_eq!(withdrawable(&mut ch, "bob"), N / 10, "Bob's half-penalty is paid back");
    assert_eq!(withdrawable(&mut ch, "dave"), N / 10, "so is Dave's");
    // Dave's own split isolates Eve alone: settled too, it slashes her
    // again (its claims were paid by the first settlement, so all of this
    // slash goes to the treasury).
    let left = eve_stake - eve_stake / 2;
    let st = ch.settle(ed);
    assert_eq!(st.outcome, Some(Outcome::Partitioned { nodes: vec![2], stake: left }));
    assert_eq!(stake(&mut ch, "eve"), left - left / 2);
    assert_eq!(withdrawable(&mut ch, "dave"), N / 10, "Dave is paid once");
    ch.assert_conserved();
}

#[test]
fn settle_is_refused_before_the_deadline_twice_and_without_a_split() {
    let (mut ch, ab) = alice_cuts_bob();
    ch.refuse("anyone", 0, "reconnection window", |c| c.settle(ab));
    ch.refuse("anyone", 0, "no split is pending", |c| c.settle(ab + 1));
    // Other calls go on during the window: the graph is not locked.
    ch.open("dave", "alex", N, N);
    ch.refuse("alex", 0, "pending until", |c| c.leave());
    ch.settle(ab);
    ch.refuse("anyone", 0, "no split is pending", |c| c.settle(ab));
    ch.assert_conserved();
}

#[test]
fn a_split_that_became_a_tie_partitions_nobody() {
    let (mut ch, ab) = alice_cuts_bob();
    // Alex and Alice top up to exactly the other side's stake.
    let (small, large) = (stake(&mut ch, "alex") + stake(&mut ch, "alice"), {
        let mut s = 0;
        for n in ["bob", "carol", "dave"] {
            s += stake(&mut ch, n);
        }
        s
    });
    ch.call("alice", large - small, |c| c.add_stake());
    let st = ch.settle(ab);
    assert!(matches!(st.outcome, Some(Outcome::Tie { .. })), "{st:?}");
    for n in ["alex", "alice"] {
        assert_eq!(status(&mut ch, n), NodeStatus::Active);
    }
    ch.assert_conserved();
}
