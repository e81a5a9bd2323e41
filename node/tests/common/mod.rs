//! Shared harness for node tests: real nodes on 127.0.0.1, channels set up
//! on both sides as the chain follower would.
#![allow(dead_code)]

mod until;
#[allow(unused_imports)] // not every test that shares this module waits
pub use until::until;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use por_core::protocol::{ChannelSetup, Delivery};
use por_core::{ChannelId, EdgeParams, Route, RouteHop};
use por_node::{NodeConfig, Reply, RunningNode, ServiceRequest, start};

pub struct Net {
    pub nodes: Vec<RunningNode>,
    _dirs: Vec<tempfile::TempDir>,
}

/// Starts `n` nodes with seeds 1..=n.
pub async fn spawn_network(n: u8) -> Net {
    spawn_network_with(n, |_, _| {}).await
}

/// Starts `n` nodes with seeds 1..=n, node `i`'s config set by `tune(i, …)`.
pub async fn spawn_network_with(n: u8, tune: impl Fn(usize, &mut NodeConfig)) -> Net {
    let mut nodes = Vec::new();
    let mut dirs = Vec::new();
    for i in 1..=n {
        let dir = tempfile::tempdir().unwrap();
        let mut registry = prometheus_client::registry::Registry::default();
        let mut cfg = NodeConfig::new(dir.path());
        // These nodes have no chain to check routes against (test-only: a
        // node with a chain never trusts a route's terms). A test that
        // publishes a graph (`NodeHandle::set_graph`) gets the checks.
        cfg.protocol.limits.trust_route_terms = true;
        tune(usize::from(i - 1), &mut cfg);
        nodes.push(start(cfg, [i; 32], &mut registry).await.unwrap());
        dirs.push(dir);
    }
    Net { nodes, _dirs: dirs }
}

pub const DEPOSIT: u128 = 1_000_000_000;

impl Net {
    /// Opens channel `id` between nodes `a` and `b` with `latency_ms`.
    pub async fn link(&self, a: usize, b: usize, id: u64, latency_ms: u64) {
        for (x, y) in [(a, b), (b, a)] {
            let setup = ChannelSetup {
                channel: ChannelId(id),
                remote: self.nodes[y].key,
                local_deposit: DEPOSIT,
                remote_deposit: DEPOSIT,
                latency_ms,
                sync_ms: Some(100),
            };
            self.nodes[x].handle.add_channel(setup, self.nodes[y].listen_addrs.clone()).await.unwrap();
        }
    }

    /// Node `i` dies at once (its event loop is aborted: nothing is flushed,
    /// as under `kill -9`), stays down for `down`, and starts again from its
    /// data directory on the same address.
    pub async fn crash_and_restart(&mut self, i: usize, down: Duration) {
        let dir = self._dirs[i].path().to_path_buf();
        self.crash_and_restart_in(i, down, &dir, || {}).await;
    }

    /// The same for a node whose data directory is `dir`, calling `meanwhile`
    /// while it is down.
    pub async fn crash_and_restart_in(&mut self, i: usize, down: Duration, dir: &Path, meanwhile: impl FnOnce()) {
        let old = &self.nodes[i];
        old.task.abort();
        let listen = old.listen_addrs.clone();
        let seed = [i as u8 + 1; 32];
        tokio::time::sleep(down).await;
        meanwhile();
        let mut cfg = NodeConfig::new(dir);
        cfg.protocol.limits.trust_route_terms = true;
        cfg.listen = listen;
        let mut registry = prometheus_client::registry::Registry::default();
        self.nodes[i] = start(cfg, seed, &mut registry).await.unwrap();
    }

    /// A route from node `path[0]` through `path[1..]` over `channels`.
    pub fn route(&self, path: &[usize], channels: &[u64], params: EdgeParams, service_ms: u64) -> Route {
        Route {
            hops: path[1..]
                .iter()
                .zip(channels)
                .map(|(&n, &c)| RouteHop { channel: ChannelId(c), node: self.nodes[n].key, params })
                .collect(),
            service_ms,
        }
    }

    /// Node `i` serves `echo`, answering with the body it got.
    pub async fn serve_echo(&self, i: usize) {
        let svc = Arc::new(|r: ServiceRequest| async move { Reply::ok(r.body) });
        self.nodes[i].handle.serve("echo", svc).await.unwrap();
    }
}

/// Waits for the terminal outcome of a request, collecting everything before.
pub async fn outcome(rx: &mut tokio::sync::mpsc::Receiver<Delivery>, within: Duration) -> Vec<Delivery> {
    let mut seen = Vec::new();
    let _ = tokio::time::timeout(within, async {
        while let Some(d) = rx.recv().await {
            let terminal = matches!(d, Delivery::Response { .. } | Delivery::Notice { .. });
            seen.push(d);
            if terminal {
                return;
            }
        }
    })
    .await;
    seen
}

/// An HTTP answer: status, head (lowercase) and body (chunk sizes removed).
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    /// The body as JSON (`null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }

    /// The JSON error's stable `code` (empty when there is none).
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_string()
    }
}

/// Sends one HTTP request over a new connection, with every header the
/// caller's: `first` is the request line, `head_lines` end in CRLF (no
/// `Content-Length`, added here). Reads the answer until the server closes,
/// within 30 s.
pub async fn raw_http(addr: std::net::SocketAddr, first: &str, head_lines: &str, body: &[u8]) -> Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("{first}\r\n{head_lines}Connection: close\r\nContent-Length: {}\r\n\r\n", body.len());
    s.write_all(req.as_bytes()).await.unwrap();
    // The server may answer and close before reading an oversized body.
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    let _ =
        tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out)).await.expect("an answer within 30 s");
    parse_http(&out)
}

/// Parses a whole HTTP/1.1 answer.
pub fn parse_http(out: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(out).to_string();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let head = head.to_ascii_lowercase();
    // Chunked bodies: keep it simple by dropping the chunk-size lines.
    let body = if head.contains("transfer-encoding: chunked") {
        body.lines().filter(|l| u64::from_str_radix(l.trim(), 16).is_err()).collect::<Vec<_>>().join("\n")
    } else {
        body.to_string()
    };
    Answer { status, head, body }
}

/// The tokens of every API [`serve_http`] serves (fixed: tests only).
pub fn tokens() -> por_node::api::auth::ApiTokens {
    por_node::api::auth::ApiTokens::from_bytes([0xad; 32], [0x5e; 32])
}

/// An `Authorization` header line (CRLF-terminated) with the admin token.
pub fn admin_auth() -> String {
    format!("Authorization: {}\r\n", tokens().admin.bearer())
}

/// An `Authorization` header line (CRLF-terminated) with the read-only token.
pub fn readonly_auth() -> String {
    format!("Authorization: {}\r\n", tokens().readonly.bearer())
}

/// A JSON request from loopback as the `por` CLI sends it, with the admin token.
pub async fn json_http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> Answer {
    let head = format!("Host: {addr}\r\nContent-Type: application/json\r\n{}", admin_auth());
    raw_http(addr, &format!("{method} {path} HTTP/1.1"), &head, body.as_bytes()).await
}

/// Serves `app` on a loopback port behind the API's guard with [`tokens`],
/// as `por node run` serves its routers with the node's.
pub async fn serve_http(app: axum::Router) -> std::net::SocketAddr {
    let guard = por_node::api::GuardConfig::default().with_tokens(tokens());
    serve_raw(por_node::api::guard(app, guard)).await
}

/// Serves `app` on a loopback port as it is (its own guard decides).
pub async fn serve_raw(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A tmpfs of a few MiB mounted on a fresh directory; unmounted on drop.
pub struct Tmpfs {
    pub dir: PathBuf,
}

impl Tmpfs {
    pub fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "this test needs root to mount a tmpfs on {} (it runs the store on a disk that fills up): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir: dir.to_path_buf() }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: files still open (a store not yet dropped) do not keep it mounted.
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Writes a file in `dir` until the filesystem is full; returns its path.
pub fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    use std::io::Write;
    let chunk = vec![0xa5u8; 4096];
    loop {
        match f.write_all(&chunk) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    let _ = f.sync_all();
    path
}
