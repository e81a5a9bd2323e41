//! A list of NEAR JSON-RPC endpoints used with failover.
//!
//! [`RpcEndpoints`] holds the URLs an operator configured, in order of
//! preference, each with its own HTTP client. A call goes to the endpoint
//! that answered last; when that one cannot be reached (connection refused
//! or dropped, a timeout, HTTP 429/5xx, a JSON-RPC internal error) or
//! answers something that is not JSON-RPC, the next one in the list is
//! asked, and so on round the list. A *definite* answer (a result, or an
//! error of the method such as "unknown account") ends the call, whatever it
//! says: asking another endpoint the same question would give the same
//! answer. A call that got no definite answer from any endpoint is tried
//! again after a pause, up to the number of passes the caller allows.
//!
//! Re-sending a request to another endpoint is safe for transactions too: a
//! signed transaction has one hash whichever endpoint carries it, and the
//! chain executes it at most once (see [`super::NearRpcChain`]).
//!
//! [`RpcMetrics`] counts, per endpoint, the calls it answered and the ones it
//! failed, and marks the endpoint in use. The label is the endpoint's origin
//! (`scheme://host:port`, without path, query or credentials, which may hold
//! an API key), so the label set is the configured list and stays bounded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use near_jsonrpc_client::errors::{
    JsonRpcError, JsonRpcServerError, JsonRpcServerResponseStatusError, JsonRpcTransportRecvError, RpcTransportError,
};
use near_jsonrpc_client::{JsonRpcClient, methods::RpcMethod};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// A list of RPC URLs that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// No URL at all.
    #[error("no RPC endpoint: give at least one URL, e.g. https://rpc.testnet.near.org")]
    Empty,
    /// One URL does not parse, or is not `http://` or `https://` with a host.
    #[error("RPC endpoint {url:?} is not usable: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The same endpoint twice (failing over to it again gains nothing).
    #[error("RPC endpoint {0:?} is listed twice")]
    Duplicate(String),
}

/// One endpoint: its URL, its metric label and its client.
struct Endpoint {
    url: String,
    label: String,
    client: JsonRpcClient,
}

/// The configured RPC endpoints, in order of preference, and the one in use.
pub struct RpcEndpoints {
    list: Vec<Endpoint>,
    /// Index of the endpoint that answered last: calls start there.
    current: AtomicUsize,
    metrics: Option<RpcMetrics>,
}

impl std::fmt::Debug for RpcEndpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcEndpoints").field("urls", &self.urls()).field("current", &self.current_url()).finish()
    }
}

/// The origin of `url`, for a metric label: scheme, host and port only.
fn origin(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port_or_known_default() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// How a failed attempt counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// A definite answer: no other endpoint is asked.
    Answer,
    /// The endpoint could not answer now: ask the next one, and try again
    /// in a later pass.
    Transient,
    /// The endpoint answered something unusable: ask the next one, but do
    /// not come back to it in a later pass.
    Garbled,
}

fn classify<E>(e: &JsonRpcError<E>) -> Failure {
    match e {
        JsonRpcError::TransportError(RpcTransportError::SendError(_)) => Failure::Transient,
        JsonRpcError::TransportError(RpcTransportError::RecvError(JsonRpcTransportRecvError::PayloadRecvError(_))) => {
            Failure::Transient
        }
        JsonRpcError::TransportError(RpcTransportError::RecvError(_)) => Failure::Garbled,
        JsonRpcError::ServerError(JsonRpcServerError::ResponseStatusError(
            JsonRpcServerResponseStatusError::BadRequest | JsonRpcServerResponseStatusError::Unauthorized,
        )) => Failure::Garbled,
        JsonRpcError::ServerError(JsonRpcServerError::ResponseStatusError(_)) => Failure::Transient,
        JsonRpcError::ServerError(JsonRpcServerError::InternalError { .. }) => Failure::Transient,
        JsonRpcError::ServerError(_) => Failure::Answer,
    }
}

/// What went wrong, for a log line (the method's own errors never fail over).
fn failure_text<E>(e: &JsonRpcError<E>) -> String {
    match e {
        JsonRpcError::TransportError(t) => t.to_string(),
        JsonRpcError::ServerError(JsonRpcServerError::ResponseStatusError(s)) => s.to_string(),
        JsonRpcError::ServerError(JsonRpcServerError::InternalError { info }) => format!("internal error: {info:?}"),
        JsonRpcError::ServerError(_) => "an error of the method".into(),
    }
}

impl RpcEndpoints {
    /// Checks `urls` (each `http://` or `https://` with a host, no two the
    /// same) and makes a client for each; the first is tried first.
    pub fn parse<S: AsRef<str>>(urls: &[S]) -> Result<RpcEndpoints, EndpointError> {
        if urls.is_empty() {
            return Err(EndpointError::Empty);
        }
        let mut list: Vec<Endpoint> = Vec::with_capacity(urls.len());
        for raw in urls {
            let raw = raw.as_ref().trim();
            let bad = |reason: &str| EndpointError::BadUrl { url: raw.to_string(), reason: reason.to_string() };
            let url = reqwest::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(bad("the scheme must be http or https"));
            }
            if url.host_str().is_none_or(str::is_empty) {
                return Err(bad("it has no host"));
            }
            if list.iter().any(|e| e.url == raw) {
                return Err(EndpointError::Duplicate(raw.to_string()));
            }
            list.push(Endpoint { url: raw.to_string(), label: origin(&url), client: JsonRpcClient::connect(raw) });
        }
        Ok(RpcEndpoints { list, current: AtomicUsize::new(0), metrics: None })
    }

    /// One endpoint, unchecked: a URL that does not parse fails at the
    /// first call, as an unreachable endpoint.
    pub fn single(url: &str) -> RpcEndpoints {
        let label = reqwest::Url::parse(url).map(|u| origin(&u)).unwrap_or_else(|_| "invalid".into());
        let list = vec![Endpoint { url: url.to_string(), label, client: JsonRpcClient::connect(url) }];
        RpcEndpoints { list, current: AtomicUsize::new(0), metrics: None }
    }

    /// The URLs, in order of preference.
    pub fn urls(&self) -> Vec<&str> {
        self.list.iter().map(|e| e.url.as_str()).collect()
    }

    /// The endpoint calls go to now (the one that answered last).
    pub fn current_url(&self) -> &str {
        &self.list[self.current.load(Ordering::Relaxed) % self.list.len()].url
    }

    /// Counts calls per endpoint in `metrics` (every configured endpoint
    /// gets its series at once, at zero).
    pub fn with_metrics(mut self, metrics: RpcMetrics) -> RpcEndpoints {
        for (i, e) in self.list.iter().enumerate() {
            for result in [RESULT_ANSWERED, RESULT_FAILED] {
                let _ = metrics.calls.get_or_create(&RpcLabels { endpoint: e.label.clone(), result });
            }
            let in_use = metrics.in_use.get_or_create(&EndpointLabel { endpoint: e.label.clone() });
            in_use.set(i64::from(i == 0));
        }
        self.metrics = Some(metrics);
        self
    }

    fn record(&self, i: usize, answered: bool) {
        let Some(m) = &self.metrics else { return };
        let result = if answered { RESULT_ANSWERED } else { RESULT_FAILED };
        m.calls.get_or_create(&RpcLabels { endpoint: self.list[i].label.clone(), result }).inc();
    }

    fn switch_to(&self, i: usize) {
        let was = self.current.swap(i, Ordering::Relaxed);
        if was != i {
            tracing::warn!(from = %self.list[was].url, to = %self.list[i].url, "RPC failover: now using another endpoint");
            if let Some(m) = &self.metrics {
                m.in_use.get_or_create(&EndpointLabel { endpoint: self.list[was].label.clone() }).set(0);
                m.in_use.get_or_create(&EndpointLabel { endpoint: self.list[i].label.clone() }).set(1);
            }
        }
    }

    /// Sends `req`, failing over round the list from the endpoint in use,
    /// for up to `passes` passes (at least one) with `backoff` (doubling)
    /// between them; each attempt is given `timeout`. Returns the first
    /// definite answer, or the last failure when no endpoint gave one.
    pub(crate) async fn call<M: RpcMethod>(
        &self,
        req: &M,
        passes: u32,
        backoff: Duration,
        timeout: Duration,
    ) -> Result<M::Response, JsonRpcError<M::Error>> {
        let n = self.list.len();
        let mut skip = vec![false; n];
        let mut wait = backoff;
        let mut last = None;
        for pass in 0..passes.max(1) {
            if pass > 0 {
                if skip.iter().all(|s| *s) {
                    break;
                }
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
            }
            let start = self.current.load(Ordering::Relaxed) % n;
            for k in 0..n {
                let i = (start + k) % n;
                if skip[i] {
                    continue;
                }
                let e = &self.list[i];
                let r = match tokio::time::timeout(timeout, e.client.call(req)).await {
                    Ok(r) => r,
                    Err(_) => Err(JsonRpcError::ServerError(JsonRpcServerError::ResponseStatusError(
                        JsonRpcServerResponseStatusError::TimeoutError,
                    ))),
                };
                let failure = match &r {
                    Ok(_) => None,
                    Err(err) => Some(classify(err)).filter(|f| *f != Failure::Answer),
                };
                match failure {
                    None => {
                        self.record(i, true);
                        self.switch_to(i);
                        return r;
                    }
                    Some(f) => {
                        self.record(i, false);
                        if let Err(err) = &r {
                            tracing::debug!(endpoint = %e.url, "RPC endpoint failed: {}", failure_text(err));
                        }
                        skip[i] = f == Failure::Garbled;
                        last = Some(r);
                    }
                }
            }
        }
        last.expect("at least one attempt was made")
    }
}

const RESULT_ANSWERED: &str = "answered";
const RESULT_FAILED: &str = "failed";

/// Labels of [`RpcMetrics::calls`].
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    /// The endpoint's origin (`scheme://host:port`).
    pub endpoint: String,
    /// `answered` (a result or the method's own error) or `failed`
    /// (unreachable, timed out, rate-limited, a server error, garbled).
    pub result: &'static str,
}

/// Label of [`RpcMetrics::in_use`].
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabel {
    /// The endpoint's origin (`scheme://host:port`).
    pub endpoint: String,
}

/// Which RPC endpoint answers (prefix `por_chain_rpc`).
#[derive(Debug, Clone, Default)]
pub struct RpcMetrics {
    /// `por_chain_rpc_calls_total{endpoint,result}`: JSON-RPC calls by
    /// endpoint and whether it answered.
    pub calls: Family<RpcLabels, Counter>,
    /// `por_chain_rpc_endpoint_in_use{endpoint}`: 1 for the endpoint calls
    /// go to now, 0 for the others.
    pub in_use: Family<EndpointLabel, Gauge>,
}

impl RpcMetrics {
    /// Registers the metrics in `registry` (prefix `por_chain_rpc`).
    pub fn new(registry: &mut Registry) -> RpcMetrics {
        let m = RpcMetrics::default();
        let sub = registry.sub_registry_with_prefix("por_chain_rpc");
        sub.register(
            "calls",
            "JSON-RPC calls to each configured NEAR RPC endpoint, by whether it answered (answered, failed)",
            m.calls.clone(),
        );
        sub.register(
            "endpoint_in_use",
            "1 for the NEAR RPC endpoint calls go to now (the last that answered), 0 for the others",
            m.in_use.clone(),
        );
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_named() {
        assert_eq!(RpcEndpoints::parse::<&str>(&[]).unwrap_err(), EndpointError::Empty);
        for (bad, why) in [
            ("rpc.testnet.near.org", "relative url"),
            ("ftp://rpc.example", "scheme"),
            ("http://", "empty host"),
            ("http://a b", "invalid"),
        ] {
            let e = RpcEndpoints::parse(&[bad]).unwrap_err().to_string();
            assert!(e.contains(bad) && e.to_lowercase().contains(why), "{bad}: {e}");
        }
        let e = RpcEndpoints::parse(&["http://a:1", "http://a:1"]).unwrap_err();
        assert_eq!(e, EndpointError::Duplicate("http://a:1".into()));
        let ok = RpcEndpoints::parse(&["https://rpc.testnet.near.org", " http://127.0.0.1:3030 "]).unwrap();
        assert_eq!(ok.urls(), vec!["https://rpc.testnet.near.org", "http://127.0.0.1:3030"]);
        assert_eq!(ok.current_url(), "https://rpc.testnet.near.org");
    }

    #[test]
    fn labels_drop_paths_queries_and_credentials() {
        let e = RpcEndpoints::parse(&["https://user:secret@rpc.example/v1/?apiKey=abc", "http://127.0.0.1:3030/x"])
            .unwrap();
        let labels: Vec<&str> = e.list.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(labels, vec!["https://rpc.example:443", "http://127.0.0.1:3030"]);
    }
}
