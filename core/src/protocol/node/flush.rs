//! The flush step (DESIGN §2.12): handlers queue what they have for each
//! neighbour in the [`Outbox`]; [`NodeEngine::flush`], which the driver
//! calls at the end of each event-loop turn, signs it with as few
//! signatures as the turn allows and emits the `Send`s:
//! - this node's own requests of the turn: one signature over their Merkle
//!   root, each request with its path;
//! - its responses of the turn: the same, one root for all;
//! - per channel, the paid requests it sends: one frame under one
//!   cumulative voucher (signed once, for everything the turn paid on the
//!   channel);
//! - per frame received: one ack over the voucher's digest and the ids
//!   accepted.
//!
//! Nothing waits for a timer: a flush emits everything queued, so an idle
//! node sends at once and a loaded one batches by itself. Within a channel
//! the items leave in the order they were queued (the frame of requests at
//! the place of its first request); channels in the order they were first
//! queued.

use crate::bytes::{Hash32, RequestId};
use crate::crypto::{Signer, Verifier};
use crate::merkle::{Batch, request_leaf, sign_batch};
use crate::message::{Request, Response};
use crate::protocol::effect::{Effect, PaidRequest, RequestFrame, Wire};
use crate::protocol::inflight::Answer;
use crate::voucher::{Ack, ChannelId, RefusedRequest};

use super::NodeEngine;

/// What the handlers of one turn queued, by channel.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// Channels with something queued, in the order first queued (a turn
    /// touches a few: a linear search is the fastest lookup).
    chans: Vec<(ChannelId, Vec<Item>)>,
}

/// One thing queued for a neighbour.
#[derive(Debug)]
enum Item {
    /// A message that needs no signature of this turn.
    Wire(Wire),
    /// A paid request: one of ours (signed at the flush with the turn's
    /// other requests of ours), or one we relay or send again (signed by its
    /// requester). Paid by the channel's frame voucher.
    Request {
        /// Its id.
        id: RequestId,
        /// The request.
        request: Box<Request>,
        /// Ours, to sign.
        sign: bool,
        /// A copy sent again (its leg keeps the copy it has).
        resend: bool,
    },
    /// The ack of one frame received.
    Ack {
        /// Digest of the frame's voucher.
        voucher_digest: Hash32,
        /// Ids accepted.
        accepted: Vec<RequestId>,
        /// Ids refused, with why.
        refused: Vec<RefusedRequest>,
    },
    /// A response this node serves, to sign with the turn's others.
    Response(Box<Response>),
}

impl Outbox {
    fn items(&mut self, channel: ChannelId) -> &mut Vec<Item> {
        match self.chans.iter().rposition(|(c, _)| *c == channel) {
            Some(i) => &mut self.chans[i].1,
            None => {
                self.chans.push((channel, Vec::new()));
                &mut self.chans.last_mut().expect("just pushed").1
            }
        }
    }

    /// Queues a message that needs no signature of this turn.
    pub(crate) fn wire(&mut self, channel: ChannelId, msg: Wire) {
        self.items(channel).push(Item::Wire(msg));
    }

    /// Queues a paid request (see [`Item::Request`]).
    pub(crate) fn request(
        &mut self,
        channel: ChannelId,
        id: RequestId,
        request: Box<Request>,
        sign: bool,
        resend: bool,
    ) {
        self.items(channel).push(Item::Request { id, request, sign, resend });
    }

    /// Reserves the place of the ack of a frame received (filled by
    /// [`Outbox::fill_ack`] once the frame is handled); returns it.
    pub(crate) fn ack_slot(&mut self, channel: ChannelId, voucher_digest: Hash32) -> usize {
        let items = self.items(channel);
        items.push(Item::Ack { voucher_digest, accepted: Vec::new(), refused: Vec::new() });
        items.len() - 1
    }

    /// Fills the ack reserved at `slot` on `channel`.
    pub(crate) fn fill_ack(
        &mut self,
        channel: ChannelId,
        slot: usize,
        ids: Vec<RequestId>,
        refusals: Vec<RefusedRequest>,
    ) {
        if let Some(Item::Ack { accepted, refused, .. }) = self.items(channel).get_mut(slot) {
            (*accepted, *refused) = (ids, refusals);
        }
    }

    /// Queues a response of ours, unsigned.
    pub(crate) fn response(&mut self, channel: ChannelId, response: Box<Response>) {
        self.items(channel).push(Item::Response(response));
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.chans.is_empty()
    }
}

impl<S: Signer, V: Verifier> NodeEngine<S, V> {
    /// Signs and emits everything the handlers queued since the last flush
    /// (see the module docs). The driver calls it at the end of each
    /// event-loop turn, after the turn's last call into the engine; the
    /// `Send`s it appends follow any `Persist` they depend on.
    pub fn flush(&mut self, now: u64, out: &mut Vec<Effect>) {
        if self.outbox.is_empty() {
            return;
        }
        let mut chans = std::mem::take(&mut self.outbox.chans);
        self.sign_requests(&mut chans);
        self.sign_responses(&mut chans);
        for (channel, items) in chans.drain(..) {
            self.flush_channel(channel, items, now, out);
        }
        // Keep the list's allocation for the next turn.
        self.outbox.chans = chans;
    }

    /// One signature over the root of this node's own requests of the turn.
    fn sign_requests(&mut self, chans: &mut [(ChannelId, Vec<Item>)]) {
        let mut mine: Vec<&mut Request> = Vec::new();
        let mut leaves = Vec::new();
        for (_, items) in chans.iter_mut() {
            for it in items.iter_mut() {
                if let Item::Request { id, request, sign: true, .. } = it {
                    leaves.push(request_leaf(id));
                    mine.push(request);
                }
            }
        }
        if leaves.is_empty() {
            return;
        }
        let (signature, paths) = sign_batch(Batch::Requests, &leaves, &self.signer);
        for (r, path) in mine.into_iter().zip(paths) {
            r.signature = signature;
            r.path = path;
        }
    }

    /// One signature over the root of this node's responses of the turn;
    /// the answers kept for repeats get the same signature and path.
    fn sign_responses(&mut self, chans: &mut [(ChannelId, Vec<Item>)]) {
        let mut mine: Vec<&mut Response> = Vec::new();
        let mut leaves = Vec::new();
        for (_, items) in chans.iter_mut() {
            for it in items.iter_mut() {
                if let Item::Response(r) = it {
                    leaves.push(r.leaf());
                    mine.push(r);
                }
            }
        }
        if leaves.is_empty() {
            return;
        }
        let (signature, paths) = sign_batch(Batch::Responses, &leaves, &self.signer);
        for (r, path) in mine.into_iter().zip(paths) {
            r.signature = signature;
            if let Some(Answer::Response(kept)) = self
                .requests
                .get_mut(&r.request_id)
                .and_then(|e| e.up.as_mut())
                .and_then(|u| u.answer.as_mut())
                .filter(|a| matches!(a, Answer::Response(k) if k.request_id == r.request_id))
            {
                kept.signature = signature;
                kept.path = path.clone();
            }
            r.path = path;
        }
    }

    /// Emits one channel's items: its requests as one frame under one
    /// voucher (signed now for what the turn paid), its acks signed.
    fn flush_channel(&mut self, channel: ChannelId, items: Vec<Item>, now: u64, out: &mut Vec<Effect>) {
        let has_requests = items.iter().any(|i| matches!(i, Item::Request { .. }));
        let voucher = if has_requests {
            let ch = self.channels.get_mut(&channel).expect("requests are queued only on known channels");
            if let Some(v) = ch.ledger.sign_pending(&self.signer)
                && self.config.emit_persists
            {
                out.push(Effect::Persist { channel, voucher: v, received: false });
            }
            ch.ledger.last_sent().cloned()
        } else {
            None
        };
        let digest = voucher.as_ref().map(|v| v.digest());
        let keep = self.config.resend.max_resends > 0;
        let start = out.len();
        let mut frame: Vec<Request> = Vec::new();
        let mut frame_at = None;
        for it in items {
            let msg = match it {
                Item::Wire(w) => w,
                Item::Request { id, request, resend, .. } => {
                    let (Some(v), Some(digest)) = (voucher.as_ref(), digest) else { continue };
                    if let Some(d) =
                        self.requests.get_mut(&id).and_then(|e| e.down.as_mut()).filter(|d| d.channel == channel)
                    {
                        d.voucher_digest = digest;
                        if keep && !resend {
                            d.request = Some(Box::new(PaidRequest { request: (*request).clone(), voucher: v.clone() }));
                        }
                    }
                    frame_at.get_or_insert(out.len());
                    frame.push(*request);
                    continue;
                }
                Item::Ack { voucher_digest, accepted, refused } => {
                    Wire::Ack(Ack::create(voucher_digest, accepted, refused, &self.signer))
                }
                Item::Response(r) => Wire::Response(r),
            };
            out.push(Effect::Send { channel, msg });
        }
        if let (Some(at), Some(voucher)) = (frame_at, voucher) {
            let msg = if frame.len() == 1 {
                let request = frame.pop().expect("one request");
                Wire::Request(Box::new(PaidRequest { request, voucher }))
            } else {
                Wire::Requests(Box::new(RequestFrame { voucher, requests: frame }))
            };
            out.insert(at, Effect::Send { channel, msg });
        }
        let sent = out.len() > start;
        if sent && let Some(c) = self.channels.get_mut(&channel) {
            // Any message is proof of life (see `send_sync`).
            c.last_sent_ms = now;
        }
    }
}
