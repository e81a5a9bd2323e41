//! Building the graph of a run: explicit nodes and edges, or generated ones
//! (random, preferential attachment, small world) with a stake distribution,
//! plus sockpuppet clusters.

use std::collections::{BTreeMap, HashSet};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::scenario::{ScenarioError, Sockpuppets, StakeDist, Topology};

/// One edge of the built graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltEdge {
    /// One end.
    pub a: u32,
    /// The other end.
    pub b: u32,
    /// Promised latency.
    pub latency_ms: u64,
    /// Sync interval.
    pub sync_ms: u64,
    /// Fee per message.
    pub base_fee: u128,
    /// Fee per byte.
    pub byte_fee: u128,
    /// Deposit of each side.
    pub deposit: u128,
}

/// The nodes and edges of a run.
#[derive(Debug, Clone, Default)]
pub struct Built {
    /// Node names (generated ones are `n0`, `n1`, …).
    pub names: Vec<String>,
    /// Stakes.
    pub stakes: Vec<u128>,
    /// Service times.
    pub service_ms: Vec<u64>,
    /// Edges.
    pub edges: Vec<BuiltEdge>,
    /// Puppet node → index of the cluster it belongs to.
    pub puppets: BTreeMap<u32, usize>,
}

impl Built {
    /// Index of a node by name.
    pub fn index(&self, name: &str) -> Result<u32, ScenarioError> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| i as u32)
            .ok_or_else(|| ScenarioError::Invalid(format!("no node named {name:?}")))
    }
}

fn draw_stake(d: &StakeDist, rng: &mut ChaCha8Rng) -> u128 {
    let (lo, hi) = (d.min, d.max.max(d.min));
    match d.kind.as_str() {
        "pareto" => {
            let u: f64 = rng.gen_range(f64::EPSILON..1.0);
            let x = (lo as f64) / u.powf(1.0 / d.alpha.max(0.01));
            (x as u128).clamp(lo, hi)
        }
        _ => {
            if hi == lo {
                lo
            } else {
                lo + (rng.gen_range(0.0..1.0f64) * (hi - lo) as f64) as u128
            }
        }
    }
}

/// Builds the topology of a scenario.
pub fn build(t: &Topology, rng: &mut ChaCha8Rng) -> Result<Built, ScenarioError> {
    let mut b = Built::default();
    let lat = |rng: &mut ChaCha8Rng| rng.gen_range(t.latency_ms[0]..=t.latency_ms[1].max(t.latency_ms[0]));
    match t.kind.as_str() {
        "explicit" => {
            for n in &t.nodes {
                b.names.push(n.name.clone());
                b.stakes.push(n.stake.unwrap_or_else(|| (t.stake.min + t.stake.max) / 2));
                b.service_ms.push(n.service_ms.unwrap_or(t.service_ms));
            }
            for e in &t.edges {
                let (x, y) = (b.index(&e.a)?, b.index(&e.b)?);
                if x == y {
                    return Err(ScenarioError::Invalid(format!("edge joins {} to itself", e.a)));
                }
                b.edges.push(BuiltEdge {
                    a: x,
                    b: y,
                    latency_ms: e.latency_ms,
                    sync_ms: e.sync_ms.unwrap_or(t.sync_ms),
                    base_fee: e.base_fee.unwrap_or(t.base_fee),
                    byte_fee: e.byte_fee.unwrap_or(t.byte_fee),
                    deposit: e.deposit.unwrap_or(t.deposit),
                });
            }
            return Ok(b);
        }
        "random" | "preferential" | "small_world" => {}
        k => return Err(ScenarioError::Invalid(format!("unknown topology kind {k:?}"))),
    }
    let n = t.n.max(2);
    for i in 0..n {
        b.names.push(format!("n{i}"));
        b.stakes.push(draw_stake(&t.stake, rng));
        b.service_ms.push(t.service_ms);
    }
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    let mut seen: HashSet<(u32, u32)> = HashSet::new();
    let mut add = |x: u32, y: u32, pairs: &mut Vec<(u32, u32)>| {
        let k = (x.min(y), x.max(y));
        if x != y && seen.insert(k) {
            pairs.push(k);
            true
        } else {
            false
        }
    };
    let degree = t.degree.max(1);
    match t.kind.as_str() {
        "random" => {
            // A random tree keeps the graph connected; then random pairs.
            for i in 1..n {
                let j = rng.gen_range(0..i);
                add(i, j, &mut pairs);
            }
            let target = (n as u64 * degree as u64 / 2).max(n as u64 - 1);
            let mut tries = 0u64;
            while (pairs.len() as u64) < target && tries < target * 20 {
                tries += 1;
                let (x, y) = (rng.gen_range(0..n), rng.gen_range(0..n));
                add(x, y, &mut pairs);
            }
        }
        "preferential" => {
            let m = (degree / 2).max(1);
            let mut ends: Vec<u32> = Vec::new();
            let core = (m + 1).min(n);
            for i in 0..core {
                for j in 0..i {
                    if add(i, j, &mut pairs) {
                        ends.extend([i, j]);
                    }
                }
            }
            for i in core..n {
                let mut got = 0;
                let mut tries = 0;
                while got < m && tries < 100 * m {
                    tries += 1;
                    let j = ends[rng.gen_range(0..ends.len())];
                    if add(i, j, &mut pairs) {
                        ends.extend([i, j]);
                        got += 1;
                    }
                }
            }
        }
        _ => {
            let half = (degree / 2).max(1);
            let mut ring = Vec::new();
            for i in 0..n {
                for d in 1..=half {
                    ring.push((i, (i + d) % n));
                }
            }
            for (x, y) in ring {
                if rng.gen_bool(t.rewire.clamp(0.0, 1.0)) {
                    let z = rng.gen_range(0..n);
                    if !add(x, z, &mut pairs) {
                        add(x, y, &mut pairs);
                    }
                } else {
                    add(x, y, &mut pairs);
                }
            }
        }
    }
    for (x, y) in pairs {
        let l = lat(rng);
        b.edges.push(BuiltEdge {
            a: x,
            b: y,
            latency_ms: l,
            sync_ms: t.sync_ms,
            base_fee: t.base_fee,
            byte_fee: t.byte_fee,
            deposit: t.deposit,
        });
    }
    Ok(b)
}

/// Adds sockpuppet clusters: each puppet joins its targets, the other
/// puppets of its cluster, and `links` random honest nodes.
pub fn add_sockpuppets(
    b: &mut Built,
    t: &Topology,
    clusters: &[Sockpuppets],
    rng: &mut ChaCha8Rng,
) -> Result<(), ScenarioError> {
    let honest = b.names.len() as u32;
    for (ci, c) in clusters.iter().enumerate() {
        let targets: Vec<u32> = c.around.iter().map(|n| b.index(n)).collect::<Result<_, _>>()?;
        let first = b.names.len() as u32;
        for p in 0..c.size {
            let id = b.names.len() as u32;
            b.names.push(format!("puppet{ci}_{p}"));
            b.stakes.push(c.stake);
            b.service_ms.push(t.service_ms);
            b.puppets.insert(id, ci);
            let l = t.latency_ms[0];
            let to_puppet = |a: u32| BuiltEdge {
                a,
                b: id,
                latency_ms: l,
                sync_ms: t.sync_ms,
                base_fee: t.base_fee,
                byte_fee: t.byte_fee,
                deposit: t.deposit,
            };
            b.edges.extend(targets.iter().map(|&x| to_puppet(x)));
            b.edges.extend((first..id).map(to_puppet));
            let mut linked = HashSet::new();
            for _ in 0..c.links {
                let h = rng.gen_range(0..honest);
                if !targets.contains(&h) && linked.insert(h) {
                    b.edges.push(BuiltEdge {
                        a: h,
                        b: id,
                        latency_ms: t.latency_ms[1],
                        sync_ms: t.sync_ms,
                        base_fee: t.base_fee,
                        byte_fee: t.byte_fee,
                        deposit: t.deposit,
                    });
                }
            }
        }
    }
    Ok(())
}
