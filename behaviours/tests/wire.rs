//! The wire framing against hostile input, the core's messages through CBOR,
//! and the node key ↔ `PeerId` correspondence against libp2p itself.

use futures::io::Cursor;
use libp2p::identity::Keypair;
use por_behaviours::codec::{decode, encode, read_frame, write_frame};
use por_core::{
    ChannelId, EdgeParams, Hash32, NodeSigner, Request, Route, RouteHop, SeveranceNotice, Signature, Signer,
    SyncMessage, Voucher,
};
use proptest::prelude::*;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
}

#[test]
fn peer_id_matches_libp2p() {
    for seed in [[1u8; 32], [2; 32], [0xfe; 32]] {
        let ours = NodeSigner::from_seed(seed).public();
        let kp = Keypair::ed25519_from_bytes(seed).unwrap();
        let theirs = kp.public().to_peer_id();
        assert_eq!(ours.peer_id(), theirs.to_string());
        assert_eq!(ours.peer_id_bytes().to_vec(), theirs.to_bytes());
        assert_eq!(por_core::NodeKey::from_peer_id(&theirs.to_string()).unwrap(), ours);
    }
}

#[test]
fn oversized_frame_is_refused_before_allocating() {
    // A header claiming 3 GiB followed by nothing: refused on the length alone.
    let mut io = Cursor::new((3u32 << 30).to_be_bytes().to_vec());
    let err = block_on(read_frame(&mut io, 1024)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("exceeds the limit of 1024 bytes"), "{err}");

    let mut out = Cursor::new(Vec::new());
    let err = block_on(write_frame(&mut out, &[0; 2000], 1024)).unwrap_err();
    assert!(err.to_string().contains("2000 bytes"), "{err}");
    assert!(out.into_inner().is_empty(), "nothing written");
}

#[test]
fn truncated_frame_and_garbage_fail_cleanly() {
    let mut io = Cursor::new([0, 0, 0, 10, 1, 2].to_vec());
    assert_eq!(block_on(read_frame(&mut io, 1024)).unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
    assert!(decode::<Voucher>(&[0xff, 0x00, 0x13]).is_err());
    let mut bytes = encode(&7u64).unwrap();
    bytes.push(0);
    assert!(decode::<u64>(&bytes).unwrap_err().to_string().contains("trailing"));
}

fn request(body: Vec<u8>, budget: u128) -> Request {
    let s = NodeSigner::from_seed([5; 32]);
    Request {
        requester: s.public(),
        nonce: 1,
        route: Route {
            hops: vec![RouteHop {
                channel: ChannelId(3),
                node: NodeSigner::from_seed([6; 32]).public(),
                params: EdgeParams { latency_ms: 10, base_fee: 1, byte_fee: 2 },
            }],
            service_ms: 4,
        },
        service: "echo".into(),
        body,
        max_response_bytes: 100,
        budget,
        signature: Signature([0; 64]),
        path: Default::default(),
    }
    .sign(&s)
}

proptest! {
    /// decode(encode(m)) == m for requests and syncs, through a frame.
    #[test]
    fn roundtrip(body in prop::collection::vec(any::<u8>(), 0..2048), budget in any::<u128>(), cum in any::<u128>(), seq in any::<u64>()) {
        let r = request(body, budget);
        let mut io = Cursor::new(Vec::new());
        block_on(write_frame(&mut io, &encode(&r).unwrap(), 1 << 20)).unwrap();
        io.set_position(0);
        let back: Request = decode(&block_on(read_frame(&mut io, 1 << 20)).unwrap()).unwrap();
        prop_assert_eq!(&back, &r);
        prop_assert!(back.verify(&por_core::Ed25519Verifier));

        let s = NodeSigner::from_seed([9; 32]);
        let sync = SyncMessage {
            channel: ChannelId(3),
            seq,
            voucher: Some(Voucher { contract: "por.test".into(), channel: ChannelId(3), payer: s.public(), cumulative: cum }.sign(&s)),
            overdue: vec![por_core::Overdue { request_id: r.id(), amount: cum / 3 }],
            notices: vec![SeveranceNotice::create(r.id(), ChannelId(3), Hash32([1; 32]), &s)],
            draining: seq % 2 == 1,
        };
        let back: SyncMessage = decode(&encode(&sync).unwrap()).unwrap();
        prop_assert_eq!(back, sync);
    }
}
