//! [`NodeHandle`]: the cloneable way in. The HTTP API, the CLI, the SDK and
//! tests all talk to the event loop through it; every method sends one
//! [`Command`] with a reply channel and awaits the answer.

use std::sync::{Arc, RwLock};

use por_core::protocol::{ChannelSetup, Delivery, SeverReason};
use por_core::{Amount, ChannelId, Hash32, NodeKey, RequestId, Route, SignedVoucher};
use tokio::sync::{mpsc, oneshot};

use crate::routes::{NetworkGraph, PricedRoute, RouteError, RouteLimits};
use crate::service::SharedService;

/// Deliveries kept per request before the slowest reader loses some
/// (late-payment notes; the terminal outcome is never dropped).
pub const DELIVERY_BUFFER: usize = 64;

/// The node is gone (shut down or crashed).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("the node has stopped")]
pub struct Stopped;

/// The graph snapshot the handle publishes and the event loop reads.
pub(crate) type SharedGraph = Arc<RwLock<Option<Arc<NetworkGraph>>>>;

/// Why a request could not be sent.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// The node has stopped.
    #[error("the node has stopped")]
    Stopped,
    /// The engine refused the request (bad route, cannot pay, …).
    #[error("request refused: {0}")]
    Refused(String),
}

/// Work the event loop hands to the chain agent ([`crate::agent`]), which
/// attached itself with [`NodeHandle::attach_chain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainJob {
    /// Sever `channel` on chain with `voucher` (the best the peer gave us).
    Sever {
        /// The channel.
        channel: ChannelId,
        /// The peer's best voucher.
        voucher: Option<SignedVoucher>,
        /// Why (for the log).
        reason: SeverReason,
    },
    /// Report when `channel` leaves the graph.
    Watch {
        /// The channel.
        channel: ChannelId,
    },
}

/// What the event loop can be asked.
pub enum Command {
    /// Start tracking a channel that is open on chain.
    AddChannel {
        /// The channel as the chain records it.
        setup: ChannelSetup,
        /// The peer's addresses, if known.
        addrs: Vec<libp2p::Multiaddr>,
        /// Done.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Serve a service under a name.
    Serve {
        /// The name requests use.
        name: String,
        /// The handler.
        service: SharedService,
        /// Done.
        reply: oneshot::Sender<()>,
    },
    /// Send a paid request along a route.
    Request {
        /// The route.
        route: Route,
        /// The service at the server.
        service: String,
        /// The body.
        body: Vec<u8>,
        /// Response allowance.
        max_response_bytes: u64,
        /// The request id and the stream of its outcomes.
        reply: oneshot::Sender<Result<(RequestId, mpsc::Receiver<Delivery>), String>>,
    },
    /// The node's status.
    Status {
        /// The answer.
        reply: oneshot::Sender<Status>,
    },
    /// The addresses Kademlia's routing table holds for a peer.
    PeerAddresses {
        /// The peer.
        peer: libp2p::PeerId,
        /// The answer (empty if the peer is not in the table).
        reply: oneshot::Sender<Vec<libp2p::Multiaddr>>,
    },
    /// Connected peers and their addresses.
    Peers {
        /// The answer.
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    /// From now on, send severances and watches to the chain agent.
    AttachChain {
        /// The agent's job queue.
        jobs: mpsc::Sender<ChainJob>,
    },
    /// A channel left the graph (we severed it, the peer did, or a notice's
    /// channel is confirmed gone).
    ChannelRemoved {
        /// The channel.
        channel: ChannelId,
        /// The transaction that removed it, when known (zero otherwise).
        tx_hash: Hash32,
    },
    /// Why a request of ours was refused by its first hop, if it was.
    Refusal {
        /// The request.
        request: RequestId,
        /// The reason.
        reply: oneshot::Sender<Option<por_core::Refused>>,
    },
    /// A channel that notices named was closed cooperatively.
    NoticeRefuted {
        /// The channel.
        channel: ChannelId,
    },
    /// The contract's late-fee terms, as the chain agent last read them.
    LateTerms {
        /// Yocto per second of lateness.
        late_fee_per_sec: Amount,
        /// The most lateness one request can cost.
        max_late_ms: u64,
    },
    /// The best voucher the peer has given us on a channel.
    BestVoucher {
        /// The channel.
        channel: ChannelId,
        /// The answer (none if unknown or nothing received).
        reply: oneshot::Sender<Option<SignedVoucher>>,
    },
    /// The latest voucher this node signed to the peer on a channel.
    OwnVoucher {
        /// The channel.
        channel: ChannelId,
        /// The answer (none if unknown or nothing sent).
        reply: oneshot::Sender<Option<SignedVoucher>>,
    },
    /// Cut a channel now (operator's decision).
    Sever {
        /// The channel.
        channel: ChannelId,
        /// Whether the channel was open here.
        reply: oneshot::Sender<bool>,
    },
    /// Announce in the DHT that this node provides `key` (a provider record;
    /// answered once the record is stored locally, the DHT announcement
    /// goes on in the background).
    Provide {
        /// The record key.
        key: Vec<u8>,
        /// Done, or why the record could not be stored.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Look up the providers of `key` in the DHT.
    FindProviders {
        /// The record key.
        key: Vec<u8>,
        /// Every provider found when the query is over.
        reply: oneshot::Sender<Vec<libp2p::PeerId>>,
    },
    /// Start a graceful stop: refuse new paid requests and tell every
    /// neighbour (DESIGN §2.11). Answered with the requests still in flight.
    Drain {
        /// Requests in flight when the drain began.
        reply: oneshot::Sender<usize>,
    },
    /// A backup of the channels as the store holds them
    /// ([`crate::backup::ChannelBackup`]).
    Backup {
        /// The backup, or why the store could not be read.
        reply: oneshot::Sender<Result<crate::backup::ChannelBackup, String>>,
    },
    /// Stop the event loop.
    Shutdown,
}

/// A snapshot of the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The node key.
    pub key: NodeKey,
    /// The libp2p peer id.
    pub peer_id: String,
    /// Addresses it listens on.
    pub listen: Vec<String>,
    /// Its external addresses: those the operator gave
    /// ([`crate::NodeConfig::external_addresses`]) and those AutoNAT
    /// confirmed. Peers and Kademlia are told these; empty means no public
    /// address (peers reach the node only on connections it opens).
    pub external: Vec<String>,
    /// Connected peers.
    pub peers: usize,
    /// Channels: id, peer key, what we can still spend, what we have received.
    pub channels: Vec<(ChannelId, NodeKey, u128, u128)>,
    /// Requests the engine still tracks.
    pub in_flight: usize,
    /// The late-fee terms the engine prices lateness by: yocto per second,
    /// and the most lateness one request can cost (ms).
    pub late_terms: (Amount, u64),
    /// The node is stopping ([`NodeHandle::drain`]).
    pub draining: bool,
}

/// A connected peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Its peer id.
    pub peer_id: String,
    /// The address of our connection to it.
    pub addr: String,
}

/// The cloneable handle.
#[derive(Clone)]
pub struct NodeHandle {
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) key: NodeKey,
    pub(crate) graph: SharedGraph,
    pub(crate) events: crate::events::WeakBus,
    /// The record of outcomes ([`crate::outcomes`]) and the chain history
    /// ([`crate::history`]).
    pub(crate) seen: (crate::outcomes::Reader, crate::history::HistoryLog),
}

impl NodeHandle {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Stopped> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    /// Starts tracking a channel open on chain (the chain follower calls
    /// this; tests may too).
    pub async fn add_channel(&self, setup: ChannelSetup, addrs: Vec<libp2p::Multiaddr>) -> Result<(), SendError> {
        self.ask(|reply| Command::AddChannel { setup, addrs, reply })
            .await
            .map_err(|_| SendError::Stopped)?
            .map_err(SendError::Refused)
    }

    /// Serves `service` under `name`.
    pub async fn serve(&self, name: impl Into<String>, service: SharedService) -> Result<(), Stopped> {
        let name = name.into();
        self.ask(|reply| Command::Serve { name, service, reply }).await
    }

    /// Sends a paid request along `route`; returns its id and the stream of
    /// its outcomes (ack, late payments, then the response or a notice).
    pub async fn request(
        &self,
        route: Route,
        service: impl Into<String>,
        body: Vec<u8>,
        max_response_bytes: u64,
    ) -> Result<(RequestId, mpsc::Receiver<Delivery>), SendError> {
        let service = service.into();
        self.ask(|reply| Command::Request { route, service, body, max_response_bytes, reply })
            .await
            .map_err(|_| SendError::Stopped)?
            .map_err(SendError::Refused)
    }

    /// The node's status.
    pub async fn status(&self) -> Result<Status, Stopped> {
        self.ask(|reply| Command::Status { reply }).await
    }

    /// Connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, Stopped> {
        self.ask(|reply| Command::Peers { reply }).await
    }

    /// Subscribes to the node's events ([`crate::events`]): every event
    /// emitted from now on, in order, through a bounded buffer (a subscriber
    /// that falls behind is told how many it missed). Once the node has
    /// stopped the stream ends with [`crate::events::EventError::Stopped`].
    pub fn events(&self) -> crate::events::EventStream {
        self.events.subscribe()
    }

    /// The addresses Kademlia's routing table holds for `peer`: what it
    /// announced (its listen and external addresses, by identify) or what
    /// this node was told of it; empty if it is not in the table.
    pub async fn peer_addresses(&self, peer: libp2p::PeerId) -> Result<Vec<libp2p::Multiaddr>, Stopped> {
        self.ask(|reply| Command::PeerAddresses { peer, reply }).await
    }

    /// This node's key.
    pub fn key(&self) -> NodeKey {
        self.key
    }

    /// Publishes the graph routes are found in (the chain agent does this on
    /// every change of the contract's `graph_version`; tests may too).
    pub fn set_graph(&self, graph: NetworkGraph) {
        *self.graph.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(graph));
    }

    /// The record of outcomes of this node's requests, as of now.
    pub fn outcomes(&self) -> crate::outcomes::OutcomesView {
        self.seen.0.view(crate::outcomes::now_ms())
    }

    /// The node's chain history (the chain agent writes it).
    pub fn history(&self) -> crate::history::HistoryLog {
        self.seen.1.clone()
    }

    /// The graph last published, if any.
    pub fn graph(&self) -> Option<Arc<NetworkGraph>> {
        self.graph.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Up to `count` routes from this node to `to`, cheapest first.
    pub fn routes_to(
        &self,
        to: &NodeKey,
        body_bytes: u64,
        max_response_bytes: u64,
        limits: &RouteLimits,
        count: usize,
    ) -> Result<Vec<PricedRoute>, RouteError> {
        let g = self.graph().ok_or(RouteError::NoGraph)?;
        g.routes(&self.key, to, body_bytes, max_response_bytes, limits, count)
    }

    /// Attaches the chain agent (see [`crate::agent`]).
    pub async fn attach_chain(&self, jobs: mpsc::Sender<ChainJob>) -> Result<(), Stopped> {
        self.tx.send(Command::AttachChain { jobs }).await.map_err(|_| Stopped)
    }

    /// `channel`, named by severance notices we received, left the graph by
    /// a cooperative close: the notices were lies, and the engine cuts the
    /// edges they came over.
    pub async fn notice_refuted(&self, channel: ChannelId) -> Result<(), Stopped> {
        self.tx.send(Command::NoticeRefuted { channel }).await.map_err(|_| Stopped)
    }

    /// The contract's late-fee terms changed: the engine prices lateness by
    /// them from now on.
    pub async fn set_late_terms(&self, late_fee_per_sec: Amount, max_late_ms: u64) -> Result<(), Stopped> {
        self.tx.send(Command::LateTerms { late_fee_per_sec, max_late_ms }).await.map_err(|_| Stopped)
    }

    /// Tells the engine that `channel` left the graph.
    pub async fn channel_removed(&self, channel: ChannelId, tx_hash: Hash32) -> Result<(), Stopped> {
        self.tx.send(Command::ChannelRemoved { channel, tx_hash }).await.map_err(|_| Stopped)
    }

    /// Why request `id` (ours) was refused by its first hop, if it was: its
    /// outcome stream then closes without a response or notice. Reasons are
    /// kept for the last 1,024 refusals.
    pub async fn refusal(&self, id: RequestId) -> Result<Option<por_core::Refused>, Stopped> {
        self.ask(|reply| Command::Refusal { request: id, reply }).await
    }

    /// The best voucher the peer of `channel` has given us.
    pub async fn best_voucher(&self, channel: ChannelId) -> Result<Option<SignedVoucher>, Stopped> {
        self.ask(|reply| Command::BestVoucher { channel, reply }).await
    }

    /// The latest voucher this node signed to the peer of `channel` (what a
    /// cooperative close it confirms should pay the peer).
    pub async fn own_voucher(&self, channel: ChannelId) -> Result<Option<SignedVoucher>, Stopped> {
        self.ask(|reply| Command::OwnVoucher { channel, reply }).await
    }

    /// Cuts `channel` now: the chain agent severs it on chain with the best
    /// voucher held, and notices go upstream for the requests in flight on it.
    /// Returns whether the channel was open.
    pub async fn sever(&self, channel: ChannelId) -> Result<bool, Stopped> {
        self.ask(|reply| Command::Sever { channel, reply }).await
    }

    /// Announces in the DHT that this node provides `key` (file sharing).
    pub async fn provide(&self, key: Vec<u8>) -> Result<(), SendError> {
        self.ask(|reply| Command::Provide { key, reply })
            .await
            .map_err(|_| SendError::Stopped)?
            .map_err(SendError::Refused)
    }

    /// The providers of `key` the DHT knows (file sharing); waits for the
    /// lookup to finish (bounded by Kademlia's query timeout).
    pub async fn find_providers(&self, key: Vec<u8>) -> Result<Vec<libp2p::PeerId>, Stopped> {
        self.ask(|reply| Command::FindProviders { key, reply }).await
    }

    /// A graceful stop's first part (DESIGN §2.11): from now on the node
    /// refuses new paid requests (`draining`) and its neighbours are told at
    /// once, so they route around it; it goes on answering what it took.
    /// Returns when nothing is in flight any more, or after `within`, with
    /// the number of requests still in flight (0: all done). Call
    /// [`NodeHandle::shutdown`] after it.
    pub async fn drain(&self, within: std::time::Duration) -> Result<usize, Stopped> {
        let deadline = tokio::time::Instant::now() + within;
        let mut left = self.ask(|reply| Command::Drain { reply }).await?;
        while left > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            left = self.status().await?.in_flight;
        }
        Ok(left)
    }

    /// A backup of the node's channels as its store holds them (what is
    /// durable, not what is still being committed).
    pub async fn channel_backup(&self) -> Result<Result<crate::backup::ChannelBackup, String>, Stopped> {
        self.ask(|reply| Command::Backup { reply }).await
    }

    /// Stops the event loop (after flushing the store).
    pub async fn shutdown(&self) {
        let _ = self.tx.send(Command::Shutdown).await;
    }
}
