//! Every method, its events, and every refusal.

use super::*;
use crate::nodes::NodeStatus;

fn two_nodes() -> (Chain, u64) {
    let mut ch = Chain::new(|_| {});
    ch.register("alice", 2 * N);
    ch.register("bob", 2 * N);
    let id = ch.open("alice", "bob", 5 * N, 3 * N);
    (ch, id)
}

#[test]
fn register_add_stake_and_refusals() {
    let mut ch = Chain::new(|_| {});
    let fee = ch.view(|c| c.config.node_storage_fee.0);
    let key = signer("alice").public();
    let sig = proof("alice", "alice");
    ch.refuse("alice", N + fee - 1, "at least", |c| c.register_node(key, 10, sig));
    ch.refuse("alice", 0, "at least", |c| c.register_node(key, 10, sig));
    assert_eq!(ch.call("alice", N + fee, |c| c.register_node(key, 10, sig)), 0);
    let (name, data) = ch.events().remove(0);
    assert_eq!(name, "node_registered");
    assert_eq!(data["stake"], N.to_string());
    assert_eq!(data["node_key"], key.to_hex());
    // Same account again, and the same key from another account.
    let other = signer("x").public();
    let sig_x = proof("alice", "x");
    ch.refuse("alice", N + fee, "already a registered node", |c| c.register_node(other, 10, sig_x));
    let sig_bob = proof("bob", "alice");
    ch.refuse("bob", N + fee, "already registered", |c| c.register_node(key, 10, sig_bob));
    assert_eq!(ch.register("bob", N), 1);
    let v0 = ch.view(|c| c.graph_version());
    assert_eq!(ch.call("bob", N, |c| c.add_stake()).0, 2 * N);
    assert_eq!(ch.event_names(), ["stake_added"]);
    assert!(ch.view(|c| c.graph_version()) > v0);
    ch.refuse("bob", 0, "needs an attached deposit", |c| c.add_stake());
    ch.refuse("carol", N, "not a registered node", |c| c.add_stake());
    let node = ch.view(|c| c.node(acc("bob"))).unwrap();
    assert_eq!((node.index, node.stake.0, node.status), (1, 2 * N, NodeStatus::Active));
    assert_eq!(ch.view(|c| c.node_at(0)).unwrap().account_id, acc("alice"));
    assert!(ch.view(|c| c.node_at(7)).is_none());
    ch.assert_conserved();
}

#[test]
fn open_confirm_cancel_and_refusals() {
    let mut ch = Chain::new(|c| c.proposal_timeout_ms = 1_000);
    ch.register("alice", 2 * N);
    ch.register("bob", 2 * N);
    let fee = ch.view(|c| c.config.channel_storage_fee.0);
    let bob = acc("bob");
    ch.refuse("alice", fee - 1, "channel_storage_fee", |c| c.open_channel(acc("bob"), 50, 1.into(), 0.into()));
    ch.refuse("alice", fee, "two different nodes", |c| c.open_channel(acc("alice"), 50, 1.into(), 0.into()));
    ch.refuse("alice", fee, "not a registered node", |c| c.open_channel(acc("zed"), 50, 1.into(), 0.into()));
    ch.refuse("zed", fee, "not a registered node", |c| c.open_channel(acc("bob"), 50, 1.into(), 0.into()));
    let id = ch.call("alice", N + fee, |c| c.open_channel(bob, 50, 7.into(), 1.into()));
    assert_eq!(ch.event_names(), ["channel_proposed"]);
    let v = ch.view(|c| c.channel(id)).unwrap();
    assert_eq!((v.state.as_str(), v.deposit_a.0, v.params.base_fee), ("proposed", N, 7));
    assert_eq!(ch.view(|c| c.graph_edges(0, 10)).total, 0, "a proposal is not an edge");
    ch.refuse("alice", 0, "only the proposed peer", |c| c.confirm_channel(id));
    ch.refuse("bob", 0, "does not exist", |c| c.confirm_channel(99));
    ch.refuse("bob", 0, "only the opener", |c| c.cancel_proposal(id));
    ch.refuse("alice", 0, "may still confirm", |c| c.cancel_proposal(id));
    ch.call("bob", 2 * N, |c| c.confirm_channel(id));
    assert_eq!(ch.event_names(), ["channel_opened"]);
    ch.refuse("bob", 0, "not a proposal", |c| c.confirm_channel(id));
    let edges = ch.view(|c| c.graph_edges(0, 10));
    assert_eq!(edges.total, 1);
    assert_eq!((edges.edges[0].deposit_a.0, edges.edges[0].deposit_b.0), (N, 2 * N));
    assert_eq!(ch.view(|c| c.node(acc("alice"))).unwrap().open_edges, 1);
    // A second proposal, cancelled after the timeout.
    let id2 = ch.call("alice", N + fee, |c| c.open_channel(acc("bob"), 50, 1.into(), 0.into()));
    ch.now_ms += 1_000;
    ch.call("alice", 0, |c| c.cancel_proposal(id2));
    assert_eq!(ch.event_names(), ["proposal_cancelled"]);
    ch.refuse("alice", 0, "not a proposal", |c| c.cancel_proposal(id2));
    ch.refuse("bob", 0, "not a proposal", |c| c.confirm_channel(id2));
    assert_eq!(ch.view(|c| c.balances(acc("alice"))).withdrawable.0, N);
    assert_eq!(ch.view(|c| c.channels_of(acc("alice"))).len(), 1);
    ch.assert_conserved();
}

#[test]
fn low_stake_or_partitioned_nodes_cannot_open() {
    let mut ch = Chain::new(|c| c.severance_penalty = (2 * N).into());
    ch.register("alice", N);
    ch.register("bob", 5 * N);
    ch.register("carol", 5 * N);
    ch.open("bob", "carol", N, N);
    let id = ch.open("alice", "bob", N, N);
    // Alice (stake 1) is cut off: stake 0 after the half penalty; she does
    // not reconnect within the window and is partitioned.
    ch.call("bob", 0, |c| c.sever(id, None));
    ch.finish_check();
    assert_eq!(ch.view(|c| c.node(acc("alice"))).unwrap().status, NodeStatus::Active, "not before settle");
    ch.settle(id);
    assert_eq!(ch.view(|c| c.node(acc("alice"))).unwrap().status, NodeStatus::Partitioned);
    let fee = ch.view(|c| c.config.channel_storage_fee.0);
    ch.refuse("alice", fee, "must call rejoin", |c| c.open_channel(acc("bob"), 50, 1.into(), 0.into()));
    ch.refuse("bob", fee, "peer", |c| c.open_channel(acc("alice"), 50, 1.into(), 0.into()));
    ch.refuse("alice", N - 1, "attach at least 1 more", |c| c.rejoin());
    ch.refuse("bob", N, "only for partitioned nodes", |c| c.rejoin());
    ch.call("alice", N, |c| c.rejoin());
    assert_eq!(ch.event_names(), ["stake_added", "node_rejoined"]);
    assert_eq!(ch.view(|c| c.node(acc("alice"))).unwrap().status, NodeStatus::Active);
    ch.call("alice", fee, |c| c.open_channel(acc("bob"), 50, 1.into(), 0.into()));
    ch.assert_conserved();
}

#[test]
fn cooperative_close_credits_both_without_penalty() {
    let (mut ch, id) = two_nodes();
    let pay_ab = voucher("alice", id, 2 * N);
    let pay_ba = voucher("bob", id, N / 2);
    ch.refuse("carol", 0, "not a side", |c| c.propose_close(id, None));
    ch.refuse("bob", 0, "must call propose_close first", |c| c.confirm_close(id, None, None));
    // Bob proposes with Alice's voucher (Alice paid Bob).
    ch.refuse("bob", 0, "wrong direction", |c| c.propose_close(id, Some(voucher("bob", id, 1))));
    ch.call("bob", 0, |c| c.propose_close(id, Some(pay_ab.clone())));
    assert_eq!(ch.event_names(), ["close_proposed"]);
    ch.refuse("bob", 0, "only with a better voucher", |c| c.propose_close(id, None));
    ch.refuse("alice", 0, "call confirm_close instead", |c| c.propose_close(id, None));
    ch.refuse("bob", 0, "the other side must confirm", |c| c.confirm_close(id, None, None));
    ch.refuse("alice", 0, "wrong direction", |c| c.confirm_close(id, Some(voucher("alice", id, 1)), None));
    let v0 = ch.view(|c| c.graph_version());
    ch.call("alice", 0, |c| c.confirm_close(id, Some(pay_ba), None));
    let ev = ch.events();
    assert_eq!(ev[0].0, "channel_closed");
    // Alice: 5 − 2 + 0.5; Bob: 3 + 2 − 0.5.
    assert_eq!(ev[0].1["credit_a"], (5 * N - 2 * N + N / 2).to_string());
    assert_eq!(ev[0].1["credit_b"], (3 * N + 2 * N - N / 2).to_string());
    assert!(ch.view(|c| c.graph_version()) > v0);
    assert_eq!(ch.view(|c| c.graph_edges(0, 10)).total, 0);
    assert_eq!(ch.view(|c| c.node(acc("alice"))).unwrap().stake.0, 2 * N, "no penalty");
    let v = ch.view(|c| c.channel(id)).unwrap();
    assert_eq!((v.state.as_str(), v.severer), ("closed", None), "a cooperative close names no severer");
    ch.refuse("alice", 0, "only an open channel", |c| c.sever(id, None));
    ch.refuse("alice", 0, "must call propose_close first", |c| c.confirm_close(id, None, None));
    ch.assert_conserved();
}

#[test]
fn sever_challenge_finalize() {
    let (mut ch, id) = two_nodes();
    ch.register("carol", 2 * N);
    let half = ch.view(|c| c.config.half_penalty());
    ch.refuse("carol", 0, "not a side", |c| c.sever(id, None));
    // Forged: Bob's voucher signed with Carol's key.
    let mut forged = voucher("bob", id, N);
    forged.signature = voucher("carol", id, N).signature;
    ch.refuse("alice", 0, "does not verify", |c| c.sever(id, Some(forged)));
    ch.refuse("alice", 0, "for channel 99", |c| {
        let mut v = voucher("bob", 99, N);
        v.voucher.channel = por_core::ChannelId(99);
        c.sever(id, Some(v))
    });
    let status = ch.call("alice", 0, |c| c.sever(id, Some(voucher("bob", id, N))));
    assert_eq!(status.phase, "done");
    assert_eq!(status.outcome, Some(por_core::Outcome::Tie { stake: 2 * N - half }));
    let names = ch.event_names();
    assert_eq!(names, ["channel_severed", "claim_created", "claim_created", "partition_check"]);
    let v = ch.view(|c| c.channel(id)).unwrap();
    assert_eq!(v.state, "severed");
    assert_eq!(v.severer, Some(acc("alice")));
    assert_eq!(ch.view(|c| c.node(acc("alice"))).unwrap().stake.0, 2 * N - half);
    assert_eq!(ch.view(|c| c.node(acc("bob"))).unwrap().stake.0, 2 * N - half);
    // Each claim's storage fee comes out of the half-penalty it reimburses.
    let fee = ch.view(|c| c.config.claim_storage_fee.0);
    assert_eq!(ch.totals().treasury.0, 2 * half - 2 * fee);
    let claims = ch.view(|c| c.claims(acc("alice")));
    assert_eq!((claims.held.len(), claims.owed_by.len()), (1, 1));
    assert_eq!(claims.held[0].amount.0, half);
    ch.refuse("alice", 0, "only an open channel", |c| c.sever(id, None));
    // Challenge: only Bob, only with Alice's vouchers, only increasing.
    ch.refuse("alice", 0, "you severed", |c| c.submit_voucher(id, voucher("alice", id, N)));
    ch.refuse("bob", 0, "wrong direction", |c| c.submit_voucher(id, voucher("bob", id, 2 * N)));
    ch.refuse("carol", 0, "not a side", |c| c.submit_voucher(id, voucher("alice", id, N)));
    ch.call("bob", 0, |c| c.submit_voucher(id, voucher("alice", id, 2 * N)));
    assert_eq!(ch.event_names(), ["voucher_submitted"]);
    // Replay and stale.
    ch.refuse("bob", 0, "does not exceed", |c| c.submit_voucher(id, voucher("alice", id, 2 * N)));
    ch.refuse("bob", 0, "does not exceed", |c| c.submit_voucher(id, voucher("alice", id, N)));
    ch.refuse("anyone", 0, "lasts until", |c| c.finalize(id));
    ch.now_ms += 60_000;
    ch.refuse("bob", 0, "challenge window", |c| c.submit_voucher(id, voucher("alice", id, 3 * N)));
    ch.call("anyone", 0, |c| c.finalize(id));
    let ev = ch.events();
    assert_eq!(ev[0].0, "channel_finalized");
    assert_eq!(ev[0].1["credit_a"], (5 * N - 2 * N + N).to_string());
    assert_eq!(ev[0].1["credit_b"], (3 * N + 2 * N - N).to_string());
    // Closed, and still known as severed (and by whom): a node checking a
    // severance notice after the window must not take it for a cooperative
    // close and cut the honest neighbour that sent it.
    let v = ch.view(|c| c.channel(id)).unwrap();
    assert_eq!((v.state.as_str(), v.severer), ("closed", Some(acc("alice"))));
    ch.refuse("anyone", 0, "only a severed channel", |c| c.finalize(id));
    ch.refuse("anyone", 0, "does not exist", |c| c.finalize(77));
    ch.assert_conserved();
}

#[test]
fn vouchers_for_other_contracts_or_channels_are_refused() {
    let (mut ch, id) = two_nodes();
    let s = signer("bob");
    let other_contract =
        Voucher { contract: "evil.test.near".into(), channel: ChannelId(id), payer: s.public(), cumulative: N }
            .sign(&s);
    ch.refuse("alice", 0, "this contract is", |c| c.propose_close(id, Some(other_contract)));
    let id2 = ch.open("alice", "bob", N, N);
    ch.refuse("alice", 0, "is for channel", |c| c.propose_close(id2, Some(voucher("bob", id, N))));
    ch.refuse("alice", 0, "does not exceed", |c| c.propose_close(id, Some(voucher("bob", id, 0))));
}

#[test]
fn leave_needs_no_channels_and_no_claims() {
    let mut ch = Chain::new(|c| {
        c.claim_ttl_ms = 10_000;
        c.challenge_period_ms = 5_000;
        c.reconnect_window_ms = 8_000;
    });
    ch.register("alice", 2 * N);
    ch.register("bob", 2 * N);
    ch.register("carol", 2 * N);
    let id = ch.open("alice", "bob", N, N);
    ch.open("bob", "carol", N, N);
    ch.refuse("alice", 0, "close, finalize or cancel", |c| c.leave());
    ch.refuse("zed", 0, "not a registered node", |c| c.leave());
    ch.call("bob", 0, |c| c.sever(id, None));
    ch.finish_check();
    // While the split waits for its window, nobody may leave.
    ch.refuse("carol", 0, "pending until", |c| c.leave());
    ch.settle(id);
    ch.now_ms += 60_000;
    ch.call("anyone", 0, |c| c.finalize(id));
    // Alice (stake 2 − half, alone) vs bob+carol: Alice was partitioned and
    // Bob's claim paid; Alice's own claim on Bob is still open against Bob.
    ch.refuse("bob", 0, "close, finalize or cancel", |c| c.leave());
    let stake = ch.view(|c| c.node(acc("alice"))).unwrap().stake.0;
    let ret = ch.call("alice", 0, |c| c.leave());
    assert_eq!(ret.0, stake);
    assert_eq!(ch.event_names(), ["node_left"]);
    assert!(ch.view(|c| c.node(acc("alice"))).is_none());
    assert_eq!(ch.view(|c| c.node_at(0)).unwrap().status, NodeStatus::Left);
    // Alice may register again, with a new key only.
    let old = signer("alice").public();
    let sig = proof("alice", "alice");
    ch.refuse("alice", 2 * N, "already registered", |c| c.register_node(old, 1, sig));
    let fresh = signer("alice2").public();
    let sig = proof("alice", "alice2");
    assert_eq!(ch.call("alice", 2 * N, |c| c.register_node(fresh, 1, sig)), 3);
    ch.assert_conserved();
}

#[test]
fn leave_refused_while_claims_against_the_node_are_open() {
    let mut ch = Chain::new(|c| {
        c.claim_ttl_ms = 100_000;
        c.reconnect_window_ms = 90_000;
    });
    for n in ["a", "b", "c"] {
        ch.register(n, 2 * N);
    }
    // Triangle: severing a–b keeps everyone connected; a's claim on b stays open.
    let ab = ch.open("a", "b", N, N);
    let bc = ch.open("b", "c", N, N);
    let ca = ch.open("c", "a", N, N);
    ch.call("a", 0, |c| c.sever(ab, None));
    assert_eq!(ch.view(|c| c.partition_check()), None);
    ch.now_ms += 60_000;
    ch.call("x", 0, |c| c.finalize(ab));
    for id in [bc, ca] {
        let (p, q) = if id == bc { ("b", "c") } else { ("c", "a") };
        ch.call(p, 0, |c| c.propose_close(id, None));
        ch.call(q, 0, |c| c.confirm_close(id, None, None));
    }
    ch.refuse("b", 0, "claims against you are still open", |c| c.leave());
    ch.now_ms += 40_000;
    assert!(ch.view(|c| c.claims(acc("b"))).owed_by.is_empty(), "lapsed claims are not shown");
    ch.call("b", 0, |c| c.leave());
    ch.assert_conserved();
}

#[test]
fn withdraw_pull_and_treasury() {
    let (mut ch, id) = two_nodes();
    ch.refuse("alice", 0, "at most 0", |c| {
        let _ = c.withdraw(1.into());
    });
    ch.call("alice", 0, |c| c.propose_close(id, None));
    ch.call("bob", 0, |c| c.confirm_close(id, None, None));
    ch.refuse("alice", 0, "must be positive", |c| {
        let _ = c.withdraw(0.into());
    });
    ch.withdraw("alice", 2 * N).unwrap();
    assert_eq!(ch.event_names(), ["withdrawn"]);
    let receipts = near_sdk::test_utils::get_created_receipts();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].receiver_id, acc("alice"));
    assert!(ch.withdraw("alice", 3 * N + 1).unwrap_err().contains("at most"));
    ch.withdraw("alice", 3 * N).unwrap();
    assert_eq!(ch.view(|c| c.balances(acc("alice"))).withdrawable.0, 0);
    ch.assert_conserved();
    // Treasury: fill it with a severance, then only the owner moves it.
    let id2 = ch.open("alice", "bob", N, N);
    ch.call("alice", 0, |c| c.sever(id2, None));
    let t = ch.totals().treasury.0;
    assert!(t > 0);
    ch.refuse("alice", 0, "only the owner", |c| c.withdraw_treasury(1.into()));
    ch.refuse(OWNER, 0, "treasury holds", |c| c.withdraw_treasury((t + 1).into()));
    ch.call(OWNER, 0, |c| c.withdraw_treasury(t.into()));
    assert_eq!(ch.event_names(), ["treasury_withdrawn"]);
    ch.withdraw(OWNER, t).unwrap();
    ch.assert_conserved();
}

#[test]
fn graph_changes_are_refused_while_a_check_is_pending() {
    // A budget of 1 keeps the check pending after sever.
    let mut ch = Chain::new(|c| c.partition_step_budget = 1);
    for n in ["a", "b", "c", "d"] {
        ch.register(n, 2 * N);
    }
    let ab = ch.open("a", "b", N, N);
    let bc = ch.open("b", "c", N, N);
    let cd = ch.open("c", "d", N, N);
    let fee = ch.view(|c| c.config.channel_storage_fee.0);
    let prop = ch.call("a", fee, |c| c.open_channel(acc("c"), 1, 1.into(), 1.into()));
    let st = ch.call("a", 0, |c| c.sever(ab, None));
    assert_ne!(st.phase, "done");
    assert!(ch.view(|c| c.partition_check()).is_some());
    ch.refuse("c", 0, "partition check", |c| c.sever(cd, None));
    ch.refuse("c", 0, "partition check", |c| c.confirm_channel(prop));
    ch.refuse("c", N, "partition check", |c| c.add_stake());
    ch.call("b", 0, |c| c.propose_close(bc, None));
    ch.refuse("c", 0, "partition check", |c| c.confirm_close(bc, None, None));
    ch.refuse("a", 0, "partition check", |c| c.leave());
    // Not graph changes: still allowed.
    ch.call("b", 0, |c| c.submit_voucher(ab, voucher("a", ab, 1)));
    let calls = ch.finish_check();
    assert!(calls >= 1, "budget 1 leaves work for continue_partition_check");
    ch.refuse("x", 0, "no partition check is pending", |c| c.continue_partition_check());
    ch.call("c", 0, |c| c.confirm_close(bc, None, None));
    ch.assert_conserved();
}

#[test]
fn views_page_the_graph() {
    let mut ch = Chain::new(|_| {});
    for i in 0..5 {
        ch.register(&format!("n{i}"), N);
    }
    for i in 0..4 {
        ch.open(&format!("n{i}"), &format!("n{}", i + 1), N, 0);
    }
    let p = ch.view(|c| c.graph_nodes(1, 3));
    assert_eq!((p.total, p.nodes.len(), p.nodes[0].index), (5, 3, 1));
    assert_eq!(ch.view(|c| c.graph_nodes(4, 10)).nodes.len(), 1);
    assert!(ch.view(|c| c.graph_nodes(9, 10)).nodes.is_empty());
    let e = ch.view(|c| c.graph_edges(2, 10));
    assert_eq!((e.total, e.edges.len()), (4, 2));
    assert_eq!(e.graph_version, ch.view(|c| c.graph_version()));
    let json = serde_json::to_value(ch.view(|c| c.graph_nodes(0, 1))).unwrap();
    assert_eq!(json["nodes"][0]["status"], "active");
    assert_eq!(json["nodes"][0]["stake"], N.to_string());
    let b = ch.view(|c| c.balances(acc("n0")));
    assert_eq!((b.stake.0, b.in_channels.0), (N, N));
}

#[test]
fn storage_fees_cover_the_storage_added() {
    let mut ch = Chain::new(|_| {});
    let byte = env::storage_byte_cost().as_yoctonear();
    let used = |ch: &mut Chain| ch.storage_bytes();
    let s0 = used(&mut ch);
    ch.register("a-rather-long-account-name-for-storage", N);
    let s1 = used(&mut ch);
    let fee = ch.view(|c| c.config.node_storage_fee.0);
    // The fee also covers the room kept for a pending check's state.
    let node_bytes = s1 - s0 + crate::nodes::CHECK_BYTES_PER_NODE;
    assert!(node_bytes as u128 * byte <= fee, "node uses {node_bytes} bytes, fee covers {}", fee / byte);
    ch.register("b-rather-long-account-name-for-storage", N);
    let s2 = used(&mut ch);
    ch.open("a-rather-long-account-name-for-storage", "b-rather-long-account-name-for-storage", N, N);
    let s3 = used(&mut ch);
    let cfee = ch.view(|c| c.config.channel_storage_fee.0);
    assert!((s3 - s2) as u128 * byte <= cfee, "channel uses {} bytes, fee covers {}", s3 - s2, cfee / byte);
    // A severance: two claims with their index entries, paid out of the
    // half-penalties (the check is done within the call here).
    ch.register("c-rather-long-account-name-for-storage", 5 * N);
    ch.open("b-rather-long-account-name-for-storage", "c-rather-long-account-name-for-storage", N, N);
    let ab = ch.open("a-rather-long-account-name-for-storage", "b-rather-long-account-name-for-storage", N, N);
    ch.open("a-rather-long-account-name-for-storage", "c-rather-long-account-name-for-storage", N, N);
    let s4 = used(&mut ch);
    let st = ch.call("a-rather-long-account-name-for-storage", 0, |c| c.sever(ab, None));
    assert_eq!(st.outcome, Some(por_core::Outcome::Connected));
    let s5 = used(&mut ch);
    let fee = ch.view(|c| c.config.claim_storage_fee.0);
    assert!((s5 - s4) as u128 * byte <= 2 * fee, "a severance adds {} bytes, fees cover {}", s5 - s4, 2 * fee / byte);
    assert_eq!(ch.storage_usage, CODE_BYTES + s5, "the harness follows the VM's storage usage");
}

#[test]
fn treasury_withdrawal_never_eats_into_the_storage_stake() {
    // The account holds exactly what its code needs; storage fees are 0, so
    // the records of nodes and channels are paid by penalties in the
    // treasury. The owner may move only what the storage does not need.
    let byte = env::storage_byte_cost().as_yoctonear();
    let mut ch = Chain::deploy(CODE_BYTES as u128 * byte, |c| {
        c.node_storage_fee = 0.into();
        c.channel_storage_fee = 0.into();
    });
    ch.register("a", 2 * N);
    ch.register("b", 2 * N);
    ch.register("c", 3 * N);
    ch.open("b", "c", N, N);
    let ab = ch.open("a", "b", N, N);
    ch.call("a", 0, |c| c.sever(ab, None));
    let t = ch.totals().treasury.0;
    let (own, need) = ch.view(|c| (c.own_funds(), c.storage_need()));
    assert!(own - t < need && own > need, "the setup needs part of the treasury for storage");
    ch.refuse(OWNER, 0, "must keep", |c| c.withdraw_treasury(t.into()));
    ch.call(OWNER, 0, |c| c.withdraw_treasury((own - need).into()));
    ch.withdraw(OWNER, own - need).unwrap();
    let (own, need) = ch.view(|c| (c.own_funds(), c.storage_need()));
    assert!(own >= need, "own {own} < need {need}");
    assert!(ch.balance >= ch.storage_usage as u128 * byte, "the account still covers its storage");
    ch.assert_conserved();
}

#[test]
fn config_changes_do_not_reach_back() {
    // A claim keeps the expiry it was made with; a split is settled with
    // the partition_slash_bps and the window in force at its severance.
    let mut ch = Chain::new(|c| {
        c.partition_step_budget = 1;
        c.claim_ttl_ms = 30_000;
        c.challenge_period_ms = 500;
        c.reconnect_window_ms = 20_000;
        c.config_delay_ms = 1_000;
    });
    for (n, s) in [("x", 2 * N), ("a", 2 * N), ("b", 3 * N), ("c", 3 * N)] {
        ch.register(n, s);
    }
    ch.open("x", "a", N, N);
    ch.open("b", "c", N, N);
    let ab = ch.open("a", "b", N, N);
    let made = ch.now_ms;
    let st = ch.call("a", 0, |c| c.sever(ab, None));
    assert_eq!(st.phase, "search", "budget 1 keeps the check pending");
    let mut cfg = ch.view(|c| c.config());
    cfg.claim_ttl_ms = 1_000;
    cfg.reconnect_window_ms = 900;
    cfg.partition_slash_bps = 10_000;
    cfg.partition_step_budget = 1_000;
    ch.call(OWNER, 0, |c| c.update_config(cfg));
    ch.now_ms += 1_000;
    ch.finish_check();
    assert_eq!(ch.view(|c| c.config.partition_slash_bps), 10_000, "the new config is in force");
    let split = ch.view(|c| c.pending_split(ab)).expect("the split is recorded");
    assert_eq!(split.settle_after_ms, made + 20_000, "the window of the severance's config");
    assert_eq!(split.slash_bps, 1_000);
    ch.settle(ab);
    assert_eq!(ch.view(|c| c.node(acc("x"))).unwrap().stake.0, 2 * N - 2 * N / 10, "slashed 10 %, not 100 %");
    ch.now_ms += 2_000;
    let held = ch.view(|c| c.claims(acc("a"))).held;
    assert_eq!(held.len(), 1, "a's claim on b outlives the new, shorter TTL");
    assert_eq!(held[0].expires_ms, made + 30_000);
    ch.now_ms = made + 30_000;
    assert!(ch.view(|c| c.claims(acc("a"))).held.is_empty());
    ch.assert_conserved();
}

#[test]
fn rejoin_with_stake_above_the_minimum_needs_no_deposit() {
    // In a debug build rejoin used to panic computing its own refusal
    // message (`min - stake` underflows when the stake suffices).
    let mut ch = Chain::new(|c| {
        c.challenge_period_ms = 1_000;
        c.reconnect_window_ms = 2_000;
    });
    ch.register("alice", 5 * N);
    ch.register("bob", 9 * N);
    let id = ch.open("alice", "bob", N, N);
    ch.call("bob", 0, |c| c.sever(id, None));
    ch.settle(id);
    assert_eq!(ch.view(|c| c.node(acc("alice"))).unwrap().status, NodeStatus::Partitioned);
    let stake = ch.view(|c| c.node(acc("alice"))).unwrap().stake.0;
    assert!(stake > N, "{stake}");
    assert_eq!(ch.call("alice", 0, |c| c.rejoin()).0, stake);
    assert_eq!(ch.view(|c| c.node(acc("alice"))).unwrap().status, NodeStatus::Active);
}

#[test]
fn a_panic_that_is_a_bug_is_not_taken_for_a_refusal() {
    for msg in ["attempt to subtract with overflow", "internal: claim", "called `Option::unwrap()` on a `None` value"] {
        assert!(is_bug(msg), "{msg}");
    }
    assert!(!is_bug("rejoin is only for partitioned nodes; bob is Active"));
    assert!(!is_bug(
        "called `Result::unwrap()` on an `Err` value: HostError(GuestPanic { panic_msg: \"leave: account p0 is not a registered node\" })"
    ));
    let mut ch = Chain::new(|_| {});
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = ch.try_call("anyone", 0, |_| {
            let v: Vec<u8> = Vec::new();
            v[usize::from(v.is_empty())]
        });
    }));
    assert!(r.is_err(), "an index out of bounds must fail the test, not count as a refusal");
}

#[test]
fn registration_needs_the_node_keys_own_proof() {
    let mut ch = Chain::new(|_| {});
    let fee = ch.view(|c| c.config.node_storage_fee.0);
    let key = signer("alice").public();
    // Made for another account, by another key, for another contract, or
    // not a signature at all: each is refused before anything is taken.
    let for_bob = proof("bob", "alice");
    ch.refuse("alice", N + fee, "does not prove node key", |c| c.register_node(key, 10, for_bob));
    let by_mallory = proof("alice", "mallory");
    ch.refuse("alice", N + fee, "does not prove node key", |c| c.register_node(key, 10, by_mallory));
    let s = signer("alice");
    let elsewhere =
        por_core::Registration { contract: "evil.test.near".into(), account: acc("alice").to_string(), node_key: key }
            .sign(&s);
    ch.refuse("alice", N + fee, "does not prove node key", |c| c.register_node(key, 10, elsewhere));
    ch.refuse("alice", N + fee, "does not prove node key", |c| c.register_node(key, 10, por_core::Signature([0; 64])));
    // A voucher signature is no registration proof (domain separation).
    let v = voucher("alice", 1, 1).signature;
    ch.refuse("alice", N + fee, "does not prove node key", |c| c.register_node(key, 10, v));
    assert_eq!(ch.view(|c| c.graph_nodes(0, 10)).total, 0);
    let sig = proof("alice", "alice");
    assert_eq!(ch.call("alice", N + fee, |c| c.register_node(key, 10, sig)), 0);
    ch.assert_conserved();
}
