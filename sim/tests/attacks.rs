//! One scenario per attack class over 1,000 nodes (`sim/scenarios/`), with
//! the books: what each lying requester's first hop refused and why, what a
//! flooded relay answered, and the per-node figures of the economic
//! invariants (`checks`), which each scenario's `[expect]` requires except
//! where it says why not. The scenarios test runs them too; here they are
//! read closer.

mod common;
use common::scenario;
use por_sim::check_expectations;

fn amount(s: &str) -> i128 {
    s.parse().unwrap()
}

/// Class 1: every lie is refused by the first hop with the reason it calls
/// for, the liars get no service and lose nothing, their first hops keep
/// nothing, and every honest request is answered.
#[test]
fn lying_requesters_are_refused_and_nobody_pays_for_it() {
    let sc = scenario("lying-requesters");
    let (s, _) = por_sim::run(sc.clone(), None).unwrap();
    assert_eq!(check_expectations(&sc, &s), Vec::<String>::new());
    assert!(s.lies[0] >= 100, "{:?}", s.lies);
    assert_eq!(s.lies[0], s.lies[1], "every lie refused with its reason");
    assert_eq!(s.requests_by_client_class["lying_requester"][1], 0, "no liar was answered");
    assert!(s.economics.violations_by_kind.is_empty(), "{:?}", s.economics.violations);
    for b in &s.economics.attackers {
        assert_eq!((b.spent, b.unacked, b.loss + b.earned), (0, 0, 0), "{} paid nothing for its lies", b.name);
    }
    assert_eq!(amount(&s.economics.by_class["honest"].worst_loss), 0, "no honest node lost anything");
}

/// Class 2: the flooded relay answers the flood `Busy` and never an honest
/// neighbour; every honest request is answered.
#[test]
fn a_flooder_is_answered_busy_and_honest_traffic_gets_through() {
    let sc = scenario("flooder");
    let (s, _) = por_sim::run(sc.clone(), None).unwrap();
    assert_eq!(check_expectations(&sc, &s), Vec::<String>::new());
    assert!(s.refused_to["flooder"]["Busy"] > 10_000, "{:?}", s.refused_to);
    assert!(!s.refused_to.get("honest").is_some_and(|m| m.contains_key("Busy")), "{:?}", s.refused_to);
    let [started, answered] = s.requests_by_client_class["honest"];
    assert_eq!(started, answered);
}

/// Classes 3 to 5b and the small mixed world: every attacker class loses,
/// and the report shows the worst honest nodes and the attackers.
#[test]
fn attackers_lose_and_the_report_shows_who_lost_what() {
    for name in [
        "refusing-first-hops",
        "withholding-relays",
        "false-notices-at-scale",
        "notice-dodges-at-scale",
        "mixed-attacks",
    ] {
        let sc = scenario(name);
        let (s, _) = por_sim::run(sc.clone(), None).unwrap();
        assert_eq!(check_expectations(&sc, &s), Vec::<String>::new(), "{name}");
        let e = &s.economics;
        assert_eq!(e.worst_honest.len(), 10, "{name}");
        assert!(!e.attackers.is_empty(), "{name}");
        let honest_lost = amount(&e.by_class["honest"].lost);
        let attackers_lost: i128 =
            e.by_class.iter().filter(|(k, _)| k.as_str() != "honest").map(|(_, c)| amount(&c.lost)).sum();
        assert!(attackers_lost > 10 * honest_lost, "{name}: attackers {attackers_lost}, honest {honest_lost}");
        let json = por_sim::summary_json(&s);
        assert!(json.contains("\"worst_honest\"") && json.contains("\"cut_penalties\""), "{name}");
    }
}

/// Class 5b: a notice naming a channel off the route, and one for a channel
/// then closed cooperatively. Each dodger that sent one is cut by its
/// upstream for it (`FalseNotice`), the misaddressed ones at once; no honest
/// node is cut or loses beyond what is priced in.
#[test]
fn notice_dodgers_are_cut_and_no_honest_node_is() {
    let sc = scenario("notice-dodges-at-scale");
    let (s, _) = por_sim::run(sc.clone(), None).unwrap();
    assert_eq!(check_expectations(&sc, &s), Vec::<String>::new());
    assert!(s.refused.get("NoticeOffRoute").is_some_and(|n| *n > 0), "{:?}", s.refused);
    assert!(s.cooperative_closes > 0, "dodgers closed channels cooperatively");
    assert!(s.severances.get("FalseNotice").copied().unwrap_or(0) >= 2, "{:?}", s.severances);
    let e = &s.economics;
    assert_eq!(amount(&e.by_class["honest"].cut_against), 0, "no honest node was cut");
    assert_eq!(amount(&e.by_class["honest"].worst_beyond), 0, "no honest loss beyond what is priced in");
    for class in ["close_dodge", "misaddressed_notices"] {
        assert!(amount(&e.by_class[class].cut_against) > 0, "{class} were cut");
    }
}

/// The per-node report: every node's books, one line each, for a run of
/// any size (mixed-attacks has 300 nodes, more than the summary lists):
/// each honest node lost nothing beyond what the protocol prices in, and
/// the lines add up to the summary's per-class totals.
#[test]
fn the_books_report_every_node() {
    let sc = scenario("mixed-attacks");
    let (s, sim) = por_sim::run(sc, None).unwrap();
    let mut out = Vec::new();
    por_sim::write_books(&sim, &mut out).unwrap();
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 300);
    let num = |v: &serde_json::Value, k: &str| -> i128 { v[k].as_str().unwrap().parse().unwrap() };
    let honest: Vec<&serde_json::Value> = lines.iter().filter(|l| l["class"] == "honest").collect();
    assert_eq!(honest.len() as u64, s.economics.by_class["honest"].nodes);
    assert!(honest.iter().all(|l| num(l, "beyond") == 0), "an honest node lost beyond what is priced in");
    let lost: i128 = honest.iter().map(|l| num(l, "loss").max(0)).sum();
    assert_eq!(lost, amount(&s.economics.by_class["honest"].lost));
}

/// Class 6: every severance takes 8 s to show on chain. The notices still
/// leave at signing and wait for their confirmation within the upstreams'
/// 10 s window: nodes are cut, but no honest one, and no honest node loses
/// beyond what is priced in.
#[test]
fn slow_severs_cut_no_honest_node() {
    let sc = scenario("slow-severs-at-scale");
    assert_eq!(sc.chain.visible_after_ms, 8_000);
    let (s, _) = por_sim::run(sc.clone(), None).unwrap();
    assert_eq!(check_expectations(&sc, &s), Vec::<String>::new());
    assert!(s.severances_total >= 5, "{:?}", s.severances);
    let e = &s.economics;
    assert_eq!(amount(&e.by_class["honest"].cut_against), 0, "no honest node was cut");
    assert_eq!(amount(&e.by_class["honest"].worst_beyond), 0);
}
