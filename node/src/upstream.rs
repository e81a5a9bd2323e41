//! The server role over HTTP: a service backed by an upstream HTTP URL, so
//! any HTTP service can be served over PoR.
//!
//! An inbound paid request becomes `POST <url>` with the request body, and the
//! headers `x-por-request-id` and `x-por-requester` (the requester's peer id).
//! The upstream's status and body become the signed [`Reply`]. A body larger
//! than the request's allowance is not sent back: the reply is 502 with the
//! reason. Only `http://` upstreams are supported (run a local TLS-terminating
//! proxy for others); connections are kept and reused between calls.

use std::time::Duration;

use crate::service::{BoxFuture, Reply, STATUS_FAILED, Service, ServiceRequest};

/// Status: the upstream could not be reached or misbehaved.
pub const STATUS_BAD_GATEWAY: u16 = 502;

/// Bytes the reply envelope (status, error, CBOR framing) may take beyond the body.
const REPLY_OVERHEAD: u64 = 64;

/// How long connecting to the upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A configured upstream URL is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// Not a URL.
    #[error("upstream {0:?} is not a URL: {1}")]
    NotAUrl(String, String),
    /// Not `http://host:port/...`.
    #[error("upstream {0:?} must be an http:// URL with a host (https is not supported; use a local proxy)")]
    Unsupported(String),
}

/// A service that forwards to an HTTP upstream.
#[derive(Debug, Clone)]
pub struct HttpUpstream {
    url: reqwest::Url,
    authority: String,
    http: reqwest::Client,
}

/// Why a forward failed, which decides the reply's status.
enum Failed {
    /// The reply is larger than the request allows.
    TooLarge(String),
    /// The request could not be built (our side).
    Local(String),
    /// The upstream could not be reached or misbehaved.
    Upstream(String),
}

impl HttpUpstream {
    /// Checks and keeps `url`.
    pub fn new(url: &str) -> Result<Self, UpstreamError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| UpstreamError::NotAUrl(url.to_string(), e.to_string()))?;
        let Some(host) = parsed.host_str().filter(|_| parsed.scheme() == "http") else {
            return Err(UpstreamError::Unsupported(url.to_string()));
        };
        let authority = format!("{host}:{}", parsed.port_or_known_default().unwrap_or(80));
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            // The upstream is the operator's own service: no proxy from the
            // environment, and no redirect to anywhere else.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| UpstreamError::NotAUrl(url.to_string(), e.to_string()))?;
        Ok(HttpUpstream { url: parsed, authority, http })
    }

    async fn forward(&self, req: ServiceRequest) -> Result<Reply, Failed> {
        let mut resp = self
            .http
            .post(self.url.clone())
            .header("x-por-request-id", req.id.to_hex())
            .header("x-por-requester", req.requester.peer_id())
            .body(req.body)
            .send()
            .await
            .map_err(|e| match e {
                e if e.is_builder() => Failed::Local(format!("cannot build the upstream request: {e}")),
                e if e.is_connect() && e.is_timeout() => {
                    Failed::Upstream(format!("connecting to {} timed out", self.authority))
                }
                e if e.is_connect() => Failed::Upstream(format!("cannot connect to {}: {e}", self.authority)),
                e => Failed::Upstream(format!("upstream request to {} failed: {e}", self.authority)),
            })?;
        let status = resp.status().as_u16();
        let limit = req.max_response_bytes.saturating_sub(REPLY_OVERHEAD);
        let too_large =
            || Failed::TooLarge(format!("the upstream's reply exceeds the request's allowance of {limit} body bytes"));
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) =
            resp.chunk().await.map_err(|e| Failed::Upstream(format!("reading the upstream's reply failed: {e}")))?
        {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply { status, body, error: None })
    }
}

impl Service for HttpUpstream {
    fn call(&self, req: ServiceRequest) -> BoxFuture<Reply> {
        let me = self.clone();
        Box::pin(async move {
            match me.forward(req).await {
                Ok(r) => r,
                Err(Failed::TooLarge(why) | Failed::Upstream(why)) => Reply::error(STATUS_BAD_GATEWAY, why),
                Err(Failed::Local(why)) => Reply::error(STATUS_FAILED, why),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(HttpUpstream::new("http://127.0.0.1:8080/api").is_ok());
        assert!(matches!(HttpUpstream::new("https://example.org"), Err(UpstreamError::Unsupported(_))));
        assert!(matches!(HttpUpstream::new("ftp://x"), Err(UpstreamError::Unsupported(_))));
        assert!(matches!(HttpUpstream::new("not a url"), Err(UpstreamError::NotAUrl(..))));
    }
}
