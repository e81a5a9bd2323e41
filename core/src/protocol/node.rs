//! The engine of one node, [`NodeEngine`]: requests, acks and responses
//! (this file); notices ([`notice`]), the re-send rule ([`resend`]), syncs,
//! timers and severance ([`sync`]), refusals ([`refused`]) and restarts
//! ([`restore`]) in its child modules.
//!
//! The engine's fields are private to this module and those handlers, and
//! each holds the state of one rule behind its own type, whose fields are
//! private to the module of that rule: the channels ([`ChannelMap`], with each
//! channel's books of requests in flight either way), the requests in flight
//! ([`Requests`], what each holds being an [`Entry`]), the answers kept after
//! a request ended ([`KeptAnswers`]) and the notices awaiting the chain
//! ([`NoticeWatch`]). Handlers go through those types' methods.
//!
//! The node and the simulator both drive this code:
//! they feed it messages, timers and chain events with the current time of
//! the node's monotonic clock, and carry out the [`Effect`]s it appends.

use crate::bytes::{NodeKey, RequestId};
use crate::cost::CostError;
use crate::crypto::{Signer, Verifier};
use crate::ledger::{ChannelLedger, LedgerError};
use crate::merkle::RootCache;
use crate::message::{Request, Response};
use crate::protocol::channel::{ChannelMap, ChannelSetup, ChannelState};
use crate::protocol::config::{self, ProtocolConfig};
use crate::protocol::effect::{Delivery, Effect, EngineEvent, PaidRequest, Refusal, RequestFrame, Timer, Wire};
use crate::protocol::inflight::{Answer, DownEnd, DownLeg, Entry, Hold, Origin, Requests, UpLeg};
use crate::protocol::terms::{TermsView, check_route};
use crate::voucher::{Ack, ChannelId, RefusedRequest, SignedVoucher};
use std::sync::Arc;

mod flush;
mod notice;
mod refused;
mod resend;
mod restore;
mod sync;

use flush::Outbox;
use notice::NoticeWatch;
use resend::KeptAnswers;
pub(crate) use resend::keep_until;

/// Why a request could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The route has no hop.
    #[error("the route is empty")]
    EmptyRoute,
    /// The route's first channel is not an open channel of this node.
    #[error("channel {0} is not an open channel of this node")]
    UnknownChannel(ChannelId),
    /// The route's first channel does not lead to the route's first node.
    #[error("channel {0} does not lead to the route's first node")]
    WrongPeer(ChannelId),
    /// The request is signed by another key than this node's.
    #[error("the request names another requester; sign it with this node's key")]
    NotOurs,
    /// The request is already in flight.
    #[error("request {0} is already in flight")]
    Duplicate(RequestId),
    /// The route cannot be priced.
    #[error("cannot price the route: {0}")]
    Quote(#[from] CostError),
    /// The first channel cannot pay for the route.
    #[error("cannot pay the first hop: {0}")]
    Ledger(#[from] LedgerError),
    /// The request does not fit, beside what is in flight to the first hop,
    /// within this node's own per-neighbour limits (the first hop, with the
    /// same limits, would answer busy).
    #[error(
        "channel {0} has no room for this request within this node's per-neighbour limits (requests, value, \
         bytes or late-fee liability in flight); try later or another route"
    )]
    Busy(ChannelId),
}

/// Why a response could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RespondError {
    /// No request with that id waits for this node's response.
    #[error("no request {0} waits for a response from this node")]
    UnknownRequest(RequestId),
    /// The body exceeds what the requester accepts; it would be dropped.
    #[error("response of {got} bytes exceeds the request's allowance of {max} bytes")]
    TooLarge {
        /// The body's size.
        got: u64,
        /// The allowance.
        max: u64,
    },
}

/// One node's protocol state machine.
pub struct NodeEngine<S, V> {
    config: ProtocolConfig,
    signer: S,
    verifier: V,
    /// `signer`'s public key.
    key: NodeKey,
    /// The channels, open or closed, with their books ([`super::channel`]).
    channels: ChannelMap,
    /// The requests in flight ([`super::inflight`]).
    requests: Requests,
    /// Answers kept after their request ended, to repeat them ([`resend`]).
    kept: KeptAnswers,
    /// Requests whose notice awaits the chain, by the channel it names
    /// ([`notice`]).
    watch: NoticeWatch,
    /// The chain's graph as the driver last read it: every route is checked
    /// against it ([`super::terms`]).
    terms: Option<Arc<dyn TermsView>>,
    /// The node is stopping ([`NodeEngine::drain`]).
    draining: bool,
    /// Channels whose credit changed since the driver last took them
    /// ([`NodeEngine::take_changed_credits`]); kept only by a node with a
    /// store.
    credits_changed: std::collections::BTreeSet<ChannelId>,
    /// What the handlers queued for the neighbours since the last
    /// [`NodeEngine::flush`].
    outbox: Outbox,
    /// Batch roots whose signature this node verified ([`RootCache`]).
    roots: RootCache,
}

impl<S: Signer, V: Verifier> NodeEngine<S, V> {
    /// A node with no channels.
    pub fn new(config: ProtocolConfig, signer: S, verifier: V) -> Self {
        let key = signer.public();
        let mut requests = Requests::default();
        if config.emit_persists {
            requests.track_changes();
        }
        NodeEngine {
            config,
            signer,
            verifier,
            key,
            channels: ChannelMap::default(),
            requests,
            kept: KeptAnswers::default(),
            watch: NoticeWatch::default(),
            terms: None,
            draining: false,
            credits_changed: Default::default(),
            outbox: Outbox::default(),
            roots: RootCache::default(),
        }
    }

    /// The chain's graph to check routes against, from now on (the driver
    /// calls it whenever the graph it follows changes).
    pub fn set_terms(&mut self, terms: Arc<dyn TermsView>) {
        self.terms = Some(terms);
    }

    /// The contract's late-fee terms, from now on: the driver calls it when
    /// the contract's config changes, so every node of a path prices
    /// lateness alike (DESIGN §2.6). Returns whether they changed.
    pub fn set_late_terms(&mut self, late_fee_per_sec: crate::voucher::Amount, max_late_ms: u64) -> bool {
        let changed = (self.config.late_fee_per_sec, self.config.max_late_ms) != (late_fee_per_sec, max_late_ms);
        self.config.late_fee_per_sec = late_fee_per_sec;
        self.config.max_late_ms = max_late_ms;
        changed
    }

    /// The late-fee terms in force here: yocto per second, and the most
    /// lateness one request can cost.
    pub fn late_terms(&self) -> (crate::voucher::Amount, u64) {
        (self.config.late_fee_per_sec, self.config.max_late_ms)
    }

    /// This node's key.
    pub fn key(&self) -> NodeKey {
        self.key
    }

    /// The configuration.
    pub fn config(&self) -> &ProtocolConfig {
        &self.config
    }

    /// The ledger of a channel (open or closed).
    pub fn ledger(&self, channel: ChannelId) -> Option<&ChannelLedger> {
        self.channels.get(&channel).map(|c| &c.ledger)
    }

    /// One channel's state.
    pub fn channel(&self, channel: ChannelId) -> Option<&ChannelState> {
        self.channels.get(&channel)
    }

    /// The channels, open or closed.
    pub fn channels(&self) -> impl Iterator<Item = (&ChannelId, &ChannelState)> {
        self.channels.iter()
    }

    /// Requests this node still tracks (not counting finished ones whose
    /// answer it only keeps to repeat it, see [`UpLeg::keep_until_ms`]).
    pub fn in_flight(&self) -> usize {
        self.requests.len()
    }

    /// Starts a graceful stop (DESIGN §2.11): from now on every new paid
    /// request is refused [`Refusal::Draining`] (repeats of requests in
    /// flight are still answered), and a sync tells every neighbour at once,
    /// so that they route around this node; later syncs repeat it. The
    /// driver waits for [`NodeEngine::in_flight`] to reach zero (bounded)
    /// before it stops.
    pub fn drain(&mut self, now: u64, out: &mut Vec<Effect>) {
        if self.draining {
            return;
        }
        self.draining = true;
        let open: Vec<ChannelId> = self.channels.iter().filter(|(_, c)| !c.closed).map(|(id, _)| *id).collect();
        for channel in open {
            self.send_sync(channel, now, Vec::new(), out);
        }
    }

    /// Whether [`NodeEngine::drain`] was called.
    pub fn draining(&self) -> bool {
        self.draining
    }

    /// One tracked request.
    pub fn entry(&self, id: &RequestId) -> Option<&Entry> {
        self.requests.get(id)
    }

    /// Starts tracking a channel that opened on chain.
    pub fn open_channel(&mut self, setup: ChannelSetup, now: u64, out: &mut Vec<Effect>) {
        let st = ChannelState::new(&setup, &self.config.contract, self.key, self.config.default_sync_ms, now);
        self.channels.insert(setup.channel, st);
        if self.config.sync_when_idle {
            self.arm_sync(setup.channel, now, out);
        }
    }

    /// Sends a request of this node's: pays the first hop for the whole
    /// route (DESIGN §2.3) and starts its bound. The request leaves at the
    /// next [`NodeEngine::flush`], signed there together with this node's
    /// other requests of the turn (its `signature` and `path` are
    /// overwritten: the caller need not sign it).
    pub fn send_request(
        &mut self,
        request: Request,
        now: u64,
        out: &mut Vec<Effect>,
    ) -> Result<RequestId, RequestError> {
        if request.requester != self.key {
            return Err(RequestError::NotOurs);
        }
        let hop = request.route.hops.first().ok_or(RequestError::EmptyRoute)?;
        let channel = hop.channel;
        let id = request.id();
        if self.requests.contains(&id) {
            return Err(RequestError::Duplicate(id));
        }
        let q = request.quote()?;
        let ch = match self.channels.get_mut(&channel) {
            Some(c) if !c.closed => c,
            _ => return Err(RequestError::UnknownChannel(channel)),
        };
        if ch.ledger.remote != hop.node {
            return Err(RequestError::WrongPeer(channel));
        }
        let out_hold = outbound_hold(&request, q.payments[0], &self.config);
        if exceeds(ch.out_held.plus(out_hold), &self.config.limits) {
            return Err(RequestError::Busy(channel));
        }
        let due = q.payments[0];
        let from_credit = pay_with_credit(ch, due)?;
        if from_credit > 0 {
            self.credits_changed.insert(channel);
        }
        ch.out_held = ch.out_held.plus(out_hold);
        let deadline = now.saturating_add(q.budgets_ms[0]);
        let down = DownLeg {
            channel,
            latency_ms: hop.params.latency_ms,
            sent_ms: now,
            deadline_ms: deadline,
            // Set at the flush, which signs the frame's voucher.
            voucher_digest: crate::bytes::Hash32([0; 32]),
            acked: false,
            overdue: false,
            received: 0,
            ended: None,
            owed_from_ms: deadline,
            request: None,
            resends: 0,
            resent_ms: now,
            pays: due,
            out: out_hold,
        };
        let entry = Entry {
            id,
            server: *request.route.server().unwrap_or(&hop.node),
            max_response_bytes: request.max_response_bytes,
            route_down: request.route.hops.iter().map(|h| (h.channel, h.params.latency_ms, h.node)).collect(),
            up: None,
            down: Some(down),
            origin: Some(Origin { bound_at_ms: deadline, resolved: false }),
            confirm: None,
            served: false,
            hold: Hold::default(),
        };
        self.outbox.request(channel, id, Box::new(request), true, false);
        out.push(Effect::SetTimer { at_ms: deadline, timer: Timer::Deadline(id) });
        self.requests.insert(entry);
        self.track_down(channel, id, now, out);
        Ok(id)
    }

    /// Handles a message that arrived over `channel`.
    pub fn handle_message(&mut self, channel: ChannelId, msg: Wire, now: u64, out: &mut Vec<Effect>) {
        if self.config.faults.drop_requests && matches!(msg, Wire::Request(_) | Wire::Requests(_)) {
            // Fault injection: a silent hop; the request leaves no trace.
            return;
        }
        self.expire_kept(now);
        self.handle_message_inner(channel, msg, now, out);
    }

    fn handle_message_inner(&mut self, channel: ChannelId, msg: Wire, now: u64, out: &mut Vec<Effect>) {
        let kind = msg.kind();
        match self.channels.get_mut(&channel) {
            Some(c) if !c.closed => c.heard(now),
            // A channel we closed: its payer still hears why each request
            // of a frame went unanswered (the ack lists the refusals).
            Some(_) => {
                if let Some((voucher, requests)) = match &msg {
                    Wire::Request(p) => Some((&p.voucher, std::slice::from_ref(&p.request))),
                    Wire::Requests(f) => Some((&f.voucher, &f.requests[..])),
                    _ => None,
                } {
                    let refused: Vec<RefusedRequest> = requests
                        .iter()
                        .map(|r| RefusedRequest { request_id: r.id(), reason: Refusal::UnknownChannel })
                        .collect();
                    let slot = self.outbox.ack_slot(channel, voucher.digest());
                    self.outbox.fill_ack(channel, slot, Vec::new(), refused);
                }
                return refuse(out, channel, kind, Refusal::UnknownChannel);
            }
            None => return refuse(out, channel, kind, Refusal::UnknownChannel),
        }
        match msg {
            Wire::Request(p) => {
                let PaidRequest { request, voucher } = *p;
                self.on_frame(channel, voucher, vec![request], now, out)
            }
            Wire::Requests(f) => {
                let RequestFrame { voucher, requests } = *f;
                self.on_frame(channel, voucher, requests, now, out)
            }
            Wire::Ack(a) => self.on_ack(channel, a, out),
            Wire::Response(r) => self.on_response(channel, r, now, out),
            Wire::Notice(n) => self.on_notice(channel, n, now, out),
            Wire::Sync(s) => self.on_sync(channel, *s, now, out),
            Wire::SyncAck(a) => self.on_sync_ack(channel, a, now, out),
            Wire::Refused(r) => self.on_refused_below(channel, r, now, out),
        }
    }

    /// The local service answers a request this node serves. The response
    /// leaves at the next [`NodeEngine::flush`], signed with the turn's
    /// other responses under one root; `_out` gets nothing now (kept so
    /// that every input has the same shape).
    pub fn respond(
        &mut self,
        id: RequestId,
        body: Vec<u8>,
        now: u64,
        _out: &mut Vec<Effect>,
    ) -> Result<(), RespondError> {
        let e = match self.requests.get_mut(&id) {
            Some(e) if e.down.is_none() && !e.served && e.up.is_some() => e,
            _ => return Err(RespondError::UnknownRequest(id)),
        };
        if body.len() as u64 > e.max_response_bytes {
            return Err(RespondError::TooLarge { got: body.len() as u64, max: e.max_response_bytes });
        }
        e.served = true;
        // Signed at the flush, with the turn's other responses.
        let response = Box::new(Response::unsigned(id, self.key, body));
        if let Some(up) = e.up.as_mut() {
            up.frozen_at = Some(now.saturating_add(up.latency_ms));
            if let Some(c) = self.channels.get(&up.channel).filter(|c| !c.closed) {
                if self.config.resend.max_resends > 0 {
                    up.answer = Some(Answer::Response(response.clone()));
                    up.keep_until_ms = keep_until(up, c.sync_ms, &self.config.resend);
                }
                self.outbox.response(up.channel, response);
            }
        }
        self.answered(&id);
        Ok(())
    }

    /// Request `id` was answered upstream (response or notice): it is no
    /// longer in flight against its upstream channel's caps, and holds only
    /// the bytes of the answer it keeps for a re-ask.
    fn answered(&mut self, id: &RequestId) {
        let Some(e) = self.requests.get_mut(id) else { return };
        let Some(up) = e.up.as_ref() else { return };
        let keep = Hold { bytes: resend::answer_bytes(up).min(e.hold.bytes), ..Hold::default() };
        let freed = e.hold.minus(keep);
        e.hold = keep;
        if let Some(c) = self.channels.get_mut(&up.channel) {
            c.held = c.held.minus(freed);
        }
    }

    /// A frame of paid requests under one voucher (DESIGN §2.12): the
    /// voucher's signature is verified once, each request is checked and
    /// paid from it in the frame's order (what it does not cover is refused
    /// [`Refusal::Underpaid`]), and the frame gets one ack, signed at the
    /// flush, listing the ids accepted and those refused with why.
    fn on_frame(
        &mut self,
        channel: ChannelId,
        voucher: SignedVoucher,
        requests: Vec<Request>,
        now: u64,
        out: &mut Vec<Effect>,
    ) {
        if requests.is_empty() {
            return refuse(out, channel, "requests", Refusal::EmptyFrame);
        }
        let signed = Known(voucher.verify(&self.verifier));
        // The ack's place among what leaves on the channel: before any
        // answer repeated for a request of the frame.
        let slot = self.outbox.ack_slot(channel, voucher.digest());
        let (mut accepted, mut refused) = (Vec::new(), Vec::new());
        for request in requests {
            match self.accept_request(channel, request, &voucher, signed, now, out) {
                Ok(id) => accepted.push(id),
                Err((request_id, reason)) => {
                    refused.push(RefusedRequest { request_id, reason });
                    self.credit_refused(channel, &voucher, signed, out);
                    refuse(out, channel, "request", reason);
                }
            }
        }
        self.outbox.fill_ack(channel, slot, accepted, refused);
    }

    /// A refused request costs its payer nothing (DESIGN §2.10): a valid
    /// voucher it carried is kept (it is cumulative: a later one would carry
    /// its amount anyway) and what it paid becomes the channel's credit, which
    /// the payer's next request spends. The payer books the same credit when
    /// it learns of the refusal ([`NodeEngine::first_hop_refused`]).
    fn credit_refused(&mut self, channel: ChannelId, voucher: &SignedVoucher, signed: Known, out: &mut Vec<Effect>) {
        let Some(ch) = self.channels.get_mut(&channel).filter(|c| !c.closed) else { return };
        let Ok(delta) = ch.ledger.check(voucher, &signed) else { return };
        if self.config.emit_persists {
            out.push(Effect::Persist { channel, voucher: voucher.clone(), received: true });
        }
        if ch.ledger.commit(voucher.clone()).is_ok() {
            ch.credit = ch.credit.saturating_add(delta);
            self.credits_changed.insert(channel);
        }
    }

    /// Checks a paid request in the order that commits nothing until every
    /// check passed (route and signature, the route against the chain and
    /// the limits, the voucher, the caps, paying onwards), then accepts it.
    /// `signed`: whether the voucher's signature holds (checked once per
    /// frame). The request's body is hashed once, here.
    fn accept_request(
        &mut self,
        channel: ChannelId,
        request: Request,
        voucher: &SignedVoucher,
        signed: Known,
        now: u64,
        out: &mut Vec<Effect>,
    ) -> Result<RequestId, (RequestId, Refusal)> {
        // One serialisation serves the id, the leaf and the refusal's name.
        let id = RequestId(crate::bytes::sha256(&request.signing_bytes()).0);
        self.check_and_accept(channel, id, request, voucher, signed, now, out).map(|()| id).map_err(|why| (id, why))
    }

    #[allow(clippy::too_many_arguments)]
    fn check_and_accept(
        &mut self,
        channel: ChannelId,
        id: RequestId,
        request: Request,
        voucher: &SignedVoucher,
        signed: Known,
        now: u64,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        if self.config.faults.refuse_requests {
            return Err(Refusal::Busy);
        }
        let hops = &request.route.hops;
        let pos = request.route.position(&self.key).ok_or(Refusal::NotOnRoute)?;
        let hop = &hops[pos - 1];
        let upstream = if pos == 1 { request.requester } else { hops[pos - 2].node };
        let ch = &self.channels[&channel];
        if hop.channel != channel || ch.ledger.remote != upstream {
            return Err(Refusal::NotOnRoute);
        }
        if let Some(e) = self.requests.get(&id) {
            if e.up.as_ref().is_some_and(|u| u.channel == channel) {
                return self.on_repeat(id, channel, voucher, signed, now, out);
            }
            return Err(Refusal::Duplicate);
        }
        if self.kept.get(&id).is_some_and(|u| u.channel == channel) {
            return self.on_repeat(id, channel, voucher, signed, now, out);
        }
        if self.draining {
            return Err(Refusal::Draining);
        }
        if !request.verify_cached(&id, &mut self.roots, &self.verifier) {
            return Err(Refusal::BadSignature);
        }
        check_route(&request, pos, self.terms.as_deref(), &self.config.limits)?;
        let q = hop_terms(&request, pos).map_err(|_| Refusal::BadQuote)?;
        // A request sent again after a loss may carry a voucher that a later
        // one already covered: it is then paid from the channel's credit.
        let fresh = match ch.ledger.check(voucher, &signed) {
            Ok(delta) => Some(delta),
            Err(LedgerError::NotIncreasing { .. }) if stale_voucher_ok(&ch.ledger, voucher, &signed) => None,
            Err(_) => return Err(Refusal::BadVoucher),
        };
        let available = ch.credit.saturating_add(fresh.unwrap_or(0));
        if available < q.due {
            return Err(Refusal::Underpaid);
        }
        let k = hops.len();
        let hold = outbound_hold(&request, q.pay_next, &self.config);
        let lim = &self.config.limits;
        let held = ch.held.plus(hold);
        if exceeds(Hold { bytes: held.bytes.saturating_add(self.kept.bytes(channel)), ..held }, lim) {
            return Err(Refusal::Busy);
        }
        let budget = q.budget_ms;
        // A relay pays the next hop before it accepts and acknowledges: if it
        // cannot, it refuses with nothing half-done.
        let next = if pos < k {
            let n = &hops[pos];
            let nch = self
                .channels
                .get_mut(&n.channel)
                .filter(|c| !c.closed && c.ledger.remote == n.node)
                .ok_or(Refusal::NoChannelOnwards)?;
            // A next hop that said it is stopping would refuse it after we
            // acknowledged: refuse it here instead.
            if nch.peer_draining {
                return Err(Refusal::Draining);
            }
            // Never send the next hop more than our own limits would take
            // from one neighbour: with the same limits (the defaults) it then
            // never answers busy to a request we already acknowledged. The
            // request weighs on the next hop as it weighs here.
            if exceeds(nch.out_held.plus(hold), lim) {
                return Err(Refusal::Busy);
            }
            let from_credit = pay_with_credit(nch, q.pay_next).map_err(|_| Refusal::CannotForward)?;
            nch.out_held = nch.out_held.plus(hold);
            if from_credit > 0 {
                self.credits_changed.insert(n.channel);
            }
            Some(n.clone())
        } else {
            None
        };
        let ch = self.channels.get_mut(&channel).expect("checked above");
        if ch.credit != available - q.due {
            ch.credit = available - q.due;
            self.credits_changed.insert(channel);
        }
        ch.held = held;
        if fresh.is_some() {
            if self.config.emit_persists {
                out.push(Effect::Persist { channel, voucher: voucher.clone(), received: true });
            }
            // Cannot fail: `check` passed and nothing ran in between.
            let _ = ch.ledger.commit(voucher.clone());
        }
        let up = UpLeg {
            channel,
            latency_ms: hop.params.latency_ms,
            deadline_ms: now.saturating_add(hop.params.latency_ms).saturating_add(budget),
            paid: 0,
            frozen_at: None,
            confirmed: 0,
            paid_seq: 0,
            claim_sends: 0,
            answer: None,
            keep_until_ms: 0,
            repeats: 0,
            due: q.due,
        };
        let mut entry = Entry {
            id,
            server: *request.route.server().expect("position found, so not empty"),
            max_response_bytes: request.max_response_bytes,
            route_down: hops[pos..].iter().map(|h| (h.channel, h.params.latency_ms, h.node)).collect(),
            up: Some(up),
            down: None,
            origin: None,
            confirm: None,
            served: false,
            hold,
        };
        match next {
            Some(n) => {
                let deadline = now.saturating_add(budget);
                entry.down = Some(DownLeg {
                    channel: n.channel,
                    latency_ms: n.params.latency_ms,
                    sent_ms: now,
                    deadline_ms: deadline,
                    // The flush sets the digest and the kept copy, with the
                    // frame's voucher.
                    voucher_digest: crate::bytes::Hash32([0; 32]),
                    acked: false,
                    overdue: false,
                    received: 0,
                    ended: None,
                    owed_from_ms: deadline,
                    request: None,
                    resends: 0,
                    resent_ms: now,
                    pays: q.pay_next,
                    out: hold,
                });
                self.outbox.request(n.channel, id, Box::new(request), false, false);
                out.push(Effect::SetTimer { at_ms: deadline, timer: Timer::Deadline(id) });
                self.requests.insert(entry);
                self.track_down(n.channel, id, now, out);
            }
            None => {
                out.push(Effect::Serve { request_id: id, request: Box::new(request) });
                self.requests.insert(entry);
            }
        }
        self.channels.get_mut(&channel).expect("checked above").book_up(id);
        self.arm_sync(channel, now, out);
        Ok(())
    }

    /// The ack of a frame we sent: one signature (verified once) for every
    /// id it accepted; the ids it refused go to the driver as refusals
    /// ([`Effect::RefusedByPeer`]). An accepted id we did not send over this
    /// channel is refused [`Refusal::UnknownRequest`] (the rest of the ack
    /// still counts); an ack of an earlier copy, under an earlier voucher,
    /// acknowledges nothing (the copy's own ack will).
    fn on_ack(&mut self, channel: ChannelId, ack: Ack, out: &mut Vec<Effect>) {
        let remote = self.channels[&channel].ledger.remote;
        if !ack.accepted.is_empty() && !ack.verify(&remote, &self.verifier) {
            return refuse(out, channel, "ack", Refusal::BadSignature);
        }
        for id in &ack.accepted {
            let Some(e) = self.requests.get_mut(id) else {
                refuse(out, channel, "ack", Refusal::UnknownRequest);
                continue;
            };
            let Some(d) = e.down.as_mut().filter(|d| d.channel == channel) else {
                refuse(out, channel, "ack", Refusal::UnknownRequest);
                continue;
            };
            if d.voucher_digest != ack.voucher_digest || d.acked {
                continue;
            }
            d.acked = true;
            if e.origin.is_some() {
                out.push(Effect::Deliver(Delivery::Acked { request_id: *id }));
            }
        }
        for r in ack.refused {
            out.push(Effect::RefusedByPeer { channel, request_id: r.request_id, reason: r.reason });
        }
    }

    fn on_response(&mut self, channel: ChannelId, resp: Box<Response>, now: u64, out: &mut Vec<Effect>) {
        let id = resp.request_id;
        let Some(e) = self.requests.get_mut(&id) else {
            return refuse(out, channel, "response", Refusal::UnknownRequest);
        };
        let Some(d) = e.down.as_mut().filter(|d| d.channel == channel) else {
            return refuse(out, channel, "response", Refusal::UnknownRequest);
        };
        if !d.open() {
            // A repeat (our request crossed the first copy): nothing new.
            return;
        }
        if resp.body.len() as u64 > e.max_response_bytes {
            return refuse(out, channel, "response", Refusal::ResponseTooLarge);
        }
        if !resp.verify_cached(&id, &e.server, &mut self.roots, &self.verifier) {
            return refuse(out, channel, "response", Refusal::BadSignature);
        }
        d.ended = Some((now, DownEnd::Response));
        release_out(&mut self.channels, d);
        d.request = None;
        if self.config.faults.withhold_responses && e.origin.is_none() {
            return; // fault injection: the response stops here
        }
        if let Some(o) = e.origin.as_mut() {
            if !o.resolved {
                o.resolved = true;
                out.push(Effect::Deliver(Delivery::Response { request_id: id, response: resp }));
            }
        } else if let Some(up) = e.up.as_mut() {
            if up.frozen_at.is_none() {
                up.frozen_at = Some(now.saturating_add(up.latency_ms));
            }
            if let Some(c) = self.channels.get(&up.channel).filter(|c| !c.closed) {
                if self.config.resend.max_resends > 0 {
                    up.answer = Some(Answer::Response(resp.clone()));
                    up.keep_until_ms = keep_until(up, c.sync_ms, &self.config.resend);
                }
                self.outbox.wire(up.channel, Wire::Response(resp));
            }
        }
        self.answered(&id);
        self.try_finish(id, now);
    }

    /// Registers `id` as sent down `channel`: watch the peer's liveness from
    /// now and keep the channel syncing.
    fn track_down(&mut self, channel: ChannelId, id: RequestId, now: u64, out: &mut Vec<Effect>) {
        self.channels.get_mut(&channel).expect("caller checked the channel").book_down(id, now);
        self.arm_sync(channel, now, out);
    }

    /// Arms the channel's sync timer if none is armed.
    fn arm_sync(&mut self, channel: ChannelId, now: u64, out: &mut Vec<Effect>) {
        if let Some(ch) = self.channels.get_mut(&channel).filter(|c| !c.closed && c.next_sync_ms.is_none()) {
            let at = now.saturating_add(ch.sync_ms);
            ch.next_sync_ms = Some(at);
            out.push(Effect::SetTimer { at_ms: at, timer: Timer::Sync(channel) });
        }
    }

    /// Drops the entry if nothing is left to do for it; an answer it sent
    /// upstream is kept with its up leg until [`UpLeg::keep_until_ms`].
    fn try_finish(&mut self, id: RequestId, now: u64) {
        // The downstream's last late payment comes with a sync after the
        // end: a peer that still owes and was silent since then (down,
        // restarting) pays when it is back, and the request must still be
        // here to credit it. (One that stays away is cut for withholding
        // once the offline grace is over.)
        let (grace, rate, cap) =
            (self.config.policy.late_fee_grace_ms, self.config.late_fee_per_sec, self.config.max_late_ms);
        if let Some(d) = self.requests.get(&id).and_then(|e| e.down.as_ref())
            && let Some((t, DownEnd::Response | DownEnd::Notice | DownEnd::RefusedBelow)) = d.ended
            && d.received < d.required(t.saturating_add(grace), grace, rate, cap)
            && let Some(ch) = self.channels.get(&d.channel).filter(|c| !c.closed)
            && (ch.last_heard_ms <= t || now < ch.silence.1.saturating_add(grace))
        {
            return;
        }
        let Some(e) = self.requests.finish(&id, now, &self.config) else { return };
        self.channels.unbook(&e);
        if let Some(mut u) = e.up {
            if let Some(later) = resend::kept_longer(&self.channels, &self.config, &u, now) {
                u.keep_until_ms = u.keep_until_ms.max(later);
            }
            self.kept.keep(id, u, now);
        }
    }
}

/// Pays `due` over `ch`, spending first the credit its peer holds from
/// requests refused over it (DESIGN §2.10); what is left goes into the
/// channel's next voucher, which the flush signs once for the turn
/// ([`ChannelLedger::pay_later`]). Returns what the credit paid.
fn pay_with_credit(ch: &mut ChannelState, due: crate::voucher::Amount) -> Result<crate::voucher::Amount, LedgerError> {
    let from_credit = if ch.ledger.last_sent().is_some() { ch.credit_out.min(due) } else { 0 };
    if from_credit < due || ch.ledger.last_sent().is_none() {
        ch.ledger.pay_later(due - from_credit)?;
    }
    ch.credit_out -= from_credit;
    Ok(from_credit)
}

/// A verifier that knows the answer: the voucher of a frame is verified
/// once, and the ledger's checks for each of its requests reuse the result.
#[derive(Clone, Copy)]
pub(super) struct Known(bool);

impl Verifier for Known {
    fn verify(&self, _: &NodeKey, _: &[u8], _: &crate::bytes::Signature) -> bool {
        self.0
    }
}

/// What one node of a route needs of the quote (DESIGN §2.3, §2.5), without
/// building the whole [`crate::cost::PathQuote`]: what the incoming update
/// must pay (`payments[pos-1]`), what it pays onwards (`payments[pos]`, 0 at
/// the server) and its budget (`b_pos`, the service time at the server).
pub(crate) struct HopTerms {
    pub(crate) due: crate::voucher::Amount,
    pub(crate) pay_next: crate::voucher::Amount,
    pub(crate) budget_ms: u64,
}

pub(crate) fn hop_terms(request: &Request, pos: usize) -> Result<HopTerms, CostError> {
    let bytes = (request.body.len() as u64).checked_add(request.max_response_bytes).ok_or(CostError::AmountOverflow)?;
    let (mut pay, mut budget) = (0u128, request.route.service_ms);
    let mut t = HopTerms { due: 0, pay_next: 0, budget_ms: budget };
    for (j, h) in request.route.hops.iter().enumerate().rev() {
        if j + 1 == pos {
            t.pay_next = pay;
            t.budget_ms = budget;
        }
        pay = pay.checked_add(h.params.cost(bytes)?).ok_or(CostError::AmountOverflow)?;
        budget =
            h.params.latency_ms.checked_mul(2).and_then(|l| l.checked_add(budget)).ok_or(CostError::TimeOverflow)?;
        if j + 1 == pos {
            t.due = pay;
        }
    }
    Ok(t)
}

/// What a request we send on a channel counts against the next hop's caps,
/// as it will count it (its body and allowance, what we pay it, and the
/// most late fee it can cost): we hold ourselves to the same limits, so a
/// next hop with limits at least ours never answers busy.
fn outbound_hold(request: &Request, pays: crate::voucher::Amount, config: &ProtocolConfig) -> Hold {
    Hold {
        requests: 1,
        value: pays,
        bytes: (request.body.len() as u64).saturating_add(request.max_response_bytes),
        liability: config::late_fee(config.late_fee_per_sec, config.max_late_ms, config.max_late_ms),
    }
}

/// Whether `h` is over any of the per-channel `limits`.
fn exceeds(h: Hold, limits: &crate::protocol::terms::Limits) -> bool {
    h.requests > limits.max_in_flight
        || h.value > limits.max_value_in_flight
        || h.bytes > limits.max_bytes_held
        || h.liability > limits.max_late_liability
}

/// A leg we sent ended (answered, noticed, refused or its channel gone): it
/// no longer counts against what we have in flight on its channel.
pub(super) fn release_out(channels: &mut ChannelMap, d: &mut DownLeg) {
    let out = std::mem::take(&mut d.out);
    if let Some(c) = channels.get_mut(&d.channel) {
        c.out_held = c.out_held.minus(out);
    }
}

/// A voucher of this channel's payer that is not above the best one held:
/// the copy of a request or sync sent again after a loss.
fn stale_voucher_ok(ledger: &ChannelLedger, v: &SignedVoucher, verifier: &impl Verifier) -> bool {
    let vo = &v.voucher;
    vo.channel == ledger.channel && vo.payer == ledger.remote && vo.contract == ledger.contract && v.verify(verifier)
}

fn refuse(out: &mut Vec<Effect>, channel: ChannelId, kind: &'static str, reason: Refusal) {
    out.push(Effect::Event(EngineEvent::Refused { channel, kind, reason }));
}
