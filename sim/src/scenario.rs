//! Scenario files (TOML): topology, network, workload, behaviours, chain
//! terms, protocol settings and the expectations a test checks.
//!
//! Every field has a default, so a scenario names only what it changes. See
//! `sim/scenarios/` for examples; each is parsed and run by the tests.

use por_core::protocol::{FailurePolicy, FaultInjection, ProtocolConfig};
use serde::{Deserialize, Serialize};

/// A whole scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// Name, echoed in the summary. Default `"unnamed"`.
    pub name: String,
    /// Seed of the run's only RNG. Default `1`.
    pub seed: u64,
    /// Virtual time at which the run stops, in ms (requests still open are
    /// then judged as they stand). Default `60_000`.
    pub duration_ms: u64,
    /// The protocol settings every node starts from (behaviours may change
    /// a node's policy or faults). Without a `[protocol]` table idle channels
    /// stay silent (`sync_when_idle = false`, for large runs); a `[protocol]`
    /// table starts from `ProtocolConfig`'s own defaults, where idle channels
    /// sync. Persists are always off (the simulator has no disk).
    pub protocol: ProtocolConfig,
    /// The chain's terms.
    pub chain: ChainConfig,
    /// The graph.
    pub topology: Topology,
    /// Actual message timing and loss.
    pub network: Network,
    /// The requests.
    pub workload: Workload,
    /// Misbehaving or specially configured nodes.
    pub behaviours: Vec<BehaviourSpec>,
    /// Sockpuppet clusters.
    pub sockpuppets: Vec<Sockpuppets>,
    /// What a test expects of the summary.
    pub expect: Expect,
    /// How far a requester's late fees may lag behind its lateness before the
    /// invariant check reports it. Default: the requester's own
    /// `late_fee_grace_ms` plus its first channel's sync interval (what an
    /// honest first hop paying at every sync needs, and what the requester's
    /// policy tolerates before it cuts the first hop).
    pub check_tolerance_ms: Option<u64>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            name: "unnamed".into(),
            seed: 1,
            duration_ms: 60_000,
            protocol: ProtocolConfig { sync_when_idle: false, ..ProtocolConfig::default() },
            chain: ChainConfig::default(),
            topology: Topology::default(),
            network: Network::default(),
            workload: Workload::default(),
            behaviours: Vec::new(),
            sockpuppets: Vec::new(),
            expect: Expect::default(),
            check_tolerance_ms: None,
        }
    }
}

/// The contract's terms (DESIGN §2.8).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChainConfig {
    /// Severance penalty, half charged to each side. Default `"1000000000"`.
    #[serde(with = "por_core::bytes::amount_serde")]
    pub severance_penalty: u128,
    /// Share of stake a partitioned node loses, in basis points. Default `1000`.
    pub partition_slash_bps: u32,
    /// Storage reads one call of a partition check may make (the
    /// contract's gas bound). Default `10_000`.
    pub partition_step_budget: u64,
    /// Nodes slashed, or claims paid, per call of a settlement. Default `25`.
    pub settle_batch: u32,
    /// Lifetime of a reimbursement claim. Default `2_592_000_000` (30 days).
    pub claim_ttl_ms: u64,
    /// How long a split waits after its severance before it is settled (the
    /// simulator settles every split at its deadline, and those still
    /// pending at the end of the run then). Default `5_000`.
    pub reconnect_window_ms: u64,
    /// Delay until a severance is visible to nodes other than the severer.
    /// Default `1_000`.
    pub visible_after_ms: u64,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            severance_penalty: 1_000_000_000,
            partition_slash_bps: 1000,
            partition_step_budget: 10_000,
            settle_batch: 25,
            claim_ttl_ms: 2_592_000_000,
            reconnect_window_ms: 5_000,
            visible_after_ms: 1_000,
        }
    }
}

/// The graph: explicit, generated, or from a file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Topology {
    /// `"explicit"` (the `nodes` and `edges` below), `"file"` (`path`, a TOML
    /// file with `nodes` and `edges`), `"random"` (Erdős–Rényi with average
    /// degree `degree`), `"preferential"` (Barabási–Albert, `degree / 2` links
    /// per new node) or `"small_world"` (Watts–Strogatz ring, `degree`
    /// neighbours, `rewire` probability). Default `"random"`.
    pub kind: String,
    /// Path of the topology file for `"file"`, relative to the scenario.
    pub path: Option<String>,
    /// Named nodes (explicit topologies).
    pub nodes: Vec<NodeSpec>,
    /// Edges (explicit topologies).
    pub edges: Vec<EdgeSpec>,
    /// Node count of generated topologies. Default `100`.
    pub n: u32,
    /// Average degree of generated topologies. Default `6`.
    pub degree: u32,
    /// Rewiring probability of small worlds. Default `0.1`.
    pub rewire: f64,
    /// Promised latency of generated edges, uniform in `[min, max]` ms.
    /// Default `[20, 150]`.
    pub latency_ms: [u64; 2],
    /// Base fee of generated edges. Default `"1000"`.
    #[serde(with = "por_core::bytes::amount_serde")]
    pub base_fee: u128,
    /// Byte fee of generated edges. Default `"1"`.
    #[serde(with = "por_core::bytes::amount_serde")]
    pub byte_fee: u128,
    /// Deposit of each side of every channel. Default `"1000000000000000"`.
    #[serde(with = "por_core::bytes::amount_serde")]
    pub deposit: u128,
    /// Stake distribution of generated nodes.
    pub stake: StakeDist,
    /// Service time of every server. Default `10`.
    pub service_ms: u64,
    /// Sync interval of every channel. Default `500`.
    pub sync_ms: u64,
}

impl Default for Topology {
    fn default() -> Self {
        Topology {
            kind: "random".into(),
            path: None,
            nodes: Vec::new(),
            edges: Vec::new(),
            n: 100,
            degree: 6,
            rewire: 0.1,
            latency_ms: [20, 150],
            base_fee: 1000,
            byte_fee: 1,
            deposit: 1_000_000_000_000_000,
            stake: StakeDist::default(),
            service_ms: 10,
            sync_ms: 500,
        }
    }
}

/// A named node of an explicit topology.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Name.
    pub name: String,
    /// Stake; default the distribution's mean.
    #[serde(default, with = "opt_amount")]
    pub stake: Option<u128>,
    /// Service time; default the topology's.
    #[serde(default)]
    pub service_ms: Option<u64>,
}

/// An edge of an explicit topology.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeSpec {
    /// One end's name.
    pub a: String,
    /// The other end's name.
    pub b: String,
    /// Promised one-way latency.
    pub latency_ms: u64,
    /// Sync interval; default the topology's.
    #[serde(default)]
    pub sync_ms: Option<u64>,
    /// Base fee; default the topology's.
    #[serde(default, with = "opt_amount")]
    pub base_fee: Option<u128>,
    /// Byte fee; default the topology's.
    #[serde(default, with = "opt_amount")]
    pub byte_fee: Option<u128>,
    /// Deposit of each side; default the topology's.
    #[serde(default, with = "opt_amount")]
    pub deposit: Option<u128>,
}

/// How stakes are drawn.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StakeDist {
    /// `"uniform"` in `[min, max]`, or `"pareto"` (heavy tail, shape `alpha`,
    /// scale `min`, clipped at `max`). Default `"uniform"`.
    pub kind: String,
    /// Smallest stake. Default `"1000000000000"`.
    #[serde(with = "por_core::bytes::amount_serde")]
    pub min: u128,
    /// Largest stake. Default `"10000000000000"`.
    #[serde(with = "por_core::bytes::amount_serde")]
    pub max: u128,
    /// Pareto shape. Default `1.5`.
    pub alpha: f64,
}

impl Default for StakeDist {
    fn default() -> Self {
        StakeDist { kind: "uniform".into(), min: 1_000_000_000_000, max: 10_000_000_000_000, alpha: 1.5 }
    }
}

/// Actual message timing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Network {
    /// An honest edge delivers in `promised × U(min_frac, 1)`: never later
    /// than promised. Default `0.5`.
    pub min_frac: f64,
    /// Probability that any one message is lost. Default `0.0`.
    pub loss: f64,
}

impl Default for Network {
    fn default() -> Self {
        Network { min_frac: 0.5, loss: 0.0 }
    }
}

/// The requests of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Workload {
    /// Random requests to send. Default `100`.
    pub requests: u64,
    /// Poisson rate of random requests, per second. Default `100.0`.
    pub rate_per_sec: f64,
    /// When random requests start. Default `0`.
    pub start_ms: u64,
    /// Clients: node names, or empty for every node. Default empty.
    pub clients: Vec<String>,
    /// Number of random servers when `servers` is empty; `0` means every
    /// node. Default `0`.
    pub server_count: u32,
    /// Servers by name. Default empty.
    pub servers: Vec<String>,
    /// Request body size. Default `100`.
    pub body_bytes: u64,
    /// Response allowance. Default `1000`.
    pub max_response_bytes: u64,
    /// Actual response size (above the allowance, responses are dropped).
    /// Default `500`.
    pub response_bytes: u64,
    /// Largest acceptable bound for routing. Default `60_000`.
    pub max_bound_ms: u64,
    /// New attempts over another route after a failed one (a notice, a
    /// refusal, no ack): the requester's `attempts` is `1 + retries`.
    /// Default `2`.
    pub retries: u32,
    /// How long one request may take in all (the requester's
    /// `timeout_ms`): no retry starts after it, and an acknowledged attempt
    /// still open then ends pending. Default none: a request may run to the
    /// end of the run (those still open then are counted as running), so a
    /// timeout never cuts a run's requests short.
    pub request_timeout_ms: Option<u64>,
    /// How long past the first edge's round trip a requester waits for the
    /// first hop's ack before it tries another route (the requester's
    /// `ack_grace_ms`). Default `2_000`, as on the node.
    pub ack_grace_ms: u64,
    /// Route with the core's exact `find_routes` for every pair (`"exact"`),
    /// or with one cheapest-path tree per server, falling back to
    /// `find_routes` when the tree's path misses the bound (`"tree"`, for
    /// large runs). Default `"exact"`.
    pub routing: String,
    /// Requests at fixed times.
    pub fixed: Vec<FixedRequest>,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            requests: 100,
            rate_per_sec: 100.0,
            start_ms: 0,
            clients: Vec::new(),
            server_count: 0,
            servers: Vec::new(),
            body_bytes: 100,
            max_response_bytes: 1000,
            response_bytes: 500,
            max_bound_ms: 60_000,
            retries: 2,
            request_timeout_ms: None,
            ack_grace_ms: 2_000,
            routing: "exact".into(),
            fixed: Vec::new(),
        }
    }
}

/// One request at a fixed time.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedRequest {
    /// When.
    pub at_ms: u64,
    /// Client name.
    pub from: String,
    /// Server name.
    pub to: String,
    /// How many, one every `every_ms`. Default 1.
    #[serde(default = "one")]
    pub count: u64,
    /// Spacing of repeated requests. Default 1000.
    #[serde(default = "thousand")]
    pub every_ms: u64,
}

fn one() -> u64 {
    1
}
fn thousand() -> u64 {
    1000
}

/// A behaviour given to some nodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BehaviourSpec {
    /// `"honest"`, `"offline"` (from `from_ms` on: receives and sends
    /// nothing), `"slow"` (answers requests `extra_ms` late), `"no_late_fees"`
    /// (never pays late fees), `"false_notices"` (lies about severance at
    /// its deadlines), `"silent"` (drops every paid request unacknowledged
    /// but stays connected and syncs: `faults.drop_requests`), `"refusing"`
    /// (answers every paid request `Busy`: `faults.refuse_requests`),
    /// `"lying_requester"` (every request it sends lies, in turn, about a
    /// hop's fee, a hop's latency, the server's service time, the response
    /// allowance, or has a loop or more than `max_hops` hops; its first hop
    /// must refuse each with the matching reason) or `"flooder"` (besides
    /// the workload, sends `flood_requests` requests at `flood_per_sec` from
    /// `from_ms` on, all to one relay, its lowest-numbered channel's other
    /// end, which serves them; that channel's caps answer `Busy`).
    pub kind: String,
    /// Nodes by name.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Or this many random nodes (never a named one).
    #[serde(default)]
    pub count: u32,
    /// Start of the behaviour. Default 0.
    #[serde(default)]
    pub from_ms: u64,
    /// Extra delay of `"slow"`. Default 0.
    #[serde(default)]
    pub extra_ms: u64,
    /// Rate of a `"flooder"`'s requests, per second. Default 0.
    #[serde(default)]
    pub flood_per_sec: f64,
    /// Requests a `"flooder"` sends. Default 0.
    #[serde(default)]
    pub flood_requests: u64,
    /// A failure policy replacing the protocol's for these nodes.
    #[serde(default)]
    pub policy: Option<FailurePolicy>,
    /// Fault injection replacing the protocol's for these nodes (the
    /// `kind`'s own fault, if any, is added to it).
    #[serde(default)]
    pub faults: Option<FaultInjection>,
}

/// A cluster of low-stake sockpuppets around misbehaving nodes: `size`
/// puppets joined to each target and to each other, and each to `links`
/// random honest nodes; puppets relay but withhold late fees.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sockpuppets {
    /// The nodes shielded, by name.
    pub around: Vec<String>,
    /// Puppets per cluster.
    pub size: u32,
    /// Links of each puppet to honest nodes. Default 1.
    #[serde(default = "one_u32")]
    pub links: u32,
    /// Stake of each puppet. Default `"1"`.
    #[serde(default = "one_amount", with = "por_core::bytes::amount_serde")]
    pub stake: u128,
}

fn one_u32() -> u32 {
    1
}
fn one_amount() -> u128 {
    1
}

/// Expectations, checked by the tests against the summary (all optional).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Expect {
    /// Exactly this many requests ended with a response.
    pub responses: Option<u64>,
    /// At least this many.
    pub min_responses: Option<u64>,
    /// Exactly this many ended with a notice.
    pub notices: Option<u64>,
    /// At least this many.
    pub min_notices: Option<u64>,
    /// Late fees received by requesters: exactly (yocto).
    #[serde(default, with = "opt_amount")]
    pub late_fees_to_requesters: Option<u128>,
    /// At least this much late fees paid in the network.
    #[serde(default, with = "opt_amount")]
    pub min_late_fees_paid: Option<u128>,
    /// At most this much.
    #[serde(default, with = "opt_amount")]
    pub max_late_fees_paid: Option<u128>,
    /// Exactly this many severances.
    pub severances: Option<u64>,
    /// At least this many.
    pub min_severances: Option<u64>,
    /// Exactly the nodes that end partitioned (by name; empty: nobody).
    /// An honest node in it needs a comment saying why.
    pub partitioned: Vec<String>,
    /// Nodes that must not end partitioned.
    pub not_partitioned: Vec<String>,
    /// Nodes whose money must not have dropped.
    pub not_poorer: Vec<String>,
    /// The run must report no invariant violation. Default `true` when the
    /// scenario says nothing (see [`Expect::violations_ok`]).
    pub allow_violations: bool,
    /// Economic invariants (`"honest_loss"`, `"relay_loss"`,
    /// `"attacker_gain"`, see `checks`) this scenario is known to break; a
    /// scenario that lists one says why in a comment. Every other one must
    /// hold. Default empty: all must hold.
    pub economic_exceptions: Vec<String>,
    /// At least this many requests refused, by reason (`Busy`,
    /// `TermsMismatch`, …). Default empty.
    pub min_refused: std::collections::BTreeMap<String, u64>,
    /// At most this many requests from honest neighbours refused, by reason.
    /// Default empty.
    pub max_refused_to_honest: std::collections::BTreeMap<String, u64>,
    /// At least this share of the honest clients' requests ended with a
    /// response. Default none.
    pub min_honest_response_share: Option<f64>,
}

impl Expect {
    /// Whether violations are acceptable.
    pub fn violations_ok(&self) -> bool {
        self.allow_violations
    }
}

/// Serde for optional amounts as decimal strings.
mod opt_amount {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<u128>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(x) => s.serialize_str(&x.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u128>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum E {
            S(String),
            N(u64),
        }
        Ok(match Option::<E>::deserialize(d)? {
            None => None,
            Some(E::N(n)) => Some(n as u128),
            Some(E::S(s)) => Some(s.parse().map_err(|_| serde::de::Error::custom(format!("not an amount: {s:?}")))?),
        })
    }
}

/// Reading a scenario failed.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown fields.
    #[error("{path}: {source}")]
    Toml {
        /// The file.
        path: String,
        /// The parser's message (with line and column).
        source: toml::de::Error,
    },
    /// The scenario is inconsistent.
    #[error("scenario is invalid: {0}")]
    Invalid(String),
}

impl Scenario {
    /// Parses a scenario from TOML text; `path` is for messages.
    pub fn from_toml(text: &str, path: &str) -> Result<Self, ScenarioError> {
        toml::from_str(text).map_err(|source| ScenarioError::Toml { path: path.into(), source })
    }

    /// Reads a scenario file; a topology file it names is read relative to it.
    pub fn load(path: &std::path::Path) -> Result<Self, ScenarioError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io { path: p.clone(), source })?;
        let mut s = Self::from_toml(&text, &p)?;
        if s.topology.kind == "file" {
            let rel = s
                .topology
                .path
                .clone()
                .ok_or_else(|| ScenarioError::Invalid("topology kind \"file\" needs a path".into()))?;
            let full = path.parent().unwrap_or(std::path::Path::new(".")).join(rel);
            let fp = full.display().to_string();
            let t = std::fs::read_to_string(&full).map_err(|source| ScenarioError::Io { path: fp.clone(), source })?;
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct TopoFile {
                nodes: Vec<NodeSpec>,
                edges: Vec<EdgeSpec>,
            }
            let f: TopoFile = toml::from_str(&t).map_err(|source| ScenarioError::Toml { path: fp, source })?;
            s.topology.kind = "explicit".into();
            s.topology.nodes = f.nodes;
            s.topology.edges = f.edges;
        }
        Ok(s)
    }
}

/// The benchmark's scenario: a preferential-attachment graph of `n` nodes
/// (average degree 6), 100 servers, `requests` requests at 20,000 per second,
/// honest nodes, tree routing, idle channels silent.
pub fn bench_scenario(n: u32, requests: u64) -> Scenario {
    let rate = 20_000.0;
    let mut sc = Scenario { name: format!("bench-{n}"), seed: 7, ..Scenario::default() };
    sc.topology.kind = "preferential".into();
    sc.topology.n = n;
    sc.topology.degree = 6;
    sc.workload.requests = requests;
    sc.workload.rate_per_sec = rate;
    sc.workload.server_count = 100;
    sc.workload.routing = "tree".into();
    sc.workload.max_bound_ms = 10_000;
    sc.duration_ms = (requests as f64 / rate * 1000.0) as u64 + 20_000;
    sc
}
