//! A real node against a hostile peer. The peer is a bare libp2p swarm
//! speaking the relay protocol with hand-made messages (no node code), so
//! it can send what an honest node never would: forged, replayed,
//! non-increasing and insolvent vouchers, an altered response, garbage and
//! oversized frames.

mod common;

use std::time::Duration;

use common::{DEPOSIT, spawn_network};
use futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};
use por_behaviours::{Behaviour, Lane, NetConfig, NetEvent, Receipt, build_swarm};
use por_core::protocol::{ChannelSetup, Delivery, PaidRequest, Refusal, RequestFrame, Wire};
use por_core::{
    ChannelId, EdgeParams, NodeSigner, Request, Response, Route, RouteHop, Signature, SignedVoucher, Signer, Voucher,
};
use por_node::Envelope;

const CHANNEL: ChannelId = ChannelId(77);
/// `ProtocolConfig::default().contract`, which vouchers of a node without a chain are bound to.
const CONTRACT: &str = "por.test";

struct Hostile<M: serde::Serialize + serde::de::DeserializeOwned + Send + 'static> {
    swarm: Swarm<Behaviour<M>>,
    signer: NodeSigner,
}

impl<M: serde::Serialize + serde::de::DeserializeOwned + Send + 'static + std::fmt::Debug> Hostile<M> {
    async fn start(seed: u8, target: PeerId, addr: Multiaddr) -> Self {
        let key = Keypair::ed25519_from_bytes([seed; 32]).unwrap();
        let mut swarm = build_swarm::<M>(key, &NetConfig::default()).unwrap();
        swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap()).unwrap();
        swarm.behaviour_mut().add_address(&target, addr);
        Hostile { swarm, signer: NodeSigner::from_seed([seed; 32]) }
    }

    /// Sends `msg` and drives the swarm until its receipt (or failure) comes
    /// back; inbound messages are accepted and collected.
    async fn send(&mut self, to: PeerId, msg: M, inbound: &mut Vec<M>) -> Result<Receipt, String> {
        let id = self.swarm.behaviour_mut().send(&to, Lane::Relay, msg);
        let deadline = tokio::time::sleep(Duration::from_secs(10));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return Err("no receipt within 10 s".into()),
                ev = self.swarm.select_next_some() => {
                    let SwarmEvent::Behaviour(ev) = ev else { continue };
                    match self.swarm.behaviour_mut().on_event(ev) {
                        Some(NetEvent::Delivered { id: i, receipt, .. }) if i == id => return Ok(receipt),
                        Some(NetEvent::Failed { id: i, error, .. }) if i == id => return Err(error),
                        Some(NetEvent::Inbound { lane, msg, reply, .. }) => {
                            inbound.push(msg);
                            self.swarm.behaviour_mut().receipt(lane, reply, Receipt::Accepted);
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// Drives the swarm for `d`, accepting and collecting inbound messages.
    async fn pump(&mut self, d: Duration, inbound: &mut Vec<M>) {
        let _ = tokio::time::timeout(d, async {
            loop {
                if let SwarmEvent::Behaviour(ev) = self.swarm.select_next_some().await
                    && let Some(NetEvent::Inbound { lane, msg, reply, .. }) = self.swarm.behaviour_mut().on_event(ev)
                {
                    inbound.push(msg);
                    self.swarm.behaviour_mut().receipt(lane, reply, Receipt::Accepted);
                }
            }
        })
        .await;
    }
}

fn setup(remote: por_core::NodeKey) -> ChannelSetup {
    ChannelSetup {
        channel: CHANNEL,
        remote,
        local_deposit: DEPOSIT,
        remote_deposit: DEPOSIT,
        latency_ms: 100,
        // The hostile peer never syncs; a long interval keeps the node's
        // missed-sync rule from cutting it in the middle of a test.
        sync_ms: Some(10_000),
    }
}

const PARAMS: EdgeParams = EdgeParams { latency_ms: 100, base_fee: 1_000, byte_fee: 0 };

/// A request from `from` to the node `to` over `CHANNEL`, paid with `voucher`.
fn paid(from: &NodeSigner, to: por_core::NodeKey, nonce: u64, voucher: SignedVoucher) -> Envelope {
    let route = Route { hops: vec![RouteHop { channel: CHANNEL, node: to, params: PARAMS }], service_ms: 0 };
    let request = Request {
        requester: from.public(),
        nonce,
        route,
        service: "echo".into(),
        body: b"hi".to_vec(),
        max_response_bytes: 64,
        budget: 1_000,
        signature: Signature([0; 64]),
        path: Default::default(),
    }
    .sign(from);
    Envelope { channel: CHANNEL, msg: Wire::Request(Box::new(PaidRequest { request, voucher })) }
}

/// A voucher of `payer` whose signature is `signer`'s (a forgery unless they are the same).
fn voucher(payer: &NodeSigner, signer: &NodeSigner, cumulative: u128) -> SignedVoucher {
    let voucher = Voucher { contract: CONTRACT.into(), channel: CHANNEL, payer: payer.public(), cumulative };
    let signature = signer.sign(&voucher.signing_bytes());
    SignedVoucher { voucher, signature }
}

fn refused(r: Result<Receipt, String>) -> String {
    match r {
        Ok(Receipt::Refused { detail, .. }) => detail,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_vouchers_are_refused_with_their_reason_and_a_good_one_still_pays() {
    let net = spawn_network(1).await;
    let b = &net.nodes[0];
    net.serve_echo(0).await;
    let mut m = Hostile::<Envelope>::start(66, b.peer_id, b.listen_addrs[0].clone()).await;
    b.handle.add_channel(setup(m.signer.public()), Vec::new()).await.unwrap();
    let (me, forger) = (m.signer.clone(), NodeSigner::from_seed([99; 32]));
    let mut inbound = Vec::new();

    // Forged: the payer's signature is someone else's.
    let why = refused(m.send(b.peer_id, paid(&me, b.key, 1, voucher(&me, &forger, 1_000)), &mut inbound).await);
    assert!(why.contains("signature does not verify"), "{why}");
    // Insolvent: more than the deposit.
    let why = refused(m.send(b.peer_id, paid(&me, b.key, 2, voucher(&me, &me, DEPOSIT + 1)), &mut inbound).await);
    assert!(why.contains("exceeds what the payer can cover"), "{why}");
    // A good one is accepted, acknowledged and answered.
    let good = voucher(&me, &me, 1_000);
    let r = m.send(b.peer_id, paid(&me, b.key, 3, good.clone()), &mut inbound).await;
    assert!(matches!(r, Ok(Receipt::Accepted)), "{r:?}");
    m.pump(Duration::from_millis(500), &mut inbound).await;
    assert!(inbound.iter().any(|e| matches!(e.msg, Wire::Ack(_))), "{inbound:?}");
    assert!(inbound.iter().any(|e| matches!(e.msg, Wire::Response(_))), "{inbound:?}");
    // Replayed on a new request: not above what B holds.
    let why = refused(m.send(b.peer_id, paid(&me, b.key, 4, good), &mut inbound).await);
    assert!(why.contains("does not exceed"), "{why}");
    // Non-increasing: below it.
    let why = refused(m.send(b.peer_id, paid(&me, b.key, 5, voucher(&me, &me, 999)), &mut inbound).await);
    assert!(why.contains("does not exceed"), "{why}");
    // Underpaid: above what B holds, but by less than the edge's fee.
    let why = refused(m.send(b.peer_id, paid(&me, b.key, 6, voucher(&me, &me, 1_500)), &mut inbound).await);
    assert!(why.contains("less than this edge's share"), "{why}");
    // B's books hold the one good payment and, as credit that M's next
    // request spends, the 500 the underpaid request carried (a refused
    // request costs its payer nothing, DESIGN §2.10).
    let s = b.handle.status().await.unwrap();
    assert_eq!(s.channels.iter().find(|c| c.0 == CHANNEL).unwrap().3, 1_500);
}

/// A frame of requests under one voucher (wire v2).
fn frame(voucher: SignedVoucher, requests: Vec<Envelope>) -> Envelope {
    let requests = requests
        .into_iter()
        .map(|e| match e.msg {
            Wire::Request(p) => p.request,
            other => panic!("not a request: {other:?}"),
        })
        .collect();
    Envelope { channel: CHANNEL, msg: Wire::Requests(Box::new(RequestFrame { voucher, requests })) }
}

#[tokio::test]
async fn a_frame_with_one_request_refused_is_accepted_and_its_ack_names_the_refused_one() {
    let net = spawn_network(1).await;
    let b = &net.nodes[0];
    net.serve_echo(0).await;
    let mut m = Hostile::<Envelope>::start(68, b.peer_id, b.listen_addrs[0].clone()).await;
    b.handle.add_channel(setup(m.signer.public()), Vec::new()).await.unwrap();
    let me = m.signer.clone();
    let mut inbound = Vec::new();
    // Two requests under a voucher paying both; the second is routed to
    // someone else, so B is not on its route.
    let good = paid(&me, b.key, 1, voucher(&me, &me, 2_000));
    let elsewhere = paid(&me, NodeSigner::from_seed([5; 32]).public(), 2, voucher(&me, &me, 2_000));
    let ids: Vec<_> = [&good, &elsewhere]
        .iter()
        .map(|e| match &e.msg {
            Wire::Request(p) => p.request.id(),
            _ => unreachable!(),
        })
        .collect();
    // The receipt speaks for the frame: one request of it was accepted, so
    // it is not refused (a refusal would end the accepted one at M too).
    let r = m.send(b.peer_id, frame(voucher(&me, &me, 2_000), vec![good, elsewhere]), &mut inbound).await;
    assert!(matches!(r, Ok(Receipt::Accepted)), "{r:?}");
    m.pump(Duration::from_millis(500), &mut inbound).await;
    let ack = inbound
        .iter()
        .find_map(|e| match &e.msg {
            Wire::Ack(a) => Some(a.clone()),
            _ => None,
        })
        .expect("the frame is acknowledged");
    assert_eq!(ack.accepted, vec![ids[0]]);
    assert_eq!(ack.refused.len(), 1, "{ack:?}");
    assert_eq!((ack.refused[0].request_id, ack.refused[0].reason), (ids[1], Refusal::NotOnRoute));
    assert!(
        inbound.iter().any(|e| matches!(&e.msg, Wire::Response(r) if r.request_id == ids[0])),
        "the accepted one is answered: {inbound:?}"
    );
    // A frame whose every request is refused is refused in the receipt.
    let (x, y) = (
        paid(&me, NodeSigner::from_seed([5; 32]).public(), 3, voucher(&me, &me, 1)),
        paid(&me, NodeSigner::from_seed([6; 32]).public(), 4, voucher(&me, &me, 1)),
    );
    let why = refused(m.send(b.peer_id, frame(voucher(&me, &me, 4_000), vec![x, y]), &mut inbound).await);
    assert!(why.contains("does not run over this channel to this node"), "{why}");
}

/// The graph of M and B joined by `CHANNEL`, B serving in `service_ms`.
fn graph(m: por_core::NodeKey, b: por_core::NodeKey, service_ms: u64) -> por_node::NetworkGraph {
    let mut g = por_core::graph::Graph::new();
    for _ in 0..2 {
        g.add_node(por_core::graph::NodeInfo { stake: 1, service_ms });
    }
    g.add_edge(por_core::graph::Edge { channel: CHANNEL, a: 0, b: 1, params: PARAMS }).unwrap();
    por_node::NetworkGraph::new(1, g, vec![m, b], vec!["m".into(), "b".into()], vec![true, true])
}

#[tokio::test]
async fn a_node_just_started_holds_paid_requests_until_it_has_the_graph_and_no_longer() {
    // B checks routes against the chain (as every node with a chain does)
    // and has no graph yet, as just after a restart.
    let net = common::spawn_network_with(1, |_, c| c.protocol.limits.trust_route_terms = false).await;
    let b = &net.nodes[0];
    net.serve_echo(0).await;
    let mut m = Hostile::<Envelope>::start(69, b.peer_id, b.listen_addrs[0].clone()).await;
    b.handle.add_channel(setup(m.signer.public()), Vec::new()).await.unwrap();
    let me = m.signer.clone();
    let mut inbound = Vec::new();
    // The graph comes 500 ms after the request: the request waits for it
    // and is accepted, not refused no_terms.
    let (handle, (mk, bk)) = (b.handle.clone(), (me.public(), b.key));
    let publish = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        handle.set_graph(graph(mk, bk, 0));
    });
    let began = std::time::Instant::now();
    let r = m.send(b.peer_id, paid(&me, b.key, 1, voucher(&me, &me, 1_000)), &mut inbound).await;
    assert!(matches!(r, Ok(Receipt::Accepted)), "{r:?}");
    assert!(began.elapsed() >= Duration::from_millis(400), "held until the graph came: {:?}", began.elapsed());
    publish.await.unwrap();
    m.pump(Duration::from_millis(500), &mut inbound).await;
    assert!(inbound.iter().any(|e| matches!(e.msg, Wire::Response(_))), "{inbound:?}");

    // A second node that never gets a graph refuses after the wait, with
    // the reason, rather than hold the request for ever.
    let c_started = std::time::Instant::now();
    let net2 = common::spawn_network_with(1, |_, c| c.protocol.limits.trust_route_terms = false).await;
    let c = &net2.nodes[0];
    let mut m2 = Hostile::<Envelope>::start(70, c.peer_id, c.listen_addrs[0].clone()).await;
    c.handle.add_channel(setup(m2.signer.public()), Vec::new()).await.unwrap();
    let me2 = m2.signer.clone();
    // A stranger (no channel with C) is not held: refused at once, so it
    // cannot make the waiting node keep what it sends.
    let mut stranger = Hostile::<Envelope>::start(71, c.peer_id, c.listen_addrs[0].clone()).await;
    let s = stranger.signer.clone();
    let began = std::time::Instant::now();
    let why = refused(stranger.send(c.peer_id, paid(&s, c.key, 1, voucher(&s, &s, 1_000)), &mut inbound).await);
    assert!(why.contains("not a channel with you"), "{why}");
    assert!(began.elapsed() < Duration::from_secs(2), "not held: {:?}", began.elapsed());
    let began = std::time::Instant::now();
    let why = refused(m2.send(c.peer_id, paid(&me2, c.key, 1, voucher(&me2, &me2, 1_000)), &mut inbound).await);
    assert!(why.contains("no_terms") || why.contains("graph"), "{why}");
    // Held until the wait (3 s from C's start) was over, and no longer.
    let (since_start, waited) = (c_started.elapsed(), began.elapsed());
    assert!(since_start >= Duration::from_millis(2_900), "held to the end of the wait: {since_start:?}");
    assert!(waited < Duration::from_secs(8), "held about 3 s: {waited:?}");
}

#[tokio::test]
async fn a_requester_learns_why_its_first_hop_refused() {
    let net = spawn_network(1).await;
    let a = &net.nodes[0];
    let mut m = Hostile::<Envelope>::start(67, a.peer_id, a.listen_addrs[0].clone()).await;
    // M must be reachable by A: A dials it by the address M listens on.
    let m_addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = m.swarm.select_next_some().await {
            break address;
        }
    };
    a.handle.add_channel(setup(m.signer.public()), vec![m_addr]).await.unwrap();
    let route =
        Route { hops: vec![RouteHop { channel: CHANNEL, node: m.signer.public(), params: PARAMS }], service_ms: 0 };
    let (id, mut rx) = a.handle.request(route, "echo", b"hi".to_vec(), 64).await.unwrap();
    // M refuses every request with a reason.
    let refusal = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let SwarmEvent::Behaviour(ev) = m.swarm.select_next_some().await
                && let Some(NetEvent::Inbound { lane, msg, reply, .. }) = m.swarm.behaviour_mut().on_event(ev)
            {
                let r = if matches!(msg.msg, Wire::Request(_)) {
                    Receipt::refused(por_core::protocol::Refusal::Busy, "not today")
                } else {
                    Receipt::Accepted
                };
                let done = matches!(r, Receipt::Refused { .. });
                m.swarm.behaviour_mut().receipt(lane, reply, r);
                if done {
                    return;
                }
            }
        }
    })
    .await;
    assert!(refusal.is_ok(), "M never saw the request");
    // The request ends: the stream closes with no outcome, and the reason is kept.
    let closed = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
    assert!(matches!(closed, Ok(None)), "{closed:?}");
    // The typed reason travelled with the receipt.
    let why = a.handle.refusal(id).await.unwrap().expect("a refusal is kept");
    assert_eq!((why.code, why.detail.as_str()), (Some(por_core::protocol::Refusal::Busy), "not today"));
    assert_eq!(a.handle.status().await.unwrap().in_flight, 0, "nothing left to time out or cut");
}

#[tokio::test]
async fn an_altered_response_is_dropped_and_garbage_frames_do_not_stop_the_node() {
    let net = spawn_network(2).await;
    let (a, b) = (&net.nodes[0], &net.nodes[1]);
    // A's requests go to M, which relays nothing and answers with a
    // response whose body it changed after the server (seed 50) signed it.
    let server = NodeSigner::from_seed([50; 32]);
    let mut m = Hostile::<Envelope>::start(68, a.peer_id, a.listen_addrs[0].clone()).await;
    let m_addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = m.swarm.select_next_some().await {
            break address;
        }
    };
    a.handle.add_channel(setup(m.signer.public()), vec![m_addr]).await.unwrap();
    let route = Route {
        hops: vec![
            RouteHop { channel: CHANNEL, node: m.signer.public(), params: PARAMS },
            RouteHop { channel: ChannelId(78), node: server.public(), params: PARAMS },
        ],
        service_ms: 0,
    };
    let (id, mut rx) = a.handle.request(route, "echo", b"hi".to_vec(), 64).await.unwrap();
    let mut inbound = Vec::new();
    m.pump(Duration::from_millis(300), &mut inbound).await;
    assert!(inbound.iter().any(|e| matches!(e.msg, Wire::Request(_))));
    let mut altered = Response::create(id, b"the true answer".to_vec(), &server);
    altered.body = b"a forged answer".to_vec();
    let r =
        m.send(a.peer_id, Envelope { channel: CHANNEL, msg: Wire::Response(Box::new(altered)) }, &mut inbound).await;
    assert!(matches!(r, Ok(Receipt::Accepted)), "{r:?}");
    // A genuine response from the server still gets through afterwards.
    let genuine = Response::create(id, b"the true answer".to_vec(), &server);
    let r =
        m.send(a.peer_id, Envelope { channel: CHANNEL, msg: Wire::Response(Box::new(genuine)) }, &mut inbound).await;
    assert!(matches!(r, Ok(Receipt::Accepted)), "{r:?}");
    let seen = common::outcome(&mut rx, Duration::from_secs(5)).await;
    let Some(Delivery::Response { response, .. }) = seen.last() else { panic!("{seen:?}") };
    assert_eq!(response.body, b"the true answer", "the altered response never reached the requester");

    // A frame of garbage on B's relay lane: B drops that stream (the
    // message fails on the sender's side) and keeps serving A. An
    // oversized message never leaves: the sender's own lane refuses it
    // (behaviours/tests/lanes.rs sends oversized frames with a lax sender).
    let mut g = Hostile::<Vec<u8>>::start(69, b.peer_id, b.listen_addrs[0].clone()).await;
    let mut junk = Vec::new();
    assert!(g.send(b.peer_id, vec![0xff; 64], &mut junk).await.is_err(), "a frame that is no envelope");
    let huge = g.send(b.peer_id, vec![7; 9 * 1024 * 1024], &mut junk).await;
    assert!(huge.is_err_and(|e| e.contains("exceeds the limit")), "an oversized message");
    net.link(0, 1, 5, 20).await;
    net.serve_echo(1).await;
    let route = net.route(&[0, 1], &[5], EdgeParams { latency_ms: 20, base_fee: 1, byte_fee: 0 }, 0);
    let (_, mut rx) = a.handle.request(route, "echo", b"still here?".to_vec(), 256).await.unwrap();
    let seen = common::outcome(&mut rx, Duration::from_secs(10)).await;
    assert!(matches!(seen.last(), Some(Delivery::Response { .. })), "{seen:?}");
}
