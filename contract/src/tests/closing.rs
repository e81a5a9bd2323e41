//! Close-proposed channels (DESIGN §2.8): once a close is proposed the edge
//! is shown as closing, so neither end routes new requests over it; the
//! confirmation records each side's latest voucher; either side may still
//! sever with the best voucher it holds, the one the close was proposed
//! with included.

use super::*;

/// Alice (deposit 5) and Bob (deposit 3) with one channel; Bob proposes a
/// close with Alice's voucher for 2 NEAR.
fn proposed() -> (Chain, u64) {
    let mut ch = Chain::new(|_| {});
    ch.register("alice", 2 * N);
    ch.register("bob", 2 * N);
    let id = ch.open("alice", "bob", 5 * N, 3 * N);
    ch.call("bob", 0, |c| c.propose_close(id, Some(voucher("alice", id, 2 * N))));
    (ch, id)
}

#[test]
fn a_close_proposed_edge_is_shown_closing_in_the_graph() {
    let mut ch = Chain::new(|_| {});
    ch.register("alice", 2 * N);
    ch.register("bob", 2 * N);
    let id = ch.open("alice", "bob", 5 * N, 3 * N);
    let page = ch.view(|c| c.graph_edges(0, 10));
    assert!(!page.edges[0].closing, "an open edge is not closing");
    let v0 = page.graph_version;
    ch.call("bob", 0, |c| c.propose_close(id, None));
    let page = ch.view(|c| c.graph_edges(0, 10));
    // Still an edge (its two ends stay bound for the partition check), but
    // closing, at a new graph version so that following nodes see it.
    assert_eq!(page.total, 1);
    assert!(page.edges[0].closing, "the graph shows the edge as closing");
    assert!(page.graph_version > v0, "proposing a close moves the graph version");
    // A better voucher later changes the books, not the graph.
    let v1 = page.graph_version;
    ch.call("bob", 0, |c| c.propose_close(id, Some(voucher("alice", id, N))));
    assert_eq!(ch.view(|c| c.graph_version()), v1);
    ch.assert_conserved();
}

#[test]
fn the_proposer_severs_with_the_voucher_it_proposed_with() {
    let (mut ch, id) = proposed();
    // Alice never confirms. Bob's best voucher is still the one he proposed
    // with: severing with it must work, or he could neither close nor cut.
    ch.refuse("bob", 0, "below the", |c| c.sever(id, Some(voucher("alice", id, N))));
    ch.call("bob", 0, |c| c.sever(id, Some(voucher("alice", id, 2 * N))));
    let v = ch.view(|c| c.channel(id)).unwrap();
    assert_eq!((v.state.as_str(), v.paid_by_a.0), ("severed", 2 * N));
    ch.now_ms += 60_000;
    ch.call("anyone", 0, |c| c.finalize(id));
    let ev = ch.events();
    assert_eq!(ev[0].1["credit_a"], (3 * N).to_string());
    assert_eq!(ev[0].1["credit_b"], (5 * N).to_string());
    ch.assert_conserved();
}

#[test]
fn the_other_side_severs_a_close_proposed_channel_with_its_best_voucher() {
    let (mut ch, id) = proposed();
    ch.call("alice", 0, |c| c.sever(id, Some(voucher("bob", id, N / 2))));
    let v = ch.view(|c| c.channel(id)).unwrap();
    assert_eq!((v.severer, v.paid_by_a.0, v.paid_by_b.0), (Some(acc("alice")), 2 * N, N / 2));
    assert_eq!(ch.view(|c| c.graph_edges(0, 10)).total, 0, "a severed edge leaves the graph");
}

#[test]
fn the_proposer_records_what_it_is_paid_after_proposing() {
    let (mut ch, id) = proposed();
    // Late fees of requests in flight reach Bob after he proposed.
    ch.refuse("bob", 0, "does not exceed", |c| c.propose_close(id, Some(voucher("alice", id, 2 * N))));
    ch.refuse("bob", 0, "wrong direction", |c| c.propose_close(id, Some(voucher("bob", id, 3 * N))));
    ch.call("bob", 0, |c| c.propose_close(id, Some(voucher("alice", id, 5 * N / 2))));
    let ev = ch.events();
    assert_eq!(ev[0].0, "close_proposed");
    assert_eq!(ev[0].1["paid_to_proposer"], (5 * N / 2).to_string());
    ch.call("alice", 0, |c| c.confirm_close(id, None, None));
    let ev = ch.events();
    assert_eq!(ev[0].1["credit_a"], (5 * N - 5 * N / 2).to_string());
    assert_eq!(ev[0].1["credit_b"], (3 * N + 5 * N / 2).to_string());
    ch.assert_conserved();
}

#[test]
fn confirm_close_records_each_sides_latest_voucher() {
    let (mut ch, id) = proposed();
    // Since the proposal Alice paid Bob up to 2.5 and Bob paid Alice 0.5:
    // the confirmation records both, Alice's own included.
    ch.refuse("alice", 0, "below the", |c| {
        c.confirm_close(id, Some(voucher("bob", id, N / 2)), Some(voucher("alice", id, N)))
    });
    ch.refuse("alice", 0, "wrong direction", |c| {
        c.confirm_close(id, Some(voucher("bob", id, N / 2)), Some(voucher("bob", id, 3 * N)))
    });
    ch.call("alice", 0, |c| {
        c.confirm_close(id, Some(voucher("bob", id, N / 2)), Some(voucher("alice", id, 5 * N / 2)))
    });
    let ev = ch.events();
    assert_eq!(ev[0].0, "channel_closed");
    // Alice: 5 − 2.5 + 0.5; Bob: 3 + 2.5 − 0.5.
    assert_eq!(ev[0].1["credit_a"], (3 * N).to_string());
    assert_eq!(ev[0].1["credit_b"], (5 * N).to_string());
    ch.assert_conserved();
}

#[test]
fn confirm_close_takes_the_vouchers_already_recorded() {
    let (mut ch, id) = proposed();
    // Alice's latest voucher is the one Bob proposed with: repeating it
    // confirms, as does the proposer's voucher the chain already holds.
    ch.call("alice", 0, |c| c.confirm_close(id, None, Some(voucher("alice", id, 2 * N))));
    let v = ch.view(|c| c.channel(id)).unwrap();
    assert_eq!((v.state.as_str(), v.paid_by_a.0), ("closed", 2 * N));
    ch.assert_conserved();
}
