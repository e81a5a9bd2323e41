//! Routes of a run, computed once per (client, server) pair and cached; a
//! cached route is dropped as soon as one of its channels left the graph.
//! A retry that must avoid channels or nodes, or spend less, is routed
//! afresh with the core's [`find_routes`] ([`RouteCache::avoiding`]).
//!
//! `"exact"` routing asks the core's [`find_routes`] (what a node does);
//! `"tree"` routing, for large runs, builds one cheapest-path tree per server
//! (Dijkstra on cost over the open edges, ties broken by node index) and
//! falls back to `find_routes` when the tree's path misses the bound.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::rc::Rc;

use por_core::graph::Graph;
use por_core::{Amount, ChannelId, EdgeParams, FoundRoute, RouteQuery, RouteWants, find_routes};

use crate::crypto::key_index;

/// A cached route: channels and nodes from the client to the server.
#[derive(Debug, Clone)]
pub struct CachedRoute {
    /// Nodes, client first.
    pub nodes: Vec<u32>,
    /// Channels crossed.
    pub channels: Vec<ChannelId>,
    /// Their parameters.
    pub params: Vec<EdgeParams>,
}

struct Tree {
    version: u64,
    /// For each node: the channel towards the server and the next node.
    next: Vec<Option<(u32, ChannelId, EdgeParams)>>,
}

/// The cache.
#[derive(Default)]
pub struct RouteCache {
    pairs: HashMap<(u32, u32), Option<Rc<CachedRoute>>>,
    trees: HashMap<u32, Tree>,
    /// `find_routes` calls made.
    pub exact_calls: u64,
    /// Trees built.
    pub trees_built: u64,
}

/// What a route must satisfy.
#[derive(Debug, Clone, Copy)]
pub struct RouteNeeds {
    /// Request body size.
    pub body_bytes: u64,
    /// Response allowance.
    pub max_response_bytes: u64,
    /// Largest acceptable bound.
    pub max_bound_ms: u64,
    /// Use per-server trees.
    pub tree: bool,
}

impl RouteCache {
    /// The route for a pair, computing it if needed. `version` is the chain
    /// graph's change counter (trees are rebuilt when it moved on and a tree
    /// path crosses a closed channel).
    pub fn get(&mut self, g: &Graph, version: u64, from: u32, to: u32, needs: RouteNeeds) -> Option<Rc<CachedRoute>> {
        if needs.tree {
            // The per-server tree is the cache: walking it is cheaper than
            // remembering a million pairs.
            if let Some(r) = self.via_tree(g, version, from, to, needs) {
                return Some(Rc::new(r));
            }
        }
        if let Some(r) = self.pairs.get(&(from, to)) {
            match r {
                Some(r) if r.channels.iter().all(|c| g.edge(*c).is_some()) => return Some(r.clone()),
                None => return None,
                _ => {}
            }
        }
        let r = {
            self.exact_calls += 1;
            let q = RouteQuery::new(from, to, needs.body_bytes, needs.max_response_bytes, needs.max_bound_ms);
            find_routes(g, &q).ok().and_then(|mut v| v.drain(..).next()).map(|f: FoundRoute| CachedRoute {
                nodes: f.nodes,
                channels: f.channels,
                params: f.params,
            })
        };
        let r = r.map(Rc::new);
        self.pairs.insert((from, to), r.clone());
        r
    }

    /// The cheapest route for a pair within what a requester `wants`: it
    /// avoids the channels and nodes that failed before and costs at most
    /// what is left to spend (what a node does for a retry: the core's
    /// [`find_routes`], never cached).
    pub fn avoiding(
        &mut self,
        g: &Graph,
        from: u32,
        to: u32,
        needs: RouteNeeds,
        wants: &RouteWants<'_>,
    ) -> Option<CachedRoute> {
        self.exact_calls += 1;
        let mut q = RouteQuery::new(from, to, needs.body_bytes, needs.max_response_bytes, needs.max_bound_ms);
        q.exclude_channels = wants.exclude_channels.clone();
        q.exclude_nodes = wants.exclude_nodes.iter().map(key_index).collect();
        let f = find_routes(g, &q).ok()?.into_iter().next()?;
        let fits = wants.max_cost.is_none_or(|m| f.cost <= m);
        fits.then_some(CachedRoute { nodes: f.nodes, channels: f.channels, params: f.params })
    }

    fn via_tree(&mut self, g: &Graph, version: u64, from: u32, to: u32, needs: RouteNeeds) -> Option<CachedRoute> {
        let stale = self.trees.get(&to).is_none_or(|t| t.version != version);
        if stale {
            self.trees_built += 1;
            let t = build_tree(g, to, needs.body_bytes + needs.max_response_bytes, version);
            self.trees.insert(to, t);
        }
        let t = &self.trees[&to];
        let mut r = CachedRoute { nodes: vec![from], channels: Vec::new(), params: Vec::new() };
        let mut at = from;
        let mut lat = 0u64;
        while at != to {
            let (nx, ch, p) = t.next[at as usize]?;
            r.nodes.push(nx);
            r.channels.push(ch);
            r.params.push(p);
            lat += p.latency_ms;
            at = nx;
            if r.nodes.len() > g.node_count() {
                return None;
            }
        }
        let service = g.node(to).map_or(0, |i| i.service_ms);
        (!r.channels.is_empty() && 2 * lat + service <= needs.max_bound_ms).then_some(r)
    }
}

fn build_tree(g: &Graph, root: u32, bytes: u64, version: u64) -> Tree {
    let n = g.node_count();
    let mut dist: Vec<Amount> = vec![Amount::MAX; n];
    let mut next = vec![None; n];
    let mut heap = BinaryHeap::new();
    dist[root as usize] = 0;
    heap.push(Reverse((0u128, root)));
    while let Some(Reverse((d, u))) = heap.pop() {
        if d > dist[u as usize] {
            continue;
        }
        for a in g.adjacent(u) {
            let c = a.params.cost(bytes).unwrap_or(Amount::MAX);
            let nd = d.saturating_add(c);
            let v = a.to as usize;
            if nd < dist[v] || (nd == dist[v] && next[v].is_some_and(|(p, _, _): (u32, ChannelId, EdgeParams)| u < p)) {
                dist[v] = nd;
                next[v] = Some((u, a.channel, a.params));
                heap.push(Reverse((nd, a.to)));
            }
        }
    }
    Tree { version, next }
}
