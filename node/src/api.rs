//! The HTTP API (JSON, on 127.0.0.1 by default) and `/metrics`.
//!
//! Every handler goes through the [`NodeHandle`]; errors are JSON objects
//! `{"error": "<what is wrong and what to do>"}` with a fitting status code.
//!
//! | method and path | what |
//! |---|---|
//! | `GET /status` | key, peer id, addresses, peers, requests in flight |
//! | `GET /channels` | channels with what this node can spend and has received |
//! | `POST /request` | send a paid request along a route; waits for its outcome |
//! | `GET /metrics` | Prometheus text format |

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use por_core::protocol::Delivery;
use por_core::{Ed25519Verifier, Route};
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::handle::NodeHandle;
use crate::service::Reply;

/// Largest request the API accepts (a request body of up to 4 MiB as hex, plus the route).
pub const MAX_API_BODY: usize = 9 * 1024 * 1024;
/// Longest a `POST /request` waits for an outcome. 5 minutes.
pub const MAX_WAIT_MS: u64 = 300_000;

#[derive(Clone)]
struct Api {
    node: NodeHandle,
    registry: Arc<Registry>,
}

/// The API's router; serve it with `axum::serve`.
pub fn router(node: NodeHandle, registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/channels", get(channels))
        .route("/request", post(request))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_API_BODY))
        .with_state(Api { node, registry })
}

/// An API error: a status and a reason.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({ "error": self.1 }))).into_response()
    }
}

fn stopped() -> ApiError {
    ApiError(StatusCode::SERVICE_UNAVAILABLE, "the node has stopped; restart it".into())
}

async fn status(State(api): State<Api>) -> Result<impl IntoResponse, ApiError> {
    let s = api.node.status().await.map_err(|_| stopped())?;
    Ok(axum::Json(json!({
        "node_key": s.key.to_hex(),
        "peer_id": s.peer_id,
        "listen": s.listen,
        "peers": s.peers,
        "channels": s.channels.len(),
        "in_flight": s.in_flight,
    })))
}

async fn channels(State(api): State<Api>) -> Result<impl IntoResponse, ApiError> {
    let s = api.node.status().await.map_err(|_| stopped())?;
    let list: Vec<_> = s
        .channels
        .iter()
        .map(|(id, peer, spendable, received)| {
            json!({
                "channel": id.0,
                "peer_key": peer.to_hex(),
                "peer_id": peer.peer_id(),
                "spendable": spendable.to_string(),
                "received": received.to_string(),
            })
        })
        .collect();
    Ok(axum::Json(json!({ "channels": list })))
}

/// `POST /request` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    /// The route (hops with channel, node key and edge parameters; the
    /// server's `service_ms`).
    pub route: Route,
    /// The service at the server.
    pub service: String,
    /// The body as UTF-8 text (or use `body_hex`).
    #[serde(default)]
    pub body: Option<String>,
    /// The body as hex.
    #[serde(default)]
    pub body_hex: Option<String>,
    /// The most response bytes to accept and pay for.
    pub max_response_bytes: u64,
    /// How long to wait for an outcome, in ms (default: twice the bound, at
    /// most 5 minutes).
    #[serde(default)]
    pub wait_ms: Option<u64>,
}

/// `POST /request` answer.
#[derive(Debug, Serialize)]
pub struct Outcome {
    /// The request id.
    pub request_id: String,
    /// `response`, `notice`, or `pending` (no outcome within the wait).
    pub outcome: &'static str,
    /// Whether the first hop acknowledged the payment.
    pub acked: bool,
    /// The server's reply status, for a response.
    pub status: Option<u16>,
    /// The reply body as text, if it is UTF-8.
    pub body: Option<String>,
    /// The reply body as hex.
    pub body_hex: Option<String>,
    /// The server's signature over (request id, body hash), hex.
    pub signature: Option<String>,
    /// The server's key, hex.
    pub server: Option<String>,
    /// The severance notice, for a notice outcome.
    pub notice: Option<serde_json::Value>,
    /// Late fees received for this request, yocto.
    pub late_fees: String,
}

async fn request(State(api): State<Api>, raw: Bytes) -> Result<impl IntoResponse, ApiError> {
    let req: RequestBody = serde_json::from_slice(&raw)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("malformed request JSON: {e}")))?;
    let body = match (req.body, req.body_hex) {
        (Some(_), Some(_)) => {
            return Err(ApiError(StatusCode::BAD_REQUEST, "give either `body` or `body_hex`, not both".into()));
        }
        (Some(t), None) => t.into_bytes(),
        (None, Some(h)) => {
            hex::decode(&h).map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("`body_hex` is not hex: {e}")))?
        }
        (None, None) => Vec::new(),
    };
    let quote = req
        .route
        .quote(body.len() as u64, req.max_response_bytes)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("cannot price the route: {e}")))?;
    let wait = req.wait_ms.unwrap_or(quote.bound_ms().saturating_mul(2).max(1000)).min(MAX_WAIT_MS);
    let server = *req.route.server().ok_or_else(|| ApiError(StatusCode::BAD_REQUEST, "the route is empty".into()))?;
    let (id, mut rx) =
        api.node.request(req.route, req.service, body, req.max_response_bytes).await.map_err(|e| match e {
            crate::handle::SendError::Stopped => stopped(),
            crate::handle::SendError::Refused(why) => ApiError(StatusCode::UNPROCESSABLE_ENTITY, why),
        })?;
    let mut out = Outcome {
        request_id: id.to_hex(),
        outcome: "pending",
        acked: false,
        status: None,
        body: None,
        body_hex: None,
        signature: None,
        server: None,
        notice: None,
        late_fees: "0".into(),
    };
    let _ = tokio::time::timeout(Duration::from_millis(wait), async {
        while let Some(d) = rx.recv().await {
            match d {
                Delivery::Acked { .. } => out.acked = true,
                Delivery::LatePayment { total, .. } => out.late_fees = total.to_string(),
                Delivery::Response { response, .. } => {
                    if response.verify(&id, &server, &Ed25519Verifier) {
                        let reply = Reply::decode(&response.body);
                        out.outcome = "response";
                        out.status = reply.as_ref().map(|r| r.status);
                        if let Some(r) = reply {
                            out.body = String::from_utf8(r.body.clone()).ok();
                            out.body_hex = Some(hex::encode(&r.body));
                        }
                        out.signature = Some(response.signature.to_hex());
                        out.server = Some(response.server.to_hex());
                    }
                    return;
                }
                Delivery::Notice { notice, .. } => {
                    out.outcome = "notice";
                    out.notice = serde_json::to_value(&notice).ok();
                    return;
                }
            }
        }
    })
    .await;
    Ok(axum::Json(out))
}

async fn metrics(State(api): State<Api>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        crate::metrics::render(&api.registry),
    )
}
