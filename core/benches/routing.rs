//! Route search on a random 10,000-node / 50,000-edge graph.
//!
//! `make bench` (or `cargo bench -p por-core --bench routing`). Each iteration
//! routes one of 64 fixed random pairs (in turn) with a bound limit of 1.5× the
//! pair's fastest possible bound, so the latency constraint matters.
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use por_core::{ChannelId, Edge, EdgeParams, Graph, NodeIdx, NodeInfo, RouteQuery, find_routes};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const NODES: usize = 10_000;
const EDGES: usize = 50_000;

fn random_graph(rng: &mut ChaCha8Rng) -> Graph {
    let mut g = Graph::new();
    for _ in 0..NODES {
        g.add_node(NodeInfo { stake: rng.gen_range(1..1000), service_ms: rng.gen_range(0..50) });
    }
    let mut c = 0u64;
    while g.edge_count() < EDGES {
        let a = rng.gen_range(0..NODES as NodeIdx);
        let b = rng.gen_range(0..NODES as NodeIdx);
        if a == b {
            continue;
        }
        let params = EdgeParams {
            latency_ms: rng.gen_range(5..150),
            base_fee: rng.gen_range(1..1_000_000),
            byte_fee: rng.gen_range(0..100),
        };
        g.add_edge(Edge { channel: ChannelId(c), a, b, params }).expect("valid edge");
        c += 1;
    }
    g
}

fn fastest_lat(g: &Graph, from: NodeIdx, to: NodeIdx) -> Option<u64> {
    let mut dist = vec![u64::MAX; g.node_count()];
    let mut heap = BinaryHeap::from([Reverse((0u64, from))]);
    dist[from as usize] = 0;
    while let Some(Reverse((d, u))) = heap.pop() {
        if u == to {
            return Some(d);
        }
        if d > dist[u as usize] {
            continue;
        }
        for a in g.adjacent(u) {
            let nd = d + a.params.latency_ms;
            if nd < dist[a.to as usize] {
                dist[a.to as usize] = nd;
                heap.push(Reverse((nd, a.to)));
            }
        }
    }
    None
}

fn queries(g: &Graph, rng: &mut ChaCha8Rng, count: usize) -> Vec<RouteQuery> {
    let mut out = Vec::new();
    while out.len() < 64 {
        let from = rng.gen_range(0..NODES as NodeIdx);
        let to = rng.gen_range(0..NODES as NodeIdx);
        if from == to {
            continue;
        }
        let Some(lat) = fastest_lat(g, from, to) else { continue };
        let service = g.node(to).expect("node").service_ms;
        let fastest = 2 * lat + service;
        let mut q = RouteQuery::new(from, to, 1024, 16 * 1024, fastest * 3 / 2);
        q.count = count;
        out.push(q);
    }
    out
}

fn bench(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let g = random_graph(&mut rng);
    // Baseline: one plain Dijkstra on latency over the same pairs, to report
    // the route search as a ratio that survives a noisy machine.
    let base = queries(&g, &mut rng, 1);
    let mut i = 0;
    c.bench_function("baseline_dijkstra_latency_10k_50k", |b| {
        b.iter(|| {
            let q = &base[i % base.len()];
            i += 1;
            black_box(fastest_lat(&g, q.from, q.to))
        })
    });
    for (name, count) in [("route_best_10k_50k", 1), ("route_best_plus_2_alternatives_10k_50k", 3)] {
        let qs = queries(&g, &mut rng, count);
        let mut i = 0;
        c.bench_function(name, |b| {
            b.iter(|| {
                let q = &qs[i % qs.len()];
                i += 1;
                black_box(find_routes(&g, q).expect("a route exists within 1.5x the fastest bound"))
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
