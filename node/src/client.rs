//! The requester's side as an application sees it: send a request to a node
//! by its key, and get back one outcome with its evidence.
//!
//! [`NodeHandle::send`] drives the core's retry policy
//! ([`por_core::requester`]): it asks the [`Requester`] what to do, finds
//! routes over the published graph within what the requester wants, sends,
//! and feeds it the engine's deliveries, the first hop's refusals and the
//! clock. The policy itself (when to retry, what to exclude, how long to
//! wait for the ack, what money and time are left) is the core's, the same
//! code the simulator runs; see its module docs. A request that is
//! acknowledged but neither answered nor noticed by the timeout ends as
//! [`OutcomeKind::Pending`] with the late fees received so far.

use std::time::Duration;

use por_core::protocol::Delivery;
pub use por_core::requester::{Attempt, AttemptResult, Outcome, OutcomeKind};
use por_core::requester::{Next, RequestFailure, Requester, RetryPolicy};
use por_core::{Amount, Ed25519Verifier, NodeKey};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::handle::{NodeHandle, SendError};
use crate::routes::{RouteError, RouteLimits};

/// The most a [`NodeHandle::send`] pays over all its attempts unless told
/// otherwise ([`SendOptions::max_cost`]): 0.01 NEAR (10^22 yocto).
///
/// A request's price is the sum of its route's edge fees, `base_fee +
/// byte_fee · (body + response allowance)` per edge (DESIGN §2.3); on the
/// local devnet's demo edges a request of a few KiB costs well under
/// 10^12 yocto, so the cap is far above any ordinary request and still
/// small enough that a mistake (a huge response allowance, an edge with
/// an absurd fee) costs cents, not a deposit. Raise it, or set `None`, to
/// pay more.
pub const DEFAULT_MAX_COST: Amount = 10_000_000_000_000_000_000_000;

/// What to send and within which limits. Every field's doc ends with its default.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// The server's node key. Required.
    pub to: NodeKey,
    /// The service at the server. Required.
    pub service: String,
    /// The request body. Default empty.
    pub body: Vec<u8>,
    /// The most response bytes to accept and pay for. Default 64 KiB.
    pub max_response_bytes: u64,
    /// The most to pay over all attempts, yocto; `None` for no limit.
    /// Default [`DEFAULT_MAX_COST`] (0.01 NEAR).
    pub max_cost: Option<Amount>,
    /// The largest bound a route may have, ms. Default no limit.
    pub max_bound_ms: Option<u64>,
    /// Attempts over different routes. Default 3.
    pub attempts: u32,
    /// How long to wait for an outcome in all. Default 30 s.
    pub timeout: Duration,
    /// Extra wait for the first hop's ack beyond the edge's round trip.
    /// Default 2 s.
    pub ack_grace: Duration,
}

impl SendOptions {
    /// The retry policy these options ask for.
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            attempts: self.attempts,
            max_cost: self.max_cost,
            max_bound_ms: self.max_bound_ms,
            timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            ack_grace_ms: u64::try_from(self.ack_grace.as_millis()).unwrap_or(u64::MAX),
            ..RetryPolicy::default()
        }
    }

    /// Defaults for a request to `to`'s `service`.
    pub fn new(to: NodeKey, service: impl Into<String>) -> Self {
        SendOptions {
            to,
            service: service.into(),
            body: Vec::new(),
            max_response_bytes: 64 * 1024,
            max_cost: Some(DEFAULT_MAX_COST),
            max_bound_ms: None,
            attempts: 3,
            timeout: Duration::from_secs(30),
            ack_grace: Duration::from_secs(2),
        }
    }
}

/// Why no outcome could be had.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ClientError {
    /// The node has stopped.
    #[error("the node has stopped")]
    Stopped,
    /// No route fits (first attempt), with why.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// Routes exist, but the cheapest costs more than the cost cap
    /// ([`SendOptions::max_cost`], by default [`DEFAULT_MAX_COST`]).
    #[error(
        "the cheapest route to {to} costs {cheapest} yocto, over the cost cap of {cap} yocto; raise max_cost \
         (default {DEFAULT_MAX_COST} yocto, 0.01 NEAR) to pay that much"
    )]
    OverCostCap {
        /// The server.
        to: String,
        /// What the cheapest route costs, yocto.
        cheapest: Amount,
        /// The cap that was applied, yocto.
        cap: Amount,
    },
    /// Every attempt failed before an acknowledgement; the last reason.
    #[error("no attempt was acknowledged ({attempts} tried); last: {last}")]
    Failed {
        /// Attempts made.
        attempts: usize,
        /// What happened to the last one.
        last: String,
        /// Each attempt.
        tried: Vec<Attempt>,
    },
}

impl NodeHandle {
    /// Why the first attempt found no route: the cost cap, when a route
    /// without it exists, else what the route search said.
    fn no_route_error(&self, opts: &SendOptions, e: RouteError) -> ClientError {
        let (RouteError::NoRoute { .. }, Some(cap)) = (&e, opts.max_cost) else { return ClientError::Route(e) };
        let uncapped = RouteLimits { max_bound_ms: opts.max_bound_ms, ..RouteLimits::default() };
        match self.routes_to(&opts.to, opts.body.len() as u64, opts.max_response_bytes, &uncapped, 1) {
            Ok(routes) if routes.first().is_some_and(|r| r.cost > cap) => {
                ClientError::OverCostCap { to: opts.to.to_hex(), cheapest: routes[0].cost, cap }
            }
            _ => ClientError::Route(e),
        }
    }

    /// Sends a request to `opts.to` over the best route and waits for its
    /// outcome, retrying over other routes as the core's [`Requester`]
    /// decides (see the module docs).
    pub async fn send(&self, opts: SendOptions) -> Result<Outcome, ClientError> {
        let start = Instant::now();
        let now = || u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut req = Requester::new(opts.policy(), now());
        // Why the first attempt found no route, to report it as it is.
        let mut first_error: Option<RouteError> = None;
        let mut stream: Option<mpsc::Receiver<Delivery>> = None;
        loop {
            match req.next(now()) {
                Next::Done => break,
                Next::Route => {
                    let wants = req.wants();
                    let limits = RouteLimits {
                        max_cost: wants.max_cost,
                        max_bound_ms: wants.max_bound_ms,
                        exclude_channels: wants.exclude_channels.clone(),
                        exclude_nodes: wants.exclude_nodes.clone(),
                    };
                    let body_bytes = opts.body.len() as u64;
                    let route = match self.routes_to(&opts.to, body_bytes, opts.max_response_bytes, &limits, 1) {
                        Ok(routes) => routes.into_iter().next().expect("routes_to returns at least one route"),
                        Err(e) => {
                            if req.attempts().is_empty() {
                                first_error = Some(e);
                            } else {
                                tracing::debug!("no further route: {e}");
                            }
                            req.no_route();
                            continue;
                        }
                    };
                    let sent = self
                        .request(route.route.clone(), opts.service.clone(), opts.body.clone(), opts.max_response_bytes)
                        .await;
                    match sent {
                        Ok((id, rx)) => {
                            req.sent(id, route.route, route.cost, route.bound_ms, now());
                            stream = Some(rx);
                        }
                        Err(SendError::Stopped) => return Err(ClientError::Stopped),
                        Err(SendError::Refused(why)) => {
                            req.not_sent(&route.route, route.cost, route.bound_ms, why, now())
                        }
                    }
                }
                Next::Wait { until_ms } => {
                    let (Some(id), Some(rx)) = (req.current(), stream.as_mut()) else {
                        // Between attempts: a first hop's graph catching up.
                        tokio::time::sleep_until(start + Duration::from_millis(until_ms)).await;
                        req.timer(now().max(until_ms));
                        continue;
                    };
                    let until = start + Duration::from_millis(until_ms);
                    match tokio::time::timeout_at(until, rx.recv()).await {
                        // The timer fires at `until` or later.
                        Err(_) => req.timer(now().max(until_ms)),
                        Ok(None) => match self.refusal(id).await {
                            Ok(Some(why)) => req.refused(id, why, now()),
                            Ok(None) => req.closed(now()),
                            Err(_) => return Err(ClientError::Stopped),
                        },
                        Ok(Some(Delivery::Response { response, .. }))
                            if !response.verify(&id, &opts.to, &Ed25519Verifier) =>
                        {
                            // The engine verifies before delivering; this is a
                            // second look, not the defence.
                            tracing::warn!(request = %id, "a response that does not verify was delivered; ignored");
                        }
                        Ok(Some(d)) => req.delivery(&d, now()),
                    }
                }
            }
        }
        req.finish().map_err(|e| match e {
            RequestFailure::NoRoute => self.no_route_error(&opts, first_error.unwrap_or(RouteError::NoGraph)),
            RequestFailure::Failed { attempts, last, tried } => ClientError::Failed { attempts, last, tried },
        })
    }
}
