//! Syncs, timers, the failure policy and severance (DESIGN §2.6–§2.7).
//!
//! Every `sync_ms` a channel with anything in flight (or every channel, with
//! `sync_when_idle`) sends one [`SyncMessage`]: one cumulative voucher for the
//! late fees newly owed on it, the overdue requests with their cumulative
//! amounts, and the notices sent since the last sync. A sync that would carry
//! nothing is skipped when another message went to the peer within the
//! interval: every message is proof of life, which is all the liveness rule
//! needs. Before that, the sync
//! tick checks the failure policy on the requests sent over the channel.
//!
//! A relay pays its upstream from its own estimate of the upstream deadline
//! on, whatever its downstream paid (DESIGN §2.6).

use crate::Hash32;
use crate::bytes::{RequestId, sha256};
use crate::crypto::{Signer, Verifier};
use crate::message::{Overdue, SeveranceNotice, SyncAck, SyncMessage};
use crate::protocol::effect::{Delivery, Effect, EngineEvent, Refusal, SeverReason, Timer, Wire};
use crate::protocol::inflight::DownEnd;
use crate::protocol::node::{NodeEngine, refuse};
use crate::voucher::{Amount, ChannelId};

impl<S: Signer, V: Verifier> NodeEngine<S, V> {
    /// A timer set by an earlier [`Effect::SetTimer`] fired.
    pub fn handle_timer(&mut self, timer: Timer, now: u64, out: &mut Vec<Effect>) {
        let start = out.len();
        match timer {
            Timer::Sync(c) => self.on_sync_timer(c, now, out),
            Timer::Deadline(id) => self.on_deadline(id, now, out),
            Timer::ConfirmNotice(id) => self.on_confirm_timer(id, now, out),
        }
        self.note_sends(out, start, now);
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
        let start = out.len();
        self.channel_removed_inner(channel, tx_hash, now, out);
        self.note_sends(out, start, now);
    }

    fn channel_removed_inner(&mut self, channel: ChannelId, tx_hash: Hash32, now: u64, out: &mut Vec<Effect>) {
        if let Some(ids) = self.watch.remove(&channel) {
            for id in ids {
                if let Some(e) = self.entries.get_mut(&id)
                    && e.confirm.as_ref().is_some_and(|c| c.severed == channel)
                {
                    e.confirm = None;
                }
                self.try_finish(id, now);
            }
        }
        let Some(ch) = self.channels.get_mut(&channel).filter(|c| !c.removed) else { return };
        ch.closed = true;
        ch.removed = true;
        ch.next_sync_ms = None;
        ch.notices_out.clear();
        let down: Vec<RequestId> = ch.down_ids.iter().copied().collect();
        let up: Vec<RequestId> = ch.up_ids.iter().copied().collect();
        for id in down {
            let Some(e) = self.entries.get_mut(&id) else { continue };
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
            if let Some(c) = e.confirm.take()
                && let Some(w) = self.watch.get_mut(&c.severed)
            {
                w.remove(&id);
            }
            if notify {
                let notice = SeveranceNotice::create(id, channel, tx_hash, &self.signer);
                self.pass_notice_up(id, notice, now, out);
            }
            if let Some(d) = self.entries.get_mut(&id).and_then(|e| e.down.as_mut()) {
                d.ended = Some((d.ended.map_or(now, |x| x.0), DownEnd::ChannelGone));
            }
            self.try_finish(id, now);
        }
        for id in up {
            if let Some(e) = self.entries.get_mut(&id) {
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
        let mut done = Vec::new();
        if let Some(reason) = self.policy_check(channel, now, &mut done) {
            return self.sever(channel, reason, out);
        }
        self.send_sync(channel, now, done, out);
        let ch = &self.channels[&channel];
        if ch.active() || self.config.sync_when_idle {
            self.arm_sync(channel, now, out);
        }
    }

    /// The failure policy on the requests sent over `channel`; collects in
    /// `done` those of them that need nothing more.
    fn policy_check(&self, channel: ChannelId, now: u64, done: &mut Vec<RequestId>) -> Option<SeverReason> {
        let ch = &self.channels[&channel];
        let (p, rate, cap) = (&self.config.policy, self.config.late_fee_per_sec, self.config.max_late_ms);
        let mut open = false;
        for id in &ch.down_ids {
            let Some(e) = self.entries.get(id) else { continue };
            if e.finished(now, rate, cap, p.late_fee_grace_ms) {
                done.push(*id);
            }
            let Some(d) = e.down.as_ref() else { continue };
            if d.received < d.required(now, p.late_fee_grace_ms, rate, cap) {
                return Some(SeverReason::WithheldLateFee);
            }
            if d.open() {
                open = true;
                if now >= d.deadline_ms.saturating_add(cap).saturating_add(self.slack(id)) {
                    return Some(SeverReason::MaxLate);
                }
            }
        }
        let silent = now.saturating_sub(ch.last_heard_ms);
        if open && p.missed_syncs > 0 && silent > u64::from(p.missed_syncs).saturating_mul(ch.sync_ms) {
            return Some(SeverReason::MissedSyncs);
        }
        None
    }

    /// Sends the sync of `channel` (see the module docs), then drops the
    /// requests that need nothing more (`done`, plus those found here).
    fn send_sync(&mut self, channel: ChannelId, now: u64, mut done: Vec<RequestId>, out: &mut Vec<Effect>) {
        let (rate, cap) = (self.config.late_fee_per_sec, self.config.max_late_ms);
        let grace = self.config.policy.late_fee_grace_ms;
        let withhold = self.config.faults.withhold_late_fees;
        let ch = self.channels.get_mut(&channel).expect("caller checked");
        let mut overdue = Vec::new();
        let mut total: Amount = 0;
        for id in &ch.up_ids {
            let Some(e) = self.entries.get(id) else { continue };
            if e.finished(now, rate, cap, grace) {
                done.push(*id);
            }
            if !withhold && let Some(u) = e.up.as_ref() {
                let owed = u.owed(now, rate, cap);
                if owed > 0 && owed >= u.paid {
                    total = total.saturating_add(owed - u.paid);
                    overdue.push(Overdue { request_id: *id, amount: owed });
                }
            }
        }
        let mut voucher = None;
        if total > 0 {
            match ch.ledger.pay(total, &self.signer) {
                Ok(v) => {
                    for o in &overdue {
                        if let Some(u) = self.entries.get_mut(&o.request_id).and_then(|e| e.up.as_mut()) {
                            u.paid = o.amount;
                        }
                    }
                    if self.config.emit_persists {
                        out.push(Effect::Persist { channel, voucher: v.clone(), received: false });
                    }
                    out.push(Effect::Event(EngineEvent::LateFeesPaid { channel, amount: total }));
                    voucher = Some(v);
                }
                Err(_) => {
                    out.push(Effect::Event(EngineEvent::CannotPay { channel, amount: total }));
                    overdue.clear();
                }
            }
        }
        // A sync with nothing to carry is only a heartbeat; any message sent
        // within the interval already was one.
        let idle = voucher.is_none() && ch.notices_out.is_empty() && now < ch.last_sent_ms.saturating_add(ch.sync_ms);
        if !idle {
            ch.seq += 1;
            let msg =
                SyncMessage { channel, seq: ch.seq, voucher, overdue, notices: std::mem::take(&mut ch.notices_out) };
            out.push(Effect::Send { channel, msg: Wire::Sync(Box::new(msg)) });
        }
        for id in done {
            self.try_finish(id, now);
        }
    }

    pub(crate) fn on_sync(&mut self, channel: ChannelId, msg: SyncMessage, now: u64, out: &mut Vec<Effect>) {
        let ch = self.channels.get_mut(&channel).expect("caller checked");
        // What the overdue list claims beyond what we already credited.
        let mut credits: Vec<(RequestId, Amount)> = Vec::new();
        let mut claimed: Amount = 0;
        for o in &msg.overdue {
            if !ch.down_ids.contains(&o.request_id) {
                continue;
            }
            let Some(d) = self.entries.get(&o.request_id).and_then(|e| e.down.as_ref()) else { continue };
            if o.amount > d.received {
                claimed = claimed.saturating_add(o.amount - d.received);
                credits.push((o.request_id, o.amount));
            }
        }
        let mut delta = 0;
        if let Some(v) = msg.voucher {
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
        let cumulative = ch.ledger.received();
        if claimed > 0 && delta < claimed {
            refuse(out, channel, "sync", Refusal::SyncShort);
            credits.clear();
        } else if claimed > 0 {
            out.push(Effect::Event(EngineEvent::LateFeesReceived { channel, amount: claimed }));
        }
        out.push(Effect::Send {
            channel,
            msg: Wire::SyncAck(SyncAck::create(channel, msg.seq, cumulative, &self.signer)),
        });
        for (id, amount) in credits {
            let Some(e) = self.entries.get_mut(&id) else { continue };
            let Some(d) = e.down.as_mut() else { continue };
            let inc = amount - d.received;
            d.received = amount;
            if e.origin.is_some() {
                out.push(Effect::Deliver(Delivery::LatePayment { request_id: id, amount: inc, total: amount }));
            }
            self.try_finish(id, now);
        }
        for n in msg.notices {
            self.on_notice(channel, n, now, out);
        }
    }

    fn on_deadline(&mut self, id: RequestId, now: u64, out: &mut Vec<Effect>) {
        let slack = self.slack(&id);
        let Some(e) = self.entries.get_mut(&id) else { return };
        let has_up = e.up.is_some();
        let Some(d) = e.down.as_mut().filter(|d| d.open() && now >= d.deadline_ms) else { return };
        let (channel, deadline, first) = (d.channel, d.deadline_ms, !d.overdue);
        d.overdue = true;
        if self.channels.get(&channel).is_none_or(|c| c.closed) {
            return;
        }
        if first {
            out.push(Effect::Event(EngineEvent::DeadlinePassed { request_id: id, channel }));
            if self.config.faults.false_notices && has_up {
                // Fault injection: claim the downstream edge is cut, without cutting it.
                let tx = Hash32(sha256(&[b"false-notice".as_slice(), &id.0].concat()).0);
                let notice = SeveranceNotice::create(id, channel, tx, &self.signer);
                if let Some(d) = self.entries.get_mut(&id).and_then(|e| e.down.as_mut()) {
                    d.ended = Some((now, DownEnd::Notice));
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
        }
    }

    /// The policy's slack for a request: `hop_slack_ms` per hop below our
    /// downstream edge.
    fn slack(&self, id: &RequestId) -> u64 {
        let hops = self.entries.get(id).map_or(0, |e| e.route_down.len().saturating_sub(1)) as u64;
        hops.saturating_mul(self.config.policy.hop_slack_ms)
    }

    fn on_confirm_timer(&mut self, id: RequestId, now: u64, out: &mut Vec<Effect>) {
        let Some(e) = self.entries.get(&id) else { return };
        if e.confirm.as_ref().is_none_or(|c| now < c.until_ms) {
            return;
        }
        if let Some(channel) = e.down.as_ref().map(|d| d.channel) {
            self.sever(channel, SeverReason::FalseNotice, out);
        }
    }
}
