//! The event loop's network side: swarm events in (messages and their
//! receipts, connections, lookups) and messages out.
//!
//! A message received is handed to the engine at once and answered by its
//! receipt (accepted, or refused with the engine's reason). A message sent
//! is queued in the behaviour's lanes and leaves with the others of the
//! turn at its end ([`EventLoop::end_turn`]). A request's receipt tells the
//! requester side why the first hop refused it; a message that failed as
//! undelivered (the first hop could not be reached) refuses the request
//! too.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::metrics::Recorder;
use libp2p::swarm::SwarmEvent;
use por_behaviours::{Lane, NetEvent, Receipt, ReplyTo};
use por_core::protocol::{Effect, EngineEvent, Refusal, Wire};
use por_core::{ChannelId, Ed25519Verifier};
use tracing::{debug, info, warn};

use super::{Envelope, EventLoop};

impl EventLoop {
    pub(super) fn on_swarm(&mut self, ev: SwarmEvent<por_behaviours::BehaviourEvent<Envelope>>) {
        self.p2p_metrics.record(&ev);
        let ev = match ev {
            SwarmEvent::Behaviour(ev) => ev,
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } => {
                self.peers.connected(peer_id, endpoint.get_remote_address().clone());
                self.metrics.peers.set(self.swarm.connected_peers().count() as i64);
                return;
            }
            SwarmEvent::ExternalAddrConfirmed { address } => {
                info!(%address, "public address confirmed: announced to peers and in Kademlia's records");
                return;
            }
            SwarmEvent::ExternalAddrExpired { address } => {
                warn!(%address, "external address expired: no longer announced");
                return;
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                self.peers.disconnected(&peer_id);
                self.metrics.peers.set(self.swarm.connected_peers().count() as i64);
                return;
            }
            _ => {
                self.metrics.peers.set(self.swarm.connected_peers().count() as i64);
                return;
            }
        };
        let Some(ev) = self.swarm.behaviour_mut().on_event(ev) else { return };
        match ev {
            NetEvent::Inbound { peer, lane, msg, reply } => {
                // Only a channel's own peer is held: anyone else's message is
                // refused at once (`on_inbound`), so a stranger cannot make
                // the node keep what it sends.
                let ours = self.peers.of_channel(&msg.channel) == Some(peer);
                if ours
                    && let Some(w) = self.terms_wait.as_mut()
                    && w.holds(&peer, &msg.msg)
                {
                    w.hold(peer, lane, msg, reply);
                    return;
                }
                let receipt = self.on_inbound(peer, msg);
                self.swarm.behaviour_mut().receipt(lane, reply, receipt);
            }
            NetEvent::Failed { peer, lane, error, id, undelivered } => {
                if lane == Lane::Sync {
                    self.metrics.syncs_missed.inc();
                }
                debug!(%peer, ?lane, "message not delivered: {error}");
                if let Some((channel, requests)) = self.peers.receipt(&id)
                    && undelivered
                {
                    let why = format!("the first hop is unreachable: {error}");
                    for request in requests {
                        self.downstream_refused(request, channel, why.clone().into());
                    }
                }
            }
            NetEvent::Delivered { id, lane, receipt, .. } => {
                // A sync refused `Busy` by our own queue to a slow peer
                // never left: it counts as missed, as a failed one does.
                if lane == Lane::Sync && matches!(receipt, Receipt::Refused { reason: Refusal::Busy, .. }) {
                    self.metrics.syncs_missed.inc();
                }
                if let Some((channel, requests)) = self.peers.receipt(&id)
                    && let Receipt::Refused { reason, detail } = receipt
                {
                    for request in requests {
                        self.downstream_refused(request, channel, por_core::Refused::by_peer(reason, detail.clone()));
                    }
                }
            }
            NetEvent::InboundFailed { peer, lane, error } => debug!(%peer, ?lane, "bad inbound message: {error}"),
            NetEvent::Providers { query, providers, done } => self.peers.on_providers(query, providers, done),
            NetEvent::Providing { query, result } => debug!(?query, ?result, "provider record announced"),
            NetEvent::Reachability { public, status } => match public {
                Some(a) => info!(address = %a, "AutoNAT: reachable from outside"),
                None => info!(status, "AutoNAT: no address of this node is confirmed reachable from outside"),
            },
            NetEvent::RoutingTable { .. } | NetEvent::Identified { .. } | NetEvent::Ping { .. } => {}
        }
    }

    fn on_inbound(&mut self, peer: PeerId, env: Envelope) -> Receipt {
        if self.peers.of_channel(&env.channel) != Some(peer) {
            let detail = format!("channel {} is not a channel with you", env.channel);
            return Receipt::refused(Refusal::UnknownChannel, detail);
        }
        let now = self.now();
        let mut out = Vec::new();
        self.metrics.message("in", env.msg.kind());
        if matches!(env.msg, Wire::Notice(_)) {
            self.metrics.notices_received.inc();
        }
        let (voucher, n) = match &env.msg {
            Wire::Request(p) => (Some(p.voucher.clone()), 1),
            Wire::Requests(f) => (Some(f.voucher.clone()), f.requests.len()),
            _ => (None, 0),
        };
        if voucher.is_some() {
            self.metrics.frame_requests.observe(n as f64);
            self.refresh_terms();
        }
        self.engine.handle_message(env.channel, env.msg, now, &mut out);
        // A frame whose every request was refused is refused in the receipt
        // too, with the first reason, so the sender learns at once why; the
        // frame's ack lists the refusals one by one later (after the disk).
        // A frame with one request accepted is accepted here: the receipt
        // speaks for the whole frame, and the ack says which were refused.
        // A refusal of kind "requests" is of the frame itself (empty, or on
        // a channel closed): every request of it.
        let (mut first, mut count, mut whole) = (None, 0, false);
        for e in &out {
            if let Effect::Event(EngineEvent::Refused { kind: kind @ ("request" | "requests"), reason, .. }) = e {
                first = first.or(Some(*reason));
                count += 1;
                whole |= *kind == "requests";
            }
        }
        let refused = first.filter(|_| whole || count >= n);
        let refusal = match (refused, voucher) {
            // A voucher the ledger refuses says what is wrong with it
            // (forged, replayed, insolvent…); a stale voucher is refused as
            // underpaid once the channel's credit cannot cover it. A fresh
            // one the engine kept as credit (its `Persist` is in `out`) was
            // fine: the request paid too little. Checked only on refusal:
            // the accepted path does not verify twice.
            (Some(reason @ (Refusal::BadVoucher | Refusal::Underpaid)), Some(v)) => {
                let credited = out.iter().any(|e| matches!(e, Effect::Persist { received: true, .. }));
                match self.engine.ledger(env.channel).and_then(|l| l.check(&v, &Ed25519Verifier).err()) {
                    Some(why) if !credited => Some((reason, format!("voucher refused: {why}"))),
                    _ => Some((reason, format!("request refused: {reason}"))),
                }
            }
            (Some(reason), Some(_)) => Some((reason, format!("request refused: {reason}"))),
            _ => None,
        };
        self.apply(out);
        match refusal {
            Some((reason, detail)) => Receipt::refused(reason, detail),
            None => Receipt::Accepted,
        }
    }

    /// Hands the engine what [`TermsWait`] held, in the order it came, once
    /// the chain's graph is here or the wait is over (then a paid request
    /// is refused [`Refusal::NoTerms`], as it would have been at once).
    pub(super) fn check_terms_wait(&mut self) {
        let Some(until) = self.terms_wait.as_ref().map(|w| w.until) else { return };
        self.refresh_terms();
        let waited_out = Instant::now() >= until;
        if self.terms_seen.is_none() && !waited_out {
            return;
        }
        let Some(w) = self.terms_wait.take() else { return };
        if !w.held.is_empty() {
            info!(
                held = w.held.len(),
                graph = self.terms_seen.is_some(),
                "handling the messages held until the chain's graph was read"
            );
        } else if waited_out {
            warn!("no graph from the chain yet: paid requests are refused no_terms until it is read");
        }
        for (peer, lane, env, reply) in w.held {
            let receipt = self.on_inbound(peer, env);
            self.swarm.behaviour_mut().receipt(lane, reply, receipt);
        }
    }

    pub(super) fn send(&mut self, channel: ChannelId, msg: Wire) {
        let Some(peer) = self.peers.of_channel(&channel) else {
            warn!(%channel, "message for a channel without a peer");
            return;
        };
        let lane = match msg {
            Wire::Sync(_) | Wire::SyncAck(_) => Lane::Sync,
            _ => Lane::Relay,
        };
        self.metrics.message("out", msg.kind());
        if matches!(msg, Wire::Notice(_)) {
            self.metrics.notices_sent.inc();
        }
        let requests = match &msg {
            Wire::Request(p) => vec![p.request.id()],
            Wire::Requests(f) => f.requests.iter().map(|r| r.id()).collect(),
            _ => Vec::new(),
        };
        let id = self.swarm.behaviour_mut().send(&peer, lane, Envelope { channel, msg });
        if !requests.is_empty() {
            self.peers.sent_request(id, channel, requests);
        }
    }
}

/// How long a node that has just started holds the paid requests that come
/// before it has read the chain's graph, rather than refuse them
/// [`Refusal::NoTerms`] (a restarted relay's neighbours send what they
/// queued for it as soon as it is back, before its chain agent's first
/// poll). Longer than a first read of the graph takes on a small network;
/// shorter than the sync lane's receipt timeout (5 s), so that a sync held
/// behind a frame is still receipted in time. A graph that takes longer
/// leaves the requests refused `no_terms`, as without the wait.
pub(super) const TERMS_WAIT: Duration = Duration::from_secs(3);
/// How often the loop looks for the graph while it holds requests.
pub(super) const TERMS_POLL: Duration = Duration::from_millis(25);

/// The messages held while a node that just started waits for the chain's
/// graph ([`TERMS_WAIT`]): every paid frame, and every message after one
/// from the same neighbour, so that each neighbour's messages reach the
/// engine in the order they came (a sync or a response after a frame
/// waits for the frame). Bounded without a count of its own: the lanes
/// read no more from a stream whose messages wait for their receipts
/// beyond `max_inbound_messages` or `max_inbound_bytes`, so a neighbour
/// that floods is held back by its own stream.
pub(super) struct TermsWait {
    until: Instant,
    held: Vec<(PeerId, Lane, Envelope, ReplyTo)>,
    peers: HashSet<PeerId>,
}

impl TermsWait {
    pub(super) fn new(until: Instant) -> TermsWait {
        TermsWait { until, held: Vec::new(), peers: HashSet::new() }
    }

    fn holds(&self, peer: &PeerId, msg: &Wire) -> bool {
        matches!(msg, Wire::Request(_) | Wire::Requests(_)) || self.peers.contains(peer)
    }

    fn hold(&mut self, peer: PeerId, lane: Lane, env: Envelope, reply: ReplyTo) {
        if self.held.is_empty() {
            debug!("holding paid requests until the chain's graph is read");
        }
        self.peers.insert(peer);
        self.held.push((peer, lane, env, reply));
    }
}
