//! The re-send rule's memory (see [`crate::protocol`], "Re-sending"): the
//! answers a node keeps after a request ended, to repeat them when the
//! upstream asks again ([`KeptAnswers`], for as long as [`keep_until`]
//! says), answering such a repeated request, and sending a request again
//! downstream.
//!
//! While its entry lives, a request's copies sit on its legs
//! ([`DownLeg::request`](crate::protocol::inflight::DownLeg::request),
//! [`UpLeg::answer`]); this module owns what outlives the entry and the
//! rules that send the copies.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;

use crate::bytes::RequestId;
use crate::crypto::{Signer, Verifier};
use crate::ledger::LedgerError;
use crate::protocol::channel::ChannelMap;
use crate::protocol::config::{ProtocolConfig, Resend};
use crate::protocol::effect::{Effect, Refusal};
use crate::protocol::inflight::{Answer, Entry, Hold, IdHasher, UpLeg};
use crate::voucher::{ChannelId, SignedVoucher};

use super::NodeEngine;

/// The up legs of finished requests whose answer is kept to repeat it
/// ([`UpLeg::keep_until_ms`]); the rest of their entry is gone, and they are
/// off their channel's books (no sync tick looks at them).
pub(super) struct KeptAnswers {
    /// The legs by request id.
    legs: HashMap<RequestId, UpLeg, BuildHasherDefault<IdHasher>>,
    /// When each kept leg may go, in the order they were kept (a leg taken
    /// back and kept again has an item for each time).
    order: VecDeque<(u64, RequestId)>,
    /// The time of `order`'s first item (`u64::MAX` when empty): the check
    /// made on every input then reads only this.
    front_ms: u64,
    /// Bytes of the kept answers by the channel they go back over (what one
    /// neighbour's requests make us hold after they end; see
    /// [`Limits::max_bytes_held`](crate::protocol::Limits::max_bytes_held)).
    bytes: HashMap<ChannelId, u64>,
}

impl Default for KeptAnswers {
    fn default() -> Self {
        KeptAnswers { legs: HashMap::default(), order: VecDeque::new(), front_ms: u64::MAX, bytes: HashMap::new() }
    }
}

/// What a kept answer weighs against the channel's byte cap: its body and
/// room for the rest of the message.
pub(super) fn answer_bytes(up: &UpLeg) -> u64 {
    match &up.answer {
        Some(Answer::Response(r)) => r.body.len() as u64 + 256,
        Some(Answer::Notice(_) | Answer::Refused(_)) => 256,
        None => 0,
    }
}

impl KeptAnswers {
    /// Keeps the up leg of request `id`, which just finished, if it holds an
    /// answer to repeat after `now`.
    #[inline]
    pub(super) fn keep(&mut self, id: RequestId, up: UpLeg, now: u64) {
        if up.answer.is_none() || now >= up.keep_until_ms {
            return;
        }
        if self.order.is_empty() {
            self.front_ms = up.keep_until_ms;
        }
        self.order.push_back((up.keep_until_ms, id));
        *self.bytes.entry(up.channel).or_default() += answer_bytes(&up);
        if let Some(old) = self.legs.insert(id, up) {
            self.release(&old);
        }
    }

    /// Bytes kept for answers that go back over `channel`.
    #[inline]
    pub(super) fn bytes(&self, channel: ChannelId) -> u64 {
        self.bytes.get(&channel).copied().unwrap_or(0)
    }

    fn release(&mut self, up: &UpLeg) {
        if let Some(b) = self.bytes.get_mut(&up.channel) {
            *b = b.saturating_sub(answer_bytes(up));
            if *b == 0 {
                self.bytes.remove(&up.channel);
            }
        }
    }

    /// The kept leg of request `id`.
    #[inline]
    pub(super) fn get(&self, id: &RequestId) -> Option<&UpLeg> {
        self.legs.get(id)
    }

    /// Takes back the kept leg of request `id` (it is owed on again).
    #[inline]
    pub(super) fn take(&mut self, id: &RequestId) -> Option<UpLeg> {
        let up = self.legs.remove(id)?;
        self.release(&up);
        Some(up)
    }

    /// Forgets the legs whose time is up at `now`, except those `longer`
    /// gives a later time (their upstream was away meanwhile).
    #[inline]
    pub(super) fn expire(&mut self, now: u64, longer: impl Fn(&UpLeg) -> Option<u64>) {
        if self.front_ms > now {
            return;
        }
        let mut again = Vec::new();
        while let Some(&(t, id)) = self.order.front()
            && t <= now
        {
            self.order.pop_front();
            let Some(u) = self.legs.get_mut(&id).filter(|u| now >= u.keep_until_ms) else { continue };
            match longer(u).filter(|&until| until > now) {
                Some(until) => {
                    u.keep_until_ms = until;
                    again.push((until, id));
                }
                None => {
                    if let Some(u) = self.legs.remove(&id) {
                        self.release(&u);
                    }
                }
            }
        }
        // (A leg kept longer goes to the back, perhaps before legs there
        // that expire later: it is then forgotten a little late, never
        // early.)
        again.sort_unstable();
        let first_again = again.first().map_or(u64::MAX, |&(t, _)| t);
        self.order.extend(again);
        self.front_ms = self.order.front().map_or(u64::MAX, |&(t, _)| t).min(first_again);
    }
}

/// A later time to keep the answer of `up` until, if its upstream was away
/// since the answer left: while it is silent, a round from `now`; once it
/// is back, a round after it came back (its first sync tick and a re-send's
/// timeout), time for it to ask again.
pub(super) fn kept_longer(channels: &ChannelMap, config: &ProtocolConfig, up: &UpLeg, now: u64) -> Option<u64> {
    let ch = channels.get(&up.channel).filter(|c| !c.closed)?;
    let round = ch.sync_ms.saturating_add(config.resend.timeout_ms(up.latency_ms));
    if now.saturating_sub(ch.last_heard_ms) > ch.silence_ms() {
        return Some(now.saturating_add(round));
    }
    let (_, back) = ch.silence;
    (back > up.frozen_at.unwrap_or(0)).then(|| back.saturating_add(round))
}

/// Until when a node keeps the answer it sent upstream, to repeat it when
/// the upstream sends the request again. The upstream asks at its deadline
/// (at the latest one promised latency after our estimate of it; the copy
/// takes another), then again a round trip (and at most a sync tick) after
/// each copy, up to `max_resends` copies. Until a first ask arrives the
/// answer is kept for one round. Once one has (the answer was lost at least
/// once), copies may be lost too, so it is kept for every ask the upstream
/// may still make: a repeat moves our own debt's end later (`frozen_at`), and
/// answering a late ask lets us pay the lateness it saw instead of being cut
/// for it. Answers that were never asked for again go after one round, which
/// keeps a relay's memory small when the answers are large (file ranges).
/// `0` when re-sending is off.
pub(crate) fn keep_until(up: &UpLeg, sync_ms: u64, resend: &Resend) -> u64 {
    if resend.max_resends == 0 {
        return 0;
    }
    let first_ask = up.deadline_ms.saturating_add(up.latency_ms.saturating_mul(2));
    let round = sync_ms.saturating_add(resend.timeout_ms(up.latency_ms));
    let asks_left = match up.repeats {
        0 => 1,
        r => u64::from(resend.max_resends.saturating_sub(r).max(1)),
    };
    up.frozen_at.unwrap_or(0).max(first_ask).saturating_add(round.saturating_mul(asks_left))
}

impl<S: Signer, V: Verifier> NodeEngine<S, V> {
    /// Forgets the kept answers whose time is up, except those whose
    /// upstream was away since they left (down, restarting): it may not have
    /// them, so they stay a round after it is back (DESIGN §2.11). A channel
    /// that stays silent is cut after the offline grace, and its kept
    /// answers go with their time.
    pub(super) fn expire_kept(&mut self, now: u64) {
        let (channels, config) = (&self.channels, &self.config);
        self.kept.expire(now, |u| kept_longer(channels, config, u, now));
    }

    /// The upstream sent again a request we already hold: our ack or our
    /// answer may have been lost. Acknowledge again (the frame's ack lists
    /// it: `Ok`), and repeat the answer
    /// unless the copy may only have crossed it; what we owe for lateness
    /// then runs until the repeat can arrive (the loss was on our message).
    pub(super) fn on_repeat(
        &mut self,
        id: RequestId,
        channel: ChannelId,
        voucher: &SignedVoucher,
        signed: super::Known,
        now: u64,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        // Acknowledge only a voucher we hold: the peer's own, signed, and
        // covered by the best one we kept, or a newer one of the peer's,
        // which its frame carried for the requests it sent since (a
        // cumulative voucher: what it pays beyond is the channel's credit).
        let Some(c) = self.channels.get_mut(&channel) else { return Err(Refusal::UnknownChannel) };
        match c.ledger.check(voucher, &signed) {
            Ok(delta) => {
                if self.config.emit_persists {
                    out.push(Effect::Persist { channel, voucher: voucher.clone(), received: true });
                }
                if c.ledger.commit(voucher.clone()).is_ok() {
                    c.credit = c.credit.saturating_add(delta);
                    self.credits_changed.insert(channel);
                }
            }
            Err(LedgerError::NotIncreasing { .. }) if super::stale_voucher_ok(&c.ledger, voucher, &signed) => {}
            Err(_) => return Err(Refusal::BadVoucher),
        }
        // The copy left after our answer should have arrived (so the answer
        // was lost, not crossing the copy): always when the answer left in
        // time by our estimate of the upstream's deadline (it asks at that
        // deadline or later) or after a repeat of ours (it asks again a round
        // trip later); otherwise when it arrives a promised latency after
        // the answer could have.
        // (An answer that is held back, `frozen_at` unset, never left: any
        // copy is late for it.)
        let late = |up: &UpLeg| {
            up.frozen_at.map_or(up.answer.is_some(), |f| {
                f <= up.deadline_ms || up.repeats > 0 || now >= f.saturating_add(up.latency_ms)
            })
        };
        if self.kept.get(&id).is_some_and(late) {
            self.owe_again(id, channel);
        }
        let Some(ch) = self.channels.get(&channel) else { return Ok(()) };
        if let Some(up) = self.requests.get_mut(&id).and_then(|e| e.up.as_mut())
            && late(up)
            && let Some(answer) = up.answer.as_ref().map(Answer::wire)
        {
            let arrive = now.saturating_add(up.latency_ms);
            up.frozen_at = Some(up.frozen_at.map_or(arrive, |f| f.max(arrive)));
            up.repeats += 1;
            up.keep_until_ms = up.keep_until_ms.max(keep_until(up, ch.sync_ms, &self.config.resend));
            self.outbox.wire(channel, answer);
        }
        self.arm_sync(channel, now, out);
        Ok(())
    }

    /// A kept answer's leg (its entry had ended) goes back on `channel`'s
    /// books: we owe on it again.
    fn owe_again(&mut self, id: RequestId, channel: ChannelId) {
        let Some(up) = self.kept.take(&id) else { return };
        let e = Entry {
            id,
            server: self.key,
            max_response_bytes: 0,
            route_down: Vec::new(),
            up: Some(up),
            down: None,
            origin: None,
            confirm: None,
            served: true,
            hold: Hold::default(),
        };
        self.requests.insert(e);
        if let Some(ch) = self.channels.get_mut(&channel) {
            ch.book_up(id);
        }
    }

    /// The upstream on `channel` first got our notice for `id` at `arrived`
    /// (its copy sent on its own was lost): we owe the lateness up to then,
    /// as for a lost response (DESIGN §2.6). A leg kept after its entry
    /// ended goes back on the books to pay it.
    pub(super) fn owe_until(&mut self, id: RequestId, channel: ChannelId, arrived: u64) {
        if !self.requests.contains(&id) && self.kept.get(&id).is_some_and(|u| u.channel == channel) {
            self.owe_again(id, channel);
        }
        if let Some(up) = self.requests.get_mut(&id).and_then(|e| e.up.as_mut()).filter(|u| u.channel == channel)
            && let Some(f) = up.frozen_at
            && arrived > f
        {
            up.frozen_at = Some(arrived);
        }
    }

    /// Sends a request again down its leg (the re-send rule, see
    /// [`crate::protocol`]), within [`Resend::max_resends`]. Sent before the
    /// downstream acknowledged it, the copy may be the first the downstream
    /// gets, so the late fees it owes count from the copy's deadline.
    ///
    /// [`Resend::max_resends`]: crate::protocol::Resend::max_resends
    pub(super) fn resend_request(&mut self, id: RequestId, now: u64) {
        let limit = self.config.resend.max_resends;
        let Some(d) = self.requests.get_mut(&id).and_then(|e| e.down.as_mut()) else { return };
        let Some(ch) = self.channels.get(&d.channel).filter(|c| !c.closed) else { return };
        if !d.open() || d.resends >= limit {
            return;
        }
        // A peer that missed its syncs is down (restarting): a copy now
        // would be lost and use up the budget. The sync tick after it is
        // heard again sends it (DESIGN §2.11). (Only where idle channels
        // sync too: otherwise an idle peer that refused the request is
        // silent without being down.)
        if self.config.sync_when_idle && now.saturating_sub(ch.last_heard_ms) > ch.silence_ms() {
            return;
        }
        let Some(p) = d.request.as_ref() else { return };
        if !d.acked {
            let budget = d.deadline_ms.saturating_sub(d.sent_ms);
            d.owed_from_ms = d.owed_from_ms.max(now.saturating_add(budget));
        }
        d.resends += 1;
        d.resent_ms = now;
        // It goes in the channel's frame of this turn, under its voucher.
        self.outbox.request(d.channel, id, Box::new(p.request.clone()), false, true);
    }
}
