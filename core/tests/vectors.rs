//! Golden vectors for every signed object.
//!
//! `core/tests/vectors/signing.json` pins the canonical bytes and the ed25519
//! signatures of each kind of signed object, made from fixed seeds. The node
//! and the contract both check against this file (the contract verifies the
//! vouchers with the chain's own `ed25519_verify`), so a change to the
//! encoding on one side cannot go unnoticed. After a deliberate change to the
//! encoding, regenerate with `POR_UPDATE_VECTORS=1 cargo test -p por-core --test vectors`
//! and review the diff: every deployed contract and node must change with it.

use por_core::*;
use serde_json::{Value, json};

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/signing.json");

fn signer(i: u8) -> NodeSigner {
    NodeSigner::from_seed([i; 32])
}

fn entry(seed: u8, fields: Value, bytes: &[u8], sig: &Signature) -> Value {
    let mut v = json!({
        "seed": hex::encode([seed; 32]),
        "public_key": signer(seed).public().to_hex(),
        "signing_bytes": hex::encode(bytes),
        "signature": sig.to_hex(),
    });
    v.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    v
}

fn route() -> Route {
    Route {
        hops: vec![
            RouteHop {
                channel: ChannelId(11),
                node: signer(2).public(),
                params: EdgeParams { latency_ms: 100, base_fee: 1_000, byte_fee: 3 },
            },
            RouteHop {
                channel: ChannelId(12),
                node: signer(3).public(),
                params: EdgeParams { latency_ms: 200, base_fee: 2_000, byte_fee: 0 },
            },
        ],
        service_ms: 25,
    }
}

fn build() -> Value {
    let mut vouchers = Vec::new();
    for (seed, contract, channel, cumulative) in [
        (1u8, "por.test.near", 1u64, 1u128),
        (2, "por.test.near", 42, 5_000_000_000_000_000_000_000_000),
        (3, "por-devnet.local", u64::MAX, u128::MAX),
    ] {
        let v = Voucher {
            contract: contract.into(),
            channel: ChannelId(channel),
            payer: signer(seed).public(),
            cumulative,
        };
        let sv = v.clone().sign(&signer(seed));
        vouchers.push(entry(
            seed,
            json!({"contract": contract, "channel": channel, "cumulative": cumulative.to_string()}),
            &v.signing_bytes(),
            &sv.signature,
        ));
    }

    let req = Request {
        requester: signer(1).public(),
        nonce: 7,
        route: route(),
        service: "echo".into(),
        body: b"hello".to_vec(),
        max_response_bytes: 1024,
        budget: 3_000,
        signature: Signature([0; 64]),
        path: Default::default(),
    }
    .sign(&signer(1));
    let request = entry(
        1,
        json!({"request_id": req.id().to_hex(), "body_hex": hex::encode(&req.body), "request_json": serde_json::to_value(&req).unwrap()}),
        &req.signing_bytes(),
        &req.signature,
    );

    let sv = Voucher {
        contract: "por.test.near".into(),
        channel: ChannelId(11),
        payer: signer(1).public(),
        cumulative: 3_000,
    }
    .sign(&signer(1));
    let ack = Ack::create(req.id(), &sv, &signer(2));
    let ack_v = entry(
        2,
        json!({"request_id": req.id().to_hex(), "voucher_digest": ack.voucher_digest.to_hex()}),
        &Ack::signing_bytes(&ack.request_id, &ack.voucher_digest, &ack.payee),
        &ack.signature,
    );

    let resp = Response::create(req.id(), b"world".to_vec(), &signer(3));
    let resp_v = entry(
        3,
        json!({"request_id": req.id().to_hex(), "body_hex": hex::encode(&resp.body)}),
        &Response::signing_bytes(&resp.request_id, &resp.server, &sha256(&resp.body)),
        &resp.signature,
    );

    let notice = SeveranceNotice::create(req.id(), ChannelId(12), Hash32([0xab; 32]), &signer(2));
    let notice_v = entry(
        2,
        json!({"request_id": req.id().to_hex(), "channel": 12, "tx_hash": notice.tx_hash.to_hex()}),
        &SeveranceNotice::signing_bytes(&notice.request_id, notice.channel, &notice.tx_hash, &notice.severer),
        &notice.signature,
    );

    let sync_ack = SyncAck::create(ChannelId(11), 9, 3_000, true, &signer(2));
    let sync_v = entry(
        2,
        json!({"channel": 11, "seq": 9, "cumulative": "3000", "credited": true}),
        &SyncAck::signing_bytes(
            sync_ack.channel,
            sync_ack.seq,
            sync_ack.cumulative,
            sync_ack.credited,
            &sync_ack.signer,
        ),
        &sync_ack.signature,
    );

    let registrations: Vec<Value> = [(1u8, "por.test.near", "alice.test.near"), (2, "por-devnet.local", "node-1.test")]
        .into_iter()
        .map(|(seed, contract, account)| {
            let r =
                Registration { contract: contract.into(), account: account.into(), node_key: signer(seed).public() };
            entry(seed, json!({"contract": contract, "account": account}), &r.signing_bytes(), &r.sign(&signer(seed)))
        })
        .collect();

    let peers: Vec<Value> = (1u8..=3)
        .map(|i| json!({"public_key": signer(i).public().to_hex(), "peer_id": signer(i).public().peer_id()}))
        .collect();

    json!({
        "about": "Golden vectors of PoR's signed objects; see core/tests/vectors.rs. Seeds are ed25519 secret seeds.",
        "vouchers": vouchers,
        "request": request,
        "ack": ack_v,
        "response": resp_v,
        "notice": notice_v,
        "sync_ack": sync_v,
        "registrations": registrations,
        "peer_ids": peers,
    })
}

/// Objects with their keys sorted, so that the text does not depend on
/// whether some other crate in the build turned on serde_json's
/// `preserve_order` (a workspace build does).
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&m[k]))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[test]
fn golden_vectors_match() {
    let now = serde_json::to_string_pretty(&sorted(&build())).unwrap() + "\n";
    if std::env::var_os("POR_UPDATE_VECTORS").is_some() {
        std::fs::write(FILE, &now).unwrap();
    }
    let stored = std::fs::read_to_string(FILE).expect("core/tests/vectors/signing.json is missing");
    let stored = serde_json::to_string_pretty(&sorted(&serde_json::from_str(&stored).unwrap())).unwrap() + "\n";
    assert!(
        stored == now,
        "the signed bytes changed; if deliberate, regenerate with POR_UPDATE_VECTORS=1 and review the diff"
    );
}

/// The stored vectors verify on their own (independently of how they were
/// built): every signature holds over the stored bytes with the stored key.
#[test]
fn stored_signatures_verify() {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(FILE).unwrap()).unwrap();
    let mut all: Vec<&Value> = v["vouchers"].as_array().unwrap().iter().collect();
    all.extend(v["registrations"].as_array().unwrap());
    for k in ["request", "ack", "response", "notice", "sync_ack"] {
        all.push(&v[k]);
    }
    for e in all {
        let key = NodeKey::from_hex(e["public_key"].as_str().unwrap()).unwrap();
        let bytes = hex::decode(e["signing_bytes"].as_str().unwrap()).unwrap();
        let sig = Signature::from_hex(e["signature"].as_str().unwrap()).unwrap();
        assert!(Ed25519Verifier.verify(&key, &bytes, &sig), "{e}");
        let mut tampered = bytes.clone();
        tampered[bytes.len() - 1] ^= 1;
        assert!(!Ed25519Verifier.verify(&key, &tampered, &sig));
    }
    // The request in JSON decodes back to a request with the same id and a valid signature.
    let req: Request = serde_json::from_value(v["request"]["request_json"].clone()).unwrap();
    assert_eq!(req.id().to_hex(), v["request"]["request_id"].as_str().unwrap());
    assert!(req.verify(&Ed25519Verifier));
}
