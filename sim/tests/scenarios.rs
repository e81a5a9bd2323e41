//! Every shipped scenario parses, runs and meets its `[expect]` section, and
//! the same seed gives the same bytes.

mod common;
use common::{run_traced, scenario, scenario_dir};
use por_sim::{Scenario, check_expectations};

#[test]
fn every_shipped_scenario_runs_and_meets_its_expectations() {
    let mut names: Vec<String> = std::fs::read_dir(scenario_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".toml") && n != "paper-topology.toml")
        .map(|n| n.trim_end_matches(".toml").to_string())
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        let sc = scenario(&name);
        let (s, _) = por_sim::run(sc.clone(), None).unwrap();
        let bad = check_expectations(&sc, &s);
        assert!(bad.is_empty(), "{name}: {bad:?}");
        assert_eq!(s.violation_count, 0, "{name}: {:?}", s.violations);
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let mut sc = scenario("mixed-attacks");
    sc.workload.requests = 400;
    sc.duration_ms = 40_000;
    let (_, json1, trace1) = run_traced(sc.clone());
    let (_, json2, trace2) = run_traced(sc.clone());
    assert_eq!(json1, json2);
    assert_eq!(trace1, trace2);
    assert!(trace1.len() > 1000);
    sc.seed += 1;
    let (_, json3, _) = run_traced(sc);
    assert_ne!(json1, json3);
}

#[test]
fn unknown_fields_and_names_are_errors() {
    let e = Scenario::from_toml("nme = \"x\"", "x.toml").unwrap_err();
    assert!(e.to_string().contains("unknown field"), "{e}");
    let mut sc = Scenario::default();
    sc.workload.servers = vec!["nobody".into()];
    assert!(por_sim::run(sc, None).is_err());
}
