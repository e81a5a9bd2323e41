//! `GET /network`: the network view (the graph, this node's record of
//! outcomes, the chain history) in one answer, and the web page that draws
//! it (`GET /ui`, its script and style, built into the binary).
//!
//! The page, the CLI (`por network`) and any other client read the same
//! answer, [`NetworkView`], so they cannot disagree.
//!
//! How a browser authenticates: the page and its assets hold no data and
//! are served without a token (like the probes); the data comes from
//! `GET /v1/network`, which needs the read-only (or admin) token as a
//! bearer header like every other route. The page asks for the token once
//! and keeps it in the tab's `sessionStorage` (gone when the tab closes);
//! a link may carry it in the URL's fragment (`/ui#token=…`), which the
//! browser never sends to any server (not in the request line, not in a
//! `Referer`), and the page removes it from the address bar and history
//! entry at once. No token ever travels in a query string, so none lands in
//! a server's or proxy's log, and there is no cookie, so another site
//! cannot make the browser send the token (no CSRF): a cross-site page can
//! neither read the answers (no CORS header is ever sent, its `Origin` is
//! refused) nor attach the header. The page is served with a strict
//! Content-Security-Policy (its own script and style only, no inline
//! script, no framing) and `Referrer-Policy: no-referrer`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Api, ApiError, bad, stopped};
use crate::history::ChainEvent;
use crate::outcomes::{Observed, OutcomesView};

/// Events `GET /network` returns unless `events` says otherwise.
pub const DEFAULT_EVENTS: usize = 50;
/// Edges that left the graph the view still shows (most recent first), with
/// the state they left in.
pub const GONE_EDGES_SHOWN: usize = 32;

/// A node of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NetNode {
    /// Its index in the contract's graph.
    pub index: u32,
    /// Its node key, hex.
    pub key: String,
    /// Its NEAR account (empty for a hand-made graph).
    pub account: String,
    /// Its stake, yocto, decimal.
    pub stake: String,
    /// Active (not partitioned, not gone).
    pub active: bool,
    /// This node.
    pub me: bool,
}

/// An edge: open or closing in the graph, or recently gone (from the chain
/// history), with this node's measured availability over it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NetEdge {
    /// The channel id.
    pub channel: u64,
    /// One end (graph index).
    pub a: u32,
    /// The other end.
    pub b: u32,
    /// `open`, `closing`, `severed`, `closed` or `gone` (left, how unknown).
    pub state: String,
    /// Who cut or closed it, for a gone edge, when known.
    pub by: Option<String>,
    /// Of the requests this node sent over it in the last hour that ended,
    /// the share answered within their bound (none: none ended).
    pub on_time_ratio_1h: Option<f64>,
    /// Requests over it that ended in the last hour.
    pub ended_1h: u64,
}

/// `GET /network`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NetworkView {
    /// This node's key, hex.
    pub node_key: String,
    /// The graph version the view reflects (none: no graph yet).
    pub graph_version: Option<u64>,
    /// Nodes by index.
    pub nodes: Vec<NetNode>,
    /// Edges: the graph's, then recently gone ones.
    pub edges: Vec<NetEdge>,
    /// The servers this node used, most responses within bound in the last
    /// hour first, with counts per window ([`crate::outcomes`]).
    pub servers: Vec<Observed>,
    /// The edges this node used, with counts per window.
    pub observed_edges: Vec<Observed>,
    /// Requests of this node not yet ended.
    pub pending: usize,
    /// The newest chain events, oldest first ([`crate::history`]).
    pub events: Vec<ChainEvent>,
    /// When the view was made, ms since the Unix epoch.
    pub now_ms: u64,
}

/// `GET /network` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NetworkQuery {
    /// Chain events to include, newest (0 to 1000, default 50).
    #[serde(default)]
    events: Option<usize>,
}

/// Builds the view from the node's graph, record and history.
pub fn view(node: &crate::NodeHandle, events: usize) -> NetworkView {
    let g = node.graph();
    let me = node.key();
    let OutcomesView { servers, edges: observed_edges, pending } = node.outcomes();
    let by_channel: BTreeMap<String, &Observed> = observed_edges.iter().map(|o| (o.key.clone(), o)).collect();
    let hour = |ch: u64| by_channel.get(&ch.to_string()).and_then(|o| o.windows.get("1h")).cloned().unwrap_or_default();
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    let log = node.history();
    if let Some(g) = &g {
        for (i, key) in g.keys.iter().enumerate() {
            nodes.push(NetNode {
                index: i as u32,
                key: key.to_hex(),
                account: g.accounts.get(i).cloned().unwrap_or_default(),
                stake: g.graph.node(i as u32).map_or(0, |n| n.stake).to_string(),
                active: g.active.get(i).copied().unwrap_or(true),
                me: *key == me,
            });
        }
        for e in g.graph.edges() {
            let h = hour(e.channel.0);
            edges.push(NetEdge {
                channel: e.channel.0,
                a: e.a,
                b: e.b,
                state: if g.graph.is_closing(e.channel) { "closing" } else { "open" }.into(),
                by: None,
                on_time_ratio_1h: h.on_time_ratio(),
                ended_1h: h.ended(),
            });
        }
        // Edges the history saw leave, newest first, once each, while both
        // ends are still in the graph.
        let mut seen: std::collections::BTreeSet<u64> = edges.iter().map(|e| e.channel).collect();
        for ev in log.events(crate::history::MAX_EVENTS).iter().rev() {
            if edges.len() >= g.graph.edge_count() + GONE_EDGES_SHOWN {
                break;
            }
            let state = match ev.kind.as_str() {
                "channel_severed" => "severed",
                "channel_closed" => "closed",
                "channel_gone" => "gone",
                _ => continue,
            };
            let (Some(ch), [a, b]) = (ev.channel, ev.nodes.as_slice()) else { continue };
            let (Some(a), Some(b)) = (g.index_of_account(a), g.index_of_account(b)) else { continue };
            if !seen.insert(ch) {
                continue;
            }
            let h = hour(ch);
            edges.push(NetEdge {
                channel: ch,
                a,
                b,
                state: state.into(),
                by: ev.by.clone(),
                on_time_ratio_1h: h.on_time_ratio(),
                ended_1h: h.ended(),
            });
        }
    }
    NetworkView {
        node_key: me.to_hex(),
        graph_version: g.map(|g| g.version),
        nodes,
        edges,
        servers,
        observed_edges,
        pending,
        events: log.events(events),
        now_ms: crate::outcomes::now_ms(),
    }
}

/// The network as this node sees it: the graph (nodes with stake, edges
/// with state and this node's measured availability), the servers it used
/// ranked by responses within bound, and recent chain events.
#[utoipa::path(get, path = "/network", tag = "node", params(NetworkQuery),
    responses((status = 200, body = NetworkView), (status = 400, body = super::views::ErrorBody),
        (status = 503, body = super::views::ErrorBody, description = "the node has stopped")))]
pub(super) async fn network(
    State(api): State<Api>,
    axum::extract::Query(q): axum::extract::Query<NetworkQuery>,
) -> Result<axum::Json<NetworkView>, ApiError> {
    let events = q.events.unwrap_or(DEFAULT_EVENTS);
    if events > crate::history::MAX_EVENTS {
        return Err(bad(format!("`events` is at most {}, got {events}", crate::history::MAX_EVENTS)));
    }
    // The node is there (a stopped node's view would be stale).
    api.node.status().await.map_err(|_| stopped())?;
    Ok(axum::Json(view(&api.node, events)))
}

const INDEX_HTML: &str = include_str!("web/index.html");
const APP_JS: &str = include_str!("web/app.js");
const STYLE_CSS: &str = include_str!("web/style.css");

/// The page's headers: what it may load (its own files, and `connect` to
/// this API), no framing, no referrer.
fn page(content_type: &'static str, body: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// The network page (no token: it holds no data; it asks for one).
#[utoipa::path(get, path = "/ui", tag = "node", security(()),
    responses((status = 200, body = String, content_type = "text/html", description = "the network page")))]
pub(super) async fn ui() -> Response {
    page("text/html; charset=utf-8", INDEX_HTML)
}

/// The network page's script.
#[utoipa::path(get, path = "/ui/app.js", tag = "node", security(()),
    responses((status = 200, body = String, content_type = "text/javascript", description = "the page's script")))]
pub(super) async fn ui_js() -> Response {
    page("text/javascript; charset=utf-8", APP_JS)
}

/// The network page's style.
#[utoipa::path(get, path = "/ui/style.css", tag = "node", security(()),
    responses((status = 200, body = String, content_type = "text/css", description = "the page's style")))]
pub(super) async fn ui_css() -> Response {
    page("text/css; charset=utf-8", STYLE_CSS)
}
