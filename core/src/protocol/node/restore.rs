//! Restarting a node (DESIGN §2.11): channels come back with the vouchers
//! it kept on disk, and the requests it had in flight with what it owed and
//! was owed on them.
//!
//! A node with a store ([`ProtocolConfig::emit_persists`]) records every
//! request whose entry changed; the driver takes them after each input
//! ([`NodeEngine::take_changed_requests`]) and writes them in the same group
//! commit as the vouchers, so an ack never leaves before the obligation it
//! creates is on disk. On start it hands them back
//! ([`NodeEngine::restore_request`]) after the channels. Times in an entry
//! are on the node's clock, which must therefore run on across restarts
//! (the node's runtime counts milliseconds since the Unix epoch).
//!
//! Not restored: answers kept only to repeat them after their request
//! ended (a re-ask of such a request after a restart is taken as new), and
//! the requester's callers (the outcome of a request the node originated
//! still ends its entry and its payments, but nobody waits for it).
//!
//! [`ProtocolConfig::emit_persists`]: crate::protocol::ProtocolConfig::emit_persists

use crate::bytes::RequestId;
use crate::crypto::{Signer, Verifier};
use crate::ledger::LedgerError;
use crate::protocol::channel::ChannelSetup;
use crate::protocol::effect::{Effect, Timer};
use crate::protocol::inflight::Entry;
use crate::voucher::{Amount, ChannelId, SignedVoucher};

use super::NodeEngine;

impl<S: Signer, V: Verifier> NodeEngine<S, V> {
    /// Opens a channel again after a restart, with the last voucher this node
    /// signed on it (so it never signs a lower amount) and the best one it
    /// received (what it can claim on chain). Requests that were in flight
    /// before the restart are not restored: their upstream sees the node as
    /// silent and its failure policy applies.
    pub fn restore_channel(
        &mut self,
        setup: ChannelSetup,
        sent: Option<SignedVoucher>,
        received: Option<SignedVoucher>,
        now: u64,
        out: &mut Vec<Effect>,
    ) -> Result<(), LedgerError> {
        let channel = setup.channel;
        self.open_channel(setup, now, out);
        let st = self.channels.get_mut(&channel).expect("just opened");
        // We were away: what the peer sent meanwhile is lost, so for the
        // late-fee grace its payments are not checked (its next syncs repeat
        // them), as for a peer that comes back.
        st.silence = (0, now);
        st.ledger.restore(sent, received)
    }

    /// The channels whose credit changed since the last call, with their
    /// credit now: what the peer paid that no request used yet, and what we
    /// paid it the same way (refused requests, DESIGN §2.10). Empty unless
    /// the engine persists. The driver writes them with the vouchers.
    pub fn take_changed_credits(&mut self) -> Vec<(ChannelId, Amount, Amount)> {
        if !self.config.emit_persists {
            self.credits_changed.clear();
            return Vec::new();
        }
        let changed = std::mem::take(&mut self.credits_changed);
        changed.into_iter().filter_map(|c| self.channels.get(&c).map(|ch| (c, ch.credit, ch.credit_out))).collect()
    }

    /// Gives a restored channel back the credit it had
    /// ([`NodeEngine::take_changed_credits`]).
    pub fn restore_credit(&mut self, channel: ChannelId, credit: Amount, credit_out: Amount) {
        if let Some(ch) = self.channels.get_mut(&channel) {
            ch.credit = credit;
            ch.credit_out = credit_out;
        }
    }

    /// The driver holds back the response of `id` on `channel` (it waits
    /// for its ack's commit): it has not left, so the lateness this node
    /// owes upstream goes on counting until [`NodeEngine::answer_left`].
    pub fn answer_held(&mut self, id: RequestId, channel: ChannelId) {
        if let Some(u) = self.requests.get_mut(&id).and_then(|e| e.up.as_mut()).filter(|u| u.channel == channel) {
            u.frozen_at = None;
        }
    }

    /// The held response of `id` left at `now`: the lateness owed stops when
    /// it reaches the upstream, one promised latency later.
    pub fn answer_left(&mut self, id: RequestId, channel: ChannelId, now: u64) {
        if let Some(u) = self.requests.get_mut(&id).and_then(|e| e.up.as_mut()).filter(|u| u.channel == channel) {
            let arrive = now.saturating_add(u.latency_ms);
            u.frozen_at = Some(u.frozen_at.map_or(arrive, |f| f.max(arrive)));
        }
    }

    /// The requests added, changed or ended since the last call, each with
    /// its entry as it is now (`None`: ended, forget it). Empty unless the
    /// engine persists ([`ProtocolConfig::emit_persists`]).
    ///
    /// [`ProtocolConfig::emit_persists`]: crate::protocol::ProtocolConfig::emit_persists
    pub fn take_changed_requests(&mut self) -> Vec<(RequestId, Option<Entry>)> {
        self.requests.take_changed()
    }

    /// Brings back a request that was in flight before a restart, after its
    /// channels ([`NodeEngine::restore_channel`]): it goes back on its
    /// channels' books and caps, its deadline and notice timers are set
    /// again, and the channels sync, so the late fees that accrued while the
    /// node was down are paid at the first sync. An open request downstream
    /// gets its re-send budget back (an answer that came while the node was
    /// down is lost; the next hop repeats it when asked). A leg over a channel this
    /// node no longer has is dropped. Returns whether it was restored.
    pub fn restore_request(&mut self, mut entry: Entry, now: u64, out: &mut Vec<Effect>) -> bool {
        let id = entry.id;
        if self.requests.contains(&id) {
            return false;
        }
        let known = |c| self.channels.get(&c).is_some_and(|s| !s.closed);
        if entry.up.as_ref().is_some_and(|u| !known(u.channel)) {
            entry.up = None;
        }
        if entry.down.as_ref().is_some_and(|d| !known(d.channel)) {
            entry.down = None;
        }
        if entry.up.is_none() && entry.down.is_none() && entry.origin.is_none() {
            return false;
        }
        let mut sync = Vec::new();
        if let Some(u) = &entry.up {
            let ch = self.channels.get_mut(&u.channel).expect("checked above");
            ch.book_up(id);
            ch.held = ch.held.plus(entry.hold);
            sync.push(u.channel);
        }
        if let Some(d) = entry.down.as_mut() {
            // What came back while the node was down is lost: it may ask
            // again, as many times as for a fresh request.
            d.resends = 0;
            let ch = self.channels.get_mut(&d.channel).expect("checked above");
            ch.book_down(id, now);
            if d.open() {
                ch.out_held = ch.out_held.plus(d.out);
            }
            sync.push(d.channel);
        }
        if let Some(pending) = entry.confirm.take() {
            out.push(Effect::WatchChannel { channel: pending.severed });
            out.push(Effect::SetTimer { at_ms: pending.until_ms.max(now), timer: Timer::ConfirmNotice(id) });
            self.watch.set(&mut entry, pending);
        }
        let down = entry.down.as_ref().filter(|d| d.open()).map(|d| (d.deadline_ms, d.overdue));
        self.requests.insert(entry);
        if let Some((deadline, overdue)) = down {
            // Before its deadline: the deadline; after it, the policy's
            // check point (the deadline timer's second firing).
            let at = if overdue {
                let cap = self.config.max_late_ms;
                let limit = self.config.policy.sever_overdue_after_ms.unwrap_or(cap).min(cap);
                deadline.saturating_add(limit).saturating_add(self.slack(&id))
            } else {
                deadline
            };
            out.push(Effect::SetTimer { at_ms: at.max(now), timer: Timer::Deadline(id) });
        }
        for channel in sync {
            self.arm_sync(channel, now, out);
        }
        true
    }
}
