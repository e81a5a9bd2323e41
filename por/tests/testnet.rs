//! `por testnet` — what `make testnet` runs — end to end: the real binary
//! starts the devnet, three nodes as child processes, channels, demo
//! traffic and the status table, and stops everything when its time is up.

use std::process::Command;

#[test]
fn por_testnet_starts_a_network_that_answers_requests_and_stops_cleanly() {
    let wasm = concat!(env!("CARGO_MANIFEST_DIR"), "/../artifacts/por_contract.wasm");
    assert!(std::path::Path::new(wasm).exists(), "{wasm} is missing: run `make contract` (make test does it first)");
    let dir = tempfile::tempdir().unwrap();
    // Ports away from the defaults, so a developer's `make testnet` can run beside.
    let out = Command::new(env!("CARGO_BIN_EXE_por"))
        .args(["testnet", "--nodes", "3", "--for-secs", "15", "--wasm", wasm])
        .args(["--rpc-port", "3391", "--p2p-port", "4391", "--api-port", "8391", "--echo-port", "9391"])
        .args(["--metrics-port", "9491"])
        .arg("--dir")
        .arg(dir.path().join("tn"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "por testnet failed:\n{stdout}\n{stderr}");
    // The status table names every node with its API and metrics URLs (the
    // metrics listener, no token), where the API token is, and a curl line.
    for i in 0..3 {
        assert!(stdout.contains(&format!("http://127.0.0.1:{}/v1/status", 8391 + i)), "{stdout}");
        assert!(stdout.contains(&format!("http://127.0.0.1:{}/metrics", 9491 + i)), "{stdout}");
    }
    let tn = dir.path().join("tn").canonicalize().unwrap();
    let curl = format!("curl -H \"Authorization: Bearer $(cat {}/node0/api-admin.token)\"", tn.display());
    assert!(stdout.contains(&curl), "{stdout}");
    // The network page, with node 0's read-only token in the URL's fragment.
    let readonly = std::fs::read_to_string(tn.join("node0/api-readonly.token")).unwrap();
    assert!(stdout.contains(&format!("http://127.0.0.1:8391/ui#token={}", readonly.trim())), "{stdout}");
    let last = stdout.lines().rev().find(|l| l.starts_with("demo requests by outcome")).unwrap_or_default();
    let responses: u64 = last
        .split("\"response\": ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(responses >= 5, "demo traffic got too few responses: {last}\n{stdout}");
    assert!(stdout.contains("stopped every process"), "{stdout}");
    // The file share went through: node 0's file, fetched by node 2 over PoR.
    assert!(stdout.contains("fetched it over PoR: done, 4/4 blocks"), "{stdout}");
    // Every node process is gone: their API ports are free again.
    for i in 0..3 {
        assert!(std::net::TcpListener::bind(("127.0.0.1", 8391 + i)).is_ok(), "node {i}'s API port is still taken");
    }
    // Each node was initialised with a config, a 0600 key and 0600 API tokens.
    for i in 0..3 {
        let data = dir.path().join(format!("tn/node{i}"));
        assert!(data.join("por.toml").exists());
        #[cfg(unix)]
        for file in ["node.key", "api-admin.token", "api-readonly.token"] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(data.join(file)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "node {i}'s {file}");
        }
    }
}
