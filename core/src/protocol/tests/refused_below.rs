//! A request refused below a relay that already acknowledged it (DESIGN
//! §2.10): the refusal goes up hop by hop as credit, the requester's attempt
//! ends refused, and nobody is cut or owes a late fee.

use super::*;

/// Alex(0) → Alice(1) → Bob(2) → Carol(3), with receipts; `carol` sets up
/// the refuser.
fn net(carol: impl Fn(&mut ProtocolConfig)) -> Net {
    let mut net = Net::paper(|i| {
        let mut c = cfg(FailurePolicy::default());
        if i == 3 {
            carol(&mut c);
        }
        c
    });
    net.receipts = true;
    net
}

/// What `n` is owed back as credit minus what it owes back, over all its
/// channels: `balance + credit_out − credit` is what its books say it has
/// once every credit is spent.
fn settled(net: &Net, n: usize) -> i128 {
    let credit: Amount = net.nodes[n].channels().map(|(_, c)| c.credit).sum();
    let credit_out: Amount = net.nodes[n].channels().map(|(_, c)| c.credit_out).sum();
    net.balance(n) as i128 + credit_out as i128 - credit as i128
}

/// Sends a request along `path` without publishing the terms again.
fn send(net: &mut Net, path: &[usize], nonce: u64) -> (RequestId, crate::cost::PathQuote) {
    let req = net.build(path, nonce, |_| {});
    let q = req.quote().unwrap();
    let mut out = Vec::new();
    let id = net.nodes[path[0]].send_request(req, net.now, &mut out).unwrap();
    net.apply(path[0], out);
    (id, q)
}

/// Carol refuses after Bob acknowledged (Bob acks as soon as he forwards):
/// before the fix Bob was stuck owing Alice late fees for a request he
/// could not carry, and cut Carol for late fees she never owed.
#[test]
fn a_refusal_below_an_acknowledged_relay_goes_up_as_credit() {
    for what in ["graph skew", "busy"] {
        let mut net = net(|c| c.faults.refuse_requests = what == "busy");
        net.publish_terms();
        if what == "graph skew" {
            // Carol's copy of the graph lacks Bob–Carol (it lags, or has
            // already seen a close the others have not).
            let mut t = StaticTerms::default();
            for (c, (a, b, l)) in [(1, (0, 1, 100)), (2, (1, 2, 200)), (4, (2, 4, 100)), (5, (4, 5, 100))] {
                t.add_edge(ChannelId(c), net.key(a), net.key(b), edge(l));
            }
            for n in 0..6 {
                t.set_service(net.key(n), 0);
            }
            net.nodes[3].set_terms(std::sync::Arc::new(t));
        }
        let before: Vec<i128> = (0..4).map(|n| settled(&net, n)).collect();
        let (id, q) = send(&mut net, &[0, 1, 2, 3], 1);
        net.run_until(60_000);
        let want = if what == "busy" { Refusal::Busy } else { Refusal::UnknownEdge };
        assert_eq!(net.refusals, vec![(400, 3, "request", want)], "{what}: only Carol refuses");
        // Bob's ack reached Alice at 500, before Carol's receipt came back
        // to Bob (500); Alex had Alice's at 200.
        assert!(net.outcome(0).iter().any(|(t, d)| *t == 200 && matches!(d, Delivery::Acked { .. })), "{what}");
        assert_eq!(net.terminal(0), vec![(800, "refused")], "{what}: Alex hears at 500 + 200 + 100");
        let r = net
            .outcome(0)
            .into_iter()
            .find_map(|(_, d)| match d {
                Delivery::Refused { request_id, refused } if *request_id == id => Some(refused.clone()),
                _ => None,
            })
            .expect("a refusal delivered");
        assert_eq!((r.reason, r.channel), (want, ChannelId(3)), "{what}: Carol refused, over Bob–Carol");
        assert!(net.severed.is_empty(), "{what}: nobody is cut: {:?}", net.severed);
        assert!(net.late_paid.values().all(|a| *a == 0), "{what}: no late fee: {:?}", net.late_paid);
        // Each edge's payment is credit on both of its books, to the yocto.
        for (c, payer, payee, amount) in [(1, 0, 1, q.payments[0]), (2, 1, 2, q.payments[1]), (3, 2, 3, q.payments[2])]
        {
            let ch = ChannelId(c);
            assert_eq!(net.nodes[payer].channel(ch).unwrap().credit_out, amount, "{what}: payer's credit on {c}");
            assert_eq!(net.nodes[payee].channel(ch).unwrap().credit, amount, "{what}: payee's credit on {c}");
        }
        for (n, was) in before.iter().enumerate() {
            assert_eq!(settled(&net, n), *was, "{what}: node {n} is whole once credit is spent");
            assert_eq!(net.nodes[n].in_flight(), 0, "{what}: node {n} still tracks it");
        }
        if what == "busy" {
            continue;
        }
        // With Carol's graph caught up, the next request over the same route
        // is paid from that credit at every hop: nobody pays anew.
        let paid: Vec<Amount> =
            (1..=3u64).map(|c| net.nodes[c as usize - 1].ledger(ChannelId(c)).unwrap().paid()).collect();
        net.publish_terms();
        send(&mut net, &[0, 1, 2, 3], 2);
        net.run_until(120_000);
        assert_eq!(net.terminal(0).last().map(|x| x.1), Some("response"), "{what}: served");
        for c in 1..=3usize {
            let ch = ChannelId(c as u64);
            assert_eq!(net.nodes[c - 1].ledger(ch).unwrap().paid(), paid[c - 1], "{what}: channel {c} paid anew");
            assert_eq!(net.nodes[c - 1].channel(ch).unwrap().credit_out, 0, "{what}: credit left on {c}");
            assert_eq!(net.nodes[c].channel(ch).unwrap().credit, 0, "{what}: credit left on {c}");
        }
        assert!(net.severed.is_empty(), "{what}: {:?}", net.severed);
    }
}

/// A refusal ends a request as a response does: lateness up to the moment
/// it arrives is paid. Bob (lying) claims a refusal from below long after
/// the deadline; Alex is paid for every millisecond until the refusal
/// reached him, Alice passes it on whole, and his payment is his credit.
#[test]
fn a_late_refusal_pays_the_lateness_up_to_it() {
    let mut net = net(|_| {});
    net.slow_ms.insert(3, 3_000);
    net.publish_terms();
    let (id, q) = send(&mut net, &[0, 1, 2, 3], 1);
    let lie = RefusedBelow { request_id: id, reason: Refusal::Busy, channel: ChannelId(3) };
    net.at(2_000, Ev::Msg { to: 1, channel: ChannelId(2), msg: Wire::Refused(lie) });
    net.run_until(60_000);
    assert_eq!(net.terminal(0), vec![(2_100, "refused")]);
    assert_eq!(net.late_total(0), late_fee(1_000, 2_100 - 800, 20_000), "Alex: late from 800 to 2100");
    assert!(
        net.late_received[&1] >= net.late_paid[&1],
        "Alice passes it on: {:?} {:?}",
        net.late_received,
        net.late_paid
    );
    assert!(net.severed.is_empty(), "{:?}", net.severed);
    assert_eq!(net.nodes[0].channel(ChannelId(1)).unwrap().credit_out, q.payments[0]);
    assert_eq!(net.nodes[1].channel(ChannelId(1)).unwrap().credit, q.payments[0]);
    assert_eq!(net.nodes[1].channel(ChannelId(2)).unwrap().credit_out, q.payments[1]);
}

/// A refusal for a request not in flight over the channel is refused; one
/// naming a channel off the route is blamed on the neighbour it came from.
#[test]
fn a_refusal_from_below_is_checked_against_the_route() {
    let mut net = net(|_| {});
    net.slow_ms.insert(3, 3_000);
    net.publish_terms();
    let (id, _) = send(&mut net, &[0, 1, 2, 3], 1);
    let stranger = RefusedBelow { request_id: RequestId([7; 32]), reason: Refusal::Busy, channel: ChannelId(3) };
    net.at(350, Ev::Msg { to: 1, channel: ChannelId(2), msg: Wire::Refused(stranger) });
    let wrong_way = RefusedBelow { request_id: id, reason: Refusal::Busy, channel: ChannelId(3) };
    net.at(360, Ev::Msg { to: 1, channel: ChannelId(1), msg: Wire::Refused(wrong_way) });
    let off_route = RefusedBelow { request_id: id, reason: Refusal::Busy, channel: ChannelId(5) };
    net.at(400, Ev::Msg { to: 1, channel: ChannelId(2), msg: Wire::Refused(off_route) });
    net.run_until(1_000);
    assert_eq!(
        net.refusals,
        vec![(350, 1, "refused", Refusal::UnknownRequest), (360, 1, "refused", Refusal::UnknownRequest)]
    );
    let r = net.outcome(0).into_iter().find_map(|(_, d)| match d {
        Delivery::Refused { refused, .. } => Some(refused.clone()),
        _ => None,
    });
    assert_eq!(r.map(|r| r.channel), Some(ChannelId(2)), "blamed on Alice–Bob");
}

/// A next hop that cannot be dialed ends only a request of ours, and only
/// for its first copy; a relay keeps the request and sends it again by the
/// re-send rule (the next hop may only be restarting, and may have the
/// first copy already), so Bob passes nothing up.
#[test]
fn an_undelivered_copy_ends_only_our_own_first_copy() {
    let mut net = net(|_| {});
    net.offline.insert(3);
    net.publish_terms();
    let (id, _) = send(&mut net, &[0, 1, 2, 3], 1);
    net.run_until(310);
    let mut out = Vec::new();
    assert!(!net.nodes[2].downstream_refused(id, ChannelId(3), None, 310, &mut out), "relayed");
    assert!(out.is_empty(), "{out:?}");
    assert!(net.nodes[2].entry(&id).and_then(|e| e.down.as_ref()).is_some_and(|d| d.open()));

    let mut net = self::net(|_| {});
    net.offline.insert(1);
    net.publish_terms();
    let (id, _) = send(&mut net, &[0, 1, 2, 3], 1);
    assert!(net.nodes[0].downstream_refused(id, ChannelId(1), None, 5, &mut Vec::new()), "our first copy");
    let (other, _) = send(&mut net, &[0, 1, 2, 3], 2);
    // Alice is down: Alex sends the second request again.
    net.run_until(1_000);
    let resent = net.nodes[0].entry(&other).and_then(|e| e.down.as_ref()).map(|d| d.resends);
    assert!(resent.is_some_and(|r| r > 0), "{resent:?}");
    assert!(!net.nodes[0].downstream_refused(other, ChannelId(1), None, 1_000, &mut Vec::new()), "a later copy");
}

/// A first hop's refusal receipt that comes after the deadline (the refuser
/// held it until its credit was on disk) owes no lateness: the refuser never
/// took the request. Nothing is claimed and nobody is cut.
#[test]
fn a_late_receipt_refusal_owes_no_lateness() {
    let mut net = net(|_| {});
    net.offline.insert(1);
    net.publish_terms();
    let (id, q) = send(&mut net, &[0, 1, 2, 3], 1);
    net.run_until(5_000);
    net.offline.remove(&1);
    let mut out = Vec::new();
    assert!(net.nodes[0].downstream_refused(id, ChannelId(1), Some(Refusal::Busy), 5_000, &mut out));
    net.apply(0, out);
    net.run_until(60_000);
    assert!(net.severed.is_empty(), "{:?}", net.severed);
    assert_eq!(net.nodes[0].in_flight(), 0);
    assert_eq!(net.nodes[0].channel(ChannelId(1)).unwrap().credit_out, q.payments[0]);
}
