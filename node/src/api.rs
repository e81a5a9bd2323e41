//! The HTTP API (JSON, on 127.0.0.1 by default) and `/metrics`.
//!
//! Every handler goes through the [`NodeHandle`]; errors are JSON objects
//! `{"error": "<what is wrong and what to do>", "code": "<stable code>"}`
//! with a fitting status code. The codes are snake_case and stable: the
//! API's own (`bad_request`, `not_found`, `no_route`, `no_graph`,
//! `no_chain`, `chain_error`, `stopped`, `not_sent`, `failed`,
//! `over_cost_cap`) and, where a
//! peer refused a request, the engine's refusal codes
//! ([`por_core::protocol::Refusal::code`], such as `terms_mismatch` or
//! `busy`). A `POST /request` that its first hop refused answers `200` with
//! `"outcome": "refused"` and `refusal: {code, detail}`.
//!
//! | method and path | what |
//! |---|---|
//! | `GET /status` | key, peer id, addresses, peers, requests in flight |
//! | `GET /channels` | channels with what this node can spend and has received |
//! | `POST /channels` | propose a channel on chain (`{"peer": account, "deposit", "latency_ms", "base_fee", "byte_fee"}`) |
//! | `GET /channels/backup` | a backup of the channels (setups, best vouchers, credit) as the store holds them; admin token |
//! | `POST /channels/{id}/confirm` | confirm a proposal made to this node (`{"deposit"}`) |
//! | `POST /channels/{id}/close` | propose a cooperative close with the best voucher held |
//! | `POST /channels/{id}/sever` | cut the channel now (adversarial close) |
//! | `GET /peers` | connected peers |
//! | `GET /routes?to=KEY&body_bytes=&max_response_bytes=&count=` | routes over the chain's graph |
//! | `POST /send` | send a request to a node (key or account) over the best route, with retries |
//! | `POST /request` | send a paid request along a given route; waits for its outcome |
//! | `GET /network?events=` | the network view: graph, this node's record of outcomes, chain history ([`network`]) |
//! | `GET /ui` | the network page (HTML, script, style built in; no token: it asks for one, see [`network`]) |
//! | `GET /metrics` | Prometheus text format (also on [`metrics_router`]'s listener) |
//! | `GET /livez` | 200 while the node's event loop answers (the process is of use), else 503 |
//! | `GET /readyz` | 200 when the chain answers (if configured), its graph is loaded and a channel neighbour is connected (or the node has no channel yet) and the node is not draining (stopping), else 503; the body says which check failed, and whether the node has a public address (`checks.public_address`, `external_addresses`, a note when it has none; informational, not a condition) |
//!
//! The channel operations on chain need `[chain]` with an account (the node
//! runs its chain agent then); without it they answer 503.
//!
//! Every answer is one of the types in [`views`] (or [`Outcome`]), and every
//! handler carries a `#[utoipa::path]` annotation: [`openapi::document`]
//! generates the OpenAPI 3.1 document from them (served at
//! `/v1/openapi.json` by `por node run`, with file sharing's routes). The
//! routes are served under [`VERSION_PREFIX`] and at the root ([`versioned`]).
//!
//! Every route but the probes needs a bearer token ([`auth`]: an admin and
//! a read-only token, files in the data directory); `/metrics` can also be
//! served without one on a listener of its own ([`metrics_router`]).
//! [`guard`] checks the token, and first keeps web pages out (it is on
//! every router this module and `por_files::api` build): it refuses a
//! `Host` that is not this machine (`host_not_allowed`, DNS rebinding), an
//! `Origin` that is not (`origin_not_allowed`), a body that is not
//! `application/json` (`unsupported_media_type`: browsers send only text,
//! form and multipart bodies without a CORS preflight, and no CORS header
//! is ever sent, so no preflight succeeds) and a body over the limit
//! (`payload_too_large`, 413); then a missing or unknown token
//! (`unauthorized`, 401) and the read-only token where the admin one is
//! needed (`forbidden_scope`, 403).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use por_core::protocol::Delivery;
use por_core::{Ed25519Verifier, Route};
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::chain::{NearRpcChain, PorContract};
use crate::client::{OutcomeKind, SendOptions};
use crate::handle::NodeHandle;
use crate::routes::RouteLimits;
use crate::service::Reply;

pub mod auth;
mod guard;
pub mod network;
pub mod openapi;
pub mod views;

use views::{
    AttemptView, ChannelList, ChannelState, ChannelView, ErrorBody, Live, PeerList, PeerView, Ready, ReadyChecks,
    RouteList, RouteView, SendView, StatusView,
};

pub use guard::{GuardConfig, guard};

/// Largest request the API accepts (a request body of up to 4 MiB as hex, plus the route).
pub const MAX_API_BODY: usize = 9 * 1024 * 1024;
/// Longest a `POST /request` waits for an outcome. 5 minutes.
pub const MAX_WAIT_MS: u64 = 300_000;

/// The node's chain account, for the API's channel operations.
pub type ChainCtl = PorContract<Arc<NearRpcChain>>;

#[derive(Clone)]
struct Api {
    node: NodeHandle,
    registry: Arc<Registry>,
    chain: Option<ChainCtl>,
}

/// The API's version prefix. Every route is served under it (`/v1/status`)
/// and, for clients written before it, at the root (`/status`): see
/// [`versioned`].
pub const VERSION_PREFIX: &str = "/v1";

/// `router` under [`VERSION_PREFIX`] and, as aliases, at the root. Apply it
/// to the node's routes and any merged into them (file sharing) before the
/// outer [`guard`], whose token scopes treat `/v1/x` as `/x`.
pub fn versioned(router: Router) -> Router {
    Router::new().nest(VERSION_PREFIX, router.clone()).merge(router)
}

/// The node's routes, for the OpenAPI document ([`openapi::document`]).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        status, channels, open_channel, channel_backup, confirm_channel, close_channel, sever_channel, peers, routes,
        send, request, metrics, livez, readyz, openapi::serve_document, network::network, network::ui,
        network::ui_js, network::ui_css
    ),
    tags(
        (name = "node", description = "the node itself"),
        (name = "channels", description = "payment channels, on chain and as held"),
        (name = "requests", description = "paid requests and routes"),
        (name = "probes", description = "liveness and readiness, without a token")
    )
)]
pub struct NodeRoutesDoc;

/// The API's router without chain operations; serve it with `axum::serve`.
pub fn router(node: NodeHandle, registry: Arc<Registry>) -> Router {
    router_with_chain(node, registry, None)
}

/// The API's router; `chain` (the node's signing contract client) enables
/// the channel operations on chain. It is behind [`guard`] with
/// [`GuardConfig::default`] (loopback names only, and no tokens: only the
/// probes answer); serve it wrapped in [`guard`] with the node's tokens
/// ([`GuardConfig::with_tokens`]) and its listen address.
pub fn router_with_chain(node: NodeHandle, registry: Arc<Registry>, chain: Option<ChainCtl>) -> Router {
    let routes = Router::new()
        .route("/status", get(status))
        .route("/channels", get(channels).post(open_channel))
        .route("/channels/backup", get(channel_backup))
        .route("/channels/{id}/confirm", post(confirm_channel))
        .route("/channels/{id}/close", post(close_channel))
        .route("/channels/{id}/sever", post(sever_channel))
        .route("/peers", get(peers))
        .route("/routes", get(routes))
        .route("/send", post(send))
        .route("/request", post(request))
        .route("/metrics", get(metrics))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/network", get(network::network))
        .route("/ui", get(network::ui))
        .route("/ui/app.js", get(network::ui_js))
        .route("/ui/style.css", get(network::ui_css))
        .layer(DefaultBodyLimit::max(MAX_API_BODY))
        .with_state(Api { node, registry, chain });
    guard(routes, GuardConfig::default())
}

/// An API error: a status, a stable code and a reason for people.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    error: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, error: impl Into<String>) -> Self {
        ApiError { status, code, error: error.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(ErrorBody { error: self.error, code: self.code.into() })).into_response()
    }
}

fn stopped() -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "stopped", "the node has stopped; restart it")
}

/// The node's key, addresses, peers and load.
#[utoipa::path(get, path = "/status", tag = "node",
    responses((status = 200, body = StatusView), (status = 503, body = ErrorBody, description = "the node has stopped")))]
async fn status(State(api): State<Api>) -> Result<axum::Json<StatusView>, ApiError> {
    let s = api.node.status().await.map_err(|_| stopped())?;
    Ok(axum::Json(StatusView {
        node_key: s.key.to_hex(),
        peer_id: s.peer_id,
        listen: s.listen,
        external: s.external,
        peers: s.peers,
        channels: s.channels.len(),
        in_flight: s.in_flight,
    }))
}

/// The channels as the store holds them, for `por channel export`.
#[utoipa::path(get, path = "/channels/backup", tag = "channels",
    responses((status = 200, body = serde_json::Value, description = "a channel backup (por_node::backup::ChannelBackup)"),
        (status = 500, body = ErrorBody)))]
async fn channel_backup(State(api): State<Api>) -> Result<impl IntoResponse, ApiError> {
    let b = api.node.channel_backup().await.map_err(|_| stopped())?;
    let b = b.map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store_error", e))?;
    Ok(axum::Json(b))
}

/// The channels, with what this node can spend and has received on each.
#[utoipa::path(get, path = "/channels", tag = "channels", responses((status = 200, body = ChannelList)))]
async fn channels(State(api): State<Api>) -> Result<axum::Json<ChannelList>, ApiError> {
    let s = api.node.status().await.map_err(|_| stopped())?;
    let channels = s
        .channels
        .iter()
        .map(|(id, peer, spendable, received)| ChannelView {
            channel: id.0,
            peer_key: peer.to_hex(),
            peer_id: peer.peer_id(),
            spendable: spendable.to_string(),
            received: received.to_string(),
        })
        .collect();
    Ok(axum::Json(ChannelList { channels }))
}

/// `POST /request` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    /// The route (hops with channel, node key and edge parameters; the
    /// server's `service_ms`).
    #[schema(value_type = Object)]
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
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Outcome {
    /// The request id.
    pub request_id: String,
    /// `response`, `notice`, `refused` (by the first hop, before its ack:
    /// nothing is owed, see `refusal`), or `pending` (no outcome within the
    /// wait).
    pub outcome: &'static str,
    /// Whether the first hop acknowledged the payment. A verified response
    /// counts too: the ack of a frame and a response are separate messages
    /// (the ack may wait behind the payee's disk), so the response can
    /// arrive first, and the route could not have answered a request its
    /// first hop did not accept.
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
    #[schema(value_type = Option<Object>)]
    pub notice: Option<serde_json::Value>,
    /// Why the request was refused, for a refused outcome: `{code, detail}`,
    /// the code one of the engine's stable refusal codes, plus `channel`
    /// when a node below the first hop refused (the channel into it).
    #[schema(value_type = Option<Object>)]
    pub refusal: Option<serde_json::Value>,
    /// Late fees received for this request, yocto.
    pub late_fees: String,
}

/// Sends a paid request along the route given and waits for its outcome.
#[utoipa::path(post, path = "/request", tag = "requests", request_body = RequestBody,
    responses((status = 200, body = Outcome), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn request(State(api): State<Api>, raw: Bytes) -> Result<impl IntoResponse, ApiError> {
    let req: RequestBody = parse_json(&raw)?;
    let body = body_bytes(req.body, req.body_hex)?;
    let quote = req
        .route
        .quote(body.len() as u64, req.max_response_bytes)
        .map_err(|e| bad(format!("cannot price the route: {e}")))?;
    let wait = req.wait_ms.unwrap_or(quote.bound_ms().saturating_mul(2).max(1000)).min(MAX_WAIT_MS);
    let server = *req.route.server().ok_or_else(|| bad("the route is empty"))?;
    let (id, mut rx) =
        api.node.request(req.route, req.service, body, req.max_response_bytes).await.map_err(|e| match e {
            crate::handle::SendError::Stopped => stopped(),
            crate::handle::SendError::Refused(why) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "not_sent", why),
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
        refusal: None,
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
                        out.acked = true;
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
                Delivery::Refused { refused: r, .. } => {
                    out.outcome = "refused";
                    out.refusal =
                        Some(json!({ "code": r.reason.code(), "detail": r.to_string(), "channel": r.channel.0 }));
                    return;
                }
            }
        }
    })
    .await;
    // The stream closed without an outcome: the first hop refused it.
    if out.outcome == "pending"
        && !out.acked
        && let Some(r) = api.node.refusal(id).await.map_err(|_| stopped())?
    {
        out.outcome = "refused";
        out.refusal = Some(json!({ "code": r.code_str(), "detail": r.to_string() }));
    }
    Ok(axum::Json(out))
}

/// A request body given as text or as hex, not both.
fn body_bytes(text: Option<String>, hex_body: Option<String>) -> Result<Vec<u8>, ApiError> {
    match (text, hex_body) {
        (Some(_), Some(_)) => Err(bad("give either `body` or `body_hex`, not both")),
        (Some(t), None) => Ok(t.into_bytes()),
        (None, Some(h)) => hex::decode(&h).map_err(|e| bad(format!("`body_hex` is not hex: {e}"))),
        (None, None) => Ok(Vec::new()),
    }
}

/// Liveness: the event loop answers. A stopped loop cannot recover, so a
/// supervisor should restart the process.
#[utoipa::path(get, path = "/livez", tag = "probes", security(()),
    responses((status = 200, body = Live), (status = 503, body = ErrorBody)))]
async fn livez(State(api): State<Api>) -> Response {
    match api.node.status().await {
        Ok(_) => (StatusCode::OK, axum::Json(Live { live: true })).into_response(),
        Err(_) => stopped().into_response(),
    }
}

/// `/readyz`'s note for a node with no public address.
pub const NO_PUBLIC_ADDRESS: &str = "no public address: none is configured ([node].external_addresses) and AutoNAT has \
     confirmed none; peers reach this node only on connections it opens. Set [node].external_addresses to the \
     address peers can dial (a public IP, a forwarded or published port)";

/// How long `/readyz` waits for the chain.
const READY_CHAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Readiness: the chain answers (when the node has one), the node has its
/// graph (it checks every route against it), and at least one channel
/// neighbour is connected. A node with no channel yet counts as ready on the
/// last point: it can only get channels by being reachable. A draining
/// node (stopping) is not ready.
#[utoipa::path(get, path = "/readyz", tag = "probes", security(()),
    responses((status = 200, body = Ready), (status = 503, body = Ready, description = "not ready: `checks` says why")))]
async fn readyz(State(api): State<Api>) -> Result<Response, ApiError> {
    let s = api.node.status().await.map_err(|_| stopped())?;
    let chain = match &api.chain {
        None => None,
        Some(c) => Some(matches!(
            tokio::time::timeout(READY_CHAIN_TIMEOUT, crate::chain::ChainClient::status(c.chain())).await,
            Ok(Ok(_))
        )),
    };
    let graph = api.node.graph().is_some();
    let connected = api.node.peers().await.map_err(|_| stopped())?;
    let neighbours: std::collections::HashSet<String> = s.channels.iter().map(|c| c.1.peer_id()).collect();
    let up = connected.iter().filter(|p| neighbours.contains(&p.peer_id)).count();
    let neighbour = neighbours.is_empty() || up > 0;
    let ready = chain.unwrap_or(true) && (graph || api.chain.is_none()) && neighbour && !s.draining;
    let body = Ready {
        ready,
        checks: ReadyChecks {
            chain: chain.map_or(json!("none"), |ok| json!(ok)),
            graph,
            channel_neighbour: neighbour,
            draining: s.draining,
            public_address: !s.external.is_empty(),
        },
        channels: s.channels.len(),
        neighbours_connected: up,
        notes: if s.external.is_empty() { vec![NO_PUBLIC_ADDRESS.into()] } else { Vec::new() },
        external_addresses: s.external,
    };
    let code = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    Ok((code, axum::Json(body)).into_response())
}

#[utoipa::path(get, path = "/metrics", tag = "node",
    responses((status = 200, body = String, content_type = "text/plain; version=0.0.4", description = "Prometheus text format")))]
async fn metrics(State(api): State<Api>) -> impl IntoResponse {
    open_metrics(State(api.registry)).await
}

async fn open_metrics(State(registry): State<Arc<Registry>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        crate::metrics::render(&registry),
    )
}

/// `GET /metrics` (and `/v1/metrics`) alone, without a token, for a listener of its own (for
/// Prometheus); `config`'s `Host` and `Origin` checks apply, its tokens do
/// not. Serve it on an address only the scraper reaches: the metrics show
/// channels, balances and traffic.
pub fn metrics_router(registry: Arc<Registry>, config: GuardConfig) -> Router {
    let check = |State(cfg): State<Arc<GuardConfig>>, req: Request, next: Next| async move {
        match guard::admit(&cfg, req.method(), req.headers()) {
            Ok(()) => next.run(req).await,
            Err(e) => e.into_response(),
        }
    };
    Router::new()
        .route("/metrics", get(open_metrics))
        .route("/v1/metrics", get(open_metrics))
        .with_state(registry)
        .layer(DefaultBodyLimit::max(0))
        .layer(axum::middleware::from_fn_with_state(Arc::new(config), check))
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", msg)
}

fn parse_json<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(raw).map_err(|e| bad(format!("malformed request JSON: {e}")))
}

fn parse_amount(what: &str, s: &str) -> Result<u128, ApiError> {
    s.parse().map_err(|_| bad(format!("`{what}` must be a whole number of yocto as a string, got {s:?}")))
}

fn need_chain(api: &Api) -> Result<&ChainCtl, ApiError> {
    api.chain.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_chain",
            "this node has no chain account: set [chain].account and its key file, then restart",
        )
    })
}

fn chain_failed(e: crate::chain::ChainError) -> ApiError {
    // Nothing was sent: the node holds only a function-call key.
    let code = match e {
        crate::chain::ChainError::NeedsFullAccessKey { .. } => "needs_full_access_key",
        _ => "chain_error",
    };
    ApiError::new(StatusCode::BAD_GATEWAY, code, format!("chain: {e}"))
}

/// The connected peers.
#[utoipa::path(get, path = "/peers", tag = "node", responses((status = 200, body = PeerList)))]
async fn peers(State(api): State<Api>) -> Result<axum::Json<PeerList>, ApiError> {
    let list = api.node.peers().await.map_err(|_| stopped())?;
    let peers = list.into_iter().map(|p| PeerView { peer_id: p.peer_id, addr: p.addr }).collect();
    Ok(axum::Json(PeerList { peers }))
}

/// `POST /channels` body: amounts in yocto, as decimal strings.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenBody {
    /// The peer's NEAR account.
    peer: String,
    /// Our deposit plus the contract's channel storage fee.
    deposit: String,
    /// Promised one-way latency, ms.
    latency_ms: u64,
    /// Fee per message.
    base_fee: String,
    /// Fee per byte (default 0).
    #[serde(default)]
    byte_fee: Option<String>,
}

/// Proposes a channel on chain; the peer confirms it.
#[utoipa::path(post, path = "/channels", tag = "channels", request_body = OpenBody,
    responses((status = 200, body = ChannelState), (status = 400, body = ErrorBody), (status = 502, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "no chain account")))]
async fn open_channel(State(api): State<Api>, raw: Bytes) -> Result<axum::Json<ChannelState>, ApiError> {
    let b: OpenBody = parse_json(&raw)?;
    let chain = need_chain(&api)?;
    let peer = b.peer.parse().map_err(|e| bad(format!("`peer` is not a NEAR account id: {e}")))?;
    let params = por_core::EdgeParams {
        latency_ms: b.latency_ms,
        base_fee: parse_amount("base_fee", &b.base_fee)?,
        byte_fee: parse_amount("byte_fee", b.byte_fee.as_deref().unwrap_or("0"))?,
    };
    let deposit = parse_amount("deposit", &b.deposit)?;
    let id = chain.open_channel(&peer, params, deposit).await.map_err(chain_failed)?;
    Ok(axum::Json(ChannelState { channel: id, state: "proposed".into() }))
}

fn channel_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse().map_err(|_| bad(format!("{raw:?} is not a channel id (a number)")))
}

/// `POST /channels/{id}/confirm` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    /// Our deposit, yocto, as a decimal string.
    deposit: String,
}

/// Confirms a channel proposed to this node.
#[utoipa::path(post, path = "/channels/{id}/confirm", tag = "channels", request_body = ConfirmBody,
    params(("id" = u64, Path, description = "the channel id")),
    responses((status = 200, body = ChannelState), (status = 400, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn confirm_channel(
    State(api): State<Api>,
    axum::extract::Path(id): axum::extract::Path<String>,
    raw: Bytes,
) -> Result<axum::Json<ChannelState>, ApiError> {
    let id = channel_id(&id)?;
    let b: ConfirmBody = parse_json(&raw)?;
    let chain = need_chain(&api)?;
    chain.confirm_channel(id, parse_amount("deposit", &b.deposit)?).await.map_err(chain_failed)?;
    Ok(axum::Json(ChannelState { channel: id, state: "open".into() }))
}

/// Proposes a cooperative close with the best voucher held.
#[utoipa::path(post, path = "/channels/{id}/close", tag = "channels",
    params(("id" = u64, Path, description = "the channel id")),
    responses((status = 200, body = ChannelState), (status = 400, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn close_channel(
    State(api): State<Api>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<axum::Json<ChannelState>, ApiError> {
    let id = channel_id(&id)?;
    let chain = need_chain(&api)?;
    let best = api.node.best_voucher(por_core::ChannelId(id)).await.map_err(|_| stopped())?;
    chain.propose_close(id, best.as_ref()).await.map_err(chain_failed)?;
    Ok(axum::Json(ChannelState { channel: id, state: "close_proposed".into() }))
}

/// Cuts the channel now (adversarial close, with the best voucher held).
#[utoipa::path(post, path = "/channels/{id}/sever", tag = "channels",
    params(("id" = u64, Path, description = "the channel id")),
    responses((status = 200, body = ChannelState), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn sever_channel(
    State(api): State<Api>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<axum::Json<ChannelState>, ApiError> {
    let id = channel_id(&id)?;
    need_chain(&api)?;
    if !api.node.sever(por_core::ChannelId(id)).await.map_err(|_| stopped())? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("channel {id} is not open at this node"),
        ));
    }
    Ok(axum::Json(ChannelState { channel: id, state: "severing".into() }))
}

/// `GET /routes` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RoutesQuery {
    /// The server: a node key (hex) or a registered NEAR account.
    to: String,
    /// The request body's size, bytes.
    #[serde(default)]
    body_bytes: u64,
    /// The most response bytes to pay for.
    #[serde(default)]
    max_response_bytes: u64,
    /// The largest bound a route may have, ms.
    #[serde(default)]
    max_bound_ms: Option<u64>,
    /// The most a route may cost, yocto.
    #[serde(default)]
    max_cost: Option<String>,
    /// How many routes (1 to 10, default 3).
    #[serde(default)]
    count: Option<usize>,
}

/// A target given as a node key (hex) or a NEAR account registered in the graph.
fn target(api: &Api, to: &str) -> Result<por_core::NodeKey, ApiError> {
    if let Ok(k) = por_core::NodeKey::from_hex(to) {
        return Ok(k);
    }
    let g = api.node.graph().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no_graph", "no graph yet: the node has not read the chain")
    })?;
    g.index_of_account(to)
        .map(|i| g.keys[i as usize])
        .ok_or_else(|| bad(format!("`to`: {to:?} is neither a node key (64 hex chars) nor a registered account")))
}

/// Routes to a server over the chain's graph, best first.
#[utoipa::path(get, path = "/routes", tag = "requests", params(RoutesQuery),
    responses((status = 200, body = RouteList), (status = 404, body = ErrorBody, description = "no_route"),
        (status = 503, body = ErrorBody, description = "no_graph")))]
async fn routes(
    State(api): State<Api>,
    axum::extract::Query(q): axum::extract::Query<RoutesQuery>,
) -> Result<axum::Json<RouteList>, ApiError> {
    let to = target(&api, &q.to)?;
    let limits = RouteLimits {
        max_bound_ms: q.max_bound_ms,
        max_cost: q.max_cost.as_deref().map(|c| parse_amount("max_cost", c)).transpose()?,
        ..RouteLimits::default()
    };
    let count = q.count.unwrap_or(3).clamp(1, 10);
    let found = api
        .node
        .routes_to(&to, q.body_bytes, q.max_response_bytes, &limits, count)
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, "no_route", e.to_string()))?;
    let routes = found
        .iter()
        .map(|r| RouteView { route: json!(r.route), cost: r.cost.to_string(), bound_ms: r.bound_ms })
        .collect();
    Ok(axum::Json(RouteList { routes }))
}

/// `POST /send` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    /// The server: a node key (hex) or a registered NEAR account.
    to: String,
    /// The service at the server.
    service: String,
    /// The body as UTF-8 text (or `body_hex`).
    #[serde(default)]
    body: Option<String>,
    /// The body as hex.
    #[serde(default)]
    body_hex: Option<String>,
    /// The most response bytes to accept and pay for.
    #[serde(default)]
    max_response_bytes: Option<u64>,
    /// The most to pay over all attempts, yocto. Default 10^22 (0.01 NEAR,
    /// `por_node::client::DEFAULT_MAX_COST`); `"none"` for no limit.
    #[serde(default)]
    max_cost: Option<String>,
    /// The largest bound a route may have, ms.
    #[serde(default)]
    max_bound_ms: Option<u64>,
    /// Attempts over different routes (1 to 10).
    #[serde(default)]
    attempts: Option<u32>,
    /// How long to wait in all, ms (at most 5 minutes).
    #[serde(default)]
    timeout_ms: Option<u64>,
}

/// Sends a request to a server over the best route, with retries over others.
#[utoipa::path(post, path = "/send", tag = "requests", request_body = SendBody,
    responses((status = 200, body = SendView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no_route"),
        (status = 422, body = ErrorBody, description = "over_cost_cap: the cheapest route costs more than `max_cost`"),
        (status = 502, body = ErrorBody, description = "every attempt failed; the code is the last refusal's")))]
async fn send(State(api): State<Api>, raw: Bytes) -> Result<axum::Json<SendView>, ApiError> {
    let b: SendBody = parse_json(&raw)?;
    let body = body_bytes(b.body, b.body_hex)?;
    let mut opts = SendOptions::new(target(&api, &b.to)?, b.service);
    opts.body = body;
    if let Some(m) = b.max_response_bytes {
        opts.max_response_bytes = m;
    }
    match b.max_cost.as_deref() {
        None => {}
        Some("none") => opts.max_cost = None,
        Some(c) => opts.max_cost = Some(parse_amount("max_cost", c)?),
    }
    opts.max_bound_ms = b.max_bound_ms;
    if let Some(a) = b.attempts {
        opts.attempts = a.clamp(1, 10);
    }
    if let Some(t) = b.timeout_ms {
        opts.timeout = Duration::from_millis(t.min(MAX_WAIT_MS));
    }
    let out = api.node.send(opts).await.map_err(|e| match e {
        crate::client::ClientError::Stopped => stopped(),
        e @ crate::client::ClientError::Route(_) => ApiError::new(StatusCode::NOT_FOUND, "no_route", e.to_string()),
        e @ crate::client::ClientError::OverCostCap { .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "over_cost_cap", e.to_string())
        }
        crate::client::ClientError::Failed { ref tried, .. } => {
            // The last attempt's refusal code when a peer gave one.
            let code = tried.last().map_or("failed", |a| result_code(&a.result));
            ApiError::new(StatusCode::BAD_GATEWAY, code, e.to_string())
        }
    })?;
    let attempts = out
        .attempts
        .iter()
        .map(|a| AttemptView {
            request_id: a.request_id.to_hex(),
            channels: a.channels.iter().map(|c| c.0).collect(),
            cost: a.cost.to_string(),
            bound_ms: a.bound_ms,
            acked: a.acked,
            late_fees: a.late_fees.to_string(),
            took_ms: a.took_ms,
            result: a.result.to_string(),
            code: result_code(&a.result).into(),
        })
        .collect();
    let mut v = SendView {
        request_id: out.request_id.to_hex(),
        route: json!(out.route),
        paid: out.paid.to_string(),
        late_fees: out.late_fees.to_string(),
        attempts,
        outcome: "pending".into(),
        status: None,
        body: None,
        body_hex: None,
        error: None,
        server: None,
        signature: None,
        notice: None,
    };
    match &out.kind {
        OutcomeKind::Response(r) => {
            let reply = Reply::decode(&r.body);
            v.outcome = "response".into();
            v.status = reply.as_ref().map(|r| r.status);
            if let Some(r) = reply {
                v.body = String::from_utf8(r.body.clone()).ok();
                v.body_hex = Some(hex::encode(&r.body));
                v.error = r.error;
            }
            v.server = Some(r.server.to_hex());
            v.signature = Some(r.signature.to_hex());
        }
        OutcomeKind::Notice(n) => {
            v.outcome = "notice".into();
            v.notice = serde_json::to_value(n).ok();
        }
        OutcomeKind::Pending => {}
    }
    Ok(axum::Json(v))
}

/// A stable code for how an attempt ended: the first hop's refusal code for
/// a refusal, else the kind of ending.
fn result_code(r: &por_core::AttemptResult) -> &'static str {
    use por_core::AttemptResult as R;
    match r {
        R::Refused(why) => why.code_str(),
        R::Response => "response",
        R::Notice(_) => "notice",
        R::NoAck => "no_ack",
        R::Pending => "pending",
        R::Open => "open",
    }
}
