//! The deployment files agree with the workspace and with the node's own
//! configuration parser. There is no container engine here, so this checks
//! what can be checked without one: every file parses; every node config
//! (compose, the Kubernetes ConfigMap, the testnet template) parses with
//! `por::config`; ports, paths, names, users and peer ids agree between
//! the Dockerfile, deploy/compose.yml, deploy/k8s/, the Prometheus configs
//! and the configs; every binary and path the Dockerfile builds or copies
//! exists in the workspace; the Dockerfile's stages reference each other;
//! scrapers reach `/metrics` on the metrics listener (no token) and health
//! checks use the probes; the Kubernetes pod passes the "restricted" Pod
//! Security Standard in every container, takes its API tokens from a
//! Secret, and a NetworkPolicy admits only p2p from anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use por::config::FileConfig;
use serde_yaml::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    let p = repo().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// One YAML document, with `<<` merge keys applied.
fn yaml(rel: &str) -> Value {
    let mut v: Value = serde_yaml::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}"));
    // One pass merges one level: x-node merges x-por-image, a node merges x-node.
    for _ in 0..4 {
        v.apply_merge().unwrap_or_else(|e| panic!("{rel}: merge keys: {e}"));
    }
    assert!(!serde_yaml::to_string(&v).unwrap().contains("<<"), "{rel}: merge keys nested too deep");
    v
}

/// Every document of a multi-document YAML file.
fn yaml_docs(rel: &str) -> Vec<Value> {
    let text = read(rel);
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}")))
        .filter(|v: &Value| !v.is_null())
        .collect()
}

/// `p` with its `.` and `..` parts resolved (no file system access).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

fn parse_config(what: &str, text: &str) -> FileConfig {
    FileConfig::parse(text).unwrap_or_else(|e| panic!("{what} is not a valid node config: {e}"))
}

fn tcp_port(addr: &str) -> u16 {
    let m: Multiaddr = addr.parse().unwrap();
    m.iter().find_map(|p| if let Protocol::Tcp(port) = p { Some(port) } else { None }).unwrap()
}

fn dns_host(addr: &str) -> String {
    let m: Multiaddr = addr.parse().unwrap();
    m.iter()
        .find_map(|p| match p {
            Protocol::Dns4(h) | Protocol::Dns(h) | Protocol::Dns6(h) => Some(h.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{addr} has no DNS name"))
}

fn peer_id_of_seed(hex_seed: &str) -> PeerId {
    let seed = hex::decode(hex_seed).unwrap();
    libp2p::identity::Keypair::ed25519_from_bytes(seed).unwrap().public().to_peer_id()
}

fn api_port(cfg: &FileConfig) -> u16 {
    cfg.api_addr().unwrap().port()
}

/// The port of `[api].metrics_listen`, which every deployed config sets:
/// scrapers need no token there.
fn metrics_port(cfg: &FileConfig) -> u16 {
    cfg.metrics_addr().unwrap().expect("[api].metrics_listen is set, for the scraper").port()
}

// ---------------------------------------------------------------------------
// The workspace: packages, binaries, profiles.

struct Workspace {
    /// Package name → its [[bin]] names.
    bins: BTreeMap<String, Vec<String>>,
    profiles: BTreeSet<String>,
    rust_version: String,
}

fn workspace() -> Workspace {
    let root: toml::Value = toml::from_str(&read("Cargo.toml")).unwrap();
    let mut bins = BTreeMap::new();
    for member in root["workspace"]["members"].as_array().unwrap() {
        let m: toml::Value = toml::from_str(&read(&format!("{}/Cargo.toml", member.as_str().unwrap()))).unwrap();
        let names = m
            .get("bin")
            .and_then(|b| b.as_array())
            .map(|b| b.iter().map(|b| b["name"].as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        bins.insert(m["package"]["name"].as_str().unwrap().to_string(), names);
    }
    Workspace {
        bins,
        profiles: root["profile"].as_table().unwrap().keys().cloned().collect(),
        rust_version: root["workspace"]["package"]["rust-version"].as_str().unwrap().to_string(),
    }
}

// ---------------------------------------------------------------------------
// The Dockerfile.

#[derive(Debug)]
struct Stage {
    name: String,
    base: String,
    /// (instruction, arguments), continuation lines joined.
    steps: Vec<(String, String)>,
}

fn dockerfile() -> (BTreeMap<String, String>, Vec<Stage>) {
    let mut args = BTreeMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    let mut logical = String::new();
    let mut lines = Vec::new();
    for line in read("deploy/Dockerfile").lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && logical.is_empty()) {
            continue;
        }
        if let Some(cont) = t.strip_suffix('\\') {
            logical.push_str(cont);
            logical.push(' ');
        } else {
            logical.push_str(t);
            lines.push(std::mem::take(&mut logical));
        }
    }
    for l in lines {
        let (ins, rest) = l.split_once(' ').unwrap_or((&l, ""));
        let ins = ins.to_ascii_uppercase();
        let rest = rest.split_whitespace().collect::<Vec<_>>().join(" ");
        if ins == "FROM" {
            let parts: Vec<&str> = rest.split(' ').collect();
            let name = match parts.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => name.to_string(),
                _ => stages.len().to_string(),
            };
            stages.push(Stage { name, base: parts[0].to_string(), steps: Vec::new() });
        } else if ins == "ARG" && stages.is_empty() {
            let (k, v) = rest.split_once('=').unwrap_or((&rest, ""));
            args.insert(k.to_string(), v.to_string());
        } else {
            stages.last_mut().expect("an instruction before FROM").steps.push((ins, rest));
        }
    }
    (args, stages)
}

fn version_tuple(v: &str) -> Vec<u32> {
    v.split('.').map(|p| p.parse().unwrap()).collect()
}

/// The words after each `flag` in a shell command.
fn flag_values<'a>(cmd: &'a str, flag: &str) -> Vec<&'a str> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    words.windows(2).filter(|w| w[0] == flag).map(|w| w[1]).collect()
}

const RUNTIME_UID: &str = "10001";

#[test]
fn dockerfile_stages_binaries_and_paths_agree_with_the_workspace() {
    let ws = workspace();
    let (args, stages) = dockerfile();
    let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["builder", "runtime"], "two named stages, the runtime last");
    let (builder, runtime) = (&stages[0], &stages[1]);

    // The builder has the Rust toolchain the workspace needs.
    assert!(builder.base.starts_with("rust:${RUST_VERSION}-"), "{}", builder.base);
    let rust = &args["RUST_VERSION"];
    assert!(version_tuple(rust) >= version_tuple(&ws.rust_version), "RUST_VERSION {rust} < {}", ws.rust_version);
    assert!(runtime.base.starts_with("debian:") && runtime.base.ends_with("-slim"), "{}", runtime.base);

    // Every COPY --from names an earlier stage.
    for (i, st) in stages.iter().enumerate() {
        for (ins, rest) in &st.steps {
            if let Some(from) = rest.strip_prefix("--from=").filter(|_| ins == "COPY") {
                let from = from.split(' ').next().unwrap();
                assert!(names[..i].contains(&from), "stage {} copies from {from:?}, not an earlier stage", st.name);
            }
        }
    }

    // What the builder builds exists in the workspace, and what it puts in /out.
    let run: String =
        builder.steps.iter().filter(|(i, _)| i == "RUN").map(|(_, r)| r.as_str()).collect::<Vec<_>>().join(" && ");
    let cargo: String = run.split("&&").filter(|c| c.contains("cargo build")).collect::<Vec<_>>().join(" ");
    let packages = flag_values(&cargo, "-p");
    for p in &packages {
        assert!(ws.bins.contains_key(*p), "the Dockerfile builds package {p}, which is not a workspace member");
    }
    let all_bins: BTreeSet<&str> = ws.bins.values().flatten().map(String::as_str).collect();
    let built_bins = flag_values(&cargo, "--bin");
    assert_eq!(BTreeSet::from_iter(built_bins.iter().copied()), BTreeSet::from(["por", "por-devnet"]));
    for b in &built_bins {
        assert!(all_bins.contains(b), "--bin {b} is not a [[bin]] of the workspace ({all_bins:?})");
    }
    assert!(ws.bins["por"].contains(&"por".to_string()) && ws.bins["por-devnet"].contains(&"por-devnet".into()));
    for p in flag_values(&cargo, "--profile") {
        assert!(ws.profiles.contains(p), "profile {p} is not in Cargo.toml");
    }
    let mut out = BTreeSet::new();
    for cmd in run.split("&&") {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        if words.first() == Some(&"cp") && words.last() == Some(&"/out/") {
            for src in &words[1..words.len() - 1] {
                let file = src.rsplit('/').next().unwrap();
                if let Some(bin) = src.strip_prefix("target/release/") {
                    assert!(built_bins.contains(&bin), "{src} is not a binary the builder builds");
                } else {
                    // target/<target>/<profile>/<lib>.wasm, as the Makefile's CONTRACT_WASM.
                    assert_eq!(*src, "target/wasm32-unknown-unknown/contract/por_contract.wasm");
                    assert!(read("Makefile").contains("$(WASM_TARGET)/contract/por_contract.wasm"));
                    assert!(packages.contains(&"por-contract"));
                }
                out.insert(format!("/out/{file}"));
            }
        }
    }

    // The runtime copies only what the builder produced and files that exist.
    let mut installed = BTreeSet::new();
    for (ins, rest) in &runtime.steps {
        if ins != "COPY" {
            continue;
        }
        let words: Vec<&str> = rest.split(' ').collect();
        let (srcs, dest) = words.split_at(words.len() - 1);
        if let Some(from) = srcs[0].strip_prefix("--from=") {
            assert_eq!(from, "builder");
            for src in &srcs[1..] {
                assert!(out.contains(*src), "the runtime copies {src}, which the builder does not produce ({out:?})");
                let name = src.rsplit('/').next().unwrap();
                installed.insert(if dest[0].ends_with('/') {
                    format!("{}{name}", dest[0])
                } else {
                    dest[0].to_string()
                });
            }
        } else {
            for src in srcs {
                assert!(repo().join(src).exists(), "the runtime copies {src} from the context; it does not exist");
            }
        }
    }
    assert!(
        installed.contains("/usr/local/bin/por") && installed.contains("/usr/local/bin/por-devnet"),
        "{installed:?}"
    );
    assert!(installed.contains("/usr/share/por/por_contract.wasm"), "{installed:?}");

    // Non-root user, the data volume, the ports, the command.
    let get =
        |ins: &str| -> Vec<&str> { runtime.steps.iter().filter(|(i, _)| i == ins).map(|(_, r)| r.as_str()).collect() };
    let run_rt = get("RUN").join(" ");
    assert!(run_rt.contains(&format!("--uid {RUNTIME_UID}")), "useradd with uid {RUNTIME_UID}");
    assert_eq!(get("USER"), [format!("{RUNTIME_UID}:{RUNTIME_UID}")]);
    assert_eq!(get("VOLUME"), ["[\"/var/lib/por\"]"]);
    let exposed: BTreeSet<&str> = get("EXPOSE").iter().flat_map(|e| e.split(' ')).collect();
    assert_eq!(exposed, BTreeSet::from(["4001/tcp", "8080/tcp", "9181/tcp", "3030/tcp"]));
    assert_eq!(get("ENTRYPOINT"), ["[\"por\"]"]);
    assert_eq!(get("CMD"), ["[\"node\", \"run\", \"--config\", \"/etc/por/por.toml\"]"]);
    assert!(get("STOPSIGNAL") == ["SIGINT"], "the devnet saves its chain on Ctrl-C only");

    let ignore = read("deploy/Dockerfile.dockerignore");
    assert!(ignore.lines().any(|l| l.trim() == "target"), "the build context must leave out target/");
}

/// Ports the runtime image exposes: every config's listen ports must be among them.
fn exposed_ports() -> BTreeSet<u16> {
    let (_, stages) = dockerfile();
    stages[1]
        .steps
        .iter()
        .filter(|(i, _)| i == "EXPOSE")
        .flat_map(|(_, r)| r.split(' ').map(|p| p.trim_end_matches("/tcp").parse().unwrap()))
        .collect()
}

// ---------------------------------------------------------------------------
// deploy/compose.yml

fn list(v: &Value) -> Vec<String> {
    v.as_sequence().map(|s| s.iter().map(s_owned).collect()).unwrap_or_default()
}

fn s_owned(v: &Value) -> String {
    match v {
        Value::String(x) => x.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// `command`/`entrypoint` as words.
fn words(v: &Value) -> Vec<String> {
    match v {
        Value::String(x) => x.split_whitespace().map(String::from).collect(),
        _ => list(v),
    }
}

fn arg_after(cmd: &[String], flag: &str) -> String {
    let i = cmd.iter().position(|w| w == flag).unwrap_or_else(|| panic!("{flag} not in {cmd:?}"));
    cmd[i + 1].clone()
}

#[test]
fn compose_services_configs_ports_and_paths_agree() {
    let c = yaml("deploy/compose.yml");
    let services = c["services"].as_mapping().unwrap();
    let names: BTreeSet<String> = services.keys().map(s_owned).collect();
    for needed in ["devnet", "node0", "node1", "node2", "node3", "node4", "prometheus", "grafana"] {
        assert!(names.contains(needed), "compose has no service {needed}");
    }
    let svc = |n: &str| &c["services"][n];
    let volumes: BTreeSet<String> = c["volumes"].as_mapping().unwrap().keys().map(s_owned).collect();
    let deploy = repo().join("deploy");
    // (source, target) of a service's mounts; named volumes must be declared,
    // host paths must exist.
    let mounts = |n: &str| -> Vec<(String, String)> {
        list(&svc(n)["volumes"])
            .iter()
            .map(|m| {
                let parts: Vec<&str> = m.split(':').collect();
                let (src, dst) = (parts[0].to_string(), parts[1].to_string());
                if src.starts_with('.') {
                    assert!(deploy.join(&src).exists(), "service {n} mounts {src}, which does not exist");
                } else {
                    assert!(volumes.contains(&src), "service {n} mounts volume {src}, not declared");
                }
                (src, dst)
            })
            .collect()
    };
    let host_ports = |n: &str| -> Vec<(u16, u16)> {
        list(&svc(n)["ports"])
            .iter()
            .map(|p| {
                let parts: Vec<&str> = p.split(':').collect();
                assert_eq!(parts.len(), 3, "service {n} publishes {p} on all interfaces; use 127.0.0.1:");
                assert_eq!(parts[0], "127.0.0.1");
                (parts[1].parse().unwrap(), parts[2].parse().unwrap())
            })
            .collect()
    };

    // The image: built from the repository with deploy/Dockerfile.
    let exposed = exposed_ports();
    for n in ["devnet", "node0", "node1", "node2", "node3", "node4"] {
        assert_eq!(svc(n)["image"], "por:local", "{n}");
        assert!(deploy.join(s(&svc(n)["build"]["context"])).join(s(&svc(n)["build"]["dockerfile"])).is_file(), "{n}");
    }

    // The devnet: its data volume, RPC port, accounts, wasm.
    let devnet_cmd = words(&svc("devnet")["command"]);
    assert_eq!(words(&svc("devnet")["entrypoint"]), ["por-devnet"]);
    let devnet_listen: std::net::SocketAddr = arg_after(&devnet_cmd, "--listen").parse().unwrap();
    assert!(exposed.contains(&devnet_listen.port()));
    let devnet_data = arg_after(&devnet_cmd, "--data");
    let devnet_mounts = mounts("devnet");
    let devnet_volume = devnet_mounts.iter().find(|(_, d)| *d == devnet_data).expect("devnet --data is its volume");
    let accounts: usize = arg_after(&devnet_cmd, "--accounts").parse().unwrap();
    assert_eq!(arg_after(&devnet_cmd, "--wasm"), "/usr/share/por/por_contract.wasm", "where the Dockerfile puts it");
    assert_eq!(host_ports("devnet"), [(3030, devnet_listen.port())]);

    // The nodes.
    let mut metrics_host_ports = Vec::new();
    let mut configs = BTreeMap::new();
    for i in 0..5 {
        let n = format!("node{i}");
        let ms = mounts(&n);
        let (cfg_src, _) = ms.iter().find(|(_, d)| d == "/etc/por/por.toml").expect("config at /etc/por/por.toml");
        let cfg = parse_config(cfg_src, &read(&format!("deploy/{}", cfg_src.trim_start_matches("./"))));
        assert!(svc(&n)["entrypoint"][2].as_str().unwrap().contains("exec por node run --config /etc/por/por.toml"));
        // Docker waits out the node's drain before it kills it.
        let grace: u64 = s(&svc(&n)["stop_grace_period"]).trim_end_matches('s').parse().unwrap();
        assert!(
            grace > cfg.node.drain_timeout_secs,
            "{n}: stop_grace_period {grace}s vs a {}s drain",
            cfg.node.drain_timeout_secs
        );
        // Data on the node's own volume.
        let (vol, _) = ms.iter().find(|(_, d)| Path::new(d) == cfg.node.data_dir).expect("data_dir is a volume");
        assert_eq!(*vol, n, "node{i} keeps its state on its own volume");
        // Listen and API ports are the image's, the API published on 127.0.0.1:808(i+1).
        for l in &cfg.node.listen {
            assert!(exposed.contains(&tcp_port(l)), "{n} listens on {l}, not exposed");
        }
        assert!(cfg.api_addr().unwrap().ip().is_unspecified(), "{n}: the API must listen on 0.0.0.0 in a container");
        assert!(cfg.metrics_addr().unwrap().unwrap().ip().is_unspecified(), "{n}: metrics on 0.0.0.0");
        assert!(exposed.contains(&api_port(&cfg)) && exposed.contains(&metrics_port(&cfg)));
        let published = host_ports(&n);
        let want = [(8081 + i as u16, api_port(&cfg)), (9181 + i as u16, metrics_port(&cfg))];
        assert_eq!(published, want, "{n}'s API and metrics on the host");
        metrics_host_ports.push(published[1].0);
        // Chain: the devnet service; the account's key from the devnet volume.
        assert_eq!(cfg.chain.rpc, [format!("http://devnet:{}", devnet_listen.port())]);
        assert_eq!(cfg.chain.contract, por_devnet::genesis::CONTRACT_ACCOUNT);
        assert_eq!(cfg.chain.account, format!("node{i}.devnet"));
        assert!(i < accounts, "the devnet creates node0…node{} only", accounts - 1);
        let (_, devnet_at) = ms.iter().find(|(src, _)| *src == devnet_volume.0).expect("the devnet volume mounted");
        assert_eq!(
            cfg.chain.account_key_file,
            Path::new(devnet_at).join("keys").join(format!("{}.json", cfg.chain.account)),
            "the devnet writes keys/<account>.json under --data"
        );
        configs.insert(n, cfg);
    }

    // Bootstrap: node1…node4 dial node0 by service name, port and peer id.
    let seed = s(&svc("node0")["environment"]["POR_NODE_SEED"]);
    let boot_id = peer_id_of_seed(seed);
    assert!(configs["node0"].node.bootstrap.is_empty());
    for i in 1..5 {
        let cfg = &configs[&format!("node{i}")];
        assert_eq!(cfg.node.bootstrap.len(), 1);
        let b = &cfg.node.bootstrap[0];
        assert_eq!(dns_host(b), "node0");
        assert_eq!(tcp_port(b), tcp_port(&configs["node0"].node.listen[0]));
        let (peer, _) = por::config::parse_bootstrap(b).unwrap();
        assert_eq!(peer, boot_id, "node{i}'s bootstrap peer id is not node0's (POR_NODE_SEED)");
        let deps = svc(&format!("node{i}"))["depends_on"].as_mapping().unwrap();
        assert!(deps.contains_key("node0") && deps.contains_key("devnet"));
    }

    // The health check asks a probe (no token needed there).
    let health = words(&svc("node0")["healthcheck"]["test"]).join(" ");
    assert!(
        health.contains("GET /livez ") && health.contains(&format!("/{}", api_port(&configs["node0"]))),
        "{health}"
    );

    // Prometheus (inside compose) scrapes exactly the nodes' metrics
    // listeners; the host ports are the ones deploy/prometheus.yml scrapes
    // for `make testnet`.
    let pm = mounts("prometheus");
    let flag = words(&svc("prometheus")["command"])
        .into_iter()
        .find_map(|w| w.strip_prefix("--config.file=").map(String::from));
    let config_at = flag.expect("prometheus is started with --config.file");
    let (src, _) =
        pm.iter().find(|(_, d)| *d == config_at).unwrap_or_else(|| panic!("nothing is mounted at {config_at}: {pm:?}"));
    assert_eq!(src, "./compose/prometheus.yml");
    let inner = yaml("deploy/compose/prometheus.yml");
    // Every rule file resolves, inside the container, to a mounted host file,
    // the one it names in the checkout (deploy/alerts.yml).
    let rules = list(&inner["rule_files"]);
    assert!(!rules.is_empty(), "compose's Prometheus loads no alert rules");
    for rule in rules {
        let inside = normalize(&Path::new(&config_at).parent().unwrap().join(&rule));
        let (host, _) = pm.iter().find(|(_, d)| Path::new(d) == inside).unwrap_or_else(|| {
            panic!("rule file {rule} is {} in the container, where nothing is mounted: {pm:?}", inside.display())
        });
        let in_checkout = normalize(&deploy.join("compose").join(&rule));
        assert_eq!(
            normalize(&deploy.join(host)),
            in_checkout,
            "{rule}: the mount is not the file the checkout's path names"
        );
        assert!(in_checkout.is_file(), "{}", in_checkout.display());
    }
    let targets: BTreeSet<String> =
        list(&inner["scrape_configs"][0]["static_configs"][0]["targets"]).into_iter().collect();
    let expected: BTreeSet<String> = configs.iter().map(|(n, cfg)| format!("{n}:{}", metrics_port(cfg))).collect();
    assert_eq!(targets, expected);
    assert_eq!(inner["scrape_configs"][0]["metrics_path"], "/metrics");
    // deploy/prometheus.yml: `por testnet`'s node i on 127.0.0.1:(metrics_port + i),
    // labelled node<i>, the same host ports as compose's node<i>.
    let testnet = por::testnet::TestnetOptions::default();
    let local = yaml("deploy/prometheus.yml");
    let mut local_targets = Vec::new();
    for sc in local["scrape_configs"][0]["static_configs"].as_sequence().unwrap() {
        for t in list(&sc["targets"]) {
            local_targets.push((t, s(&sc["labels"]["node"]).to_string()));
        }
    }
    let expected: Vec<(String, String)> = (0..testnet.nodes)
        .map(|i| (format!("127.0.0.1:{}", testnet.metrics_port as usize + i), format!("node{i}")))
        .collect();
    assert_eq!(local_targets, expected, "deploy/prometheus.yml against `por testnet`'s defaults");
    let local_ports: Vec<u16> =
        local_targets.iter().map(|(t, _)| t.rsplit(':').next().unwrap().parse().unwrap()).collect();
    assert_eq!(local_ports, metrics_host_ports, "compose publishes node<i>'s metrics where `por testnet` serves them");

    // Grafana: the dashboard and its provisioning.
    let gm = mounts("grafana");
    let dash_at = gm.iter().find(|(src, _)| src == "./grafana/por.json").map(|(_, d)| d.clone()).unwrap();
    let dashboards = yaml("deploy/grafana/provisioning/dashboards/por.yml");
    let provider_path = s(&dashboards["providers"][0]["options"]["path"]);
    assert_eq!(Path::new(&dash_at).parent().unwrap(), Path::new(provider_path));
    let ds = yaml("deploy/grafana/provisioning/datasources/prometheus.yml");
    assert_eq!(ds["datasources"][0]["type"], "prometheus");
    assert_eq!(ds["datasources"][0]["url"], "http://prometheus:9090");
    assert!(gm.iter().any(|(src, d)| src == "./grafana/provisioning/datasources"
        && d == "/etc/grafana/provisioning/datasources"));
    assert!(
        gm.iter()
            .any(|(src, d)| src == "./grafana/provisioning/dashboards" && d == "/etc/grafana/provisioning/dashboards")
    );
}

// ---------------------------------------------------------------------------
// deploy/k8s/

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in deploy/k8s"))
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    selector.as_mapping().unwrap().iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[test]
fn kubernetes_manifests_agree_with_the_config_and_the_image() {
    let kust = yaml("deploy/k8s/kustomization.yaml");
    let namespace = s(&kust["namespace"]).to_string();
    let resources = list(&kust["resources"]);
    let on_disk: BTreeSet<String> = std::fs::read_dir(repo().join("deploy/k8s"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|f| f.ends_with(".yaml") && f != "kustomization.yaml")
        .collect();
    assert_eq!(on_disk, resources.iter().cloned().collect(), "kustomization lists every manifest");
    let docs: Vec<Value> = resources.iter().flat_map(|r| yaml_docs(&format!("deploy/k8s/{r}"))).collect();
    for d in &docs {
        assert!(d["apiVersion"].is_string() && d["kind"].is_string() && d["metadata"]["name"].is_string(), "{d:?}");
    }
    find(&docs, "Namespace", &namespace);

    // The ConfigMap's por.toml: valid as it stands and for every pod.
    let sts = docs.iter().find(|d| d["kind"] == "StatefulSet").expect("a StatefulSet");
    let sts_name = s(&sts["metadata"]["name"]);
    let replicas = sts["spec"]["replicas"].as_u64().unwrap();
    let pod = &sts["spec"]["template"]["spec"];
    let pod_labels = &sts["spec"]["template"]["metadata"]["labels"];
    let volume = |name: &str| -> &Value {
        pod["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("volume {name}"))
    };
    let cm_name = s(&volume("config-template")["configMap"]["name"]);
    let template = s(&find(&docs, "ConfigMap", cm_name)["data"]["por.toml"]);
    parse_config("the ConfigMap's por.toml template", template);
    let mut cfgs = Vec::new();
    for i in 0..replicas {
        let cfg = parse_config(&format!("por.toml for {sts_name}-{i}"), &template.replace("@ORDINAL@", &i.to_string()));
        assert!(!cfg.chain.account.contains('@') && cfg.chain.account.ends_with(".testnet"));
        assert_eq!(cfg.chain.rpc, ["https://rpc.testnet.near.org"]);
        cfgs.push(cfg);
    }
    let accounts: BTreeSet<&str> = cfgs.iter().map(|c| c.chain.account.as_str()).collect();
    assert_eq!(accounts.len() as u64, replicas, "one NEAR account per pod");
    let cfg = &cfgs[0];
    // Kubernetes waits out the node's drain before it kills the pod.
    let grace = pod["terminationGracePeriodSeconds"].as_u64().expect("terminationGracePeriodSeconds");
    assert!(
        grace > cfg.node.drain_timeout_secs,
        "a {grace} s grace period vs a {} s drain",
        cfg.node.drain_timeout_secs
    );

    // The init container renders that template into the config volume.
    let init = &pod["initContainers"][0];
    let script = words(&init["command"]).join(" ");
    let init_mount = |vol: &str| -> String {
        let m = init["volumeMounts"].as_sequence().unwrap().iter().find(|m| m["name"] == vol).unwrap();
        s(&m["mountPath"]).to_string()
    };
    assert!(script.contains("@ORDINAL@") && script.contains("${HOSTNAME##*-}"), "{script}");
    assert!(script.contains(&format!("{}/por.toml", init_mount("config-template"))), "{script}");
    assert!(script.contains(&format!("> {}/por.toml", init_mount("config"))), "{script}");

    // The node container: command, ports, probes, mounts, user.
    let c = &pod["containers"][0];
    assert_eq!(words(&c["args"]), ["node", "run", "--config", "/etc/por/por.toml"]);
    let port = |name: &str| -> u16 {
        let p = c["ports"].as_sequence().unwrap().iter().find(|p| p["name"] == name).unwrap();
        p["containerPort"].as_u64().unwrap() as u16
    };
    assert_eq!(port("p2p"), tcp_port(&cfg.node.listen[0]));
    assert_eq!(port("api"), api_port(cfg));
    assert_eq!(port("metrics"), metrics_port(cfg));
    assert!(cfg.api_addr().unwrap().ip().is_unspecified(), "probes reach the API on the pod IP");
    assert!(cfg.metrics_addr().unwrap().unwrap().ip().is_unspecified(), "Prometheus scrapes the pod IP");
    let exposed = exposed_ports();
    assert!([port("p2p"), port("api"), port("metrics")].iter().all(|p| exposed.contains(p)));
    for (probe, path) in [("startupProbe", "/livez"), ("readinessProbe", "/readyz"), ("livenessProbe", "/livez")] {
        assert_eq!(c[probe]["httpGet"]["port"], "api", "{probe}");
        assert_eq!(c[probe]["httpGet"]["path"], path, "{probe}");
    }
    let ann = &sts["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(s(&ann["prometheus.io/port"]), port("metrics").to_string(), "scraped without a token");
    assert_eq!(ann["prometheus.io/path"], "/metrics");
    let mount = |vol: &str| -> String {
        let m = c["volumeMounts"].as_sequence().unwrap().iter().find(|m| m["name"] == vol).unwrap();
        s(&m["mountPath"]).to_string()
    };
    let claim = &sts["spec"]["volumeClaimTemplates"][0];
    assert_eq!(Path::new(&mount(s(&claim["metadata"]["name"]))), cfg.node.data_dir, "data_dir on the pod's claim");
    assert_eq!(init_mount(s(&claim["metadata"]["name"])), mount(s(&claim["metadata"]["name"])));
    assert_eq!(mount("config"), "/etc/por");
    assert!(volume("config")["emptyDir"].is_mapping());
    // Secrets: only the init container mounts them, and installs this pod's
    // files into the data volume as 0600 files of the node's user (the
    // node refuses group-readable keys and tokens, which a Secret volume's
    // files are once fsGroup applies).
    let data_at = mount(s(&claim["metadata"]["name"]));
    let secret_of = |vol: &str| -> (String, String) {
        let v = volume(vol);
        assert!(v["secret"]["secretName"].is_string(), "volume {vol} is a Secret");
        (s(&v["secret"]["secretName"]).to_string(), init_mount(vol))
    };
    let installs = |from: &str, to: &str| script.contains(&format!("install -m 600 {from} {to}"));
    let (token_secret, token_at) = secret_of("api-token");
    assert_eq!(token_secret, "por-api-token");
    assert!(volume("api-token")["secret"]["optional"].as_bool() != Some(true), "the API token is required");
    for file in [por_node::api::auth::ADMIN_TOKEN_FILE, por_node::api::auth::READONLY_TOKEN_FILE] {
        assert!(installs(&format!("{token_at}/{file}"), &format!("{data_at}/{file}")), "{file}: {script}");
    }
    let (_, accounts_at) = secret_of("accounts");
    assert!(cfg.chain.account_key_file.is_relative(), "the account key is read from data_dir");
    assert!(
        installs(
            &format!("\"{accounts_at}/node-${{ordinal}}.json\""),
            &format!("{data_at}/{}", cfg.chain.account_key_file.display())
        ),
        "{script}"
    );
    for vol in ["api-token", "accounts", "bootstrap-key"] {
        let in_node = c["volumeMounts"].as_sequence().unwrap().iter().any(|m| m["name"] == vol);
        assert!(!in_node, "the node container does not mount the Secret volume {vol}");
    }
    let sec = &pod["securityContext"];
    assert_eq!(sec["runAsUser"].as_u64().unwrap().to_string(), RUNTIME_UID, "the image's user");
    assert_eq!(sec["fsGroup"].as_u64().unwrap().to_string(), RUNTIME_UID, "the claim writable by that user");
    assert_eq!(sec["runAsNonRoot"], true);

    // Services: the headless one names the pods; the bootstrap one selects
    // pod 0, and the config's bootstrap address resolves to it.
    assert!(labels_match(&sts["spec"]["selector"]["matchLabels"], pod_labels));
    let headless = find(&docs, "Service", s(&sts["spec"]["serviceName"]));
    assert_eq!(headless["spec"]["clusterIP"], "None");
    assert!(labels_match(&headless["spec"]["selector"], pod_labels));
    assert_eq!(cfg.node.bootstrap.len(), 1);
    let b = &cfg.node.bootstrap[0];
    let host = dns_host(b);
    let boot_name = host.strip_suffix(&format!(".{namespace}.svc.cluster.local")).unwrap_or(&host);
    let boot = find(&docs, "Service", boot_name);
    let sel = boot["spec"]["selector"].as_mapping().unwrap();
    assert_eq!(sel.get("statefulset.kubernetes.io/pod-name").unwrap(), &format!("{sts_name}-0"));
    let mut pod0_labels = pod_labels.clone();
    pod0_labels
        .as_mapping_mut()
        .unwrap()
        .insert("statefulset.kubernetes.io/pod-name".into(), format!("{sts_name}-0").into());
    assert!(labels_match(&boot["spec"]["selector"], &pod0_labels));
    let svc_port = boot["spec"]["ports"].as_sequence().unwrap().iter().find(|p| p["targetPort"] == "p2p").unwrap();
    assert_eq!(svc_port["port"].as_u64().unwrap() as u16, tcp_port(b));
    for svc in [headless, boot] {
        for p in svc["spec"]["ports"].as_sequence().unwrap() {
            let target = s(&p["targetPort"]);
            assert!(
                ["p2p", "api", "metrics"].contains(&target),
                "Service port targets {target}, not a named container port"
            );
        }
    }

    // The "restricted" Pod Security Standard: the namespace enforces it, and
    // the pod and every container (init containers too) pass it.
    let ns = find(&docs, "Namespace", &namespace);
    assert_eq!(ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted");
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        assert!(pod[key].as_bool() != Some(true), "pod {key}");
    }
    for v in pod["volumes"].as_sequence().unwrap() {
        assert!(v["hostPath"].is_null(), "a hostPath volume: {v:?}");
    }
    let pod_sec = &pod["securityContext"];
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .flat_map(|k| pod[*k].as_sequence().map(|v| v.iter().collect::<Vec<_>>()).unwrap_or_default())
        .collect();
    assert_eq!(containers.len(), 2, "render-config and por");
    for k in &containers {
        let name = s(&k["name"]);
        let sec = &k["securityContext"];
        let either = |key: &str| if sec[key].is_null() { &pod_sec[key] } else { &sec[key] };
        assert_eq!(either("runAsNonRoot"), &Value::Bool(true), "{name}: runAsNonRoot");
        assert!(either("runAsUser").as_u64() != Some(0), "{name}: runs as root");
        assert_eq!(either("seccompProfile")["type"], "RuntimeDefault", "{name}: seccompProfile");
        assert_eq!(sec["allowPrivilegeEscalation"], false, "{name}: allowPrivilegeEscalation");
        assert!(sec["privileged"].as_bool() != Some(true), "{name}: privileged");
        assert_eq!(list(&sec["capabilities"]["drop"]), ["ALL"], "{name}: capabilities.drop");
        let added = list(&sec["capabilities"]["add"]);
        assert!(added.iter().all(|c| c == "NET_BIND_SERVICE"), "{name}: capabilities.add {added:?}");
        for p in k["ports"].as_sequence().into_iter().flatten() {
            assert!(p["hostPort"].is_null(), "{name}: hostPort");
        }
    }

    // The NetworkPolicy: it selects the pods; from anywhere it admits p2p
    // only; every other rule names where from and never admits the API.
    let np = docs.iter().find(|d| d["kind"] == "NetworkPolicy").expect("a NetworkPolicy");
    assert!(labels_match(&np["spec"]["podSelector"]["matchLabels"], pod_labels), "it selects the nodes");
    assert!(list(&np["spec"]["policyTypes"]).contains(&"Ingress".to_string()), "it isolates ingress");
    let port_names: BTreeSet<String> =
        c["ports"].as_sequence().unwrap().iter().map(|p| s(&p["name"]).to_string()).collect();
    let mut open_to_all = BTreeSet::new();
    for rule in np["spec"]["ingress"].as_sequence().unwrap() {
        let ports: Vec<String> = rule["ports"]
            .as_sequence()
            .expect("every ingress rule names its ports")
            .iter()
            .map(|p| s_owned(&p["port"]))
            .collect();
        for p in &ports {
            assert!(port_names.contains(p), "the NetworkPolicy admits {p}, not a named container port");
            assert!(p != "api", "the NetworkPolicy admits the API port");
        }
        let from = rule["from"].as_sequence().map(|f| f.len()).unwrap_or(0);
        if from == 0 {
            open_to_all.extend(ports);
        }
    }
    assert_eq!(open_to_all, BTreeSet::from(["p2p".to_string()]), "only p2p from anywhere");
}

// ---------------------------------------------------------------------------
// deploy/testnet.toml

#[test]
fn testnet_template_parses_and_points_at_near_testnet() {
    let cfg = parse_config("deploy/testnet.toml", &read("deploy/testnet.toml"));
    // The testnet preset's endpoints, with failover between them.
    assert_eq!(cfg.node.network, Some(por::config::Network::Testnet));
    assert_eq!(cfg.chain.rpc, por::config::network::TESTNET_RPC);
    assert!(cfg.chain.rpc.len() >= 2, "more than one endpoint to fail over to");
    assert!(cfg.chain.account.ends_with(".testnet") && cfg.chain.contract.ends_with(".testnet"));
    assert!(cfg.api_addr().unwrap().ip().is_loopback(), "the API spends money: loopback by default");
    assert!(cfg.node.listen.iter().any(|l| l.starts_with("/ip4/0.0.0.0/")), "reachable by other nodes");
    assert!(exposed_ports().contains(&tcp_port(&cfg.node.listen[0])), "same p2p port as the image");
    assert!(cfg.services.is_empty() && cfg.node.bootstrap.is_empty(), "placeholders stay commented out");
}

#[test]
fn the_testnet_guide_names_files_that_exist() {
    let guide = read("docs/TESTNET.md");
    let mut named = BTreeSet::new();
    for word in guide.split(|c: char| c.is_whitespace() || "`()[],:\"'".contains(c)) {
        let word = word.trim_end_matches('.');
        if ["deploy/", "node/", "files/", "por/", "docs/"].iter().any(|p| word.starts_with(p)) && !word.ends_with('/') {
            named.insert(word.to_string());
        }
    }
    assert!(named.len() >= 8, "{named:?}");
    for path in named {
        assert!(repo().join(&path).exists(), "docs/TESTNET.md names {path}, which does not exist");
    }
}
