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

use libp2p::PeerId;
use libp2p::metrics::Recorder;
use libp2p::swarm::SwarmEvent;
use por_behaviours::{Lane, NetEvent, Receipt};
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
        let voucher = match &env.msg {
            Wire::Request(p) => Some(p.voucher.clone()),
            _ => None,
        };
        if voucher.is_some() {
            self.refresh_terms();
        }
        self.engine.handle_message(env.channel, env.msg, now, &mut out);
        // A refused request is refused in the receipt too, with the reason,
        // so the sender learns at once why (the engine refuses silently).
        let refused = out.iter().find_map(|e| match e {
            Effect::Event(EngineEvent::Refused { kind: "request", reason, .. }) => Some(*reason),
            _ => None,
        });
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
