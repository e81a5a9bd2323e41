//! The core's own decoders survive anything: the serde impls of the wire
//! types (hex keys and hashes, decimal amounts, hex bodies on JSON; byte
//! strings and integers on CBOR), fed arbitrary, truncated and mutated input
//! and hostile shapes. JSON is what the API and the contract's views carry;
//! CBOR through a slice is what the node's store reads back. The wire codec
//! itself is fuzzed in `behaviours/tests/decoders.rs`.
//!
//! Cases per property: `POR_FUZZ_CASES` (default 256; `make fuzz` runs a
//! million).

mod fuzz;

use std::fmt::Debug;

use por_core::merkle::MerklePath;
use por_core::protocol::RequestFrame;
use por_core::{Ack, EdgeParams, Hash32, Outcome, Route, SeveranceNotice, SignedVoucher, SyncMessage, Wire};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// JSON: the value (which then round-trips) or a `serde_json::Error`.
fn check_json<M>(input: &[u8]) -> Result<Option<M>, TestCaseError>
where
    M: Serialize + DeserializeOwned + PartialEq + Debug,
{
    match serde_json::from_slice::<M>(input) {
        Ok(m) => {
            let again: M = serde_json::from_slice(&serde_json::to_vec(&m).unwrap())
                .map_err(|e| TestCaseError::fail(format!("re-encoded value does not decode: {e}")))?;
            prop_assert_eq!(&again, &m);
            Ok(Some(m))
        }
        Err(_) => Ok(None),
    }
}

/// CBOR through a slice: the value (which then round-trips) or a typed error.
fn check_cbor<M>(input: &[u8]) -> Result<Option<M>, TestCaseError>
where
    M: Serialize + DeserializeOwned + PartialEq + Debug,
{
    match cbor4ii::serde::from_slice::<M>(input) {
        Ok(m) => {
            let bytes = cbor4ii::serde::to_vec(Vec::new(), &m).unwrap();
            let again: M = cbor4ii::serde::from_slice(&bytes)
                .map_err(|e| TestCaseError::fail(format!("re-encoded value does not decode: {e}")))?;
            prop_assert_eq!(&again, &m);
            Ok(Some(m))
        }
        Err(_) => Ok(None),
    }
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Connected),
        (prop::collection::vec(any::<u32>(), 0..6), fuzz::amount()).prop_map(|(mut nodes, stake)| {
            nodes.sort_unstable();
            Outcome::Partitioned { nodes, stake }
        }),
    ]
}

/// One property per type and format: a valid value round-trips, and a
/// hostile input derived from its encoding decodes (and round-trips) or
/// fails with the format's error.
macro_rules! decoder_property {
    ($($name:ident: $ty:ty = $strategy:expr;)*) => {
        proptest! {
            #![proptest_config(fuzz::config(256))]
            $(
                #[test]
                fn $name(m in $strategy, h in fuzz::hostile(), json in any::<bool>()) {
                    if json {
                        let valid = serde_json::to_vec(&m).unwrap();
                        prop_assert_eq!(&serde_json::from_slice::<$ty>(&valid).unwrap(), &m);
                        check_json::<$ty>(&h.bytes(&valid))?;
                    } else {
                        let valid = cbor4ii::serde::to_vec(Vec::new(), &m).unwrap();
                        prop_assert_eq!(&cbor4ii::serde::from_slice::<$ty>(&valid).unwrap(), &m);
                        let got = check_cbor::<$ty>(&h.bytes(&valid))?;
                        if let fuzz::Hostile::Truncated(_) = h {
                            prop_assert!(got.is_none(), "a strict prefix decoded: {:?}", got);
                        }
                    }
                }
            )*
        }
    };
}

decoder_property! {
    wire_json_and_cbor: Wire = fuzz::wire();
    frame_json_and_cbor: RequestFrame = fuzz::request_frame();
    ack_json_and_cbor: Ack = fuzz::ack();
    merkle_path_json_and_cbor: MerklePath = fuzz::merkle_path();
    voucher_json_and_cbor: SignedVoucher = fuzz::signed_voucher();
    notice_json_and_cbor: SeveranceNotice = fuzz::notice();
    sync_json_and_cbor: SyncMessage = fuzz::sync_message();
    route_json_and_cbor: Route = fuzz::route();
    edge_params_json_and_cbor: EdgeParams = fuzz::edge_params();
    partition_outcome_json_and_cbor: Outcome = outcome();
}

proptest! {
    #![proptest_config(fuzz::config(256))]

    /// Amounts on JSON: a decimal string or a number; anything else (signs,
    /// floats, overflow, garbage) is an error, never a wrong amount.
    #[test]
    fn amount_json(s in "[-+]?[0-9]{0,45}(\\.[0-9]{0,3})?(e[0-9]{1,3})?", quoted in any::<bool>()) {
        let json = if quoted { format!(r#"{{"latency_ms":1,"base_fee":"{s}","byte_fee":"0"}}"#) }
            else { format!(r#"{{"latency_ms":1,"base_fee":{s},"byte_fee":"0"}}"#) };
        if let Ok(p) = serde_json::from_str::<EdgeParams>(&json) {
            // Only an integer that fits is accepted, and read exactly ("-0"
            // is zero).
            let digits = s.strip_prefix('-').unwrap_or(&s);
            prop_assert_eq!(digits.parse::<u128>(), Ok(p.base_fee), "{} read as {}", json, p.base_fee);
            prop_assert!(!s.starts_with('-') || p.base_fee == 0);
        }
    }

    /// Keys, hashes and signatures on JSON: 64/128 hex characters exactly.
    #[test]
    fn hex_fields_json(s in "[0-9a-fA-FxX ]{0,140}") {
        let json = format!(r#""{s}""#);
        let key = serde_json::from_str::<por_core::NodeKey>(&json);
        prop_assert_eq!(key.is_ok(), s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()));
        let sig = serde_json::from_str::<por_core::Signature>(&json);
        prop_assert_eq!(sig.is_ok(), s.len() == 128 && s.chars().all(|c| c.is_ascii_hexdigit()));
    }
}

/// Runs `f` on a thread with tokio's default worker stack (2 MiB).
fn on_worker_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().stack_size(2 * 1024 * 1024).spawn(f).unwrap().join().unwrap();
}

#[test]
fn deep_nesting_fails_cleanly() {
    const DEPTH: usize = 100_000;
    let json = [fuzz::json_nested_arrays(DEPTH), fuzz::json_nested_objects(DEPTH)];
    let cbor = [
        fuzz::cbor_nested_arrays(DEPTH),
        fuzz::cbor_nested_maps(DEPTH),
        fuzz::cbor_nested_indefinite(DEPTH),
        fuzz::cbor_nested_tags(DEPTH),
    ];
    on_worker_stack(move || {
        for input in &json {
            assert!(serde_json::from_slice::<Wire>(input).is_err());
            assert!(serde_json::from_slice::<Route>(input).is_err());
            assert!(serde_json::from_slice::<EdgeParams>(input).is_err());
            assert!(serde_json::from_slice::<Outcome>(input).is_err());
            // Deep in a field a decoder skips or buffers (the amount's
            // either-string-or-number buffers its input).
            let mut field = br#"{"latency_ms":1,"byte_fee":"0","base_fee":"#.to_vec();
            field.extend_from_slice(input);
            field.push(b'}');
            assert!(serde_json::from_slice::<EdgeParams>(&field).is_err());
        }
        for input in &cbor {
            assert!(cbor4ii::serde::from_slice::<Wire>(input).is_err());
            assert!(cbor4ii::serde::from_slice::<SyncMessage>(input).is_err());
            assert!(cbor4ii::serde::from_slice::<Outcome>(input).is_err());
        }
        for huge in fuzz::cbor_huge_lengths() {
            assert!(cbor4ii::serde::from_slice::<Wire>(&huge).is_err());
            assert!(cbor4ii::serde::from_slice::<SignedVoucher>(&huge).is_err());
        }
    });
}

/// A Merkle path is canonical and bounded: more steps than any batch can
/// have, or a side bit for a step it does not have, is refused naming the
/// problem, on JSON and on CBOR, inside a response as on its own.
#[test]
fn malformed_merkle_paths_are_refused_with_a_clear_error() {
    #[derive(serde::Serialize)]
    struct Raw {
        sides: u32,
        siblings: Vec<Hash32>,
    }
    let long = Raw { sides: 0, siblings: vec![Hash32([1; 32]); 33] };
    let stray = Raw { sides: 0b1000, siblings: vec![Hash32([1; 32]); 2] };
    for (raw, want) in [(long, "merkle path of 33 steps exceeds the limit of 32"), (stray, "sets a side bit at step 3")]
    {
        let json = serde_json::to_vec(&raw).unwrap();
        let e = serde_json::from_slice::<MerklePath>(&json).unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
        let cbor = cbor4ii::serde::to_vec(Vec::new(), &raw).unwrap();
        let e = cbor4ii::serde::from_slice::<MerklePath>(&cbor).unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
        // Inside a response on the wire.
        let mut resp = serde_json::to_value(por_core::Response::create(
            por_core::RequestId([2; 32]),
            b"x".to_vec(),
            &por_core::NodeSigner::from_seed([3; 32]),
        ))
        .unwrap();
        resp["path"] = serde_json::to_value(&raw).unwrap();
        let e = serde_json::from_value::<por_core::Response>(resp).unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
    }
    // A valid path of 32 steps with every bit set decodes.
    let full = Raw { sides: u32::MAX, siblings: vec![Hash32([1; 32]); 32] };
    let path: MerklePath = serde_json::from_slice(&serde_json::to_vec(&full).unwrap()).unwrap();
    assert_eq!(path.len(), 32);
}

/// An ack or a frame missing a field is refused naming the field.
#[test]
fn acks_and_frames_missing_fields_are_refused_by_name() {
    let e = serde_json::from_str::<Ack>(r#"{"voucher_digest":"00","payee":"00","signature":"00"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("voucher_digest") || e.contains("expected 32 bytes"), "{e}");
    let digest = "00".repeat(32);
    let key = "11".repeat(32);
    let sig = "22".repeat(64);
    let e =
        serde_json::from_str::<Ack>(&format!(r#"{{"voucher_digest":"{digest}","payee":"{key}","signature":"{sig}"}}"#))
            .unwrap_err()
            .to_string();
    assert!(e.contains("missing field `accepted`"), "{e}");
    let e = serde_json::from_str::<RequestFrame>(r#"{"requests":[]}"#).unwrap_err().to_string();
    assert!(e.contains("missing field `voucher`"), "{e}");
}
