//! Shared by the tests that drive the real `por` binary: run a command, or
//! a `por node run` child that is killed when dropped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs `por args…` in `cwd` with `env` (and no `POR_API_TOKEN` of the caller's).
pub fn por(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_por"));
    c.args(args).current_dir(cwd).env_remove("POR_API_TOKEN");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A `por node run` child, killed when dropped; its output in a file.
pub struct Node {
    pub child: Child,
    pub log: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// Starts the node of `config` and waits until it prints its metrics line
    /// (its last line at start), or until it exits.
    pub fn start(config: &Path, log: PathBuf) -> Result<Node, String> {
        Node::start_with(&["--config", config.to_str().unwrap()], &[("RUST_LOG", "info")], log)
    }

    /// As [`start`](Self::start), with `por node run ARGS…` and `env`.
    pub fn start_with(args: &[&str], env: &[(&str, &str)], log: PathBuf) -> Result<Node, String> {
        let out = std::fs::File::create(&log).unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_por"));
        c.args(["node", "run"]).args(args).env_remove("RUST_LOG");
        for (k, v) in env {
            c.env(k, v);
        }
        let child = c.stdout(out.try_clone().unwrap()).stderr(out).stdin(Stdio::null()).spawn().unwrap();
        let mut node = Node { child, log };
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let printed = node.output();
            if printed.lines().any(|l| l.starts_with("metrics ")) {
                return Ok(node);
            }
            if node.child.try_wait().unwrap().is_some() {
                return Err(printed);
            }
            assert!(Instant::now() < end, "the node did not start within 30 s:\n{printed}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
