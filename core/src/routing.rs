//! Route choice: the cheapest path whose bound stays under a limit, and the
//! next-best alternatives.
//!
//! A route's cost is `Σ cost(e)` (DESIGN §2.3, for the query's body and
//! response sizes) and its bound `2 · Σ ℓ(e) + service_ms(server)` (§2.5). The
//! search is exact for this two-criteria problem:
//!
//! 1. a Dijkstra backwards from the server on latency gives, for every node, the
//!    least latency still needed to reach the server; a partial path that
//!    cannot make the bound any more is dropped at once;
//! 2. a label-setting search forwards, in order of cost, keeps for every node
//!    only the paths that are faster than every cheaper path already settled
//!    there (the others are dominated); the first path to settle at the server
//!    is the cheapest that meets the bound.
//!
//! Alternatives come from Yen's algorithm on top of that search: each deviates
//! from an earlier route at some node, avoiding the edges the earlier routes
//! took from there. Routes are loop-free and returned cheapest first (ties:
//! faster first).

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashSet};

use crate::cost::EdgeParams;
use crate::graph::{Graph, NodeIdx};
use crate::voucher::{Amount, ChannelId};

/// What to route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteQuery {
    /// The requester.
    pub from: NodeIdx,
    /// The server.
    pub to: NodeIdx,
    /// Size of the request body.
    pub body_bytes: u64,
    /// Response allowance.
    pub max_response_bytes: u64,
    /// The largest acceptable bound `b0`, in ms.
    pub max_bound_ms: u64,
    /// Nodes not to cross (for example ones that failed before).
    pub exclude_nodes: BTreeSet<NodeIdx>,
    /// Channels not to use.
    pub exclude_channels: BTreeSet<ChannelId>,
    /// How many routes to return at most, the best included (at least 1).
    pub count: usize,
}

impl RouteQuery {
    /// A query for the single best route with no exclusions.
    pub fn new(from: NodeIdx, to: NodeIdx, body_bytes: u64, max_response_bytes: u64, max_bound_ms: u64) -> Self {
        RouteQuery {
            from,
            to,
            body_bytes,
            max_response_bytes,
            max_bound_ms,
            exclude_nodes: BTreeSet::new(),
            exclude_channels: BTreeSet::new(),
            count: 1,
        }
    }
}

/// A route found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundRoute {
    /// Nodes from the requester to the server.
    pub nodes: Vec<NodeIdx>,
    /// Channels crossed, in order (`nodes.len() - 1` of them).
    pub channels: Vec<ChannelId>,
    /// The parameters of those channels.
    pub params: Vec<EdgeParams>,
    /// What the requester pays.
    pub cost: Amount,
    /// The bound `b0`.
    pub bound_ms: u64,
}

/// Why no route was returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// An end is not in the graph.
    #[error("node {0} is not in the graph")]
    UnknownNode(NodeIdx),
    /// Requester and server are the same node.
    #[error("the requester is the server; there is nothing to route")]
    SameNode,
    /// An end is excluded by the query itself.
    #[error("node {0} is an end of the route and also excluded")]
    EndExcluded(NodeIdx),
    /// The server alone needs more than the limit.
    #[error("the server promises {service_ms} ms of service, more than the limit of {max_bound_ms} ms")]
    ServiceExceedsLimit {
        /// The server's service time.
        service_ms: u64,
        /// The query's limit.
        max_bound_ms: u64,
    },
    /// No path meets the bound with the exclusions given.
    #[error("no route to node {to} within {max_bound_ms} ms (the fastest needs {fastest_ms:?} ms)")]
    NoRoute {
        /// The server.
        to: NodeIdx,
        /// The query's limit.
        max_bound_ms: u64,
        /// The bound of the fastest path ignoring cost, if any path exists.
        fastest_ms: Option<u64>,
    },
}

struct Ctx<'a> {
    g: &'a Graph,
    to: NodeIdx,
    bytes: u64,
    lat_limit: u64,
    service_ms: u64,
    /// Least latency from each node to the server, `u64::MAX` if none.
    min_lat: Vec<u64>,
    excluded: Vec<bool>,
    excluded_channels: HashSet<ChannelId>,
}

#[derive(Clone, Copy)]
struct Label {
    node: NodeIdx,
    parent: u32,
    channel: ChannelId,
    params: EdgeParams,
}

/// A path as a search returns it: the hops after the start.
struct Path {
    hops: Vec<(NodeIdx, ChannelId, EdgeParams)>,
}

/// Finds up to `q.count` routes, cheapest first.
pub fn find_routes(g: &Graph, q: &RouteQuery) -> Result<Vec<FoundRoute>, RouteError> {
    for n in [q.from, q.to] {
        if g.node(n).is_none() {
            return Err(RouteError::UnknownNode(n));
        }
        if q.exclude_nodes.contains(&n) {
            return Err(RouteError::EndExcluded(n));
        }
    }
    if q.from == q.to {
        return Err(RouteError::SameNode);
    }
    let service_ms = g.node(q.to).map_or(0, |i| i.service_ms);
    if service_ms > q.max_bound_ms {
        return Err(RouteError::ServiceExceedsLimit { service_ms, max_bound_ms: q.max_bound_ms });
    }
    let mut excluded = vec![false; g.node_count()];
    for &n in &q.exclude_nodes {
        if let Some(x) = excluded.get_mut(n as usize) {
            *x = true;
        }
    }
    let mut ctx = Ctx {
        g,
        to: q.to,
        bytes: q.body_bytes.saturating_add(q.max_response_bytes),
        lat_limit: (q.max_bound_ms - service_ms) / 2,
        service_ms,
        min_lat: Vec::new(),
        excluded,
        // A closing edge (its cooperative close proposed) carries no new
        // request: both its ends stop routing over it.
        excluded_channels: q.exclude_channels.iter().copied().chain(g.closing()).collect(),
    };
    ctx.min_lat = latency_to_target(&ctx);
    let no_route = |ctx: &Ctx| RouteError::NoRoute {
        to: q.to,
        max_bound_ms: q.max_bound_ms,
        fastest_ms: match ctx.min_lat[q.from as usize] {
            u64::MAX => None,
            l => Some(l.saturating_mul(2).saturating_add(service_ms)),
        },
    };
    if ctx.min_lat[q.from as usize] > ctx.lat_limit {
        return Err(no_route(&ctx));
    }
    let no_nodes = vec![false; g.node_count()];
    let Some(best) = search(&ctx, q.from, 0, &no_nodes, &HashSet::new()) else {
        return Err(no_route(&ctx));
    };
    let mut found = vec![to_route(&ctx, q.from, best)];
    let mut candidates: BinaryHeap<Reverse<(Amount, u64, Vec<ChannelId>)>> = BinaryHeap::new();
    let mut pending: Vec<FoundRoute> = Vec::new();
    let mut seen: HashSet<Vec<ChannelId>> = HashSet::from([found[0].channels.clone()]);
    let mut banned_nodes = no_nodes;
    while found.len() < q.count.max(1) {
        let prev = found.last().expect("at least the best route").clone();
        for i in 0..prev.channels.len() {
            let spur = prev.nodes[i];
            let root = &prev.channels[..i];
            let mut banned_channels: HashSet<ChannelId> = HashSet::new();
            for r in &found {
                if r.channels.len() > i && r.channels[..i] == *root {
                    banned_channels.insert(r.channels[i]);
                }
            }
            for &n in &prev.nodes[..i] {
                banned_nodes[n as usize] = true;
            }
            let root_lat: u64 = prev.params[..i].iter().map(|p| p.latency_ms).sum();
            let spur_path = search(&ctx, spur, root_lat, &banned_nodes, &banned_channels);
            for &n in &prev.nodes[..i] {
                banned_nodes[n as usize] = false;
            }
            let Some(spur_path) = spur_path else { continue };
            let mut path = Path { hops: Vec::new() };
            for j in 0..i {
                path.hops.push((prev.nodes[j + 1], prev.channels[j], prev.params[j]));
            }
            path.hops.extend(spur_path.hops);
            let r = to_route(&ctx, q.from, path);
            if seen.insert(r.channels.clone()) {
                candidates.push(Reverse((r.cost, r.bound_ms, r.channels.clone())));
                pending.push(r);
            }
        }
        let Some(Reverse((_, _, chans))) = candidates.pop() else { break };
        let idx = pending.iter().position(|r| r.channels == chans).expect("candidate is pending");
        found.push(pending.swap_remove(idx));
    }
    Ok(found)
}

fn to_route(ctx: &Ctx, from: NodeIdx, p: Path) -> FoundRoute {
    let mut nodes = vec![from];
    let mut channels = Vec::with_capacity(p.hops.len());
    let mut params = Vec::with_capacity(p.hops.len());
    let mut cost: Amount = 0;
    let mut lat: u64 = 0;
    for (n, c, e) in p.hops {
        nodes.push(n);
        channels.push(c);
        params.push(e);
        cost = cost.saturating_add(e.cost(ctx.bytes).unwrap_or(Amount::MAX));
        lat = lat.saturating_add(e.latency_ms);
    }
    FoundRoute { nodes, channels, params, cost, bound_ms: lat.saturating_mul(2).saturating_add(ctx.service_ms) }
}

/// Dijkstra from the server on latency over the allowed part of the graph.
fn latency_to_target(ctx: &Ctx) -> Vec<u64> {
    let mut dist = vec![u64::MAX; ctx.g.node_count()];
    let mut heap = BinaryHeap::new();
    dist[ctx.to as usize] = 0;
    heap.push(Reverse((0u64, ctx.to)));
    while let Some(Reverse((d, u))) = heap.pop() {
        if d > dist[u as usize] || d > ctx.lat_limit {
            continue;
        }
        for a in ctx.g.adjacent(u) {
            if ctx.excluded[a.to as usize] || ctx.excluded_channels.contains(&a.channel) {
                continue;
            }
            let nd = d.saturating_add(a.params.latency_ms);
            if nd < dist[a.to as usize] {
                dist[a.to as usize] = nd;
                heap.push(Reverse((nd, a.to)));
            }
        }
    }
    dist
}

/// The cheapest path from `start` to the server whose latency, added to
/// `start_lat`, stays within the limit; avoiding `banned` nodes and channels
/// on top of the query's exclusions.
fn search(
    ctx: &Ctx,
    start: NodeIdx,
    start_lat: u64,
    banned: &[bool],
    banned_channels: &HashSet<ChannelId>,
) -> Option<Path> {
    let n = ctx.g.node_count();
    let mut best_lat = vec![u64::MAX; n];
    let mut labels: Vec<Label> = Vec::with_capacity(1024);
    let mut heap: BinaryHeap<Reverse<(Amount, u64, u32)>> = BinaryHeap::new();
    labels.push(Label { node: start, parent: u32::MAX, channel: ChannelId(0), params: EdgeParams::default() });
    heap.push(Reverse((0, start_lat, 0)));
    while let Some(Reverse((cost, lat, idx))) = heap.pop() {
        let node = labels[idx as usize].node;
        if lat >= best_lat[node as usize] {
            continue;
        }
        best_lat[node as usize] = lat;
        if node == ctx.to {
            return Some(unwind(&labels, idx));
        }
        for a in ctx.g.adjacent(node) {
            let t = a.to as usize;
            if ctx.excluded[t]
                || banned[t]
                || ctx.excluded_channels.contains(&a.channel)
                || banned_channels.contains(&a.channel)
            {
                continue;
            }
            let nlat = lat.saturating_add(a.params.latency_ms);
            if nlat >= best_lat[t] || ctx.min_lat[t] == u64::MAX || nlat.saturating_add(ctx.min_lat[t]) > ctx.lat_limit
            {
                continue;
            }
            let Some(ncost) = a.params.cost(ctx.bytes).ok().and_then(|c| c.checked_add(cost)) else { continue };
            labels.push(Label { node: a.to, parent: idx, channel: a.channel, params: a.params });
            heap.push(Reverse((ncost, nlat, (labels.len() - 1) as u32)));
        }
    }
    None
}

fn unwind(labels: &[Label], mut idx: u32) -> Path {
    let mut hops = Vec::new();
    while labels[idx as usize].parent != u32::MAX {
        let l = labels[idx as usize];
        hops.push((l.node, l.channel, l.params));
        idx = l.parent;
    }
    hops.reverse();
    Path { hops }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Edge, NodeInfo};
    use proptest::prelude::*;

    fn graph(n: usize, service: u64, edges: &[(NodeIdx, NodeIdx, u64, u128)]) -> Graph {
        let mut g = Graph::new();
        for _ in 0..n {
            g.add_node(NodeInfo { stake: 1, service_ms: service });
        }
        for (i, &(a, b, l, fee)) in edges.iter().enumerate() {
            g.add_edge(Edge {
                channel: ChannelId(i as u64),
                a,
                b,
                params: EdgeParams { latency_ms: l, base_fee: fee, byte_fee: 0 },
            })
            .unwrap();
        }
        g
    }

    #[test]
    fn cheapest_within_bound() {
        // 0→1→3 is cheap but slow (latency 100+100); 0→2→3 is dear but fast (10+10).
        let g = graph(4, 5, &[(0, 1, 100, 1), (1, 3, 100, 1), (0, 2, 10, 50), (2, 3, 10, 50)]);
        let r = &find_routes(&g, &RouteQuery::new(0, 3, 0, 0, 1000)).unwrap()[0];
        assert_eq!((r.nodes.clone(), r.cost, r.bound_ms), (vec![0, 1, 3], 2, 405));
        let r = &find_routes(&g, &RouteQuery::new(0, 3, 0, 0, 404)).unwrap()[0];
        assert_eq!((r.nodes.clone(), r.cost, r.bound_ms), (vec![0, 2, 3], 100, 45));
        assert_eq!(
            find_routes(&g, &RouteQuery::new(0, 3, 0, 0, 44)),
            Err(RouteError::NoRoute { to: 3, max_bound_ms: 44, fastest_ms: Some(45) })
        );
        assert_eq!(
            find_routes(&g, &RouteQuery::new(0, 3, 0, 0, 4)),
            Err(RouteError::ServiceExceedsLimit { service_ms: 5, max_bound_ms: 4 })
        );
    }

    #[test]
    fn exclusions_and_alternatives() {
        let g = graph(4, 0, &[(0, 1, 1, 1), (1, 3, 1, 1), (0, 2, 1, 5), (2, 3, 1, 5), (0, 3, 1, 20)]);
        let mut q = RouteQuery::new(0, 3, 0, 0, 100);
        q.count = 5;
        let rs = find_routes(&g, &q).unwrap();
        let costs: Vec<_> = rs.iter().map(|r| r.cost).collect();
        assert_eq!(costs, vec![2, 10, 20], "every loop-free route, cheapest first");
        q.count = 1;
        q.exclude_nodes.insert(1);
        assert_eq!(find_routes(&g, &q).unwrap()[0].nodes, vec![0, 2, 3]);
        q.exclude_channels.insert(ChannelId(2));
        assert_eq!(find_routes(&g, &q).unwrap()[0].nodes, vec![0, 3]);
        q.exclude_nodes.insert(3);
        assert_eq!(find_routes(&g, &q), Err(RouteError::EndExcluded(3)));
    }

    #[test]
    fn closing_edges_carry_no_route() {
        let mut g = graph(3, 0, &[(0, 1, 1, 1), (1, 2, 1, 1), (0, 2, 1, 20)]);
        let q = RouteQuery::new(0, 2, 0, 0, 100);
        assert_eq!(find_routes(&g, &q).unwrap()[0].nodes, vec![0, 1, 2]);
        assert!(g.set_closing(ChannelId(1)));
        assert_eq!(find_routes(&g, &q).unwrap()[0].nodes, vec![0, 2], "the closing edge 1–2 is skipped");
        assert!(g.set_closing(ChannelId(2)));
        assert!(matches!(find_routes(&g, &q), Err(RouteError::NoRoute { .. })));
    }

    /// Every simple path from `from` to `to`, by depth-first search: the oracle.
    fn all_paths(g: &Graph, from: NodeIdx, to: NodeIdx, bytes: u64) -> Vec<(Amount, u64, Vec<ChannelId>)> {
        #[allow(clippy::too_many_arguments)]
        fn go(
            g: &Graph,
            u: NodeIdx,
            to: NodeIdx,
            bytes: u64,
            seen: &mut Vec<bool>,
            chans: &mut Vec<ChannelId>,
            cost: Amount,
            lat: u64,
            out: &mut Vec<(Amount, u64, Vec<ChannelId>)>,
        ) {
            if u == to {
                out.push((cost, lat, chans.clone()));
                return;
            }
            for a in g.adjacent(u) {
                if seen[a.to as usize] {
                    continue;
                }
                seen[a.to as usize] = true;
                chans.push(a.channel);
                go(
                    g,
                    a.to,
                    to,
                    bytes,
                    seen,
                    chans,
                    cost + a.params.cost(bytes).unwrap(),
                    lat + a.params.latency_ms,
                    out,
                );
                chans.pop();
                seen[a.to as usize] = false;
            }
        }
        let mut seen = vec![false; g.node_count()];
        seen[from as usize] = true;
        let mut out = Vec::new();
        go(g, from, to, bytes, &mut seen, &mut Vec::new(), 0, 0, &mut out);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        /// On small random graphs the best route is the cheapest simple path
        /// within the bound, and the alternatives are the next cheapest ones.
        #[test]
        fn matches_brute_force(
            n in 2usize..8,
            raw in prop::collection::vec((0u32..8, 0u32..8, 1u64..50, 0u128..20), 1..16),
            limit in 0u64..300,
        ) {
            let edges: Vec<_> = raw.into_iter().filter(|(a, b, _, _)| a != b && (*a as usize) < n && (*b as usize) < n).collect();
            let g = graph(n, 3, &edges);
            let mut q = RouteQuery::new(0, (n - 1) as u32, 0, 0, limit);
            q.count = 3;
            let mut want: Vec<_> = all_paths(&g, 0, (n - 1) as u32, 0).into_iter().filter(|(_, l, _)| 2 * l + 3 <= limit).collect();
            want.sort();
            match find_routes(&g, &q) {
                Ok(rs) => {
                    prop_assert!(!want.is_empty());
                    prop_assert_eq!(rs[0].cost, want[0].0, "best cost");
                    prop_assert!(rs[0].bound_ms <= limit);
                    let got: Vec<Amount> = rs.iter().map(|r| r.cost).collect();
                    let exp: Vec<Amount> = want.iter().take(3).map(|w| w.0).collect();
                    prop_assert_eq!(got, exp, "alternatives' costs");
                    for r in &rs {
                        let mut u = r.nodes.clone();
                        u.sort();
                        u.dedup();
                        prop_assert_eq!(u.len(), r.nodes.len(), "loop-free");
                    }
                }
                Err(RouteError::NoRoute { .. }) | Err(RouteError::ServiceExceedsLimit { .. }) => prop_assert!(want.is_empty()),
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
    }
}
