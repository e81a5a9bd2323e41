//! A v2 lane: one long-lived stream per neighbour and direction carrying
//! frames of messages one way and frames of their receipts the other way
//! ([`crate::frame`]).
//!
//! # Streams
//! A node that has messages for a neighbour opens one stream on the lane's
//! protocol over one connection and keeps it: it writes frames of
//! messages, the neighbour writes back frames of receipts. The neighbour's
//! own messages travel on the stream it opens. Receipts never wait behind
//! messages and are always read, so two nodes that both stop reading each
//! other's messages cannot block each other's receipts. A stream that
//! breaks fails its un-receipted messages (they may have been delivered);
//! the next message opens a new one. When the connection drops, messages
//! not yet written wait for the next connection (the lane dials the peer);
//! a peer that cannot be dialed fails them as undelivered.
//!
//! # Frames and turns
//! [`Lanes::send`] encodes a message at once (so its size is checked at
//! once) and stages it; [`Lanes::flush`] hands what was staged to the
//! connections, which write everything handed over since their last write
//! as one frame (up to the frame limit). A node that calls `flush` once at
//! the end of each event-loop turn sends one frame per neighbour and turn;
//! a lane left to flush itself ([`Lanes::hold_frames`] off, the default)
//! flushes whenever the swarm polls it.
//!
//! # Bounds
//! Outbound: messages staged or handed over but not yet written, per
//! neighbour, are bounded in count and bytes; over the bound a send is
//! refused at once with a `Busy` receipt. Inbound: a connection reads the
//! next frame of a stream only while the messages it delivered and that
//! the node has not receipted yet (and receipts not yet written) stay under
//! a bound in count and bytes, so a flooding peer is read no faster than
//! the node handles its messages, and TCP's flow control holds it back.
//! Every frame's length is checked before its buffer is allocated.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker, ready};
use std::time::{Duration, Instant};

use futures::{AsyncWrite, FutureExt};
use futures_timer::Delay;
use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::ReadyUpgrade;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::handler::{ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, DialError, FromSwarm, NetworkBehaviour,
    Stream, SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId, StreamProtocol};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::behaviour::{Lane, NetEvent, Receipt};
use crate::codec::{FrameError, encode};
use crate::frame::{self, FrameBuf, FrameReader, MESSAGE_HEADER, RECEIPT_HEADER};

mod handler;
pub use handler::{Decoded, Handler, HandlerEvent};

/// The settings of one lane.
#[derive(Debug, Clone)]
pub struct LaneConfig {
    /// Which lane (for events and errors).
    pub lane: Lane,
    /// Its protocol name.
    pub protocol: StreamProtocol,
    /// Largest message, bytes of CBOR.
    pub max_message: usize,
    /// Largest frame body, bytes; at least `max_message` plus an entry
    /// header, so every message fits a frame of its own.
    pub max_frame: usize,
    /// How long a message may take to be receipted.
    pub timeout: Duration,
    /// Messages queued to one neighbour (not yet written) beyond which a
    /// send is refused `Busy`.
    pub max_queued_messages: usize,
    /// Bytes queued to one neighbour beyond which a send is refused `Busy`
    /// (a message finding the queue empty is taken whatever its size).
    pub max_queued_bytes: usize,
    /// Messages read from one stream and not receipted yet beyond which
    /// the stream is not read.
    pub max_inbound_messages: usize,
    /// Bytes read from one stream and not receipted yet beyond which the
    /// stream is not read.
    pub max_inbound_bytes: usize,
}

/// Identifies a message sent, in its [`NetEvent::Delivered`] or
/// [`NetEvent::Failed`]; unique across lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(u64);

impl MessageId {
    fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        MessageId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m{}", self.0)
    }
}

/// Where the receipt of an inbound message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyTo {
    conn: ConnectionId,
    stream: u64,
    seq: u64,
}

/// A message encoded and waiting to be written.
struct Outgoing {
    id: MessageId,
    cbor: Vec<u8>,
    deadline: Instant,
}

/// What the lane and one connection's handler share: messages handed over
/// and receipts to write, and the handler's waker.
#[derive(Default)]
struct Queue {
    ready: VecDeque<Outgoing>,
    ready_bytes: usize,
    /// (inbound stream number, message number, receipt).
    receipts: Vec<(u64, u64, Receipt)>,
    waker: Option<Waker>,
    /// Frames of messages written (begun) so far.
    frames: u64,
}

type Shared = Arc<Mutex<Queue>>;

fn lock(q: &Shared) -> MutexGuard<'_, Queue> {
    q.lock().unwrap_or_else(|e| e.into_inner())
}

fn wake(q: &Shared) {
    let w = lock(q).waker.take();
    if let Some(w) = w {
        w.wake();
    }
}

/// A connection of the lane.
struct Conn {
    peer: PeerId,
    queue: Shared,
}

/// What is staged for one neighbour, and the connection its messages go on.
#[derive(Default)]
struct PeerQueue {
    staged: VecDeque<Outgoing>,
    staged_bytes: usize,
    conn: Option<ConnectionId>,
    dialing: bool,
    dirty: bool,
}

/// A message sent and not receipted yet: to whom, and the connection it
/// was handed to (`None`: still staged, certainly not written).
struct Flight {
    peer: PeerId,
    conn: Option<ConnectionId>,
}

/// One lane as a [`NetworkBehaviour`]. `M` is the node's message type.
pub struct Lanes<M> {
    cfg: Arc<LaneConfig>,
    peers: HashMap<PeerId, PeerQueue>,
    conns: HashMap<ConnectionId, Conn>,
    /// Connections whose handler exists but that are not established yet.
    fresh: HashMap<ConnectionId, Conn>,
    inflight: HashMap<MessageId, Flight>,
    /// Deadlines in send order (the timeout is the same for every message).
    deadlines: VecDeque<(Instant, MessageId)>,
    timer: Option<(Instant, Delay)>,
    dirty: Vec<PeerId>,
    to_wake: Vec<ConnectionId>,
    events: VecDeque<ToSwarm<NetEvent<M>, Infallible>>,
    hold: bool,
    waker: Option<Waker>,
    /// Frames of messages written on connections now closed.
    frames_closed: u64,
}

impl<M> Lanes<M>
where
    M: Serialize + DeserializeOwned + Send + 'static,
{
    /// A lane with `cfg`.
    pub fn new(cfg: LaneConfig) -> Self {
        assert!(cfg.max_frame >= cfg.max_message + MESSAGE_HEADER, "a frame must hold the largest message");
        Lanes {
            cfg: Arc::new(cfg),
            peers: HashMap::new(),
            conns: HashMap::new(),
            fresh: HashMap::new(),
            inflight: HashMap::new(),
            deadlines: VecDeque::new(),
            timer: None,
            dirty: Vec::new(),
            to_wake: Vec::new(),
            events: VecDeque::new(),
            hold: false,
            waker: None,
            frames_closed: 0,
        }
    }

    /// With `hold` on, staged messages and receipts leave only at
    /// [`Lanes::flush`]; off (the default), whenever the swarm polls.
    pub fn hold_frames(&mut self, hold: bool) {
        self.hold = hold;
    }

    fn emit(&mut self, e: NetEvent<M>) {
        self.events.push_back(ToSwarm::GenerateEvent(e));
        if let Some(w) = &self.waker {
            w.wake_by_ref();
        }
    }

    fn fail_now(&mut self, peer: PeerId, id: MessageId, error: String) -> MessageId {
        self.emit(NetEvent::Failed { peer, lane: self.cfg.lane, id, error, undelivered: true });
        id
    }

    /// Queues `msg` for `peer` (dialing it if needed). Fails at once (an
    /// event) when it does not encode or exceeds the message limit, and is
    /// refused `Busy` at once when the queue to `peer` is full.
    pub fn send(&mut self, peer: &PeerId, msg: &M) -> MessageId {
        let id = MessageId::next();
        let peer = *peer;
        let cbor = match encode(msg) {
            Ok(b) => b,
            Err(e) => return self.fail_now(peer, id, e.to_string()),
        };
        if cbor.len() > self.cfg.max_message {
            let e = FrameError::MessageTooLarge { len: cbor.len(), max: self.cfg.max_message };
            return self.fail_now(peer, id, format!("not sent on the {} lane: {e}", self.cfg.lane));
        }
        let pq = self.peers.entry(peer).or_default();
        let (mut count, mut bytes) = (pq.staged.len(), pq.staged_bytes);
        if let Some(c) = pq.conn.and_then(|c| self.conns.get(&c)) {
            let q = lock(&c.queue);
            count += q.ready.len();
            bytes += q.ready_bytes;
        }
        if count >= self.cfg.max_queued_messages || (count > 0 && bytes + cbor.len() > self.cfg.max_queued_bytes) {
            let detail = format!(
                "{count} messages ({bytes} bytes) already queued to {peer} on the {} lane, the bound is {} messages, \
                 {} bytes: the peer reads too slowly",
                self.cfg.lane, self.cfg.max_queued_messages, self.cfg.max_queued_bytes
            );
            let receipt = Receipt::refused(por_core::protocol::Refusal::Busy, detail);
            self.emit(NetEvent::Delivered { peer, lane: self.cfg.lane, id, receipt });
            return id;
        }
        pq.staged_bytes += cbor.len();
        let deadline = Instant::now() + self.cfg.timeout;
        pq.staged.push_back(Outgoing { id, cbor, deadline });
        if !pq.dirty {
            pq.dirty = true;
            self.dirty.push(peer);
        }
        let dial = pq.conn.is_none() && !pq.dialing;
        if dial {
            pq.dialing = true;
            let opts = DialOpts::peer_id(peer).condition(PeerCondition::DisconnectedAndNotDialing).build();
            self.events.push_back(ToSwarm::Dial { opts });
        }
        self.inflight.insert(id, Flight { peer, conn: None });
        self.deadlines.push_back((deadline, id));
        if (dial || !self.hold)
            && let Some(w) = &self.waker
        {
            w.wake_by_ref();
        }
        id
    }

    /// Answers an inbound message; `false` when its connection is gone.
    pub fn receipt(&mut self, reply: ReplyTo, receipt: Receipt) -> bool {
        let Some(c) = self.conns.get(&reply.conn) else { return false };
        lock(&c.queue).receipts.push((reply.stream, reply.seq, receipt));
        if !self.to_wake.contains(&reply.conn) {
            self.to_wake.push(reply.conn);
        }
        if !self.hold
            && let Some(w) = &self.waker
        {
            w.wake_by_ref();
        }
        true
    }

    /// Hands everything staged to the connections, which write it as one
    /// frame per neighbour (or more, when it exceeds the frame limit).
    pub fn flush(&mut self) {
        for peer in std::mem::take(&mut self.dirty) {
            let Some(pq) = self.peers.get_mut(&peer) else { continue };
            pq.dirty = false;
            if let Some(c) = pq.conn
                && let Some(conn) = self.conns.get(&c)
            {
                hand_over(pq, c, conn, &mut self.inflight);
                if !self.to_wake.contains(&c) {
                    self.to_wake.push(c);
                }
            }
        }
        for c in std::mem::take(&mut self.to_wake) {
            if let Some(conn) = self.conns.get(&c) {
                wake(&conn.queue);
            }
        }
    }

    /// Messages sent and not receipted yet (for tests and metrics).
    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// Frames of messages written so far (begun), on every connection.
    pub fn frames_sent(&self) -> u64 {
        self.frames_closed + self.conns.values().map(|c| lock(&c.queue).frames).sum::<u64>()
    }

    fn on_handler_event(&mut self, peer: PeerId, conn: ConnectionId, ev: HandlerEvent<M>) {
        let lane = self.cfg.lane;
        match ev {
            HandlerEvent::Messages { stream, first_seq, msgs } => {
                for (i, msg) in msgs.0.into_iter().enumerate() {
                    let reply = ReplyTo { conn, stream, seq: first_seq + i as u64 };
                    self.events.push_back(ToSwarm::GenerateEvent(NetEvent::Inbound { peer, lane, msg, reply }));
                }
            }
            HandlerEvent::Receipts(rs) => {
                for (id, receipt) in rs {
                    if self.inflight.remove(&id).is_some() {
                        self.events.push_back(ToSwarm::GenerateEvent(NetEvent::Delivered { peer, lane, id, receipt }));
                    }
                }
            }
            HandlerEvent::Failed { ids, error, undelivered } => self.fail_ids(peer, ids, &error, undelivered),
            HandlerEvent::InboundError(error) => {
                self.events.push_back(ToSwarm::GenerateEvent(NetEvent::InboundFailed { peer, lane, error }));
            }
        }
    }

    fn fail_ids(&mut self, peer: PeerId, ids: Vec<MessageId>, error: &str, undelivered: bool) {
        let lane = self.cfg.lane;
        for id in ids {
            if self.inflight.remove(&id).is_some() {
                let error = error.to_string();
                self.events.push_back(ToSwarm::GenerateEvent(NetEvent::Failed { peer, lane, id, error, undelivered }));
            }
        }
    }

    fn established(&mut self, peer: PeerId, id: ConnectionId) {
        let Some(conn) = self.fresh.remove(&id) else { return };
        let pq = self.peers.entry(peer).or_default();
        pq.dialing = false;
        if pq.conn.is_none() {
            pq.conn = Some(id);
            hand_over(pq, id, &conn, &mut self.inflight);
            wake(&conn.queue);
        }
        self.conns.insert(id, conn);
    }

    fn closed(&mut self, peer: PeerId, id: ConnectionId, cause: String) {
        self.fresh.remove(&id);
        let Some(conn) = self.conns.remove(&id) else { return };
        // The handler is gone: what it had not taken was never written.
        let left = {
            let mut q = lock(&conn.queue);
            q.ready_bytes = 0;
            self.frames_closed += q.frames;
            std::mem::take(&mut q.ready)
        };
        let lost: Vec<MessageId> = self
            .inflight
            .iter()
            .filter(|(m, f)| f.conn == Some(id) && !left.iter().any(|o| o.id == **m))
            .map(|(m, _)| *m)
            .collect();
        let error = format!("the connection to {peer} closed before the receipt came: {cause}");
        self.fail_ids(peer, lost, &error, false);
        let other = self.conns.iter().find(|(_, c)| c.peer == peer).map(|(i, _)| *i);
        let Some(pq) = self.peers.get_mut(&peer) else { return };
        for o in left.into_iter().rev() {
            if let Some(f) = self.inflight.get_mut(&o.id) {
                f.conn = None;
                pq.staged_bytes += o.cbor.len();
                pq.staged.push_front(o);
            }
        }
        if pq.conn == Some(id) {
            pq.conn = other;
        }
        match pq.conn {
            Some(c) => {
                let conn = &self.conns[&c];
                hand_over(pq, c, conn, &mut self.inflight);
                wake(&conn.queue);
            }
            None if !pq.staged.is_empty() && !pq.dialing => {
                // Reopen: dial again for what is still to go.
                pq.dialing = true;
                let opts = DialOpts::peer_id(peer).condition(PeerCondition::DisconnectedAndNotDialing).build();
                self.events.push_back(ToSwarm::Dial { opts });
            }
            None if pq.staged.is_empty() && !pq.dialing => {
                self.peers.remove(&peer);
            }
            None => {}
        }
    }

    fn dial_failed(&mut self, peer: PeerId, error: &DialError) {
        if matches!(error, DialError::DialPeerConditionFalse(_)) {
            // Connected already, or another dial is under way: its outcome decides.
            return;
        }
        let Some(pq) = self.peers.get_mut(&peer) else { return };
        if pq.conn.is_some() {
            return;
        }
        pq.dialing = false;
        pq.staged_bytes = 0;
        let ids: Vec<MessageId> = std::mem::take(&mut pq.staged).into_iter().map(|o| o.id).collect();
        self.peers.remove(&peer);
        let error = format!("cannot reach {peer}: {error}");
        self.fail_ids(peer, ids, &error, true);
    }

    /// Fails the messages whose receipt is overdue.
    fn expire(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.deadlines.front() {
            if at > now {
                break;
            }
            self.deadlines.pop_front();
            let Some(f) = self.inflight.remove(&id) else { continue };
            let staged = f.conn.is_none()
                && self.peers.get_mut(&f.peer).is_some_and(|pq| match pq.staged.iter().position(|o| o.id == id) {
                    Some(i) => {
                        let o = pq.staged.remove(i).expect("found");
                        pq.staged_bytes -= o.cbor.len();
                        true
                    }
                    None => false,
                });
            let error = format!("no receipt within {:?}", self.cfg.timeout);
            let lane = self.cfg.lane;
            self.events.push_back(ToSwarm::GenerateEvent(NetEvent::Failed {
                peer: f.peer,
                lane,
                id,
                error,
                undelivered: staged,
            }));
        }
        // Receipted messages leave their deadline behind; drop those now
        // and then so the queue stays proportional to what is in flight.
        if self.deadlines.len() > 2 * self.inflight.len() + 1024 {
            let inflight = &self.inflight;
            self.deadlines.retain(|(_, id)| inflight.contains_key(id));
        }
    }
}

/// Moves what is staged for a peer to its connection's queue.
fn hand_over(pq: &mut PeerQueue, c: ConnectionId, conn: &Conn, inflight: &mut HashMap<MessageId, Flight>) {
    if pq.staged.is_empty() {
        return;
    }
    let mut q = lock(&conn.queue);
    q.ready_bytes += pq.staged_bytes;
    pq.staged_bytes = 0;
    for o in pq.staged.drain(..) {
        if let Some(f) = inflight.get_mut(&o.id) {
            f.conn = Some(c);
        }
        q.ready.push_back(o);
    }
}

impl<M> NetworkBehaviour for Lanes<M>
where
    M: Serialize + DeserializeOwned + Send + 'static,
{
    type ConnectionHandler = Handler<M>;
    type ToSwarm = NetEvent<M>;

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let queue = Shared::default();
        self.fresh.insert(id, Conn { peer, queue: queue.clone() });
        Ok(Handler::new(self.cfg.clone(), queue))
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let queue = Shared::default();
        self.fresh.insert(id, Conn { peer, queue: queue.clone() });
        Ok(Handler::new(self.cfg.clone(), queue))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(e) => self.established(e.peer_id, e.connection_id),
            FromSwarm::ConnectionClosed(e) => {
                let cause = e.cause.map_or_else(|| "closed".to_string(), |c| c.to_string());
                self.closed(e.peer_id, e.connection_id, cause)
            }
            FromSwarm::DialFailure(e) => {
                self.fresh.remove(&e.connection_id);
                if let Some(peer) = e.peer_id {
                    self.dial_failed(peer, e.error);
                }
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(&mut self, peer: PeerId, conn: ConnectionId, ev: THandlerOutEvent<Self>) {
        self.on_handler_event(peer, conn, ev);
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        if !self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            self.waker = Some(cx.waker().clone());
        }
        if !self.hold {
            self.flush();
        }
        loop {
            self.expire(Instant::now());
            let Some(&(at, _)) = self.deadlines.front() else {
                self.timer = None;
                break;
            };
            if self.timer.as_ref().is_none_or(|(t, _)| *t != at) {
                self.timer = Some((at, Delay::new(at.saturating_duration_since(Instant::now()))));
            }
            let (_, delay) = self.timer.as_mut().expect("set above");
            if delay.poll_unpin(cx).is_pending() {
                break;
            }
        }
        match self.events.pop_front() {
            Some(e) => Poll::Ready(e),
            None => Poll::Pending,
        }
    }
}
