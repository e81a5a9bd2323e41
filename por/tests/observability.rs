//! The observability files against live nodes: `deploy/prometheus.yml` and
//! the compose scrape config pass `promtool check config`; a live node's
//! `/metrics`, after real traffic through a relay (responses, a late server
//! paying late fees, a stalled server the relay severs), passes
//! `promtool check metrics`; every metric and label that
//! `deploy/grafana/por.json` queries exists on the live nodes; and a real
//! Prometheus scrapes the nodes and evaluates every dashboard query.
//!
//! promtool and prometheus come from Debian's `prometheus` package, which
//! `make deps` installs. Without them these tests fail and say so: a silent
//! pass would hide that nothing was checked.

#[path = "../../node/tests/common/mod.rs"]
mod common;
mod promql;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{DEPOSIT, outcome};
use por::config::FileConfig;
use por::run::{Running, launch};
use por_core::protocol::{ChannelSetup, Delivery};
use por_core::{ChannelId, EdgeParams, Route, RouteHop};
use por_node::{Reply, ServiceRequest};
use promql::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The path of `tool`, or a failure that tells the user how to get it.
fn require_tool(tool: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(tool)).find(|f| f.is_file()))
        .unwrap_or_default();
    found.unwrap_or_else(|| {
        panic!(
            "`{tool}` is not on PATH: run `make deps` (it installs Debian's `prometheus` package, \
             which ships promtool and prometheus). These tests refuse to pass without it."
        )
    })
}

// ---------------------------------------------------------------------------
// HTTP on loopback, enough for the node's API and Prometheus' API.

struct HttpReply {
    status: u16,
    headers: String,
    body: String,
}

async fn http_get(addr: SocketAddr, path: &str) -> HttpReply {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head[9..12].parse().unwrap();
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_string() };
    HttpReply { status, headers: head.to_string(), body }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// ---------------------------------------------------------------------------
// A live network: A — B — C, each started from a configuration file the way
// `por node run` starts it, with its HTTP API on a loopback port.

struct Live {
    nodes: Vec<Running>,
    _dirs: Vec<tempfile::TempDir>,
}

const LAT: u64 = 20;

fn params() -> EdgeParams {
    EdgeParams { latency_ms: LAT, base_fee: 1_000, byte_fee: 2 }
}

async fn start_node(i: u8, extra: &str) -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        // No chain here, so no graph to check routes against: these nodes
        // trust the routes' terms (test-only; a node with a chain never does).
        "[node]\ndata_dir = {:?}\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\n\
         [api]\nlisten = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:0\"\n\
         [protocol.limits]\ntrust_route_terms = true\n{extra}",
        dir.path().display().to_string()
    );
    let cfg = FileConfig::parse(&text).unwrap();
    (launch(&cfg, [i; 32]).await.unwrap(), dir)
}

/// Where a node serves `/metrics` without a token (`[api].metrics_listen`),
/// what Prometheus scrapes.
fn metrics_addr(n: &Running) -> SocketAddr {
    n.metrics_addr.expect("the node has a metrics listener")
}

async fn link(a: &Running, b: &Running, id: u64) {
    for (x, y) in [(a, b), (b, a)] {
        let setup = ChannelSetup {
            channel: ChannelId(id),
            remote: y.node.key,
            local_deposit: DEPOSIT,
            remote_deposit: DEPOSIT,
            latency_ms: LAT,
            sync_ms: Some(100),
        };
        x.node.handle.add_channel(setup, y.node.listen_addrs.clone()).await.unwrap();
    }
}

/// Starts A, B, C, links A–B (channel 1) and B–C (channel 2), and drives
/// traffic from A through B to C: echo responses, a server 400 ms late that
/// pays late fees, a server that stalls until B severs channel 2, and a
/// route B refuses.
/// Returns the network and every node's `/metrics`.
async fn live_network_with_traffic() -> (Live, Vec<String>) {
    let (a, da) = start_node(11, "").await;
    // B cuts a downstream edge 1 s past its deadline instead of waiting for max_late_ms.
    let (b, db) = start_node(12, "[protocol.policy]\nsever_overdue_after_ms = 1000\n").await;
    let (c, dc) = start_node(13, "").await;
    link(&a, &b, 1).await;
    link(&b, &c, 2).await;
    let echo = Arc::new(|r: ServiceRequest| async move { Reply::ok(r.body) });
    c.node.handle.serve("echo", echo).await.unwrap();
    let slow = Arc::new(|r: ServiceRequest| async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        Reply::ok(r.body)
    });
    c.node.handle.serve("slow", slow).await.unwrap();
    let stall = Arc::new(|r: ServiceRequest| async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        Reply::ok(r.body)
    });
    c.node.handle.serve("stall", stall).await.unwrap();
    let route = Route {
        hops: vec![
            RouteHop { channel: ChannelId(1), node: b.node.key, params: params() },
            RouteHop { channel: ChannelId(2), node: c.node.key, params: params() },
        ],
        service_ms: 10,
    };
    let send = |service: &'static str| {
        let (h, route) = (a.node.handle.clone(), route.clone());
        async move {
            let (_, mut rx) = h.request(route, service, b"observability".to_vec(), 256).await.unwrap();
            outcome(&mut rx, Duration::from_secs(15)).await
        }
    };
    for _ in 0..3 {
        let seen = send("echo").await;
        assert!(matches!(seen.last(), Some(Delivery::Response { .. })), "echo: {seen:?}");
    }
    let seen = send("slow").await;
    assert!(matches!(seen.last(), Some(Delivery::Response { .. })), "slow: {seen:?}");
    // A stalled server: B cuts channel 2 a second past its deadline. The
    // severance notice to A needs the severance's transaction on chain
    // (`channel_removed` with its hash), which this chain-less runtime does
    // not submit, so A gets late payments instead; the request is left open.
    let (_, _stalled) = a.node.handle.request(route.clone(), "stall", b"observability".to_vec(), 256).await.unwrap();
    // A route over a channel B does not have: B refuses it.
    let mut bad = route.clone();
    bad.hops[1].channel = ChannelId(99);
    let (_, _refused) = a.node.handle.request(bad, "echo", b"observability".to_vec(), 256).await.unwrap();
    // prometheus-client renders a labelled family only once it has a
    // sample: wait until B's refusals and severances are there.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let fams = families(&[http_get(metrics_addr(&b), "/metrics").await.body]);
        let sev = sample_value(&fams, "por_severances", "por_severances_total");
        let refused = sample_value(&fams, "por_refusals", "por_refusals_total");
        if sev > 0.0 && refused > 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B never severed the stalled channel ({sev}) or refused the bad route ({refused})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let syncs carry late fees and the gauges settle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut texts = Vec::new();
    for n in [&a, &b, &c] {
        // The metrics listener answers without a token; the API listener
        // does not.
        let r = http_get(metrics_addr(n), "/metrics").await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(http_get(n.api_addr, "/metrics").await.status, 401, "the API's /metrics needs a token");
        assert!(r.headers.to_ascii_lowercase().contains("application/openmetrics-text"), "{}", r.headers);
        texts.push(r.body);
    }
    (Live { nodes: vec![a, b, c], _dirs: vec![da, db, dc] }, texts)
}

// ---------------------------------------------------------------------------
// The exposition as Prometheus sees it.

fn read_dashboard() -> serde_json::Value {
    let path = repo().join("deploy/grafana/por.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

// ---------------------------------------------------------------------------
// Tests.

#[test]
fn promql_tokenizer_finds_metrics_and_labels() {
    let r = promql_refs(
        r#"histogram_quantile(0.99, sum by (le, instance) (rate(por_response_latency_seconds_bucket{instance=~"$instance", kind!="a,b}"}[$__rate_interval]))) / on(instance) group_left() max(por_peers offset 5m) * 1e24 > bool 2"#,
    );
    assert_eq!(r.metrics, ["por_peers", "por_response_latency_seconds_bucket"].map(String::from).into());
    assert_eq!(r.labels, ["instance", "kind", "le"].map(String::from).into());
    let r = promql_refs("sum(increase(por_severances_total[1h])) without (kind) or vector(0)");
    assert_eq!(r.metrics, ["por_severances_total".to_string()].into());
    assert_eq!(r.labels, ["kind".to_string()].into());
    let r = promql_refs("${__rate_interval} + job:por_requests:rate5m + .5");
    assert_eq!(r.metrics, ["job:por_requests:rate5m".to_string()].into());
}

#[test]
fn openmetrics_becomes_text_004_as_prometheus_names_it() {
    let om = "# HELP x_yocto X.\n# TYPE x_yocto counter\n# UNIT x_yocto yocto\nx_yocto_total 1.5e21\n\
              # HELP i I.\n# TYPE i info\ni_info{v=\"1\"} 1\n# EOF\n";
    assert_eq!(
        to_text_004(om),
        "# HELP x_yocto_total X.\n# TYPE x_yocto_total counter\nx_yocto_total 1.5e21\n\
         # HELP i_info I.\n# TYPE i_info gauge\ni_info{v=\"1\"} 1\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_the_scrape_configs_and_live_metrics() {
    let promtool = require_tool("promtool");
    for cfg in ["deploy/prometheus.yml", "deploy/compose/prometheus.yml"] {
        let out = Command::new(&promtool).args(["check", "config"]).arg(repo().join(cfg)).output().unwrap();
        assert!(
            out.status.success(),
            "promtool check config {cfg}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let (_live, texts) = live_network_with_traffic().await;
    let fams = families(&texts);
    // The traffic reached the metrics that matter, so promtool sees samples
    // and not only empty families.
    for (family, series) in [
        ("por_requests_sent", "por_requests_sent_total"),
        ("por_request_outcomes", "por_request_outcomes_total{outcome=\"response\"}"),
        ("por_request_outcomes", "por_request_outcomes_total{outcome=\"late_payment\"}"),
        ("por_requests_served", "por_requests_served_total"),
        ("por_messages", "por_messages_total"),
        ("por_late_fees_paid_yocto", "por_late_fees_paid_yocto_total"),
        ("por_late_fees_received_yocto", "por_late_fees_received_yocto_total"),
        ("por_overdue_requests", "por_overdue_requests_total"),
        ("por_severances", "por_severances_total"),
        ("por_refusals", "por_refusals_total"),
        ("por_peers", "por_peers"),
        ("por_channel_received_yocto", "por_channel_received_yocto"),
        ("por_response_latency_seconds", "por_response_latency_seconds_count"),
        ("por_response_bound_ratio", "por_response_bound_ratio_count"),
        ("por_frame_requests", "por_frame_requests_count"),
    ] {
        assert!(sample_value(&fams, family, series) > 0.0, "{series} has no positive sample after the traffic");
    }

    for (i, text) in texts.iter().enumerate() {
        let mut child = Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all_sync(to_text_004(text).as_bytes());
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics on node {i}'s /metrics (exit {:?}):\n{}{}\n--- the exposition ---\n{text}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `std::io::Write` on a child's stdin, named apart from tokio's trait.
trait WriteAllSync {
    fn write_all_sync(self, bytes: &[u8]);
}

impl WriteAllSync for std::process::ChildStdin {
    fn write_all_sync(mut self, bytes: &[u8]) {
        std::io::Write::write_all(&mut self, bytes).unwrap();
    }
}

/// `deploy/alerts.yml` passes `promtool check rules`, and every metric its
/// rules read is one a node exports: the node's own families (a live node
/// serves them) and the chain client's (registered here as a node with a
/// chain registers them; the live nodes of these tests have no chain).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_rules_pass_promtool_and_read_only_exported_metrics() {
    let promtool = require_tool("promtool");
    let rules = repo().join("deploy/alerts.yml");
    let out = Command::new(&promtool).args(["check", "rules"]).arg(&rules).output().unwrap();
    assert!(
        out.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&rules).unwrap()).unwrap();
    let exprs: Vec<(String, String)> = doc["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap().iter())
        .map(|r| (r["alert"].as_str().unwrap().to_string(), r["expr"].as_str().unwrap().to_string()))
        .collect();
    assert!(exprs.len() >= 4, "{exprs:?}");

    let mut registry = prometheus_client::registry::Registry::default();
    // A family with no series is not written out: one call each.
    let chain = por_node::metrics::ChainMetrics::new(&mut registry);
    chain.record("sever", true);
    let rpc = por_node::chain::RpcMetrics::new(&mut registry);
    let label = por_node::chain::RpcLabels { endpoint: "http://127.0.0.1:3030".into(), result: "answered" };
    rpc.calls.get_or_create(&label).inc();
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    let (_live, mut texts) = live_network_with_traffic().await;
    texts.push(text);
    let fams = families(&texts);
    let mut series: BTreeSet<String> = BTreeSet::from(["up".to_string()]);
    for (name, f) in &fams {
        for s in series_suffixes(&f.kind) {
            series.insert(format!("{name}{s}"));
        }
    }
    assert!(series.contains("por_build_info"), "a node exports por_build_info{{version}}");
    for (alert, expr) in &exprs {
        let refs = promql_refs(expr);
        assert!(!refs.metrics.is_empty(), "alert {alert}: no metric in {expr}");
        for m in &refs.metrics {
            assert!(series.contains(m), "alert {alert} reads {m}, which no node exports");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_queries_only_what_live_nodes_serve() {
    let dash = read_dashboard();
    // Structure a recent Grafana (10, 11) loads: schema, uid, a datasource
    // variable that every panel uses, unique panel ids.
    assert!(dash["schemaVersion"].as_u64().unwrap() >= 36, "schemaVersion");
    assert!(!dash["uid"].as_str().unwrap().is_empty() && !dash["title"].as_str().unwrap().is_empty());
    let vars = dash["templating"]["list"].as_array().unwrap();
    assert!(
        vars.iter().any(|v| v["type"] == "datasource" && v["name"] == "datasource" && v["query"] == "prometheus"),
        "a `datasource` variable of type prometheus"
    );
    let mut ids = BTreeSet::new();
    let mut panels: Vec<&serde_json::Value> = dash["panels"].as_array().unwrap().iter().collect();
    while let Some(p) = panels.pop() {
        if let Some(inner) = p["panels"].as_array() {
            panels.extend(inner);
        }
        assert!(ids.insert(p["id"].as_u64().unwrap()), "panel id {} twice", p["id"]);
        for k in ["x", "y", "w", "h"] {
            assert!(p["gridPos"][k].is_u64(), "panel {} gridPos.{k}", p["title"]);
        }
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "panel {} datasource", p["title"]);
            assert!(!p["targets"].as_array().unwrap().is_empty(), "panel {} has no query", p["title"]);
        }
    }

    let (_live, texts) = live_network_with_traffic().await;
    let fams = families(&texts);
    let mut series: BTreeMap<String, &Family> = BTreeMap::new();
    for (name, f) in &fams {
        for s in series_suffixes(&f.kind) {
            series.insert(format!("{name}{s}"), f);
        }
    }
    let queries = dashboard_queries(&dash);
    assert!(queries.len() >= 10, "only {} queries", queries.len());
    let mut used = BTreeSet::new();
    for (panel, expr) in &queries {
        let refs = promql_refs(expr);
        assert!(!refs.metrics.is_empty(), "panel {panel:?}: no metric in {expr}");
        for m in &refs.metrics {
            assert!(
                series.contains_key(m),
                "panel {panel:?} queries {m}, which no live node serves (families: {:?})",
                fams.keys().collect::<Vec<_>>()
            );
            used.insert(m.clone());
        }
        for l in &refs.labels {
            let known = TARGET_LABELS.contains(&l.as_str())
                || refs.metrics.iter().any(|m| series[m].labels.contains(l) || (l == "le" && m.ends_with("_bucket")));
            assert!(known, "panel {panel:?} uses label {l:?}, which none of {:?} carries", refs.metrics);
        }
    }
    // The panels the issue asks for.
    for needed in [
        "por_request_outcomes_total",
        "por_response_latency_seconds_bucket",
        "por_response_bound_ratio_bucket",
        "por_late_fees_paid_yocto_total",
        "por_late_fees_received_yocto_total",
        "por_severances_total",
        "por_notices_received_total",
        "por_channel_spendable_yocto",
        "por_channel_received_yocto",
        "por_peers",
    ] {
        assert!(used.contains(needed), "the dashboard has no panel on {needed}");
    }
}

#[test]
fn dashboard_legends_use_labels_the_queries_keep() {
    let dash = read_dashboard();
    let mut panels: Vec<&serde_json::Value> = dash["panels"].as_array().unwrap().iter().collect();
    let mut checked = 0;
    while let Some(p) = panels.pop() {
        if let Some(inner) = p["panels"].as_array() {
            panels.extend(inner);
        }
        for t in p["targets"].as_array().into_iter().flatten() {
            let (expr, legend) = (t["expr"].as_str().unwrap(), t["legendFormat"].as_str().unwrap_or(""));
            // Labels every `by (…)` of the expression keeps: an aggregation
            // drops every other label, so a legend can only name these.
            let kept: Vec<BTreeSet<&str>> = expr
                .match_indices("by (")
                .map(|(i, m)| {
                    let list = &expr[i + m.len()..];
                    list[..list.find(')').unwrap()].split(',').map(str::trim).collect()
                })
                .collect();
            let Some(first) = kept.first() else { continue };
            let kept: BTreeSet<&str> =
                kept.iter().skip(1).fold(first.clone(), |acc, k| acc.intersection(k).copied().collect());
            for part in legend.split("{{").skip(1) {
                let label = part.split("}}").next().unwrap().trim();
                assert!(
                    kept.contains(label) && label != "le",
                    "panel {}: legend {legend:?} names {label:?}, which `{expr}` aggregates away",
                    p["title"]
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 10, "only {checked} legend labels checked");
}

/// A child process killed when dropped.
struct Reaper(std::process::Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Grafana's variables as a Prometheus query sees them.
fn expand_grafana_vars(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("${__rate_interval}", "1m")
        .replace("$__interval", "15s")
        .replace("$__range", "1h")
        .replace("$instance", ".*")
        .replace("${instance}", ".*")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_live_nodes_and_evaluates_every_dashboard_query() {
    let prometheus = require_tool("prometheus");
    let (live, _) = live_network_with_traffic().await;
    let dir = tempfile::tempdir().unwrap();
    // deploy/prometheus.yml with the live nodes' metrics listeners in place
    // of 127.0.0.1:9181….
    let mut cfg: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(repo().join("deploy/prometheus.yml")).unwrap()).unwrap();
    cfg["global"]["scrape_interval"] = "1s".into();
    let targets: Vec<serde_yaml::Value> = live
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let at = metrics_addr(n);
            serde_yaml::from_str(&format!("{{targets: [\"{at}\"], labels: {{node: node{i}}}}}")).unwrap()
        })
        .collect();
    cfg["scrape_configs"][0]["static_configs"] = serde_yaml::Value::Sequence(targets);
    let cfg = serde_yaml::to_string(&cfg).unwrap();
    let cfg_path = dir.path().join("prometheus.yml");
    std::fs::write(&cfg_path, &cfg).unwrap();
    // Its rule file sits beside it, as in deploy/.
    std::fs::copy(repo().join("deploy/alerts.yml"), dir.path().join("alerts.yml")).unwrap();
    let port = free_port();
    let web: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let _prom = Reaper(
        Command::new(&prometheus)
            .arg(format!("--config.file={}", cfg_path.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={web}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let log = || std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();

    // Every node is scraped and healthy: Prometheus accepts the exposition.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = match tokio::net::TcpStream::connect(web).await {
            Ok(_) => {
                let r = http_get(web, "/api/v1/targets?state=active").await;
                let v: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
                let targets = v["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
                for t in &targets {
                    let err = t["lastError"].as_str().unwrap_or("");
                    assert!(err.is_empty(), "Prometheus failed to scrape {}: {err}", t["scrapeUrl"]);
                }
                targets.len() == 3 && targets.iter().all(|t| t["health"] == "up")
            }
            Err(_) => false,
        };
        if up {
            break;
        }
        assert!(Instant::now() < deadline, "Prometheus never scraped all 3 nodes; its log:\n{}", log());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Two scrapes at least, so rate() has points.
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let query = |q: String| async move {
        let r = http_get(web, &format!("/api/v1/query?query={}", url_encode(&q))).await;
        let v: serde_json::Value = serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("Prometheus answered {} {e}: {}", r.status, r.body));
        (r.status, v)
    };
    let (_, v) = query("por_requests_sent_total".into()).await;
    assert_eq!(v["status"], "success", "{v}");
    assert!(!v["data"]["result"].as_array().unwrap().is_empty(), "no por_requests_sent_total series: {v}");
    let (_, v) = query("count(por_peers{node=~\"node[0-2]\"})".into()).await;
    assert_eq!(v["data"]["result"][0]["value"][1], "3", "the node labels of deploy/prometheus.yml: {v}");

    // Every dashboard query parses and evaluates.
    for (panel, expr) in dashboard_queries(&read_dashboard()) {
        let (status, v) = query(expand_grafana_vars(&expr)).await;
        assert!(status == 200 && v["status"] == "success", "panel {panel:?}: Prometheus refused {expr}: {v}");
    }
    // The alert rules are loaded and evaluate without error.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = http_get(web, "/api/v1/rules?type=alert").await;
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
        let rules: Vec<serde_json::Value> = v["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        let names: BTreeSet<&str> = rules.iter().filter_map(|r| r["name"].as_str()).collect();
        let want =
            ["PorNodeDown", "PorChannelCut", "PorLateFeesPaidRising", "PorChainUnreachable", "PorChainCallsFailing"];
        let evaluated = rules.iter().all(|r| r["health"] == "ok");
        if want.iter().all(|w| names.contains(w)) && evaluated {
            break;
        }
        assert!(Instant::now() < deadline, "alert rules not loaded or failing: {v}\nlog:\n{}", log());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for n in &live.nodes {
        n.node.handle.shutdown().await;
    }
}
