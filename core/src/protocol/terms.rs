//! Terms come from the chain, never from the requester (DESIGN §2.10).
//!
//! A request carries its route's edge parameters and the server's
//! `service_ms` so every hop can compute its share and deadline without a
//! lookup; they are claims to check. [`TermsView`] is what the engine checks
//! them against: the contract's graph as the driver last read it (the node's
//! graph follower, the simulator's chain model). [`Limits`] are the local
//! bounds on what one route and one neighbour can make this node hold.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::bytes::NodeKey;
use crate::cost::EdgeParams;
use crate::message::Request;
use crate::protocol::effect::Refusal;
use crate::voucher::{Amount, ChannelId};

/// An open edge as the contract records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeTerms {
    /// Its two ends, in any order.
    pub ends: (NodeKey, NodeKey),
    /// Its parameters.
    pub params: EdgeParams,
}

impl EdgeTerms {
    /// Whether `n` is one of the edge's ends.
    pub fn has_end(&self, n: &NodeKey) -> bool {
        self.ends.0 == *n || self.ends.1 == *n
    }

    /// Whether the edge joins `a` and `b`.
    pub fn joins(&self, a: &NodeKey, b: &NodeKey) -> bool {
        (self.ends.0 == *a && self.ends.1 == *b) || (self.ends.0 == *b && self.ends.1 == *a)
    }
}

/// The chain's record of edges and servers, as the engine checks routes
/// against it.
pub trait TermsView: Send + Sync {
    /// The open edge with this channel id, if the graph has it and it may
    /// carry new requests (an edge whose cooperative close is proposed may
    /// not).
    fn edge(&self, channel: ChannelId) -> Option<EdgeTerms>;
    /// The service time `server` registered, if it is a registered node.
    fn service_ms(&self, server: &NodeKey) -> Option<u64>;
}

/// A [`TermsView`] held in maps: for tests, the simulator and drivers that
/// build the view from events.
#[derive(Debug, Clone, Default)]
pub struct StaticTerms {
    edges: HashMap<ChannelId, EdgeTerms>,
    services: HashMap<NodeKey, u64>,
}

impl StaticTerms {
    /// Records (or replaces) an open edge.
    pub fn add_edge(&mut self, channel: ChannelId, a: NodeKey, b: NodeKey, params: EdgeParams) {
        self.edges.insert(channel, EdgeTerms { ends: (a, b), params });
    }

    /// Forgets an edge that left the graph.
    pub fn remove_edge(&mut self, channel: ChannelId) {
        self.edges.remove(&channel);
    }

    /// Records a registered node's service time.
    pub fn set_service(&mut self, node: NodeKey, service_ms: u64) {
        self.services.insert(node, service_ms);
    }
}

impl TermsView for StaticTerms {
    fn edge(&self, channel: ChannelId) -> Option<EdgeTerms> {
        self.edges.get(&channel).copied()
    }

    fn service_ms(&self, server: &NodeKey) -> Option<u64> {
        self.services.get(server).copied()
    }
}

/// Local bounds on routes and on what one neighbour can make this node hold
/// (DESIGN §2.10). Over a per-neighbour cap a request is refused with
/// [`Refusal::Busy`], which creates no guarantee and, like every refusal,
/// costs the payer nothing. Every field's doc ends with its default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Most hops a route may have. Default `16`.
    pub max_hops: usize,
    /// Largest response allowance (`max_response_bytes`) a request may ask
    /// for: the relay lane's frame limit less room for the envelope, so an
    /// allowed response always fits one frame. Default `4_194_304` (4 MiB).
    pub max_response_bytes: u64,
    /// Requests in flight that came in over one channel: accepted and not
    /// answered upstream yet (a request whose answer is only kept for a
    /// re-ask counts in `max_bytes_held`, not here). Default `256`.
    pub max_in_flight: usize,
    /// Value in flight over one channel: the sum of what this node paid
    /// onwards for the requests in flight that came in over it, in yocto.
    /// Default `10^24` (1 NEAR).
    #[serde(with = "crate::bytes::amount_serde")]
    pub max_value_in_flight: Amount,
    /// Bytes one channel's requests may make this node hold: their bodies
    /// and response allowances while in flight, plus the answers kept to
    /// repeat them after. Default `64 MiB`.
    pub max_bytes_held: u64,
    /// Late-fee liability over one channel: the sum, over the requests in
    /// flight that came in over it, of the most late fee each can cost this
    /// node (`late_fee_per_sec · max_late_ms`), in yocto. Default `10^24`.
    #[serde(with = "crate::bytes::amount_serde")]
    pub max_late_liability: Amount,
    /// Test-only: accept a route's terms without a [`TermsView`] (a driver
    /// that has no chain, such as a unit test of something else). A node
    /// with a chain never sets it; without a view and without this, every
    /// paid request is refused with [`Refusal::NoTerms`]. Default `false`.
    pub trust_route_terms: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_hops: 16,
            max_response_bytes: 4 * 1024 * 1024,
            max_in_flight: 256,
            max_value_in_flight: 1_000_000_000_000_000_000_000_000,
            max_bytes_held: 64 * 1024 * 1024,
            max_late_liability: 1_000_000_000_000_000_000_000_000,
            trust_route_terms: false,
        }
    }
}

/// Checks a request's route, as the node at `position` on it (1 for the
/// first hop), against the chain and the limits before anything is
/// committed: no node or channel twice (the requester included), at most
/// `max_hops` hops, an allowance within `max_response_bytes`, and, from the
/// edge the request comes in on down to the server, every hop's edge and
/// the server's service time as the chain records them. The edges above
/// that one price and time nothing this node earns, owes or waits for (the
/// nodes on them check them), so a graph that lags on them refuses nothing.
pub fn check_route(
    request: &Request,
    position: usize,
    terms: Option<&dyn TermsView>,
    limits: &Limits,
) -> Result<(), Refusal> {
    let hops = &request.route.hops;
    if hops.is_empty() {
        return Err(Refusal::NotOnRoute);
    }
    if hops.len() > limits.max_hops {
        return Err(Refusal::RouteTooLong);
    }
    if request.max_response_bytes > limits.max_response_bytes {
        return Err(Refusal::AllowanceTooLarge);
    }
    // Routes are short (at most `max_hops`): pairwise comparison is cheaper
    // than hashing.
    for (i, h) in hops.iter().enumerate() {
        if h.node == request.requester || hops[..i].iter().any(|p| p.node == h.node || p.channel == h.channel) {
            return Err(Refusal::RouteLoop);
        }
    }
    let Some(terms) = terms else {
        return if limits.trust_route_terms { Ok(()) } else { Err(Refusal::NoTerms) };
    };
    let from = position.clamp(1, hops.len()) - 1;
    let mut prev = if from == 0 { request.requester } else { hops[from - 1].node };
    for h in &hops[from..] {
        let Some(e) = terms.edge(h.channel) else { return Err(Refusal::UnknownEdge) };
        if !e.joins(&prev, &h.node) {
            return Err(Refusal::UnknownEdge);
        }
        if e.params != h.params {
            return Err(Refusal::TermsMismatch);
        }
        prev = h.node;
    }
    match terms.service_ms(&prev) {
        Some(ms) if ms == request.route.service_ms => Ok(()),
        Some(_) => Err(Refusal::ServiceMismatch),
        None => Err(Refusal::UnknownServer),
    }
}
