//! Joining the local devnet is one command: with `por testnet` running on
//! its default devnet ports, a fresh data directory, `por init --network
//! devnet` and `por node run` give a node that finds the bootstrap peer,
//! is ready, opens a channel and gets a paid request answered across the
//! network, with no file written by hand. (The devnet preset points at
//! fixed ports, 3030 for the RPC and 4101 for node 0: this test needs them
//! free.)

mod cli_common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cli_common::{Node, free_port, por, text};
use por::config::network::{DEVNET_P2P_PORT, DEVNET_RPC_PORT};
use serde_json::Value;

/// `por testnet` as a child; stopped with SIGINT (so it stops its nodes) when dropped.
struct Testnet {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Testnet {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-INT").arg(self.child.id().to_string()).status();
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json_of(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

fn wait_for(what: &str, within: Duration, mut f: impl FnMut() -> Result<(), String>) {
    let end = Instant::now() + within;
    loop {
        match f() {
            Ok(()) => return,
            Err(e) if Instant::now() > end => panic!("timed out waiting until {what}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

fn start_testnet(dir: &Path) -> Testnet {
    for port in [DEVNET_RPC_PORT, DEVNET_P2P_PORT, DEVNET_P2P_PORT + 1] {
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "port {port} is taken: the devnet preset needs it (is a `make testnet` running?)"
        );
    }
    let wasm = concat!(env!("CARGO_MANIFEST_DIR"), "/../artifacts/por_contract.wasm");
    assert!(Path::new(wasm).exists(), "{wasm} is missing: run `make contract` (make test does it first)");
    let log = dir.join("testnet.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_por"))
        .args(["testnet", "--nodes", "2", "--for-secs", "600", "--wasm", wasm])
        .args(["--api-port", "8471", "--metrics-port", "9571", "--echo-port", "9471"])
        .arg("--dir")
        .arg(dir.join("tn"))
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut t = Testnet { child, log };
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let printed = std::fs::read_to_string(&t.log).unwrap_or_default();
        // The status table shows once channels are open and traffic runs.
        if printed.contains("demo requests:") {
            return t;
        }
        if let Ok(Some(s)) = t.child.try_wait() {
            panic!("por testnet exited ({s}):\n{printed}");
        }
        assert!(Instant::now() < end, "por testnet did not come up within 120 s:\n{printed}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn init_with_the_devnet_preset_and_run_gives_a_working_node() {
    let tmp = tempfile::tempdir().unwrap();
    let testnet = start_testnet(tmp.path());
    let data = tmp.path().join("fresh");
    let key = tmp.path().join("tn/devnet/keys/node2.devnet.json");
    let api = format!("127.0.0.1:{}", free_port());
    // One command: nothing about the devnet (RPC, contract, bootstrap peer)
    // is given; only this node's own account and addresses.
    let o = por(
        tmp.path(),
        &["init", "--network", "devnet", "--data-dir", data.to_str().unwrap(), "--account", "node2.devnet"],
        &[],
    );
    assert!(!o.status.success(), "--account needs --account-key: {}", text(&o));
    let o = por(
        tmp.path(),
        &[
            "init",
            "--network",
            "devnet",
            "--data-dir",
            data.to_str().unwrap(),
            "--account",
            "node2.devnet",
            "--account-key",
            key.to_str().unwrap(),
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--api",
            &api,
            "--output",
            "json",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let init = json_of(&o);
    assert!(init["registration"].as_str().unwrap().starts_with("registered now"), "{init}");
    let config = data.join("por.toml");
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(written.contains("network = \"devnet\"") && !written.contains("rpc ="), "{written}");

    // `config show` says where the devnet settings come from.
    let cfg = config.to_str().unwrap();
    let o = por(tmp.path(), &["config", "show", "--config", cfg, "--output", "json"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let shown = json_of(&o);
    assert_eq!(shown["settings"]["chain.rpc"]["source"], "network devnet", "{shown}");
    assert_eq!(
        shown["settings"]["chain.rpc"]["value"],
        serde_json::json!([format!("http://127.0.0.1:{DEVNET_RPC_PORT}")])
    );
    assert_eq!(shown["settings"]["node.bootstrap"]["source"], "network devnet");
    assert!(shown["settings"]["chain.account"]["source"].as_str().unwrap().starts_with("file "), "{shown}");

    let node = Node::start(&config, tmp.path().join("node.log")).unwrap_or_else(|out| panic!("{out}"));

    // It finds node 0 through the preset's bootstrap peer, and is ready.
    let status = |tmp: &Path| {
        let o = por(tmp, &["status", "--config", cfg, "--output", "json"], &[]);
        if o.status.success() { Ok(json_of(&o)) } else { Err(text(&o)) }
    };
    wait_for("the node is connected to the devnet's nodes", Duration::from_secs(30), || {
        let s = status(tmp.path())?;
        if s["status"]["peers"].as_u64().unwrap_or(0) >= 1 { Ok(()) } else { Err(s.to_string()) }
    });
    wait_for("/readyz answers 200", Duration::from_secs(30), || {
        let code = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &format!("http://{api}/readyz")])
            .output()
            .map_err(|e| e.to_string())?;
        let code = String::from_utf8_lossy(&code.stdout).to_string();
        if code == "200" { Ok(()) } else { Err(code) }
    });

    // A channel to node 0 (its agent confirms it), then a paid request to
    // node 1 across it.
    let deposit = (1_000_000_000_000_000_000_000_000u128 + 10_000_000_000_000_000_000_000).to_string();
    let o = por(
        tmp.path(),
        &[
            "channel",
            "open",
            "--config",
            cfg,
            "--peer",
            "node0.devnet",
            "--deposit",
            &deposit,
            "--latency-ms",
            "50",
            "--base-fee",
            "1000000",
        ],
        &[],
    );
    assert!(o.status.success(), "{}\n{}", text(&o), node.output());
    wait_for("the channel is open and tracked", Duration::from_secs(60), || {
        let s = status(tmp.path())?;
        if s["channels"].as_array().is_some_and(|c| !c.is_empty()) { Ok(()) } else { Err(s.to_string()) }
    });
    wait_for("a request to node 1 is answered", Duration::from_secs(60), || {
        let o = por(
            tmp.path(),
            &[
                "request",
                "--config",
                cfg,
                "--to",
                "node1.devnet",
                "--service",
                "echo",
                "--body",
                "hi",
                "--output",
                "json",
            ],
            &[],
        );
        let v: Value = serde_json::from_slice(&o.stdout).map_err(|_| text(&o))?;
        if v["outcome"] == "response" { Ok(()) } else { Err(v.to_string()) }
    });
    drop(node);
    // Ctrl-C stops `por testnet` and every node it started (also with --for-secs).
    drop(testnet);
    for port in [DEVNET_RPC_PORT, DEVNET_P2P_PORT, DEVNET_P2P_PORT + 1] {
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(), "port {port} still taken after Ctrl-C");
    }
}
