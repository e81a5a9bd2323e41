//! Following the contract's graph: a local [`por_core::Graph`] kept current by
//! polling the cheap `graph_version` view and re-reading the paged
//! `graph_nodes` / `graph_edges` views only when it moved.
//!
//! How often to poll is the caller's policy (the node polls every few
//! seconds); a refresh that sees the version change while paging starts over
//! (a bounded number of times) so the graph is always one consistent version.

use std::collections::HashMap;

use near_primitives::types::AccountId;
use por_core::{ChannelId, Edge, Graph, NodeIdx, NodeInfo};

use super::{ChainClient, ChainError, NodeView, PorContract};

/// Page size for the graph views (the contract caps it at 500).
const PAGE: u32 = 500;
/// Times a refresh starts over when the graph changes under it.
const MAX_RESTARTS: u32 = 3;

/// A local copy of the contract's graph.
#[derive(Debug, Default, Clone)]
pub struct GraphFollower {
    graph: Graph,
    version: Option<u64>,
    nodes: Vec<NodeView>,
    index_of: HashMap<AccountId, NodeIdx>,
}

impl GraphFollower {
    /// Empty; the first [`GraphFollower::refresh`] reads the whole graph.
    pub fn new() -> GraphFollower {
        GraphFollower::default()
    }

    /// The graph as of [`GraphFollower::version`].
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The contract's `graph_version` this copy reflects (none before the first refresh).
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// A node as the contract reported it.
    pub fn node(&self, index: NodeIdx) -> Option<&NodeView> {
        self.nodes.get(index as usize)
    }

    /// The index of an account's node.
    pub fn index_of(&self, account: &AccountId) -> Option<NodeIdx> {
        self.index_of.get(account).copied()
    }

    /// Brings the copy up to date; returns whether it changed.
    pub async fn refresh<C: ChainClient>(&mut self, contract: &PorContract<C>) -> Result<bool, ChainError> {
        for _ in 0..=MAX_RESTARTS {
            let version = contract.graph_version().await?;
            if self.version == Some(version) {
                return Ok(false);
            }
            if let Some((graph, nodes)) = read_graph(contract, version).await? {
                self.index_of = nodes.iter().map(|n| (n.account_id.clone(), n.index)).collect();
                self.graph = graph;
                self.nodes = nodes;
                self.version = Some(version);
                return Ok(true);
            }
        }
        Err(ChainError::Decode {
            what: "graph".into(),
            detail: format!("the graph changed during {} consecutive reads; try again", MAX_RESTARTS + 1),
        })
    }
}

/// The most nodes a graph read accepts (a public network is far smaller;
/// an endpoint claiming more is refused, not followed into memory).
pub const MAX_GRAPH_NODES: usize = 1 << 20;
/// The most edges a graph read accepts.
pub const MAX_GRAPH_EDGES: usize = 1 << 23;

/// Reads every page at `version`; `None` when the version moved meanwhile.
async fn read_graph<C: ChainClient>(
    contract: &PorContract<C>,
    version: u64,
) -> Result<Option<(Graph, Vec<NodeView>)>, ChainError> {
    let mut nodes: Vec<NodeView> = Vec::new();
    let mut graph = Graph::new();
    loop {
        let page = contract.graph_nodes(nodes.len() as u32, PAGE).await?;
        if page.graph_version != version {
            return Ok(None);
        }
        // Each page continues where the last ended, with at most what was
        // asked: an endpoint that repeats a page, skips or invents indices
        // is refused at once, not paged until a `total` it never reaches.
        if page.items.len() > PAGE as usize {
            return Err(ChainError::Decode {
                what: "graph_nodes".into(),
                detail: format!("a page of {} nodes, more than the {PAGE} asked for", page.items.len()),
            });
        }
        for n in &page.items {
            let i = nodes.len();
            if n.index as usize != i {
                return Err(ChainError::Decode {
                    what: "graph_nodes".into(),
                    detail: format!("node indices are not dense: expected {i}, got {}", n.index),
                });
            }
            if i >= MAX_GRAPH_NODES {
                return Err(ChainError::Decode {
                    what: "graph_nodes".into(),
                    detail: format!("more than {MAX_GRAPH_NODES} nodes"),
                });
            }
            graph.add_node(NodeInfo { stake: n.stake, service_ms: n.service_ms });
            nodes.push(n.clone());
        }
        if page.items.is_empty() || nodes.len() as u64 >= page.total {
            break;
        }
    }
    let mut from = 0u32;
    loop {
        let page = contract.graph_edges(from, PAGE).await?;
        if page.graph_version != version {
            return Ok(None);
        }
        let got = page.items.len() as u32;
        if got > PAGE || graph.edge_count() + page.items.len() > MAX_GRAPH_EDGES {
            return Err(ChainError::Decode {
                what: "graph_edges".into(),
                detail: format!(
                    "a page of {got} edges after {}: more than asked or than {MAX_GRAPH_EDGES} in all",
                    graph.edge_count()
                ),
            });
        }
        for e in page.items {
            graph
                .add_edge(Edge { channel: ChannelId(e.channel_id), a: e.a, b: e.b, params: e.params })
                .map_err(|err| ChainError::Decode { what: "graph_edges".into(), detail: err.to_string() })?;
            if e.closing {
                graph.set_closing(ChannelId(e.channel_id));
            }
        }
        from += got;
        if got == 0 || u64::from(from) >= page.total {
            break;
        }
    }
    Ok(Some((graph, nodes)))
}
