//! Real swarms over TCP on 127.0.0.1: messages and receipts on both lanes,
//! an oversized message refused with a clear error, a lane stream reopened
//! after its connection dropped, and discovery through a bootstrap peer
//! (identify feeding Kademlia).

use std::time::Duration;

use futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};
use por_behaviours::protocol::MAX_RELAY_MESSAGE;
use por_behaviours::{Behaviour, Lane, NetConfig, NetEvent, Receipt, build_swarm};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Msg {
    Hello(u32),
    Blob(Vec<u8>),
}

type S = Swarm<Behaviour<Msg>>;

async fn spawn_node(seed: u8) -> (S, Multiaddr) {
    let key = Keypair::ed25519_from_bytes([seed; 32]).unwrap();
    let mut s = build_swarm::<Msg>(key, &NetConfig::default()).unwrap();
    s.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap()).unwrap();
    loop {
        if let SwarmEvent::NewListenAddr { address, .. } = s.select_next_some().await {
            return (s, address);
        }
    }
}

fn answer(s: &mut S, ev: NetEvent<Msg>) {
    if let NetEvent::Inbound { lane, msg, reply, .. } = ev {
        let r = match msg {
            Msg::Blob(_) => Receipt::refused(por_core::protocol::Refusal::NotOnRoute, "no blobs here"),
            Msg::Hello(_) => Receipt::Accepted,
        };
        s.behaviour_mut().receipt(lane, reply, r);
    }
}

/// Drives `s` until `f` returns `Some`, answering inbound messages with
/// `Accepted` (or `Refused` for a `Blob`) along the way.
async fn until<T>(s: &mut S, mut f: impl FnMut(&NetEvent<Msg>) -> Option<T>) -> T {
    loop {
        if let SwarmEvent::Behaviour(ev) = s.select_next_some().await
            && let Some(ev) = s.behaviour_mut().on_event(ev)
        {
            let out = f(&ev);
            answer(s, ev);
            if let Some(out) = out {
                return out;
            }
        }
    }
}

/// Drives `s` in the background (answering messages) until told to stop.
fn run_bg(mut s: S) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<S>) {
    let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
    let h = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut rx => return s,
                ev = s.select_next_some() => {
                    if let SwarmEvent::Behaviour(ev) = ev
                        && let Some(ev) = s.behaviour_mut().on_event(ev) {
                            answer(&mut s, ev);
                        }
                }
            }
        }
    });
    (tx, h)
}

/// Runs `b` in the background while `a` waits for its condition.
async fn pair<T>(a: &mut S, b: S, f: impl FnMut(&NetEvent<Msg>) -> Option<T>) -> (T, S) {
    let (stop, h) = run_bg(b);
    let out = tokio::time::timeout(Duration::from_secs(20), until(a, f)).await.expect("condition within 20 s");
    stop.send(()).unwrap();
    (out, h.await.unwrap())
}

#[tokio::test]
async fn messages_and_receipts_on_both_lanes() {
    let (mut a, _) = spawn_node(1).await;
    let (b, b_addr) = spawn_node(2).await;
    let b_id: PeerId = *b.local_peer_id();
    a.behaviour_mut().add_address(&b_id, b_addr);

    let id = a.behaviour_mut().send(&b_id, Lane::Relay, Msg::Hello(7));
    let (got, b) = pair(&mut a, b, |ev| match ev {
        NetEvent::Delivered { id: i, lane, receipt, .. } if *i == id => Some((*lane, receipt.clone())),
        NetEvent::Failed { error, .. } => panic!("failed: {error}"),
        _ => None,
    })
    .await;
    assert_eq!(got, (Lane::Relay, Receipt::Accepted));

    let id = a.behaviour_mut().send(&b_id, Lane::Sync, Msg::Blob(vec![1, 2, 3]));
    let (got, _b) = pair(&mut a, b, |ev| match ev {
        NetEvent::Delivered { id: i, lane, receipt, .. } if *i == id => Some((*lane, receipt.clone())),
        _ => None,
    })
    .await;
    assert_eq!(got, (Lane::Sync, Receipt::refused(por_core::protocol::Refusal::NotOnRoute, "no blobs here")));
}

#[tokio::test]
async fn oversized_message_fails_with_the_limit_named() {
    let (mut a, _) = spawn_node(3).await;
    let (b, b_addr) = spawn_node(4).await;
    let b_id = *b.local_peer_id();
    a.behaviour_mut().add_address(&b_id, b_addr);
    let id = a.behaviour_mut().send(&b_id, Lane::Relay, Msg::Blob(vec![0; MAX_RELAY_MESSAGE + 1]));
    let (err, _b) = pair(&mut a, b, |ev| match ev {
        NetEvent::Failed { id: i, error, .. } if *i == id => Some(error.clone()),
        NetEvent::Delivered { id: i, .. } if *i == id => panic!("an oversized message was delivered"),
        _ => None,
    })
    .await;
    assert!(err.contains("exceeds the limit"), "{err}");
}

#[tokio::test]
async fn the_lane_reopens_after_the_connection_drops() {
    let (mut a, _) = spawn_node(13).await;
    let (b, b_addr) = spawn_node(14).await;
    let b_id = *b.local_peer_id();
    a.behaviour_mut().add_address(&b_id, b_addr);
    let id = a.behaviour_mut().send(&b_id, Lane::Relay, Msg::Hello(1));
    let (got, mut b) = pair(&mut a, b, |ev| match ev {
        NetEvent::Delivered { id: i, receipt, .. } if *i == id => Some(receipt.clone()),
        NetEvent::Failed { error, .. } => panic!("failed: {error}"),
        _ => None,
    })
    .await;
    assert_eq!(got, Receipt::Accepted);
    // B drops the connection; A's next message dials again, on a new stream.
    assert!(b.disconnect_peer_id(a.local_peer_id().to_owned()).is_ok());
    let closed = async {
        loop {
            tokio::select! {
                ev = a.select_next_some() => if let SwarmEvent::ConnectionClosed { num_established: 0, .. } = ev {
                    return;
                },
                _ = b.select_next_some() => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), closed).await.expect("the connection closes");
    assert!(!a.is_connected(&b_id));
    let id = a.behaviour_mut().send(&b_id, Lane::Relay, Msg::Hello(2));
    let (got, _b) = pair(&mut a, b, |ev| match ev {
        NetEvent::Delivered { id: i, receipt, .. } if *i == id => Some(receipt.clone()),
        NetEvent::Failed { error, .. } => panic!("failed: {error}"),
        _ => None,
    })
    .await;
    assert_eq!(got, Receipt::Accepted);
}

#[tokio::test]
async fn discovery_through_a_bootstrap_peer() {
    // b and c both know only the bootstrap node a; c finds b through a's DHT.
    let (mut a, a_addr) = spawn_node(5).await;
    let (b, _) = spawn_node(6).await;
    let (mut c, _) = spawn_node(7).await;
    let a_id = *a.local_peer_id();
    let b_id = *b.local_peer_id();
    let mut b = b;
    b.behaviour_mut().add_address(&a_id, a_addr.clone());
    c.behaviour_mut().add_address(&a_id, a_addr);
    assert!(b.behaviour_mut().bootstrap());
    // Let a learn b's address (identify → Kademlia) before c asks.
    let (speaks_por, b) = pair(&mut a, b, |ev| match ev {
        NetEvent::Identified { peer, speaks_por, .. } if *peer == b_id => Some(*speaks_por),
        _ => None,
    })
    .await;
    assert!(speaks_por, "b speaks PoR");
    assert!(c.behaviour_mut().bootstrap());
    let q = c.behaviour_mut().kad.get_closest_peers(b_id);
    let (stop_a, ha) = run_bg(a);
    let (stop_b, hb) = run_bg(b);
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let SwarmEvent::Behaviour(por_behaviours::BehaviourEvent::Kad(
                libp2p::kad::Event::OutboundQueryProgressed {
                    id,
                    result: libp2p::kad::QueryResult::GetClosestPeers(r),
                    ..
                },
            )) = c.select_next_some().await
                && id == q
            {
                return r.map(|ok| ok.peers.iter().any(|p| p.peer_id == b_id)).unwrap_or(false);
            }
        }
    })
    .await
    .expect("query finishes within 20 s");
    assert!(found, "c found b through the bootstrap node");
    stop_a.send(()).unwrap();
    stop_b.send(()).unwrap();
    let _ = (ha.await, hb.await);
}

/// A channel neighbour gets in when strangers hold every general slot; a
/// stranger does not.
#[tokio::test]
async fn channel_neighbours_have_reserved_slots() {
    let key = Keypair::ed25519_from_bytes([9; 32]).unwrap();
    let mut hub = build_swarm::<Msg>(key, &NetConfig { max_connections: 1, ..NetConfig::default() }).unwrap();
    hub.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap()).unwrap();
    let hub_addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = hub.select_next_some().await {
            break address;
        }
    };
    let hub_id = *hub.local_peer_id();
    let (mut stranger, _) = spawn_node(10).await;
    let (mut neighbour, _) = spawn_node(11).await;
    let (mut late, _) = spawn_node(12).await;
    hub.behaviour_mut().reserve_slot(neighbour.local_peer_id());
    for s in [&mut stranger, &mut neighbour, &mut late] {
        s.behaviour_mut().add_address(&hub_id, hub_addr.clone());
    }
    let (stop, h) = run_bg(hub);
    async fn delivered(s: &mut S, to: PeerId) -> Result<(), String> {
        let id = s.behaviour_mut().send(&to, Lane::Relay, Msg::Hello(1));
        let got = until(s, |ev| match ev {
            NetEvent::Delivered { id: i, .. } if *i == id => Some(Ok(())),
            NetEvent::Failed { id: i, error, .. } if *i == id => Some(Err(error.clone())),
            _ => None,
        });
        tokio::time::timeout(Duration::from_secs(10), got).await.expect("an answer within 10 s")
    }
    assert_eq!(delivered(&mut stranger, hub_id).await, Ok(()), "the stranger takes the only general slot");
    assert_eq!(delivered(&mut neighbour, hub_id).await, Ok(()), "the neighbour has its reserved slot");
    assert!(delivered(&mut late, hub_id).await.is_err(), "no slot for another stranger");
    stop.send(()).unwrap();
    let _ = h.await;
}
