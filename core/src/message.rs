//! The messages of PoR as plain data: requests, responses, severance notices
//! and syncs, with the canonical bytes each signer signs.
//!
//! Wire encoding (CBOR, length-prefixed) and size limits belong to the
//! behaviours crate; these types only say what is signed and how it checks.

use serde::{Deserialize, Serialize};

use crate::bytes::{Hash32, NodeKey, RequestId, Signature, amount_serde, sha256};
use crate::canonical::{Canon, DOMAIN_NOTICE, DOMAIN_REQUEST, DOMAIN_SYNC_ACK};
use crate::cost::{CostError, EdgeParams, PathQuote, quote};
use crate::crypto::{Signer, Verifier};
use crate::merkle::{Batch, MerklePath, RootCache, blake3, request_leaf, response_leaf};
use crate::voucher::{Amount, ChannelId, SignedVoucher};

/// One hop of a route: the channel crossed and the node it reaches, with the
/// edge's parameters as the requester priced them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteHop {
    /// The channel (edge) crossed.
    pub channel: ChannelId,
    /// The node reached.
    pub node: NodeKey,
    /// The edge's parameters as the requester read them on chain.
    pub params: EdgeParams,
}

/// A route from the requester to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Hops in order; the last hop's node is the server.
    pub hops: Vec<RouteHop>,
    /// The server's promised service time.
    pub service_ms: u64,
}

impl Route {
    /// The server (last hop's node), if the route is not empty.
    pub fn server(&self) -> Option<&NodeKey> {
        self.hops.last().map(|h| &h.node)
    }

    /// The route's price and budgets for a body of `body_bytes`.
    pub fn quote(&self, body_bytes: u64, max_response_bytes: u64) -> Result<PathQuote, CostError> {
        let edges: Vec<EdgeParams> = self.hops.iter().map(|h| h.params).collect();
        quote(&edges, self.service_ms, body_bytes, max_response_bytes)
    }

    /// The position (1-based, as in `n1..nk`) of `node` on the route.
    pub fn position(&self, node: &NodeKey) -> Option<usize> {
        self.hops.iter().position(|h| h.node == *node).map(|i| i + 1)
    }

    fn write(&self, c: &mut Canon) {
        c.u32(self.hops.len() as u32);
        for h in &self.hops {
            c.u64(h.channel.0)
                .fixed(&h.node.0)
                .u64(h.params.latency_ms)
                .u128(h.params.base_fee)
                .u128(h.params.byte_fee);
        }
        c.u64(self.service_ms);
    }
}

/// A request as the requester signed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The requester's node key.
    pub requester: NodeKey,
    /// A random nonce chosen by the requester, so two equal requests have
    /// different ids.
    pub nonce: u64,
    /// The route, ending at the server.
    pub route: Route,
    /// Name of the service at the server.
    pub service: String,
    /// The body (opaque to PoR).
    #[serde(with = "serde_bytes_vec")]
    pub body: Vec<u8>,
    /// The most response bytes the requester accepts and pays for.
    pub max_response_bytes: u64,
    /// What the requester pays for the whole route (`payments[0]`).
    #[serde(with = "amount_serde")]
    pub budget: Amount,
    /// The requester's signature over the root of the batch the request
    /// was signed in ([`Batch::Requests`]); for a batch of one the root is
    /// the request's leaf.
    pub signature: Signature,
    /// The path from the request's leaf to that root (empty for a batch of
    /// one). Not part of the id.
    #[serde(default, skip_serializing_if = "MerklePath::is_empty")]
    pub path: MerklePath,
}

impl Request {
    /// Canonical bytes: every field but the signature and the path, with the
    /// body's BLAKE3 hash in place of the body.
    pub fn signing_bytes(&self) -> Vec<u8> {
        self.signing_bytes_with(&blake3(&self.body))
    }

    /// [`Request::signing_bytes`] with the body's hash already computed.
    pub fn signing_bytes_with(&self, body_hash: &Hash32) -> Vec<u8> {
        let mut c = Canon::new(DOMAIN_REQUEST);
        c.fixed(&self.requester.0).u64(self.nonce);
        self.route.write(&mut c);
        c.str(&self.service)
            .fixed(&body_hash.0)
            .u64(self.body.len() as u64)
            .u64(self.max_response_bytes)
            .u128(self.budget);
        c.take()
    }

    /// The request id: SHA-256 of the signed bytes.
    pub fn id(&self) -> RequestId {
        RequestId(sha256(&self.signing_bytes()).0)
    }

    /// Signs it alone (a batch of one: one signature, no path). A node
    /// signs the requests of one turn together
    /// ([`crate::merkle::sign_batch`]).
    pub fn sign(mut self, signer: &impl Signer) -> Self {
        debug_assert_eq!(signer.public(), self.requester);
        let root = request_leaf(&self.id());
        self.signature = signer.sign(&Batch::Requests.signing_bytes(&self.requester, &root));
        self.path = MerklePath::default();
        self
    }

    /// The root this request's path leads to from its leaf.
    pub fn root(&self, id: &RequestId) -> Hash32 {
        self.path.root(request_leaf(id))
    }

    /// True when the requester's signature holds over the batch this
    /// request's path leads to.
    pub fn verify(&self, v: &impl Verifier) -> bool {
        let root = self.root(&self.id());
        v.verify(&self.requester, &Batch::Requests.signing_bytes(&self.requester, &root), &self.signature)
    }

    /// [`Request::verify`] for a request whose id is known, remembering the
    /// roots verified in `cache` (one verification per batch).
    pub fn verify_cached(&self, id: &RequestId, cache: &mut RootCache, v: &impl Verifier) -> bool {
        cache.verify(Batch::Requests, &self.requester, &self.root(id), &self.path, &self.signature, v)
    }

    /// The price and budgets of this request on its route.
    pub fn quote(&self) -> Result<PathQuote, CostError> {
        self.route.quote(self.body.len() as u64, self.max_response_bytes)
    }
}

/// The server's answer: its leaf `H(request id ‖ H(body))` is in the batch
/// of responses the server signed in one turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The request answered.
    pub request_id: RequestId,
    /// The server's key (the route's last node).
    pub server: NodeKey,
    /// The body.
    #[serde(with = "serde_bytes_vec")]
    pub body: Vec<u8>,
    /// The server's signature over its batch's root ([`Batch::Responses`]);
    /// for a batch of one the root is this response's leaf.
    pub signature: Signature,
    /// The path from the leaf to the root (empty for a batch of one).
    #[serde(default, skip_serializing_if = "MerklePath::is_empty")]
    pub path: MerklePath,
}

impl Response {
    /// An unsigned response; the server signs it with its turn's batch
    /// ([`crate::merkle::sign_batch`]) or alone ([`Response::create`]).
    pub fn unsigned(request_id: RequestId, server: NodeKey, body: Vec<u8>) -> Self {
        Response { request_id, server, body, signature: Signature([0; 64]), path: MerklePath::default() }
    }

    /// The server answers `request_id` with `body`, alone (a batch of one:
    /// one signature, no path).
    pub fn create(request_id: RequestId, body: Vec<u8>, server: &impl Signer) -> Self {
        let mut r = Response::unsigned(request_id, server.public(), body);
        r.signature = server.sign(&Batch::Responses.signing_bytes(&r.server, &r.leaf()));
        r
    }

    /// This response's leaf (hashes the body).
    pub fn leaf(&self) -> Hash32 {
        response_leaf(&self.request_id, &blake3(&self.body))
    }

    /// True when this answers `request_id`, comes from `server`, and the
    /// server's signature holds over the root its path leads to.
    pub fn verify(&self, request_id: &RequestId, server: &NodeKey, v: &impl Verifier) -> bool {
        self.request_id == *request_id
            && self.server == *server
            && v.verify(server, &Batch::Responses.signing_bytes(server, &self.path.root(self.leaf())), &self.signature)
    }

    /// [`Response::verify`], remembering the roots verified in `cache` (one
    /// verification per batch). Hashes the body once.
    pub fn verify_cached(
        &self,
        request_id: &RequestId,
        server: &NodeKey,
        cache: &mut RootCache,
        v: &impl Verifier,
    ) -> bool {
        self.request_id == *request_id
            && self.server == *server
            && cache.verify(Batch::Responses, server, &self.path.root(self.leaf()), &self.path, &self.signature, v)
    }
}

/// Proof that a node cut an edge on the path of a request: it names the
/// request, the channel and the severing transaction, signed by the severer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeveranceNotice {
    /// The request affected.
    pub request_id: RequestId,
    /// The channel severed.
    pub channel: ChannelId,
    /// Hash of the `sever` transaction on chain.
    pub tx_hash: Hash32,
    /// The node that severed.
    pub severer: NodeKey,
    /// The severer's signature over [`SeveranceNotice::signing_bytes`].
    pub signature: Signature,
}

impl SeveranceNotice {
    /// Canonical bytes the severer signs.
    pub fn signing_bytes(request_id: &RequestId, channel: ChannelId, tx_hash: &Hash32, severer: &NodeKey) -> Vec<u8> {
        Canon::new(DOMAIN_NOTICE).fixed(&request_id.0).u64(channel.0).fixed(&tx_hash.0).fixed(&severer.0).take()
    }

    /// The severer signs a notice for `request_id`.
    pub fn create(request_id: RequestId, channel: ChannelId, tx_hash: Hash32, severer: &impl Signer) -> Self {
        let key = severer.public();
        let signature = severer.sign(&Self::signing_bytes(&request_id, channel, &tx_hash, &key));
        SeveranceNotice { request_id, channel, tx_hash, severer: key, signature }
    }

    /// True when the severer's signature holds.
    pub fn verify(&self, v: &impl Verifier) -> bool {
        v.verify(
            &self.severer,
            &Self::signing_bytes(&self.request_id, self.channel, &self.tx_hash, &self.severer),
            &self.signature,
        )
    }
}

/// An overdue request and the late fee owed for it so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overdue {
    /// The request.
    pub request_id: RequestId,
    /// Late fee accrued for it, in yocto, cumulative.
    #[serde(with = "amount_serde")]
    pub amount: Amount,
}

/// The heartbeat between neighbours (DESIGN §2.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncMessage {
    /// The channel synced.
    pub channel: ChannelId,
    /// Sequence number, increasing per channel and direction.
    pub seq: u64,
    /// One cumulative voucher for everything the sender owes on the channel,
    /// if it owes anything new.
    pub voucher: Option<SignedVoucher>,
    /// Overdue requests with the late fee accrued for each.
    pub overdue: Vec<Overdue>,
    /// Severance notices for requests in flight.
    pub notices: Vec<SeveranceNotice>,
    /// The sender is stopping (DESIGN §2.11): it answers the requests it
    /// took but takes no new ones, so send it none. Absent means `false`.
    #[serde(default)]
    pub draining: bool,
}

/// The receiver's signed answer to a sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncAck {
    /// The channel.
    pub channel: ChannelId,
    /// The sequence number acknowledged.
    pub seq: u64,
    /// The highest cumulative amount the receiver now holds from the sender.
    #[serde(with = "amount_serde")]
    pub cumulative: Amount,
    /// Whether the receiver credited the sync's late-fee claims. `false`
    /// when the sync paid less than it claimed ([`Refusal::SyncShort`]): the
    /// sender must not count those claims as confirmed, and repeats them.
    ///
    /// [`Refusal::SyncShort`]: crate::protocol::Refusal::SyncShort
    pub credited: bool,
    /// The receiver's key.
    pub signer: NodeKey,
    /// Signature over [`SyncAck::signing_bytes`].
    pub signature: Signature,
    /// Requests whose severance notice reached the receiver first in this
    /// sync (the copy sent on its own was lost, or overtaken): the sender
    /// owes their lateness up to this sync's arrival, as it owes a lost
    /// response's up to its repeat (DESIGN §2.6). Not signed: the transport
    /// authenticates the peer, and the sender takes only ids whose notice it
    /// did put in a sync this ack covers. Absent means none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub late_notices: Vec<RequestId>,
}

impl SyncAck {
    /// Canonical bytes of a sync ack.
    pub fn signing_bytes(
        channel: ChannelId,
        seq: u64,
        cumulative: Amount,
        credited: bool,
        signer: &NodeKey,
    ) -> Vec<u8> {
        Canon::new(DOMAIN_SYNC_ACK)
            .u64(channel.0)
            .u64(seq)
            .u128(cumulative)
            .u32(u32::from(credited))
            .fixed(&signer.0)
            .take()
    }

    /// Signs an ack.
    pub fn create(channel: ChannelId, seq: u64, cumulative: Amount, credited: bool, signer: &impl Signer) -> Self {
        let key = signer.public();
        let signature = signer.sign(&Self::signing_bytes(channel, seq, cumulative, credited, &key));
        SyncAck { channel, seq, cumulative, credited, signer: key, signature, late_notices: Vec::new() }
    }

    /// True when the signature holds.
    pub fn verify(&self, v: &impl Verifier) -> bool {
        v.verify(
            &self.signer,
            &Self::signing_bytes(self.channel, self.seq, self.cumulative, self.credited, &self.signer),
            &self.signature,
        )
    }
}

/// Serde for byte vectors: a CBOR byte string on the wire (not an array of
/// integers), base64-free hex in JSON.
mod serde_bytes_vec {
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() { s.serialize_str(&hex::encode(v)) } else { s.serialize_bytes(v) }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
                hex::decode(v).map_err(|_| E::custom("body is not hex"))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
        }
        if d.is_human_readable() { d.deserialize_str(V) } else { d.deserialize_byte_buf(V) }
    }
}
