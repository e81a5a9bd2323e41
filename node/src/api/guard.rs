//! The API's guard: which requests reach the routes. Web pages are kept
//! out (`Host` and `Origin` allow-lists, JSON bodies only, a body limit),
//! then the token is checked ([`super::auth`]). See the module doc of
//! [`crate::api`] for the answers and their codes.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, MAX_API_BODY, auth};

/// Which requests [`guard`] lets through. Every field's doc ends with its default.
#[derive(Debug, Clone)]
pub struct GuardConfig {
    /// The address the API listens on. Its IP is allowed as `Host`; on an
    /// unspecified address (`0.0.0.0`, `[::]`) every IP literal is, because
    /// Kubernetes probes and scrapers name the pod by its IP. An IP literal
    /// cannot be a DNS rebinding: a page's origin is then that IP itself.
    /// Default none (`localhost`, `127.0.0.1` and `[::1]` only, any port).
    pub listen: Option<SocketAddr>,
    /// More names allowed as `Host` and as `Origin`'s host, without port
    /// (such as the service name a scraper uses). Default none.
    pub allowed_hosts: Vec<String>,
    /// Largest request body, bytes. Default [`MAX_API_BODY`].
    pub max_body: usize,
    /// The tokens requests must carry ([`auth`]). Default none: only the
    /// probes answer, every other request gets 401.
    pub tokens: Option<auth::ApiTokens>,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig { listen: None, allowed_hosts: Vec::new(), max_body: MAX_API_BODY, tokens: None }
    }
}

impl GuardConfig {
    /// The defaults, and `listen` allowed.
    pub fn listening_on(listen: SocketAddr) -> Self {
        GuardConfig { listen: Some(listen), ..GuardConfig::default() }
    }

    /// These settings with `tokens` required.
    pub fn with_tokens(self, tokens: auth::ApiTokens) -> Self {
        GuardConfig { tokens: Some(tokens), ..self }
    }

    /// Whether `host` (a `Host` or `Origin` host, port removed, lowercase)
    /// names this API; `any_ip` admits every IP literal when the API
    /// listens on an unspecified address.
    fn allows(&self, host: &str, any_ip: bool) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        if matches!(host, "localhost" | "127.0.0.1" | "[::1]")
            || self.allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
        {
            return true;
        }
        let ip = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host).parse::<IpAddr>();
        match (ip, self.listen) {
            (Ok(ip), Some(l)) => ip == l.ip() || (any_ip && l.ip().is_unspecified()),
            _ => false,
        }
    }
}

/// Marks a request an outer [`guard`] has let through, so that an inner
/// one (on a merged router) does not judge it again by its own defaults.
#[derive(Clone, Copy)]
struct Guarded;

/// `router` behind the API's guard (see the module doc): `Host` and
/// `Origin` allow-lists, JSON bodies only, a body limit with a JSON 413,
/// and the tokens of [`GuardConfig::tokens`] by [`auth::SCOPES`].
/// The outermost guard decides; inner ones let its requests through.
pub fn guard(router: Router, config: GuardConfig) -> Router {
    let max_body = config.max_body;
    router
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(Arc::new(config), check_request))
}

async fn check_request(State(cfg): State<Arc<GuardConfig>>, mut req: Request, next: Next) -> Response {
    if req.extensions().get::<Guarded>().is_some() {
        return next.run(req).await;
    }
    if let Err(e) = admit(&cfg, req.method(), req.headers()) {
        return e.into_response();
    }
    if let Err(refused) = auth::authorize(cfg.tokens.as_ref(), req.method(), req.uri().path(), req.headers()) {
        return refused.into_response();
    }
    req.extensions_mut().insert(Guarded);
    let resp = next.run(req).await;
    // axum's own 413 (a chunked body over the limit) is plain text.
    let is_json =
        resp.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return too_large(cfg.max_body).into_response();
    }
    resp
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("request body larger than {max} bytes"))
}

/// The guard's checks on a request's head.
pub(super) fn admit(cfg: &GuardConfig, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    // HTTP/1.0 clients may send no Host; browsers always send one.
    if let Some(h) = headers.get(header::HOST) {
        let host = h.to_str().ok().and_then(authority_host);
        if !host.is_some_and(|h| cfg.allows(&h, true)) {
            return Err(ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "host_not_allowed",
                format!(
                    "Host {:?} is not this node's API (allowed: localhost, 127.0.0.1, [::1], the listen address and \
                     the configured names); a web page must not reach the API through a name it controls",
                    String::from_utf8_lossy(h.as_bytes())
                ),
            ));
        }
    }
    if let Some(o) = headers.get(header::ORIGIN) {
        let host = o.to_str().ok().and_then(|o| o.split_once("://")).and_then(|(_, a)| authority_host(a));
        if !host.is_some_and(|h| cfg.allows(&h, false)) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                format!(
                    "requests from web pages at {:?} are refused: the API is for the operator's own tools",
                    String::from_utf8_lossy(o.as_bytes())
                ),
            ));
        }
    }
    let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    let has_body =
        method == Method::POST || length.is_some_and(|n| n > 0) || headers.contains_key(header::TRANSFER_ENCODING);
    if has_body {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
    }
    if length.is_some_and(|n| n > cfg.max_body as u64) {
        return Err(too_large(cfg.max_body));
    }
    Ok(())
}

/// The host of an authority (`name`, `name:port`, `[v6]`, `[v6]:port`),
/// lowercase; none if it is malformed.
fn authority_host(a: &str) -> Option<String> {
    let a = a.trim().to_ascii_lowercase();
    let (host, port) = match a.strip_prefix('[') {
        Some(rest) => {
            let (v6, after) = rest.split_once(']')?;
            let port = if after.is_empty() { None } else { Some(after.strip_prefix(':')?) };
            (format!("[{v6}]"), port)
        }
        None => match a.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (a.clone(), None),
        },
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    (port_ok && !host.is_empty() && !host.contains(['/', '@', ' '])).then_some(host)
}
