//! Every decoder of the wire survives anything: the relay and sync messages,
//! vouchers, acks, notices, syncs and receipts through the CBOR codec, the
//! lanes' frames (read as the lanes read them) and the length-prefixed
//! frames of the request-response codec, fed arbitrary,
//! truncated and mutated bytes and hostile shapes (deep nesting, huge
//! declared lengths). Each answer is the message or a typed error; valid
//! messages round-trip.
//!
//! Cases per property: `POR_FUZZ_CASES` (default 256; `make fuzz` runs a
//! million).

#[path = "../../core/tests/fuzz/mod.rs"]
mod fuzz;

use std::fmt::Debug;
use std::io::ErrorKind;

use futures::executor::block_on;
use futures::io::Cursor;
use libp2p::request_response::Codec;
use por_behaviours::behaviour::MAX_RECEIPT;
use por_behaviours::codec::{decode, encode, read_frame, write_frame};
use por_behaviours::frame::{self, FrameBuf, FrameReader};
use por_behaviours::protocol::{MAX_RELAY_FRAME, MAX_RELAY_MESSAGE, MAX_SYNC_MESSAGE, RELAY_PROTOCOL};
use por_behaviours::{CborLpCodec, FrameError, Receipt};
use por_core::protocol::{PaidRequest, Refusal};
use por_core::{Ack, Request, Response, SeveranceNotice, SignedVoucher, SyncAck, SyncMessage, Wire};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Stack of the threads the hostile shapes are decoded on: tokio's default
/// worker stack, where the node's connection tasks decode.
const WORKER_STACK: usize = 2 * 1024 * 1024;

/// Decodes `input` as `M`: the message (which then round-trips) or a
/// `FrameError::Decode`, never anything else.
fn check<M>(input: &[u8]) -> Result<Option<M>, TestCaseError>
where
    M: Serialize + DeserializeOwned + PartialEq + Debug,
{
    match decode::<M>(input) {
        Ok(m) => {
            let again: M = decode(&encode(&m).map_err(|e| TestCaseError::fail(e.to_string()))?)
                .map_err(|e| TestCaseError::fail(format!("re-encoded message does not decode: {e}")))?;
            prop_assert_eq!(&again, &m);
            Ok(Some(m))
        }
        Err(FrameError::Decode(_)) => Ok(None),
        Err(e) => Err(TestCaseError::fail(format!("not a decode error: {e:?}"))),
    }
}

fn receipt() -> impl Strategy<Value = Receipt> {
    let reason = prop::sample::select(vec![
        Refusal::UnknownChannel,
        Refusal::BadSignature,
        Refusal::Underpaid,
        Refusal::Busy,
        Refusal::Other,
    ]);
    prop_oneof![Just(Receipt::Accepted), (reason, fuzz::text()).prop_map(|(r, d)| Receipt::refused(r, d))]
}

/// One property per decoder: a valid message round-trips, and a hostile
/// input derived from its encoding decodes or fails with a typed error (a
/// strict prefix of a message always fails).
macro_rules! decoder_property {
    ($($name:ident: $ty:ty = $strategy:expr;)*) => {
        proptest! {
            #![proptest_config(fuzz::config(256))]
            $(
                #[test]
                fn $name(m in $strategy, h in fuzz::hostile()) {
                    let valid = encode(&m).unwrap();
                    prop_assert_eq!(&decode::<$ty>(&valid).unwrap(), &m);
                    let got = check::<$ty>(&h.bytes(&valid))?;
                    if let fuzz::Hostile::Truncated(_) = h {
                        prop_assert!(got.is_none() || valid.is_empty(), "a strict prefix decoded: {:?}", got);
                    }
                }
            )*
        }
    };
}

decoder_property! {
    wire_decoder: Wire = fuzz::wire();
    paid_request_decoder: PaidRequest = fuzz::paid_request();
    request_decoder: Request = fuzz::request();
    response_decoder: Response = fuzz::response();
    voucher_decoder: SignedVoucher = fuzz::signed_voucher();
    ack_decoder: Ack = fuzz::ack();
    notice_decoder: SeveranceNotice = fuzz::notice();
    sync_decoder: SyncMessage = fuzz::sync_message();
    sync_ack_decoder: SyncAck = fuzz::sync_ack();
    receipt_decoder: Receipt = receipt();
}

/// A frame: the 4-byte big-endian length and the body.
fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// An I/O error a codec may return on hostile input: the stream ended early,
/// or the frame was too large or not the message.
fn typed_io_error(e: &std::io::Error) -> Result<(), TestCaseError> {
    match e.kind() {
        ErrorKind::UnexpectedEof => Ok(()),
        ErrorKind::InvalidData => {
            prop_assert!(
                e.get_ref().is_some_and(|inner| inner.is::<FrameError>()),
                "InvalidData without a FrameError: {e:?}"
            );
            Ok(())
        }
        _ => Err(TestCaseError::fail(format!("unexpected I/O error: {e:?}"))),
    }
}

/// Reads one frame from `bytes` as a lane does.
fn read_lane_frame(bytes: Vec<u8>, max: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut io = Cursor::new(bytes);
    let mut r = FrameReader::default();
    block_on(futures::future::poll_fn(|cx| r.poll_frame(&mut io, cx, max)))
}

proptest! {
    #![proptest_config(fuzz::config(256))]

    /// The lanes' frames: a frame of a wire message (a stream's messages)
    /// or of a receipt (its receipts), made hostile, reads as a frame whose
    /// entries are the messages or a typed error; a valid one round-trips.
    #[test]
    fn lane_frames(m in fuzz::wire(), r in receipt(), seq in any::<u64>(), h in fuzz::hostile(), side in any::<bool>()) {
        let mut f = FrameBuf::new();
        if side {
            f.push_message(&encode(&m).unwrap());
        } else {
            f.push_receipt(seq, &r).unwrap();
        }
        let valid = f.finish();
        let body = read_lane_frame(valid.clone(), MAX_RELAY_FRAME).unwrap().unwrap();
        if side {
            prop_assert_eq!(&frame::messages::<Wire>(&body, MAX_RELAY_MESSAGE).unwrap()[0].0, &m);
        } else {
            prop_assert_eq!(&frame::receipts(&body).unwrap()[0], &(seq, r.clone()));
        }
        match read_lane_frame(h.bytes(&valid), MAX_RELAY_FRAME) {
            Ok(Some(body)) => {
                // Entries or a typed error; either side's reading of it.
                let _ = frame::messages::<Wire>(&body, MAX_RELAY_MESSAGE);
                let _ = frame::receipts(&body);
            }
            Ok(None) => {}
            Err(e) => typed_io_error(&e)?,
        }
    }

    /// The relay lane's codec, as the swarm runs it: a framed wire message
    /// (request side) or receipt (response side), made hostile, reads as the
    /// message or a typed I/O error; a valid one round-trips.
    #[test]
    fn frame_codec(m in fuzz::wire(), r in receipt(), h in fuzz::hostile(), side in any::<bool>()) {
        let mut codec = CborLpCodec::<Wire, Receipt>::new(MAX_RELAY_MESSAGE, MAX_RECEIPT);
        let valid = if side { framed(&encode(&m).unwrap()) } else { framed(&encode(&r).unwrap()) };
        let mut io = Cursor::new(valid.clone());
        if side {
            prop_assert_eq!(&block_on(codec.read_request(&RELAY_PROTOCOL, &mut io)).unwrap(), &m);
        } else {
            prop_assert_eq!(&block_on(codec.read_response(&RELAY_PROTOCOL, &mut io)).unwrap(), &r);
        }
        let mut io = Cursor::new(h.bytes(&valid));
        let got = if side {
            block_on(codec.read_request(&RELAY_PROTOCOL, &mut io)).map(|_| ())
        } else {
            block_on(codec.read_response(&RELAY_PROTOCOL, &mut io)).map(|_| ())
        };
        if let Err(e) = got {
            typed_io_error(&e)?;
        }
    }

    /// Arbitrary frame headers: a length over the limit is refused after
    /// reading the 4 header bytes only, before anything is allocated or read.
    #[test]
    fn frame_header(len in prop_oneof![any::<u32>(), (MAX_SYNC_MESSAGE as u32 - 2)..(MAX_SYNC_MESSAGE as u32 + 2)],
                    tail in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend_from_slice(&tail);
        let mut io = Cursor::new(bytes);
        match block_on(read_frame(&mut io, MAX_SYNC_MESSAGE)) {
            Ok(body) => prop_assert_eq!(body.len(), len as usize),
            Err(e) if len as usize > MAX_SYNC_MESSAGE => {
                prop_assert_eq!(e.kind(), ErrorKind::InvalidData);
                prop_assert_eq!(io.position(), 4, "read past the header of an oversized frame");
            }
            Err(e) => {
                prop_assert_eq!(e.kind(), ErrorKind::UnexpectedEof);
                prop_assert!(tail.len() < len as usize);
            }
        }
    }

    /// write_frame then read_frame is the identity under the limit.
    #[test]
    fn frame_roundtrip(body in prop::collection::vec(any::<u8>(), 0..1024), max in 0usize..1100) {
        let mut io = Cursor::new(Vec::new());
        let wrote = block_on(write_frame(&mut io, &body, max));
        prop_assert_eq!(wrote.is_ok(), body.len() <= max);
        if wrote.is_ok() {
            io.set_position(0);
            prop_assert_eq!(block_on(read_frame(&mut io, max)).unwrap(), body);
        } else {
            prop_assert!(io.into_inner().is_empty(), "an oversized frame was partly written");
        }
    }
}

/// Runs `f` on a thread with a worker's stack; a stack overflow aborts the
/// test binary, a panic fails the test.
fn on_worker_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().stack_size(WORKER_STACK).spawn(f).unwrap().join().unwrap();
}

/// A CBOR map `{key: value}`, `value` already encoded.
fn cbor_map1(key: &str, value: &[u8]) -> Vec<u8> {
    let mut out = vec![0xa1];
    out.extend(encode(&key).unwrap());
    out.extend_from_slice(value);
    out
}

/// Every hostile shape against every wire decoder.
fn hostile_shapes() -> Vec<(String, Vec<u8>)> {
    const DEPTH: usize = 100_000;
    let mut shapes = vec![
        ("nested arrays".to_string(), fuzz::cbor_nested_arrays(DEPTH)),
        ("nested maps".to_string(), fuzz::cbor_nested_maps(DEPTH)),
        ("nested indefinite arrays".to_string(), fuzz::cbor_nested_indefinite(DEPTH)),
        ("nested tags".to_string(), fuzz::cbor_nested_tags(DEPTH)),
    ];
    for (what, deep) in shapes.clone() {
        // Deep values where a decoder skips or descends: an unknown field of
        // a struct, the payload of an enum variant, and a message field.
        shapes.push((format!("{what} in an unknown field"), cbor_map1("zzz", &deep)));
        shapes.push((format!("{what} in Wire::Sync"), cbor_map1("Sync", &deep)));
        shapes.push((format!("{what} in Receipt::Refused"), cbor_map1("Refused", &deep)));
        shapes.push((format!("{what} as a voucher"), cbor_map1("voucher", &deep)));
    }
    for (i, huge) in fuzz::cbor_huge_lengths().into_iter().enumerate() {
        shapes.push((format!("huge length #{i}"), huge.clone()));
        shapes.push((format!("huge length #{i} as a body"), cbor_map1("body", &huge)));
        shapes.push((format!("huge length #{i} in Wire::Request"), cbor_map1("Request", &huge)));
    }
    shapes
}

macro_rules! survives_shapes {
    ($shapes:expr, $($ty:ty),*) => {
        for (what, bytes) in $shapes {
            $(
                let shape = what.clone();
                let input = bytes.clone();
                on_worker_stack(move || match decode::<$ty>(&input) {
                    Err(FrameError::Decode(_)) => {}
                    other => panic!("{}: {shape}: {other:?}", stringify!($ty)),
                });
            )*
        }
    };
}

#[test]
fn hostile_shapes_fail_cleanly() {
    survives_shapes!(
        hostile_shapes(),
        Wire,
        PaidRequest,
        Request,
        Response,
        SignedVoucher,
        Ack,
        SeveranceNotice,
        SyncMessage,
        SyncAck,
        Receipt
    );
}

/// Huge declared lengths inside a frame's CBOR are not allocated: the
/// decoder reads what is there and fails, and at most the frame's own
/// (limited) length was allocated.
#[test]
fn huge_inner_lengths_in_a_frame_fail_cleanly() {
    for huge in fuzz::cbor_huge_lengths() {
        let mut codec = CborLpCodec::<Wire, Receipt>::new(MAX_RELAY_MESSAGE, MAX_RECEIPT);
        let mut io = Cursor::new(framed(&cbor_map1("Request", &huge)));
        let e = block_on(codec.read_request(&RELAY_PROTOCOL, &mut io)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
    }
}

/// The same in a lane's frame: the entry fails as malformed, naming it.
#[test]
fn huge_inner_lengths_in_a_lane_frame_fail_cleanly() {
    for huge in fuzz::cbor_huge_lengths() {
        let mut f = FrameBuf::new();
        f.push_message(&cbor_map1("Request", &huge));
        let frame = f.finish();
        let body = read_lane_frame(frame, MAX_RELAY_FRAME).unwrap().unwrap();
        match frame::messages::<Wire>(&body, MAX_RELAY_MESSAGE) {
            Err(FrameError::Decode(why)) => assert!(why.starts_with("entry 0: "), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}

/// A frame header at the limit with no body: the limit allows the
/// allocation, the missing body is an early end of stream.
#[test]
fn frame_at_the_limit_without_a_body() {
    let mut io = Cursor::new((MAX_RELAY_MESSAGE as u32).to_be_bytes().to_vec());
    let e = block_on(read_frame(&mut io, MAX_RELAY_MESSAGE)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnexpectedEof);
    let mut io = Cursor::new((MAX_RELAY_MESSAGE as u32 + 1).to_be_bytes().to_vec());
    let e = block_on(read_frame(&mut io, MAX_RELAY_MESSAGE)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData);
    assert!(e.to_string().contains(&format!("limit of {MAX_RELAY_MESSAGE} bytes")), "{e}");
}
