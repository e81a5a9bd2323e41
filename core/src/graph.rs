//! The channel graph as the contract keeps it: nodes with stakes and service
//! times, open edges with their parameters.
//!
//! Nodes are dense indices ([`NodeIdx`]); the contract assigns them at
//! registration and the node and simulator map keys to them. Several channels
//! may join the same two nodes.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::cost::EdgeParams;
use crate::voucher::{Amount, ChannelId};

/// A node's index in the graph.
pub type NodeIdx = u32;

/// What the graph knows of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NodeInfo {
    /// Stake, in yocto.
    #[serde(with = "crate::bytes::amount_serde")]
    pub stake: Amount,
    /// Service time the node promises as a server.
    pub service_ms: u64,
}

/// An open edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    /// The channel.
    pub channel: ChannelId,
    /// One end (the opener).
    pub a: NodeIdx,
    /// The other end.
    pub b: NodeIdx,
    /// Its parameters.
    pub params: EdgeParams,
}

impl Edge {
    /// The end that is not `n` (`n` must be an end).
    pub fn other(&self, n: NodeIdx) -> NodeIdx {
        if self.a == n { self.b } else { self.a }
    }
}

/// One entry of a node's adjacency list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adj {
    /// The neighbour.
    pub to: NodeIdx,
    /// The channel to it.
    pub channel: ChannelId,
    /// The channel's parameters.
    pub params: EdgeParams,
}

/// A graph change that cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// The node index is not in the graph.
    #[error("node {0} is not in the graph")]
    UnknownNode(NodeIdx),
    /// An edge must join two different nodes.
    #[error("an edge must join two different nodes (got {0} twice)")]
    SelfLoop(NodeIdx),
    /// The channel id is already an edge.
    #[error("channel {0} is already an edge")]
    DuplicateChannel(ChannelId),
}

/// Read access to a graph, enough for the partition check. The contract
/// implements it over its storage; [`Graph`] implements it in memory.
pub trait GraphView {
    /// Appends the neighbours of `n` over open edges to `out` (a neighbour
    /// joined by several channels may appear several times).
    fn neighbors(&self, n: NodeIdx, out: &mut Vec<NodeIdx>);
    /// The stake of `n`.
    fn stake(&self, n: NodeIdx) -> Amount;
}

/// The graph in memory.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    nodes: Vec<NodeInfo>,
    edges: BTreeMap<ChannelId, Edge>,
    adj: Vec<Vec<Adj>>,
    /// Edges whose cooperative close is proposed: still edges (the
    /// partition check counts them) but no route may use them.
    closing: BTreeSet<ChannelId>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a node; returns its index.
    pub fn add_node(&mut self, info: NodeInfo) -> NodeIdx {
        self.nodes.push(info);
        self.adj.push(Vec::new());
        (self.nodes.len() - 1) as NodeIdx
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Number of open edges.
    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// A node's information.
    pub fn node(&self, n: NodeIdx) -> Option<&NodeInfo> {
        self.nodes.get(n as usize)
    }

    /// Changes a node's information.
    pub fn set_node(&mut self, n: NodeIdx, info: NodeInfo) -> Result<(), GraphError> {
        *self.nodes.get_mut(n as usize).ok_or(GraphError::UnknownNode(n))? = info;
        Ok(())
    }

    /// Opens an edge.
    pub fn add_edge(&mut self, e: Edge) -> Result<(), GraphError> {
        for n in [e.a, e.b] {
            if n as usize >= self.nodes.len() {
                return Err(GraphError::UnknownNode(n));
            }
        }
        if e.a == e.b {
            return Err(GraphError::SelfLoop(e.a));
        }
        if self.edges.contains_key(&e.channel) {
            return Err(GraphError::DuplicateChannel(e.channel));
        }
        self.adj[e.a as usize].push(Adj { to: e.b, channel: e.channel, params: e.params });
        self.adj[e.b as usize].push(Adj { to: e.a, channel: e.channel, params: e.params });
        self.edges.insert(e.channel, e);
        Ok(())
    }

    /// Marks an open edge as closing (one side proposed a cooperative
    /// close): routes no longer use it, the partition check still does.
    /// Returns whether it is an edge of the graph.
    pub fn set_closing(&mut self, channel: ChannelId) -> bool {
        let known = self.edges.contains_key(&channel);
        if known {
            self.closing.insert(channel);
        }
        known
    }

    /// The closing edges, by channel id.
    pub fn closing(&self) -> impl Iterator<Item = ChannelId> + '_ {
        self.closing.iter().copied()
    }

    /// Whether the edge is closing (see [`Graph::set_closing`]).
    pub fn is_closing(&self, channel: ChannelId) -> bool {
        self.closing.contains(&channel)
    }

    /// Removes an edge (closed or severed); returns it if it was open.
    pub fn remove_edge(&mut self, channel: ChannelId) -> Option<Edge> {
        self.closing.remove(&channel);
        let e = self.edges.remove(&channel)?;
        for n in [e.a, e.b] {
            let list = &mut self.adj[n as usize];
            if let Some(i) = list.iter().position(|x| x.channel == channel) {
                list.swap_remove(i);
            }
        }
        Some(e)
    }

    /// An open edge.
    pub fn edge(&self, channel: ChannelId) -> Option<&Edge> {
        self.edges.get(&channel)
    }

    /// All open edges, by channel id.
    pub fn edges(&self) -> impl Iterator<Item = &Edge> {
        self.edges.values()
    }

    /// The adjacency list of `n` (empty for an unknown node).
    pub fn adjacent(&self, n: NodeIdx) -> &[Adj] {
        self.adj.get(n as usize).map_or(&[], |v| v.as_slice())
    }

    /// A component label for every node: nodes with equal labels are joined
    /// by open edges. Labels are the smallest node index of the component.
    pub fn components(&self) -> Vec<NodeIdx> {
        let mut uf = UnionFind::new(self.nodes.len());
        for e in self.edges.values() {
            uf.union(e.a, e.b);
        }
        let mut smallest = vec![NodeIdx::MAX; self.nodes.len()];
        for n in 0..self.nodes.len() as NodeIdx {
            let r = uf.find(n) as usize;
            smallest[r] = smallest[r].min(n);
        }
        (0..self.nodes.len() as NodeIdx).map(|n| smallest[uf.find(n) as usize]).collect()
    }
}

impl GraphView for Graph {
    fn neighbors(&self, n: NodeIdx, out: &mut Vec<NodeIdx>) {
        out.extend(self.adjacent(n).iter().map(|a| a.to));
    }
    fn stake(&self, n: NodeIdx) -> Amount {
        self.node(n).map_or(0, |i| i.stake)
    }
}

/// Union-find with path halving and union by size.
#[derive(Debug, Clone)]
pub struct UnionFind {
    parent: Vec<NodeIdx>,
    size: Vec<u32>,
}

impl UnionFind {
    /// `n` singletons.
    pub fn new(n: usize) -> Self {
        UnionFind { parent: (0..n as NodeIdx).collect(), size: vec![1; n] }
    }

    /// The representative of `x`.
    pub fn find(&mut self, mut x: NodeIdx) -> NodeIdx {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = self.parent[x as usize];
        }
        x
    }

    /// Joins the sets of `a` and `b`.
    pub fn union(&mut self, a: NodeIdx, b: NodeIdx) {
        let (mut ra, mut rb) = (self.find(a), self.find(b));
        if ra == rb {
            return;
        }
        if self.size[ra as usize] < self.size[rb as usize] {
            core::mem::swap(&mut ra, &mut rb);
        }
        self.parent[rb as usize] = ra;
        self.size[ra as usize] += self.size[rb as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(c: u64, a: NodeIdx, b: NodeIdx) -> Edge {
        Edge { channel: ChannelId(c), a, b, params: EdgeParams::default() }
    }

    #[test]
    fn add_remove_components() {
        let mut g = Graph::new();
        for _ in 0..5 {
            g.add_node(NodeInfo::default());
        }
        g.add_edge(e(1, 0, 1)).unwrap();
        g.add_edge(e(2, 1, 2)).unwrap();
        g.add_edge(e(3, 3, 4)).unwrap();
        assert_eq!(g.components(), vec![0, 0, 0, 3, 3]);
        assert_eq!(g.add_edge(e(1, 2, 3)), Err(GraphError::DuplicateChannel(ChannelId(1))));
        assert_eq!(g.add_edge(e(9, 2, 2)), Err(GraphError::SelfLoop(2)));
        assert_eq!(g.add_edge(e(9, 2, 7)), Err(GraphError::UnknownNode(7)));
        assert!(g.remove_edge(ChannelId(2)).is_some());
        assert!(g.remove_edge(ChannelId(2)).is_none());
        assert_eq!(g.components(), vec![0, 0, 2, 3, 3]);
        assert_eq!(g.adjacent(2).len(), 0);
        // A closing edge still joins its ends; removing it forgets the mark.
        assert!(g.set_closing(ChannelId(1)) && g.is_closing(ChannelId(1)));
        assert!(!g.set_closing(ChannelId(2)), "a removed edge cannot be closing");
        assert_eq!(g.components(), vec![0, 0, 2, 3, 3]);
        g.remove_edge(ChannelId(1));
        assert!(!g.is_closing(ChannelId(1)));
    }
}
