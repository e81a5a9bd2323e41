//! DESIGN §2.11: a downstream neighbour that goes down for a while and comes
//! back with its state (a restart) is not cut: the late fee for the downtime
//! is the remedy. One gone for longer than the offline grace is cut.

use super::*;

/// What one node keeps on disk.
#[derive(Clone, Default)]
pub(super) struct Stored {
    pub(super) vouchers: BTreeMap<(ChannelId, bool), crate::voucher::SignedVoucher>,
    pub(super) requests: BTreeMap<RequestId, crate::protocol::inflight::Entry>,
}

impl Net {
    /// Node `n` crashed at `from` (nothing it did after that reached its
    /// store, nothing sent to it arrives) and starts again at `until` from
    /// its store: its channels with their vouchers and, with `requests`, the
    /// requests it had in flight (DESIGN §2.11).
    fn crash(&mut self, n: usize, from: u64, until: u64, requests: bool) {
        self.run_until(from);
        let store = self.stores.get(&n).cloned().unwrap_or_default();
        self.offline.insert(n);
        self.run_until(until);
        self.offline.remove(&n);
        // The old process's timers and service calls died with it.
        for ev in self.evs.iter_mut() {
            if matches!(ev, Some(Ev::Timer { node, .. } | Ev::Respond { node, .. }) if *node == n) {
                *ev = None;
            }
        }
        let config = self.nodes[n].config().clone();
        let mut e = Engine::new(config, NodeSigner::from_seed([n as u8 + 1; 32]), Ed25519Verifier);
        let mut out = Vec::new();
        for (&channel, &(a, b, l)) in &self.chans {
            if (a != n && b != n) || self.removed.contains(&channel) {
                continue;
            }
            let peer = if a == n { b } else { a };
            let setup = ChannelSetup {
                channel,
                remote: self.key(peer),
                local_deposit: 10_000_000_000,
                remote_deposit: 10_000_000_000,
                latency_ms: l,
                sync_ms: Some(if channel == ChannelId(2) { 1000 } else { 500 }),
            };
            let sent = store.vouchers.get(&(channel, false)).cloned();
            let received = store.vouchers.get(&(channel, true)).cloned();
            e.restore_channel(setup, sent, received, until, &mut out).unwrap();
        }
        if requests {
            for entry in store.requests.values() {
                assert!(e.restore_request(entry.clone(), until, &mut out));
            }
        }
        self.nodes[n] = e;
        self.publish_terms();
        self.apply(n, out);
    }
}

/// Carol (3) serves slowly and is down from 450 ms to 8 s, with Bob's request
/// acknowledged and in flight: Bob hears nothing for 7.5 s, far beyond three
/// sync intervals. He does not cut her; she answers when back and pays for
/// the lateness, which flows up to Alex; every relay is whole.
#[test]
fn a_restart_within_the_offline_grace_costs_late_fees_not_the_edge() {
    let mut net = Net::paper(|_| cfg(FailurePolicy::default()));
    net.slow_ms.insert(3, 1_000);
    net.paused.insert(3, (450, 8_000));
    net.request(&[0, 1, 2, 3], 1);
    net.run_until(30_000);
    assert!(net.severed.is_empty(), "nobody cuts a node that came back: {:?}", net.severed);
    let t = net.terminal(0);
    assert_eq!(t, vec![(8_400, "response")], "Carol answers when back; the response climbs 400 ms");
    // Alex's bound is 800: he is paid for every millisecond past it.
    assert_eq!(net.late_total(0), 8_400 - 800);
    assert!(net.late_paid[&3] > 0, "Carol pays for her downtime");
    for relay in [1, 2] {
        assert!(net.late_received[&relay] >= net.late_paid[&relay], "relay {relay} is whole");
    }
    assert_eq!(net.nodes.iter().map(|e| e.in_flight()).sum::<usize>(), 0);
}

/// The same downtime beyond `offline_grace_ms`: Bob cuts Carol for her
/// silence once the grace is over (30 s after he last heard her at 400),
/// not before, and the notice goes upstream.
#[test]
fn a_node_gone_longer_than_the_grace_is_cut() {
    let mut net = Net::paper(|_| {
        let mut c = cfg(FailurePolicy::default());
        c.max_late_ms = 120_000;
        c
    });
    net.slow_ms.insert(3, 1_000);
    net.paused.insert(3, (450, 100_000));
    net.request(&[0, 1, 2, 3], 1);
    net.run_until(60_000);
    assert_eq!(net.severed.len(), 1, "{:?}", net.severed);
    let (t, who, ch, why) = net.severed[0];
    assert_eq!((who, ch, why), (2, ChannelId(3), SeverReason::MissedSyncs));
    assert!((30_400..=31_000).contains(&t), "cut at {t}, the grace ends at 30400");
    assert_eq!(net.terminal(0)[0].1, "notice");
    assert!(net.late_received[&1] >= net.late_paid[&1], "Alice is whole");
}

/// A node that comes back and still does not pay for its downtime is cut
/// for withholding, `late_fee_grace_ms` after it was heard again.
#[test]
fn coming_back_without_paying_is_withholding() {
    let mut net = Net::paper(|n| {
        let mut c = cfg(FailurePolicy::default());
        c.faults.withhold_late_fees = n == 3;
        c
    });
    net.slow_ms.insert(3, 1_000);
    net.paused.insert(3, (450, 8_000));
    net.request(&[0, 1, 2, 3], 1);
    net.run_until(30_000);
    assert_eq!(net.severed.len(), 1, "{:?}", net.severed);
    let (t, who, ch, why) = net.severed[0];
    assert_eq!((who, ch, why), (2, ChannelId(3), SeverReason::WithheldLateFee));
    assert!((8_100 + 1_500..=8_100 + 2_100).contains(&t), "cut at {t}");
}

/// A graceful stop (DESIGN §2.11): Bob drains while Alex's first request is
/// in flight through him. His neighbours hear it at once; that request is
/// still answered; a new one through him is refused `draining` by Alice,
/// before she acknowledges or pays him, and what Alex paid for it becomes
/// credit on both books.
#[test]
fn a_draining_relay_finishes_what_it_took_and_is_routed_around() {
    let mut net = Net::paper(|_| cfg(FailurePolicy::default()));
    net.slow_ms.insert(3, 1_000);
    let first = net.request(&[0, 1, 2, 3], 1);
    net.run_until(350);
    assert!(net.nodes[2].entry(&first).is_some(), "Bob took the first request");
    let mut out = Vec::new();
    net.nodes[2].drain(350, &mut out);
    net.nodes[2].flush(350, &mut out);
    let told: BTreeSet<ChannelId> = out
        .iter()
        .filter_map(|e| match e {
            Effect::Send { channel, msg: Wire::Sync(s) } if s.draining => Some(*channel),
            _ => None,
        })
        .collect();
    assert_eq!(told, [2, 3, 4].map(ChannelId).into(), "every neighbour of Bob is told at once");
    net.apply(2, out);
    net.run_until(600);
    assert!(net.nodes[1].channel(ChannelId(2)).unwrap().peer_draining, "Alice knows Bob is stopping");
    let alex_paid = net.nodes[0].ledger(ChannelId(1)).unwrap().paid();
    let alice_paid = net.nodes[1].ledger(ChannelId(2)).unwrap().paid();
    let second = net.request(&[0, 1, 2, 3], 2);
    net.run_until(700);
    assert_eq!(net.refusals, vec![(700, 1, "request", Refusal::Draining)], "Alice refuses it on arrival");
    // The driver hands the refusal to the requester (its transport receipt):
    // the payment becomes credit on both books.
    assert!(net.nodes[0].downstream_refused(second, ChannelId(1), Some(Refusal::Busy), 800, &mut Vec::new()));
    net.run_until(10_000);
    assert_eq!(net.terminal(0), vec![(1_800, "response")], "the first request is answered");
    assert!(net.nodes[2].entry(&second).is_none() && net.nodes[1].entry(&second).is_none());
    assert!(!net.outcome(0).iter().any(|(_, d)| matches!(d, Delivery::Acked { request_id } if *request_id == second)));
    let sent = net.nodes[0].ledger(ChannelId(1)).unwrap().paid() - alex_paid;
    assert!(sent > 0);
    assert_eq!(net.nodes[0].channel(ChannelId(1)).unwrap().credit_out, sent, "Alex holds it as credit");
    assert_eq!(net.nodes[1].channel(ChannelId(1)).unwrap().credit, sent, "so does Alice");
    assert_eq!(net.nodes[1].ledger(ChannelId(2)).unwrap().paid(), alice_paid, "Alice paid Bob nothing for it");
    assert!(net.severed.is_empty(), "{:?}", net.severed);
    assert_eq!(net.nodes[2].in_flight(), 0, "Bob can stop now");
}

/// A relay crash (DESIGN §2.11, issue #17's `kill -9`): Bob dies at 450 ms
/// with Alex's request acknowledged and forwarded to Carol, who serves it in
/// 3 s, and starts again at 2 s from his store. With his requests in flight
/// restored he passes the response up, pays Alice the late fees that accrued
/// while he was down, is paid by Carol, and nobody is cut.
#[test]
fn a_relay_restarted_from_its_store_finishes_its_requests() {
    let mut net = Net::paper(|_| cfg(FailurePolicy::default()));
    net.slow_ms.insert(3, 3_000);
    let id = net.request(&[0, 1, 2, 3], 1);
    net.crash(2, 450, 2_000, true);
    assert!(net.nodes[2].entry(&id).is_some(), "Bob knows the request again");
    net.run_until(40_000);
    assert!(net.severed.is_empty(), "{:?}", net.severed);
    assert_eq!(net.terminal(0), vec![(3_800, "response")]);
    assert_eq!(net.late_total(0), 3_800 - 800, "Alex is paid for all his lateness");
    for relay in [1, 2] {
        assert!(net.late_received[&relay] >= net.late_paid[&relay], "relay {relay} is whole");
    }
    assert_eq!(net.nodes.iter().map(|e| e.in_flight()).sum::<usize>(), 0);
}

/// The same crash without the requests in flight (what a node without
/// durable obligations did): Bob forgets the request, drops Carol's
/// response, never pays Alice, and Alice cuts him.
#[test]
fn a_relay_that_forgets_its_requests_gets_cut() {
    let mut net = Net::paper(|_| cfg(FailurePolicy::default()));
    net.slow_ms.insert(3, 3_000);
    net.request(&[0, 1, 2, 3], 1);
    net.crash(2, 450, 2_000, false);
    net.run_until(40_000);
    assert!(net.severed.iter().any(|&(_, who, ch, _)| (who, ch) == (1, ChannelId(2))), "{:?}", net.severed);
}

/// Bob's crash at every point of the request's life once he has taken it,
/// 50 ms apart (while he forwards it, waits, passes the response and
/// settles the late fees), each followed by 1.5 s down: Alex always gets
/// his response and is paid for every millisecond of lateness, the relays
/// are whole, and nobody is cut. (Down *before* the request reaches him,
/// he takes Alice's re-sent copy when back and owes from that copy's
/// deadline, so Alice pays Alex the lateness of his downtime herself: see
/// PROTOCOL.md, offline grace.)
#[test]
fn a_relay_crash_at_any_point_costs_no_edge() {
    for crash_at in (300..6_000).step_by(50) {
        let mut net = Net::paper(|_| cfg(FailurePolicy::default()));
        net.slow_ms.insert(3, 3_000);
        net.request(&[0, 1, 2, 3], 1);
        net.crash(2, crash_at, crash_at + 1_500, true);
        net.run_until(60_000);
        assert!(net.severed.is_empty(), "crash at {crash_at}: {:?}", net.severed);
        let t = net.terminal(0);
        assert_eq!(t.len(), 1, "crash at {crash_at}: {t:?}");
        assert_eq!(t[0].1, "response", "crash at {crash_at}");
        assert_eq!(net.late_total(0), Amount::from(t[0].0 - 800), "crash at {crash_at}: Alex is paid for his lateness");
        for relay in [1, 2] {
            let (got, paid) =
                (net.late_received.get(&relay).copied().unwrap_or(0), net.late_paid.get(&relay).copied().unwrap_or(0));
            assert!(got >= paid, "crash at {crash_at}: relay {relay} received {got}, paid {paid}");
        }
        assert_eq!(net.nodes.iter().map(|e| e.in_flight()).sum::<usize>(), 0, "crash at {crash_at}");
    }
}
