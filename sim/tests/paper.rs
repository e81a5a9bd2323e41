//! The paper's §5 situations, run through the simulator (same engine as the
//! node) and checked against the timelines of the paper and DESIGN §2.5–2.7.

mod common;
use common::{run_traced, scenario};
use por_sim::check_expectations;
use serde_json::Value;

fn events<'a>(lines: &'a [Value], ev: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["ev"] == ev).collect()
}

fn t(v: &Value) -> u64 {
    v["t"].as_u64().unwrap()
}

fn expectations_hold(name: &str) -> (por_sim::Summary, Vec<Value>) {
    let sc = scenario(name);
    let (s, _, lines) = run_traced(sc.clone());
    let bad = check_expectations(&sc, &s);
    assert!(bad.is_empty(), "{name}: {bad:?}");
    assert_eq!(s.violation_count, 0, "{name}: {:?}", s.violations);
    (s, lines)
}

#[test]
fn happy_path_response_at_800ms() {
    let (_, lines) = expectations_hold("paper-5-1-happy-path");
    let req = &events(&lines, "request")[0];
    assert_eq!(req["bound_ms"], 800);
    let resp = &events(&lines, "response")[0];
    assert_eq!(t(resp), 800, "2 × (100 + 200 + 100)");
    assert!(events(&lines, "late_payment").is_empty());
    assert!(events(&lines, "deadline").is_empty());
}

#[test]
fn sever_at_once_notice_before_the_bound() {
    let (s, lines) = expectations_hold("paper-5-2-sever-at-once");
    let sever = &events(&lines, "sever")[0];
    assert_eq!(
        (t(sever), sever["by"].as_u64(), sever["reason"].as_str()),
        (700, Some(2), Some("Overdue")),
        "Bob at 700"
    );
    let notice = &events(&lines, "notice")[0];
    assert!(t(notice) <= 1000, "notice at {} after Alex's 1000 ms bound", t(notice));
    assert_eq!(s.late_paid, 0);
    // Bob's cut strands Dave behind Eve; Dave reconnects within the window
    // and Eve, joined again through him, is not partitioned at settle.
    assert_eq!(s.reconnections, 1, "Dave reconnects");
    assert!(s.partitioned.is_empty(), "{:?}", s.partitioned);
}

#[test]
fn waiting_relay_pays_then_notice_stops_the_fees() {
    let (s, lines) = expectations_hold("paper-5-3-late-fees");
    let pays = events(&lines, "late_payment");
    // Alice (node 1) pays Alex at her own 500 ms syncs and Bob (node 2)
    // pays Alice at his 1000 ms syncs, each from their own deadlines.
    let alice: Vec<u64> = pays.iter().filter(|p| p["from"] == 1).map(|p| t(p)).collect();
    let bob: Vec<u64> = pays.iter().filter(|p| p["from"] == 2).map(|p| t(p)).collect();
    assert!(alice.len() >= 2 && !bob.is_empty(), "alice {alice:?} bob {bob:?}");
    assert!(alice.windows(2).all(|w| w[1] - w[0] == 500), "Alice pays at every 0.5 s sync: {alice:?}");
    let notice = t(events(&lines, "notice")[0]);
    assert_eq!(notice, 1900);
    assert!(pays.iter().all(|p| t(p) <= notice + 1000), "payments stop within a sync of the notice");
    assert_eq!(s.late_to_requesters, 900, "900 ms of lateness at 1 yocto/ms");
}

#[test]
fn long_wait_gives_up_at_9600() {
    let (_, lines) = expectations_hold("paper-5-5-long-wait");
    let sever = &events(&lines, "sever")[0];
    assert_eq!(t(sever), 9600);
    let alice_pays: Vec<u64> = events(&lines, "late_payment").iter().filter(|p| p["from"] == 1).map(|p| t(p)).collect();
    assert!(alice_pays.len() >= 15, "Alice pays at every 0.5 s sync: {alice_pays:?}");
}

#[test]
fn withheld_fee_slow_server_and_false_notice() {
    let (_, lines) = expectations_hold("paper-5-4-withheld-late-fee");
    assert_eq!(events(&lines, "sever")[0]["reason"], "WithheldLateFee");
    let (s, _) = expectations_hold("slow-server");
    assert_eq!(s.late_to_requesters, 2000);
    let (_, lines) = expectations_hold("false-notices");
    let sever = &events(&lines, "sever")[0];
    assert_eq!((sever["by"].as_u64(), sever["reason"].as_str()), (Some(1), Some("FalseNotice")), "Alice cuts the liar");
}
