//! The requester's side as an application sees it: send a request to a node
//! by its key, and get back one outcome with its evidence.
//!
//! [`NodeHandle::send`] picks the cheapest route over the published graph
//! within the caller's limits, sends the request, and waits for the
//! guarantee's outcome (DESIGN §1): the server's signed response, a
//! severance notice, or late payments. It tries again over another route,
//! excluding what failed, when
//! - the node refuses to send on the first channel (it cannot pay on it),
//! - the first hop refuses the request (its receipt names the reason) or
//!   cannot be reached,
//! - a severance notice comes back (the notice's channel is excluded), or
//! - the first hop does not acknowledge within its round trip plus
//!   [`SendOptions::ack_grace`] (the first hop is excluded),
//!
//! as long as attempts, money ([`SendOptions::max_cost`] counts every
//! attempt's payment) and time ([`SendOptions::timeout`]) are left. A request
//! that is acknowledged but neither answered nor noticed by the timeout ends
//! as [`OutcomeKind::Pending`] with the late fees received so far.

use std::time::Duration;

use por_core::protocol::Delivery;
use por_core::{Amount, ChannelId, Ed25519Verifier, NodeKey, RequestId, Response, Route, SeveranceNotice};
use tokio::time::Instant;

use crate::handle::{NodeHandle, SendError};
use crate::routes::{RouteError, RouteLimits};

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
    /// The most to pay over all attempts, yocto. Default no limit.
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
    /// Defaults for a request to `to`'s `service`.
    pub fn new(to: NodeKey, service: impl Into<String>) -> Self {
        SendOptions {
            to,
            service: service.into(),
            body: Vec::new(),
            max_response_bytes: 64 * 1024,
            max_cost: None,
            max_bound_ms: None,
            attempts: 3,
            timeout: Duration::from_secs(30),
            ack_grace: Duration::from_secs(2),
        }
    }
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutcomeKind {
    /// The server's signed response (its signature verified against the
    /// server's key).
    Response(Box<Response>),
    /// Proof that an edge of the path was cut, from the last attempt (no
    /// attempt was left to retry).
    Notice(SeveranceNotice),
    /// Acknowledged, but no response or notice before the timeout; late
    /// fees may have been paid.
    Pending,
}

/// One try over one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The request id.
    pub request_id: RequestId,
    /// The channels of the route, in order.
    pub channels: Vec<ChannelId>,
    /// What it paid the first hop.
    pub cost: Amount,
    /// Its bound, ms.
    pub bound_ms: u64,
    /// Whether the first hop acknowledged it.
    pub acked: bool,
    /// Late fees received for it while it was waited for.
    pub late_fees: Amount,
    /// Time from sending to its end, ms.
    pub took_ms: u64,
    /// How it ended: `response`, `notice on channel N`, `refused: …`,
    /// `no ack`, or `pending`.
    pub result: String,
}

/// The outcome of [`NodeHandle::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The last attempt's request id.
    pub request_id: RequestId,
    /// The last attempt's route.
    pub route: Route,
    /// How it ended.
    pub kind: OutcomeKind,
    /// Late fees received for the last attempt.
    pub late_fees: Amount,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
    /// Paid over all attempts.
    pub paid: Amount,
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

enum Ended {
    Refused(String),
    Response(Box<Response>),
    Notice(SeveranceNotice),
    NoAck,
    Pending,
}

impl NodeHandle {
    /// Sends a request to `opts.to` over the best route and waits for its
    /// outcome, retrying over other routes (see the module docs).
    pub async fn send(&self, opts: SendOptions) -> Result<Outcome, ClientError> {
        let start = Instant::now();
        let deadline = start + opts.timeout;
        let mut limits = RouteLimits { max_bound_ms: opts.max_bound_ms, ..RouteLimits::default() };
        let mut paid: Amount = 0;
        let mut tried: Vec<Attempt> = Vec::new();
        let mut last_notice: Option<(RequestId, Route, SeveranceNotice, Amount)> = None;
        while (tried.len() as u32) < opts.attempts.max(1) && Instant::now() < deadline {
            limits.max_cost = opts.max_cost.map(|m| m.saturating_sub(paid));
            let routes = match self.routes_to(&opts.to, opts.body.len() as u64, opts.max_response_bytes, &limits, 1) {
                Ok(r) => r,
                Err(e) if tried.is_empty() => return Err(e.into()),
                Err(e) => {
                    tracing::debug!("no further route: {e}");
                    break;
                }
            };
            let pr = routes.into_iter().next().expect("routes_to returns at least one route");
            let channels: Vec<ChannelId> = pr.route.hops.iter().map(|h| h.channel).collect();
            let first = channels[0];
            let first_rtt = Duration::from_millis(2 * pr.route.hops[0].params.latency_ms);
            let mut attempt = Attempt {
                request_id: RequestId([0; 32]),
                channels: channels.clone(),
                cost: pr.cost,
                bound_ms: pr.bound_ms,
                acked: false,
                late_fees: 0,
                took_ms: 0,
                result: String::new(),
            };
            let sent = Instant::now();
            let (id, mut rx) = match self
                .request(pr.route.clone(), opts.service.clone(), opts.body.clone(), opts.max_response_bytes)
                .await
            {
                Ok(x) => x,
                Err(SendError::Stopped) => return Err(ClientError::Stopped),
                Err(SendError::Refused(why)) => {
                    attempt.result = format!("refused: {why}");
                    tried.push(attempt);
                    limits.exclude_channels.insert(first);
                    continue;
                }
            };
            attempt.request_id = id;
            paid = paid.saturating_add(pr.cost);
            let mut late: Amount = 0;
            let ack_by = Instant::now() + first_rtt + opts.ack_grace;
            let ended = loop {
                let until = if attempt.acked { deadline } else { ack_by.min(deadline) };
                match tokio::time::timeout_at(until, rx.recv()).await {
                    Err(_) if attempt.acked || until == deadline => break Ended::Pending,
                    Err(_) => break Ended::NoAck,
                    Ok(None) => match self.refusal(id).await {
                        Ok(Some(why)) => break Ended::Refused(why),
                        Ok(None) => break Ended::Pending,
                        Err(_) => return Err(ClientError::Stopped),
                    },
                    Ok(Some(Delivery::Acked { .. })) => attempt.acked = true,
                    Ok(Some(Delivery::LatePayment { total, .. })) => late = total,
                    Ok(Some(Delivery::Response { response, .. })) => {
                        if response.verify(&id, &opts.to, &Ed25519Verifier) {
                            break Ended::Response(response);
                        }
                        // The engine verifies before delivering; this is a
                        // second look, not the defence.
                        tracing::warn!(request = %id, "a response that does not verify was delivered; ignored");
                    }
                    Ok(Some(Delivery::Notice { notice, .. })) => break Ended::Notice(notice),
                }
            };
            attempt.late_fees = late;
            attempt.took_ms = sent.elapsed().as_millis() as u64;
            match ended {
                Ended::Response(r) => {
                    attempt.result = "response".into();
                    tried.push(attempt);
                    return Ok(Outcome {
                        request_id: id,
                        route: pr.route,
                        kind: OutcomeKind::Response(r),
                        late_fees: late,
                        attempts: tried,
                        paid,
                    });
                }
                Ended::Notice(n) => {
                    attempt.result = format!("notice on channel {}", n.channel);
                    limits.exclude_channels.insert(n.channel);
                    tried.push(attempt);
                    last_notice = Some((id, pr.route, n, late));
                }
                Ended::Refused(why) => {
                    attempt.result = format!("refused: {why}");
                    limits.exclude_channels.insert(first);
                    tried.push(attempt);
                }
                Ended::NoAck => {
                    attempt.result = "no ack".into();
                    limits.exclude_channels.insert(first);
                    tried.push(attempt);
                }
                Ended::Pending => {
                    attempt.result = "pending".into();
                    tried.push(attempt);
                    return Ok(Outcome {
                        request_id: id,
                        route: pr.route,
                        kind: OutcomeKind::Pending,
                        late_fees: late,
                        attempts: tried,
                        paid,
                    });
                }
            }
        }
        match last_notice {
            Some((id, route, n, late)) => Ok(Outcome {
                request_id: id,
                route,
                kind: OutcomeKind::Notice(n),
                late_fees: late,
                attempts: tried,
                paid,
            }),
            None => Err(ClientError::Failed {
                attempts: tried.len(),
                last: tried.last().map_or_else(|| "no time left".into(), |a| a.result.clone()),
                tried,
            }),
        }
    }
}
