//! `por-sim`: run a scenario file, print the JSON summary.
//!
//! ```text
//! por-sim run sim/scenarios/paper-5-2-sever-at-once.toml [--seed N] [--trace FILE] [--plot FILE.svg] [--check]
//! por-sim bench [--nodes 1000,10000,100000] [--requests N]
//! ```

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};

/// A faster allocator: the simulator allocates and frees millions of small
/// messages per second of wall time.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Parser, Subcommand};
use por_sim::{Scenario, check_expectations, run, summary_json};

#[derive(Parser)]
#[command(name = "por-sim", about = "Proof of Response simulator: the real protocol engine in virtual time")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a scenario and print its summary as JSON.
    Run {
        /// The scenario (TOML).
        scenario: PathBuf,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Write one JSON event per line to this file.
        #[arg(long)]
        trace: Option<PathBuf>,
        /// Draw late fees over time and outcomes per class to this SVG.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Exit non-zero if the scenario's [expect] section fails.
        #[arg(long)]
        check: bool,
        /// Write every node's books, one JSON object per line, to this file.
        #[arg(long)]
        books: Option<PathBuf>,
    },
    /// Time generated networks of several sizes (release build advised).
    Bench {
        /// Node counts, comma-separated.
        #[arg(long, default_value = "1000,10000,100000", value_delimiter = ',')]
        nodes: Vec<u32>,
        /// Requests per run.
        #[arg(long, default_value_t = 1_000_000)]
        requests: u64,
    },
}

/// mimalloc returns pages that stayed free for 10 ms to the OS. The
/// simulator frees and allocates messages and requests all the time, so with
/// that default it faults (and zeroes) the same memory back in over and over:
/// about 13 % of a 10,000-node run's CPU. The option is read when the
/// allocator starts, before `main`, so the binary sets it in its environment
/// and starts itself again (once; an explicit setting is left alone).
const PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";

fn main() -> anyhow::Result<()> {
    if std::env::var_os(PURGE_DELAY).is_none()
        && let Ok(exe) = std::env::current_exe()
    {
        let status = std::process::Command::new(exe).args(std::env::args_os().skip(1)).env(PURGE_DELAY, "-1").status();
        if let Ok(status) = status {
            std::process::exit(status.code().unwrap_or(1));
        }
    }
    match Cli::parse().cmd {
        Cmd::Run { scenario, seed, trace, plot, check, books } => {
            let mut sc = Scenario::load(&scenario)?;
            if let Some(s) = seed {
                sc.seed = s;
            }
            let tw: Option<Box<dyn Write>> = match &trace {
                Some(p) => Some(Box::new(BufWriter::new(
                    std::fs::File::create(p).with_context(|| format!("creating trace file {}", p.display()))?,
                ))),
                None => None,
            };
            let (summary, mut sim) = run(sc.clone(), tw)?;
            sim.flush_trace().context("writing the trace")?;
            println!("{}", summary_json(&summary));
            if let Some(p) = books {
                let f = std::fs::File::create(&p).with_context(|| format!("creating books file {}", p.display()))?;
                por_sim::write_books(&sim, BufWriter::new(f)).with_context(|| format!("writing {}", p.display()))?;
            }
            if let Some(p) = plot {
                por_sim::plot::draw(&summary, &p.display().to_string())?;
            }
            if check {
                let bad = check_expectations(&sc, &summary);
                if !bad.is_empty() {
                    bail!("expectations failed:\n  {}", bad.join("\n  "));
                }
            }
        }
        Cmd::Bench { nodes, requests } => {
            for n in nodes {
                let sc = por_sim::scenario::bench_scenario(n, requests);
                let t = Instant::now();
                let (s, _) = run(sc, None)?;
                let secs = t.elapsed().as_secs_f64();
                println!(
                    "nodes={n} requests={} events={} responses={} notices={} violations={} wall_s={secs:.2}",
                    s.requests.sent,
                    s.events(),
                    s.responses(),
                    s.notices(),
                    s.violation_count
                );
            }
        }
    }
    Ok(())
}
