//! The simulator's requests go through the core's requester, the retry
//! policy the node runs: a first hop that goes silent or refuses is left for
//! another route, attempt by attempt. The node's own tests drive the same
//! situations (A–B–S cheaper than A–C–S, B silent or refusing) and compare
//! the attempts.

mod common;
use common::{run_traced, scenario};
use por_core::protocol::FaultInjection;
use por_core::requester::{Attempt, AttemptResult, Outcome, OutcomeKind};
use por_core::{ChannelId, RequestId};
use por_sim::scenario::{BehaviourSpec, Scenario};
use por_sim::{Sim, Summary, check_expectations};

/// Runs `sc`, checks its expectations and invariants, and returns the one
/// fixed request's outcome.
fn run_one(sc: Scenario) -> (Summary, Sim, Outcome) {
    let (s, sim) = por_sim::run(sc.clone(), None).unwrap();
    let bad = check_expectations(&sc, &s);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(s.violation_count, 0, "{:?}", s.violations);
    assert_eq!(sim.fixed.len(), 1);
    let f = &sim.fixed[0];
    let o = f.result.clone().expect("the request ended").expect("with an outcome");
    assert_eq!(f.attempts, o.attempts);
    (s, sim, o)
}

fn channels(ids: &[u64]) -> Vec<ChannelId> {
    ids.iter().copied().map(ChannelId).collect()
}

/// What a test compares with the node's: route, ack, result per attempt.
fn shape(a: &[Attempt]) -> Vec<(Vec<ChannelId>, bool, AttemptResult)> {
    a.iter().map(|a| (a.channels.clone(), a.acked, a.result.clone())).collect()
}

#[test]
fn a_silent_first_hop_is_left_after_no_ack_and_the_other_route_answers() {
    let (s, _, o) = run_one(scenario("silent-first-hop"));
    let a = &o.attempts;
    assert_eq!(
        shape(a),
        vec![(channels(&[0, 1]), false, AttemptResult::NoAck), (channels(&[2, 3]), true, AttemptResult::Response),]
    );
    assert!(a[0].cost < a[1].cost, "the route via B is the cheaper, so it went first");
    assert_eq!(a[0].took_ms, 2 * 10 + 500, "the first edge's round trip plus the ack grace");
    assert_eq!(a[1].took_ms, 2 * 20 + 10, "A–C–S answers within its bound");
    assert_eq!(a[1].bound_ms, 50);
    assert!(a.iter().all(|x| x.request_id != RequestId([0; 32])));
    assert!(matches!(&o.kind, OutcomeKind::Response(r) if r.request_id == a[1].request_id));
    assert_eq!((o.request_id, o.paid), (a[1].request_id, a[0].cost + a[1].cost));
    assert_eq!(o.route.hops.iter().map(|h| h.channel).collect::<Vec<_>>(), channels(&[2, 3]));
    let r = &s.requests;
    assert_eq!((r.started, r.sent, r.retries, r.retry_succeeded), (1, 2, 1, 1));
    assert_eq!((r.no_ack, r.refused, r.outcome_response, r.failed), (1, 0, 1, 0));
}

/// A's engine still tracks the abandoned attempt: it cuts A–B for the late
/// fees B never pays and delivers itself the notice, which starts no retry.
#[test]
fn the_abandoned_attempts_later_notice_starts_nothing() {
    let (s, _, lines) = run_traced(scenario("silent-first-hop"));
    let reqs: Vec<_> = lines.iter().filter(|l| l["ev"] == "request").collect();
    assert_eq!(reqs.len(), 2, "no third attempt");
    let notices: Vec<_> = lines.iter().filter(|l| l["ev"] == "notice").collect();
    assert_eq!(notices.len(), 1, "attempt 1 ends in the engine with A's own notice");
    assert_eq!(notices[0]["req"], reqs[0]["req"]);
    let sever = lines.iter().find(|l| l["ev"] == "sever").expect("A cuts A–B");
    assert_eq!(
        (sever["by"].as_u64(), sever["ch"].as_u64(), sever["reason"].as_str()),
        (Some(0), Some(0), Some("WithheldLateFee"))
    );
    let done: Vec<_> = lines.iter().filter(|l| l["ev"] == "done").collect();
    assert_eq!(done.len(), 1);
    assert!(done[0]["t"].as_u64().unwrap() < sever["t"].as_u64().unwrap(), "the request ended before the cut");
    assert_eq!(done[0]["attempts"], serde_json::json!(["no ack", "response"]));
    assert_eq!((s.notices(), s.responses(), s.requests.outcome_notice), (1, 1, 0));
}

/// The same with B made silent through the per-node fault table instead of
/// the `"silent"` behaviour; and with B honest, one attempt via B suffices.
#[test]
fn the_fault_table_does_the_same_and_an_honest_b_answers_at_once() {
    let base = scenario("silent-first-hop");
    let (_, _, silent) = run_one(base.clone());
    let mut sc = base.clone();
    sc.behaviours = vec![BehaviourSpec {
        kind: "honest".into(),
        nodes: vec!["B".into()],
        count: 0,
        from_ms: 0,
        extra_ms: 0,
        flood_per_sec: 0.0,
        flood_requests: 0,
        policy: None,
        faults: Some(FaultInjection { drop_requests: true, ..FaultInjection::default() }),
    }];
    // B is silent by its fault table but labelled honest: its books count
    // as an honest node's, and it is cut.
    sc.expect.economic_exceptions = vec!["honest_loss".into()];
    let (_, _, table) = run_one(sc);
    assert_eq!(table.attempts, silent.attempts);
    let mut sc = base;
    sc.behaviours.clear();
    let (s, _, o) = run_one(sc);
    assert_eq!(shape(&o.attempts), vec![(channels(&[0, 1]), true, AttemptResult::Response)]);
    assert_eq!((s.requests.retries, s.requests.no_ack, s.severances_total), (0, 0, 0));
}

#[test]
fn a_refusing_first_hop_is_left_at_its_receipt() {
    let (s, _, o) = run_one(scenario("refusing-first-hop"));
    let a = &o.attempts;
    assert_eq!(
        shape(a),
        vec![
            (
                channels(&[0, 1]),
                false,
                AttemptResult::Refused(por_core::Refused::by_peer(
                    por_core::protocol::Refusal::CannotForward,
                    "request refused: CannotForward",
                ))
            ),
            (channels(&[2, 3]), true, AttemptResult::Response),
        ]
    );
    assert_eq!(a[0].took_ms, 2 * 10, "the receipt comes back after one round trip of A–B");
    assert!(matches!(o.kind, OutcomeKind::Response(_)));
    let r = &s.requests;
    assert_eq!((r.sent, r.retries, r.retry_succeeded, r.refused, r.no_ack), (2, 1, 1, 1, 0));
    assert_eq!(r.unacked_open, 0, "the refused attempt ended in A's engine too");
}

/// With no attempt left after the silence, the request fails with the
/// requester's own words.
#[test]
fn without_retries_the_silence_is_a_failure() {
    let mut sc = scenario("silent-first-hop");
    sc.workload.retries = 0;
    sc.expect.responses = Some(0);
    let (s, sim) = por_sim::run(sc.clone(), None).unwrap();
    assert!(check_expectations(&sc, &s).is_empty());
    let f = &sim.fixed[0];
    let e = f.result.clone().unwrap().unwrap_err();
    assert_eq!(e.to_string(), "no attempt was acknowledged (1 tried); last: no ack");
    assert_eq!(f.ended_ms, Some(520));
    assert_eq!((s.requests.failed, s.requests.no_ack, s.requests.sent), (1, 1, 1));
}

/// A request timeout shorter than the wait: §5.3's request is acknowledged
/// and paid late fees, and at the timeout it ends pending with what it was
/// paid (the engine still sees the notice at 1900 ms).
#[test]
fn a_timeout_ends_an_acknowledged_request_pending() {
    let mut sc = scenario("paper-5-3-late-fees");
    sc.workload.request_timeout_ms = Some(1_800);
    let (s, _, o) = run_one(sc);
    assert_eq!(o.kind, OutcomeKind::Pending);
    assert_eq!(shape(&o.attempts), vec![(channels(&[0, 1, 3, 4]), true, AttemptResult::Pending)]);
    assert_eq!(o.attempts[0].took_ms, 1_800);
    assert!(o.late_fees > 0 && o.late_fees < 900, "paid for part of the lateness so far: {}", o.late_fees);
    assert_eq!(o.late_fees, o.attempts[0].late_fees);
    assert_eq!((s.requests.outcome_pending, s.requests.outcome_notice, s.notices()), (1, 0, 1));
}
