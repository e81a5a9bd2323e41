//! The requester's retry policy as a sans-IO state machine: one logical
//! request, tried over up to [`RetryPolicy::attempts`] routes within its
//! money ([`RetryPolicy::max_cost`]) and time ([`RetryPolicy::timeout_ms`]).
//!
//! The node's `NodeHandle::send` and the simulator both drive this code, so
//! the simulator's scenarios exercise the retry policy a node runs. The shape
//! follows LDK's `ln/outbound_payment.rs` (`Retry`, `PaymentAttempts`,
//! `previously_failed_channels`): the driver finds routes, sends, reads the
//! clock and sets timers; [`Requester`] decides.
//!
//! # Driving it
//!
//! Ask [`Requester::next`] what to do:
//! - [`Next::Route`]: find the cheapest route within [`Requester::wants`]
//!   (money left, bound, excluded channels and nodes). None fits:
//!   [`Requester::no_route`]. The node refuses to send it (it cannot pay on
//!   the first channel): [`Requester::not_sent`]. Sent:
//!   [`Requester::sent`].
//! - [`Next::Wait`]: feed what comes for [`Requester::current`]
//!   ([`Requester::delivery`], [`Requester::refused`], [`Requester::closed`])
//!   and call [`Requester::timer`] at `until_ms` (timers are never
//!   cancelled: a stale one is ignored). Ask `next` again after each input.
//! - [`Next::Done`]: take the result with [`Requester::finish`].
//!
//! # The policy
//!
//! An attempt ends, and the next one avoids what failed, when
//! - the node refuses to send on the first channel (nothing is paid; the
//!   first channel is excluded),
//! - the first hop refuses the request (its receipt names why; the first
//!   channel is excluded),
//! - a severance notice comes back (the notice's channel is excluded; the
//!   last notice is the outcome if no later attempt does better), or
//! - the first hop does not acknowledge within its round trip
//!   (`2 · latency_ms` of the first hop) plus [`RetryPolicy::ack_grace_ms`]
//!   (the first channel is excluded; the engine still tracks the request, and
//!   whatever comes for it later is ignored here).
//!
//! A new attempt starts only while attempts and time are left; its route may
//! cost at most [`RetryPolicy::max_cost`] less what the earlier attempts
//! paid. A response ends the request; so does an acknowledged attempt that
//! reaches the timeout unanswered ([`OutcomeKind::Pending`], late fees may
//! have been paid), and an attempt whose outcome stream closes without a
//! refusal. No route for the very first attempt is
//! [`RequestFailure::NoRoute`]; no route later stops the retries.
//!
//! Not here: routing (the driver asks `find_routes` or its own cache),
//! signing and paying (the engine), the clock, and checking a response's
//! signature (the engine verifies it before delivering; a driver that looks
//! again does so before [`Requester::delivery`]).
//!
//! All times are milliseconds on the driver's clock; the driver picks the
//! origin.

use std::collections::BTreeSet;
use std::fmt;

use crate::bytes::{NodeKey, RequestId};
use crate::message::{Response, Route, SeveranceNotice};
use crate::protocol::Delivery;
use crate::voucher::{Amount, ChannelId};

#[cfg(test)]
mod tests;

/// How hard to try. Every field's doc ends with its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts over different routes, the first included (`0` counts as
    /// `1`). Default `3`.
    pub attempts: u32,
    /// The most to pay over all attempts, yocto (an attempt refused before it
    /// was sent pays nothing). Default no limit.
    pub max_cost: Option<Amount>,
    /// The largest bound a route may have, ms. Default no limit.
    pub max_bound_ms: Option<u64>,
    /// How long the whole request may take, from [`Requester::new`], ms:
    /// no attempt starts after it, and an acknowledged attempt still open
    /// then ends as [`OutcomeKind::Pending`]. Default `30_000`.
    pub timeout_ms: u64,
    /// Extra wait for the first hop's ack beyond the first edge's promised
    /// round trip, ms. Default `2_000`.
    pub ack_grace_ms: u64,
    /// How long to wait before trying the same first hop again after it
    /// refused a route as `unknown_edge` or `no_terms`: its copy of the
    /// chain's graph may only be behind ours (nodes refresh it every poll).
    /// Once per first channel; a second such refusal excludes it as any
    /// refusal does. Default `1_500`.
    pub graph_lag_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            max_cost: None,
            max_bound_ms: None,
            timeout_ms: 30_000,
            ack_grace_ms: 2_000,
            graph_lag_ms: 1_500,
        }
    }
}

/// The limits the next route must meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteWants<'a> {
    /// The most the route may cost: the policy's limit less what earlier
    /// attempts paid. `None`: no limit.
    pub max_cost: Option<Amount>,
    /// The largest bound the route may have, ms. `None`: no limit.
    pub max_bound_ms: Option<u64>,
    /// Channels not to use (they failed an earlier attempt).
    pub exclude_channels: &'a BTreeSet<ChannelId>,
    /// Nodes not to pass through.
    pub exclude_nodes: &'a BTreeSet<NodeKey>,
}

/// What the driver does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Find a route within [`Requester::wants`] and send over it (or report
    /// that none fits).
    Route,
    /// Feed what comes for [`Requester::current`]; call
    /// [`Requester::timer`] at `until_ms` if nothing ends the wait before.
    Wait {
        /// When the wait ends, on the driver's clock.
        until_ms: u64,
    },
    /// Over: call [`Requester::finish`].
    Done,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// The server's response.
    Response,
    /// A severance notice naming this channel.
    Notice(ChannelId),
    /// Refused before acknowledgement, by this node (not sent) or by the
    /// first hop, with why.
    Refused(Refused),
    /// The first hop did not acknowledge in time.
    NoAck,
    /// Acknowledged but unanswered at the timeout (or its outcome stream
    /// closed).
    Pending,
    /// Still running.
    Open,
}

impl fmt::Display for AttemptResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptResult::Response => f.write_str("response"),
            AttemptResult::Notice(c) => write!(f, "notice on channel {c}"),
            AttemptResult::Refused(why) => write!(f, "refused: {why}"),
            AttemptResult::NoAck => f.write_str("no ack"),
            AttemptResult::Pending => f.write_str("pending"),
            AttemptResult::Open => f.write_str("open"),
        }
    }
}

/// Why an attempt was refused: the first hop's typed reason when it gave
/// one (`None`: refused by this node before sending, or the first hop could
/// not be reached), and a text for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The first hop's reason, as it travelled on the wire.
    pub code: Option<crate::protocol::Refusal>,
    /// What happened, for logs and the API.
    pub detail: String,
}

impl Refused {
    /// The first hop refused with `code`; `detail` adds what it said.
    pub fn by_peer(code: crate::protocol::Refusal, detail: impl Into<String>) -> Self {
        Refused { code: Some(code), detail: detail.into() }
    }

    /// A stable code for the API and metrics: the wire reason's code, or
    /// `not_sent` when no peer gave one.
    pub fn code_str(&self) -> &'static str {
        self.code.map_or("not_sent", crate::protocol::Refusal::code)
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.detail.is_empty()) {
            (Some(c), true) => write!(f, "{c}"),
            _ => f.write_str(&self.detail),
        }
    }
}

impl From<String> for Refused {
    fn from(detail: String) -> Self {
        Refused { code: None, detail }
    }
}

impl From<&str> for Refused {
    fn from(detail: &str) -> Self {
        Refused { code: None, detail: detail.to_string() }
    }
}

/// One try over one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The request id (all zero bytes when it was never sent).
    pub request_id: RequestId,
    /// The channels of the route, in order.
    pub channels: Vec<ChannelId>,
    /// What it paid the first hop (or would have, when not sent).
    pub cost: Amount,
    /// Its bound, ms.
    pub bound_ms: u64,
    /// Whether the first hop acknowledged it, or the route answered it (a
    /// response or a notice): the ack and the answer travel separately, and
    /// a relay's ack waits for its store while it forwards at once, so the
    /// answer can come first; a route answers only what its first hop
    /// accepted.
    pub acked: bool,
    /// Late fees received for it while it was waited for.
    pub late_fees: Amount,
    /// Time from sending to its end, ms (0 when never sent).
    pub took_ms: u64,
    /// How it ended.
    pub result: AttemptResult,
}

impl Attempt {
    /// A fresh attempt over `route`, not yet acknowledged.
    fn over(request_id: RequestId, route: &Route, cost: Amount, bound_ms: u64, result: AttemptResult) -> Self {
        Attempt {
            request_id,
            channels: route.hops.iter().map(|h| h.channel).collect(),
            cost,
            bound_ms,
            acked: false,
            late_fees: 0,
            took_ms: 0,
            result,
        }
    }
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutcomeKind {
    /// The server's signed response.
    Response(Box<Response>),
    /// Proof that an edge of the path was cut, from the last attempt that
    /// got one (no attempt was left to retry, or none did better).
    Notice(SeveranceNotice),
    /// Acknowledged, but no response or notice before the timeout; late
    /// fees may have been paid.
    Pending,
}

/// The outcome of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The deciding attempt's request id.
    pub request_id: RequestId,
    /// The deciding attempt's route.
    pub route: Route,
    /// How it ended.
    pub kind: OutcomeKind,
    /// Late fees received for the deciding attempt.
    pub late_fees: Amount,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
    /// Paid over all attempts that were sent.
    pub paid: Amount,
}

/// Why a request has no outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestFailure {
    /// No route fit the limits for the very first attempt (the driver has
    /// the routing error that says why).
    #[error("no route within the limits")]
    NoRoute,
    /// Every attempt failed before an acknowledgement; the last reason.
    #[error("no attempt was acknowledged ({attempts} tried); last: {last}")]
    Failed {
        /// Attempts made.
        attempts: usize,
        /// What happened to the last one (`"no time left"` when none was
        /// made).
        last: String,
        /// Each attempt.
        tried: Vec<Attempt>,
    },
}

/// The attempt being waited for.
#[derive(Debug, Clone)]
struct Waiting {
    id: RequestId,
    route: Route,
    sent_ms: u64,
    ack_by_ms: u64,
}

#[derive(Debug, Clone)]
enum State {
    /// Between attempts: the next one starts if attempts and time are left.
    Ready,
    /// An attempt is out.
    Waiting(Waiting),
    /// No route for a retry: no more attempts.
    Stopped,
    /// No route for the first attempt.
    NoRoute,
    /// Ended by the last attempt (a response or pending); its route.
    Ended(OutcomeKind, Route),
}

/// One logical request and its attempts (see the module docs).
#[derive(Debug, Clone)]
pub struct Requester {
    policy: RetryPolicy,
    deadline_ms: u64,
    paid: Amount,
    exclude_channels: BTreeSet<ChannelId>,
    exclude_nodes: BTreeSet<NodeKey>,
    attempts: Vec<Attempt>,
    state: State,
    /// The last notice: its attempt's id and route, the notice, late fees.
    last_notice: Option<(RequestId, Route, SeveranceNotice, Amount)>,
    /// First channels given a second chance after a graph-lag refusal.
    lag_retried: BTreeSet<ChannelId>,
    /// No attempt starts before this (a first hop's graph catching up).
    not_before_ms: u64,
}

impl Requester {
    /// A request starting at `now_ms` under `policy`.
    pub fn new(policy: RetryPolicy, now_ms: u64) -> Self {
        Requester {
            deadline_ms: now_ms.saturating_add(policy.timeout_ms),
            policy,
            paid: 0,
            exclude_channels: BTreeSet::new(),
            exclude_nodes: BTreeSet::new(),
            attempts: Vec::new(),
            state: State::Ready,
            last_notice: None,
            lag_retried: BTreeSet::new(),
            not_before_ms: 0,
        }
    }

    /// What the driver does now.
    pub fn next(&self, now_ms: u64) -> Next {
        match &self.state {
            State::Ready => {
                let left = (self.attempts.len() as u64) < u64::from(self.policy.attempts.max(1));
                if !left || now_ms >= self.deadline_ms {
                    Next::Done
                } else if now_ms < self.not_before_ms {
                    Next::Wait { until_ms: self.not_before_ms.min(self.deadline_ms) }
                } else {
                    Next::Route
                }
            }
            State::Waiting(w) => Next::Wait { until_ms: self.wait_until(w) },
            State::Stopped | State::NoRoute | State::Ended(..) => Next::Done,
        }
    }

    /// The limits for the next route: the policy's cost limit less what was
    /// paid so far, its bound, and what failed before.
    pub fn wants(&self) -> RouteWants<'_> {
        RouteWants {
            max_cost: self.policy.max_cost.map(|m| m.saturating_sub(self.paid)),
            max_bound_ms: self.policy.max_bound_ms,
            exclude_channels: &self.exclude_channels,
            exclude_nodes: &self.exclude_nodes,
        }
    }

    /// No route fits [`wants`](Self::wants): on the first attempt the
    /// request fails with [`RequestFailure::NoRoute`], later it stops
    /// retrying. Ignored unless [`next`](Self::next) asked for a route.
    pub fn no_route(&mut self) {
        if matches!(self.state, State::Ready) {
            self.state = if self.attempts.is_empty() { State::NoRoute } else { State::Stopped };
        }
    }

    /// This node refused to send over `route` (it cannot pay on the first
    /// channel): the attempt ends `refused: {why}`, nothing is paid, and the
    /// first channel is excluded. Ignored unless [`next`](Self::next) asked
    /// for a route.
    pub fn not_sent(&mut self, route: &Route, cost: Amount, bound_ms: u64, why: impl Into<Refused>, now_ms: u64) {
        let _ = now_ms;
        if !matches!(self.state, State::Ready) {
            return;
        }
        if let Some(h) = route.hops.first() {
            self.exclude_channels.insert(h.channel);
        }
        self.attempts.push(Attempt::over(
            RequestId([0; 32]),
            route,
            cost,
            bound_ms,
            AttemptResult::Refused(why.into()),
        ));
    }

    /// Request `id` went out over `route` at `now_ms`, paying `cost`, with
    /// bound `bound_ms`; its first hop has until its round trip plus the
    /// ack grace to acknowledge. Ignored unless [`next`](Self::next) asked
    /// for a route.
    pub fn sent(&mut self, id: RequestId, route: Route, cost: Amount, bound_ms: u64, now_ms: u64) {
        if !matches!(self.state, State::Ready) {
            return;
        }
        self.paid = self.paid.saturating_add(cost);
        let first_rtt = route.hops.first().map_or(0, |h| h.params.latency_ms.saturating_mul(2));
        self.attempts.push(Attempt::over(id, &route, cost, bound_ms, AttemptResult::Open));
        self.state = State::Waiting(Waiting {
            id,
            route,
            sent_ms: now_ms,
            ack_by_ms: now_ms.saturating_add(first_rtt).saturating_add(self.policy.ack_grace_ms),
        });
    }

    /// The request id of the attempt being waited for.
    pub fn current(&self) -> Option<RequestId> {
        match &self.state {
            State::Waiting(w) => Some(w.id),
            _ => None,
        }
    }

    /// Something the engine delivered. Deliveries for other ids than
    /// [`current`](Self::current) (an abandoned attempt's, another
    /// request's) are ignored. A response must have been verified.
    pub fn delivery(&mut self, d: &Delivery, now_ms: u64) {
        let id = match d {
            Delivery::Acked { request_id }
            | Delivery::Response { request_id, .. }
            | Delivery::Notice { request_id, .. }
            | Delivery::Refused { request_id, .. }
            | Delivery::LatePayment { request_id, .. } => *request_id,
        };
        if self.current() != Some(id) {
            return;
        }
        match d {
            Delivery::Acked { .. } => self.attempt_mut().acked = true,
            Delivery::LatePayment { total, .. } => self.attempt_mut().late_fees = *total,
            Delivery::Response { response, .. } => {
                self.attempt_mut().acked = true;
                let w = self.end_attempt(AttemptResult::Response, now_ms);
                self.state = State::Ended(OutcomeKind::Response(response.clone()), w.route);
            }
            Delivery::Refused { refused: r, .. } => {
                let why = Refused::by_peer(r.reason, r.to_string());
                self.end_refused(why, r.channel, now_ms);
            }
            Delivery::Notice { notice, .. } => {
                self.attempt_mut().acked = true;
                let w = self.end_attempt(AttemptResult::Notice(notice.channel), now_ms);
                self.exclude_channels.insert(notice.channel);
                let late = self.attempts.last().map_or(0, |a| a.late_fees);
                self.last_notice = Some((w.id, w.route, notice.clone(), late));
            }
        }
    }

    /// The first hop refused the current attempt `id` before acknowledging
    /// it (its receipt says `why`): the attempt ends `refused: {why}` and the
    /// first channel is excluded. Ignored for another id.
    pub fn refused(&mut self, id: RequestId, why: impl Into<Refused>, now_ms: u64) {
        if self.current() != Some(id) {
            return;
        }
        let first = match &self.state {
            State::Waiting(w) => w.route.hops.first().map(|h| h.channel),
            _ => None,
        };
        match first {
            Some(channel) => self.end_refused(why.into(), channel, now_ms),
            None => {
                self.end_attempt(AttemptResult::Refused(why.into()), now_ms);
            }
        }
    }

    /// The current attempt was refused by the node at the lower end of
    /// `channel`: the attempt ends `refused: {why}` and the channel is
    /// excluded, or, for a refusal that says the node's copy of the graph
    /// may be behind ours, retried once after it has had time to catch up.
    fn end_refused(&mut self, why: Refused, channel: ChannelId, now_ms: u64) {
        let lag = matches!(why.code, Some(crate::protocol::Refusal::UnknownEdge | crate::protocol::Refusal::NoTerms));
        self.end_attempt(AttemptResult::Refused(why), now_ms);
        if lag && self.lag_retried.insert(channel) {
            self.not_before_ms = now_ms.saturating_add(self.policy.graph_lag_ms);
        } else {
            self.exclude_channels.insert(channel);
        }
    }

    /// The current attempt's outcome stream ended without a refusal: the
    /// request ends as [`OutcomeKind::Pending`].
    pub fn closed(&mut self, now_ms: u64) {
        if self.current().is_some() {
            let w = self.end_attempt(AttemptResult::Pending, now_ms);
            self.state = State::Ended(OutcomeKind::Pending, w.route);
        }
    }

    /// A wait may have ended. Does nothing before the current
    /// [`Next::Wait`]'s `until_ms` (a stale timer). At it, an acknowledged
    /// attempt (or one that met the timeout) ends the request as pending; an
    /// unacknowledged one ends `no ack`, its first channel excluded.
    pub fn timer(&mut self, now_ms: u64) {
        let State::Waiting(w) = &self.state else { return };
        let until = self.wait_until(w);
        if now_ms < until {
            return;
        }
        let acked = self.attempts.last().is_some_and(|a| a.acked);
        if acked || until == self.deadline_ms {
            let w = self.end_attempt(AttemptResult::Pending, now_ms);
            self.state = State::Ended(OutcomeKind::Pending, w.route);
        } else {
            let w = self.end_attempt(AttemptResult::NoAck, now_ms);
            if let Some(h) = w.route.hops.first() {
                self.exclude_channels.insert(h.channel);
            }
        }
    }

    /// Every attempt so far, in order (the last is [`AttemptResult::Open`]
    /// while waited for).
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// Paid so far over all sent attempts.
    pub fn paid(&self) -> Amount {
        self.paid
    }

    /// When the request times out, on the driver's clock.
    pub fn deadline_ms(&self) -> u64 {
        self.deadline_ms
    }

    /// Also avoid `node` in later routes (a driver's own judgement; the
    /// policy itself excludes only channels).
    pub fn exclude_node(&mut self, node: NodeKey) {
        self.exclude_nodes.insert(node);
    }

    /// The result, once [`next`](Self::next) says [`Next::Done`]: the
    /// response or pending attempt that ended it, else the last notice, else
    /// the failure. (Called earlier, an attempt still open counts as failed
    /// with result `open`.)
    pub fn finish(self) -> Result<Outcome, RequestFailure> {
        let Requester { paid, attempts, state, last_notice, .. } = self;
        match state {
            State::NoRoute => Err(RequestFailure::NoRoute),
            State::Ended(kind, route) => {
                let last = attempts.last().expect("an ended request has its deciding attempt");
                Ok(Outcome { request_id: last.request_id, route, kind, late_fees: last.late_fees, attempts, paid })
            }
            State::Ready | State::Stopped | State::Waiting(_) => match last_notice {
                Some((request_id, route, notice, late_fees)) => {
                    Ok(Outcome { request_id, route, kind: OutcomeKind::Notice(notice), late_fees, attempts, paid })
                }
                None => Err(RequestFailure::Failed {
                    attempts: attempts.len(),
                    last: attempts.last().map_or_else(|| "no time left".into(), |a| a.result.to_string()),
                    tried: attempts,
                }),
            },
        }
    }

    fn wait_until(&self, w: &Waiting) -> u64 {
        let acked = self.attempts.last().is_some_and(|a| a.acked);
        if acked { self.deadline_ms } else { w.ack_by_ms.min(self.deadline_ms) }
    }

    fn attempt_mut(&mut self) -> &mut Attempt {
        self.attempts.last_mut().expect("a waited-for attempt is the last one")
    }

    /// Ends the waited-for attempt with `result`; the state becomes
    /// [`State::Ready`] (callers that end the request set it after).
    fn end_attempt(&mut self, result: AttemptResult, now_ms: u64) -> Waiting {
        let State::Waiting(w) = std::mem::replace(&mut self.state, State::Ready) else {
            unreachable!("callers check that an attempt is waited for")
        };
        let a = self.attempt_mut();
        a.result = result;
        a.took_ms = now_ms.saturating_sub(w.sent_ms);
        w
    }
}
