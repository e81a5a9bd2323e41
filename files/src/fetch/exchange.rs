//! One paid range request of a fetch and the check of its reply.

use std::ops::Range;
use std::time::{Duration, Instant};

use por_core::Route;
use por_core::protocol::{Delivery, Refusal};
use tokio::sync::mpsc;

use super::super::id::ContentId;
use super::super::tree::{block_count, verify_range};
use super::super::wire::{RangeReply, SERVICE};
use super::{Blocks, Event, Outcome, Want};
use por_node::handle::{NodeHandle, SendError};
use por_node::service::{Reply, STATUS_OK};

/// One paid request and the verification of its reply.
#[allow(clippy::too_many_arguments)]
pub(super) async fn request(
    node: NodeHandle,
    route: Route,
    body: Vec<u8>,
    allowance: u64,
    id: ContentId,
    want: Want,
    timeout: Duration,
    req: u64,
    tx: &mpsc::Sender<Event>,
) -> Outcome {
    let (rid, mut rx) = match node.request(route, SERVICE, body, allowance).await {
        Ok(x) => x,
        Err(SendError::Stopped) => return Outcome::Silent("the node has stopped".into()),
        Err(SendError::Refused(why)) => return Outcome::Silent(format!("the request could not be sent: {why}")),
    };
    let sent = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut slow = false;
    loop {
        let d = match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => return Outcome::Silent(format!("no answer within {} ms", timeout.as_millis())),
            Ok(None) => {
                return match node.refusal(rid).await.ok().flatten() {
                    Some(r) if r.code == Some(Refusal::Busy) => Outcome::Busy(r.to_string()),
                    Some(r) => Outcome::Silent(r.to_string()),
                    None => Outcome::Silent("the request was dropped".into()),
                };
            }
            Ok(Some(d)) => d,
        };
        match d {
            Delivery::Acked { .. } => tracing::trace!(req, ms = sent.elapsed().as_millis() as u64, "acked"),
            Delivery::LatePayment { .. } => {
                if !slow {
                    slow = true;
                    let _ = tx.send(Event::Slow(req)).await;
                }
            }
            Delivery::Notice { .. } => {
                return Outcome::Silent("an edge of the route was cut (severance notice)".into());
            }
            Delivery::Refused { refused: r, .. } if r.reason == Refusal::Busy => {
                return Outcome::Busy(r.to_string());
            }
            Delivery::Refused { refused: r, .. } => {
                return Outcome::Silent(r.to_string());
            }
            Delivery::Response { response, .. } => {
                let body = response.body;
                tracing::trace!(req, ms = sent.elapsed().as_millis() as u64, "response");
                let out = tokio::task::spawn_blocking(move || check(id, want, body))
                    .await
                    .unwrap_or_else(|e| Outcome::Bad(format!("verification failed: {e}")));
                tracing::trace!(req, ms = sent.elapsed().as_millis() as u64, "checked");
                return out;
            }
        }
    }
}

/// Decodes and verifies a reply against the content id. The reply is read
/// in place and the blocks stay in `body` (see [`Blocks`]): no copy.
fn check(id: ContentId, want: Want, body: Vec<u8>) -> Outcome {
    let Some(reply) = Reply::decode_ref(&body) else {
        return Outcome::Bad("the response is not a service reply".into());
    };
    if reply.status != STATUS_OK {
        return Outcome::Refused(format!(
            "answered {}: {}",
            reply.status,
            reply.error.unwrap_or_else(|| "no reason given".into())
        ));
    }
    let count = match want {
        Want::Tail => 1,
        Want::Range { count, .. } => count,
    };
    let r = match RangeReply::decode_ref(reply.body, count) {
        Ok(r) => r,
        Err(why) => return Outcome::Bad(why),
    };
    let (size, first) = match want {
        Want::Tail => (r.size, block_count(r.size) - 1),
        Want::Range { size, first, .. } => (size, first),
    };
    if r.size != size || r.first != first || r.count != count {
        return Outcome::Bad(format!(
            "asked for blocks {first}+{count} of a {size}-byte file, got {}+{} of {} bytes",
            r.first, r.count, r.size
        ));
    }
    match verify_range(&id, size, first, count as u64, r.data, &r.proof_cvs()) {
        Ok(cvs) => {
            let data = match range_in(&body, r.data) {
                Some(at) => Blocks { bytes: body, at },
                None => Blocks { bytes: r.data.to_vec(), at: 0..r.data.len() },
            };
            Outcome::Verified { size, first, data, cvs }
        }
        Err(e) => Outcome::Bad(format!("blocks {first}+{count} do not verify: {e}")),
    }
}

/// Where `part`, borrowed from `whole`, lies in it; `None` if it is not
/// inside (an empty slice may point anywhere).
fn range_in(whole: &[u8], part: &[u8]) -> Option<Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (!part.is_empty() && end <= whole.len()).then_some(start..end)
}
