//! Syncs, timers, the failure policy and severance (DESIGN §2.6–§2.7).
//!
//! Every `sync_ms` a channel with anything in flight (or every channel, with
//! `sync_when_idle`) sends one [`SyncMessage`]: one cumulative voucher for the
//! late fees newly owed on it, the overdue requests with their cumulative
//! amounts, and the notices the peer has not acknowledged. A claim or notice
//! is repeated in every sync until the peer's [`SyncAck`] for a sync that
//! carried it comes back (bounded by [`Resend::max_resends`]); the voucher
//! is cumulative, so a repeat pays nothing twice. A sync that would carry
//! nothing is skipped when another message went to the peer within the
//! interval: every message is proof of life, which is all the liveness rule
//! needs. Before that, the sync tick checks the failure policy on the
//! requests sent over the channel and sends again those whose ack or answer
//! is missing (see [`crate::protocol`]).
//!
//! [`Resend::max_resends`]: crate::protocol::Resend::max_resends
//!
//! A relay pays its upstream from its own estimate of the upstream deadline
//! on, whatever its downstream paid (DESIGN §2.6).

use crate::Hash32;
use crate::bytes::{RequestId, sha256};
use crate::crypto::{Signer, Verifier};
use crate::message::{Overdue, SeveranceNotice, SyncAck, SyncMessage};
use crate::protocol::effect::{Delivery, Effect, EngineEvent, Refusal, SeverReason, Timer, Wire};
use crate::protocol::inflight::DownEnd;
use crate::voucher::{Amount, ChannelId};

use super::{NodeEngine, refuse};

impl<S: Signer, V: Verifier> NodeEngine<S, V> {
    /// A timer set by an earlier [`Effect::SetTimer`] fired.
    pub fn handle_timer(&mut self, timer: Timer, now: u64, out: &mut Vec<Effect>) {
        self.expire_kept(now);
        match timer {
            Timer::Sync(c) => self.on_sync_timer(c, now, out),
            Timer::Deadline(id) => self.on_deadline(id, now, out),
            Timer::ConfirmNotice(id) => self.on_confirm_timer(id, now, out),
        }
    }

    /// Cuts `channel` on chain (see [`Effect::Sever`]); the notices go out
    /// when the driver reports the transaction through
    /// [`channel_removed`](Self::channel_removed).
    pub fn sever(&mut self, channel: ChannelId, reason: SeverReason, out: &mut Vec<Effect>) {
        let Some(ch) = self.channels.get_mut(&channel).filter(|c| !c.closed) else { return };
        ch.closed = true;
        ch.next_sync_ms = None;
        out.push(Effect::Sever { channel, voucher: ch.ledger.best_received().cloned(), reason });
    }

    /// `channel` left the graph: we submitted its severance (`tx_hash` is
    /// known before finality), the peer cut it, or, for a channel elsewhere
    /// that a received notice named, the chain confirms the notice.
    ///
    /// For our own channel, every request sent over it that has no outcome
    /// yet gets a notice signed by this node, sent upstream at once (or
    /// delivered locally), and nothing more is owed to an upstream over it.
    pub fn channel_removed(&mut self, channel: ChannelId, tx_hash: Hash32, now: u64, out: &mut Vec<Effect>) {
        self.channel_removed_inner(channel, tx_hash, now, out);
    }

    fn channel_removed_inner(&mut self, channel: ChannelId, tx_hash: Hash32, now: u64, out: &mut Vec<Effect>) {
        self.notices_landed(channel, now);
        let Some(ch) = self.channels.get_mut(&channel).filter(|c| !c.removed) else { return };
        ch.closed = true;
        ch.removed = true;
        ch.next_sync_ms = None;
        ch.notices_out.clear();
        ch.notice_sends.clear();
        let down: Vec<RequestId> = ch.down_ids.iter().copied().collect();
        let up: Vec<RequestId> = ch.up_ids.iter().copied().collect();
        for id in down {
            let Some(e) = self.requests.get_mut(&id) else { continue };
            let Some(d) = e.down.as_mut() else { continue };
            let unconfirmed = e.confirm.is_some();
            let notify = match d.ended {
                None => true,
                // We cut the edge a notice came over that never landed: the
                // upstream gets a true notice in its place.
                Some((_, DownEnd::Notice)) => unconfirmed,
                _ => false,
            };
            if d.ended.is_none() {
                d.ended = Some((now, DownEnd::ChannelGone));
            }
            super::release_out(&mut self.channels, d);
            d.request = None;
            self.watch.clear(e);
            if notify {
                let notice = SeveranceNotice::create(id, channel, tx_hash, &self.signer);
                self.pass_notice_up(id, notice, now, out);
            }
            if let Some(d) = self.requests.get_mut(&id).and_then(|e| e.down.as_mut()) {
                d.ended = Some((d.ended.map_or(now, |x| x.0), DownEnd::ChannelGone));
            }
            self.try_finish(id, now);
        }
        for id in up {
            if let Some(e) = self.requests.get_mut(&id) {
                e.up = None;
            }
            self.try_finish(id, now);
        }
    }

    fn on_sync_timer(&mut self, channel: ChannelId, now: u64, out: &mut Vec<Effect>) {
        let Some(ch) = self.channels.get_mut(&channel) else { return };
        match ch.next_sync_ms {
            Some(t) if t <= now && !ch.closed => ch.next_sync_ms = None,
            _ => return,
        }
        let (mut done, mut again) = (Vec::new(), Vec::new());
        if let Some(reason) = self.policy_check(channel, now, &mut done, &mut again) {
            return self.sever(channel, reason, out);
        }
        for id in again {
            self.resend_request(id, now);
        }
        self.send_sync(channel, now, done, out);
        let ch = &self.channels[&channel];
        if ch.active() || self.config.sync_when_idle {
            self.arm_sync(channel, now, out);
        }
    }

    /// The failure policy on the requests sent over `channel`; collects in
    /// `done` those of them that need nothing more and in `again` those to
    /// send again (no ack within a round trip, or no answer since the
    /// deadline or the last copy).
    fn policy_check(
        &self,
        channel: ChannelId,
        now: u64,
        done: &mut Vec<RequestId>,
        again: &mut Vec<RequestId>,
    ) -> Option<SeverReason> {
        let ch = &self.channels[&channel];
        let (p, rate, cap) = (&self.config.policy, self.config.late_fee_per_sec, self.config.max_late_ms);
        let resend = &self.config.resend;
        // Silence first: a neighbour gone longer than the grace is cut for
        // that, whatever else it owes by now.
        let silent = now.saturating_sub(ch.last_heard_ms);
        let allowed = u64::from(p.missed_syncs).saturating_mul(ch.sync_ms).max(p.offline_grace_ms);
        if p.missed_syncs > 0 && silent > allowed {
            let open = ch
                .down_ids
                .iter()
                .any(|id| self.requests.get(id).and_then(|e| e.down.as_ref()).is_some_and(|d| d.open()));
            if open {
                return Some(SeverReason::MissedSyncs);
            }
        }
        let pay_check = ch.pay_check_ms(now, p.late_fee_grace_ms, p.offline_grace_ms);
        for id in &ch.down_ids {
            let Some(e) = self.requests.get(id) else { continue };
            if e.work_done(now, rate, cap, p.late_fee_grace_ms) {
                done.push(*id);
            }
            let Some(d) = e.down.as_ref() else { continue };
            if d.received < d.required(pay_check, p.late_fee_grace_ms, rate, cap) {
                return Some(SeverReason::WithheldLateFee);
            }
            if d.open() {
                if now >= d.deadline_ms.saturating_add(cap).saturating_add(self.slack(id)) {
                    return Some(SeverReason::MaxLate);
                }
                if d.request.is_some()
                    && d.resends < resend.max_resends
                    && (!d.acked || d.overdue)
                    && now >= d.resent_ms.saturating_add(resend.timeout_ms(d.latency_ms))
                {
                    again.push(*id);
                }
            }
        }
        None
    }

    /// Sends the sync of `channel` (see the module docs), then drops the
    /// requests that need nothing more (`done`, plus those found here).
    pub(super) fn send_sync(&mut self, channel: ChannelId, now: u64, mut done: Vec<RequestId>, out: &mut Vec<Effect>) {
        let (rate, cap) = (self.config.late_fee_per_sec, self.config.max_late_ms);
        let grace = self.config.policy.late_fee_grace_ms;
        let withhold = self.config.faults.withhold_late_fees;
        let limit = self.config.resend.max_resends;
        let ch = self.channels.get_mut(&channel).expect("caller checked");
        // A repeat counts against its limit only while the peer answers: a
        // peer that is down (restarting) gets every claim and notice again
        // when it is back (DESIGN §2.11).
        let alive = now.saturating_sub(ch.last_heard_ms) <= ch.silence_ms();
        // New claims (more owed than paid) and repeats (paid, not confirmed).
        let mut fresh = Vec::new();
        let mut repeats = Vec::new();
        let mut given_up = Vec::new();
        let mut total: Amount = 0;
        for id in &ch.up_ids {
            let Some(e) = self.requests.get(id) else { continue };
            if e.work_done(now, rate, cap, grace) {
                done.push(*id);
            }
            if withhold {
                continue;
            }
            let Some(u) = e.up.as_ref() else { continue };
            let owed = u.owed(now, rate, cap);
            if owed > u.paid {
                total = total.saturating_add(owed - u.paid);
                fresh.push(Overdue { request_id: *id, amount: owed });
            } else if u.confirmed < u.paid {
                if u.claim_sends > limit {
                    // The upstream never confirmed: stop repeating.
                    given_up.push(*id);
                } else {
                    repeats.push(Overdue { request_id: *id, amount: u.paid });
                }
            }
        }
        for id in given_up {
            if let Some(u) = self.requests.get_mut(&id).and_then(|e| e.up.as_mut()) {
                u.confirmed = u.paid;
            }
        }
        let seq = ch.seq + 1;
        let mut voucher = None;
        if total > 0 {
            match ch.ledger.pay(total, &self.signer) {
                Ok(v) => {
                    if self.config.emit_persists {
                        out.push(Effect::Persist { channel, voucher: v.clone(), received: false });
                    }
                    out.push(Effect::Event(EngineEvent::LateFeesPaid { channel, amount: total }));
                    voucher = Some(v);
                }
                Err(_) => {
                    out.push(Effect::Event(EngineEvent::CannotPay { channel, amount: total }));
                    fresh.clear();
                }
            }
        }
        if voucher.is_none() && !repeats.is_empty() {
            // Nothing new to pay: the last voucher covers the repeats.
            voucher = ch.ledger.last_sent().cloned();
        }
        let mut overdue = fresh;
        overdue.append(&mut repeats);
        for o in &overdue {
            let Some(u) = self.requests.get_mut(&o.request_id).and_then(|e| e.up.as_mut()) else { continue };
            if o.amount > u.paid {
                u.paid = o.amount;
                u.claim_sends = 0;
            }
            if alive {
                u.claim_sends += 1;
            }
            u.paid_seq = seq;
            if limit == 0 {
                u.confirmed = u.paid;
            }
        }
        if !overdue.is_empty() && limit > 0 {
            ch.claims_seq = seq;
            ch.claims_cum = ch.ledger.paid();
        }
        // Notices the peer has not acknowledged, each within its limit.
        let mut notices = Vec::new();
        let mut i = 0;
        while i < ch.notices_out.len() {
            let (s, n) = &mut ch.notice_sends[i];
            if *n > limit {
                ch.notices_out.swap_remove(i);
                ch.notice_sends.swap_remove(i);
                continue;
            }
            *s = seq;
            if alive {
                *n += 1;
            }
            notices.push(ch.notices_out[i].clone());
            i += 1;
        }
        // A sync with nothing to carry is only a heartbeat; any message sent
        // within the interval already was one.
        let news = self.draining && !ch.told_draining;
        let idle = !news && voucher.is_none() && notices.is_empty() && now < ch.last_sent_ms.saturating_add(ch.sync_ms);
        if !idle {
            ch.seq = seq;
            ch.seq_sent_ms = now;
            ch.told_draining = self.draining;
            let msg = SyncMessage { channel, seq, voucher, overdue, notices, draining: self.draining };
            self.outbox.wire(channel, Wire::Sync(Box::new(msg)));
        }
        for id in done {
            self.try_finish(id, now);
        }
    }

    /// The peer acknowledged our sync `ack.seq`: the claims and notices it
    /// carried (and those of earlier syncs) arrived.
    pub(super) fn on_sync_ack(&mut self, channel: ChannelId, ack: SyncAck, now: u64, out: &mut Vec<Effect>) {
        let ch = self.channels.get_mut(&channel).expect("caller checked");
        if ack.signer != ch.ledger.remote || !ack.verify(&self.verifier) {
            return refuse(out, channel, "sync_ack", Refusal::BadSignature);
        }
        if ack.seq > ch.seq || ack.seq <= ch.acked_seq {
            return;
        }
        ch.acked_seq = ack.seq;
        // Notices the peer first got in a sync this ack covers: we owe their
        // lateness up to that sync's arrival (at most a promised latency after
        // it left; for an older sync than the last, up to now).
        let arrived = if ack.seq == ch.seq { ch.seq_sent_ms.saturating_add(ch.latency_ms) } else { now };
        let mut late = Vec::new();
        for id in &ack.late_notices {
            let sent = ch
                .notices_out
                .iter()
                .zip(&ch.notice_sends)
                .any(|(n, (s, _))| n.request_id == *id && *s != 0 && *s <= ack.seq);
            if sent && !late.contains(id) {
                late.push(*id);
            }
        }
        let mut i = 0;
        while i < ch.notices_out.len() {
            let s = ch.notice_sends[i].0;
            if s != 0 && s <= ack.seq {
                ch.notices_out.swap_remove(i);
                ch.notice_sends.swap_remove(i);
            } else {
                i += 1;
            }
        }
        for id in late {
            self.owe_until(id, channel, arrived);
        }
        let ch = self.channels.get_mut(&channel).expect("caller checked");
        if ch.claims_seq == 0 {
            return;
        }
        // Claims count as confirmed only when the peer credited them and
        // holds the voucher that paid them; otherwise they go again (the
        // money they were paid with is the peer's credit by now).
        let credited = ack.credited && (ack.seq < ch.claims_seq || ack.cumulative >= ch.claims_cum);
        let mut settled = Vec::new();
        for id in &ch.up_ids {
            let Some(u) = self.requests.get_mut(id).and_then(|e| e.up.as_mut()) else { continue };
            if u.paid_seq != 0 && u.paid_seq <= ack.seq && u.confirmed < u.paid {
                if credited {
                    u.confirmed = u.paid;
                    settled.push(*id);
                } else {
                    u.claim_sends = 0;
                }
            }
        }
        if ack.seq >= ch.claims_seq {
            ch.claims_seq = 0;
        }
        for id in settled {
            self.try_finish(id, now);
        }
    }

    pub(super) fn on_sync(&mut self, channel: ChannelId, msg: SyncMessage, now: u64, out: &mut Vec<Effect>) {
        let ch = self.channels.get_mut(&channel).expect("caller checked");
        ch.peer_draining = msg.draining;
        // A list that names one request twice is malformed (an honest peer
        // lists each once): refused whole, nothing credited or acknowledged.
        if msg.overdue.len() > 1 {
            let mut ids: Vec<&RequestId> = msg.overdue.iter().map(|o| &o.request_id).collect();
            ids.sort_unstable();
            if ids.windows(2).any(|w| w[0] == w[1]) {
                return refuse(out, channel, "sync", Refusal::DuplicateClaim);
            }
        }
        // What the overdue list claims beyond what we already credited.
        let mut credits: Vec<(RequestId, Amount)> = Vec::new();
        let mut claimed: Amount = 0;
        for o in &msg.overdue {
            if !ch.down_ids.contains(&o.request_id) {
                continue;
            }
            let Some(d) = self.requests.get(&o.request_id).and_then(|e| e.down.as_ref()) else { continue };
            if o.amount > d.received {
                claimed = claimed.saturating_add(o.amount - d.received);
                credits.push((o.request_id, o.amount));
            }
        }
        let mut delta = 0;
        if let Some(v) = msg.voucher {
            let vo = &v.voucher;
            let repeat = vo.channel == channel && vo.payer == ch.ledger.remote && vo.cumulative <= ch.ledger.received();
            // A repeat (this sync sent again, or a voucher a later one
            // covered) brings nothing new; its claims are paid from credit.
            if !repeat {
                match ch.ledger.check(&v, &self.verifier) {
                    Ok(d) => {
                        if self.config.emit_persists {
                            out.push(Effect::Persist { channel, voucher: v.clone(), received: true });
                        }
                        if ch.ledger.commit(v).is_ok() {
                            delta = d;
                        }
                    }
                    Err(_) => refuse(out, channel, "sync", Refusal::BadVoucher),
                }
            }
        }
        let cumulative = ch.ledger.received();
        let available = ch.credit.saturating_add(delta);
        let credited = claimed <= available;
        let credit_before = ch.credit;
        if !credited {
            refuse(out, channel, "sync", Refusal::SyncShort);
            credits.clear();
            ch.credit = available;
        } else {
            ch.credit = available - claimed;
            if claimed > 0 {
                out.push(Effect::Event(EngineEvent::LateFeesReceived { channel, amount: claimed }));
            }
        }
        if ch.credit != credit_before {
            self.credits_changed.insert(channel);
        }
        let mut ack = SyncAck::create(channel, msg.seq, cumulative, credited, &self.signer);
        for (id, amount) in credits {
            let Some(e) = self.requests.get_mut(&id) else { continue };
            let Some(d) = e.down.as_mut() else { continue };
            let inc = amount - d.received;
            d.received = amount;
            if e.origin.is_some() {
                out.push(Effect::Deliver(Delivery::LatePayment { request_id: id, amount: inc, total: amount }));
            }
            self.try_finish(id, now);
        }
        for n in msg.notices {
            let id = n.request_id;
            let open = |e: &Self| {
                e.requests.get(&id).and_then(|e| e.down.as_ref()).is_some_and(|d| d.channel == channel && d.open())
            };
            let was_open = open(self);
            self.on_notice(channel, n, now, out);
            // This copy ended the leg: the one sent on its own did not come.
            if was_open && !open(self) && !ack.late_notices.contains(&id) {
                ack.late_notices.push(id);
            }
        }
        self.outbox.wire(channel, Wire::SyncAck(ack));
    }

    fn on_deadline(&mut self, id: RequestId, now: u64, out: &mut Vec<Effect>) {
        let slack = self.slack(&id);
        let Some(e) = self.requests.get_mut(&id) else { return };
        let has_up = e.up.is_some();
        let Some(d) = e.down.as_mut().filter(|d| d.open() && now >= d.deadline_ms) else { return };
        let (channel, deadline, first) = (d.channel, d.deadline_ms, !d.overdue);
        d.overdue = true;
        if self.channels.get(&channel).is_none_or(|c| c.closed) {
            return;
        }
        if first {
            out.push(Effect::Event(EngineEvent::DeadlinePassed { request_id: id, channel }));
            let faults = &self.config.faults;
            if (faults.false_notices || faults.misaddressed_notices) && has_up {
                // Fault injection: claim the downstream edge is cut, without
                // cutting it (or name a channel that is not on the route).
                let tx = Hash32(sha256(&[b"false-notice".as_slice(), &id.0].concat()).0);
                let named = if faults.misaddressed_notices { ChannelId(u64::MAX) } else { channel };
                let notice = SeveranceNotice::create(id, named, tx, &self.signer);
                if let Some(d) = self.requests.get_mut(&id).and_then(|e| e.down.as_mut()) {
                    d.ended = Some((now, DownEnd::Notice));
                    super::release_out(&mut self.channels, d);
                }
                return self.pass_notice_up(id, notice, now, out);
            }
        }
        let cap = self.config.max_late_ms;
        let limit = self.config.policy.sever_overdue_after_ms.unwrap_or(cap).min(cap);
        let check_at = deadline.saturating_add(limit).saturating_add(slack);
        if now >= check_at {
            let reason = if limit < cap { SeverReason::Overdue } else { SeverReason::MaxLate };
            self.sever(channel, reason, out);
        } else if first {
            out.push(Effect::SetTimer { at_ms: check_at, timer: Timer::Deadline(id) });
            // No answer by the deadline: maybe it was lost; ask again.
            self.resend_request(id, now);
        }
    }

    /// The policy's slack for a request: `hop_slack_ms` per hop below our
    /// downstream edge.
    pub(super) fn slack(&self, id: &RequestId) -> u64 {
        let hops = self.requests.get(id).map_or(0, |e| e.route_down.len().saturating_sub(1)) as u64;
        hops.saturating_mul(self.config.policy.hop_slack_ms)
    }
}
