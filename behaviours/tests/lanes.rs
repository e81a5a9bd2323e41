//! The v2 lanes against hostile and slow peers, over real TCP + noise +
//! yamux on 127.0.0.1: a frame longer than the receiver's limit, a
//! malformed message, a flood that a receiver does not answer (it is read
//! no faster than it answers) and a slow reader whose queue fills (further
//! sends are refused `Busy` at once). Each peer is a swarm with one lane
//! only, so the two sides can have different limits.

use std::time::Duration;

use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, SwarmBuilder, noise, tcp, yamux};
use por_behaviours::lanes::{LaneConfig, Lanes};
use por_behaviours::protocol::RELAY_PROTOCOL;
use por_behaviours::{Lane, NetEvent, Receipt};
use por_core::protocol::Refusal;
use serde::{Deserialize, Serialize};

/// What the receivers speak.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Msg {
    Hello(u32),
    Blob(Vec<u8>),
}

/// What a hostile sender speaks: `Hello` reads as a [`Msg`], `Junk` does not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Hostile {
    Hello(u32),
    Junk(String),
    Blob(Vec<u8>),
}

fn cfg(max_message: usize) -> LaneConfig {
    LaneConfig {
        lane: Lane::Relay,
        protocol: RELAY_PROTOCOL,
        max_message,
        max_frame: max_message + 1024,
        timeout: Duration::from_secs(20),
        max_queued_messages: 1024,
        max_queued_bytes: 32 << 20,
        max_inbound_messages: 1024,
        max_inbound_bytes: 32 << 20,
    }
}

async fn lane_swarm<M>(cfg: LaneConfig) -> (Swarm<Lanes<M>>, Multiaddr)
where
    M: Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    let mut s = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(move |_| Lanes::new(cfg))
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    s.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap()).unwrap();
    loop {
        if let SwarmEvent::NewListenAddr { address, .. } = s.select_next_some().await {
            return (s, address);
        }
    }
}

/// What either side saw, in order.
#[derive(Debug)]
enum Seen<A, B> {
    A(NetEvent<A>),
    B(NetEvent<B>),
}

/// Drives both swarms until `f` returns `Some` (20 s at most).
async fn drive<A, B, T>(
    a: &mut Swarm<Lanes<A>>,
    b: &mut Swarm<Lanes<B>>,
    mut f: impl FnMut(Seen<A, B>, &mut Swarm<Lanes<A>>, &mut Swarm<Lanes<B>>) -> Option<T>,
) -> T
where
    A: Serialize + serde::de::DeserializeOwned + Send + 'static,
    B: Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    let run = async {
        loop {
            let seen = tokio::select! {
                ev = a.select_next_some() => match ev { SwarmEvent::Behaviour(e) => Seen::A(e), _ => continue },
                ev = b.select_next_some() => match ev { SwarmEvent::Behaviour(e) => Seen::B(e), _ => continue },
            };
            if let Some(t) = f(seen, a, b) {
                return t;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), run).await.expect("done within 20 s")
}

/// Connects `a` to `b` (the lanes have no address book of their own).
async fn connect<A, B>(a: &mut Swarm<Lanes<A>>, b: &mut Swarm<Lanes<B>>, b_addr: Multiaddr) -> PeerId
where
    A: Serialize + serde::de::DeserializeOwned + Send + 'static,
    B: Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    let b_id = *b.local_peer_id();
    a.dial(b_addr).unwrap();
    let up = async {
        loop {
            tokio::select! {
                ev = a.select_next_some() => if let SwarmEvent::ConnectionEstablished { peer_id, .. } = ev && peer_id == b_id {
                    return;
                },
                _ = b.select_next_some() => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), up).await.expect("connected within 20 s");
    b_id
}

#[tokio::test]
async fn a_frame_over_the_receivers_limit_drops_the_stream_with_both_sizes_named() {
    // The sender allows 64 KiB messages, the receiver 2 KiB (frames 3 KiB).
    let (mut a, _) = lane_swarm::<Hostile>(cfg(64 << 10)).await;
    let (mut b, b_addr) = lane_swarm::<Msg>(cfg(2 << 10)).await;
    let b_id = connect(&mut a, &mut b, b_addr).await;
    let id = a.behaviour_mut().send(&b_id, &Hostile::Blob(vec![7; 8 << 10]));
    let (mut refused, mut failed) = (None, None);
    drive(&mut a, &mut b, |seen, _, _| {
        match seen {
            Seen::B(NetEvent::InboundFailed { error, .. }) => refused = Some(error),
            Seen::A(NetEvent::Failed { id: i, error, .. }) if i == id => failed = Some(error),
            Seen::A(NetEvent::Delivered { .. }) | Seen::B(NetEvent::Inbound { .. }) => {
                panic!("an oversized frame got through")
            }
            _ => {}
        }
        (refused.is_some() && failed.is_some()).then_some(())
    })
    .await;
    let refused = refused.unwrap();
    assert!(refused.contains("exceeds the limit of 3072 bytes"), "{refused}");
    assert!(refused.contains("frame of"), "{refused}");
    let failed = failed.unwrap();
    assert!(failed.contains("stream broke"), "{failed}");
}

#[tokio::test]
async fn an_oversized_message_is_refused_before_it_leaves() {
    let (mut a, _) = lane_swarm::<Msg>(cfg(1024)).await;
    let (mut b, b_addr) = lane_swarm::<Msg>(cfg(1024)).await;
    let b_id = connect(&mut a, &mut b, b_addr).await;
    let id = a.behaviour_mut().send(&b_id, &Msg::Blob(vec![1; 2048]));
    let (error, undelivered) = drive(&mut a, &mut b, |seen, _, _| match seen {
        Seen::A(NetEvent::Failed { id: i, error, undelivered, .. }) if i == id => Some((error, undelivered)),
        Seen::B(NetEvent::Inbound { .. }) => panic!("an oversized message got through"),
        _ => None,
    })
    .await;
    assert!(undelivered, "it never left");
    assert!(error.contains("exceeds the limit of 1024 bytes"), "{error}");
}

#[tokio::test]
async fn a_malformed_message_drops_the_stream_and_the_next_message_opens_a_new_one() {
    let (mut a, _) = lane_swarm::<Hostile>(cfg(4096)).await;
    let (mut b, b_addr) = lane_swarm::<Msg>(cfg(4096)).await;
    let b_id = connect(&mut a, &mut b, b_addr).await;
    let junk = a.behaviour_mut().send(&b_id, &Hostile::Junk("not a message".into()));
    let mut dropped = None;
    let mut failed = None;
    drive(&mut a, &mut b, |seen, _, _| {
        match seen {
            Seen::B(NetEvent::InboundFailed { error, .. }) => dropped = Some(error),
            Seen::A(NetEvent::Failed { id, error, undelivered, .. }) if id == junk => {
                failed = Some((error, undelivered))
            }
            Seen::A(NetEvent::Delivered { id, .. }) if id == junk => panic!("junk was receipted"),
            _ => {}
        }
        (dropped.is_some() && failed.is_some()).then_some(())
    })
    .await;
    let dropped = dropped.unwrap();
    assert!(dropped.contains("malformed message: entry 0"), "{dropped}");
    assert!(!failed.unwrap().1, "junk reached the peer: it may have been delivered");
    // The connection stays; a good message goes on a new stream.
    let hello = a.behaviour_mut().send(&b_id, &Hostile::Hello(5));
    let receipt = drive(&mut a, &mut b, |seen, _, b| match seen {
        Seen::B(NetEvent::Inbound { msg, reply, .. }) => {
            assert_eq!(msg, Msg::Hello(5));
            assert!(b.behaviour_mut().receipt(reply, Receipt::Accepted));
            None
        }
        Seen::A(NetEvent::Delivered { id, receipt, .. }) if id == hello => Some(receipt),
        Seen::A(NetEvent::Failed { error, .. }) => panic!("{error}"),
        _ => None,
    })
    .await;
    assert_eq!(receipt, Receipt::Accepted);
}

/// A receiver that does not answer is read no further than its inbound
/// bound; the sender's queue then fills and its next send is refused
/// `Busy` at once; once the receiver answers, the rest is read.
#[tokio::test]
async fn a_flood_is_read_no_faster_than_it_is_answered_and_a_slow_reader_gets_busy() {
    const WINDOW: usize = 8;
    const QUEUE: usize = 4;
    let (mut a, _) =
        lane_swarm::<Msg>(LaneConfig { max_queued_messages: QUEUE, max_queued_bytes: 1 << 30, ..cfg(128 << 10) }).await;
    let (mut b, b_addr) = lane_swarm::<Msg>(LaneConfig { max_inbound_messages: WINDOW, ..cfg(128 << 10) }).await;
    let b_id = connect(&mut a, &mut b, b_addr).await;
    // 64 KiB messages, one per turn: yamux's stream window (256 KiB) takes
    // a few, B reads WINDOW of them, the rest wait in A's queue.
    let mut unanswered = Vec::new();
    let mut sent = 0;
    let mut busy = None;
    while busy.is_none() {
        assert!(sent < 400, "no Busy after {sent} messages");
        a.behaviour_mut().send(&b_id, &Msg::Blob(vec![sent as u8; 64 << 10]));
        sent += 1;
        // Let both sides work for a while.
        let _ = tokio::time::timeout(
            Duration::from_millis(20),
            drive(&mut a, &mut b, |seen, _, _| {
                match seen {
                    Seen::B(NetEvent::Inbound { reply, .. }) => unanswered.push(reply),
                    Seen::A(NetEvent::Delivered { receipt: Receipt::Refused { reason, detail }, .. }) => {
                        assert_eq!(reason, Refusal::Busy);
                        busy = Some(detail);
                    }
                    Seen::A(NetEvent::Failed { error, .. }) => panic!("{error}"),
                    _ => {}
                }
                None::<()>
            }),
        )
        .await;
    }
    let busy = busy.unwrap();
    assert!(busy.contains(&format!("{QUEUE} messages")) && busy.contains("reads too slowly"), "{busy}");
    assert_eq!(unanswered.len(), WINDOW, "B read exactly its inbound bound and no more");
    // B answers: A's queue drains, B reads on; every message sent and not
    // refused is receipted.
    let refused = 1;
    let mut receipted = 0;
    let mut got = WINDOW;
    for r in unanswered.drain(..) {
        assert!(b.behaviour_mut().receipt(r, Receipt::Accepted));
    }
    drive(&mut a, &mut b, |seen, _, b| {
        match seen {
            Seen::B(NetEvent::Inbound { reply, .. }) => {
                got += 1;
                assert!(b.behaviour_mut().receipt(reply, Receipt::Accepted));
            }
            Seen::A(NetEvent::Delivered { receipt: Receipt::Accepted, .. }) => receipted += 1,
            Seen::A(NetEvent::Delivered { receipt, .. }) => panic!("{receipt:?}"),
            _ => {}
        }
        (receipted == sent - refused).then_some(())
    })
    .await;
    assert_eq!(got, sent - refused);
    assert_eq!(a.behaviour().in_flight(), 0);
}

#[tokio::test]
async fn many_messages_of_one_turn_leave_as_one_frame_and_all_are_receipted() {
    let (mut a, _) = lane_swarm::<Msg>(cfg(4096)).await;
    let (mut b, b_addr) = lane_swarm::<Msg>(cfg(4096)).await;
    let b_id = connect(&mut a, &mut b, b_addr).await;
    a.behaviour_mut().hold_frames(true);
    let ids: Vec<_> = (0..100).map(|i| a.behaviour_mut().send(&b_id, &Msg::Hello(i))).collect();
    a.behaviour_mut().flush();
    let mut next = 0;
    let mut done = 0;
    drive(&mut a, &mut b, |seen, _, b| {
        match seen {
            Seen::B(NetEvent::Inbound { msg, reply, .. }) => {
                assert_eq!(msg, Msg::Hello(next), "in order");
                next += 1;
                let r = if next % 2 == 0 { Receipt::Accepted } else { Receipt::refused(Refusal::Busy, "odd") };
                b.behaviour_mut().receipt(reply, r);
                b.behaviour_mut().flush();
            }
            Seen::A(NetEvent::Delivered { id, receipt, .. }) => {
                let i = ids.iter().position(|x| *x == id).unwrap();
                assert_eq!(receipt == Receipt::Accepted, i % 2 == 1, "receipt {i}: {receipt:?}");
                done += 1;
            }
            Seen::A(NetEvent::Failed { error, .. }) => panic!("{error}"),
            _ => {}
        }
        (done == 100).then_some(())
    })
    .await;
    assert_eq!(a.behaviour().frames_sent(), 1, "one frame carried them all");
}
