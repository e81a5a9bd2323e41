//! The network's graph as the node routes over it: the contract's graph
//! (nodes with stake and service time, open edges with their parameters)
//! plus each node's key, so that a route found by the core's routing becomes
//! a [`Route`] a request can carry.
//!
//! The chain agent publishes a fresh [`NetworkGraph`] whenever the contract's
//! `graph_version` moves; tests without a chain publish one by hand
//! ([`NodeHandle::set_graph`](crate::NodeHandle::set_graph)). Routing itself
//! is the core's exact bound-constrained search ([`por_core::find_routes`]).

use std::collections::{BTreeSet, HashMap};

use por_core::{Amount, ChannelId, Graph, NodeIdx, NodeKey, Route, RouteHop, RouteQuery, find_routes};

use crate::chain::{GraphFollower, NodeStatus};

/// A snapshot of the graph with the node keys it needs to build routes.
#[derive(Debug, Clone, Default)]
pub struct NetworkGraph {
    /// The contract's `graph_version` this snapshot reflects (0 for a
    /// hand-made graph).
    pub version: u64,
    /// Nodes and open edges.
    pub graph: Graph,
    /// Node key of each node, by index.
    pub keys: Vec<NodeKey>,
    /// NEAR account of each node, by index (empty strings for a hand-made graph).
    pub accounts: Vec<String>,
    /// Whether each node is active (not partitioned, not gone), by index.
    pub active: Vec<bool>,
    by_key: HashMap<NodeKey, NodeIdx>,
}

/// Why no route could be offered.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    /// The node has not seen the graph yet.
    #[error("no graph yet: the node has not read the channel graph from the chain (is [chain] configured?)")]
    NoGraph,
    /// This node is not in the graph.
    #[error("this node ({0}) is not registered in the graph; run `por init` to register it")]
    NotRegistered(String),
    /// The target is not in the graph.
    #[error("no node with key {0} is registered")]
    UnknownTarget(String),
    /// The target is partitioned or has left.
    #[error("node {0} is not active (partitioned or gone)")]
    Inactive(String),
    /// Nothing fits the limits.
    #[error("no route to {to} within {limits}")]
    NoRoute {
        /// The target.
        to: String,
        /// The limits that were applied.
        limits: String,
    },
}

/// Limits on a route.
#[derive(Debug, Clone, Default)]
pub struct RouteLimits {
    /// The most the route may cost, yocto. Default none.
    pub max_cost: Option<Amount>,
    /// The largest bound (round trip plus service time) the route may have,
    /// ms. Default none.
    pub max_bound_ms: Option<u64>,
    /// Channels not to use.
    pub exclude_channels: BTreeSet<ChannelId>,
    /// Nodes not to pass through.
    pub exclude_nodes: BTreeSet<NodeKey>,
}

/// A route with its price and bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedRoute {
    /// The route.
    pub route: Route,
    /// What the requester pays the first hop.
    pub cost: Amount,
    /// The bound `b0` in ms.
    pub bound_ms: u64,
}

impl por_core::protocol::TermsView for NetworkGraph {
    fn edge(&self, channel: ChannelId) -> Option<por_core::protocol::EdgeTerms> {
        // A closing edge carries no new request: a route over it is refused
        // as over an unknown edge, by both its ends.
        if self.graph.is_closing(channel) {
            return None;
        }
        let e = self.graph.edge(channel)?;
        let (a, b) = (self.keys.get(e.a as usize)?, self.keys.get(e.b as usize)?);
        Some(por_core::protocol::EdgeTerms { ends: (*a, *b), params: e.params })
    }

    fn service_ms(&self, server: &NodeKey) -> Option<u64> {
        self.graph.node(self.index_of(server)?).map(|n| n.service_ms)
    }
}

impl NetworkGraph {
    /// A snapshot from parts; `keys[i]` is node `i`'s key.
    pub fn new(version: u64, graph: Graph, keys: Vec<NodeKey>, accounts: Vec<String>, active: Vec<bool>) -> Self {
        let by_key = keys.iter().enumerate().map(|(i, k)| (*k, i as NodeIdx)).collect();
        NetworkGraph { version, graph, keys, accounts, active, by_key }
    }

    /// A snapshot of what a [`GraphFollower`] holds.
    pub fn from_follower(f: &GraphFollower) -> Self {
        let n = f.graph().node_count();
        let nodes: Vec<_> = (0..n as NodeIdx).filter_map(|i| f.node(i)).collect();
        NetworkGraph::new(
            f.version().unwrap_or(0),
            f.graph().clone(),
            nodes.iter().map(|v| v.node_key).collect(),
            nodes.iter().map(|v| v.account_id.to_string()).collect(),
            nodes.iter().map(|v| v.status == NodeStatus::Active).collect(),
        )
    }

    /// The index of the node with `key`.
    pub fn index_of(&self, key: &NodeKey) -> Option<NodeIdx> {
        self.by_key.get(key).copied()
    }

    /// The index of the node registered by `account`.
    pub fn index_of_account(&self, account: &str) -> Option<NodeIdx> {
        self.accounts.iter().position(|a| a == account).map(|i| i as NodeIdx)
    }

    /// Up to `count` routes from `from` to `to`, cheapest first, within
    /// `limits`, for a body of `body_bytes` and a response allowance of
    /// `max_response_bytes`.
    pub fn routes(
        &self,
        from: &NodeKey,
        to: &NodeKey,
        body_bytes: u64,
        max_response_bytes: u64,
        limits: &RouteLimits,
        count: usize,
    ) -> Result<Vec<PricedRoute>, RouteError> {
        let src = self.index_of(from).ok_or_else(|| RouteError::NotRegistered(from.to_hex()))?;
        let dst = self.index_of(to).ok_or_else(|| RouteError::UnknownTarget(to.to_hex()))?;
        if !self.active.get(dst as usize).copied().unwrap_or(true) {
            return Err(RouteError::Inactive(to.to_hex()));
        }
        let mut q = RouteQuery::new(src, dst, body_bytes, max_response_bytes, limits.max_bound_ms.unwrap_or(u64::MAX));
        q.exclude_channels = limits.exclude_channels.clone();
        q.exclude_nodes = limits.exclude_nodes.iter().filter_map(|k| self.index_of(k)).filter(|i| *i != dst).collect();
        // Inactive nodes carry no traffic: they are not in the graph's open
        // edges anyway, but a stale snapshot may still list some.
        for (i, a) in self.active.iter().enumerate() {
            if !a && i as NodeIdx != src {
                q.exclude_nodes.insert(i as NodeIdx);
            }
        }
        q.count = count.max(1);
        let no_route = || RouteError::NoRoute { to: to.to_hex(), limits: describe(limits) };
        let found = find_routes(&self.graph, &q).map_err(|e| match limits.max_bound_ms {
            // The core's reason names the bound it was given and the fastest possible.
            Some(_) => RouteError::NoRoute { to: to.to_hex(), limits: format!("{} ({e})", describe(limits)) },
            None => no_route(),
        })?;
        let service_ms = self.graph.node(dst).map_or(0, |n| n.service_ms);
        let routes: Vec<PricedRoute> = found
            .into_iter()
            .filter(|r| limits.max_cost.is_none_or(|m| r.cost <= m))
            .map(|r| PricedRoute {
                route: Route {
                    hops: r
                        .channels
                        .iter()
                        .zip(&r.nodes[1..])
                        .zip(&r.params)
                        .map(|((c, n), p)| RouteHop { channel: *c, node: self.keys[*n as usize], params: *p })
                        .collect(),
                    service_ms,
                },
                cost: r.cost,
                bound_ms: r.bound_ms,
            })
            .collect();
        if routes.is_empty() { Err(no_route()) } else { Ok(routes) }
    }
}

fn describe(l: &RouteLimits) -> String {
    let mut parts = Vec::new();
    if let Some(c) = l.max_cost {
        parts.push(format!("a cost of {c} yocto"));
    }
    if let Some(b) = l.max_bound_ms {
        parts.push(format!("a bound of {b} ms"));
    }
    if !l.exclude_channels.is_empty() {
        parts.push(format!("{} excluded channel(s)", l.exclude_channels.len()));
    }
    if !l.exclude_nodes.is_empty() {
        parts.push(format!("{} excluded node(s)", l.exclude_nodes.len()));
    }
    if parts.is_empty() { "the open channels".into() } else { parts.join(", ") }
}

#[cfg(test)]
mod tests {
    use por_core::{Edge, EdgeParams, NodeInfo, NodeSigner, Signer};

    use super::*;

    fn line() -> NetworkGraph {
        let mut g = Graph::new();
        let keys: Vec<NodeKey> = (1..=4u8).map(|i| NodeSigner::from_seed([i; 32]).public()).collect();
        for _ in 0..4 {
            g.add_node(NodeInfo { stake: 1, service_ms: 7 });
        }
        let p = EdgeParams { latency_ms: 10, base_fee: 100, byte_fee: 0 };
        for (c, (a, b)) in [(0, 1), (1, 2), (2, 3)].into_iter().enumerate() {
            g.add_edge(Edge { channel: ChannelId(c as u64 + 1), a, b, params: p }).unwrap();
        }
        g.add_edge(Edge { channel: ChannelId(9), a: 0, b: 3, params: EdgeParams { latency_ms: 500, ..p } }).unwrap();
        NetworkGraph::new(1, g, keys, vec![String::new(); 4], vec![true; 4])
    }

    #[test]
    fn builds_routes_with_keys_and_service_time() {
        let g = line();
        let r = g.routes(&g.keys[0], &g.keys[3], 0, 0, &RouteLimits::default(), 2).unwrap();
        assert_eq!(r.len(), 2);
        // Cheapest first: the direct slow edge costs one fee, the line three.
        assert_eq!(r[0].route.hops.len(), 1);
        assert_eq!(r[0].cost, 100);
        assert_eq!(r[1].route.hops.iter().map(|h| h.channel.0).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(r[1].route.hops[2].node, g.keys[3]);
        assert_eq!(r[1].route.service_ms, 7);
        assert_eq!(r[1].bound_ms, 2 * 30 + 7);
    }

    #[test]
    fn limits_and_exclusions_apply() {
        let g = line();
        let fast = RouteLimits { max_bound_ms: Some(100), ..RouteLimits::default() };
        let r = g.routes(&g.keys[0], &g.keys[3], 0, 0, &fast, 3).unwrap();
        assert!(r.iter().all(|r| r.bound_ms <= 100) && r.len() == 1, "{r:?}");
        let cheap = RouteLimits { max_cost: Some(150), exclude_channels: [ChannelId(9)].into(), ..fast.clone() };
        let e = g.routes(&g.keys[0], &g.keys[3], 0, 0, &cheap, 3).unwrap_err();
        assert!(e.to_string().contains("cost of 150"), "{e}");
        let avoid = RouteLimits { exclude_nodes: [g.keys[2]].into(), ..RouteLimits::default() };
        let r = g.routes(&g.keys[0], &g.keys[3], 0, 0, &avoid, 3).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].route.hops[0].channel, ChannelId(9));
    }

    #[test]
    fn a_closing_edge_is_neither_routed_over_nor_accepted() {
        use por_core::protocol::TermsView;
        let mut g = line();
        assert!(g.edge(ChannelId(2)).is_some());
        assert!(g.graph.set_closing(ChannelId(2)));
        // The route finder skips it: only the direct edge is left.
        let r = g.routes(&g.keys[0], &g.keys[3], 0, 0, &RouteLimits::default(), 3).unwrap();
        assert_eq!(r.iter().map(|r| r.route.hops.len()).collect::<Vec<_>>(), vec![1]);
        // And a request routed over it is refused by a relay checking terms.
        assert!(g.edge(ChannelId(2)).is_none(), "a closing edge offers no terms");
        assert!(g.edge(ChannelId(1)).is_some());
    }

    #[test]
    fn unknown_and_inactive_nodes_are_named() {
        let mut g = line();
        let stranger = NodeSigner::from_seed([99; 32]).public();
        assert!(matches!(
            g.routes(&stranger, &g.keys[1], 0, 0, &RouteLimits::default(), 1),
            Err(RouteError::NotRegistered(_))
        ));
        assert!(matches!(
            g.routes(&g.keys[0], &stranger, 0, 0, &RouteLimits::default(), 1),
            Err(RouteError::UnknownTarget(_))
        ));
        g.active[3] = false;
        assert!(matches!(
            g.routes(&g.keys[0], &g.keys[3], 0, 0, &RouteLimits::default(), 1),
            Err(RouteError::Inactive(_))
        ));
    }
}
