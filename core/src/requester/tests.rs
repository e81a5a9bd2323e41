//! The requester's state machine: every transition, and a property test over
//! random driver inputs.

use proptest::prelude::*;

use super::*;
use crate::bytes::{Hash32, Signature};
use crate::cost::EdgeParams;
use crate::crypto::Signer;
use crate::message::RouteHop;

/// A signer for building test messages; the requester never checks them.
struct Key(u8);

impl Signer for Key {
    fn public(&self) -> NodeKey {
        NodeKey([self.0; 32])
    }
    fn sign(&self, _msg: &[u8]) -> Signature {
        Signature([self.0; 64])
    }
}

/// A route over `channels`, each with `latency_ms`.
fn route(channels: &[u64], latency_ms: u64) -> Route {
    let hops = channels
        .iter()
        .enumerate()
        .map(|(i, c)| RouteHop {
            channel: ChannelId(*c),
            node: NodeKey([i as u8 + 1; 32]),
            params: EdgeParams { latency_ms, base_fee: 10, byte_fee: 0 },
        })
        .collect();
    Route { hops, service_ms: 5 }
}

fn id(n: u8) -> RequestId {
    RequestId([n; 32])
}

fn acked(n: u8) -> Delivery {
    Delivery::Acked { request_id: id(n) }
}

fn late(n: u8, total: Amount) -> Delivery {
    Delivery::LatePayment { request_id: id(n), amount: 1, total }
}

fn response(n: u8) -> Delivery {
    Delivery::Response { request_id: id(n), response: Box::new(Response::create(id(n), b"ok".to_vec(), &Key(9))) }
}

fn notice(n: u8, channel: u64) -> Delivery {
    Delivery::Notice {
        request_id: id(n),
        notice: SeveranceNotice::create(id(n), ChannelId(channel), Hash32([7; 32]), &Key(8)),
    }
}

fn excluded(r: &Requester) -> Vec<u64> {
    r.wants().exclude_channels.iter().map(|c| c.0).collect()
}

fn results(r: &Requester) -> Vec<AttemptResult> {
    r.attempts().iter().map(|a| a.result.clone()).collect()
}

fn policy(attempts: u32) -> RetryPolicy {
    RetryPolicy { attempts, ..RetryPolicy::default() }
}

#[test]
fn defaults_are_the_nodes() {
    let p = RetryPolicy::default();
    assert_eq!((p.attempts, p.max_cost, p.max_bound_ms, p.timeout_ms, p.ack_grace_ms), (3, None, None, 30_000, 2_000));
}

#[test]
fn a_response_ends_the_request_with_its_attempt() {
    let mut r = Requester::new(RetryPolicy { max_bound_ms: Some(900), ..policy(3) }, 1_000);
    assert_eq!(r.next(1_000), Next::Route);
    assert_eq!(r.current(), None);
    let w = r.wants();
    assert_eq!((w.max_cost, w.max_bound_ms, w.exclude_channels.len(), w.exclude_nodes.len()), (None, Some(900), 0, 0));
    r.sent(id(1), route(&[4, 5], 100), 30, 410, 1_010);
    assert_eq!(r.current(), Some(id(1)));
    assert_eq!(r.next(1_010), Next::Wait { until_ms: 1_010 + 200 + 2_000 }, "the first hop's round trip plus grace");
    assert_eq!(r.attempts()[0].result, AttemptResult::Open);
    r.delivery(&acked(1), 1_200);
    assert!(r.attempts()[0].acked);
    assert_eq!(r.next(1_200), Next::Wait { until_ms: 31_000 }, "acknowledged: wait up to the timeout");
    r.delivery(&late(1, 7), 1_500);
    r.delivery(&late(1, 12), 1_600);
    r.delivery(&response(1), 1_700);
    assert_eq!(r.next(1_700), Next::Done);
    assert_eq!(r.current(), None);
    let o = r.finish().unwrap();
    assert_eq!(o.request_id, id(1));
    assert_eq!(o.route, route(&[4, 5], 100));
    assert!(matches!(&o.kind, OutcomeKind::Response(resp) if resp.request_id == id(1) && resp.body == b"ok"));
    assert_eq!((o.late_fees, o.paid), (12, 30));
    let a = &o.attempts[0];
    assert_eq!(o.attempts.len(), 1);
    assert_eq!((a.request_id, a.channels.clone()), (id(1), vec![ChannelId(4), ChannelId(5)]));
    assert_eq!((a.cost, a.bound_ms, a.acked, a.late_fees, a.took_ms), (30, 410, true, 12, 690));
    assert_eq!(a.result, AttemptResult::Response);
}

#[test]
fn no_route_at_first_is_no_route() {
    let mut r = Requester::new(policy(3), 0);
    r.no_route();
    assert_eq!(r.next(0), Next::Done);
    assert_eq!(r.finish(), Err(RequestFailure::NoRoute));
}

#[test]
fn no_route_later_stops_with_the_last_result() {
    let mut r = Requester::new(policy(3), 0);
    r.sent(id(1), route(&[1], 10), 5, 25, 0);
    r.refused(id(1), "busy", 30);
    assert_eq!(r.next(30), Next::Route);
    r.no_route();
    assert_eq!(r.next(30), Next::Done);
    match r.finish() {
        Err(RequestFailure::Failed { attempts, last, tried }) => {
            assert_eq!((attempts, last.as_str(), tried.len()), (1, "refused: busy", 1));
            assert_eq!(tried[0].took_ms, 30);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_local_refusal_pays_nothing_and_excludes_the_first_channel() {
    let mut r = Requester::new(RetryPolicy { max_cost: Some(100), ..policy(2) }, 0);
    r.not_sent(&route(&[3, 4], 10), 40, 45, "cannot pay the first hop", 2);
    assert_eq!(r.paid(), 0);
    assert_eq!(r.wants().max_cost, Some(100));
    assert_eq!(excluded(&r), vec![3]);
    assert_eq!(r.current(), None);
    let a = &r.attempts()[0];
    assert_eq!((a.request_id, a.cost, a.took_ms, a.acked), (RequestId([0; 32]), 40, 0, false));
    assert_eq!(a.result.to_string(), "refused: cannot pay the first hop");
    assert_eq!(r.next(2), Next::Route, "it counts as an attempt; one is left");
    r.not_sent(&route(&[5], 10), 40, 25, "again", 3);
    assert_eq!(r.next(3), Next::Done, "attempts used up");
    assert_eq!(excluded(&r), vec![3, 5]);
    let e = r.finish().unwrap_err();
    assert_eq!(e.to_string(), "no attempt was acknowledged (2 tried); last: refused: again");
}

#[test]
fn a_first_hop_refusal_excludes_the_first_channel() {
    let mut r = Requester::new(policy(3), 0);
    r.sent(id(1), route(&[6, 7], 10), 5, 45, 0);
    r.refused(id(2), "not this one", 1);
    assert_eq!(r.current(), Some(id(1)), "another id's refusal is ignored");
    r.refused(id(1), "request refused: underpaid", 20);
    assert_eq!(r.current(), None);
    assert_eq!(excluded(&r), vec![6]);
    assert_eq!(results(&r), vec![AttemptResult::Refused(Refused::from("request refused: underpaid"))]);
    assert_eq!(r.paid(), 5, "what was sent counts as paid, as on the node");
    assert_eq!(r.next(20), Next::Route);
}

#[test]
fn a_notice_excludes_its_channel_and_is_the_outcome_if_nothing_does_better() {
    let mut r = Requester::new(policy(2), 0);
    r.sent(id(1), route(&[1, 2, 3], 10), 9, 65, 0);
    r.delivery(&acked(1), 20);
    r.delivery(&late(1, 4), 80);
    r.delivery(&notice(1, 2), 90);
    assert_eq!(excluded(&r), vec![2], "the cut channel, not the first");
    assert_eq!(results(&r), vec![AttemptResult::Notice(ChannelId(2))]);
    assert_eq!(r.attempts()[0].result.to_string(), "notice on channel #2");
    assert_eq!(r.next(90), Next::Route);
    r.sent(id(2), route(&[1, 4], 10), 8, 45, 90);
    r.timer(90 + 20 + 2_000);
    assert_eq!(results(&r), vec![AttemptResult::Notice(ChannelId(2)), AttemptResult::NoAck]);
    assert_eq!(excluded(&r), vec![1, 2]);
    assert_eq!(r.next(2_110), Next::Done);
    let o = r.finish().unwrap();
    assert_eq!((o.request_id, o.late_fees, o.paid), (id(1), 4, 17), "the notice's attempt decides");
    assert_eq!(o.route, route(&[1, 2, 3], 10));
    assert!(matches!(o.kind, OutcomeKind::Notice(n) if n.channel == ChannelId(2)));
    assert_eq!(o.attempts.len(), 2);
}

#[test]
fn a_later_response_beats_an_earlier_notice() {
    let mut r = Requester::new(policy(3), 0);
    r.sent(id(1), route(&[1, 2], 10), 5, 45, 0);
    r.delivery(&notice(1, 2), 50);
    r.sent(id(2), route(&[1, 3], 10), 5, 45, 50);
    r.delivery(&response(2), 90);
    let o = r.finish().unwrap();
    assert_eq!(o.request_id, id(2));
    assert!(matches!(o.kind, OutcomeKind::Response(_)));
    assert_eq!(o.route, route(&[1, 3], 10));
}

#[test]
fn no_ack_in_time_excludes_the_first_hop_and_stale_timers_do_nothing() {
    let mut r = Requester::new(RetryPolicy { ack_grace_ms: 500, ..policy(3) }, 0);
    r.sent(id(1), route(&[8, 9], 50), 5, 210, 10);
    let until = 10 + 100 + 500;
    assert_eq!(r.next(10), Next::Wait { until_ms: until });
    r.timer(until - 1);
    assert_eq!(r.current(), Some(id(1)), "a timer before the wait's end is stale");
    r.timer(until);
    assert_eq!(r.current(), None);
    assert_eq!(results(&r), vec![AttemptResult::NoAck]);
    assert_eq!(r.attempts()[0].took_ms, 600);
    assert_eq!(excluded(&r), vec![8]);
    r.timer(until + 5);
    assert_eq!(r.attempts().len(), 1, "a timer with nothing waited for does nothing");
    assert_eq!(r.next(until), Next::Route);
}

#[test]
fn deliveries_for_an_abandoned_attempt_are_ignored() {
    let mut r = Requester::new(RetryPolicy { ack_grace_ms: 100, ..policy(3) }, 0);
    r.sent(id(1), route(&[1, 2], 10), 5, 45, 0);
    r.timer(120);
    r.sent(id(2), route(&[3, 2], 10), 5, 45, 120);
    for d in [acked(1), late(1, 50), notice(1, 2), response(1)] {
        r.delivery(&d, 130);
    }
    r.refused(id(1), "late receipt", 130);
    assert_eq!(r.current(), Some(id(2)));
    assert_eq!(results(&r), vec![AttemptResult::NoAck, AttemptResult::Open]);
    assert!(!r.attempts()[0].acked && !r.attempts()[1].acked);
    assert_eq!(r.attempts()[0].late_fees, 0);
    assert_eq!(excluded(&r), vec![1], "the old attempt's notice excluded nothing");
    r.delivery(&response(2), 160);
    let o = r.finish().unwrap();
    assert_eq!(o.request_id, id(2));
    assert_eq!(o.attempts[1].took_ms, 40);
}

#[test]
fn an_acknowledged_attempt_waits_for_the_timeout_then_is_pending() {
    let mut r = Requester::new(RetryPolicy { timeout_ms: 5_000, ..policy(3) }, 0);
    r.sent(id(1), route(&[1, 2], 10), 5, 45, 0);
    r.delivery(&acked(1), 20);
    r.timer(2_020);
    assert_eq!(r.current(), Some(id(1)), "the ack timer is stale once acknowledged");
    assert_eq!(r.next(2_020), Next::Wait { until_ms: 5_000 });
    r.delivery(&late(1, 30), 4_000);
    r.timer(5_000);
    assert_eq!(r.next(5_000), Next::Done);
    let o = r.finish().unwrap();
    assert_eq!((o.kind, o.late_fees, o.request_id), (OutcomeKind::Pending, 30, id(1)));
    assert_eq!(o.attempts[0].result, AttemptResult::Pending);
    assert_eq!(o.attempts[0].took_ms, 5_000);
}

#[test]
fn an_unacknowledged_attempt_at_the_timeout_is_pending_as_on_the_node() {
    // The ack would be due after the timeout: the wait ends at the timeout,
    // which ends the request (the node's rule: `until == deadline`).
    let mut r = Requester::new(RetryPolicy { timeout_ms: 1_000, ..policy(3) }, 0);
    r.sent(id(1), route(&[1], 10), 5, 25, 500);
    assert_eq!(r.next(500), Next::Wait { until_ms: 1_000 });
    r.timer(1_000);
    assert_eq!(r.next(1_000), Next::Done);
    assert_eq!(r.finish().unwrap().kind, OutcomeKind::Pending);
}

#[test]
fn time_running_out_stops_the_retries() {
    let mut r = Requester::new(RetryPolicy { timeout_ms: 3_000, ..policy(5) }, 0);
    r.sent(id(1), route(&[1], 10), 5, 25, 0);
    r.timer(2_020);
    assert_eq!(r.next(2_020), Next::Route);
    r.sent(id(2), route(&[2], 10), 5, 25, 2_020);
    r.refused(id(2), "no", 3_000);
    assert_eq!(r.next(3_000), Next::Done, "attempts are left, time is not");
    assert_eq!(r.next(2_999), Next::Route, "a moment earlier there was time");
    let e = r.finish().unwrap_err();
    assert!(matches!(&e, RequestFailure::Failed { attempts: 2, last, .. } if last == "refused: no"), "{e:?}");
}

#[test]
fn no_time_at_all_is_a_failure_with_no_attempt() {
    let r = Requester::new(RetryPolicy { timeout_ms: 0, ..policy(3) }, 100);
    assert_eq!(r.next(100), Next::Done);
    assert_eq!(r.deadline_ms(), 100);
    let e = r.finish().unwrap_err();
    assert_eq!(e, RequestFailure::Failed { attempts: 0, last: "no time left".into(), tried: vec![] });
}

#[test]
fn zero_attempts_means_one() {
    let mut r = Requester::new(policy(0), 0);
    assert_eq!(r.next(0), Next::Route);
    r.sent(id(1), route(&[1], 10), 5, 25, 0);
    r.refused(id(1), "x", 1);
    assert_eq!(r.next(1), Next::Done);
}

#[test]
fn excluded_channels_accumulate() {
    let mut r = Requester::new(RetryPolicy { ack_grace_ms: 0, ..policy(6) }, 0);
    r.not_sent(&route(&[10, 11], 1), 1, 1, "a", 0);
    r.sent(id(1), route(&[20, 21], 1), 1, 1, 0);
    r.refused(id(1), "b", 1);
    r.sent(id(2), route(&[30, 31, 32], 1), 1, 1, 1);
    r.delivery(&notice(2, 32), 2);
    r.sent(id(3), route(&[40], 1), 1, 1, 2);
    r.timer(4);
    r.exclude_node(NodeKey([3; 32]));
    assert_eq!(excluded(&r), vec![10, 20, 32, 40]);
    assert_eq!(r.wants().exclude_nodes.iter().copied().collect::<Vec<_>>(), vec![NodeKey([3; 32])]);
    assert_eq!(r.next(4), Next::Route);
}

#[test]
fn the_cost_limit_shrinks_by_what_was_paid() {
    let mut r = Requester::new(RetryPolicy { max_cost: Some(1_000), ..policy(4) }, 0);
    assert_eq!(r.wants().max_cost, Some(1_000));
    r.sent(id(1), route(&[1], 10), 300, 25, 0);
    assert_eq!(r.wants().max_cost, Some(700));
    r.refused(id(1), "x", 5);
    r.not_sent(&route(&[2], 10), 500, 25, "y", 5);
    assert_eq!(r.wants().max_cost, Some(700), "a refusal to send paid nothing");
    r.sent(id(2), route(&[3], 10), 900, 25, 5);
    assert_eq!(r.wants().max_cost, Some(0), "saturates");
    assert_eq!(r.paid(), 1_200);
    let r = Requester::new(policy(1), 0);
    assert_eq!(r.wants().max_cost, None);
}

#[test]
fn a_closed_stream_is_pending() {
    let mut r = Requester::new(policy(3), 0);
    r.closed(5);
    assert_eq!(r.next(5), Next::Route, "nothing to close before sending");
    r.sent(id(1), route(&[1], 10), 5, 25, 5);
    r.closed(40);
    assert_eq!(r.next(40), Next::Done);
    let o = r.finish().unwrap();
    assert_eq!(
        (o.kind, o.attempts[0].result.clone(), o.attempts[0].took_ms),
        (OutcomeKind::Pending, AttemptResult::Pending, 35)
    );
}

#[test]
fn inputs_out_of_turn_are_ignored() {
    let mut r = Requester::new(policy(3), 0);
    r.delivery(&response(1), 0);
    r.timer(1_000_000);
    r.refused(id(1), "x", 0);
    assert_eq!((r.next(0), r.attempts().len()), (Next::Route, 0));
    r.sent(id(1), route(&[1], 10), 5, 25, 0);
    r.sent(id(2), route(&[2], 10), 5, 25, 0);
    r.not_sent(&route(&[3], 10), 5, 25, "x", 0);
    r.no_route();
    assert_eq!((r.current(), r.attempts().len(), r.paid()), (Some(id(1)), 1, 5), "a second send while waiting");
    r.delivery(&response(1), 10);
    r.sent(id(3), route(&[3], 10), 5, 25, 10);
    r.no_route();
    assert_eq!(r.next(10), Next::Done);
    assert!(matches!(r.finish().unwrap().kind, OutcomeKind::Response(_)));
}

#[test]
fn results_read_as_on_the_node() {
    let shown: Vec<String> = [
        AttemptResult::Response,
        AttemptResult::Notice(ChannelId(12)),
        AttemptResult::Refused(Refused::from("busy")),
        AttemptResult::NoAck,
        AttemptResult::Pending,
        AttemptResult::Open,
    ]
    .iter()
    .map(|r| r.to_string())
    .collect();
    assert_eq!(shown, ["response", "notice on channel #12", "refused: busy", "no ack", "pending", "open"]);
    assert_eq!(RequestFailure::NoRoute.to_string(), "no route within the limits");
}

/// One input from a driver, at `dt` ms after the previous one.
#[derive(Debug, Clone)]
enum Input {
    Send {
        first: u64,
        second: u64,
        cost: u16,
    },
    NotSent {
        first: u64,
        cost: u16,
    },
    NoRoute,
    Ack,
    Late(u16),
    Response,
    Notice(u64),
    Refused,
    Closed,
    /// The timer at the current wait's end, or `early` ms before it.
    Timer {
        early: u16,
    },
    /// A delivery for an id that is not the current one.
    Stray,
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        4 => (0u64..6, 6u64..12, 0u16..500).prop_map(|(first, second, cost)| Input::Send { first, second, cost }),
        1 => (0u64..6, 0u16..500).prop_map(|(first, cost)| Input::NotSent { first, cost }),
        1 => Just(Input::NoRoute),
        2 => Just(Input::Ack),
        1 => (0u16..1000).prop_map(Input::Late),
        1 => Just(Input::Response),
        2 => (0u64..12).prop_map(Input::Notice),
        1 => Just(Input::Refused),
        1 => Just(Input::Closed),
        3 => (0u16..3).prop_map(|e| Input::Timer { early: e * 100 }),
        1 => Just(Input::Stray),
    ]
}

proptest! {
    /// Whatever a driver feeds it, the requester keeps its books straight:
    /// no more attempts than allowed, none started after the timeout, the
    /// cost limit reduced by exactly what was paid, exactly the failed
    /// channels excluded, only the last attempt open, and a result that
    /// matches the attempts.
    #[test]
    fn the_books_stay_straight(
        attempts in 0u32..5,
        max_cost in proptest::option::of(0u128..1500),
        timeout_ms in 0u64..8_000,
        ack_grace_ms in 0u64..3_000,
        steps in proptest::collection::vec((0u64..1_500, input()), 0..40),
    ) {
        let p = RetryPolicy { attempts, max_cost, max_bound_ms: None, timeout_ms, ack_grace_ms, ..RetryPolicy::default() };
        let mut r = Requester::new(p.clone(), 0);
        let mut now = 0u64;
        let mut next_id = 1u8;
        for (dt, inp) in steps {
            now += dt;
            let before = r.attempts().len();
            let next = r.next(now);
            if next == Next::Route {
                prop_assert!(now < timeout_ms);
            }
            let cur = r.current();
            match inp {
                Input::Send { first, second, cost } if next == Next::Route => {
                    let rt = route(&[first, second], 10);
                    prop_assert!(r.wants().max_cost.is_none_or(|m| m <= p.max_cost.unwrap()));
                    r.sent(id(next_id), rt, Amount::from(cost), 45, now);
                    next_id += 1;
                }
                Input::NotSent { first, cost } if next == Next::Route => {
                    r.not_sent(&route(&[first], 10), Amount::from(cost), 25, "no", now);
                }
                Input::NoRoute => r.no_route(),
                Input::Ack => if let Some(c) = cur { r.delivery(&Delivery::Acked { request_id: c }, now) },
                Input::Late(t) => if let Some(c) = cur {
                    r.delivery(&Delivery::LatePayment { request_id: c, amount: 1, total: Amount::from(t) }, now)
                },
                Input::Response => if let Some(c) = cur { r.delivery(&response(c.0[0]), now) },
                Input::Notice(ch) => if let Some(c) = cur { r.delivery(&notice(c.0[0], ch), now) },
                Input::Refused => if let Some(c) = cur { r.refused(c, "refused", now) },
                Input::Closed => r.closed(now),
                Input::Timer { early } => if let Next::Wait { until_ms } = next {
                    now = now.max(until_ms.saturating_sub(u64::from(early)));
                    r.timer(now);
                    if early > 0 && now < until_ms {
                        prop_assert_eq!(r.current(), cur, "an early timer changes nothing");
                    }
                },
                Input::Stray => {
                    r.delivery(&response(200), now);
                    r.delivery(&notice(200, 3), now);
                    prop_assert_eq!(r.current(), cur);
                }
                _ => {}
            }
            let a = r.attempts();
            prop_assert!(a.len() <= before + 1);
            prop_assert!(a.len() as u32 <= attempts.max(1));
            let sent: Amount = a.iter().filter(|x| x.request_id != RequestId([0; 32])).map(|x| x.cost).sum();
            prop_assert_eq!(r.paid(), sent);
            prop_assert_eq!(r.wants().max_cost, max_cost.map(|m| m.saturating_sub(sent)));
            let mut want = BTreeSet::new();
            for x in a {
                match x.result {
                    AttemptResult::NoAck | AttemptResult::Refused(_) => { want.insert(x.channels[0]); }
                    AttemptResult::Notice(c) => { want.insert(c); }
                    _ => {}
                }
            }
            prop_assert_eq!(r.wants().exclude_channels, &want);
            for (i, x) in a.iter().enumerate() {
                let open = x.result == AttemptResult::Open;
                prop_assert_eq!(open, i + 1 == a.len() && r.current().is_some());
            }
            if let Some(last) = a.last().filter(|x| x.result == AttemptResult::NoAck) {
                prop_assert!(!last.acked);
            }
        }
        let done = r.next(now) == Next::Done;
        let tried = r.attempts().to_vec();
        match r.clone().finish() {
            Ok(o) => {
                prop_assert_eq!(&o.attempts, &tried);
                let at = o.attempts.iter().find(|x| x.request_id == o.request_id).expect("the deciding attempt");
                match &o.kind {
                    OutcomeKind::Response(resp) => {
                        prop_assert_eq!(resp.request_id, o.request_id);
                        prop_assert_eq!(&at.result, &AttemptResult::Response);
                        prop_assert!(o.attempts.last() == Some(at));
                    }
                    OutcomeKind::Pending => {
                        prop_assert_eq!(&at.result, &AttemptResult::Pending);
                        prop_assert!(o.attempts.last() == Some(at));
                    }
                    OutcomeKind::Notice(n) => {
                        prop_assert_eq!(&at.result, &AttemptResult::Notice(n.channel));
                        prop_assert!(o.attempts.iter().all(|x| x.result != AttemptResult::Response));
                    }
                }
                prop_assert_eq!(o.late_fees, at.late_fees);
            }
            Err(RequestFailure::NoRoute) => prop_assert!(tried.is_empty()),
            Err(RequestFailure::Failed { attempts: n, last, tried: t }) => {
                prop_assert_eq!(n, tried.len());
                prop_assert_eq!(&t, &tried);
                prop_assert!(tried.iter().all(|x| !matches!(x.result, AttemptResult::Response | AttemptResult::Notice(_))));
                if done {
                    prop_assert!(tried.iter().all(|x| x.result != AttemptResult::Open));
                    prop_assert_eq!(last, tried.last().map_or("no time left".to_string(), |x| x.result.to_string()));
                }
            }
        }
    }
}

/// The ack and the answer travel separately (a relay's ack waits for its
/// store, its forward does not): an answer that comes first means the first
/// hop accepted the request.
#[test]
fn an_answer_before_its_ack_counts_as_acknowledged() {
    let mut r = Requester::new(policy(3), 0);
    r.sent(id(1), route(&[1], 10), 5, 25, 0);
    r.delivery(&response(1), 10);
    assert!(r.attempts()[0].acked);
    let mut r = Requester::new(policy(3), 0);
    r.sent(id(1), route(&[1, 2], 10), 5, 25, 0);
    r.delivery(&notice(1, 2), 10);
    assert!(r.attempts()[0].acked);
}

/// A first hop that refuses a route as `unknown_edge` (or `no_terms`) may
/// only have an older copy of the graph: it gets one more try after the
/// policy's graph lag, then it is excluded as for any refusal.
#[test]
fn a_graph_lag_refusal_is_tried_again_once() {
    use crate::protocol::Refusal;
    let mut r = Requester::new(policy(4), 0);
    r.sent(id(1), route(&[1, 2], 10), 5, 25, 0);
    r.refused(id(1), Refused::by_peer(Refusal::UnknownEdge, "lagging"), 10);
    assert!(excluded(&r).is_empty(), "not excluded yet");
    assert_eq!(r.next(10), Next::Wait { until_ms: 1_510 });
    r.timer(1_510);
    assert_eq!(r.next(1_510), Next::Route);
    r.sent(id(2), route(&[1, 2], 10), 5, 25, 1_510);
    r.refused(id(2), Refused::by_peer(Refusal::UnknownEdge, "still"), 1_520);
    assert_eq!(excluded(&r), vec![1], "the second time, excluded");
    assert_eq!(r.next(1_520), Next::Route, "no wait for another route");
    // Any other refusal excludes at once.
    r.sent(id(3), route(&[3], 10), 5, 25, 1_520);
    r.refused(id(3), Refused::by_peer(Refusal::Busy, "full"), 1_530);
    assert_eq!(excluded(&r), vec![1, 3]);
}
