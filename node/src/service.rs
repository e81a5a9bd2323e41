//! Services a node serves, and the reply format inside a PoR response.
//!
//! A PoR response body (what the server signs) is the CBOR of a [`Reply`]:
//! an HTTP-like status and the service's bytes. That lets a requester tell
//! "the service answered" from "this node has no such service" or "the
//! handler failed", all of them signed, paid-for outcomes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use por_core::{NodeKey, RequestId};
use serde::{Deserialize, Serialize};

/// Status: the service answered.
pub const STATUS_OK: u16 = 200;
/// Status: the node serves no service of that name.
pub const STATUS_UNKNOWN_SERVICE: u16 = 404;
/// Status: the handler failed.
pub const STATUS_FAILED: u16 = 500;
/// Status: the handler took longer than the node's service timeout.
pub const STATUS_TIMEOUT: u16 = 504;

/// What a server's response body holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// HTTP-like status: 200, 404, 500, 504, or what an upstream HTTP service said.
    pub status: u16,
    /// The service's bytes (empty on errors; a reason may be in `error`).
    /// Encoded as one CBOR byte string, not an array of numbers.
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    /// A reason, when `status` is not 200.
    pub error: Option<String>,
}

impl Reply {
    /// A successful reply.
    pub fn ok(body: Vec<u8>) -> Self {
        Reply { status: STATUS_OK, body, error: None }
    }

    /// An error reply.
    pub fn error(status: u16, why: impl Into<String>) -> Self {
        Reply { status, body: Vec::new(), error: Some(why.into()) }
    }

    /// The bytes that go into the signed response.
    pub fn encode(&self) -> Vec<u8> {
        cbor4ii::serde::to_vec(Vec::new(), self).expect("encoding to a Vec cannot fail")
    }

    /// Reads a response body; `None` if it is not a reply.
    pub fn decode(b: &[u8]) -> Option<Reply> {
        cbor4ii::serde::from_slice(b).ok()
    }

    /// [`Reply::decode`] without copying the body out of `b`.
    pub fn decode_ref(b: &[u8]) -> Option<ReplyRef<'_>> {
        cbor4ii::serde::from_slice(b).ok()
    }
}

/// A [`Reply`] read in place: its body borrows the response's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReplyRef<'a> {
    /// See [`Reply::status`].
    pub status: u16,
    /// The service's bytes, inside the response's bytes.
    pub body: &'a [u8],
    /// See [`Reply::error`].
    pub error: Option<String>,
}

/// A paid request handed to a service.
#[derive(Debug, Clone)]
pub struct ServiceRequest {
    /// The request id.
    pub id: RequestId,
    /// Who asked (verified signature).
    pub requester: NodeKey,
    /// The service name.
    pub service: String,
    /// The body.
    pub body: Vec<u8>,
    /// The most bytes the reply may take (its CBOR envelope included).
    pub max_response_bytes: u64,
}

/// A boxed future, as services return it.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A service: an async handler of paid requests. Implemented for closures
/// `Fn(ServiceRequest) -> impl Future<Output = Reply>`.
pub trait Service: Send + Sync + 'static {
    /// Answers one request.
    fn call(&self, req: ServiceRequest) -> BoxFuture<Reply>;
}

impl<F, Fut> Service for F
where
    F: Fn(ServiceRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    fn call(&self, req: ServiceRequest) -> BoxFuture<Reply> {
        Box::pin(self(req))
    }
}

/// A shared service.
pub type SharedService = Arc<dyn Service>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_costs_its_body_plus_a_few_bytes() {
        let r = Reply::ok(vec![0xab; 100_000]);
        let bytes = r.encode();
        assert!(bytes.len() < 100_000 + 32, "{} bytes", bytes.len());
        assert_eq!(Reply::decode(&bytes), Some(r.clone()));
        assert_eq!(Reply::decode(b"not cbor"), None);
        let v = Reply::decode_ref(&bytes).unwrap();
        assert_eq!((v.status, v.body, v.error), (r.status, &r.body[..], None));
        assert!(bytes.as_ptr_range().contains(&v.body.as_ptr()), "the body is read in place");
        assert_eq!(Reply::decode_ref(b"not cbor"), None);
        let e = Reply::error(404, "no such service").encode();
        assert_eq!(Reply::decode_ref(&e).unwrap().error.as_deref(), Some("no such service"));
    }
}
