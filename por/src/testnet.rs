//! `por testnet` (what `make testnet` runs): a local PoR network on one
//! machine.
//!
//! 1. the embedded devnet, in this process, with the contract deployed at
//!    genesis and one funded account per node (state under `DIR/devnet`,
//!    resumed on the next start);
//! 2. a small echo HTTP service that every node serves as `echo`;
//! 3. `N` nodes, each `por init` (key, config, registration with a stake of
//!    5 + i NEAR) and then a child process `por node run` (logs in
//!    `DIR/node<i>/node.log`), node 0 the bootstrap peer of the others. Node
//!    0's key comes from [`DEVNET_BOOTSTRAP_SEED`], so that the `devnet`
//!    preset (`por init --network devnet`) knows its peer id; the devnet also
//!    funds `spare_accounts` accounts beyond the nodes' for nodes joined so;
//! 4. channels in a ring plus chords, so that there are several routes
//!    between most pairs, proposed through node APIs and confirmed by the
//!    peers' chain agents;
//! 5. demo traffic: a request between a random pair every second, sent with
//!    `POST /send` (routing and retries included);
//! 6. a file share: node 0 adds a 1 MiB file, the last node fetches it over
//!    PoR (paid range requests, verified against the content id);
//! 7. a status table refreshed every two seconds, with each node's API and
//!    `/metrics` URLs (the metrics on a listener of their own, without a
//!    token) and where its API token is, until Ctrl-C (or `--for-secs`),
//!    which stops every process it started.
//!
//! The testnet calls every node's API with its admin token, read from the
//! node's data directory as the CLI does.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use near_primitives::types::AccountId;
use por_devnet::genesis::{self, CONTRACT_ACCOUNT, GenesisOptions, NEAR};
use por_devnet::rpc::{DevnetServer, ServerConfig};
use serde_json::json;
use tokio::process::Child;

use crate::apiclient::{NodeApi, call, format_near};
use crate::config::network::{DEVNET_BOOTSTRAP_SEED, DEVNET_P2P_PORT, DEVNET_RPC_PORT, devnet_bootstrap_peer};
use crate::init::{InitOptions, init};
use por_node::chain::{NearRpcChain, PorContract};

/// `por testnet` settings. Every field's doc ends with its default.
#[derive(Debug, Clone)]
pub struct TestnetOptions {
    /// Nodes to run. Default 5.
    pub nodes: usize,
    /// Where all state lives. Default `./testnet`.
    pub dir: PathBuf,
    /// The contract wasm. Default `artifacts/por_contract.wasm`.
    pub wasm: PathBuf,
    /// The devnet's RPC port. Default 3030 (the `devnet` preset's).
    pub rpc_port: u16,
    /// Node `i` listens for libp2p on `p2p_port + i`. Default 4101 (node 0
    /// is the `devnet` preset's bootstrap peer there).
    pub p2p_port: u16,
    /// Funded devnet accounts beyond the nodes' (`node<N>.devnet` on), for
    /// nodes an operator joins with `por init --network devnet`. Default 3.
    pub spare_accounts: usize,
    /// Node `i` serves its API on `api_port + i`. Default 8081.
    pub api_port: u16,
    /// Node `i` serves `/metrics` without a token on `metrics_port + i`
    /// (what deploy/prometheus.yml scrapes). Default 9181.
    pub metrics_port: u16,
    /// The echo service's port. Default 9100.
    pub echo_port: u16,
    /// Stop after this long (for tests). Default: run until Ctrl-C.
    pub run_for: Option<Duration>,
    /// The `por` executable to start nodes with. Default this one.
    pub exe: PathBuf,
}

impl Default for TestnetOptions {
    fn default() -> Self {
        TestnetOptions {
            nodes: 5,
            dir: PathBuf::from("testnet"),
            wasm: PathBuf::from("artifacts/por_contract.wasm"),
            rpc_port: DEVNET_RPC_PORT,
            p2p_port: DEVNET_P2P_PORT,
            spare_accounts: 3,
            api_port: 8081,
            metrics_port: 9181,
            echo_port: 9100,
            run_for: None,
            exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("por")),
        }
    }
}

/// Requests sent by the demo traffic, by outcome.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// By outcome (`response`, `notice`, `pending`, `error`).
    pub outcomes: BTreeMap<String, u64>,
    /// Late fees received in all, yocto.
    pub late_fees: u128,
    /// The last error seen.
    pub last_error: Option<String>,
}

/// The testnet could not start.
#[derive(Debug, thiserror::Error)]
#[error("testnet: {0}")]
pub struct TestnetError(pub String);

fn fail(e: impl std::fmt::Display) -> TestnetError {
    TestnetError(e.to_string())
}

/// The channels of an `n`-node testnet: a ring and chords `i → i+2` for
/// even `i`, with latencies and fees that differ so routes differ.
pub fn topology(n: usize) -> Vec<(usize, usize, u64, u128)> {
    let mut edges = Vec::new();
    if n < 2 {
        return edges;
    }
    for i in 0..n {
        let j = (i + 1) % n;
        if n == 2 && i == 1 {
            break;
        }
        edges.push((i, j, 20 + 5 * i as u64, 1_000_000 * (1 + i as u128)));
    }
    if n >= 4 {
        for i in (0..n).step_by(2) {
            let j = (i + 2) % n;
            if j != i && !edges.iter().any(|&(a, b, ..)| (a, b) == (j, i) || (a, b) == (i, j)) {
                edges.push((i, j, 40, 3_000_000));
            }
        }
    }
    edges
}

/// Runs the testnet until `shutdown` completes (or `run_for` passes);
/// returns the demo traffic's tally.
pub async fn run(o: &TestnetOptions, shutdown: impl std::future::Future<Output = ()>) -> Result<Tally, TestnetError> {
    if o.nodes < 2 {
        return Err(fail("a testnet needs at least 2 nodes (NODES=2 or more)"));
    }
    if !o.wasm.exists() {
        return Err(fail(format!("{} is missing: run `make contract` first", o.wasm.display())));
    }
    std::fs::create_dir_all(&o.dir).map_err(|e| fail(format!("cannot create {}: {e}", o.dir.display())))?;
    let dir = o.dir.canonicalize().map_err(fail)?;

    // 1. The devnet.
    let devnet_dir = dir.join("devnet");
    let genesis_time_ns =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(fail)?.as_nanos() as u64;
    let opened = genesis::open_or_create(
        &devnet_dir,
        &GenesisOptions {
            wasm: o.wasm.clone(),
            accounts: o.nodes + o.spare_accounts,
            chain: por_devnet::ChainConfig { block_ms: 500, genesis_time_ns, ..por_devnet::ChainConfig::default() },
            ..GenesisOptions::default()
        },
    )
    .map_err(|e| fail(format!("devnet genesis in {}: {e}", devnet_dir.display())))?;
    if opened.key_files.len() < o.nodes + 1 {
        return Err(fail(format!(
            "{} was created for fewer nodes; run `make testnet-clean` to start over with {}",
            devnet_dir.display(),
            o.nodes
        )));
    }
    let rpc_addr = SocketAddr::from(([127, 0, 0, 1], o.rpc_port));
    let srv = DevnetServer::start(
        opened.chain,
        ServerConfig { listen: rpc_addr, state_file: Some(opened.state_file.clone()), ..ServerConfig::default() },
    )
    .await
    .map_err(|e| fail(format!("devnet RPC on {rpc_addr}: {e} (is another testnet running?)")))?;
    let rpc = srv.url();

    // 2. The echo service.
    let echo_addr = SocketAddr::from(([127, 0, 0, 1], o.echo_port));
    let echo = tokio::net::TcpListener::bind(echo_addr)
        .await
        .map_err(|e| fail(format!("echo service on {echo_addr}: {e}")))?;
    let app = axum::Router::new().route("/echo", axum::routing::post(|body: axum::body::Bytes| async move { body }));
    tokio::spawn(async move {
        let _ = axum::serve(echo, app).await;
    });

    // 3. The nodes.
    let mut children: Vec<Child> = Vec::new();
    let mut apis = Vec::new();
    let mut metrics = Vec::new();
    let mut bootstrap = Vec::new();
    for i in 0..o.nodes {
        let data = dir.join(format!("node{i}"));
        let account = format!("node{i}.devnet");
        let mut io = InitOptions::new(&data);
        io.rpc = vec![rpc.clone()];
        io.contract = Some(CONTRACT_ACCOUNT.into());
        io.account = Some((account.clone(), devnet_dir.join(format!("keys/{account}.json"))));
        io.stake = (5 + i as u128) * NEAR;
        io.service_ms = 5;
        io.listen = vec![format!("/ip4/127.0.0.1/tcp/{}", o.p2p_port as usize + i)];
        io.api = format!("127.0.0.1:{}", o.api_port as usize + i);
        io.metrics_listen = Some(format!("127.0.0.1:{}", o.metrics_port as usize + i));
        io.bootstrap = bootstrap.clone();
        io.accept_deposit = Some(NEAR);
        io.services = vec![("echo".into(), format!("http://{echo_addr}/echo"))];
        io.force = true;
        // File sharing: node 0 shares from `share/` (the demo file below).
        io.share_dirs = vec![dir.join("share")];
        io.download_dir = Some(dir.join(format!("downloads{i}")));
        let seed = if i == 0 { DEVNET_BOOTSTRAP_SEED } else { rand::random() };
        let r = init(&io, seed).await.map_err(|e| fail(format!("node {i}: {e}")))?;
        if i == 0 {
            let peer = r.key.peer_id();
            if peer != devnet_bootstrap_peer() {
                eprintln!(
                    "node 0's key in {} predates the devnet preset: `por init --network devnet` will not find it \
                     as its bootstrap peer (make testnet-clean starts over)",
                    data.display()
                );
            }
            bootstrap = vec![format!("/ip4/127.0.0.1/tcp/{}/p2p/{peer}", o.p2p_port)];
        }
        let log = std::fs::File::create(data.join("node.log")).map_err(fail)?;
        let child = tokio::process::Command::new(&o.exe)
            .args(["node", "run", "--config"])
            .arg(&r.config)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .stdout(log.try_clone().map_err(fail)?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| fail(format!("cannot start {} node run: {e}", o.exe.display())))?;
        children.push(child);
        apis.push(NodeApi::of_data_dir(&io.api, &data).map_err(|e| fail(format!("node {i}: {e}")))?);
        metrics.push(format!("http://{}/metrics", io.metrics_listen.as_deref().unwrap_or_default()));
        wait_api(&apis[i], &mut children[i], &data).await?;
    }

    // 4. The channels (once: a resumed testnet has them already).
    let view = PorContract::new(NearRpcChain::new(&rpc), CONTRACT_ACCOUNT.parse::<AccountId>().map_err(fail)?);
    let edges = topology(o.nodes);
    let open_now = view.graph_edges(0, 1).await.map_err(fail)?.total;
    if open_now == 0 {
        let fee = view.config().await.map_err(fail)?.channel_storage_fee;
        for &(a, b, latency, base_fee) in &edges {
            let body = json!({
                "peer": format!("node{b}.devnet"),
                "deposit": (NEAR + fee).to_string(),
                "latency_ms": latency,
                "base_fee": base_fee.to_string(),
                "byte_fee": "1000",
            });
            call(&apis[a], "POST", "/channels", Some(&body))
                .await
                .map_err(|e| fail(format!("channel {a}–{b}: {e}")))?;
        }
    }
    // Wait until every node tracks all its channels.
    for (i, api) in apis.iter().enumerate() {
        let degree = edges.iter().filter(|&&(a, b, ..)| a == i || b == i).count();
        for _ in 0..300 {
            let n = call(api, "GET", "/channels", None)
                .await
                .ok()
                .and_then(|c| c["channels"].as_array().map(|a| a.len()))
                .unwrap_or(0);
            if n >= degree {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // One more graph poll, so every node routes over the whole graph.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // 5 and 6. Traffic, a file share, and status until told to stop.
    let tally = Arc::new(Mutex::new(Tally::default()));
    let traffic = tokio::spawn(traffic(apis.clone(), tally.clone()));
    let share = Arc::new(Mutex::new(String::from("starting")));
    let sharing = tokio::spawn(file_share(dir.clone(), apis.clone(), share.clone()));
    // Ctrl-C stops it also before `run_for` is up: never leave the nodes
    // running without it.
    let stop = async {
        match o.run_for {
            Some(d) => tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = shutdown => {}
            },
            None => shutdown.await,
        }
    };
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {
                let t = tally.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let f = share.lock().unwrap_or_else(|e| e.into_inner()).clone();
                print_status(&apis, &metrics, &rpc, &dir, &t, &f).await;
            }
        }
    }
    traffic.abort();
    sharing.abort();
    for c in &mut children {
        let _ = c.start_kill();
    }
    for c in &mut children {
        let _ = c.wait().await;
    }
    let _ = srv.shutdown().await;
    let t = tally.lock().unwrap_or_else(|e| e.into_inner()).clone();
    println!("stopped every process; state kept in {} (make testnet-clean removes it)", dir.display());
    Ok(t)
}

async fn wait_api(api: &NodeApi, child: &mut Child, data: &Path) -> Result<(), TestnetError> {
    for _ in 0..300 {
        if call(api, "GET", "/status", None).await.is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(data.join("node.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            return Err(fail(format!(
                "the node in {} exited ({status}); last lines of its log:\n{}",
                data.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(fail(format!("the node's API {api} did not answer within 30 s; see {}/node.log", data.display())))
}

async fn traffic(apis: Vec<NodeApi>, tally: Arc<Mutex<Tally>>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        n += 1;
        let (from, step) = {
            use rand::Rng;
            let mut rng = rand::thread_rng();
            (rng.gen_range(0..apis.len()), rng.gen_range(1..apis.len()))
        };
        let to = (from + step) % apis.len();
        let api = apis[from].clone();
        let tally = tally.clone();
        tokio::spawn(async move {
            let body = json!({
                "to": format!("node{to}.devnet"),
                "service": "echo",
                "body": format!("demo request {n} from node {from}"),
                "max_response_bytes": 1024,
                "timeout_ms": 20_000,
            });
            let r = call(&api, "POST", "/send", Some(&body)).await;
            let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
            match r {
                Ok(v) => {
                    *t.outcomes.entry(v["outcome"].as_str().unwrap_or("?").to_string()).or_default() += 1;
                    t.late_fees += v["late_fees"].as_str().and_then(|s| s.parse::<u128>().ok()).unwrap_or(0);
                }
                Err(e) => {
                    *t.outcomes.entry("error".into()).or_default() += 1;
                    t.last_error = Some(e.to_string());
                }
            }
        });
    }
}

/// Node 0 shares a 1 MiB file; the last node fetches it over PoR (paid
/// range requests routed through the graph), and `state` says how it goes.
async fn file_share(dir: PathBuf, apis: Vec<NodeApi>, state: Arc<Mutex<String>>) {
    let set = |s: String| *state.lock().unwrap_or_else(|e| e.into_inner()) = s;
    let path = dir.join("share").join("demo-share.bin");
    if let Err(e) = std::fs::create_dir_all(dir.join("share")) {
        return set(format!("cannot create {}: {e}", dir.join("share").display()));
    }
    if !path.exists() {
        let bytes: Vec<u8> = (0..1u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        if let Err(e) = std::fs::write(&path, bytes) {
            return set(format!("cannot write {}: {e}", path.display()));
        }
    }
    let added = match call(&apis[0], "POST", "/files/add", Some(&json!({ "path": path.display().to_string() }))).await {
        Ok(v) => v,
        Err(e) => return set(format!("node 0 could not add the file: {e}")),
    };
    let Some(id) = added["id"].as_str().map(str::to_string) else {
        return set(format!("unexpected answer to /files/add: {added}"));
    };
    let last = apis.len() - 1;
    // Give the provider record a moment to spread.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let get = json!({ "id": id, "max_price": (NEAR / 1000).to_string() });
    if let Err(e) = call(&apis[last], "POST", "/files/get", Some(&get)).await {
        return set(format!("node {last} could not start fetching {id}: {e}"));
    }
    loop {
        match call(&apis[last], "GET", &format!("/files/get/{id}"), None).await {
            Ok(v) => {
                let p = &v["progress"];
                set(format!(
                    "node 0 shares {}… (1 MiB); node {last} fetched it over PoR: {}, {}/{} blocks, spent {} yocto",
                    &id[..12.min(id.len())],
                    p["state"].as_str().unwrap_or("?"),
                    p["verified_blocks"],
                    p["blocks"],
                    p["spent"].as_str().unwrap_or("?"),
                ));
                if matches!(p["state"].as_str(), Some("done" | "failed")) {
                    return;
                }
            }
            Err(e) => set(format!("progress of {id}: {e}")),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The network page's line: node 0's `/ui`, with its read-only token in
/// the URL's fragment (which the browser never sends; the page takes it and
/// removes it), and the same view in the CLI.
fn network_page(api: &NodeApi, dir: &Path) -> String {
    let token = std::fs::read_to_string(dir.join("node0").join(por_node::api::auth::READONLY_TOKEN_FILE))
        .map(|t| t.trim().to_string())
        .unwrap_or_default();
    format!(
        "network page (open in a browser): {api}/ui#token={token}\n  or: por network --config {}/node0/por.toml\n",
        dir.display()
    )
}

async fn print_status(apis: &[NodeApi], metrics: &[String], rpc: &str, dir: &Path, t: &Tally, share: &str) {
    use std::io::IsTerminal;
    let mut out = String::new();
    if std::io::stdout().is_terminal() {
        out += "\x1b[2J\x1b[H";
    }
    out += &format!("PoR testnet — devnet {rpc}, state in {}\n\n", dir.display());
    out += &format!(
        "{:<5} {:<14} {:>5} {:>8} {:>9} {:>14} {:>16}  {}\n",
        "node", "peer id", "peers", "channels", "in flight", "spendable", "fees in (yocto)", "API / metrics"
    );
    for (i, api) in apis.iter().enumerate() {
        let (status, channels) = tokio::join!(call(api, "GET", "/status", None), call(api, "GET", "/channels", None));
        let Ok(s) = status else {
            out += &format!("{i:<5} (not answering: {api})\n");
            continue;
        };
        let list = channels.ok().and_then(|c| c["channels"].as_array().cloned()).unwrap_or_default();
        let sum = |k: &str| list.iter().filter_map(|c| c[k].as_str()?.parse::<u128>().ok()).sum::<u128>();
        let peer = s["peer_id"].as_str().unwrap_or("?");
        out += &format!(
            "{i:<5} …{:<13} {:>5} {:>8} {:>9} {:>14} {:>16}  {api}/v1/status  {}\n",
            &peer[peer.len().saturating_sub(12)..],
            s["peers"],
            list.len(),
            s["in_flight"],
            format_near(sum("spendable")),
            sum("received"),
            metrics[i],
        );
    }
    let outcomes: Vec<String> = t.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
    out += &format!(
        "\ndemo requests: {} — late fees received {} yocto\n",
        if outcomes.is_empty() { "none yet".into() } else { outcomes.join(", ") },
        t.late_fees
    );
    if let Some(e) = &t.last_error {
        out += &format!("last error: {e}\n");
    }
    out += &format!("file share: {share}\n");
    out += &format!(
        "\nAPI token: <state>/node<i>/api-admin.token (read-only: api-readonly.token); /metrics needs none. Try:\n  \
         curl -H \"Authorization: Bearer $(cat {0}/node0/api-admin.token)\" {1}/v1/status\n  \
         por status --config {0}/node0/por.toml\n",
        dir.display(),
        apis[0]
    );
    out += &network_page(&apis[0], dir);
    out += "logs: <state>/node<i>/node.log — Ctrl-C stops everything\n";
    print!("{out}");
    let _ = std::io::Write::flush(&mut std::io::stdout());
}
