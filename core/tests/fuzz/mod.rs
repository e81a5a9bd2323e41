//! Shared fuzzing helpers for the decoder tests of every crate: strategies
//! for the core's wire types, hostile inputs built from valid encodings
//! (truncated, mutated, arbitrary), and the case count.
//!
//! `core/tests/decoders.rs` uses it as a module; the behaviours' and the
//! node's decoder tests include this file by path, so all of them fuzz the
//! same messages.
#![allow(dead_code)]

use por_core::merkle::MerklePath;
use por_core::protocol::{PaidRequest, Refusal, RefusedBelow, RequestFrame};
use por_core::voucher::RefusedRequest;
use por_core::{
    Ack, ChannelId, EdgeParams, Hash32, NodeKey, Overdue, Request, RequestId, Response, Route, RouteHop,
    SeveranceNotice, Signature, SignedVoucher, SyncAck, SyncMessage, Voucher, Wire,
};
use proptest::prelude::*;
use proptest::sample::Index;

/// Cases per property: `POR_FUZZ_CASES` (the long run, `make fuzz`, sets a
/// million), else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("POR_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// A proptest config with [`cases`] and no failure files (the failing input
/// is printed; the test files stay the only files the tests write).
pub fn config(default: u32) -> ProptestConfig {
    ProptestConfig { cases: cases(default), failure_persistence: None, ..ProptestConfig::default() }
}

/// One edit of a byte string.
#[derive(Debug, Clone, Copy)]
pub enum Edit {
    /// Replace the byte at the index with the value.
    Set(Index, u8),
    /// XOR one bit of the byte at the index.
    Flip(Index, u8),
    /// Insert the value before the index.
    Insert(Index, u8),
    /// Delete the byte at the index.
    Delete(Index),
    /// Cut everything from the index on.
    Truncate(Index),
    /// Duplicate a slice (index, length up to 16) in place.
    Repeat(Index, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<Index>(), interesting_byte()).prop_map(|(i, b)| Edit::Set(i, b)),
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Edit::Flip(i, b)),
        2 => (any::<Index>(), interesting_byte()).prop_map(|(i, b)| Edit::Insert(i, b)),
        2 => any::<Index>().prop_map(Edit::Delete),
        1 => any::<Index>().prop_map(Edit::Truncate),
        1 => (any::<Index>(), 1u8..16).prop_map(|(i, n)| Edit::Repeat(i, n)),
    ]
}

/// Bytes that mean something to CBOR and JSON decoders: length prefixes of
/// every width, indefinite lengths, breaks, tags, and JSON punctuation.
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        any::<u8>(),
        prop::sample::select(vec![
            0x00, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1f, 0x40, 0x5b, 0x5f, 0x60, 0x7b, 0x7f, 0x80, 0x9b, 0x9f, 0xa0, 0xbb,
            0xbf, 0xc0, 0xd8, 0xf4, 0xf5, 0xf6, 0xf7, 0xfb, 0xff, b'{', b'}', b'[', b']', b'"', b'\\', b':', b',',
            b'-', b'0', b'9', b'e', b'.', b'n', b't',
        ]),
    ]
}

/// Applies `edits` to `bytes` in order.
pub fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = bytes.len();
        match *e {
            Edit::Set(i, b) if len > 0 => bytes[i.index(len)] = b,
            Edit::Flip(i, bit) if len > 0 => bytes[i.index(len)] ^= 1 << bit,
            Edit::Insert(i, b) => bytes.insert(i.index(len + 1), b),
            Edit::Delete(i) if len > 0 => {
                bytes.remove(i.index(len));
            }
            Edit::Truncate(i) => bytes.truncate(i.index(len + 1)),
            Edit::Repeat(i, n) if len > 0 => {
                let at = i.index(len);
                let end = (at + usize::from(n)).min(len);
                let dup: Vec<u8> = bytes[at..end].to_vec();
                bytes.splice(at..at, dup);
            }
            _ => {}
        }
    }
    bytes
}

/// What to feed a decoder, derived from a valid encoding.
#[derive(Debug, Clone)]
pub enum Hostile {
    /// Arbitrary bytes, unrelated to the encoding.
    Arbitrary(Vec<u8>),
    /// The encoding cut at the index.
    Truncated(Index),
    /// The encoding with edits.
    Mutated(Vec<Edit>),
}

/// A mix of the three kinds of hostile input.
pub fn hostile() -> impl Strategy<Value = Hostile> {
    prop_oneof![
        1 => prop::collection::vec(interesting_byte(), 0..256).prop_map(Hostile::Arbitrary),
        1 => any::<Index>().prop_map(Hostile::Truncated),
        3 => prop::collection::vec(edit(), 1..8).prop_map(Hostile::Mutated),
    ]
}

impl Hostile {
    /// The hostile input for the valid encoding `valid`.
    pub fn bytes(&self, valid: &[u8]) -> Vec<u8> {
        match self {
            Hostile::Arbitrary(b) => b.clone(),
            // A strict prefix (an empty encoding stays empty).
            Hostile::Truncated(i) => valid[..i.index(valid.len().max(1)).min(valid.len())].to_vec(),
            Hostile::Mutated(edits) => apply(valid.to_vec(), edits),
        }
    }
}

// ---- strategies for the core's wire types ----

fn array32() -> impl Strategy<Value = [u8; 32]> {
    prop_oneof![1 => Just([0u8; 32]), 4 => any::<[u8; 32]>()]
}

/// A node key (any 32 bytes; decoding does not check the curve).
pub fn node_key() -> impl Strategy<Value = NodeKey> {
    array32().prop_map(NodeKey)
}

/// A hash.
pub fn hash32() -> impl Strategy<Value = Hash32> {
    array32().prop_map(Hash32)
}

/// A request id.
pub fn request_id() -> impl Strategy<Value = RequestId> {
    array32().prop_map(RequestId)
}

/// A signature (any 64 bytes: decoders do not verify).
pub fn signature() -> impl Strategy<Value = Signature> {
    (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(a, b)| {
        let mut s = [0u8; 64];
        s[..32].copy_from_slice(&a);
        s[32..].copy_from_slice(&b);
        Signature(s)
    })
}

/// An amount, often small, sometimes at the edges of `u128`.
pub fn amount() -> impl Strategy<Value = u128> {
    prop_oneof![0u128..1_000_000, Just(u128::MAX), Just(u64::MAX as u128 + 1), any::<u128>()]
}

/// A short text, any Unicode.
pub fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..12).prop_map(String::from_iter)
}

/// A short body.
pub fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..48)
}

/// A channel id.
pub fn channel() -> impl Strategy<Value = ChannelId> {
    prop_oneof![0u64..16, any::<u64>()].prop_map(ChannelId)
}

/// Edge parameters.
pub fn edge_params() -> impl Strategy<Value = EdgeParams> {
    (any::<u64>(), amount(), amount()).prop_map(|(latency_ms, base_fee, byte_fee)| EdgeParams {
        latency_ms,
        base_fee,
        byte_fee,
    })
}

/// A route of up to four hops.
pub fn route() -> impl Strategy<Value = Route> {
    let hop =
        (channel(), node_key(), edge_params()).prop_map(|(channel, node, params)| RouteHop { channel, node, params });
    (prop::collection::vec(hop, 0..4), any::<u64>()).prop_map(|(hops, service_ms)| Route { hops, service_ms })
}

/// A Merkle path of up to five steps (empty half the time: a batch of one).
pub fn merkle_path() -> impl Strategy<Value = MerklePath> {
    prop_oneof![
        Just(MerklePath::default()),
        (any::<u32>(), prop::collection::vec(hash32(), 1..6)).prop_map(|(sides, siblings)| {
            let mask = (1u32 << siblings.len()) - 1;
            MerklePath::new(sides & mask, siblings).expect("within the limits")
        }),
    ]
}

/// A request (signature not valid: decoders do not verify).
pub fn request() -> impl Strategy<Value = Request> {
    (node_key(), any::<u64>(), route(), text(), body(), any::<u64>(), amount(), signature(), merkle_path()).prop_map(
        |(requester, nonce, route, service, body, max_response_bytes, budget, signature, path)| Request {
            requester,
            nonce,
            route,
            service,
            body,
            max_response_bytes,
            budget,
            signature,
            path,
        },
    )
}

/// A response.
pub fn response() -> impl Strategy<Value = Response> {
    (request_id(), node_key(), body(), signature(), merkle_path())
        .prop_map(|(request_id, server, body, signature, path)| Response { request_id, server, body, signature, path })
}

/// A frame of up to three paid requests under one voucher.
pub fn request_frame() -> impl Strategy<Value = RequestFrame> {
    (signed_voucher(), prop::collection::vec(request(), 1..4))
        .prop_map(|(voucher, requests)| RequestFrame { voucher, requests })
}

/// A signed voucher.
pub fn signed_voucher() -> impl Strategy<Value = SignedVoucher> {
    (text(), channel(), node_key(), amount(), signature()).prop_map(
        |(contract, channel, payer, cumulative, signature)| SignedVoucher {
            voucher: Voucher { contract, channel, payer, cumulative },
            signature,
        },
    )
}

/// A frame ack accepting and refusing up to three requests each.
pub fn ack() -> impl Strategy<Value = Ack> {
    let refused = (request_id(), refusal()).prop_map(|(request_id, reason)| RefusedRequest { request_id, reason });
    (hash32(), prop::collection::vec(request_id(), 0..4), node_key(), signature(), prop::collection::vec(refused, 0..3))
        .prop_map(|(voucher_digest, accepted, payee, signature, refused)| Ack {
            voucher_digest,
            accepted,
            payee,
            signature,
            refused,
        })
}

/// A severance notice.
pub fn notice() -> impl Strategy<Value = SeveranceNotice> {
    (request_id(), channel(), hash32(), node_key(), signature()).prop_map(
        |(request_id, channel, tx_hash, severer, signature)| SeveranceNotice {
            request_id,
            channel,
            tx_hash,
            severer,
            signature,
        },
    )
}

/// A sync with up to three overdue entries and notices.
pub fn sync_message() -> impl Strategy<Value = SyncMessage> {
    let overdue = (request_id(), amount()).prop_map(|(request_id, amount)| Overdue { request_id, amount });
    (
        channel(),
        any::<u64>(),
        prop::option::of(signed_voucher()),
        prop::collection::vec(overdue, 0..3),
        prop::collection::vec(notice(), 0..3),
        any::<bool>(),
    )
        .prop_map(|(channel, seq, voucher, overdue, notices, draining)| SyncMessage {
            channel,
            seq,
            voucher,
            overdue,
            notices,
            draining,
        })
}

/// A sync ack.
pub fn sync_ack() -> impl Strategy<Value = SyncAck> {
    (
        channel(),
        any::<u64>(),
        amount(),
        any::<bool>(),
        node_key(),
        signature(),
        proptest::collection::vec(request_id(), 0..3),
    )
        .prop_map(|(channel, seq, cumulative, credited, signer, signature, late_notices)| SyncAck {
            channel,
            seq,
            cumulative,
            credited,
            signer,
            signature,
            late_notices,
        })
}

/// A paid request.
pub fn paid_request() -> impl Strategy<Value = PaidRequest> {
    (request(), signed_voucher()).prop_map(|(request, voucher)| PaidRequest { request, voucher })
}

/// A refusal reason.
pub fn refusal() -> impl Strategy<Value = Refusal> {
    proptest::sample::select(vec![
        Refusal::Busy,
        Refusal::UnknownEdge,
        Refusal::NoTerms,
        Refusal::Draining,
        Refusal::BadVoucher,
        Refusal::Other,
    ])
}

/// Any message between neighbours.
pub fn wire() -> impl Strategy<Value = Wire> {
    prop_oneof![
        paid_request().prop_map(|p| Wire::Request(Box::new(p))),
        request_frame().prop_map(|f| Wire::Requests(Box::new(f))),
        ack().prop_map(Wire::Ack),
        response().prop_map(|r| Wire::Response(Box::new(r))),
        notice().prop_map(Wire::Notice),
        sync_message().prop_map(|s| Wire::Sync(Box::new(s))),
        sync_ack().prop_map(Wire::SyncAck),
        (request_id(), channel(), refusal()).prop_map(|(request_id, channel, reason)| Wire::Refused(RefusedBelow {
            request_id,
            reason,
            channel
        })),
    ]
}

// ---- hostile shapes ----

/// `depth` nested CBOR arrays of one element around a zero.
pub fn cbor_nested_arrays(depth: usize) -> Vec<u8> {
    let mut v = vec![0x81; depth];
    v.push(0x00);
    v
}

/// `depth` nested CBOR maps `{0: {0: …}}` around a zero.
pub fn cbor_nested_maps(depth: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(2 * depth + 1);
    for _ in 0..depth {
        v.extend_from_slice(&[0xa1, 0x00]);
    }
    v.push(0x00);
    v
}

/// `depth` nested indefinite-length CBOR arrays, never closed.
pub fn cbor_nested_indefinite(depth: usize) -> Vec<u8> {
    vec![0x9f; depth]
}

/// `depth` nested CBOR tags around a zero.
pub fn cbor_nested_tags(depth: usize) -> Vec<u8> {
    let mut v = vec![0xc6; depth];
    v.push(0x00);
    v
}

/// CBOR heads declaring huge lengths (byte and text strings, arrays, maps)
/// with almost nothing after them.
pub fn cbor_huge_lengths() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for major in [0x40u8, 0x60, 0x80, 0xa0] {
        out.push(vec![major | 0x1a, 0xff, 0xff, 0xff, 0xff, 0x00]);
        out.push(vec![major | 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00]);
        out.push(vec![major | 0x1b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00]);
    }
    out
}

/// `depth` nested JSON arrays.
pub fn json_nested_arrays(depth: usize) -> Vec<u8> {
    let mut v = vec![b'['; depth];
    v.extend(std::iter::repeat_n(b']', depth));
    v
}

/// `depth` nested JSON objects `{"a":{"a":…}}`.
pub fn json_nested_objects(depth: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(6 * depth);
    for _ in 0..depth {
        v.extend_from_slice(br#"{"a":"#);
    }
    v.extend_from_slice(b"0");
    v.extend(std::iter::repeat_n(b'}', depth));
    v
}
