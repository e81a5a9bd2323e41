//! Building a run from a scenario: the topology and its sockpuppets, every
//! node's engine with the behaviour the scenario gives it, the chain with
//! the graph's channels open, the terms every engine checks routes
//! against, the workload's clients and servers, the flooders' streams.

use super::*;

impl Sim {
    /// Builds the network of a scenario.
    pub fn new(sc: Scenario, trace: Option<Box<dyn Write>>) -> Result<Sim, ScenarioError> {
        let mut rng = ChaCha8Rng::seed_from_u64(sc.seed);
        let mut built: Built = topology::build(&sc.topology, &mut rng)?;
        topology::add_sockpuppets(&mut built, &sc.topology, &sc.sockpuppets, &mut rng)?;
        let n = built.names.len();
        let rules = crate::chain::ChainRules {
            penalty: sc.chain.severance_penalty,
            slash_bps: sc.chain.partition_slash_bps,
            step_budget: sc.chain.partition_step_budget,
            settle_batch: sc.chain.settle_batch,
            claim_ttl_ms: sc.chain.claim_ttl_ms,
            claim_storage_fee: 0,
            reconnect_window_ms: sc.chain.reconnect_window_ms,
        };
        let mut chain = Chain::new(&built.stakes, &built.service_ms, rules);
        // Per-node configs and classes.
        // No disk here: persists would only be dropped.
        let base = ProtocolConfig { emit_persists: false, ..sc.protocol.clone() };
        let mut configs: Vec<ProtocolConfig> = vec![base; n];
        let mut class = vec!["honest".to_string(); n];
        let mut offline_from = vec![None; n];
        let mut slow = vec![0u64; n];
        for &p in built.puppets.keys() {
            // A puppet shields its target: it never cuts it before the
            // network-wide max_late_ms forces it, and pays no late fee.
            let c = &mut configs[p as usize];
            class[p as usize] = "puppet".into();
            c.faults.withhold_late_fees = true;
            c.policy.missed_syncs = 0;
            c.policy.sever_overdue_after_ms = None;
            c.policy.late_fee_grace_ms = u64::MAX / 4;
        }
        let mut flooders = Vec::new();
        let named: Vec<u32> =
            sc.behaviours.iter().flat_map(|b| b.nodes.iter()).filter_map(|nm| built.index(nm).ok()).collect();
        for b in &sc.behaviours {
            let mut who: Vec<u32> = b.nodes.iter().map(|nm| built.index(nm)).collect::<Result<_, _>>()?;
            let mut guard = 0;
            while (who.len() as u32) < b.nodes.len() as u32 + b.count && guard < 100 * (b.count + 1) {
                guard += 1;
                let c = rng.gen_range(0..n as u32);
                if !who.contains(&c) && !named.contains(&c) && class[c as usize] == "honest" {
                    who.push(c);
                }
            }
            for w in who {
                let w = w as usize;
                if let Some(f) = &b.faults {
                    configs[w].faults = f.clone();
                }
                match b.kind.as_str() {
                    "honest" => {}
                    "offline" => offline_from[w] = Some(b.from_ms),
                    "slow" => slow[w] = b.extra_ms,
                    "no_late_fees" => configs[w].faults.withhold_late_fees = true,
                    "false_notices" => configs[w].faults.false_notices = true,
                    // A notice naming a channel that is not below it on the
                    // route: refused at once, and its sender cut.
                    "misaddressed_notices" => configs[w].faults.misaddressed_notices = true,
                    // A notice for its downstream channel, which it then
                    // closes cooperatively (the honest peer confirms, as a
                    // node's agent does): the close confirms no severance.
                    "close_dodge" => configs[w].faults.false_notices = true,
                    "silent" => configs[w].faults.drop_requests = true,
                    // Every paid request answered `Busy`: a first hop that
                    // refuses everything, within the rules.
                    "refusing" => configs[w].faults.refuse_requests = true,
                    // An attacker's own node keeps to no limits.
                    "flooder" => {
                        let l = &mut configs[w].limits;
                        (l.max_in_flight, l.max_value_in_flight) = (usize::MAX, u128::MAX);
                        (l.max_bytes_held, l.max_late_liability) = (u64::MAX, u128::MAX);
                    }
                    "lying_requester" => {
                        let l = &mut configs[w].limits;
                        (l.max_bytes_held, l.max_value_in_flight) = (u64::MAX, u128::MAX);
                    }
                    k => return Err(ScenarioError::Invalid(format!("unknown behaviour {k:?}"))),
                }
                if b.kind != "honest" {
                    class[w] = b.kind.clone();
                }
                if b.kind == "flooder" {
                    flooders.push((w as u32, b.from_ms, b.flood_per_sec, b.flood_requests));
                }
                if let Some(p) = &b.policy {
                    configs[w].policy = p.clone();
                }
            }
        }
        let mut nodes: Vec<SimNode> = (0..n)
            .map(|i| SimNode {
                engine: NodeEngine::new(configs[i].clone(), SimSigner(sim_key(i as u32)), SimVerifier),
                name: built.names[i].clone(),
                class: class[i].clone(),
                offline_from: offline_from[i],
                slow_ms: slow[i],
                initial: built.stakes[i],
                sent: 0,
                served: 0,
                lies: 0,
            })
            .collect();
        let mut chans = Vec::with_capacity(built.edges.len());
        let mut buf = Vec::new();
        let mut initial_timers: Vec<(u64, u32, Timer)> = Vec::new();
        // The chain's record every engine checks routes against (one copy,
        // shared: the simulated graph only loses edges, and an engine refuses
        // a route over a closed channel of its own anyway).
        let mut terms = por_core::protocol::StaticTerms::default();
        for (i, ms) in built.service_ms.iter().enumerate() {
            terms.set_service(sim_key(i as u32), *ms);
        }
        for (i, e) in built.edges.iter().enumerate() {
            let channel = ChannelId(i as u64);
            let params = EdgeParams { latency_ms: e.latency_ms, base_fee: e.base_fee, byte_fee: e.byte_fee };
            terms.add_edge(channel, sim_key(e.a), sim_key(e.b), params);
            chain.open(channel, e.a, e.b, params, e.deposit);
            for (x, y) in [(e.a, e.b), (e.b, e.a)] {
                let setup = ChannelSetup {
                    channel,
                    remote: sim_key(y),
                    local_deposit: e.deposit,
                    remote_deposit: e.deposit,
                    latency_ms: e.latency_ms,
                    sync_ms: Some(e.sync_ms),
                };
                nodes[x as usize].engine.open_channel(setup, 0, &mut buf);
                nodes[x as usize].initial += e.deposit;
                for eff in buf.drain(..) {
                    if let Effect::SetTimer { at_ms, timer } = eff {
                        initial_timers.push((at_ms, x, timer));
                    }
                }
            }
            chans.push(Chan { a: e.a, b: e.b, latency_ms: e.latency_ms, last: [0, 0] });
        }
        let terms: std::sync::Arc<dyn por_core::protocol::TermsView> = std::sync::Arc::new(terms);
        for node in &mut nodes {
            node.engine.set_terms(terms.clone());
        }
        let w = &sc.workload;
        let all: Vec<u32> = (0..n as u32).filter(|i| !built.puppets.contains_key(i)).collect();
        let clients = if w.clients.is_empty() {
            all.clone()
        } else {
            w.clients.iter().map(|c| built.index(c)).collect::<Result<_, _>>()?
        };
        let servers = if !w.servers.is_empty() {
            w.servers.iter().map(|c| built.index(c)).collect::<Result<_, _>>()?
        } else if w.server_count == 0 || w.server_count as usize >= all.len() {
            all.clone()
        } else {
            let mut s = Vec::new();
            while s.len() < w.server_count as usize {
                let c = all[rng.gen_range(0..all.len())];
                if !s.contains(&c) {
                    s.push(c);
                }
            }
            s.sort_unstable();
            s
        };
        let floods = flooders.iter().filter_map(|&(f, at, rate, n)| flood(&built, f, at, rate, n)).collect();
        let mut sim = Sim {
            sc,
            now: 0,
            queue: BTreeMap::new(),
            spare: Vec::new(),
            pending: 0,
            slab: Vec::new(),
            free: Vec::new(),
            seq: 0,
            offline_at: nodes.iter().map(|n| n.offline_from.unwrap_or(u64::MAX)).collect(),
            nodes,
            chans,
            chain,
            graph_version: 0,
            rng,
            routes: RouteCache::default(),
            tracks: HashMap::default(),
            reqs: Vec::new(),
            free_reqs: Vec::new(),
            fixed: Vec::new(),
            floods,
            watchers: HashMap::new(),
            clients,
            servers,
            generated: 0,
            arrival_clock: 0.0,
            nonce: 0,
            stats: Stats::default(),
            trace,
            buf: Vec::new(),
        };
        for (at, node, timer) in initial_timers {
            sim.push(at, 1, Ev::Timer { node, timer });
        }
        for f in sim.sc.workload.fixed.clone() {
            let (from, to) = (built.index(&f.from)?, built.index(&f.to)?);
            for k in 0..f.count {
                sim.push(f.at_ms + k * f.every_ms, 2, Ev::Fixed { from, to });
            }
        }
        for i in 0..sim.floods.len() {
            let at = sim.floods[i].clock as u64;
            sim.push(at, 2, Ev::Flood { i: i as u32 });
        }
        if sim.sc.workload.requests > 0 && !sim.clients.is_empty() && !sim.servers.is_empty() {
            let at = sim.sc.workload.start_ms;
            sim.arrival_clock = at as f64;
            sim.push(at, 2, Ev::Arrival);
        }
        Ok(sim)
    }
}

/// Flooder `f`'s stream: `n` requests at `rate` per second from `at` on,
/// each over its lowest-numbered channel to the node at its other end (the
/// relay it floods), which serves them: they hold that channel's slots at
/// the relay and nothing beyond it. `None` when `f` has no channel or
/// nothing to send.
fn flood(built: &Built, f: u32, at: u64, rate: f64, n: u64) -> Option<Flood> {
    if n == 0 || rate <= 0.0 {
        return None;
    }
    let (c, e) = built.edges.iter().enumerate().find(|(_, e)| e.a == f || e.b == f)?;
    let relay = if e.a == f { e.b } else { e.a };
    let route = CachedRoute {
        nodes: vec![f, relay],
        channels: vec![ChannelId(c as u64)],
        params: vec![EdgeParams { latency_ms: e.latency_ms, base_fee: e.base_fee, byte_fee: e.byte_fee }],
    };
    Some(Flood { from: f, route, left: n, every_ms: 1000.0 / rate, clock: at as f64 })
}
