//! Lost messages (the re-send rule, repeated claims and notices): with the
//! rule on, each loss is recovered, its lateness paid by the side that lost
//! the message, and no honest edge is cut; the last test shows the cut
//! without it.

use super::*;

/// The re-send rule: Bob's response to Alice is lost. Alice asks again at her
/// deadline (700, the copy reaches Bob at 900), Bob repeats the response
/// (Alice 1100, Alex 1200) and owes the lateness his lost message caused;
/// nobody is cut, Alex is paid for exactly his 400 ms and Alice is whole.
#[test]
fn lost_response_is_sent_again_and_nobody_is_cut() {
    let mut net = Net::paper(|_| cfg(FailurePolicy::default()));
    net.lose.push((2, "response"));
    net.request(&[0, 1, 2, 3], 1);
    net.run_until(20_000);
    assert_eq!(net.lost, vec![(500, 2, "response")]);
    assert!(net.severed.is_empty(), "{:?}", net.severed);
    assert_eq!(net.terminal(0), vec![(1_200, "response")]);
    assert_eq!(net.late_total(0), 400, "Alex is paid for his 400 ms");
    assert_eq!(net.late_paid[&2], 400, "Bob pays for the lateness his lost response caused");
    assert!(net.late_received[&1] >= net.late_paid[&1], "Alice is whole");
    assert!(!net.late_paid.contains_key(&3), "Carol answered in time");
    assert_eq!(net.nodes.iter().map(|e| e.in_flight()).sum::<usize>(), 0, "every node forgot the request");
}

/// Alice's request to Bob is lost: no ack, so at her deadline (700) she
/// sends it again and lets Bob's budget start from the copy; the response
/// reaches Alex at 1400, Alice pays Alex's 600 ms out of pocket (the lost
/// message was hers) and nobody is cut.
#[test]
fn lost_request_is_sent_again_and_nobody_is_cut() {
    let mut net = Net::paper(|_| cfg(FailurePolicy::default()));
    net.lose.push((1, "request"));
    net.request(&[0, 1, 2, 3], 1);
    net.run_until(20_000);
    assert_eq!(net.lost, vec![(100, 1, "request")]);
    assert!(net.severed.is_empty(), "{:?}", net.severed);
    assert_eq!(net.terminal(0), vec![(1_400, "response")]);
    assert_eq!(net.late_total(0), 600);
    assert_eq!(net.late_paid[&1], 600);
    assert!(!net.late_paid.contains_key(&2), "Bob is on time by his own clock");
    assert_eq!(net.nodes.iter().map(|e| e.in_flight()).sum::<usize>(), 0);
}

/// §5.2 with losses: Bob cuts Eve at 700 and his notice to Alice is lost,
/// then the sync repeating it, then Alice's first late-fee sync to Alex.
/// Alice asks Bob again at her deadline (900), he repeats the notice (Alice
/// 1300, Alex 1400) and owes for the lateness; the late-fee claim is repeated
/// until Alex acknowledges it. Only Eve's edge is cut, Alex is paid for his
/// 400 ms, Alice is whole.
#[test]
fn lost_notice_and_syncs_are_repeated_until_acknowledged() {
    let mut net = Net::paper(|n| {
        let mut p = FailurePolicy::default();
        if n == 2 {
            p.sever_overdue_after_ms = Some(0);
        }
        cfg(p)
    });
    net.offline.insert(4);
    net.lose.extend([(2, "notice"), (2, "notice sync"), (1, "paying sync")]);
    net.request(&[0, 1, 2, 4, 5], 1);
    net.run_until(20_000);
    assert_eq!(net.lost, vec![(700, 2, "notice"), (1_100, 1, "paying sync"), (1_300, 2, "notice sync")]);
    assert_eq!(net.severed, vec![(700, 2, ChannelId(4), SeverReason::Overdue)], "only Eve's edge");
    assert_eq!(net.terminal(0), vec![(1_400, "notice")]);
    assert_eq!(net.late_total(0), 400, "paid for all the lateness despite the lost sync");
    assert_eq!(net.late_paid[&2], 400, "Bob pays for the lateness his lost notice caused");
    assert!(net.late_received[&1] >= net.late_paid[&1], "Alice is whole");
    let left: usize = net.nodes.iter().enumerate().filter(|(i, _)| *i != 4).map(|(_, e)| e.in_flight()).sum();
    assert_eq!(left, 0);
}

/// A notice lost long after the deadline, when the upstream no longer
/// re-sends: its copy in Bob's next sync ends Alice's leg later than Bob
/// froze what he owed. Alice's sync ack names it as first arrived there, and
/// Bob pays the lateness up to that sync's arrival; before, Alice saw a
/// shortfall and cut honest Bob (found by the simulator's mixed-attacks, with
/// 1 % loss).
#[test]
fn a_notice_first_arriving_in_a_sync_is_paid_up_to_it() {
    let mut net = Net::paper(|n| {
        let mut p = FailurePolicy { missed_syncs: 0, ..Default::default() };
        if n == 2 {
            p.sever_overdue_after_ms = Some(900);
        }
        let mut c = cfg(p);
        if n == 1 {
            // Alice asks Bob again once, at her deadline, before his notice.
            c.resend.max_resends = 1;
        }
        c
    });
    net.offline.insert(4);
    net.lose.push((2, "notice"));
    net.request(&[0, 1, 2, 4, 5], 1);
    net.run_until(20_000);
    assert_eq!(net.lost, vec![(1_600, 2, "notice")]);
    assert_eq!(net.severed, vec![(1600, 2, ChannelId(4), SeverReason::Overdue)], "only Eve's edge");
    // Bob's next sync with Alice (every 1000 ms from 300) leaves at 2300 and
    // arrives at 2500; Alex hears at 2600, 1600 ms late.
    assert_eq!(net.terminal(0), vec![(2_600, "notice")]);
    assert_eq!(net.late_total(0), 1_600, "Alex is paid for all of it");
    assert!(net.late_received[&1] >= net.late_paid[&1], "Alice is whole: {:?} {:?}", net.late_received, net.late_paid);
    assert_eq!(net.late_paid[&2], 1_600, "Bob pays for the lateness his lost notice caused");
}

/// With re-sending off, a lost response still gets an honest edge cut:
/// the rule above is what prevents it.
#[test]
fn without_resending_a_lost_response_cuts_an_honest_edge() {
    let mut net = Net::paper(|_| {
        let mut c = cfg(FailurePolicy::default());
        c.resend.max_resends = 0;
        c
    });
    net.lose.push((2, "response"));
    net.request(&[0, 1, 2, 3], 1);
    net.run_until(20_000);
    assert!(!net.severed.is_empty(), "expected a cut without the re-send rule");
}

/// An upstream that names, in its sync ack, a request whose answer was a
/// response (no notice of ours was in any sync) makes its downstream owe
/// nothing: Bob pays no late fee, as without the lie.
#[test]
fn a_sync_ack_naming_a_notice_no_sync_carried_costs_nothing() {
    let run = |lie: bool| {
        let mut net = Net::paper(|_| cfg(FailurePolicy::default()));
        net.slow_ms.insert(3, 300);
        let id = net.request(&[0, 1, 2, 3], 1);
        net.run_until(1_400);
        let bob = net.nodes[2].channel(ChannelId(2)).unwrap();
        let (seq, acked) = (bob.seq, bob.acked_seq);
        if lie {
            assert!(seq > acked, "Bob has a sync not yet acknowledged: {seq} {acked}");
            let alice = NodeSigner::from_seed([2; 32]);
            let mut ack = crate::message::SyncAck::create(ChannelId(2), seq, bob.ledger.received(), true, &alice);
            ack.late_notices = vec![id];
            net.at(1_400, Ev::Msg { to: 2, channel: ChannelId(2), msg: Wire::SyncAck(ack) });
        }
        net.run_until(20_000);
        assert!(net.severed.is_empty(), "{:?}", net.severed);
        assert_eq!(net.terminal(0).len(), 1);
        net.late_paid.get(&2).copied().unwrap_or(0)
    };
    assert_eq!(run(true), run(false));
}
