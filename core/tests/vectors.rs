//! Golden vectors for every signed object.
//!
//! `core/tests/vectors/signing.json` pins the canonical bytes and the ed25519
//! signatures of each kind of signed object, made from fixed seeds. The node
//! and the contract both check against this file (the contract verifies the
//! vouchers with the chain's own `ed25519_verify`), so a change to the
//! encoding on one side cannot go unnoticed. After a deliberate change to the
//! encoding, regenerate with `POR_UPDATE_VECTORS=1 cargo test -p por-core --test vectors`
//! and review the diff: every deployed contract and node must change with it.

use por_core::merkle::{Batch, MerklePath, RootCache, node, request_leaf, response_leaf, sign_batch, tree};
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
        path: MerklePath::default(),
    }
    .sign(&signer(1));
    // A batch of one: the root is the leaf, and the signature is over it.
    let leaf = request_leaf(&req.id());
    let request = entry(
        1,
        json!({
            "request_id": req.id().to_hex(),
            "body_hex": hex::encode(&req.body),
            "body_blake3": merkle::blake3(&req.body).to_hex(),
            "fields_bytes": hex::encode(req.signing_bytes()),
            "leaf": leaf.to_hex(),
            "request_json": serde_json::to_value(&req).unwrap(),
        }),
        &Batch::Requests.signing_bytes(&req.requester, &leaf),
        &req.signature,
    );

    // Three requests of one turn under one root.
    let reqs: Vec<Request> = (0..3u64)
        .map(|n| Request { nonce: 100 + n, body: vec![n as u8; 3], signature: Signature([0; 64]), ..req.clone() })
        .collect();
    let leaves: Vec<Hash32> = reqs.iter().map(|r| request_leaf(&r.id())).collect();
    let (root, paths) = tree(&leaves);
    let (sig, _) = sign_batch(Batch::Requests, &leaves, &signer(1));
    let request_batch = entry(
        1,
        json!({
            "request_ids": reqs.iter().map(|r| r.id().to_hex()).collect::<Vec<_>>(),
            "leaves": leaves.iter().map(Hash32::to_hex).collect::<Vec<_>>(),
            "root": root.to_hex(),
            "paths": paths.iter().map(|p| serde_json::to_value(p).unwrap()).collect::<Vec<_>>(),
        }),
        &Batch::Requests.signing_bytes(&signer(1).public(), &root),
        &sig,
    );

    let sv = Voucher {
        contract: "por.test.near".into(),
        channel: ChannelId(11),
        payer: signer(1).public(),
        cumulative: 3_000,
    }
    .sign(&signer(1));
    let accepted = vec![req.id(), reqs[0].id()];
    let refused = vec![voucher::RefusedRequest { request_id: reqs[1].id(), reason: protocol::Refusal::Underpaid }];
    let ack = Ack::create(sv.digest(), accepted.clone(), refused, &signer(2));
    let ack_v = entry(
        2,
        json!({
            "accepted": accepted.iter().map(RequestId::to_hex).collect::<Vec<_>>(),
            "voucher_digest": ack.voucher_digest.to_hex(),
            "ack_json": serde_json::to_value(&ack).unwrap(),
        }),
        &Ack::signing_bytes(&ack.voucher_digest, &ack.payee, &ack.accepted),
        &ack.signature,
    );

    let resp = Response::create(req.id(), b"world".to_vec(), &signer(3));
    let resp_v = entry(
        3,
        json!({
            "request_id": req.id().to_hex(),
            "body_hex": hex::encode(&resp.body),
            "body_blake3": merkle::blake3(&resp.body).to_hex(),
            "leaf": resp.leaf().to_hex(),
        }),
        &Batch::Responses.signing_bytes(&resp.server, &resp.leaf()),
        &resp.signature,
    );

    // Five responses of one turn under one root (an odd one promoted).
    let bodies: Vec<Vec<u8>> = (0..5u8).map(|n| vec![b'r', n]).collect();
    let ids: Vec<RequestId> = (0..5u8).map(|n| RequestId([n; 32])).collect();
    let leaves: Vec<Hash32> = ids.iter().zip(&bodies).map(|(id, b)| response_leaf(id, &merkle::blake3(b))).collect();
    let (root, paths) = tree(&leaves);
    let (sig, _) = sign_batch(Batch::Responses, &leaves, &signer(3));
    let response_batch = entry(
        3,
        json!({
            "request_ids": ids.iter().map(RequestId::to_hex).collect::<Vec<_>>(),
            "bodies_hex": bodies.iter().map(hex::encode).collect::<Vec<_>>(),
            "leaves": leaves.iter().map(Hash32::to_hex).collect::<Vec<_>>(),
            "node_01": node(&leaves[0], &leaves[1]).to_hex(),
            "root": root.to_hex(),
            "paths": paths.iter().map(|p| serde_json::to_value(p).unwrap()).collect::<Vec<_>>(),
        }),
        &Batch::Responses.signing_bytes(&signer(3).public(), &root),
        &sig,
    );

    // Notices did not change with wire v2: this one names the id of wire
    // v1's golden request, so that its vector is the same.
    let v1_id = RequestId::from_hex("360b056b0233fdd0b57246e20d0eb6ef6a4ade3d1a31d65f11098a3eaffc6b75").unwrap();
    let notice = SeveranceNotice::create(v1_id, ChannelId(12), Hash32([0xab; 32]), &signer(2));
    let notice_v = entry(
        2,
        json!({"request_id": v1_id.to_hex(), "channel": 12, "tx_hash": notice.tx_hash.to_hex()}),
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
        "request_batch": request_batch,
        "ack": ack_v,
        "response": resp_v,
        "response_batch": response_batch,
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
    for k in ["request", "request_batch", "ack", "response", "response_batch", "notice", "sync_ack"] {
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

/// The stored batches check on their own: every path leads from its leaf
/// to the signed root, a forged sibling or another leaf does not, and a
/// verifier that remembers roots verifies each batch once.
#[test]
fn stored_batches_verify_along_their_paths() {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(FILE).unwrap()).unwrap();
    for (k, kind) in [("request_batch", Batch::Requests), ("response_batch", Batch::Responses)] {
        let b = &v[k];
        let key = NodeKey::from_hex(b["public_key"].as_str().unwrap()).unwrap();
        let root = Hash32::from_hex(b["root"].as_str().unwrap()).unwrap();
        let sig = Signature::from_hex(b["signature"].as_str().unwrap()).unwrap();
        assert_eq!(hex::encode(kind.signing_bytes(&key, &root)), b["signing_bytes"].as_str().unwrap());
        let leaves: Vec<Hash32> =
            b["leaves"].as_array().unwrap().iter().map(|l| Hash32::from_hex(l.as_str().unwrap()).unwrap()).collect();
        let paths: Vec<MerklePath> =
            b["paths"].as_array().unwrap().iter().map(|p| serde_json::from_value(p.clone()).unwrap()).collect();
        let counting = Counting::default();
        let mut cache = RootCache::default();
        for (i, (leaf, path)) in leaves.iter().zip(&paths).enumerate() {
            assert_eq!(path.root(*leaf), root, "{k} leaf {i}");
            assert!(cache.verify(kind, &key, &path.root(*leaf), path, &sig, &counting));
            let other = leaves[(i + 1) % leaves.len()];
            assert_ne!(path.root(other), root, "{k}: leaf {i}'s path takes another leaf");
            let mut forged = path.siblings().to_vec();
            forged[0].0[0] ^= 1;
            assert_ne!(MerklePath::new(path.sides(), forged).unwrap().root(*leaf), root, "{k}: a forged path");
        }
        assert_eq!(counting.0.get(), 1, "{k}: one verification for the whole batch");
        // The other kind's root bytes do not verify: domains differ.
        let other = if kind == Batch::Requests { Batch::Responses } else { Batch::Requests };
        assert!(!Ed25519Verifier.verify(&key, &other.signing_bytes(&key, &root), &sig));
    }
    // The response batch's leaves are H(request id ‖ H(body)).
    let b = &v["response_batch"];
    for ((id, body), leaf) in b["request_ids"]
        .as_array()
        .unwrap()
        .iter()
        .zip(b["bodies_hex"].as_array().unwrap())
        .zip(b["leaves"].as_array().unwrap())
    {
        let id = RequestId::from_hex(id.as_str().unwrap()).unwrap();
        let body = hex::decode(body.as_str().unwrap()).unwrap();
        assert_eq!(response_leaf(&id, &merkle::blake3(&body)).to_hex(), leaf.as_str().unwrap());
    }
    // The ack in JSON verifies against its payee.
    let ack: Ack = serde_json::from_value(v["ack"]["ack_json"].clone()).unwrap();
    assert!(ack.verify(&signer(2).public(), &Ed25519Verifier));
    assert!(!ack.verify(&signer(1).public(), &Ed25519Verifier), "another payee");
}

/// A verifier that counts the signatures it checks.
#[derive(Default)]
struct Counting(std::cell::Cell<u32>);

impl Verifier for Counting {
    fn verify(&self, key: &NodeKey, msg: &[u8], sig: &Signature) -> bool {
        self.0.set(self.0.get() + 1);
        Ed25519Verifier.verify(key, msg, sig)
    }
}

/// Wire v2 changed no byte of what the contract verifies (vouchers,
/// registration proofs) nor of notices and sync acks: their vectors are
/// pinned to the ones of wire v1.
#[test]
fn vouchers_notices_and_what_the_contract_verifies_are_unchanged_since_v1() {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(FILE).unwrap()).unwrap();
    let mut got = Vec::new();
    for k in ["vouchers", "registrations", "notice", "sync_ack"] {
        let text = serde_json::to_string(&sorted(&v[k])).unwrap();
        got.push((k, sha256(text.as_bytes()).to_hex()));
    }
    let want: Vec<(&str, String)> = V1_PINS.iter().map(|(k, h)| (*k, h.to_string())).collect();
    assert_eq!(got, want, "a signed object of wire v1 changed: every deployed contract would refuse it");
    // And the code still makes those very bytes.
    let built = build();
    for k in ["vouchers", "registrations", "notice", "sync_ack"] {
        assert_eq!(sorted(&built[k]), sorted(&v[k]), "{k}");
    }
}

/// SHA-256 of each section's sorted JSON, as of wire v1.
const V1_PINS: [(&str, &str); 4] = [
    ("vouchers", "7ea4650e17b269f32c2e64a476d5a906e8cdde881b0fe7f0c645f695e66eaf9b"),
    ("registrations", "436a877392d9acaa316a971d39d4758039e12b7e2a63fdfed86b5aadccb62c90"),
    ("notice", "fea041df32c170935da61fb09b4595c270a7fef7f3a25912948620c5dd3f041b"),
    ("sync_ack", "18fe6351b8f88a1870f4fe4a6ec668b55f7f4114e1525e86c1f9aa8168b639a1"),
];
