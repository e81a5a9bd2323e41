//! The SDK's examples run against the embedded devnet: the `server` and
//! `client` examples of `por-node` and the `file_sharing` example of
//! `por-files`, built by cargo and run as their users run them (as
//! processes, with flags), each checked by what it prints. The devnet runs
//! the real contract wasm in this process, on a free port.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use por_devnet::genesis::{self, GenesisOptions};
use por_devnet::rpc::{DevnetServer, ServerConfig};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The workspace's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Builds the examples with the cargo that runs this test (same target
/// directory) and returns their executables by name.
fn build_examples() -> std::collections::HashMap<String, PathBuf> {
    let mut cargo = std::process::Command::new(env!("CARGO"));
    // What cargo set for this test (the package's name and paths) is not
    // the examples' build: build scripts that watch such variables would
    // run again, and every crate above them be rebuilt.
    for (k, _) in std::env::vars() {
        let this_package = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_CRATE_", "CARGO_BIN_", "CARGO_PRIMARY_PACKAGE"]
            .iter()
            .any(|p| k.starts_with(p));
        if this_package || k == "CARGO_TARGET_TMPDIR" || k == "OUT_DIR" {
            cargo.env_remove(k);
        }
    }
    let out = cargo
        .current_dir(root())
        .args(["build", "-p", "por-node", "-p", "por-files", "--example", "server", "--example", "client"])
        .args(["--example", "file_sharing", "--message-format=json"])
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "building the examples failed");
    let mut exes = std::collections::HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if v["reason"] == "compiler-artifact"
            && v["target"]["kind"][0] == "example"
            && let Some(exe) = v["executable"].as_str()
        {
            exes.insert(v["target"]["name"].as_str().unwrap().to_string(), PathBuf::from(exe));
        }
    }
    for name in ["server", "client", "file_sharing"] {
        assert!(exes.contains_key(name), "cargo built no example {name}: {exes:?}");
    }
    exes
}

/// A child process whose stdout lines are collected as they come.
struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Running {
    fn spawn(exe: &Path, args: &[&str]) -> Running {
        let mut child = Command::new(exe)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let l = lines.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                l.lock().unwrap().push(line);
            }
        });
        Running { child, lines }
    }

    fn text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// The first line containing `what`, waiting up to `within` for it.
    async fn line(&mut self, what: &str, within: Duration) -> String {
        let end = tokio::time::Instant::now() + within;
        loop {
            if let Some(l) = self.lines.lock().unwrap().iter().find(|l| l.contains(what)) {
                return l.clone();
            }
            if let Ok(Some(s)) = self.child.try_wait() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                panic!("exited ({s}) before printing {what:?}:\n{}", self.text());
            }
            assert!(tokio::time::Instant::now() < end, "no {what:?} within {within:?}:\n{}", self.text());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the process to exit successfully.
    async fn success(&mut self, within: Duration) -> String {
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("still running after {within:?}:\n{}", self.text()))
            .unwrap();
        // The reader task may still hold the last lines.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(status.success(), "exited with {status}:\n{}", self.text());
        self.text()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_examples_run_against_the_devnet() {
    let exes = tokio::task::spawn_blocking(build_examples).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let wasm = root().join("artifacts/por_contract.wasm");
    assert!(wasm.exists(), "{} is missing: run `make contract` (make test does it first)", wasm.display());
    let opened = genesis::open_or_create(
        &tmp.path().join("devnet"),
        &GenesisOptions { wasm, accounts: 4, ..Default::default() },
    )
    .unwrap();
    let srv = DevnetServer::start(opened.chain, ServerConfig::default()).await.unwrap();
    let rpc = srv.url();
    let key = |i: usize| tmp.path().join(format!("devnet/keys/node{i}.devnet.json")).display().to_string();
    let dir = |name: &str| tmp.path().join(name).display().to_string();

    // The server registers, prints where it is, and serves.
    let mut server = Running::spawn(
        &exes["server"],
        &["--key", &key(0), "--rpc", &rpc, "--dir", &dir("server"), "--for-secs", "300"],
    );
    let ready = server.line("server ready:", Duration::from_secs(60)).await;
    let words: Vec<&str> = ready.split_whitespace().collect();
    let (server_key, server_addr) = (words[3], words[5]);
    assert!(server_addr.contains("/p2p/"), "{ready}");

    // The client opens a channel to it and gets an answer, paid.
    let mut client = Running::spawn(
        &exes["client"],
        &[
            "--key",
            &key(1),
            "--rpc",
            &rpc,
            "--dir",
            &dir("client"),
            "--server-account",
            "node0.devnet",
            "--server-key",
            server_key,
            "--bootstrap",
            server_addr,
        ],
    );
    let out = client.success(Duration::from_secs(120)).await;
    assert!(out.contains("client: reply 200 HELLO FROM THE CLIENT"), "{out}");
    assert!(out.contains("client event: channel_opened channel="), "{out}");
    assert!(out.contains(&format!("peer={server_key}")), "{out}");
    let paid = out.lines().find(|l| l.starts_with("client: paid ")).unwrap_or_else(|| panic!("{out}"));
    let amount: u128 = paid.split_whitespace().nth(2).unwrap().parse().unwrap();
    // One edge: 10^12 per message, 10^6 per byte of body (21) and allowance (1024).
    assert_eq!(amount, 1_000_000_000_000 + 1_000_000 * (21 + 1024), "{paid}");
    assert!(paid.ends_with("over 1 hop(s)"), "{paid}");

    // The server saw the channel open and the request served, as events.
    server.line("server event: channel_opened", Duration::from_secs(10)).await;
    let served = server.line("server event: request_served", Duration::from_secs(10)).await;
    assert!(served.ends_with("service=upper status=200"), "{served}");
    server.child.start_kill().unwrap();

    // File sharing: a provider and a fetcher, a channel, a verified download.
    let mut files = Running::spawn(
        &exes["file_sharing"],
        &["--provider-key", &key(2), "--fetcher-key", &key(3), "--rpc", &rpc, "--dir", &dir("files")],
    );
    let out = files.success(Duration::from_secs(180)).await;
    assert!(out.contains("provider: added "), "{out}");
    assert!(out.contains("fetcher event: channel_opened"), "{out}");
    let fetched = out.lines().find(|l| l.starts_with("fetcher: fetched ")).unwrap_or_else(|| panic!("{out}"));
    assert!(fetched.contains("fetched 1048576 bytes") && fetched.contains("verified"), "{fetched}");
    let spent: u128 = fetched.rsplit(' ').nth(1).unwrap().parse().unwrap();
    assert!(spent > 0 && spent <= 1_000_000_000_000_000_000_000, "{fetched}");
}
