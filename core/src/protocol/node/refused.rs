//! A request the first hop refused outright.
//!
//! When a node refuses a paid request (its voucher is forged, replayed, not
//! increasing, insolvent, or the request is malformed), it says so in the
//! transport's receipt and never acknowledges. For a request this node
//! originated, that ends the request: the guarantee starts only with the
//! ack, so there is no deadline to run and no one to cut. The refused
//! voucher cannot be taken back (vouchers are cumulative), so what it paid
//! becomes credit with the peer on both sides' books (DESIGN §2.10): the
//! peer keeps the voucher and books the amount as credit
//! ([`ChannelState::credit`](crate::protocol::ChannelState::credit)), we
//! book it as [`ChannelState::credit_out`](crate::protocol::ChannelState::credit_out),
//! and our next request over the channel spends it before paying anything
//! new. Whatever the peer says, the credit stays on our books: a peer that
//! keeps a payment and claims a refusal (or claims it lost the credit) then
//! sees every later request paid from that credit, so what it can take is
//! bounded by the largest request it was ever paid for, once. An honest peer
//! that lost its credit in a crash refuses those requests as underpaid, and
//! the requester routes elsewhere.
//!
//! A relay whose downstream refuses has already acknowledged upstream: it is
//! not covered here, and its deadline and failure policy apply as for a
//! silent downstream.

use crate::bytes::RequestId;
use crate::crypto::{Signer, Verifier};
use crate::protocol::inflight::DownEnd;
use crate::voucher::ChannelId;

use super::NodeEngine;

impl<S: Signer, V: Verifier> NodeEngine<S, V> {
    /// The neighbour on `channel` refused request `id`, which this node
    /// originated, before acknowledging it. Returns whether that ended the
    /// request (`false`: not ours, not on that channel, or already acked).
    /// Why the peer refused does not matter to the books (see the module
    /// docs); the driver reports it.
    pub fn first_hop_refused(&mut self, id: RequestId, channel: ChannelId, now: u64) -> bool {
        let Some(e) = self.requests.get_mut(&id) else { return false };
        if e.origin.is_none() {
            return false;
        }
        let Some(d) = e.down.as_mut().filter(|d| d.channel == channel && !d.acked && d.open()) else {
            return false;
        };
        d.ended = Some((now, DownEnd::ChannelGone));
        super::release_out(&mut self.channels, d);
        let pays = d.pays;
        if let Some(ch) = self.channels.get_mut(&channel) {
            ch.credit_out = ch.credit_out.saturating_add(pays);
            self.credits_changed.insert(channel);
        }
        self.try_finish(id, now);
        true
    }
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use crate::bytes::Signature;
    use crate::cost::EdgeParams;
    use crate::crypto::{Ed25519Verifier, NodeSigner, Signer};
    use crate::message::{Request, Route, RouteHop};
    use crate::protocol::{ChannelSetup, Effect, NodeEngine, ProtocolConfig, Timer};
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
        }
        .sign(&me);
        let id = e.send_request(request, 0, &mut out).unwrap();
        assert_eq!(e.in_flight(), 1);
        assert!(!e.first_hop_refused(id, ChannelId(8), 5), "another channel");
        assert!(e.first_hop_refused(id, ChannelId(7), 5));
        assert_eq!(e.in_flight(), 0);
        // Its deadline and every later check pass without a severance.
        out.clear();
        for at in [20, 40_000, 100_000] {
            e.handle_timer(Timer::Deadline(id), at, &mut out);
        }
        assert!(!out.iter().any(|x| matches!(x, Effect::Sever { .. })), "{out:?}");
        assert!(!e.first_hop_refused(id, ChannelId(7), 6), "only once");
    }
}
