//! The server role over HTTP: a service backed by an upstream HTTP URL, so
//! any HTTP service can be served over PoR.
//!
//! An inbound paid request becomes `POST <url>` with the request body, and the
//! headers `x-por-request-id` and `x-por-requester` (the requester's peer id).
//! The upstream's status and body become the signed [`Reply`]. A body larger
//! than the request's allowance is not sent back: the reply is 502 with the
//! reason. Only `http://` upstreams are supported (run a local TLS-terminating
//! proxy for others); one connection per call, which suits an upstream on the
//! same host.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use crate::service::{BoxFuture, Reply, STATUS_FAILED, Service, ServiceRequest};

/// Status: the upstream could not be reached or misbehaved.
pub const STATUS_BAD_GATEWAY: u16 = 502;

/// Bytes the reply envelope (status, error, CBOR framing) may take beyond the body.
const REPLY_OVERHEAD: u64 = 64;

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
    uri: hyper::Uri,
    authority: String,
    connect_timeout: Duration,
}

impl HttpUpstream {
    /// Checks and keeps `url`.
    pub fn new(url: &str) -> Result<Self, UpstreamError> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| UpstreamError::NotAUrl(url.to_string(), e.to_string()))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(UpstreamError::Unsupported(url.to_string()));
        }
        let authority = format!("{}:{}", uri.host().unwrap_or_default(), uri.port_u16().unwrap_or(80));
        Ok(HttpUpstream { uri, authority, connect_timeout: Duration::from_secs(5) })
    }

    async fn forward(&self, req: ServiceRequest) -> Result<Reply, String> {
        let stream = tokio::time::timeout(self.connect_timeout, tokio::net::TcpStream::connect(&self.authority))
            .await
            .map_err(|_| format!("connecting to {} timed out", self.authority))?
            .map_err(|e| format!("cannot connect to {}: {e}", self.authority))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {} failed: {e}", self.authority))?;
        tokio::spawn(conn);
        let http_req = Request::post(self.uri.clone())
            .header(hyper::header::HOST, self.authority.as_str())
            .header("x-por-request-id", req.id.to_hex())
            .header("x-por-requester", req.requester.peer_id())
            .body(Full::new(Bytes::from(req.body)))
            .map_err(|e| format!("cannot build the upstream request: {e}"))?;
        let resp = sender.send_request(http_req).await.map_err(|e| format!("upstream request failed: {e}"))?;
        let status = resp.status().as_u16();
        let limit = req.max_response_bytes.saturating_sub(REPLY_OVERHEAD) as usize;
        let body = Limited::new(resp.into_body(), limit).collect().await.map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                format!("the upstream's reply exceeds the request's allowance of {limit} body bytes")
            } else {
                format!("reading the upstream's reply failed: {e}")
            }
        })?;
        Ok(Reply { status, body: body.to_bytes().to_vec(), error: None })
    }
}

impl Service for HttpUpstream {
    fn call(&self, req: ServiceRequest) -> BoxFuture<Reply> {
        let me = self.clone();
        Box::pin(async move {
            match me.forward(req).await {
                Ok(r) => r,
                Err(why) if why.contains("allowance") => Reply::error(STATUS_BAD_GATEWAY, why),
                Err(why) if why.contains("cannot build") => Reply::error(STATUS_FAILED, why),
                Err(why) => Reply::error(STATUS_BAD_GATEWAY, why),
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
