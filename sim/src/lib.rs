//! # por-sim: the real protocol at network scale, in virtual time
//!
//! A discrete-event simulator that drives `por-core`'s protocol engine
//! ([`por_core::protocol::NodeEngine`], the code the node runs) for every
//! node, with per-edge latencies, message loss, syncs and deadlines, the
//! contract's severance and partition rules (the core's partition check, as
//! the contract runs it) and misbehaving nodes. Scenarios are TOML files
//! ([`scenario`]); a run prints a JSON [`report::Summary`], optionally a JSONL
//! trace and an SVG chart.
//!
//! Same scenario and seed ⇒ byte-identical output: one seeded ChaCha RNG,
//! ordered maps wherever output is built, and events ordered by
//! (time, class, sequence).
//!
//! Signatures are **simulation-only and non-cryptographic** ([`crypto`]) so
//! that a million requests fit in a minute; everything else is the engine's.
//!
//! Every client request goes through the core's requester
//! ([`por_core::Requester`]), the retry policy a node runs: attempts over
//! other routes after a notice, a refusal or a missing ack.
//!
//! Modules, each importing only those before it: [`scenario`] (input),
//! [`topology`] (graphs), [`crypto`], [`chain`] (the contract's rules),
//! [`routes`] (route cache), [`stats`] (counters and violations, plain data),
//! [`checks`] (invariants), [`sim`] (the event loop and the requests),
//! [`report`] (summary), [`plot`] (SVG).
#![deny(missing_docs)]

/// Writes one trace line when a trace is open (errors surface at the flush).
macro_rules! trace_line {
    ($sim:expr, $($arg:tt)*) => {
        if let Some(w) = $sim.trace.as_mut() {
            let _ = writeln!(w, $($arg)*);
        }
    };
}

pub mod chain;
pub mod checks;
pub mod crypto;
pub mod plot;
pub mod report;
pub mod routes;
pub mod scenario;
pub mod sim;
pub mod stats;
pub mod topology;

use std::io::Write;

pub use report::Summary;
pub use scenario::{Scenario, ScenarioError};
pub use sim::{FixedOutcome, Sim};

/// Writes every node's books ([`stats::NodeBooks`]: what it earned, spent,
/// paid and received in late fees, lost to cuts and slashes, and what it
/// lost beyond what the protocol prices in), one JSON object per line, in
/// node order: the per-node report of a run of any size (the summary keeps
/// the worst honest nodes and the attackers).
pub fn write_books(sim: &Sim, mut w: impl Write) -> std::io::Result<()> {
    for b in &sim.stats.books {
        serde_json::to_writer(&mut w, b)?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

/// Runs a scenario to its end and returns the summary.
pub fn run(sc: Scenario, trace: Option<Box<dyn Write>>) -> Result<(Summary, Sim), ScenarioError> {
    let mut sim = Sim::new(sc, trace)?;
    sim.run();
    sim.finish();
    let edges = sim.chain.deposits.len();
    let s = Summary::build(&sim, edges);
    Ok((s, sim))
}

/// The summary as the JSON the binary prints (pretty, deterministic).
pub fn summary_json(s: &Summary) -> String {
    serde_json::to_string_pretty(s).expect("the summary is plain data")
}

/// Checks a summary against the scenario's `[expect]` section; returns the
/// failed expectations (empty when all hold).
pub fn check_expectations(sc: &Scenario, s: &Summary) -> Vec<String> {
    let e = &sc.expect;
    let mut bad = Vec::new();
    let mut eq = |what: &str, want: Option<u64>, got: u64| {
        if let Some(w) = want
            && w != got
        {
            bad.push(format!("{what}: expected {w}, got {got}"));
        }
    };
    eq("responses", e.responses, s.responses());
    eq("notices", e.notices, s.notices());
    eq("severances", e.severances, s.severances_total);
    let mut at_least = |what: &str, want: Option<u64>, got: u64| {
        if let Some(w) = want
            && got < w
        {
            bad.push(format!("{what}: expected at least {w}, got {got}"));
        }
    };
    at_least("responses", e.min_responses, s.responses());
    at_least("notices", e.min_notices, s.notices());
    at_least("severances", e.min_severances, s.severances_total);
    if let Some(w) = e.late_fees_to_requesters
        && w != s.late_to_requesters
    {
        bad.push(format!("late fees to requesters: expected {w}, got {}", s.late_to_requesters));
    }
    if let Some(w) = e.min_late_fees_paid
        && s.late_paid < w
    {
        bad.push(format!("late fees paid: expected at least {w}, got {}", s.late_paid));
    }
    if let Some(w) = e.max_late_fees_paid
        && s.late_paid > w
    {
        bad.push(format!("late fees paid: expected at most {w}, got {}", s.late_paid));
    }
    let mut want: Vec<&String> = e.partitioned.iter().collect();
    let mut got: Vec<&String> = s.partitioned.iter().collect();
    want.sort();
    got.sort();
    if want != got {
        bad.push(format!("partitioned: expected exactly {want:?}, got {got:?}"));
    }
    for n in &e.not_partitioned {
        if s.partitioned.contains(n) {
            bad.push(format!("{n} should not be partitioned"));
        }
    }
    for n in &e.not_poorer {
        match s.net_by_name.get(n) {
            Some(v) if *v < 0 => bad.push(format!("{n} lost {} yocto", -v)),
            None => bad.push(format!("no node named {n}")),
            _ => {}
        }
    }
    for (reason, want) in &e.min_refused {
        let got = s.refused.get(reason).copied().unwrap_or(0);
        if got < *want {
            bad.push(format!("{reason} refusals: expected at least {want}, got {got}"));
        }
    }
    for (reason, most) in &e.max_refused_to_honest {
        let got = s.refused_to.get("honest").and_then(|m| m.get(reason)).copied().unwrap_or(0);
        if got > *most {
            bad.push(format!("{reason} refusals to honest neighbours: expected at most {most}, got {got}"));
        }
    }
    if let Some(share) = e.min_honest_response_share {
        let [started, answered] = s.requests_by_client_class.get("honest").copied().unwrap_or([0, 0]);
        if (answered as f64) < share * started as f64 {
            bad.push(format!("honest clients: {answered} of {started} requests answered, expected a share of {share}"));
        }
    }
    for (kind, n) in &s.economics.violations_by_kind {
        if !e.economic_exceptions.contains(kind) {
            let first = s.economics.violations.iter().find(|v| &v.kind == kind);
            bad.push(format!("{kind}: {n} nodes, first: {first:?}"));
        }
    }
    if !e.violations_ok() && s.violation_count > 0 {
        bad.push(format!("{} invariant violations, first: {:?}", s.violation_count, s.violations.first()));
    }
    bad
}
