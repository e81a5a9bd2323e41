//! [`NodeHandle`]: the cloneable way in. The HTTP API, the CLI, the SDK and
//! tests all talk to the event loop through it; every method sends one
//! [`Command`] with a reply channel and awaits the answer.

use por_core::protocol::{ChannelSetup, Delivery};
use por_core::{ChannelId, NodeKey, RequestId, Route};
use tokio::sync::{mpsc, oneshot};

use crate::service::SharedService;

/// Deliveries kept per request before the slowest reader loses some
/// (late-payment notes; the terminal outcome is never dropped).
pub const DELIVERY_BUFFER: usize = 64;

/// The node is gone (shut down or crashed).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("the node has stopped")]
pub struct Stopped;

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
    /// Connected peers.
    pub peers: usize,
    /// Channels: id, peer key, what we can still spend, what we have received.
    pub channels: Vec<(ChannelId, NodeKey, u128, u128)>,
    /// Requests the engine still tracks.
    pub in_flight: usize,
}

/// The cloneable handle.
#[derive(Clone)]
pub struct NodeHandle {
    pub(crate) tx: mpsc::Sender<Command>,
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

    /// Stops the node (its event loop returns).
    pub async fn shutdown(&self) {
        let _ = self.tx.send(Command::Shutdown).await;
    }
}
