//! File transfer throughput on loopback (issue #8), one run, side by side:
//!
//! 1. plain TCP copy;
//! 2. direct libp2p transfer: a bare request-response between two swarms
//!    (TCP + noise + yamux, the same CBOR codec as PoR's lanes), fetching
//!    1 MiB chunks with 4 requests in flight, as the fetcher does;
//! 3. a PoR fetch (paid requests, proofs, verification, writes to the
//!    store) through zero, one and two relays.
//!
//! Run with `cargo bench -p por-node --bench files` (`make bench`); set
//! `FILES_BENCH_MIB` to change the size (default 256).

#[path = "../../node/benches/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, StreamProtocol, Swarm, noise, tcp, yamux};
use por_behaviours::CborLpCodec;
use por_core::protocol::ChannelSetup;
use por_core::{ChannelId, EdgeParams, Route, RouteHop};
use por_files::{FetchOptions, Files, FilesConfig, FixedRoutes, Progress};
use por_node::{NodeConfig, RunningNode, start};
use serde_bytes::ByteBuf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::{cpu_time, loadavg, random};

const CHUNK: usize = 1 << 20;
const IN_FLIGHT: usize = 4;
const EDGE: EdgeParams = EdgeParams { latency_ms: 100, base_fee: 1_000, byte_fee: 0 };
const SERVICE_MS: u64 = 1_000;

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

/// Wall and CPU time of one transfer (every node runs in this process, so
/// the CPU time is the whole route's).
struct Timed {
    wall: Duration,
    cpu: Duration,
}

struct Timer(Instant, Duration);

impl Timer {
    fn start() -> Timer {
        Timer(Instant::now(), cpu_time())
    }
    fn stop(self) -> Timed {
        Timed { wall: self.0.elapsed(), cpu: cpu_time().saturating_sub(self.1) }
    }
}

async fn tcp_copy(data: Arc<Vec<u8>>) -> Timed {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let len = data.len();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        s.write_all(&data).await.unwrap();
    });
    let t = Timer::start();
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = vec![0u8; CHUNK];
    let mut got = 0;
    while got < len {
        let n = c.read(&mut buf).await.unwrap();
        assert!(n > 0, "the TCP copy ended early");
        got += n;
    }
    let d = t.stop();
    server.await.unwrap();
    d
}

type Bare = request_response::Behaviour<CborLpCodec<u64, ByteBuf>>;

fn bare_swarm() -> Swarm<Bare> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                CborLpCodec::new(64, 2 * CHUNK),
                [(StreamProtocol::new("/bench/chunks/1"), ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(60)),
            )
        })
        .unwrap()
        // The same lazy substream negotiation as `build_swarm`.
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(Duration::from_secs(60))
                .with_substream_upgrade_protocol_override(libp2p::core::upgrade::Version::V1Lazy)
        })
        .build()
}

async fn libp2p_direct(data: Arc<Vec<u8>>) -> Timed {
    let mut server = bare_swarm();
    server.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap()).unwrap();
    let addr: Multiaddr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = server.select_next_some().await {
            break address;
        }
    };
    let server_id = *server.local_peer_id();
    let d2 = data.clone();
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Request { request, channel, .. },
                ..
            }) = server.select_next_some().await
            {
                let s = request as usize * CHUNK;
                let e = (s + CHUNK).min(d2.len());
                let _ = server.behaviour_mut().send_response(channel, ByteBuf::from(d2[s..e].to_vec()));
            }
        }
    });
    let mut client = bare_swarm();
    client.add_peer_address(server_id, addr);
    let chunks = data.len().div_ceil(CHUNK) as u64;
    let t = Timer::start();
    let (mut next, mut done, mut bytes) = (0u64, 0u64, 0usize);
    while next < IN_FLIGHT as u64 && next < chunks {
        client.behaviour_mut().send_request(&server_id, next);
        next += 1;
    }
    while done < chunks {
        match client.select_next_some().await {
            SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Response { response, .. },
                ..
            }) => {
                bytes += response.len();
                done += 1;
                if next < chunks {
                    client.behaviour_mut().send_request(&server_id, next);
                    next += 1;
                }
            }
            SwarmEvent::Behaviour(request_response::Event::OutboundFailure { error, .. }) => panic!("{error}"),
            _ => {}
        }
    }
    assert_eq!(bytes, data.len());
    t.stop()
}

async fn node(seed: u8, dir: &std::path::Path) -> RunningNode {
    let mut registry = prometheus_client::registry::Registry::default();
    let mut cfg = NodeConfig::new(dir.join(format!("node{seed}")));
    // No chain in the bench: trust the routes' terms (test-only).
    cfg.protocol.limits.trust_route_terms = true;
    start(cfg, [seed; 32], &mut registry).await.unwrap()
}

async fn link(a: &RunningNode, b: &RunningNode, id: u64) {
    for (x, y) in [(a, b), (b, a)] {
        let setup = ChannelSetup {
            channel: ChannelId(id),
            remote: y.key,
            local_deposit: u128::MAX / 4,
            remote_deposit: u128::MAX / 4,
            latency_ms: EDGE.latency_ms,
            sync_ms: Some(500),
        };
        x.handle.add_channel(setup, y.listen_addrs.clone()).await.unwrap();
    }
}

/// A PoR fetch of the file at `path` through `relays` relays.
async fn por_fetch(path: &std::path::Path, relays: usize, tmp: &std::path::Path) -> Timed {
    let dir = tmp.join(format!("por{relays}"));
    let mut nodes = Vec::new();
    for i in 0..relays + 2 {
        nodes.push(node(i as u8 + 1, &dir).await);
    }
    for i in 0..relays + 1 {
        link(&nodes[i], &nodes[i + 1], i as u64 + 1).await;
    }
    let server = nodes.last().unwrap();
    let share = path.parent().expect("the bench file is in a folder").to_path_buf();
    let cfg = FilesConfig { share_dirs: vec![share], ..FilesConfig::new(&dir.join("p")) };
    let provider = Files::start(cfg, server.handle.clone(), Arc::new(FixedRoutes::new())).await.unwrap();
    let id = provider.add(path).await.unwrap().id;
    let route = Route {
        hops: (1..nodes.len())
            .map(|i| RouteHop { channel: ChannelId(i as u64), node: nodes[i].key, params: EDGE })
            .collect(),
        service_ms: SERVICE_MS,
    };
    let fetcher = Files::start(
        FilesConfig::new(&dir.join("f")),
        nodes[0].handle.clone(),
        Arc::new(FixedRoutes::new().with(route)),
    )
    .await
    .unwrap();
    let mut opts = FetchOptions::new(u128::MAX / 8);
    opts.providers = vec![server.key];
    if let Some(n) = std::env::var("FILES_BENCH_INFLIGHT").ok().and_then(|s| s.parse().ok()) {
        opts.per_provider_in_flight = n;
        opts.max_in_flight = n;
    }
    let (tx, _rx) = tokio::sync::watch::channel(Progress::default());
    let t = Timer::start();
    let report = fetcher.fetch(id, &opts, &tx).await.unwrap();
    let d = t.stop();
    assert_eq!(report.blocks, report.fetched_blocks);
    for n in &nodes {
        n.handle.shutdown().await;
    }
    d
}

#[tokio::main]
async fn main() {
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).try_init();
    // `cargo test --all-targets` runs this binary without `--bench`: then it
    // is a smoke test on 4 MiB, not the benchmark.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let default_mib = if smoke { 4 } else { 256 };
    let mib: usize = std::env::var("FILES_BENCH_MIB").ok().and_then(|s| s.parse().ok()).unwrap_or(default_mib);
    let len = mib << 20;
    let tmp = tempfile::tempdir().unwrap();
    let data = Arc::new(random(len));
    let path = tmp.path().join("bench.bin");
    std::fs::write(&path, &*data).unwrap();

    println!("files bench: {mib} MiB on loopback, 1 MiB per request, {IN_FLIGHT} in flight");
    let tcp = tcp_copy(data.clone()).await;
    let direct = libp2p_direct(data.clone()).await;
    let base = mbps(len, direct.wall);
    let base_cpu = direct.cpu.as_secs_f64() * 1e3 / mib as f64;
    let mut rows = vec![("plain TCP copy", tcp), ("direct libp2p request-response", direct)];
    for (relays, name) in [(0, "PoR fetch, 0 relays"), (1, "PoR fetch, 1 relay"), (2, "PoR fetch, 2 relays")] {
        rows.push((name, por_fetch(&path, relays, tmp.path()).await));
    }
    println!(
        "{:<34} {:>10} {:>10} {:>10} {:>14} {:>12}",
        "transfer", "seconds", "MB/s", "vs libp2p", "CPU ms/MiB", "CPU vs libp2p"
    );
    for (name, d) in rows {
        let r = mbps(len, d.wall);
        let cpu = d.cpu.as_secs_f64() * 1e3 / mib as f64;
        println!(
            "{name:<34} {:>10.2} {:>10.1} {:>9.0}% {:>14.2} {:>11.2}x",
            d.wall.as_secs_f64(),
            r,
            100.0 * r / base,
            cpu,
            cpu / base_cpu
        );
    }
    println!("load average at the end: {}", loadavg());
}
