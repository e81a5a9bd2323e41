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

/// The binary itself (as `make test` users and the docs run it): the same
/// scenario and seed give the same summary, trace and chart, byte for byte;
/// `--check` passes; the chart names its outcomes.
#[test]
fn the_cli_is_deterministic_and_draws_a_labelled_chart() {
    let dir = std::env::temp_dir().join(format!("por-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = scenario_dir().join("paper-5-3-late-fees.toml");
    let run = |tag: &str| {
        let (trace, plot) = (dir.join(format!("{tag}.jsonl")), dir.join(format!("{tag}.svg")));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_por-sim"))
            .arg("run")
            .arg(&scenario)
            .arg("--trace")
            .arg(&trace)
            .arg("--plot")
            .arg(&plot)
            .arg("--check")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (out.stdout, std::fs::read(trace).unwrap(), std::fs::read_to_string(plot).unwrap())
    };
    let a = run("a");
    let b = run("b");
    assert_eq!(a.0, b.0, "summary");
    assert_eq!(a.1, b.1, "trace");
    assert_eq!(a.2, b.2, "chart");
    for label in ["late fees paid per second", "outcomes by server class", "response", "severance notice", "paper-5-3"]
    {
        assert!(a.2.contains(label), "the chart shows {label:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
