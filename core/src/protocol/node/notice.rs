//! Severance notices received and passed on (DESIGN §2.7): checking a
//! notice against the request's route, waiting for the chain to confirm it
//! ([`NoticeWatch`], [`Timer::ConfirmNotice`]), cutting the edge a notice
//! came over when it never lands or the chain shows a cooperative close in
//! its place ([`NodeEngine::notice_refuted`]), and passing a notice upstream
//! or to the local requester.
//!
//! Signing our own notices when one of our channels goes is in
//! [`super::sync`] (`channel_removed`); repeating notices in syncs until the
//! peer acknowledges them is kept per channel
//! ([`ChannelState::notices_out`](crate::protocol::ChannelState::notices_out)).

use std::collections::{BTreeMap, BTreeSet};

use crate::bytes::RequestId;
use crate::crypto::{Signer, Verifier};
use crate::message::SeveranceNotice;
use crate::protocol::effect::{Delivery, Effect, Refusal, SeverReason, Timer, Wire};
use crate::protocol::inflight::{Answer, DownEnd, Entry, PendingConfirm};
use crate::voucher::ChannelId;

use super::{NodeEngine, keep_until, refuse};

/// The requests whose notice awaits confirmation on chain, by the channel the
/// notice says was cut: when that channel leaves the graph, their notices
/// are confirmed. An entry's pending notice ([`Entry::confirm`]) and its
/// place here change together, through [`set`](Self::set) and
/// [`clear`](Self::clear).
#[derive(Default)]
pub(super) struct NoticeWatch {
    by_channel: BTreeMap<ChannelId, BTreeSet<RequestId>>,
}

impl NoticeWatch {
    /// `entry` now waits for `pending` to land, in place of any notice it
    /// waited for.
    pub(super) fn set(&mut self, entry: &mut Entry, pending: PendingConfirm) {
        self.clear(entry);
        self.by_channel.entry(pending.severed).or_default().insert(entry.id);
        entry.confirm = Some(pending);
    }

    /// `entry` no longer waits for a notice to land.
    pub(super) fn clear(&mut self, entry: &mut Entry) {
        if let Some(old) = entry.confirm.take()
            && let Some(w) = self.by_channel.get_mut(&old.severed)
        {
            w.remove(&entry.id);
        }
    }

    /// The requests that waited for `channel` to leave the graph, which it
    /// did; no longer watched.
    fn take(&mut self, channel: &ChannelId) -> Option<BTreeSet<RequestId>> {
        self.by_channel.remove(channel)
    }
}

impl<S: Signer, V: Verifier> NodeEngine<S, V> {
    pub(super) fn on_notice(&mut self, channel: ChannelId, notice: SeveranceNotice, now: u64, out: &mut Vec<Effect>) {
        let id = notice.request_id;
        let Some(e) = self.requests.get_mut(&id) else {
            return refuse(out, channel, "notice", Refusal::UnknownRequest);
        };
        // From the neighbour the request went to, a notice that fails a
        // check is that neighbour's lie: an honest one checks a notice from
        // below as we do before passing it on, and names only channels
        // below itself. It proves nothing, and a liar that then goes quiet
        // would otherwise be given the offline grace to pay for its
        // lateness; it is cut at once (DESIGN §2.7). From any other channel
        // (an older route, say) it is only refused.
        let from_down = e.down.as_ref().is_some_and(|d| d.channel == channel);
        let lie = if e.round_trip_to(notice.channel).is_none() {
            Some(Refusal::NoticeOffRoute)
        } else if !e.is_end_below(notice.channel, &notice.severer, &self.key) {
            Some(Refusal::NoticeWrongSeverer)
        } else if !from_down {
            Some(Refusal::UnknownRequest)
        } else {
            None
        };
        if let Some(reason) = lie {
            refuse(out, channel, "notice", reason);
            if from_down && reason != Refusal::UnknownRequest {
                self.sever(channel, SeverReason::FalseNotice, out);
            }
            return;
        }
        let slack = e.round_trip_to(notice.channel).unwrap_or(0);
        let Some(d) = e.down.as_mut().filter(|d| d.channel == channel) else { return };
        let fresh = match d.ended {
            None => true,
            // A corrected notice for one still unconfirmed replaces it.
            Some((_, DownEnd::Notice)) if e.confirm.as_ref().is_some_and(|c| c.severed != notice.channel) => false,
            _ => return,
        };
        if !notice.verify(&self.verifier) {
            refuse(out, channel, "notice", Refusal::BadSignature);
            return self.sever(channel, SeverReason::FalseNotice, out);
        }
        if fresh {
            d.ended = Some((now, DownEnd::Notice));
            d.request = None;
            super::release_out(&mut self.channels, d);
        }
        let until = now.saturating_add(self.config.policy.notice_confirm_ms).saturating_add(slack);
        let by_neighbour = self.channels.get(&channel).is_some_and(|c| c.ledger.remote == notice.severer);
        let pending = PendingConfirm { severed: notice.channel, until_ms: until, by_neighbour, slack_ms: slack };
        self.watch.set(e, pending);
        out.push(Effect::WatchChannel { channel: notice.channel });
        out.push(Effect::SetTimer { at_ms: until, timer: Timer::ConfirmNotice(id) });
        self.pass_notice_up(id, notice, now, out);
    }

    /// Delivers a notice to the local requester or sends it upstream (at
    /// once, and again in the next sync), freezing what we owe there.
    pub(super) fn pass_notice_up(&mut self, id: RequestId, notice: SeveranceNotice, now: u64, out: &mut Vec<Effect>) {
        let Some(e) = self.requests.get_mut(&id) else { return };
        if let Some(o) = e.origin.as_mut() {
            if !o.resolved {
                o.resolved = true;
                out.push(Effect::Deliver(Delivery::Notice { request_id: id, notice }));
            }
            return;
        }
        let Some(up) = e.up.as_mut() else { return };
        let frozen = now.saturating_add(up.latency_ms);
        up.frozen_at = Some(up.frozen_at.map_or(frozen, |f| f.min(frozen)));
        if let Some(c) = self.channels.get_mut(&up.channel).filter(|c| !c.closed) {
            if self.config.resend.max_resends > 0 {
                up.answer = Some(Answer::Notice(Box::new(notice.clone())));
                up.keep_until_ms = keep_until(up, c.sync_ms, &self.config.resend);
            }
            c.notices_out.push(notice.clone());
            c.notice_sends.push((0, 0));
            self.outbox.wire(up.channel, Wire::Notice(notice));
            let ch = up.channel;
            self.answered(&id);
            self.arm_sync(ch, now, out);
        }
    }

    /// `channel` left the graph: the notices that named it are confirmed.
    pub(super) fn notices_landed(&mut self, channel: ChannelId, now: u64) {
        let Some(ids) = self.watch.take(&channel) else { return };
        for id in ids {
            if let Some(e) = self.requests.get_mut(&id)
                && e.confirm.as_ref().is_some_and(|c| c.severed == channel)
            {
                e.confirm = None;
            }
            self.try_finish(id, now);
        }
    }

    /// The chain says `channel` left the graph by a cooperative close, not
    /// a severance: every notice that named it was a lie (DESIGN §2.7). A
    /// notice signed by the neighbour it came from is that neighbour's lie,
    /// and the edge is cut at once. One signed further down was passed on by
    /// the neighbour, who may be honest and about to cut the liar and send
    /// a true notice in its place: its confirmation deadline is brought
    /// forward to the promised round trip to the named channel, and the
    /// confirmation timer cuts only if no correction came by then. The
    /// requests keep their pending notice, so a cut sends a true notice
    /// upstream in its place.
    pub fn notice_refuted(&mut self, channel: ChannelId, now: u64, out: &mut Vec<Effect>) {
        let Some(ids) = self.watch.by_channel.get(&channel) else { return };
        let mut liars = BTreeSet::new();
        for id in ids {
            let Some(e) = self.requests.get_mut(id) else { continue };
            let (Some(d), Some(c)) = (e.down.as_ref(), e.confirm.as_mut()) else { continue };
            if c.by_neighbour {
                liars.insert(d.channel);
            } else {
                let sooner = now.saturating_add(c.slack_ms);
                if sooner < c.until_ms {
                    c.until_ms = sooner;
                    out.push(Effect::SetTimer { at_ms: sooner, timer: Timer::ConfirmNotice(*id) });
                }
            }
        }
        for c in liars {
            self.sever(c, SeverReason::FalseNotice, out);
        }
    }

    pub(super) fn on_confirm_timer(&mut self, id: RequestId, now: u64, out: &mut Vec<Effect>) {
        let Some(e) = self.requests.get(&id) else { return };
        if e.confirm.as_ref().is_none_or(|c| now < c.until_ms) {
            return;
        }
        if let Some(channel) = e.down.as_ref().map(|d| d.channel) {
            self.sever(channel, SeverReason::FalseNotice, out);
        }
    }
}
