//! The adversarial matrix with exact books: for each attack, every honest
//! node's books move, to the yocto, as the honest protocol says (what it
//! paid and received on each channel, the late fees among them, credit),
//! and no edge between honest nodes is cut.
//!
//! The figures are derived by hand in the comments from PROTOCOL.md §5
//! (fees), §6 (deadlines) and §13 (late fees: `late_fee(rate, ms, cap)`,
//! here 1 yocto per ms with `max_late_ms` 20 000 unless a test says
//! otherwise). Every request carries a 2-byte body and a 64-byte
//! allowance, so each edge costs `FEE + 66 = 1 066`.

use super::*;

/// One edge's price for the tests' requests: `base_fee + byte_fee · (2 + 64)`.
const EDGE: Amount = FEE + 66;

/// A relay lying about a severance is found out when the chain never shows
/// it: its upstream cuts it and sends a true notice in its place. Nobody
/// honest pays a late fee (the lie came at the liar's deadline, so it was
/// not late either), and Alex does not cut honest Alice.
#[test]
fn false_notice_gets_the_liar_cut() {
    let mut net = Net::paper(|n| {
        let mut c = cfg(FailurePolicy { missed_syncs: 0, notice_confirm_ms: 2_000, ..Default::default() });
        c.faults.false_notices = n == 2;
        c
    });
    net.offline.insert(4);
    net.request(&[0, 1, 2, 4, 5], 1);
    net.run_until(30_000);
    // Bob's false notice (Bob–Eve) at 700 reaches Alice at 900; she waits
    // 2000 ms plus the round trip to Bob–Eve, 2·(200 + 100).
    assert_eq!(net.severed, vec![(3_500, 1, ChannelId(2), SeverReason::FalseNotice)]);
    assert_eq!(net.terminal(0), vec![(1_000, "notice")], "Alex got exactly one terminal outcome, at his bound");
    assert!(net.honest_cut(&[0, 1]).is_empty(), "{:?}", net.severed);
    // Deadlines (§6): Alex's bound 2·(100+200+100+100) = 1000; Alice
    // forwards at 100 with 2·(200+100+100) = 800, so she owes Alex from
    // 100 + 100 + 800 = 1000 (her estimate of his deadline) and Bob owes
    // her from 300 + 200 + 400 = 900 (his of hers). Bob's lie leaves at his
    // own deadline for Eve (300 + 400 = 700) and freezes what he owes at
    // 700 + 200 = 900; Alice passes it on at 900 and owes until
    // 900 + 100 = 1000. Late fees: 0 on both edges. Her true notice at
    // 3500 changes nothing Alex is owed: his request ended at 1000.
    // Fees (§5): Alex pays the four edges, 4 · 1066; Alice pays Bob three.
    let none = Books::default();
    assert_eq!(net.books(0, ChannelId(1)), Books { paid: 4 * EDGE, ..none }, "Alex");
    assert_eq!(net.books(1, ChannelId(1)), Books { received: 4 * EDGE, ..none }, "Alice from Alex");
    assert_eq!(net.books(1, ChannelId(2)), Books { paid: 3 * EDGE, ..none }, "Alice to the liar");
    // What the liar owes: nothing in late fees (its lie came on time); it
    // keeps its 1066, and pays with its edge (and half the penalty on chain).
    assert_eq!(net.books(2, ChannelId(2)), Books { received: 3 * EDGE, ..none }, "the liar");
    assert!(net.late_paid.is_empty() && net.late_received.is_empty(), "{:?}", net.late_on);
}

/// A relay that takes paid requests without a trace (no ack, no forward)
/// while it keeps answering syncs: Alice re-sends within her budget, counts
/// what Bob owes from the last copy's deadline (Bob never acknowledged, so
/// he may have got only that one), cuts him for withholding once the grace
/// passes, and pays Alex his lateness up to her notice.
#[test]
fn a_silent_relay_is_cut_and_the_honest_books_are_exact() {
    let mut net = Net::paper(|n| {
        let mut c = cfg(FailurePolicy::default());
        c.faults.drop_requests = n == 2;
        c
    });
    net.request(&[0, 1, 2, 3], 1);
    net.run_until(30_000);
    // Alice forwards at 100 with budget 2·(200 + 100) = 600: deadline 700.
    // Copies (never acked): at 700 (her deadline), then at her Alice–Bob
    // sync ticks (every 1000 ms from 1100) once 2·200 + 50 = 450 ms passed
    // since the last: 2100, 3100, 4100 (the fourth and last). Each moves
    // the start of what Bob owes to the copy's deadline: 4100 + 600 = 4700.
    // Her tick checks his payments against the lateness up to now − 1500
    // (the late-fee grace): 0 at 5100 and 6100, 900 due at 7100: cut.
    assert_eq!(net.severed, vec![(7_100, 1, ChannelId(2), SeverReason::WithheldLateFee)]);
    assert!(net.honest_cut(&[0, 1, 3]).is_empty());
    // Her notice leaves at 7100 and reaches Alex at 7200; his bound was
    // 2·(100 + 200 + 100) = 800: he is owed 6400, and Alice (who owes from
    // her estimate 100 + 100 + 600 = 800 up to 7100 + 100) pays exactly that.
    assert_eq!(net.terminal(0), vec![(7_200, "notice")]);
    assert_eq!(net.late_total(0), 6_400);
    let none = Books::default();
    assert_eq!(
        net.books(0, ChannelId(1)),
        Books { paid: 3 * EDGE, received: 6_400, late_received: 6_400, ..none },
        "Alex"
    );
    assert_eq!(
        net.books(1, ChannelId(1)),
        Books { paid: 6_400, received: 3 * EDGE, late_paid: 6_400, ..none },
        "Alice with Alex"
    );
    // Alice paid Bob his two edges with the first copy; he received
    // nothing she can get back, and paid nothing.
    assert_eq!(net.books(1, ChannelId(2)), Books { paid: 2 * EDGE, ..none }, "Alice with Bob");
    assert_eq!(net.books(3, ChannelId(3)), none, "Carol never heard of it");
}
