//! What the event loop does for a request's ends: serving a request that
//! reached this node as its server, delivering outcomes to local requesters,
//! and a first hop's refusal.

use por_core::protocol::{Delivery, Refusal};
use por_core::{ChannelId, Request, RequestId};
use tracing::{debug, warn};

use super::{EventLoop, MAX_REFUSALS_KEPT};
use crate::metrics::Metrics;
use crate::service::{Reply, STATUS_FAILED, STATUS_TIMEOUT, STATUS_UNKNOWN_SERVICE, ServiceRequest};

impl EventLoop {
    /// Drops the waiter of `id` once nothing more can come for it: its
    /// outcome was delivered and the engine no longer tracks the request, or
    /// its reader is gone.
    pub(super) fn forget_waiter(&mut self, id: RequestId) {
        if let Some(w) = self.waiters.get(&id)
            && (w.tx.is_closed() || w.ended && self.engine.entry(&id).is_none())
        {
            self.waiters.remove(&id);
        }
    }

    pub(super) fn on_served(&mut self, id: RequestId, reply: Reply) {
        let now = self.now();
        Metrics::inc(&self.metrics.served, reply.status.to_string());
        let mut out = Vec::new();
        let max = self.engine.entry(&id).map_or(u64::MAX, |e| e.max_response_bytes);
        let mut bytes = reply.encode();
        if bytes.len() as u64 > max {
            // Keep the status, drop what does not fit: a bare status is a
            // handful of bytes, and an answer beats a late fee.
            bytes = Reply { status: reply.status, body: Vec::new(), error: None }.encode();
        }
        if let Err(e) = self.engine.respond(id, bytes, now, &mut out) {
            warn!(request = %id, "cannot respond: {e}");
        }
        self.apply(out);
    }

    /// A request's first hop refused it (or could not be reached at all):
    /// if it is ours, it ends with the reason.
    pub(super) fn first_hop_refused(&mut self, request: RequestId, channel: ChannelId, why: String) {
        let now = self.now();
        if !self.engine.first_hop_refused(request, channel, now) {
            debug!(%request, %channel, "downstream refused a request we relay: {why}");
            return;
        }
        warn!(%request, %channel, "request refused by the first hop: {why}");
        Metrics::inc(&self.metrics.outcomes, "refused");
        self.waiters.remove(&request);
        if self.refusal_order.len() >= MAX_REFUSALS_KEPT
            && let Some(old) = self.refusal_order.pop_front()
        {
            self.refusals.remove(&old);
        }
        self.refusal_order.push_back(request);
        self.refusals.insert(request, why);
        self.gauges_stale = true;
    }

    pub(super) fn serve(&mut self, id: RequestId, request: Request) {
        let req = ServiceRequest {
            id,
            requester: request.requester,
            service: request.service.clone(),
            body: request.body,
            max_response_bytes: request.max_response_bytes,
        };
        let done = self.served_tx.clone();
        let Some(svc) = self.services.get(&request.service).cloned() else {
            let why = format!("this node serves no service named {:?}", request.service);
            tokio::spawn(async move {
                let _ = done.send((id, Reply::error(STATUS_UNKNOWN_SERVICE, why))).await;
            });
            return;
        };
        let timeout = self.service_timeout;
        tokio::spawn(async move {
            let call = tokio::spawn(svc.call(req));
            let reply = match tokio::time::timeout(timeout, call).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => Reply::error(STATUS_FAILED, format!("the handler failed: {e}")),
                Err(_) => Reply::error(STATUS_TIMEOUT, format!("the handler took longer than {timeout:?}")),
            };
            let _ = done.send((id, reply)).await;
        });
    }

    pub(super) fn deliver(&mut self, d: Delivery) {
        let (id, terminal) = match &d {
            Delivery::Acked { request_id } | Delivery::LatePayment { request_id, .. } => (*request_id, false),
            Delivery::Response { request_id, .. } | Delivery::Notice { request_id, .. } => (*request_id, true),
        };
        let Some(w) = self.waiters.get_mut(&id) else { return };
        if terminal && w.ended {
            return;
        }
        if terminal {
            w.ended = true;
            Metrics::inc(
                &self.metrics.outcomes,
                if matches!(d, Delivery::Response { .. }) { "response" } else { "notice" },
            );
            if matches!(d, Delivery::Response { .. }) {
                let took = (self.start.elapsed().as_millis() as u64).saturating_sub(w.sent_ms);
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
}

/// What a refusal means, for the sender.
pub(super) fn refusal_text(r: Refusal) -> &'static str {
    match r {
        Refusal::UnknownChannel => "the channel is unknown or closed here",
        Refusal::NotOnRoute => "the route does not run over this channel to this node",
        Refusal::BadSignature => "the requester's signature does not verify",
        Refusal::BadQuote => "the route cannot be priced",
        Refusal::BadVoucher => "the voucher does not pass the ledger check",
        Refusal::Underpaid => "the voucher pays less than this edge's share of the route",
        Refusal::Duplicate => "a request with this id is already in flight here",
        Refusal::NoChannelOnwards => "this node has no open channel to the next hop",
        _ => "refused by the node's protocol engine",
    }
}
