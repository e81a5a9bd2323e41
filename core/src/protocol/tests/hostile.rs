//! Hostile requesters and neighbours (DESIGN §2.7, §2.10): each lie gets a
//! typed refusal before anything is committed, and no honest book moves but
//! by the rules.

use super::*;

/// Sends `req` from node `from` and hands the paid request to the first
/// hop `to` over `channel` at once; returns the id, the first hop's
/// effects, and the payer's voucher amount before.
fn hand(net: &mut Net, from: usize, to: usize, channel: ChannelId, req: Request) -> (RequestId, Vec<Effect>) {
    let mut out = Vec::new();
    let id = net.nodes[from].send_request(req, 0, &mut out).unwrap();
    net.nodes[from].flush(0, &mut out);
    let paid = out
        .into_iter()
        .find_map(|e| match e {
            Effect::Send { msg: Wire::Request(p), .. } => Some(p),
            _ => None,
        })
        .expect("the request left");
    let mut got = Vec::new();
    net.nodes[to].handle_message(channel, Wire::Request(paid), 100, &mut got);
    net.nodes[to].flush(100, &mut got);
    (id, got)
}

fn refusal(out: &[Effect]) -> Option<Refusal> {
    out.iter().find_map(|e| match e {
        Effect::Event(EngineEvent::Refused { kind: "request", reason, .. }) => Some(*reason),
        _ => None,
    })
}

/// Whether `out` acknowledges a request (an ack that only lists refusals
/// acknowledges nothing).
fn acked(out: &[Effect]) -> bool {
    out.iter().any(|e| matches!(e, Effect::Send { msg: Wire::Ack(a), .. } if !a.accepted.is_empty()))
}

fn paper() -> Net {
    let mut net = Net::paper(|_| cfg(FailurePolicy::default()));
    net.publish_terms();
    net
}

/// Every lie about the route's terms is refused by the first hop with
/// its reason, nothing is acknowledged or forwarded, and what the
/// voucher paid is credit on both sides' books, to the yocto.
#[test]
fn lies_about_terms_are_refused_and_cost_the_payer_nothing() {
    type Tweak = fn(&mut Request);
    let cases: [(&str, Tweak, Refusal); 8] = [
        (
            "no fees",
            |r| r.route.hops[0].params = EdgeParams { base_fee: 0, byte_fee: 0, ..r.route.hops[0].params },
            Refusal::TermsMismatch,
        ),
        ("a later hop's fee", |r| r.route.hops[2].params.base_fee = 1, Refusal::TermsMismatch),
        ("huge latency", |r| r.route.hops[1].params.latency_ms = 1_000_000_000, Refusal::TermsMismatch),
        ("service time", |r| r.route.service_ms = 5_000, Refusal::ServiceMismatch),
        ("allowance", |r| r.max_response_bytes = 5_000_000, Refusal::AllowanceTooLarge),
        ("edge elsewhere", |r| r.route.hops[1].channel = ChannelId(4), Refusal::UnknownEdge),
        (
            "loop",
            |r| {
                let back = r.route.hops[0].clone();
                r.route.hops.insert(2, RouteHop { node: r.route.hops[0].node, ..back });
            },
            Refusal::RouteLoop,
        ),
        (
            "too long",
            |r| {
                let h = r.route.hops[2].clone();
                r.route.hops.extend(std::iter::repeat_n(h, 20));
            },
            Refusal::RouteTooLong,
        ),
    ];
    for (i, (what, tweak, want)) in cases.into_iter().enumerate() {
        let mut net = paper();
        let req = net.build(&[0, 1, 2, 3], i as u64, tweak);
        let paid_before = net.nodes[0].ledger(ChannelId(1)).unwrap().paid();
        let (id, got) = hand(&mut net, 0, 1, ChannelId(1), req);
        assert_eq!(refusal(&got), Some(want), "{what}: {got:?}");
        assert!(!acked(&got), "{what}: acknowledged");
        assert!(!got.iter().any(|e| matches!(e, Effect::Send { channel: ChannelId(2), .. })), "{what}: forwarded");
        assert_eq!(net.nodes[1].ledger(ChannelId(2)).unwrap().paid(), 0, "{what}: Alice paid Bob");
        assert!(net.nodes[0].downstream_refused(id, ChannelId(1), Some(Refusal::Busy), 101, &mut Vec::new()));
        let sent = net.nodes[0].ledger(ChannelId(1)).unwrap().paid() - paid_before;
        let alex = net.nodes[0].channel(ChannelId(1)).unwrap().credit_out;
        let alice = net.nodes[1].channel(ChannelId(1)).unwrap().credit;
        assert_eq!((alex, alice), (sent, sent), "{what}: both books hold the refused payment as credit");
        // The honest next request spends the credit first: nothing new
        // is paid while the credit covers it.
        let honest = net.build(&[0, 1], 100 + i as u64, |_| {});
        let due = honest.quote().unwrap().total();
        let (_, got) = hand(&mut net, 0, 1, ChannelId(1), honest);
        assert!(acked(&got), "{what}: the honest request after it: {got:?}");
        let now_sent = net.nodes[0].ledger(ChannelId(1)).unwrap().paid() - paid_before;
        assert_eq!(now_sent, sent.max(due), "{what}: the honest request was paid from the credit");
        let alex = net.nodes[0].channel(ChannelId(1)).unwrap().credit_out;
        let alice = net.nodes[1].channel(ChannelId(1)).unwrap().credit;
        assert_eq!(alex, alice, "{what}: the books agree after spending");
    }
}

/// Without the chain's graph a node accepts nothing (unless a test
/// driver says it trusts routes).
#[test]
fn no_terms_no_service() {
    let mut net = Net::paper(|_| cfg(FailurePolicy::default()));
    let req = net.build(&[0, 1], 1, |_| {});
    let (_, got) = hand(&mut net, 0, 1, ChannelId(1), req);
    assert_eq!(refusal(&got), Some(Refusal::NoTerms));
}

/// A first hop that refuses every request, or claims to while keeping
/// the money (whatever reason it gives, "underpaid" included: the payer's
/// books do not take its word), holds one request's payment at most:
/// each next request is paid from the credit the last one left.
#[test]
fn a_first_hop_refusing_everything_gains_one_payment_at_most() {
    let mut net = paper();
    let mut first = None;
    for nonce in 0..20 {
        let req = net.build(&[0, 1, 2], nonce, |_| {});
        let mut out = Vec::new();
        let id = net.nodes[0].send_request(req, 0, &mut out).unwrap();
        net.nodes[0].flush(0, &mut out);
        // Alice's receipt says refused; she never acknowledges.
        assert!(net.nodes[0].downstream_refused(id, ChannelId(1), Some(Refusal::Busy), 1, &mut Vec::new()));
        let paid = net.nodes[0].ledger(ChannelId(1)).unwrap().paid();
        assert_eq!(*first.get_or_insert(paid), paid, "request {nonce} paid anew");
    }
    // A larger request pays only the difference, once.
    let req = net.build(&[0, 1, 2], 99, |r| r.max_response_bytes = 1_000);
    let due = req.quote().unwrap().total();
    let mut out = Vec::new();
    let id = net.nodes[0].send_request(req, 0, &mut out).unwrap();
    net.nodes[0].flush(0, &mut out);
    assert!(net.nodes[0].downstream_refused(id, ChannelId(1), Some(Refusal::Busy), 1, &mut Vec::new()));
    assert_eq!(net.nodes[0].ledger(ChannelId(1)).unwrap().paid(), due, "held: the largest request's price");
    let req = net.build(&[0, 1, 2], 100, |r| r.max_response_bytes = 1_000);
    let id = net.nodes[0].send_request(req, 0, &mut out).unwrap();
    net.nodes[0].flush(0, &mut out);
    assert!(net.nodes[0].downstream_refused(id, ChannelId(1), Some(Refusal::Busy), 1, &mut Vec::new()));
    assert_eq!(net.nodes[0].ledger(ChannelId(1)).unwrap().paid(), due);
}

/// Over a per-neighbour cap the answer is Busy, and the other
/// neighbours' requests still get through.
#[test]
fn a_neighbour_filling_its_slots_does_not_crowd_out_others() {
    // Bob holds at most 3 per channel; Eve's own node does not keep to it.
    let mut net = Net::paper(|n| {
        let mut c = cfg(FailurePolicy::default());
        if n != 4 {
            c.limits.max_in_flight = 3;
        }
        c
    });
    net.publish_terms();
    // Eve (4) floods Bob (2) with requests to Carol (3).
    for nonce in 0..3 {
        let req = net.build(&[4, 2, 3], nonce, |_| {});
        let (_, got) = hand(&mut net, 4, 2, ChannelId(4), req);
        assert!(acked(&got), "{got:?}");
    }
    let req = net.build(&[4, 2, 3], 9, |_| {});
    let (_, got) = hand(&mut net, 4, 2, ChannelId(4), req);
    assert_eq!(refusal(&got), Some(Refusal::Busy));
    // Alice's request over her own channel to Bob is still accepted.
    let req = net.build(&[1, 2], 10, |_| {});
    let (_, got) = hand(&mut net, 1, 2, ChannelId(2), req);
    assert!(acked(&got), "{got:?}");
    // One that would go on over Bob–Carol, which Eve's flood fills, is
    // refused busy by Bob before he acknowledges anything: Bob never sends
    // Carol more than his own limits would take, so Carol (with the same
    // limits) never answers busy to a request Bob already acknowledged.
    let req = net.build(&[1, 2, 3], 11, |_| {});
    let (_, got) = hand(&mut net, 1, 2, ChannelId(2), req);
    assert_eq!(refusal(&got), Some(Refusal::Busy));
    assert!(!acked(&got));
}

/// A node keeps to its own limits towards its neighbours: its own request
/// over a full channel is not sent (the requester tries another route).
#[test]
fn a_requester_keeps_to_its_own_limits() {
    let mut net = Net::paper(|_| {
        let mut c = cfg(FailurePolicy::default());
        c.limits.max_in_flight = 2;
        c
    });
    net.publish_terms();
    let mut out = Vec::new();
    for nonce in 0..2 {
        let req = net.build(&[0, 1, 2], nonce, |_| {});
        net.nodes[0].send_request(req, 0, &mut out).unwrap();
        net.nodes[0].flush(0, &mut out);
    }
    let req = net.build(&[0, 1, 2], 2, |_| {});
    let e = net.nodes[0].send_request(req, 0, &mut out).unwrap_err();
    net.nodes[0].flush(0, &mut out);
    assert_eq!(e, RequestError::Busy(ChannelId(1)));
}

/// The value and byte caps refuse too.
#[test]
fn value_and_bytes_in_flight_are_capped() {
    let mut net = Net::paper(|n| {
        let mut c = cfg(FailurePolicy::default());
        if n == 1 {
            c.limits.max_bytes_held = 100;
        }
        c
    });
    net.publish_terms();
    let req = net.build(&[0, 1, 2], 1, |r| r.max_response_bytes = 64);
    let (_, got) = hand(&mut net, 0, 1, ChannelId(1), req);
    assert!(acked(&got));
    let req = net.build(&[0, 1, 2], 2, |r| r.max_response_bytes = 64);
    let (_, got) = hand(&mut net, 0, 1, ChannelId(1), req);
    assert_eq!(refusal(&got), Some(Refusal::Busy), "66 + 66 bytes > 100");
    let mut net = Net::paper(|n| {
        let mut c = cfg(FailurePolicy::default());
        if n == 1 {
            c.limits.max_value_in_flight = 1;
        }
        c
    });
    net.publish_terms();
    let req = net.build(&[0, 1, 2], 1, |_| {});
    let (_, got) = hand(&mut net, 0, 1, ChannelId(1), req);
    assert_eq!(refusal(&got), Some(Refusal::Busy), "Alice would pay Bob more than 1 yocto");
}

/// A repeated request with a forged voucher gets no ack. One with a valid
/// voucher the node did not hold yet (the newest of the payer's, as a frame
/// of v2 carries) pays: it is kept, its amount is credit, and the repeat is
/// acknowledged under it.
#[test]
fn a_repeat_with_a_forged_voucher_is_not_acknowledged() {
    let mut net = paper();
    let req = net.build(&[0, 1, 2], 1, |_| {});
    let (_, got) = hand(&mut net, 0, 1, ChannelId(1), req.clone());
    assert!(acked(&got));
    let alex = NodeSigner::from_seed([1; 32]);
    let mut ledger = net.nodes[0].ledger(ChannelId(1)).unwrap().clone();
    let unheld = ledger.pay(1, &alex).unwrap();
    let mut forged = unheld.clone();
    forged.voucher.cumulative += 1;
    let credit = net.nodes[1].channel(ChannelId(1)).unwrap().credit;
    let mut out = Vec::new();
    let p = PaidRequest { request: req.clone(), voucher: forged };
    net.nodes[1].handle_message(ChannelId(1), Wire::Request(Box::new(p)), 200, &mut out);
    net.nodes[1].flush(200, &mut out);
    assert!(!acked(&out), "{out:?}");
    assert_eq!(refusal(&out), Some(Refusal::BadVoucher));
    assert_eq!(net.nodes[1].channel(ChannelId(1)).unwrap().credit, credit, "a forged voucher pays nothing");
    out.clear();
    let p = PaidRequest { request: req.clone(), voucher: unheld.clone() };
    net.nodes[1].handle_message(ChannelId(1), Wire::Request(Box::new(p)), 200, &mut out);
    net.nodes[1].flush(200, &mut out);
    assert!(acked(&out), "{out:?}");
    assert_eq!(refusal(&out), None);
    assert_eq!(net.nodes[1].channel(ChannelId(1)).unwrap().credit, credit + 1, "what it paid beyond is credit");
    assert_eq!(net.nodes[1].ledger(ChannelId(1)).unwrap().best_received(), Some(&unheld));
}

/// A sync naming one request twice is refused whole (it used to
/// underflow), and a short sync's claims are not taken as confirmed.
#[test]
fn duplicate_and_short_claims() {
    let mut net = Net::paper(|_| cfg(FailurePolicy::default()));
    net.slow_ms.insert(3, 1_000);
    let id = net.request(&[0, 1, 2, 3], 1);
    net.run_until(300);
    let bob = NodeSigner::from_seed([3; 32]);
    let mut ledger = net.nodes[2].ledger(ChannelId(2)).unwrap().clone();
    let v = ledger.pay(500, &bob).unwrap();
    let msg = SyncMessage {
        channel: ChannelId(2),
        seq: 99,
        voucher: Some(v),
        overdue: vec![Overdue { request_id: id, amount: 20 }, Overdue { request_id: id, amount: 10 }],
        notices: vec![],
        draining: false,
    };
    let mut out = Vec::new();
    net.nodes[1].handle_message(ChannelId(2), Wire::Sync(Box::new(msg)), 900, &mut out);
    net.nodes[1].flush(900, &mut out);
    assert!(
        out.iter().any(|e| matches!(e, Effect::Event(EngineEvent::Refused { reason: Refusal::DuplicateClaim, .. }))),
        "{out:?}"
    );
    assert!(!out.iter().any(|e| matches!(e, Effect::Send { .. })), "nothing acknowledged: {out:?}");
    // A short sync: claims 10 000 with a voucher paying 1.
    let v = ledger.pay(1, &bob).unwrap();
    let msg = SyncMessage {
        channel: ChannelId(2),
        seq: 100,
        voucher: Some(v),
        overdue: vec![Overdue { request_id: id, amount: 10_000 }],
        notices: vec![],
        draining: false,
    };
    out.clear();
    net.nodes[1].handle_message(ChannelId(2), Wire::Sync(Box::new(msg)), 900, &mut out);
    net.nodes[1].flush(900, &mut out);
    let ack = out
        .iter()
        .find_map(|e| match e {
            Effect::Send { msg: Wire::SyncAck(a), .. } => Some(a.clone()),
            _ => None,
        })
        .expect("acknowledged");
    assert!(!ack.credited, "the short claims are not credited");
}

/// A notice must be signed by an end of the channel it names: a neighbour
/// cannot pass off a stranger's signature (nor its own, for a channel it is
/// not on) as proof that an edge below was cut. One that tries is refused
/// and cut at once (an honest neighbour checks notices from below before
/// passing them on).
#[test]
fn a_notice_signed_by_no_end_of_its_channel_is_refused_and_its_sender_cut() {
    let start = || {
        let mut net = Net::paper(|_| cfg(FailurePolicy::default()));
        net.slow_ms.insert(3, 5_000);
        let id = net.request(&[0, 1, 2, 3], 1);
        net.run_until(300);
        (net, id)
    };
    let notice_by =
        |id, seed: u8| SeveranceNotice::create(id, ChannelId(3), Hash32([7; 32]), &NodeSigner::from_seed([seed; 32]));
    // Eve (seed 5) is no end of Bob–Carol (channel 3).
    let (mut net, id) = start();
    let mut out = Vec::new();
    net.nodes[1].handle_message(ChannelId(2), Wire::Notice(notice_by(id, 5)), 400, &mut out);
    net.nodes[1].flush(400, &mut out);
    assert!(
        matches!(
            out[..],
            [
                Effect::Event(EngineEvent::Refused { reason: Refusal::NoticeWrongSeverer, .. }),
                Effect::Sever { channel: ChannelId(2), reason: SeverReason::FalseNotice, .. }
            ]
        ),
        "{out:?}"
    );
    // Carol (seed 4) is: her notice is taken and passed up to Alex.
    let (mut net, id) = start();
    out.clear();
    net.nodes[1].handle_message(ChannelId(2), Wire::Notice(notice_by(id, 4)), 400, &mut out);
    net.nodes[1].flush(400, &mut out);
    assert!(out.iter().any(|e| matches!(e, Effect::Send { channel: ChannelId(1), msg: Wire::Notice(_) })), "{out:?}");
    assert!(!out.iter().any(|e| matches!(e, Effect::Sever { .. })), "{out:?}");
}

/// A notice whose channel then turns out closed cooperatively was a lie
/// (a cooperative close cannot be named in a notice): the neighbour who
/// signed it is cut at once; one who only passed it on gets the round trip
/// to correct it.
#[test]
fn a_notice_refuted_by_a_cooperative_close_cuts_its_sender() {
    let mut net = Net::paper(|_| cfg(FailurePolicy::default()));
    net.slow_ms.insert(3, 5_000);
    let id = net.request(&[0, 1, 2, 3], 1);
    net.run_until(300);
    // Bob names Bob–Carol, which he will close with Carol cooperatively.
    let notice = SeveranceNotice::create(id, ChannelId(3), Hash32([7; 32]), &NodeSigner::from_seed([3; 32]));
    let mut out = Vec::new();
    net.nodes[1].handle_message(ChannelId(2), Wire::Notice(notice), 400, &mut out);
    net.nodes[1].flush(400, &mut out);
    assert!(out.iter().any(|e| matches!(e, Effect::WatchChannel { channel: ChannelId(3) })), "{out:?}");
    let passed_up = out
        .iter()
        .find_map(|e| match e {
            Effect::Send { channel: ChannelId(1), msg: Wire::Notice(n) } => Some(n.clone()),
            _ => None,
        })
        .expect("Alice passes Bob's notice up to Alex");
    // Alex got it from Alice, who did not sign it: Alice may be honest and
    // about to correct it, so Alex's deadline only comes forward, to the
    // round trip to Bob–Carol (2 · (100 + 200 + 100) ms).
    let mut at_alex = Vec::new();
    net.nodes[0].handle_message(ChannelId(1), Wire::Notice(passed_up), 500, &mut at_alex);
    net.nodes[0].flush(500, &mut at_alex);
    at_alex.clear();
    net.nodes[0].notice_refuted(ChannelId(3), 600, &mut at_alex);
    net.nodes[0].flush(600, &mut at_alex);
    assert!(matches!(at_alex[..], [Effect::SetTimer { at_ms: 1_400, timer: Timer::ConfirmNotice(_) }]), "{at_alex:?}");
    // Alice got it from Bob, who signed it: Bob lied, and she cuts him now.
    out.clear();
    net.nodes[1].notice_refuted(ChannelId(3), 500, &mut out);
    net.nodes[1].flush(500, &mut out);
    assert!(
        matches!(out[..], [Effect::Sever { channel: ChannelId(2), reason: SeverReason::FalseNotice, .. }]),
        "{out:?}"
    );
    // A channel no notice named refutes nothing.
    out.clear();
    net.nodes[1].notice_refuted(ChannelId(4), 500, &mut out);
    net.nodes[1].flush(500, &mut out);
    assert!(out.is_empty(), "{out:?}");
}

/// A request answered upstream no longer counts as in flight: a neighbour
/// sending one request at a time is never busy, however many answers the
/// node still keeps for re-asks.
#[test]
fn answered_requests_free_their_slot() {
    let mut net = Net::paper(|_| {
        let mut c = cfg(FailurePolicy::default());
        c.limits.max_in_flight = 1;
        c
    });
    for nonce in 0..4 {
        net.request(&[0, 1, 2, 3], nonce);
        net.run_until(net.now + 1_000);
    }
    let got = net.terminal(0);
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(got.iter().all(|(_, what)| *what == "response"), "{got:?}");
}

/// A node checks the route from the edge it is paid on down to the server:
/// the edges above price and time nothing it earns, owes or waits for (the
/// nodes on them check them), so a graph that lags there refuses nothing.
/// A lie on its own edge or below is refused.
#[test]
fn a_relay_checks_its_edge_and_below_only() {
    let mut net = paper();
    let alice = NodeSigner::from_seed([2; 32]);
    let send = |net: &mut Net, nonce, tweak: fn(&mut Request)| {
        let req = net.build(&[0, 1, 2, 3], nonce, tweak);
        let due = req.quote().unwrap().payments[1];
        let mut ledger = net.nodes[1].ledger(ChannelId(2)).unwrap().clone();
        let voucher = ledger.pay(due, &alice).unwrap();
        let mut out = Vec::new();
        net.nodes[2].handle_message(
            ChannelId(2),
            Wire::Request(Box::new(PaidRequest { request: req, voucher })),
            0,
            &mut out,
        );
        net.nodes[2].flush(0, &mut out);
        out
    };
    // Alex–Alice's fee is wrong: Alice's business, not Bob's.
    let got = send(&mut net, 1, |r| r.route.hops[0].params.base_fee += 1);
    assert!(acked(&got), "{got:?}");
    // Bob's own edge, or one below him: refused.
    let got = send(&mut net, 2, |r| r.route.hops[1].params.latency_ms += 1);
    assert_eq!(refusal(&got), Some(Refusal::TermsMismatch));
    let got = send(&mut net, 3, |r| r.route.hops[2].params.byte_fee += 1);
    assert_eq!(refusal(&got), Some(Refusal::TermsMismatch));
}

/// Requests of Alex's signed as one batch (wire v2): one root, a path each.
fn batch(net: &Net, nonces: std::ops::Range<u64>, key: &NodeSigner) -> Vec<Request> {
    let mut reqs: Vec<Request> = nonces.map(|n| net.build(&[0, 1, 2], n, |_| {})).collect();
    let leaves: Vec<Hash32> = reqs.iter().map(|r| crate::merkle::request_leaf(&r.id())).collect();
    let (sig, paths) = crate::merkle::sign_batch(crate::merkle::Batch::Requests, &leaves, key);
    for (r, p) in reqs.iter_mut().zip(paths) {
        r.signature = sig;
        r.path = p;
    }
    reqs
}

/// Hands `requests` to Alice in one frame under a voucher paying `pay`;
/// returns her effects after her flush.
fn frame_to_alice(net: &mut Net, requests: Vec<Request>, pay: Amount) -> Vec<Effect> {
    let alex = NodeSigner::from_seed([1; 32]);
    let mut ledger = net.nodes[0].ledger(ChannelId(1)).unwrap().clone();
    let voucher = ledger.pay(pay, &alex).unwrap();
    let mut out = Vec::new();
    let msg = Wire::Requests(Box::new(RequestFrame { voucher, requests }));
    net.nodes[1].handle_message(ChannelId(1), msg, 100, &mut out);
    net.nodes[1].flush(100, &mut out);
    out
}

fn the_ack(out: &[Effect]) -> crate::voucher::Ack {
    out.iter()
        .find_map(|e| match e {
            Effect::Send { channel: ChannelId(1), msg: Wire::Ack(a) } => Some(a.clone()),
            _ => None,
        })
        .expect("the frame is answered")
}

fn cut(out: &[Effect]) -> bool {
    out.iter().any(|e| matches!(e, Effect::Sever { .. }))
}

/// A frame of batched requests: one whose path is forged, and one whose
/// root is signed by another key than the requester's, are refused
/// `BadSignature` in the frame's ack (nothing is forwarded for them, what
/// the voucher paid for them is credit); the valid one of the same batch
/// is accepted. Nobody is cut: a refusal is an answer.
#[test]
fn a_forged_path_or_a_root_signed_by_another_key_is_refused() {
    let mut net = paper();
    let (alex, bob) = (NodeSigner::from_seed([1; 32]), NodeSigner::from_seed([3; 32]));
    let mut reqs = batch(&net, 10..12, &alex);
    let due = reqs[0].quote().unwrap().payments[0];
    // A forged sibling on the second request's path.
    let p = &reqs[1].path;
    let mut siblings = p.siblings().to_vec();
    siblings[0].0[0] ^= 1;
    reqs[1].path = crate::merkle::MerklePath::new(p.sides(), siblings).unwrap();
    // A third, of another batch of Alex's requests whose root Bob signed.
    // (A request under a root Alice verified already needs no signature of
    // its own: its leaf is under Alex's signature.)
    reqs.push(batch(&net, 12..14, &bob).swap_remove(0));
    let ids: Vec<RequestId> = reqs.iter().map(Request::id).collect();
    let out = frame_to_alice(&mut net, reqs, 3 * due);
    let ack = the_ack(&out);
    assert_eq!(ack.accepted, vec![ids[0]], "{out:?}");
    let refused: Vec<(RequestId, Refusal)> = ack.refused.iter().map(|r| (r.request_id, r.reason)).collect();
    assert_eq!(refused, vec![(ids[1], Refusal::BadSignature), (ids[2], Refusal::BadSignature)]);
    assert!(ack.verify(&net.key(1), &Ed25519Verifier));
    let forwarded: Vec<&Wire> = out
        .iter()
        .filter_map(|e| match e {
            Effect::Send { channel: ChannelId(2), msg } => Some(msg),
            _ => None,
        })
        .collect();
    assert!(matches!(forwarded[..], [Wire::Request(p)] if p.request.id() == ids[0]), "{forwarded:?}");
    assert_eq!(net.nodes[1].channel(ChannelId(1)).unwrap().credit, 2 * due, "the refused two are credit");
    assert!(!cut(&out));
}

/// A frame whose voucher covers fewer requests than it carries: the
/// requests are paid in the frame's order, and those it does not cover are
/// refused `Underpaid` (clearly, in the ack), their share of the voucher
/// kept as credit.
#[test]
fn a_voucher_covering_fewer_requests_than_its_frame_refuses_the_rest() {
    let mut net = paper();
    let alex = NodeSigner::from_seed([1; 32]);
    let reqs = batch(&net, 20..23, &alex);
    let due = reqs[0].quote().unwrap().payments[0];
    let ids: Vec<RequestId> = reqs.iter().map(Request::id).collect();
    let out = frame_to_alice(&mut net, reqs, 2 * due + due / 2);
    let ack = the_ack(&out);
    assert_eq!(ack.accepted, ids[..2].to_vec());
    assert_eq!(
        ack.refused.iter().map(|r| (r.request_id, r.reason)).collect::<Vec<_>>(),
        vec![(ids[2], Refusal::Underpaid)]
    );
    assert_eq!(refusal(&out), Some(Refusal::Underpaid));
    assert_eq!(net.nodes[1].channel(ChannelId(1)).unwrap().credit, due / 2);
    assert!(!cut(&out));
    // A frame with no request at all is refused as such.
    let mut out = Vec::new();
    let v = net.nodes[0].ledger(ChannelId(1)).unwrap().clone().pay(1, &alex).unwrap();
    net.nodes[1].handle_message(
        ChannelId(1),
        Wire::Requests(Box::new(RequestFrame { voucher: v, requests: Vec::new() })),
        100,
        &mut out,
    );
    net.nodes[1].flush(100, &mut out);
    assert!(
        matches!(out[..], [Effect::Event(EngineEvent::Refused { reason: Refusal::EmptyFrame, kind: "requests", .. })]),
        "{out:?}"
    );
}

/// An ack that lists an id it was not sent: that id is refused
/// `UnknownRequest`, the ids it was sent count. An ack signed by another
/// key than the payee's acknowledges nothing (`BadSignature`). Neither is
/// a reason to cut: the request's deadline does that if the payee withholds.
#[test]
fn an_ack_listing_ids_it_was_not_sent_is_refused_for_those() {
    let mut net = paper();
    let (alice, bob) = (NodeSigner::from_seed([2; 32]), NodeSigner::from_seed([3; 32]));
    let send = |net: &mut Net, nonce| {
        let req = net.build(&[0, 1, 2], nonce, |_| {});
        let mut out = Vec::new();
        let id = net.nodes[0].send_request(req, 0, &mut out).unwrap();
        net.nodes[0].flush(0, &mut out);
        let digest = out
            .iter()
            .find_map(|e| match e {
                Effect::Send { msg: Wire::Request(p), .. } => Some(p.voucher.digest()),
                _ => None,
            })
            .expect("the request left");
        (id, digest)
    };
    let (id, digest) = send(&mut net, 30);
    let never = RequestId([0x5a; 32]);
    let ack = crate::voucher::Ack::create(digest, vec![never, id], Vec::new(), &alice);
    let mut out = Vec::new();
    net.nodes[0].handle_message(ChannelId(1), Wire::Ack(ack), 150, &mut out);
    net.nodes[0].flush(150, &mut out);
    assert!(
        out.iter().any(|e| matches!(
            e,
            Effect::Event(EngineEvent::Refused { kind: "ack", reason: Refusal::UnknownRequest, .. })
        )),
        "{out:?}"
    );
    assert!(out.iter().any(|e| matches!(e, Effect::Deliver(Delivery::Acked { request_id }) if *request_id == id)));
    assert!(!cut(&out));
    // Bob signs an ack in Alice's name: nothing is acknowledged.
    let (id, digest) = send(&mut net, 31);
    let mut forged = crate::voucher::Ack::create(digest, vec![id], Vec::new(), &bob);
    forged.payee = alice.public();
    let mut out = Vec::new();
    net.nodes[0].handle_message(ChannelId(1), Wire::Ack(forged), 150, &mut out);
    net.nodes[0].flush(150, &mut out);
    assert!(
        matches!(out[..], [Effect::Event(EngineEvent::Refused { kind: "ack", reason: Refusal::BadSignature, .. })]),
        "{out:?}"
    );
    assert!(!net.nodes[0].entry(&id).unwrap().down.as_ref().unwrap().acked);
}

/// A batch of responses (wire v2) at a relay: the one with a valid path is
/// passed up, one with a forged path and one whose root the wrong key
/// signed are refused `BadSignature`; the relay verifies the batch's root
/// once (the second valid response of the batch needs no new check).
#[test]
fn a_response_with_a_forged_path_or_root_is_refused() {
    let mut net = Net::paper(|_| cfg(FailurePolicy::default()));
    let id = net.request(&[0, 1, 2, 3], 1);
    net.run_until(400);
    let (bob, carol) = (NodeSigner::from_seed([3; 32]), NodeSigner::from_seed([4; 32]));
    let others = [RequestId([1; 32]), RequestId([2; 32])];
    let bodies: Vec<Vec<u8>> = vec![b"pong".to_vec(), b"a".to_vec(), b"b".to_vec()];
    let ids = [id, others[0], others[1]];
    let leaves: Vec<Hash32> =
        ids.iter().zip(&bodies).map(|(i, b)| crate::merkle::response_leaf(i, &crate::merkle::blake3(b))).collect();
    let signed = |key: &NodeSigner| {
        let (sig, paths) = crate::merkle::sign_batch(crate::merkle::Batch::Responses, &leaves, key);
        let mut r = crate::message::Response::unsigned(id, carol.public(), bodies[0].clone());
        r.signature = sig;
        r.path = paths[0].clone();
        r
    };
    let deliver = |net: &mut Net, r: crate::message::Response| {
        let mut out = Vec::new();
        net.nodes[2].handle_message(ChannelId(3), Wire::Response(Box::new(r)), 400, &mut out);
        net.nodes[2].flush(400, &mut out);
        out
    };
    let out = deliver(&mut net, signed(&bob));
    assert!(matches!(out[..], [Effect::Event(EngineEvent::Refused { reason: Refusal::BadSignature, .. })]), "{out:?}");
    let mut forged = signed(&carol);
    let mut siblings = forged.path.siblings().to_vec();
    siblings[1].0[31] ^= 1;
    forged.path = crate::merkle::MerklePath::new(forged.path.sides(), siblings).unwrap();
    let out = deliver(&mut net, forged);
    assert!(matches!(out[..], [Effect::Event(EngineEvent::Refused { reason: Refusal::BadSignature, .. })]), "{out:?}");
    let out = deliver(&mut net, signed(&carol));
    assert!(
        out.iter().any(|e| matches!(e, Effect::Send { channel: ChannelId(2), msg: Wire::Response(r) } if r.request_id == id && !r.path.is_empty())),
        "passed up with its path: {out:?}"
    );
    assert!(!cut(&out));
}
