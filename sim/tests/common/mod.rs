//! Shared helpers of the simulator's tests.
#![allow(dead_code)]

use std::cell::RefCell;
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;

use por_sim::{Scenario, Summary, run, summary_json};

/// A trace sink the test can read back.
#[derive(Clone, Default)]
pub struct Buf(pub Rc<RefCell<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The shipped scenario `name` (without `.toml`).
pub fn scenario(name: &str) -> Scenario {
    Scenario::load(&scenario_dir().join(format!("{name}.toml"))).unwrap()
}

/// `sim/scenarios/`.
pub fn scenario_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// Runs with a trace; returns the summary, its JSON and the trace lines.
pub fn run_traced(sc: Scenario) -> (Summary, String, Vec<serde_json::Value>) {
    let buf = Buf::default();
    let (s, mut sim) = run(sc, Some(Box::new(buf.clone()))).unwrap();
    sim.flush_trace().unwrap();
    let text = String::from_utf8(buf.0.borrow().clone()).unwrap();
    let lines = text.lines().map(|l| serde_json::from_str(l).expect("every trace line is JSON")).collect();
    let json = summary_json(&s);
    (s, json, lines)
}
