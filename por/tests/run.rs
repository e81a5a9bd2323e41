//! A node from a configuration file: key created once and kept, API up,
//! configured HTTP service served, clean shutdown.

use por::config::FileConfig;

#[tokio::test]
async fn launch_from_config_keeps_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[node]\ndata_dir = {:?}\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\n[api]\nlisten = \"127.0.0.1:0\"\n[services]\nweb = \"http://127.0.0.1:9/x\"\n",
        dir.path().display().to_string()
    );
    let cfg = FileConfig::parse(&text).unwrap();
    let first = por::run::launch(&cfg, [5; 32]).await.unwrap();
    let id = first.node.peer_id;
    first.node.handle.shutdown().await;
    first.node.task.await.unwrap();
    let again = por::run::launch(&cfg, [6; 32]).await.unwrap();
    assert_eq!(again.node.peer_id, id, "the key file wins over a fresh seed");
    let status = tokio::net::TcpStream::connect(again.api_addr).await;
    assert!(status.is_ok(), "the API listens");
}

/// `por node run` stops cleanly on SIGTERM (systemd, Docker and Kubernetes
/// stop a service so) and on SIGINT: exit status 0 within seconds, and the
/// node's store opens again.
#[test]
fn node_run_stops_cleanly_on_sigterm_and_sigint() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("por.toml");
    let text = format!(
        "[node]\ndata_dir = {:?}\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\n[api]\nlisten = \"127.0.0.1:0\"\n",
        dir.path().join("data").display().to_string()
    );
    std::fs::write(&config, text).unwrap();
    for signal in ["-TERM", "-INT"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_por"))
            .args(["node", "run", "--config"])
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Running once it prints its API address.
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert!(lines.any(|l| l.unwrap().starts_with("api ")), "the node started");
        let killed = Command::new("kill").arg(signal).arg(child.id().to_string()).status().unwrap();
        assert!(killed.success());
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "still running 20 s after {signal}");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "{signal}: {status}");
    }
}
