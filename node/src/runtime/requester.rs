//! The event loop's requester side: requests this node originates for local
//! callers ([`NodeHandle::request`](crate::NodeHandle::request)), the
//! streams their outcomes go to, and why recent ones were refused by their
//! first hop. The retry policy above it is the core's
//! ([`por_core::requester`], driven by [`NodeHandle::send`](crate::NodeHandle::send)).

use std::collections::{HashMap, VecDeque};

use por_core::protocol::{Delivery, Effect};
use por_core::{ChannelId, Refused, Request, RequestId, Route, Signature};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::EventLoop;
use crate::handle::DELIVERY_BUFFER;
use crate::metrics::Metrics;

/// Refusal reasons kept for [`NodeHandle::refusal`](crate::NodeHandle::refusal).
const MAX_REFUSALS_KEPT: usize = 1024;

/// A local requester waiting for outcomes.
struct Waiter {
    tx: mpsc::Sender<Delivery>,
    sent_ms: u64,
    bound_ms: u64,
    /// The response or notice was delivered; the waiter stays for the late
    /// payment that settles the lateness up to it, until the engine is done
    /// with the request or the reader is gone.
    ended: bool,
}

/// Requests of ours: who waits for each, and recent refusals.
pub(super) struct RequesterSide {
    waiters: HashMap<RequestId, Waiter>,
    /// Why recent requests of ours were refused by their first hop (the
    /// waiter's stream closes without an outcome), oldest first in `order`.
    refusals: HashMap<RequestId, Refused>,
    order: VecDeque<RequestId>,
}

impl RequesterSide {
    pub(super) fn new() -> Self {
        RequesterSide { waiters: HashMap::new(), refusals: HashMap::new(), order: VecDeque::new() }
    }

    /// Why request `id` was refused by its first hop, if it was (recently).
    pub(super) fn refusal(&self, id: &RequestId) -> Option<Refused> {
        self.refusals.get(id).cloned()
    }

    fn remember_refusal(&mut self, id: RequestId, why: Refused) {
        self.waiters.remove(&id);
        if self.order.len() >= MAX_REFUSALS_KEPT
            && let Some(old) = self.order.pop_front()
        {
            self.refusals.remove(&old);
        }
        self.order.push_back(id);
        self.refusals.insert(id, why);
    }

    /// The requests whose outcome was delivered (their waiters may go once
    /// the engine is done with them).
    fn ended(&self) -> Vec<RequestId> {
        self.waiters.iter().filter(|(_, w)| w.ended).map(|(id, _)| *id).collect()
    }
}

impl EventLoop {
    /// Signs and sends a request of ours along `route`; its outcomes go to
    /// the returned stream.
    pub(super) fn send_request(
        &mut self,
        route: Route,
        service: String,
        body: Vec<u8>,
        max_response_bytes: u64,
        now: u64,
        out: &mut Vec<Effect>,
    ) -> Result<(RequestId, mpsc::Receiver<Delivery>), String> {
        let quote = route.quote(body.len() as u64, max_response_bytes).map_err(|e| e.to_string())?;
        let budget = quote.total();
        let request = Request {
            requester: self.engine.key(),
            nonce: rand::random(),
            route,
            service,
            body,
            max_response_bytes,
            budget,
            signature: Signature([0; 64]),
            path: Default::default(),
        };
        let route = request.route.clone();
        // The engine signs it at the end of the turn, with the turn's others.
        let id = self.engine.send_request(request, now, out).map_err(|e| e.to_string())?;
        self.outcomes.sent(id, &route, quote.bound_ms(), now);
        let (tx, rx) = mpsc::channel(DELIVERY_BUFFER);
        self.requester.waiters.insert(id, Waiter { tx, sent_ms: now, bound_ms: quote.bound_ms(), ended: false });
        self.metrics.requests_sent.inc();
        Ok((id, rx))
    }

    /// Hands an outcome of one of our requests to whoever waits for it.
    pub(super) fn deliver(&mut self, d: Delivery) {
        let (id, terminal) = match &d {
            Delivery::Acked { request_id } | Delivery::LatePayment { request_id, .. } => (*request_id, false),
            Delivery::Response { request_id, .. }
            | Delivery::Notice { request_id, .. }
            | Delivery::Refused { request_id, .. } => (*request_id, true),
        };
        let now = self.now();
        self.outcomes.delivered(&d, now);
        let Some(w) = self.requester.waiters.get_mut(&id) else { return };
        if terminal && w.ended {
            return;
        }
        if terminal {
            w.ended = true;
            let kind = match &d {
                Delivery::Response { .. } => "response",
                Delivery::Refused { refused, .. } => {
                    Metrics::inc(&self.metrics.refused_below, refused.reason.code().to_string());
                    "refused"
                }
                _ => "notice",
            };
            Metrics::inc(&self.metrics.outcomes, kind);
            if matches!(d, Delivery::Response { .. }) {
                let took = now.saturating_sub(w.sent_ms);
                self.metrics.response_latency.observe(took as f64 / 1000.0);
                self.metrics.response_bound_ratio.observe(took as f64 / w.bound_ms.max(1) as f64);
            }
        } else if matches!(d, Delivery::LatePayment { .. }) {
            Metrics::inc(&self.metrics.outcomes, "late_payment");
        }
        if w.tx.try_send(d).is_err() && !w.tx.is_closed() {
            warn!(request = %id, "delivery buffer full; a late-payment note was dropped");
        }
        self.forget_waiter(id);
    }

    /// Drops the waiter of `id` once nothing more can come for it: its
    /// outcome was delivered and the engine no longer tracks the request, or
    /// its reader is gone.
    pub(super) fn forget_waiter(&mut self, id: RequestId) {
        if let Some(w) = self.requester.waiters.get(&id)
            && (w.tx.is_closed() || w.ended && self.engine.entry(&id).is_none())
        {
            self.requester.waiters.remove(&id);
        }
    }

    /// Drops every waiter nothing more can come for (housekeeping).
    pub(super) fn forget_ended_waiters(&mut self) {
        for id in self.requester.ended() {
            self.forget_waiter(id);
        }
    }

    /// A request's next hop refused it (or could not be reached at all): if
    /// it is ours, it ends with the reason; if we relay it, the refusal goes
    /// up (the engine's effects).
    pub(super) fn downstream_refused(&mut self, request: RequestId, channel: ChannelId, why: Refused) {
        let now = self.now();
        let mut out = Vec::new();
        let ours = self.engine.downstream_refused(request, channel, why.code, now, &mut out);
        // The refusal going up is queued for the turn's flush; flushing here
        // (a rare path) tells whether there was anything to pass up.
        self.engine.flush(now, &mut out);
        if !out.is_empty()
            && let Some(code) = why.code
        {
            debug!(%request, %channel, "the next hop refused a request we relay, and we pass it up: {why}");
            Metrics::inc(&self.metrics.refused_below, code.code().to_string());
        }
        self.apply(out);
        if !ours {
            return;
        }
        warn!(%request, %channel, "request refused by the first hop: {why}");
        Metrics::inc(&self.metrics.outcomes, "refused");
        Metrics::inc(&self.metrics.refused_by_first_hop, why.code_str().to_string());
        self.outcomes.first_hop_refused(request, channel, why.code_str(), now);
        self.requester.remember_refusal(request, why);
        self.gauges_stale = true;
    }
}
