//! The event loop's server side: the services this node serves, and paid
//! requests that reached it as their server handed to them off the loop
//! (each handler runs in its own task, bounded by a timeout; its reply
//! comes back on a bounded channel and is signed by the engine).

use std::collections::HashMap;
use std::time::Duration;

use por_core::{NodeKey, Request, RequestId};
use tokio::sync::mpsc;
use tracing::warn;

use super::EventLoop;
use crate::events::NodeEvent;
use crate::metrics::Metrics;
use crate::service::{Reply, STATUS_FAILED, STATUS_TIMEOUT, STATUS_UNKNOWN_SERVICE, ServiceRequest, SharedService};

/// Replies of handlers not yet taken by the loop.
const SERVED_QUEUE: usize = 256;

/// A handler's reply, with what the event stream says of the request.
pub(super) struct Served {
    id: RequestId,
    requester: NodeKey,
    service: String,
    reply: Reply,
}

/// Services by name, and the replies coming back from their handlers.
pub(super) struct ServerSide {
    services: HashMap<String, SharedService>,
    done_tx: mpsc::Sender<Served>,
    /// Replies of finished handlers (the loop's `select!` reads it).
    pub(super) done: mpsc::Receiver<Served>,
    /// How long a handler may take before the node answers 504.
    timeout: Duration,
}

impl ServerSide {
    pub(super) fn new(timeout: Duration) -> Self {
        let (done_tx, done) = mpsc::channel(SERVED_QUEUE);
        ServerSide { services: HashMap::new(), done_tx, done, timeout }
    }

    /// Serves `service` under `name` from now on.
    pub(super) fn add(&mut self, name: String, service: SharedService) {
        self.services.insert(name, service);
    }

    /// Runs the handler of `request` in a task of its own; its reply comes
    /// back on [`ServerSide::done`].
    fn spawn(&self, id: RequestId, request: Request) {
        let req = ServiceRequest {
            id,
            requester: request.requester,
            service: request.service.clone(),
            body: request.body,
            max_response_bytes: request.max_response_bytes,
        };
        let done = self.done_tx.clone();
        let (requester, service) = (request.requester, request.service);
        let Some(svc) = self.services.get(&service).cloned() else {
            let why = format!("this node serves no service named {service:?}");
            tokio::spawn(async move {
                let reply = Reply::error(STATUS_UNKNOWN_SERVICE, why);
                let _ = done.send(Served { id, requester, service, reply }).await;
            });
            return;
        };
        let timeout = self.timeout;
        tokio::spawn(async move {
            let call = tokio::spawn(svc.call(req));
            let reply = match tokio::time::timeout(timeout, call).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => Reply::error(STATUS_FAILED, format!("the handler failed: {e}")),
                Err(_) => Reply::error(STATUS_TIMEOUT, format!("the handler took longer than {timeout:?}")),
            };
            let _ = done.send(Served { id, requester, service, reply }).await;
        });
    }
}

impl EventLoop {
    /// A paid, acknowledged request reached this node as its server.
    pub(super) fn serve(&mut self, id: RequestId, request: Request) {
        self.server.spawn(id, request);
    }

    /// A handler answered: the engine signs the reply and sends it upstream.
    pub(super) fn on_served(&mut self, served: Served) {
        let Served { id, requester, service, reply } = served;
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
        match self.engine.respond(id, bytes, now, &mut out) {
            Ok(()) => {
                self.events.emit(NodeEvent::RequestServed { request_id: id, requester, service, status: reply.status })
            }
            Err(e) => warn!(request = %id, "cannot respond: {e}"),
        }
        self.apply(out);
    }
}
