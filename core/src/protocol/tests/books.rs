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
use crate::message::SyncAck;

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

/// The same silent hop two relays down: Eve drops what Bob forwards to
/// Dave's; Bob cuts her, and the lateness flows up to Alex through two
/// honest relays, each whole but for Bob, who pays it out of pocket.
#[test]
fn a_silent_hop_below_two_honest_relays() {
    let mut net = Net::paper(|n| {
        let mut c = cfg(FailurePolicy::default());
        c.faults.drop_requests = n == 4;
        c
    });
    net.request(&[0, 1, 2, 4, 5], 1);
    net.run_until(30_000);
    // Bob forwards at 300 with 2·(100 + 100) = 400: deadline 700. Copies at
    // 700, then at his Bob–Eve ticks (every 500 ms from 800) once
    // 2·100 + 50 = 250 ms passed: 1300, 1800, 2300 (the fourth). What Eve
    // owes starts at 2300 + 400 = 2700; due after the 1500 grace from the
    // tick at 4300 (100 by then): cut.
    assert_eq!(net.severed, vec![(4_300, 2, ChannelId(4), SeverReason::WithheldLateFee)]);
    assert!(net.honest_cut(&[0, 1, 2, 5]).is_empty());
    // The notice reaches Alice at 4500 and Alex at 4600. Bound 1000: Alex
    // is owed 3600. Alice owes him from 100 + 100 + 800 = 1000 to
    // 4500 + 100: 3600; Bob owes her from 300 + 200 + 400 = 900 to
    // 4300 + 200: 3600.
    assert_eq!(net.terminal(0), vec![(4_600, "notice")]);
    let none = Books::default();
    assert_eq!(net.books(0, ChannelId(1)), Books { paid: 4 * EDGE, received: 3_600, late_received: 3_600, ..none });
    assert_eq!(net.books(1, ChannelId(1)), Books { paid: 3_600, received: 4 * EDGE, late_paid: 3_600, ..none });
    assert_eq!(net.books(1, ChannelId(2)), Books { paid: 3 * EDGE, received: 3_600, late_received: 3_600, ..none });
    assert_eq!(net.books(2, ChannelId(2)), Books { paid: 3_600, received: 3 * EDGE, late_paid: 3_600, ..none });
    assert_eq!(net.books(2, ChannelId(4)), Books { paid: 2 * EDGE, ..none }, "Bob, paid nothing by Eve");
}

/// A silent hop (`FaultInjection::drop_requests`): Alice takes Alex's paid
/// request, and his copy of it, without a trace (no persist, ack, forward,
/// serve or refusal), yet still answers his syncs.
#[test]
fn a_silent_hop_drops_paid_requests_and_still_syncs() {
    let mut net = Net::paper(|n| {
        let mut c = cfg(FailurePolicy::default());
        c.faults.drop_requests = n == 1;
        c
    });
    let hops = vec![
        RouteHop { channel: ChannelId(1), node: net.key(1), params: edge(100) },
        RouteHop { channel: ChannelId(2), node: net.key(2), params: edge(200) },
    ];
    let alex = NodeSigner::from_seed([1; 32]);
    let mut req = Request {
        requester: net.key(0),
        nonce: 1,
        route: Route { hops, service_ms: 0 },
        service: "echo".into(),
        body: b"hi".to_vec(),
        max_response_bytes: 64,
        budget: 0,
        signature: Signature([0; 64]),
        path: Default::default(),
    };
    req.budget = req.quote().unwrap().total();
    let req = req.sign(&alex);
    let paid = |out: &[Effect]| {
        out.iter()
            .find_map(|e| match e {
                Effect::Send { msg: Wire::Request(p), .. } => Some(p.clone()),
                _ => None,
            })
            .expect("a paid request")
    };
    let mut out = Vec::new();
    net.nodes[0].send_request(req, 0, &mut out).unwrap();
    net.nodes[0].flush(0, &mut out);
    let mut got = Vec::new();
    net.nodes[1].handle_message(ChannelId(1), Wire::Request(paid(&out)), 100, &mut got);
    net.nodes[1].flush(100, &mut got);
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(net.nodes[1].in_flight(), 0);
    assert_eq!(net.nodes[1].ledger(ChannelId(1)).unwrap().received(), 0, "the voucher was not taken");
    // Alex's sync tick: no ack yet, so he sends the request again, and syncs.
    out.clear();
    net.nodes[0].handle_timer(Timer::Sync(ChannelId(1)), 500, &mut out);
    net.nodes[0].flush(500, &mut out);
    net.nodes[1].handle_message(ChannelId(1), Wire::Request(paid(&out)), 600, &mut got);
    net.nodes[1].flush(600, &mut got);
    assert!(got.is_empty(), "{got:?}");
    let sync = out
        .iter()
        .find_map(|e| match e {
            Effect::Send { msg: Wire::Sync(s), .. } => Some(s.clone()),
            _ => None,
        })
        .expect("Alex syncs while his request is in flight");
    net.nodes[1].handle_message(ChannelId(1), Wire::Sync(sync), 600, &mut got);
    net.nodes[1].flush(600, &mut got);
    assert!(matches!(got[..], [Effect::Send { channel: ChannelId(1), msg: Wire::SyncAck(_) }]), "{got:?}");
}

/// How the payer of late fees reads a sync ack (`SyncAck::credited`,
/// `SyncAck::cumulative`): its claims count as confirmed only when the
/// upstream credited them *and* holds the voucher that paid them. Bob's
/// two paying syncs to Alice are lost; he is then handed an ack saying the
/// first one's claims were refused short, and one saying the second's were
/// credited by an upstream that holds less than the voucher that paid them
/// (it credited them from what else it held). Neither confirms: his next
/// sync claims again with his last voucher, Alice is paid exactly, and
/// nobody is cut. (Before the check, either ack confirmed the claims; Bob
/// stopped claiming, and Alice, never paid, cut honest Bob for withholding
/// at 6100.)
#[test]
fn claims_not_credited_or_not_held_are_claimed_again() {
    let mut net = Net::paper(|_| cfg(FailurePolicy { late_fee_grace_ms: 5_000, ..Default::default() }));
    net.slow_ms.insert(3, 1_300);
    let id = net.request(&[0, 1, 2, 3], 1);
    net.lose.push((2, "paying sync"));
    net.lose.push((2, "paying sync"));
    let alice = NodeSigner::from_seed([2; 32]);
    let sync = |net: &mut Net| match net.caught.pop() {
        Some(Wire::Sync(s)) => s,
        m => panic!("{m:?}"),
    };
    let confirmed = |net: &Net| net.nodes[2].entry(&id).unwrap().up.as_ref().unwrap().confirmed;
    // Bob's deadline for Carol is 300 + 2·100 = 500, his estimate of
    // Alice's 300 + 200 + 200 = 700. He syncs with Alice every 1000 ms
    // from 300: at 1300 he claims 1300 − 700 = 600 and pays it.
    net.run_until(1_300);
    let first = sync(&mut net);
    assert_eq!(first.overdue, vec![Overdue { request_id: id, amount: 600 }]);
    let v1 = first.voucher.as_ref().unwrap().voucher.cumulative;
    // Alice refused them short (her ack holds even the voucher).
    let ack = SyncAck::create(ChannelId(2), first.seq, v1, false, &alice);
    net.nodes[2].handle_message(ChannelId(2), Wire::SyncAck(ack), 1_400, &mut Vec::new());
    net.nodes[2].flush(1_400, &mut Vec::new());
    assert_eq!(confirmed(&net), 0, "claims refused short are not confirmed");
    // Carol answers at 300 + 100 + 1300 = 1700; Bob passes it on at 1800
    // and owes until 1800 + 200 = 2000: 1300 in all. At 2300 he claims
    // 1300, paying the 700 more.
    net.run_until(2_300);
    let second = sync(&mut net);
    assert_eq!(second.overdue, vec![Overdue { request_id: id, amount: 1_300 }]);
    assert_eq!(second.voucher.as_ref().unwrap().voucher.cumulative, v1 + 700);
    // Credited, by an upstream that holds only the first voucher.
    let ack = SyncAck::create(ChannelId(2), second.seq, v1, true, &alice);
    net.nodes[2].handle_message(ChannelId(2), Wire::SyncAck(ack), 2_400, &mut Vec::new());
    net.nodes[2].flush(2_400, &mut Vec::new());
    assert_eq!(confirmed(&net), 0, "credited without the voucher that paid them: not confirmed");
    // His 3300 sync claims the 1300 again with his last voucher, which
    // reaches Alice at 3500: she is paid, and his ack confirms it.
    net.run_until(30_000);
    assert!(net.severed.is_empty(), "{:?}", net.severed);
    // Alex's bound is 800; the response reaches Alice at 2000 and Alex at
    // 2100: Alice owes him 1300 (from her estimate 100 + 100 + 600 = 800
    // to 2000 + 100), as Bob owes her.
    assert_eq!(net.terminal(0), vec![(2_100, "response")]);
    let none = Books::default();
    assert_eq!(net.books(0, ChannelId(1)), Books { paid: 3 * EDGE, received: 1_300, late_received: 1_300, ..none });
    assert_eq!(net.books(1, ChannelId(1)), Books { paid: 1_300, received: 3 * EDGE, late_paid: 1_300, ..none });
    assert_eq!(net.books(1, ChannelId(2)), Books { paid: 2 * EDGE, received: 1_300, late_received: 1_300, ..none });
    assert_eq!(net.books(2, ChannelId(2)), Books { paid: 1_300, received: 2 * EDGE, late_paid: 1_300, ..none });
    // Carol got it at 400 and owes from 400 + 100 + 0 = 500 (Bob's
    // deadline) until her response reaches him at 1800: 1300 too.
    assert_eq!(net.books(2, ChannelId(3)), Books { paid: EDGE, received: 1_300, late_received: 1_300, ..none });
    assert_eq!(net.nodes.iter().map(|e| e.in_flight()).sum::<usize>(), 0);
}

/// A cooperative close used to dodge late fees: Bob, late with Carol's
/// answer and paying Alice for it at each sync, sends a notice naming
/// Bob–Carol, stops paying, and closes Bob–Carol cooperatively with Carol.
/// The notice stops Alice's late fees to Alex at its arrival, as any notice
/// does; the chain then shows the close, which refutes it, and Alice cuts
/// Bob at once and sends her own notice; Alex does not cut Alice.
#[test]
fn a_cooperative_close_used_to_dodge_late_fees_gets_the_dodger_cut() {
    let mut net = Net::paper(|_| cfg(FailurePolicy::default()));
    net.slow_ms.insert(3, 10_000);
    let id = net.request(&[0, 1, 2, 3], 1);
    // Bob's estimate of Alice's deadline is 300 + 200 + 200 = 700: his
    // syncs at 1300 and 2300 pay 600, then 1000 more (they reach Alice at
    // 1500 and 2500).
    net.run_until(2_500);
    assert_eq!(net.books(1, ChannelId(2)).late_received, 1_600);
    // At 2500 he sends the notice and goes quiet.
    net.offline.insert(2);
    let notice = SeveranceNotice::create(id, ChannelId(3), Hash32([7; 32]), &NodeSigner::from_seed([3; 32]));
    net.at(2_700, Ev::Msg { to: 1, channel: ChannelId(2), msg: Wire::Notice(notice) });
    // The chain shows Bob–Carol closed cooperatively at 3000: every node
    // watching it for a notice hears so.
    net.run_until(3_000);
    for n in [0, 1] {
        let mut out = Vec::new();
        net.nodes[n].notice_refuted(ChannelId(3), 3_000, &mut out);
        net.nodes[n].flush(3_000, &mut out);
        net.apply(n, out);
    }
    net.run_until(30_000);
    assert_eq!(net.severed, vec![(3_000, 1, ChannelId(2), SeverReason::FalseNotice)]);
    assert!(net.honest_cut(&[0, 1]).is_empty());
    // Alice passed Bob's notice on at 2700: it reached Alex at 2800, 2000
    // past his bound of 800, and she owes him from her estimate
    // 100 + 100 + 600 = 800 until 2700 + 100: 2000.
    assert_eq!(net.terminal(0), vec![(2_800, "notice")]);
    let none = Books::default();
    assert_eq!(net.books(0, ChannelId(1)), Books { paid: 3 * EDGE, received: 2_000, late_received: 2_000, ..none });
    assert_eq!(net.books(1, ChannelId(1)), Books { paid: 2_000, received: 3 * EDGE, late_paid: 2_000, ..none });
    // Bob owed her 2000 too (700 to 2500 + 200) and paid 1600: the 400 of
    // his last interval and the notice's crossing is what the dodge kept,
    // and his edge is what it cost him.
    assert_eq!(net.books(1, ChannelId(2)), Books { paid: 2 * EDGE, received: 1_600, late_received: 1_600, ..none });
}

/// The paper's §5.3 case (Eve offline, `max_late_ms` 900, Bob cuts
/// Bob–Eve) with `notice_confirm_ms` 10 s and a chain that makes a
/// severance final `finality_ms` after it is signed.
fn slow_sever(finality_ms: u64) -> (Net, RequestId) {
    let mut net = Net::paper(|_| {
        let mut c = cfg(FailurePolicy { missed_syncs: 0, notice_confirm_ms: 10_000, ..Default::default() });
        c.max_late_ms = 900;
        c
    });
    net.finality_ms = finality_ms;
    net.offline.insert(4);
    let id = net.request(&[0, 1, 2, 4, 5], 1);
    (net, id)
}

/// A slow sever transaction (finality seconds away): Bob cuts Bob–Eve
/// (Eve offline) at `max_late_ms`; his notice leaves as soon as the
/// transaction is signed, stops the late fees up the route at its arrival,
/// and Alice and Alex wait for the chain within `notice_confirm_ms` instead
/// of cutting anyone. The figures are those of the instant chain
/// (`waiting_relay_streams_late_fees_then_notice`), to the yocto.
#[test]
fn a_slow_sever_sends_the_notice_at_signing_and_nobody_honest_is_cut() {
    let (mut net, id) = slow_sever(5_000);
    // Bob's deadline for Eve is 300 + 2·(100 + 100) = 700: he cuts at
    // 700 + 900 = 1600 and his notice leaves then, not at finality (6600).
    net.run_until(1_600);
    assert_eq!(net.severed, vec![(1_600, 2, ChannelId(4), SeverReason::MaxLate)]);
    net.run_until(6_599);
    // It crossed Bob–Alice (200) and Alice–Alex (100): Alex has it at 1900.
    assert_eq!(net.terminal(0), vec![(1_900, "notice")]);
    // Alice waits for the chain: her notice window runs to
    // 1800 + 10 000 + 2·(200 + 100) = 12 400, Alex's to
    // 1900 + 10 000 + 2·(100 + 200 + 100) = 12 700.
    for n in [0, 1] {
        let pending = net.nodes[n].entry(&id).and_then(|e| e.confirm.as_ref()).map(|c| (c.severed, c.until_ms));
        assert_eq!(pending, Some((ChannelId(4), [12_700, 12_400][n])), "node {n} waits for the chain");
    }
    net.run_until(30_000);
    assert_eq!(net.severed.len(), 1, "nobody else is cut: {:?}", net.severed);
    assert!(net.nodes.iter().all(|e| e.entry(&id).is_none_or(|e| e.confirm.is_none())), "confirmed");
    // Late fees (1 yocto/ms): Alex's bound is 1000, the notice reaches him
    // at 1900: 900, which Alice pays (her estimate of his deadline
    // 100 + 100 + 800 = 1000, owed until 1800 + 100). Bob owes Alice from
    // 300 + 200 + 400 = 900 until 1600 + 200: 900, out of his pocket (Eve
    // is offline and pays nothing).
    let none = Books::default();
    assert_eq!(net.books(0, ChannelId(1)), Books { paid: 4 * EDGE, received: 900, late_received: 900, ..none });
    assert_eq!(net.books(1, ChannelId(1)), Books { paid: 900, received: 4 * EDGE, late_paid: 900, ..none });
    assert_eq!(net.books(1, ChannelId(2)), Books { paid: 3 * EDGE, received: 900, late_received: 900, ..none });
    assert_eq!(net.books(2, ChannelId(2)), Books { paid: 900, received: 3 * EDGE, late_paid: 900, ..none });
    assert_eq!(net.books(2, ChannelId(4)), Books { paid: 2 * EDGE, ..none });
}

/// The limit of the rule: a severance that lands after the upstream's
/// window is taken for a lie, however honest. Landing 15 s after signing
/// against a 10 s window, Alice's check at 1800 + 10 000 + 600 = 12 400 cuts
/// Bob, and her own true notice (at Alex by 12 500) waits for a landing at
/// 12 400 + 15 000, after Alex's window, 12 500 + 10 000 + 2·(100 + 200) =
/// 23 100: the cut cascades. So `notice_confirm_ms` must exceed the longest
/// a sever can take to land (PROTOCOL.md §13.3).
#[test]
fn a_sever_landing_after_the_notice_window_is_taken_for_a_lie() {
    let (mut net, _) = slow_sever(15_000);
    net.run_until(60_000);
    assert_eq!(
        net.severed,
        vec![
            (1_600, 2, ChannelId(4), SeverReason::MaxLate),
            (12_400, 1, ChannelId(2), SeverReason::FalseNotice),
            (23_100, 0, ChannelId(1), SeverReason::FalseNotice),
        ]
    );
}

/// Eve fills what Bob's limits give her channel (requests Bob serves
/// himself, in the 3000 ms every node takes here), while Alex's request
/// crosses Alice and Bob to Carol. Eve's request over the limit is refused
/// `busy` and costs her nothing (its payment is credit her next request
/// spends); Alex's gets through; every honest book is as in a quiet
/// network. Returns the net after the run and Eve's refusals seen at Bob.
fn flood(limits: impl Fn(&mut Limits), eve_sends: u64) -> (Net, Vec<Refusal>) {
    let mut net = Net::paper(|n| {
        let mut c = cfg(FailurePolicy::default());
        if n == 2 {
            limits(&mut c.limits);
        }
        c
    });
    net.service_ms = 3_000;
    net.receipts = true;
    for nonce in 0..eve_sends {
        net.request(&[4, 2], nonce);
    }
    net.request(&[0, 1, 2, 3], 100);
    net.run_until(4_000);
    // Once Bob has answered, Eve's next request is paid from her credit.
    net.request(&[4, 2], 99);
    net.run_until(30_000);
    let refused = net.refusals.iter().filter(|r| r.1 == 2 && r.2 == "request").map(|r| r.3).collect();
    (net, refused)
}

/// What every honest node's books must show after [`flood`]: Alex's
/// request priced at three edges (§5), each node keeping its edge's fee;
/// no late fee anywhere (Alex's bound 2·400 + 3000 = 3800, met exactly);
/// Bob paid by Eve for the `served` requests he answered, the busy one's
/// payment spent by her last request (credit 0 on both sides).
fn assert_quiet_books(net: &Net, served: u128) {
    assert_eq!(net.terminal(0), vec![(3_800, "response")], "Alex's request got through");
    assert!(net.severed.is_empty(), "{:?}", net.severed);
    assert!(net.late_on.is_empty(), "{:?}", net.late_on);
    let none = Books::default();
    assert_eq!(net.books(0, ChannelId(1)), Books { paid: 3 * EDGE, ..none }, "Alex");
    assert_eq!(net.books(1, ChannelId(1)), Books { received: 3 * EDGE, ..none }, "Alice from Alex");
    assert_eq!(net.books(1, ChannelId(2)), Books { paid: 2 * EDGE, ..none }, "Alice to Bob");
    assert_eq!(net.books(2, ChannelId(2)), Books { received: 2 * EDGE, ..none }, "Bob from Alice");
    assert_eq!(net.books(2, ChannelId(3)), Books { paid: EDGE, ..none }, "Bob to Carol");
    assert_eq!(net.books(3, ChannelId(3)), Books { received: EDGE, ..none }, "Carol");
    assert_eq!(net.books(2, ChannelId(4)), Books { received: served * EDGE, ..none }, "Bob from Eve");
    assert_eq!(net.books(4, ChannelId(4)), Books { paid: served * EDGE, ..none }, "Eve");
    let answered = net.terminal(4).iter().filter(|(_, what)| *what == "response").count() as u128;
    assert_eq!(answered, served, "Eve's requests within the limit were served");
    assert_eq!(net.nodes.iter().map(|e| e.in_flight()).sum::<usize>(), 0);
}

/// A neighbour filling every request slot Bob gives its channel (3) gets
/// `busy` for the fourth; the other neighbours' traffic is untouched.
#[test]
fn a_neighbour_filling_every_slot_costs_the_honest_nothing() {
    let (net, refused) = flood(|l| l.max_in_flight = 3, 4);
    assert_eq!(refused, vec![Refusal::Busy]);
    // Eve paid 4 · 1066 for four requests, the fourth refused (credit
    // 1066 at Bob, credit_out at Eve); her fifth was paid from it: Bob was
    // paid for the four he served, 4 · 1066, and nothing more.
    assert_quiet_books(&net, 4);
}

/// `max_late_liability`: each request Bob takes can cost him
/// `late_fee(rate, max_late_ms, max_late_ms)` = 1 yocto/ms · 20 000 ms =
/// 20 000; with a cap of 50 000 per channel Eve's third would make 60 000
/// and is refused `busy`, while Alice's, on her own channel (20 000), and
/// Bob's onward one to Carol (20 000) pass.
#[test]
fn late_fee_liability_over_the_cap_is_busy() {
    let (net, refused) = flood(|l| l.max_late_liability = 50_000, 3);
    assert_eq!(refused, vec![Refusal::Busy]);
    assert_quiet_books(&net, 3);
}
