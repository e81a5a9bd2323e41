//! Requests refused after they were paid for: by the next hop (its
//! transport receipt says so, or the message could not be delivered at all)
//! or by a node further down (a [`RefusedBelow`] came up).
//!
//! When a node refuses a paid request (its voucher is forged, replayed, not
//! increasing, insolvent, the route lies about the chain's terms, it is
//! busy…), it says so in the transport's receipt and never acknowledges.
//! The refused voucher cannot be taken back (vouchers are cumulative), so
//! what it paid becomes credit with the peer on both sides' books (DESIGN
//! §2.10): the refuser keeps the voucher and books the amount as
//! [`ChannelState::credit`](crate::protocol::ChannelState::credit), the
//! payer books it as
//! [`ChannelState::credit_out`](crate::protocol::ChannelState::credit_out),
//! and the payer's next payment over the channel spends it before paying
//! anything new.
//!
//! A relay forwards as soon as it has checked a request and acknowledges at
//! once (DESIGN §2.4), so its next hop's refusal usually comes after its own
//! ack. It then cannot carry the request, and says so upstream: it ends its
//! downstream leg (credit with the refuser), books what its upstream paid it
//! for the request as credit with the upstream, and sends a [`RefusedBelow`]
//! up, which each hop handles the same way until it reaches the requester,
//! whose attempt ends refused. A refusal ends the request like a response:
//! late fees count up to the moment it reached each node, so a node that
//! sits on a request and refuses it late pays for the lateness, and earns
//! nothing for it (what it was paid is credit). Nobody is cut: a refusal is
//! an answer.
//!
//! Whatever a peer says, the credit stays on our books: a peer that keeps a
//! payment and claims a refusal (or claims it lost the credit) then sees
//! later payments made from that credit, so what it can take is bounded by
//! the largest payment it was ever given, once. An honest peer that lost its
//! credit refuses those requests as underpaid, and the requester routes
//! elsewhere.

use crate::bytes::RequestId;
use crate::crypto::{Signer, Verifier};
use crate::protocol::effect::{Delivery, Effect, Refusal, RefusedBelow, Wire};
use crate::protocol::inflight::{Answer, DownEnd};
use crate::voucher::ChannelId;

use super::{NodeEngine, keep_until};

impl<S: Signer, V: Verifier> NodeEngine<S, V> {
    /// The neighbour on `channel` refused request `id` before acknowledging
    /// it: its transport receipt said `Some(reason)`. `None`: the message
    /// certainly never reached it (it could not be dialed); that ends only a
    /// request of ours whose first copy it was (a later copy's failure says
    /// nothing of an earlier one). A relay keeps such a request and sends it
    /// again by the re-send rule: a next hop that cannot be dialed is often
    /// only restarting, or its address not found yet after our own restart,
    /// and its first copy may have arrived before. The leg ends and what it
    /// paid becomes credit; a relay passes the refusal up (see the module
    /// docs).
    ///
    /// Returns whether that ended a request this node originated (the driver
    /// then tells its requester, with what the receipt said); `false` when
    /// the request is not in flight over that channel, was acknowledged or
    /// answered already, or is one this node relays (the refusal went up).
    pub fn downstream_refused(
        &mut self,
        id: RequestId,
        channel: ChannelId,
        reason: Option<Refusal>,
        now: u64,
        out: &mut Vec<Effect>,
    ) -> bool {
        let Some(e) = self.requests.get(&id) else { return false };
        let Some(d) = e.down.as_ref() else { return false };
        if d.channel != channel || d.acked || !d.open() {
            return false;
        }
        let undelivered_first = e.origin.is_some() && d.resends == 0;
        let Some(reason) = reason.or(undelivered_first.then_some(Refusal::Other)) else {
            return false;
        };
        self.end_refused(id, RefusedBelow { request_id: id, reason, channel }, now, DownEnd::Refused, out)
    }

    /// A refusal came up from the downstream on `channel`.
    pub(super) fn on_refused_below(
        &mut self,
        channel: ChannelId,
        mut r: RefusedBelow,
        now: u64,
        out: &mut Vec<Effect>,
    ) {
        let Some(e) = self.requests.get(&r.request_id) else {
            return super::refuse(out, channel, "refused", Refusal::UnknownRequest);
        };
        let Some(d) = e.down.as_ref().filter(|d| d.channel == channel) else {
            return super::refuse(out, channel, "refused", Refusal::UnknownRequest);
        };
        if !d.open() {
            // A repeat, or it crossed the answer: nothing new.
            return;
        }
        // Only a channel of the route below us can be the refuser's; a
        // downstream that names another gets the blame itself.
        if e.round_trip_to(r.channel).is_none() {
            r.channel = channel;
        }
        self.end_refused(r.request_id, r, now, DownEnd::RefusedBelow, out);
    }

    /// Ends request `id`'s downstream leg at `now` as `how` (refused by
    /// the downstream's receipt, or from below), books what it paid as
    /// credit with the downstream, and tells the local requester (returns
    /// `true`; by [`Delivery::Refused`] only for a refusal from below: the
    /// driver reports a receipt's) or the upstream (credit there too, the
    /// refusal sent up and kept for repeats).
    fn end_refused(&mut self, id: RequestId, r: RefusedBelow, now: u64, how: DownEnd, out: &mut Vec<Effect>) -> bool {
        let deliver = how == DownEnd::RefusedBelow;
        let Some(e) = self.requests.get_mut(&id) else { return false };
        let Some(d) = e.down.as_mut() else { return false };
        d.ended = Some((now, how));
        d.request = None;
        super::release_out(&mut self.channels, d);
        let (down, pays) = (d.channel, d.pays);
        if let Some(ch) = self.channels.get_mut(&down) {
            ch.credit_out = ch.credit_out.saturating_add(pays);
            self.credits_changed.insert(down);
        }
        let ours = if let Some(o) = e.origin.as_mut() {
            if deliver && !o.resolved {
                out.push(Effect::Deliver(Delivery::Refused { request_id: id, refused: r }));
            }
            o.resolved = true;
            true
        } else if let Some(up) = e.up.as_mut() {
            let frozen = now.saturating_add(up.latency_ms);
            up.frozen_at = Some(up.frozen_at.map_or(frozen, |f| f.min(frozen)));
            if let Some(c) = self.channels.get_mut(&up.channel).filter(|c| !c.closed) {
                c.credit = c.credit.saturating_add(up.due);
                self.credits_changed.insert(up.channel);
                if self.config.resend.max_resends > 0 {
                    up.answer = Some(Answer::Refused(r.clone()));
                    up.keep_until_ms = keep_until(up, c.sync_ms, &self.config.resend);
                }
                self.outbox.wire(up.channel, Wire::Refused(r));
            }
            self.answered(&id);
            false
        } else {
            false
        };
        self.try_finish(id, now);
        ours
    }
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use crate::bytes::Signature;
    use crate::cost::EdgeParams;
    use crate::crypto::{Ed25519Verifier, NodeSigner, Signer};
    use crate::message::{Request, Route, RouteHop};
    use crate::protocol::{ChannelSetup, Effect, NodeEngine, ProtocolConfig, Refusal, Timer};
    use crate::voucher::ChannelId;

    #[test]
    fn a_refused_request_ends_without_a_deadline_or_a_cut() {
        let me = NodeSigner::from_seed([1; 32]);
        let peer = NodeSigner::from_seed([2; 32]).public();
        let mut e = NodeEngine::new(ProtocolConfig::default(), me.clone(), Ed25519Verifier);
        let mut out = Vec::new();
        let setup = ChannelSetup {
            channel: ChannelId(7),
            remote: peer,
            local_deposit: 1_000_000,
            remote_deposit: 1_000_000,
            latency_ms: 10,
            sync_ms: None,
        };
        e.open_channel(setup, 0, &mut out);
        let params = EdgeParams { latency_ms: 10, base_fee: 100, byte_fee: 0 };
        let route = Route { hops: vec![RouteHop { channel: ChannelId(7), node: peer, params }], service_ms: 0 };
        let request = Request {
            requester: me.public(),
            nonce: 1,
            route,
            service: "echo".into(),
            body: Vec::new(),
            max_response_bytes: 0,
            budget: 100,
            signature: Signature([0; 64]),
            path: Default::default(),
        }
        .sign(&me);
        let id = e.send_request(request, 0, &mut out).unwrap();
        assert_eq!(e.in_flight(), 1);
        assert!(!e.downstream_refused(id, ChannelId(8), Some(Refusal::Busy), 5, &mut out), "another channel");
        assert!(e.downstream_refused(id, ChannelId(7), Some(Refusal::Busy), 5, &mut out));
        assert_eq!(e.in_flight(), 0);
        // Its deadline and every later check pass without a severance.
        out.clear();
        for at in [20, 40_000, 100_000] {
            e.handle_timer(Timer::Deadline(id), at, &mut out);
        }
        assert!(!out.iter().any(|x| matches!(x, Effect::Sever { .. })), "{out:?}");
        assert!(!e.downstream_refused(id, ChannelId(7), Some(Refusal::Busy), 6, &mut out), "only once");
    }
}
