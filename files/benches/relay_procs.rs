//! Files through one relay, every node its own process, each process's CPU
//! measured on its own (issue #20).
//!
//! Two transfers of the same file, side by side, in every run:
//!
//! - **direct**: a plain libp2p request-response between two processes
//!   (TCP + noise + yamux, a raw length-prefixed codec, 1 MiB chunks read
//!   from the file, 4 in flight), with nothing of PoR in it;
//! - **PoR**: a requester, a relay and a server, three processes; the
//!   requester fetches the file from the server through the relay
//!   (`Files::fetch`: paid requests of 4 blocks = 1 MiB, 4 in flight,
//!   proofs, verification, writes to its store).
//!
//! Each process's CPU time is read from `/proc/<pid>/stat` (utime + stime,
//! every thread) right before and right after the transfer, so set-up
//! (starting nodes, adding the file) is not counted.
//!
//! Where:
//!
//! - **loopback** (always): every process on 127.0.0.1. The figure is the
//!   relay process's CPU per MiB against one end of the direct transfer (the
//!   mean of its two processes).
//! - **network namespaces** (`--netns PREFIX`, set up by
//!   `files/benches/netns/run.sh`, which needs root): the requester in
//!   `PREFIX-req` (10.201.1.1), the relay in `PREFIX-rel` (10.201.1.2 and
//!   10.201.2.2, IP forwarding on), the server in `PREFIX-srv`
//!   (10.201.2.1), joined by two veth pairs each shaped with `tbf` to
//!   200 Mbit/s both ways. The direct transfer runs between the requester's
//!   and the server's namespaces through the relay's, forwarded by its
//!   kernel: the same two links. The figure is PoR's throughput over the
//!   direct one.
//!
//! `cargo bench -p por-files --bench relay_procs [-- --netns PREFIX]`;
//! `RELAY_BENCH_MIB` (default 256) and `RELAY_BENCH_RUNS` (default 3) change
//! the size and the number of runs. Without `--bench` (as `cargo test
//! --all-targets` runs it) it is a smoke test: 4 MiB, one run, loopback.
//!
//! The same binary is each node: `relay_procs node|direct-server|direct-client
//! ...` (the driver starts them; they talk JSON lines on stdin and stdout).

#[path = "../../node/benches/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{AsyncReadExt as _, AsyncWriteExt as _, StreamExt};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, noise, tcp, yamux};
use por_core::protocol::ChannelSetup;
use por_core::{ChannelId, EdgeParams, NodeKey, NodeSigner, Route, RouteHop, Signer};
use por_files::{ContentId, FetchOptions, Files, FilesConfig, FixedRoutes, Progress};
use por_node::{NodeConfig, start};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

/// The file layer's request size: 4 blocks of 256 KiB.
const CHUNK: usize = 1 << 20;
/// The fetcher's default requests in flight per provider.
const IN_FLIGHT: u64 = 4;
const EDGE: EdgeParams = EdgeParams { latency_ms: 100, base_fee: 1_000, byte_fee: 0 };
const SERVICE_MS: u64 = 1_000;
/// The namespaces' addresses (the same as in `netns/run.sh`).
const REQ_IP: &str = "10.201.1.1";
const REL_IP_REQ: &str = "10.201.1.2";
const REL_IP_SRV: &str = "10.201.2.2";
const SRV_IP: &str = "10.201.2.1";
const POR_PORT: u16 = 4001;
const DIRECT_PORT: u16 = 4002;
/// Set in every child's environment (to its role).
const CHILD_ENV: &str = "RELAY_PROCS_ROLE";
/// The requester's, the relay's and the server's key seeds.
const SEEDS: [u8; 3] = [1, 2, 3];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some(role @ ("node" | "direct-server" | "direct-client")) => {
            if std::env::var_os("RUST_LOG").is_some() {
                let _ = tracing_subscriber::fmt()
                    .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                    .with_writer(std::io::stderr)
                    .try_init();
            }
            let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
            let opts = Opts::parse(&args[2..]);
            let r = rt.block_on(async {
                match role {
                    "node" => node_role(opts).await,
                    "direct-server" => direct_server(opts).await,
                    _ => direct_client(opts).await,
                }
            });
            if let Err(e) = r {
                say(&json!({ "error": format!("{role}: {e:#}") }));
                std::process::exit(1);
            }
        }
        _ => driver(&args),
    }
}

/// `--key value` pairs.
struct Opts(Vec<(String, String)>);

impl Opts {
    fn parse(args: &[String]) -> Opts {
        Opts(args.chunks(2).map(|kv| (kv[0].trim_start_matches('-').to_string(), kv[1].clone())).collect())
    }
    fn get(&self, k: &str) -> anyhow::Result<&str> {
        self.0.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str()).ok_or_else(|| anyhow::anyhow!("no --{k}"))
    }
    fn all(&self, k: &str) -> Vec<&str> {
        self.0.iter().filter(|(key, _)| key == k).map(|(_, v)| v.as_str()).collect()
    }
}

/// One JSON line on stdout, to the driver.
fn say(v: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

fn key_of(seed: u8) -> NodeKey {
    NodeSigner::from_seed([seed; 32]).public()
}

// ---------------------------------------------------------------- PoR node

/// A PoR node: prints its listen addresses, then answers `link`, `serve`
/// and `fetch` commands until stdin closes.
async fn node_role(o: Opts) -> anyhow::Result<()> {
    let seed: u8 = o.get("seed")?.parse()?;
    let dir = PathBuf::from(o.get("dir")?);
    let mut cfg = NodeConfig::new(dir.join("node"));
    cfg.listen = o.all("listen").iter().map(|a| a.parse()).collect::<Result<_, _>>()?;
    // No chain in the bench: trust the routes' terms (test-only).
    cfg.protocol.limits.trust_route_terms = true;
    let mut registry = prometheus_client::registry::Registry::default();
    let node = start(cfg, [seed; 32], &mut registry).await?;
    say(&json!({ "listen": node.listen_addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>() }));
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    // Kept alive while the node runs: it serves the `files` service.
    let mut files: Vec<Files> = Vec::new();
    while let Some(line) = lines.next_line().await? {
        let cmd: Value = serde_json::from_str(&line)?;
        match cmd["cmd"].as_str().unwrap_or_default() {
            "link" => {
                let setup = ChannelSetup {
                    channel: ChannelId(cmd["channel"].as_u64().unwrap_or_default()),
                    remote: key_of(cmd["remote_seed"].as_u64().unwrap_or_default() as u8),
                    local_deposit: u128::MAX / 4,
                    remote_deposit: u128::MAX / 4,
                    latency_ms: EDGE.latency_ms,
                    sync_ms: Some(500),
                };
                let addrs =
                    cmd["addrs"].as_array().into_iter().flatten().filter_map(|a| a.as_str()?.parse().ok()).collect();
                node.handle.add_channel(setup, addrs).await.map_err(|e| anyhow::anyhow!("add_channel: {e:?}"))?;
                say(&json!({ "ok": true }));
            }
            "serve" => {
                let path = PathBuf::from(cmd["path"].as_str().unwrap_or_default());
                let share = path.parent().map(Path::to_path_buf).unwrap_or_default();
                let cfg = FilesConfig { share_dirs: vec![share], ..FilesConfig::new(&dir.join("p")) };
                let f = Files::start(cfg, node.handle.clone(), Arc::new(FixedRoutes::new())).await?;
                let id = f.add(&path).await?.id;
                files.push(f);
                say(&json!({ "id": id.to_hex() }));
            }
            "fetch" => {
                let id: ContentId =
                    cmd["id"].as_str().unwrap_or_default().parse().map_err(|e| anyhow::anyhow!("{e}"))?;
                let hops = cmd["hops"].as_array().into_iter().flatten().map(|h| RouteHop {
                    channel: ChannelId(h[0].as_u64().unwrap_or_default()),
                    node: key_of(h[1].as_u64().unwrap_or_default() as u8),
                    params: EDGE,
                });
                let route = Route { hops: hops.collect(), service_ms: SERVICE_MS };
                let server = *route.server().ok_or_else(|| anyhow::anyhow!("an empty route"))?;
                let f = Files::start(
                    FilesConfig::new(&dir.join("f")),
                    node.handle.clone(),
                    Arc::new(FixedRoutes::new().with(route)),
                )
                .await?;
                let mut opts = FetchOptions::new(u128::MAX / 8);
                opts.providers = vec![server];
                let (tx, _rx) = tokio::sync::watch::channel(Progress::default());
                let t = Instant::now();
                let report = f.fetch(id, &opts, &tx).await?;
                let secs = t.elapsed().as_secs_f64();
                anyhow::ensure!(
                    report.blocks == report.fetched_blocks,
                    "only {} blocks fetched",
                    report.fetched_blocks
                );
                files.push(f);
                say(&json!({ "secs": secs, "bytes": report.size }));
            }
            other => anyhow::bail!("unknown command {other:?}"),
        }
    }
    node.handle.shutdown().await;
    Ok(())
}

// ------------------------------------------------------ direct libp2p pair

/// Requests are a chunk number (8 bytes); responses a 4-byte length and
/// the chunk's bytes. Nothing else: the plain transfer PoR is measured
/// against.
#[derive(Clone, Default)]
struct RawChunks;

impl request_response::Codec for RawChunks {
    type Protocol = StreamProtocol;
    type Request = u64;
    type Response = Vec<u8>;

    async fn read_request<T: futures::AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<u64> {
        let mut b = [0u8; 8];
        io.read_exact(&mut b).await?;
        Ok(u64::from_be_bytes(b))
    }

    async fn read_response<T: futures::AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        let mut l = [0u8; 4];
        io.read_exact(&mut l).await?;
        let n = u32::from_be_bytes(l) as usize;
        if n > CHUNK {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("a chunk of {n} bytes")));
        }
        let mut v = vec![0u8; n];
        io.read_exact(&mut v).await?;
        Ok(v)
    }

    async fn write_request<T: futures::AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        r: u64,
    ) -> std::io::Result<()> {
        io.write_all(&r.to_be_bytes()).await
    }

    async fn write_response<T: futures::AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        r: Vec<u8>,
    ) -> std::io::Result<()> {
        io.write_all(&(r.len() as u32).to_be_bytes()).await?;
        io.write_all(&r).await
    }
}

type Raw = request_response::Behaviour<RawChunks>;

fn raw_swarm() -> anyhow::Result<Swarm<Raw>> {
    Ok(libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)?
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                RawChunks,
                [(StreamProtocol::new("/bench/chunks/1"), ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(120)),
            )
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build())
}

/// Serves 1 MiB chunks of `--file`, each read from it (pread) as asked.
async fn direct_server(o: Opts) -> anyhow::Result<()> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(o.get("file")?)?;
    let len = file.metadata()?.len();
    let mut swarm = raw_swarm()?;
    swarm.listen_on(o.get("listen")?.parse()?)?;
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            break address;
        }
    };
    say(&json!({ "peer": swarm.local_peer_id().to_string(), "addr": addr.to_string() }));
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            l = stdin.next_line() => if !matches!(l, Ok(Some(_))) { return Ok(()) },
            ev = swarm.select_next_some() => {
                if let SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Request { request, channel, .. },
                    ..
                }) = ev
                {
                    let start = request.saturating_mul(CHUNK as u64).min(len);
                    let mut buf = vec![0u8; (len - start).min(CHUNK as u64) as usize];
                    file.read_exact_at(&mut buf, start)?;
                    let _ = swarm.behaviour_mut().send_response(channel, buf);
                }
            }
        }
    }
}

/// Fetches `--len` bytes from the server, 4 chunks in flight, on `go`
/// (after one chunk to open the connection).
async fn direct_client(o: Opts) -> anyhow::Result<()> {
    let peer: PeerId = o.get("peer")?.parse()?;
    let addr: Multiaddr = o.get("addr")?.parse()?;
    let len: u64 = o.get("len")?.parse()?;
    let chunks = len.div_ceil(CHUNK as u64);
    let mut swarm = raw_swarm()?;
    swarm.add_peer_address(peer, addr);
    swarm.behaviour_mut().send_request(&peer, 0);
    wait_response(&mut swarm).await?;
    say(&json!({ "ready": true }));
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            l = stdin.next_line() => match l? {
                Some(l) if l.trim() == "go" => break,
                Some(_) => {}
                None => return Ok(()),
            },
            _ = swarm.select_next_some() => {}
        }
    }
    let t = Instant::now();
    let (mut next, mut done, mut bytes) = (0u64, 0u64, 0u64);
    while next < IN_FLIGHT.min(chunks) {
        swarm.behaviour_mut().send_request(&peer, next);
        next += 1;
    }
    while done < chunks {
        bytes += wait_response(&mut swarm).await? as u64;
        done += 1;
        if next < chunks {
            swarm.behaviour_mut().send_request(&peer, next);
            next += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(bytes == len, "got {bytes} of {len} bytes");
    say(&json!({ "secs": secs, "bytes": bytes }));
    while stdin.next_line().await?.is_some() {}
    Ok(())
}

async fn wait_response(swarm: &mut Swarm<Raw>) -> anyhow::Result<usize> {
    loop {
        match swarm.select_next_some().await {
            SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Response { response, .. },
                ..
            }) => return Ok(response.len()),
            SwarmEvent::Behaviour(request_response::Event::OutboundFailure { error, .. }) => {
                anyhow::bail!("a chunk failed: {error}")
            }
            _ => {}
        }
    }
}

// ------------------------------------------------------------------ driver

/// A child process of this binary, in a namespace or not.
struct Proc {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    out: std::io::Lines<BufReader<ChildStdout>>,
}

impl Proc {
    /// Starts this binary as `role` (`node`, `direct-server` or
    /// `direct-client`) with `args`.
    fn spawn(name: &'static str, role: &str, netns: Option<&str>, args: &[String]) -> Proc {
        let exe = std::env::current_exe().expect("this binary's path");
        let mut cmd = match netns {
            // `ip netns exec` execs in place: the pid is the node's own.
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        let mut child = cmd
            .arg(role)
            .args(args)
            .env(CHILD_ENV, role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {name}: {e}"));
        let stdin = child.stdin.take();
        let out = BufReader::new(child.stdout.take().expect("piped")).lines();
        Proc { name, child, stdin, out }
    }

    fn send(&mut self, v: &str) {
        let w = self.stdin.as_mut().expect("stdin open");
        writeln!(w, "{v}").and_then(|()| w.flush()).unwrap_or_else(|e| panic!("the {} is gone: {e}", self.name));
    }

    fn recv(&mut self) -> Value {
        let line = match self.out.next() {
            Some(Ok(l)) => l,
            other => panic!("the {} stopped: {other:?}", self.name),
        };
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("the {} said {line:?}: {e}", self.name));
        if let Some(e) = v.get("error") {
            panic!("the {} failed: {e}", self.name);
        }
        v
    }

    /// Its CPU time so far (user + system, all threads).
    fn cpu(&self) -> Duration {
        common::cpu_time_of(&self.child.id().to_string())
            .unwrap_or_else(|e| panic!("the {}'s /proc stat: {e}", self.name))
    }

    fn addrs(v: &Value) -> Vec<String> {
        v["listen"].as_array().into_iter().flatten().filter_map(|a| a.as_str().map(str::to_string)).collect()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Closing stdin ends it; kill it if it does not end by itself.
        drop(self.stdin.take());
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the processes run.
enum Net {
    Loopback,
    /// The namespaces' prefix.
    Netns(String),
}

impl Net {
    fn ns(&self, which: &str) -> Option<String> {
        match self {
            Net::Loopback => None,
            Net::Netns(p) => Some(format!("{p}-{which}")),
        }
    }
    fn listen(&self, ips: &[&str], port: u16) -> Vec<String> {
        match self {
            Net::Loopback => vec!["/ip4/127.0.0.1/tcp/0".into()],
            Net::Netns(_) => ips.iter().map(|ip| format!("/ip4/{ip}/tcp/{port}")).collect(),
        }
    }
}

/// One transfer: wall time and each process's CPU time.
struct Measured {
    secs: f64,
    cpu: Vec<(&'static str, Duration)>,
}

fn measure(procs: &mut [&mut Proc], go: impl FnOnce(&mut [&mut Proc]) -> Value) -> Measured {
    let before: Vec<Duration> = procs.iter().map(|p| p.cpu()).collect();
    let done = go(procs);
    let cpu = procs.iter().zip(before).map(|(p, b)| (p.name, p.cpu().saturating_sub(b))).collect();
    Measured { secs: done["secs"].as_f64().expect("secs"), cpu }
}

fn direct(net: &Net, file: &Path, len: u64) -> Measured {
    let listen = net.listen(&[SRV_IP], DIRECT_PORT).remove(0);
    let f = file.display().to_string();
    let mut server = Proc::spawn(
        "direct server",
        "direct-server",
        net.ns("srv").as_deref(),
        &args(&[("listen", &listen), ("file", &f)]),
    );
    let hello = server.recv();
    let (peer, addr) = (hello["peer"].as_str().expect("peer"), hello["addr"].as_str().expect("addr"));
    let mut client = Proc::spawn(
        "direct client",
        "direct-client",
        net.ns("req").as_deref(),
        &args(&[("peer", peer), ("addr", addr), ("len", &len.to_string())]),
    );
    client.recv();
    measure(&mut [&mut client, &mut server], |p| {
        p[0].send("go");
        p[0].recv()
    })
}

/// A PoR fetch of `file` through one relay; every node's data lives in a
/// fresh folder under `tmp` (the channels start empty), removed after.
fn por(net: &Net, file: &Path, tmp: &Path) -> Measured {
    let tmp = tempfile::tempdir_in(tmp).expect("a temp dir");
    let dir = |n: &str| tmp.path().join(n).display().to_string();
    let node = |name: &'static str, ns: &str, seed: u8, listen: Vec<String>| {
        let mut a = args(&[("seed", &seed.to_string()), ("dir", &dir(ns))]);
        for l in listen {
            a.extend(["--listen".into(), l]);
        }
        let mut p = Proc::spawn(name, "node", net.ns(ns).as_deref(), &a);
        let addrs = Proc::addrs(&p.recv());
        (p, addrs)
    };
    let [rq, rl, sv] = SEEDS;
    let (mut requester, req_addrs) = node("requester", "req", rq, net.listen(&[REQ_IP], POR_PORT));
    let (mut relay, rel_addrs) = node("relay", "rel", rl, net.listen(&[REL_IP_REQ, REL_IP_SRV], POR_PORT));
    let (mut server, srv_addrs) = node("server", "srv", sv, net.listen(&[SRV_IP], POR_PORT));
    let link = |a: &mut Proc, b_seed: u8, b_addrs: &[String], channel: u64| {
        a.send(&json!({ "cmd": "link", "channel": channel, "remote_seed": b_seed, "addrs": b_addrs }).to_string());
        a.recv();
    };
    link(&mut requester, rl, &rel_addrs, 1);
    link(&mut relay, rq, &req_addrs, 1);
    link(&mut relay, sv, &srv_addrs, 2);
    link(&mut server, rl, &rel_addrs, 2);
    server.send(&json!({ "cmd": "serve", "path": file }).to_string());
    let id = server.recv()["id"].as_str().expect("an id").to_string();
    let m = measure(&mut [&mut requester, &mut relay, &mut server], |p| {
        p[0].send(&json!({ "cmd": "fetch", "id": id, "hops": [[1, rl], [2, sv]] }).to_string());
        p[0].recv()
    });
    drop((requester, relay, server));
    m
}

fn args(kv: &[(&str, &str)]) -> Vec<String> {
    kv.iter().flat_map(|(k, v)| [format!("--{k}"), v.to_string()]).collect()
}

fn random_file(path: &Path, len: usize) {
    std::fs::write(path, common::random(len)).expect("the bench file");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn driver(argv: &[String]) {
    // A child started without its role must not start children of its own.
    if let Ok(role) = std::env::var(CHILD_ENV) {
        eprintln!("relay_procs: started as a {role} without the role argument");
        std::process::exit(2);
    }
    let bench = argv.iter().any(|a| a == "--bench");
    let netns = argv.iter().position(|a| a == "--netns").map(|i| argv.get(i + 1).expect("--netns PREFIX").clone());
    let env = |k: &str, d: usize| std::env::var(k).ok().and_then(|s| s.parse().ok()).unwrap_or(d);
    let mib = env("RELAY_BENCH_MIB", if bench { 256 } else { 4 });
    let runs = env("RELAY_BENCH_RUNS", if bench { 3 } else { 1 }).max(1);
    let len = (mib as u64) << 20;
    let tmp = tempfile::tempdir().expect("a temp dir");
    let file = tmp.path().join("share").join("bench.bin");
    std::fs::create_dir_all(file.parent().expect("a folder")).expect("the share folder");
    random_file(&file, len as usize);
    let mut nets = vec![("loopback", Net::Loopback)];
    if let Some(p) = netns {
        nets.push(("network namespaces, tbf 200 Mbit/s per link", Net::Netns(p)));
    }
    for (what, net) in nets {
        println!(
            "files through one relay, separate processes, {what}: {mib} MiB, 1 MiB per request, {IN_FLIGHT} in flight, {runs} run(s), load {}",
            common::loadavg()
        );
        println!(
            "{:<4} {:>9} {:>9} {:>7} | CPU ms/MiB: {:>8} {:>8} | {:>9} {:>8} {:>8} | {:>11}",
            "run",
            "direct MB/s",
            "PoR MB/s",
            "ratio",
            "d.client",
            "d.server",
            "requester",
            "relay",
            "server",
            "relay/1 end"
        );
        let mut rows: Vec<[f64; 8]> = Vec::new();
        for run in 0..runs {
            let d = direct(&net, &file, len);
            let p = por(&net, &file, tmp.path());
            let per_mib = |c: &Duration| c.as_secs_f64() * 1e3 / mib as f64;
            let dc: Vec<f64> = d.cpu.iter().map(|(_, c)| per_mib(c)).collect();
            let pc: Vec<f64> = p.cpu.iter().map(|(_, c)| per_mib(c)).collect();
            let (dmb, pmb) = (len as f64 / 1e6 / d.secs, len as f64 / 1e6 / p.secs);
            let one_end = (dc[0] + dc[1]) / 2.0;
            let row = [dmb, pmb, pmb / dmb, dc[0], dc[1], pc[0], pc[1], pc[2]];
            println!(
                "{:<4} {:>11.1} {:>9.1} {:>7.2} | {:>20.2} {:>8.2} | {:>9.2} {:>8.2} {:>8.2} | {:>10.2}x",
                run + 1,
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                row[5],
                row[6],
                row[7],
                pc[1] / one_end
            );
            rows.push(row);
        }
        let m: Vec<f64> = (0..8).map(|i| median(rows.iter().map(|r| r[i]).collect())).collect();
        let rel: Vec<f64> = rows.iter().map(|r| r[6] / ((r[3] + r[4]) / 2.0)).collect();
        println!(
            "{:<4} {:>11.1} {:>9.1} {:>7.2} | {:>20.2} {:>8.2} | {:>9.2} {:>8.2} {:>8.2} | {:>10.2}x",
            "med",
            m[0],
            m[1],
            m[2],
            m[3],
            m[4],
            m[5],
            m[6],
            m[7],
            median(rel.clone())
        );
        println!(
            "medians: PoR/direct throughput {:.2} (goal >= 0.9 when network-bound); relay CPU per MiB / one end of direct {:.2}x (goal <= 1.5x on loopback); load at the end {}",
            m[2],
            median(rel),
            common::loadavg()
        );
    }
}
