//! The JSON the API answers, as types: each handler builds one of these, and
//! the OpenAPI document ([`super::openapi`]) is generated from them. Amounts
//! are yocto as decimal strings (they exceed JSON's safe integers); keys are
//! 64 hex characters.

use serde::Serialize;
use utoipa::ToSchema;

/// An error: what is wrong and what to do, and a stable snake_case code.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What is wrong and what to do, for people.
    pub error: String,
    /// The stable code, for programs (`bad_request`, `no_route`, `unauthorized`, …).
    pub code: String,
}

/// `GET /status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusView {
    /// The node key, hex.
    pub node_key: String,
    /// The libp2p peer id.
    pub peer_id: String,
    /// The addresses it listens on.
    pub listen: Vec<String>,
    /// Its external addresses (configured, or confirmed by AutoNAT): what
    /// peers and Kademlia are told. Empty: no public address.
    pub external: Vec<String>,
    /// Connected peers.
    pub peers: usize,
    /// Channels it tracks.
    pub channels: usize,
    /// Requests in flight.
    pub in_flight: usize,
}

/// One channel in `GET /channels`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    /// The channel id on chain.
    pub channel: u64,
    /// The peer's node key, hex.
    pub peer_key: String,
    /// The peer's libp2p peer id.
    pub peer_id: String,
    /// What this node can still pay on it, yocto.
    pub spendable: String,
    /// What it has received on it, yocto.
    pub received: String,
}

/// `GET /channels`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelList {
    /// The channels.
    pub channels: Vec<ChannelView>,
}

/// What a channel operation on chain did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelState {
    /// The channel id.
    pub channel: u64,
    /// `proposed`, `open`, `close_proposed` or `severing`.
    pub state: String,
}

/// One connected peer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PeerView {
    /// Its peer id.
    pub peer_id: String,
    /// The address of the connection.
    pub addr: String,
}

/// `GET /peers`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PeerList {
    /// The peers.
    pub peers: Vec<PeerView>,
}

/// One route in `GET /routes`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RouteView {
    /// The route: its hops (channel, node key, edge parameters) and the server's `service_ms`.
    #[schema(value_type = Object)]
    pub route: serde_json::Value,
    /// What a request over it costs, yocto.
    pub cost: String,
    /// Its bound, ms.
    pub bound_ms: u64,
}

/// `GET /routes`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RouteList {
    /// The routes, best first.
    pub routes: Vec<RouteView>,
}

/// One attempt of a `POST /send`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    /// The attempt's request id, hex.
    pub request_id: String,
    /// The channels of its route.
    pub channels: Vec<u64>,
    /// What it cost, yocto.
    pub cost: String,
    /// Its route's bound, ms.
    pub bound_ms: u64,
    /// Whether the first hop acknowledged it.
    pub acked: bool,
    /// Late fees received on it, yocto.
    pub late_fees: String,
    /// How long it took, ms.
    pub took_ms: u64,
    /// How it ended, for people.
    pub result: String,
    /// How it ended: the first hop's refusal code, or the kind of ending.
    pub code: String,
}

/// `POST /send`: the outcome, and every attempt made.
#[derive(Debug, Serialize, ToSchema)]
pub struct SendView {
    /// The request id of the last attempt, hex.
    pub request_id: String,
    /// The route of the last attempt.
    #[schema(value_type = Object)]
    pub route: serde_json::Value,
    /// Paid in all, yocto.
    pub paid: String,
    /// Late fees received in all, yocto.
    pub late_fees: String,
    /// Every attempt, in order.
    pub attempts: Vec<AttemptView>,
    /// `response`, `notice` or `pending`.
    pub outcome: String,
    /// The server's reply status, for a response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The reply body as text, if it is UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The reply body as hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_hex: Option<String>,
    /// The service's error text, if it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The server's key, hex, for a response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The server's signature over (request id, body hash), hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The severance notice, for a notice.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub notice: Option<serde_json::Value>,
}

/// `GET /livez`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Live {
    /// Always true in a 200 answer.
    pub live: bool,
}

/// The checks of `GET /readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyChecks {
    /// Whether the chain answers: true, false, or `"none"` without a chain account.
    #[schema(value_type = Object)]
    pub chain: serde_json::Value,
    /// Whether the chain's graph is loaded.
    pub graph: bool,
    /// Whether a channel neighbour is connected (true with no channel yet).
    pub channel_neighbour: bool,
    /// Whether the node is draining (stopping).
    pub draining: bool,
    /// Whether the node has a public address (configured in
    /// `[node].external_addresses`, or confirmed by AutoNAT). Not required
    /// for readiness: a node without one still serves the channels it opens
    /// itself, but nodes that do not know it cannot dial it.
    pub public_address: bool,
}

/// `GET /readyz` (200 when ready, 503 otherwise, with the same body).
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// Whether every check passed.
    pub ready: bool,
    /// Each check.
    pub checks: ReadyChecks,
    /// Channels the node tracks.
    pub channels: usize,
    /// Channel neighbours connected.
    pub neighbours_connected: usize,
    /// The node's external addresses (see `checks.public_address`).
    pub external_addresses: Vec<String>,
    /// What is worth knowing beyond the checks; with no public address, that
    /// and what to do.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}
