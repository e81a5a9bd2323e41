//! One channel as the engine tracks it: the ledger of both directions, the
//! sync state, and its books of the requests in flight over it either way.
//! The engine puts a request on them with `ChannelState::book_up` (it came
//! in over the channel: we owe on it) or `ChannelState::book_down` (we sent
//! it over the channel: we are owed on it), and takes it off with
//! `ChannelMap::unbook` when it ends, nowhere else. A request whose up leg
//! went with its channel (`NodeEngine::channel_removed`) stays on that
//! channel's books.
use serde::{Deserialize, Serialize};

use crate::bytes::{NodeKey, RequestId};
use crate::ledger::ChannelLedger;
use crate::message::SeveranceNotice;
use crate::protocol::inflight::{Entry, Hold};
use crate::voucher::{Amount, ChannelId};

/// What the driver tells the engine about a channel it opens (from the
/// chain's record of the edge and the local settings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelSetup {
    /// The channel.
    pub channel: ChannelId,
    /// The peer's node key.
    pub remote: NodeKey,
    /// Our deposit.
    #[serde(with = "crate::bytes::amount_serde")]
    pub local_deposit: Amount,
    /// The peer's deposit.
    #[serde(with = "crate::bytes::amount_serde")]
    pub remote_deposit: Amount,
    /// The edge's promised one-way latency.
    pub latency_ms: u64,
    /// Sync interval on this channel; `None` takes the config's default.
    pub sync_ms: Option<u64>,
}

/// The engine's state of one channel.
#[derive(Debug, Clone)]
pub struct ChannelState {
    /// Both directions' best vouchers.
    pub ledger: ChannelLedger,
    /// Promised one-way latency.
    pub latency_ms: u64,
    /// Sync interval.
    pub sync_ms: u64,
    /// Sequence number of the last sync sent.
    pub seq: u64,
    /// When the sync `seq` was sent.
    pub seq_sent_ms: u64,
    /// Last time anything arrived from the peer.
    pub last_heard_ms: u64,
    /// The last silence of the peer longer than the late-fee grace (it was
    /// down or cut off): when it began and when the peer was heard again.
    /// `(0, 0)` before any.
    pub silence: (u64, u64),
    /// Last time we sent the peer anything.
    pub last_sent_ms: u64,
    /// When the armed sync timer fires, if one is armed.
    pub next_sync_ms: Option<u64>,
    /// Requests that came in over this channel (we owe on them).
    pub up_ids: IdSet,
    /// Requests we sent over this channel (we are owed on them).
    pub down_ids: IdSet,
    /// Notices to repeat in every sync until the peer acknowledges one that
    /// carried them (they also went out at once).
    pub notices_out: Vec<SeveranceNotice>,
    /// For each of `notices_out`: the sequence number of the last sync that
    /// carried it (0: none yet) and how many syncs did.
    pub notice_sends: Vec<(u64, u32)>,
    /// Highest sync sequence number the peer acknowledged.
    pub acked_seq: u64,
    /// Sequence number of the last sync that carried late-fee claims not
    /// confirmed yet (0: none pending).
    pub claims_seq: u64,
    /// The cumulative amount we had paid when we sent sync `claims_seq`: an
    /// ack for it that holds less did not get the voucher that paid the
    /// claims.
    pub claims_cum: Amount,
    /// Money received from the peer on this channel that no request or
    /// late-fee claim has used yet: a voucher that was lost is covered by
    /// the next (cumulative) one, and the request or sync it paid for, sent
    /// again with its old voucher, is paid from here.
    pub credit: Amount,
    /// The same credit as the payer sees it: what the peer holds of ours
    /// that no request or claim has used, because it refused the requests
    /// those vouchers paid for (DESIGN §2.10). Our next request over the
    /// channel spends it before it pays anything new, so a first hop that
    /// refuses gains nothing.
    pub credit_out: Amount,
    /// What the requests in flight that came in over this channel hold of
    /// its caps ([`crate::protocol::Limits`]).
    pub held: Hold,
    /// The same for the requests we sent over it and that are still open:
    /// we hold ourselves to our own caps towards the peer.
    pub out_held: Hold,
    /// The peer's last sync said it is stopping: it takes no new requests.
    pub peer_draining: bool,
    /// Our syncs have told the peer that we are stopping.
    pub told_draining: bool,
    /// No more messages go out on it: we cut it, or it left the graph.
    pub closed: bool,
    /// Its removal from the graph was handled (notices sent upstream).
    pub removed: bool,
}

impl ChannelState {
    /// A fresh channel.
    pub fn new(setup: &ChannelSetup, contract: &str, local: NodeKey, default_sync_ms: u64, now: u64) -> Self {
        ChannelState {
            ledger: ChannelLedger::new(
                contract.to_string(),
                setup.channel,
                local,
                setup.remote,
                setup.local_deposit,
                setup.remote_deposit,
            ),
            latency_ms: setup.latency_ms,
            sync_ms: setup.sync_ms.unwrap_or(default_sync_ms).max(1),
            seq: 0,
            seq_sent_ms: 0,
            last_heard_ms: now,
            silence: (0, 0),
            last_sent_ms: 0,
            next_sync_ms: None,
            up_ids: IdSet::default(),
            down_ids: IdSet::default(),
            notices_out: Vec::new(),
            notice_sends: Vec::new(),
            acked_seq: 0,
            claims_seq: 0,
            claims_cum: 0,
            credit: 0,
            credit_out: 0,
            held: Hold::default(),
            out_held: Hold::default(),
            peer_draining: false,
            told_draining: false,
            closed: false,
            removed: false,
        }
    }

    /// How long the peer may send nothing before it counts as silent: a
    /// sync interval and the edge's latency (a missed sync).
    #[inline]
    pub fn silence_ms(&self) -> u64 {
        self.sync_ms.saturating_add(self.latency_ms)
    }

    /// Something arrived from the peer at `now`; a silence before it is
    /// remembered.
    #[inline]
    pub(crate) fn heard(&mut self, now: u64) {
        if now.saturating_sub(self.last_heard_ms) > self.silence_ms() {
            self.silence = (self.last_heard_ms, now);
        }
        self.last_heard_ms = self.last_heard_ms.max(now);
    }

    /// The time at which the late fees the peer owes us are checked
    /// (DESIGN §2.11): `now`; while it has been silent (missed a sync) but
    /// not longer than `offline_ms`, the last time it was heard (a node that
    /// is down cannot pay; the late fee accrues); and for `grace_ms` after it
    /// comes back, the start of that silence, so that its first syncs can
    /// pay what accrued.
    #[inline]
    pub fn pay_check_ms(&self, now: u64, grace_ms: u64, offline_ms: u64) -> u64 {
        let silent = now.saturating_sub(self.last_heard_ms);
        if silent > self.silence_ms() {
            return if silent <= offline_ms { self.last_heard_ms } else { now };
        }
        let (from, back) = self.silence;
        if back > 0 && now < back.saturating_add(grace_ms) { from.min(now) } else { now }
    }

    /// Anything in flight or pending on the channel.
    #[inline]
    pub fn active(&self) -> bool {
        !self.up_ids.is_empty() || !self.down_ids.is_empty() || !self.notices_out.is_empty()
    }

    /// Puts a request that came in over the channel on its books: we owe on
    /// it until it ends ([`ChannelMap::unbook`]).
    #[inline]
    pub(crate) fn book_up(&mut self, id: RequestId) {
        self.up_ids.insert(id);
    }

    /// Puts a request we sent over the channel on its books: we are owed on
    /// it until it ends ([`ChannelMap::unbook`]). A peer we had nothing in
    /// flight with is watched for liveness from `now` on, not from the last
    /// message it sent before.
    #[inline]
    pub(crate) fn book_down(&mut self, id: RequestId, now: u64) {
        if self.down_ids.is_empty() {
            self.last_heard_ms = self.last_heard_ms.max(now);
        }
        self.down_ids.insert(id);
    }
}

/// The engine's channels by id: a sorted list of ids beside their states.
///
/// Replaces a `BTreeMap<ChannelId, ChannelState>` for speed only (same
/// lookups, same iteration order): a node has a few channels to a few
/// hundred, so a binary search over a dense array of ids touches one or two
/// cache lines, where the tree's large nodes (states are stored inline)
/// touched several per lookup.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChannelMap {
    ids: Vec<ChannelId>,
    states: Vec<ChannelState>,
}

impl ChannelMap {
    #[inline]
    fn find(&self, id: &ChannelId) -> Result<usize, usize> {
        self.ids.binary_search(id)
    }

    /// The state of a channel.
    #[inline]
    pub(crate) fn get(&self, id: &ChannelId) -> Option<&ChannelState> {
        self.find(id).ok().map(|i| &self.states[i])
    }

    /// The state of a channel, to change.
    #[inline]
    pub(crate) fn get_mut(&mut self, id: &ChannelId) -> Option<&mut ChannelState> {
        self.find(id).ok().map(|i| &mut self.states[i])
    }

    /// Adds a channel, or replaces the state of one already there.
    pub(crate) fn insert(&mut self, id: ChannelId, state: ChannelState) {
        match self.find(&id) {
            Ok(i) => self.states[i] = state,
            Err(i) => {
                self.ids.insert(i, id);
                self.states.insert(i, state);
            }
        }
    }

    /// All channels in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&ChannelId, &ChannelState)> {
        self.ids.iter().zip(&self.states)
    }

    /// Takes a request that ended off the books of the channels its legs
    /// went over (see [`ChannelState::book_up`], [`ChannelState::book_down`]).
    #[inline]
    pub(crate) fn unbook(&mut self, entry: &Entry) {
        if let Some(d) = &entry.down
            && let Some(ch) = self.get_mut(&d.channel)
        {
            ch.down_ids.remove(&entry.id);
        }
        if let Some(u) = &entry.up
            && let Some(ch) = self.get_mut(&u.channel)
            && ch.up_ids.remove(&entry.id)
        {
            ch.held = ch.held.minus(entry.hold);
        }
    }
}

impl std::ops::Index<&ChannelId> for ChannelMap {
    type Output = ChannelState;

    #[inline]
    fn index(&self, id: &ChannelId) -> &ChannelState {
        self.get(id).expect("no such channel")
    }
}

/// A set of request ids in their order, kept as a sorted array.
///
/// Used in place of a `BTreeSet<RequestId>` for speed only (same contents,
/// same iteration order): a channel carries a few requests to a few hundred
/// at a time, and every request and sync tick inserts, removes or scans
/// them; a dense array does that with fewer cache misses and allocations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdSet(Vec<RequestId>);

impl IdSet {
    /// Adds `id`; false when it was there already.
    #[inline]
    pub fn insert(&mut self, id: RequestId) -> bool {
        match self.0.binary_search(&id) {
            Ok(_) => false,
            Err(i) => {
                self.0.insert(i, id);
                true
            }
        }
    }

    /// Removes `id`; false when it was not there.
    #[inline]
    pub fn remove(&mut self, id: &RequestId) -> bool {
        match self.0.binary_search(id) {
            Ok(i) => {
                self.0.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// Whether `id` is in the set.
    #[inline]
    pub fn contains(&self, id: &RequestId) -> bool {
        self.0.binary_search(id).is_ok()
    }

    /// No id in the set.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of ids.
    #[inline]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The ids in order.
    #[inline]
    pub fn iter(&self) -> std::slice::Iter<'_, RequestId> {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a IdSet {
    type Item = &'a RequestId;
    type IntoIter = std::slice::Iter<'a, RequestId>;

    #[inline]
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn id_set_behaves_like_an_ordered_set() {
        let (mut set, mut model) = (IdSet::default(), BTreeSet::new());
        // A fixed pseudo-random walk of inserts and removes over 64 ids.
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..5_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = RequestId(crate::bytes::sha256(&[(x % 64) as u8]).0);
            if x & (1 << 40) == 0 {
                assert_eq!(set.insert(id), model.insert(id));
            } else {
                assert_eq!(set.remove(&id), model.remove(&id));
            }
            assert_eq!(set.contains(&id), model.contains(&id));
            assert_eq!(set.len(), model.len());
            assert_eq!(set.is_empty(), model.is_empty());
        }
        assert!(set.iter().eq(model.iter()));
        assert!((&set).into_iter().eq(&model));
    }
}
