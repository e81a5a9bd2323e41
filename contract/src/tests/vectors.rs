//! por-core's golden voucher vectors, checked with the host's
//! `ed25519_verify` and with the contract's own voucher check.

use super::*;
use crate::vouchers::{Floor, HostVerifier, VoucherError, check_voucher};
use por_core::{NodeKey, Signature};

const VECTORS: &str = include_str!("../../../core/tests/vectors/signing.json");

#[test]
fn golden_vouchers_verify_on_the_host_and_pass_the_contract_check() {
    let v: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
    let list = v["vouchers"].as_array().expect("a vouchers array");
    assert!(!list.is_empty());
    for item in list {
        let contract = item["contract"].as_str().unwrap();
        let channel = item["channel"].as_u64().unwrap();
        let cumulative: u128 = item["cumulative"].as_str().unwrap().parse().unwrap();
        let key = NodeKey::from_hex(item["public_key"].as_str().unwrap()).unwrap();
        let sig = Signature::from_hex(item["signature"].as_str().unwrap()).unwrap();
        let bytes = hex::decode(item["signing_bytes"].as_str().unwrap()).unwrap();
        let sv = SignedVoucher {
            voucher: Voucher { contract: contract.into(), channel: ChannelId(channel), payer: key, cumulative },
            signature: sig,
        };
        assert_eq!(sv.voucher.signing_bytes(), bytes, "por-core's bytes match the vector");
        // The host function, in the contract's own account context.
        let mut ch = Chain::new(|_| {});
        let ok = ch.view(|_| env::ed25519_verify(&sig.0, &bytes, &key.0));
        assert!(ok, "ed25519_verify accepts the vector of channel {channel}");
        let me = ch.view(|_| check_voucher(&sv, contract, channel, &key, Floor::Above(0), &HostVerifier));
        assert_eq!(me, Ok(cumulative));
        // And refuses it elsewhere.
        let other = ch.view(|_| check_voucher(&sv, "other.near", channel, &key, Floor::Above(0), &HostVerifier));
        assert!(matches!(other, Err(VoucherError::WrongContract { .. })));
        let wrong_ch = channel.wrapping_add(1);
        let other = ch.view(|_| check_voucher(&sv, contract, wrong_ch, &key, Floor::Above(0), &HostVerifier));
        assert!(matches!(other, Err(VoucherError::WrongChannel { .. })));
        let mut flipped = sv.clone();
        flipped.signature.0[0] ^= 1;
        let bad = ch.view(|_| check_voucher(&flipped, contract, channel, &key, Floor::Above(0), &HostVerifier));
        assert_eq!(bad, Err(VoucherError::BadSignature));
        let other_key = signer("someone").public();
        let bad = ch.view(|_| check_voucher(&sv, contract, channel, &other_key, Floor::Above(0), &HostVerifier));
        assert!(matches!(bad, Err(VoucherError::WrongPayer { .. })));
        if cumulative > 0 {
            let stale =
                ch.view(|_| check_voucher(&sv, contract, channel, &key, Floor::Above(cumulative), &HostVerifier));
            assert!(matches!(stale, Err(VoucherError::NotIncreasing { .. })));
            // A closing path takes a voucher equal to the recorded one, never a lower one.
            let same =
                ch.view(|_| check_voucher(&sv, contract, channel, &key, Floor::AtLeast(cumulative), &HostVerifier));
            assert_eq!(same, Ok(cumulative));
            if let Some(above) = cumulative.checked_add(1) {
                let lower =
                    ch.view(|_| check_voucher(&sv, contract, channel, &key, Floor::AtLeast(above), &HostVerifier));
                assert!(matches!(lower, Err(VoucherError::Below { .. })));
            }
        }
    }
}

#[test]
fn a_golden_voucher_is_accepted_by_a_contract_method_only_under_its_account() {
    // The first vector is for contract "por.test.near" (= CONTRACT), channel 1:
    // the test contract's first channel.
    let v: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
    let item = v["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["contract"] == CONTRACT && i["channel"] == 1)
        .expect("a vector for por.test.near channel 1");
    let seed: [u8; 32] = hex::decode(item["seed"].as_str().unwrap()).unwrap().try_into().unwrap();
    let s = NodeSigner::from_seed(seed);
    let mut ch = Chain::new(|_| {});
    let sig =
        por_core::Registration { contract: CONTRACT.into(), account: acc("payer").to_string(), node_key: s.public() }
            .sign(&s);
    ch.call("payer", 2 * N, |c| c.register_node(s.public(), 1, sig));
    ch.register("payee", 2 * N);
    let id = ch.open("payer", "payee", N, N);
    assert_eq!(id, 1);
    let sv = SignedVoucher {
        voucher: Voucher {
            contract: CONTRACT.into(),
            channel: ChannelId(1),
            payer: s.public(),
            cumulative: item["cumulative"].as_str().unwrap().parse().unwrap(),
        },
        signature: Signature::from_hex(item["signature"].as_str().unwrap()).unwrap(),
    };
    let id2 = ch.open("payer", "payee", N, N);
    ch.refuse("payee", 0, "is for channel 1", |c| c.propose_close(id2, Some(sv.clone())));
    ch.call("payee", 0, |c| c.propose_close(id, Some(sv.clone())));
    assert_eq!(ch.view(|c| c.channel(1)).unwrap().paid_by_a, sv.voucher.cumulative.into());
}

#[test]
fn the_golden_registration_proof_registers_only_its_account() {
    // The first registration vector: node key of seed 1, contract
    // "por.test.near" (= CONTRACT), account "alice.test.near".
    let v: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
    let item = &v["registrations"].as_array().expect("a registrations array")[0];
    assert_eq!((item["contract"].as_str(), item["account"].as_str()), (Some(CONTRACT), Some("alice.test.near")));
    let key = NodeKey::from_hex(item["public_key"].as_str().unwrap()).unwrap();
    let sig = Signature::from_hex(item["signature"].as_str().unwrap()).unwrap();
    let bytes = hex::decode(item["signing_bytes"].as_str().unwrap()).unwrap();
    let r = por_core::Registration { contract: CONTRACT.into(), account: "alice.test.near".into(), node_key: key };
    assert_eq!(r.signing_bytes(), bytes, "por-core's bytes match the vector");
    let mut ch = Chain::new(|_| {});
    ch.refuse("bob", 2 * N, "does not prove node key", |c| c.register_node(key, 1, sig));
    assert_eq!(ch.call("alice", 2 * N, |c| c.register_node(key, 1, sig)), 0);
}

/// Wire v2 (batched signatures, frame acks) changed nothing the contract
/// verifies: the keys, signed bytes and signatures of every golden voucher
/// and registration proof hash to what they were under wire v1.
#[test]
fn what_the_contract_verifies_is_unchanged_since_wire_v1() {
    let v: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
    let mut all = Vec::new();
    for k in ["vouchers", "registrations"] {
        for item in v[k].as_array().unwrap() {
            for field in ["public_key", "signing_bytes", "signature"] {
                all.extend(hex::decode(item[field].as_str().unwrap()).unwrap());
            }
        }
    }
    assert_eq!(
        por_core::sha256(&all).to_hex(),
        "458640638211edec657212c63d99d05a6b6ae0f07bbc7b613fca6b90e0ffbe66",
        "a voucher or registration vector changed: deployed contracts would refuse what nodes sign"
    );
    // And each still verifies with the host function, as the contract checks it.
    let mut ch = Chain::new(|_| {});
    for k in ["vouchers", "registrations"] {
        for item in v[k].as_array().unwrap() {
            let key = NodeKey::from_hex(item["public_key"].as_str().unwrap()).unwrap();
            let sig = Signature::from_hex(item["signature"].as_str().unwrap()).unwrap();
            let bytes = hex::decode(item["signing_bytes"].as_str().unwrap()).unwrap();
            assert!(ch.view(|_| env::ed25519_verify(&sig.0, &bytes, &key.0)), "{k}: {item}");
        }
    }
}
