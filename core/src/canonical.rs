//! Canonical, domain-separated byte strings for every signed object.
//!
//! Every signature in PoR is over `encode(domain, fields…)`, built with
//! [`Canon`]: the domain tag, then each field in a fixed order with a fixed
//! width (integers big-endian) or a `u32` big-endian length prefix (strings and
//! byte strings). Two different objects, or the same fields under two domains,
//! never give the same bytes. The node signs and the contract verifies these
//! very bytes; golden vectors in `core/tests/vectors/` pin them down.

/// Domain tag of a cumulative voucher.
pub const DOMAIN_VOUCHER: &str = "por/voucher/v1";
/// Domain tag of a payee's acknowledgement of one frame of paid requests:
/// the voucher that came with them and the ids it accepted.
pub const DOMAIN_ACK: &str = "por/ack/v2";
/// Domain tag of a request's fields (its id is SHA-256 of these bytes).
pub const DOMAIN_REQUEST: &str = "por/request/v2";
/// Domain tag of a request's leaf in its requester's batch.
pub const DOMAIN_REQUEST_LEAF: &str = "por/request-leaf/v2";
/// Domain tag of the root a requester signs over one batch of requests.
pub const DOMAIN_REQUEST_ROOT: &str = "por/request-root/v2";
/// Domain tag of a response's leaf, `H(request id ‖ H(body))`, in its
/// server's batch.
pub const DOMAIN_RESPONSE_LEAF: &str = "por/response-leaf/v2";
/// Domain tag of the root a server signs over one batch of responses.
pub const DOMAIN_RESPONSE_ROOT: &str = "por/response-root/v2";
/// Domain tag of an inner node of a batch's Merkle tree.
pub const DOMAIN_MERKLE_NODE: &str = "por/merkle-node/v2";
/// Domain tag of a severance notice.
pub const DOMAIN_NOTICE: &str = "por/notice/v1";
/// Domain tag of a sync acknowledgement.
pub const DOMAIN_SYNC_ACK: &str = "por/sync-ack/v1";
/// Domain tag of a registration proof (the node key over the contract and
/// the registering account).
pub const DOMAIN_REGISTRATION: &str = "por/registration/v1";

/// Builder of canonical bytes.
#[derive(Debug, Default, Clone)]
pub struct Canon(Vec<u8>);

impl Canon {
    /// Starts the bytes of an object of `domain`.
    pub fn new(domain: &str) -> Self {
        let mut c = Canon(Vec::with_capacity(128));
        c.bytes(domain.as_bytes());
        c
    }

    /// Appends a `u8`.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }

    /// Appends a `u32`, big-endian.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends a `u64`, big-endian.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends a `u128`, big-endian.
    pub fn u128(&mut self, v: u128) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends fixed-width bytes (their width is part of the field's type).
    pub fn fixed(&mut self, v: &[u8]) -> &mut Self {
        self.0.extend_from_slice(v);
        self
    }

    /// Appends variable-length bytes with a `u32` length prefix.
    ///
    /// # Panics
    /// If `v` is longer than `u32::MAX`; no object PoR signs comes near that
    /// (bodies are hashed first).
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        let len = u32::try_from(v.len()).expect("canonical field longer than 4 GiB");
        self.u32(len);
        self.0.extend_from_slice(v);
        self
    }

    /// Appends a UTF-8 string with a `u32` length prefix.
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }

    /// The bytes built so far.
    pub fn finish(&self) -> Vec<u8> {
        self.0.clone()
    }

    /// Takes the bytes out, leaving the builder empty (ends a chain of
    /// appends without a copy).
    pub fn take(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_separate_and_lengths_prefix() {
        let a = Canon::new(DOMAIN_VOUCHER).u64(1).finish();
        let b = Canon::new(DOMAIN_ACK).u64(1).finish();
        assert_ne!(a, b);
        // "ab" + "c" differs from "a" + "bc" thanks to the prefixes.
        let x = Canon::new("t").str("ab").str("c").finish();
        let y = Canon::new("t").str("a").str("bc").finish();
        assert_ne!(x, y);
        assert_eq!(&a[..4], &(DOMAIN_VOUCHER.len() as u32).to_be_bytes());
    }
}
