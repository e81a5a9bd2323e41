//! One request as one node tracks it: the leg it came in on (where the node
//! owes late fees) and the leg it went out on (where it is owed them).
//!
//! All times are on the node's own monotonic clock (DESIGN §2.1):
//! - the **down** deadline is `sent + b_i` (DESIGN §2.5);
//! - the **up** deadline is the node's estimate of its upstream's deadline,
//!   `received + ℓ + b_i` (the upstream sent about `ℓ` before we received and
//!   gave itself `b_{i-1} = 2ℓ + b_i`); for the server `b_k = service_ms`.
//!
//! Lateness a node *owes* stops counting when its response or notice is
//! expected to reach the upstream, `ℓ` after it sent it; lateness it is
//! *owed* stops when the response or notice reached it. With actual latencies
//! at most the promised ones the payer's count is never below the payee's, so
//! an honest relay that passes late fees on is whole (DESIGN §2.5).
//!
//! For the re-send rule (see [`crate::protocol`]) a leg also keeps what it
//! may have to send again: the paid request on the down leg until the answer
//! comes back, the answer on the up leg for a while after it left.
//!
//! `Requests` is the engine's table of them: every [`Entry`] lives there,
//! and only there, from the moment the node accepts or sends a request until
//! nothing is left to do for it ([`Entry::work_done`]). It does not hold the
//! answers kept after that (the engine's kept answers) nor the per-channel
//! lists of requests ([`ChannelState`](crate::protocol::ChannelState)).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

use crate::bytes::{Hash32, NodeKey, RequestId, amount_serde};
use crate::message::{Response, SeveranceNotice};
use crate::protocol::config::{ProtocolConfig, late_fee};
use crate::protocol::effect::{PaidRequest, RefusedBelow, Wire};
use crate::voucher::{Amount, ChannelId};

/// The leg towards the upstream neighbour (absent at the requester).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpLeg {
    /// The channel the request came in on.
    pub channel: ChannelId,
    /// The promised latency of that channel.
    pub latency_ms: u64,
    /// Our estimate of the upstream's deadline (local clock).
    pub deadline_ms: u64,
    /// Late fees paid upstream for this request so far (cumulative, as
    /// listed in our syncs).
    #[serde(with = "amount_serde")]
    pub paid: Amount,
    /// When the response or notice is expected to reach the upstream; the
    /// lateness we owe stops there.
    pub frozen_at: Option<u64>,
    /// The part of `paid` the upstream confirmed (its sync ack for a sync
    /// that carried it). A claim is repeated in every sync until confirmed.
    #[serde(with = "amount_serde")]
    pub confirmed: Amount,
    /// Sequence number of the last sync that carried this request's claim.
    pub paid_seq: u64,
    /// Syncs that carried this request's claim so far.
    pub claim_sends: u32,
    /// The answer we sent upstream, kept to send again when the upstream
    /// repeats the request (its copy was lost).
    pub answer: Option<Answer>,
    /// Until when the answer is kept: the leg outlives its finished entry
    /// until then, off its channel's books.
    pub keep_until_ms: u64,
    /// Times the answer was sent again.
    pub repeats: u32,
    /// What the upstream paid us for the request (`payments[i-1]`): a
    /// refusal from below gives it back as credit. Absent in entries stored
    /// before it existed, which then give nothing back.
    #[serde(default, with = "amount_serde")]
    pub due: Amount,
}

impl UpLeg {
    /// Late fee owed upstream at `now` under `per_sec` and the cap.
    #[inline]
    pub fn owed(&self, now: u64, per_sec: Amount, max_late_ms: u64) -> Amount {
        let end = self.frozen_at.map_or(now, |f| f.min(now));
        late_fee(per_sec, end.saturating_sub(self.deadline_ms), max_late_ms)
    }

    /// Whether nothing more will ever be owed on this leg and all is paid
    /// and confirmed.
    #[inline]
    pub fn settled(&self, now: u64, per_sec: Amount, max_late_ms: u64) -> bool {
        match self.frozen_at {
            Some(f) if f <= now => self.confirmed >= self.owed(now, per_sec, max_late_ms),
            _ => false,
        }
    }
}

/// What a node sent upstream as the outcome of a request, kept for repeats.
/// Boxed so that a leg without one stays small.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// The server's signed response.
    Response(Box<Response>),
    /// A severance notice.
    Notice(Box<SeveranceNotice>),
    /// A refusal from below.
    Refused(RefusedBelow),
}

impl Answer {
    /// The message that carries it.
    pub fn wire(&self) -> Wire {
        match self {
            Answer::Response(r) => Wire::Response(r.clone()),
            Answer::Notice(n) => Wire::Notice((**n).clone()),
            Answer::Refused(r) => Wire::Refused(r.clone()),
        }
    }
}

/// How a downstream leg ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DownEnd {
    /// The response came back.
    Response,
    /// A notice came back (or we cut the channel ourselves).
    Notice,
    /// The channel is gone; nothing more can come over it.
    ChannelGone,
    /// The downstream refused the request (its transport receipt said so):
    /// it never took it, so it owes nothing for it, however late the
    /// receipt came; what we paid is credit with it.
    Refused,
    /// A refusal came up from below after the downstream took the request:
    /// it owes the lateness up to the refusal's arrival, as for a response;
    /// what we paid is credit with it.
    RefusedBelow,
}

/// The leg towards the downstream neighbour (absent at the server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownLeg {
    /// The channel the request went out on.
    pub channel: ChannelId,
    /// The promised latency of that channel.
    pub latency_ms: u64,
    /// When we sent the request on.
    pub sent_ms: u64,
    /// `sent_ms + b_i`.
    pub deadline_ms: u64,
    /// Digest of the voucher we paid with (the ack must name it).
    pub voucher_digest: Hash32,
    /// The downstream acknowledged.
    pub acked: bool,
    /// The deadline passed (and was reported).
    pub overdue: bool,
    /// Late fees received for this request so far (cumulative).
    #[serde(with = "amount_serde")]
    pub received: Amount,
    /// When and how it ended.
    pub ended: Option<(u64, DownEnd)>,
    /// From when the downstream owes late fees: `deadline_ms`, or later when
    /// we had to send the request again before it was acknowledged (the
    /// downstream then counts its budget from the copy it got).
    pub owed_from_ms: u64,
    /// The paid request as sent, kept until the leg ends to send it again
    /// (unacknowledged, or no answer by the deadline). `None` when re-sending
    /// is off.
    pub request: Option<Box<PaidRequest>>,
    /// Times the request was sent again.
    pub resends: u32,
    /// When the request was last sent.
    pub resent_ms: u64,
    /// What we paid the downstream for it (`payments[i]`); at the
    /// requester, a refusal turns it into credit with the first hop.
    #[serde(with = "amount_serde")]
    pub pays: Amount,
    /// What it counts against our own limits on its channel while open
    /// ([`ChannelState::out_held`](crate::protocol::ChannelState::out_held)).
    pub out: Hold,
}

impl DownLeg {
    /// The late fee the downstream must have paid by `now`, allowing its
    /// payments to lag `grace_ms` behind.
    #[inline]
    pub fn required(&self, now: u64, grace_ms: u64, per_sec: Amount, max_late_ms: u64) -> Amount {
        let mut end = now.saturating_sub(grace_ms);
        if let Some((_, DownEnd::Refused)) = self.ended {
            return 0;
        }
        if let Some((t, _)) = self.ended {
            end = end.min(t);
        }
        late_fee(per_sec, end.saturating_sub(self.owed_from_ms), max_late_ms)
    }

    /// Still waiting for a response or notice.
    #[inline]
    pub fn open(&self) -> bool {
        self.ended.is_none()
    }
}

/// What the requester keeps about a request it originated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// `sent + b0`.
    pub bound_at_ms: u64,
    /// A terminal outcome (response or notice) was delivered.
    pub resolved: bool,
}

/// A notice received for this request that the chain has not confirmed yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingConfirm {
    /// The channel the notice says was cut.
    pub severed: ChannelId,
    /// Deadline for the confirmation.
    pub until_ms: u64,
    /// The notice was signed by the neighbour it came from (so, if false,
    /// that neighbour lied; otherwise someone below it did, and the
    /// neighbour may still correct it).
    pub by_neighbour: bool,
    /// The promised round trip to the severed channel: how long a
    /// correction from below may take.
    pub slack_ms: u64,
}

/// One request in flight at one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The request.
    pub id: RequestId,
    /// The server that must sign the response.
    pub server: NodeKey,
    /// The response allowance.
    pub max_response_bytes: u64,
    /// Channels of the route from our downstream edge on, with their promised
    /// latencies and their lower ends (a notice must name one of them, and
    /// be signed by one of its ends: the lower end, or the one above it,
    /// which is the previous item's node or, for the first, this node).
    pub route_down: Vec<(ChannelId, u64, NodeKey)>,
    /// The leg we owe on.
    pub up: Option<UpLeg>,
    /// The leg we are owed on.
    pub down: Option<DownLeg>,
    /// Present when we are the requester.
    pub origin: Option<Origin>,
    /// A notice awaiting confirmation on chain.
    pub confirm: Option<PendingConfirm>,
    /// At the server: the response was sent.
    pub served: bool,
    /// What the request holds of its upstream channel's caps while in
    /// flight ([`crate::protocol::Limits`]).
    pub hold: Hold,
}

/// What one request counts against the caps of the channel it came in
/// over: all of it while in flight; once answered upstream only the bytes
/// of the answer it keeps; nothing once the entry goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// 1 while the request is in flight (not answered upstream yet), then 0.
    pub requests: usize,
    /// What this node paid onwards for it.
    #[serde(with = "amount_serde")]
    pub value: Amount,
    /// Its body plus its response allowance.
    pub bytes: u64,
    /// The most late fee it can cost this node.
    #[serde(with = "amount_serde")]
    pub liability: Amount,
}

impl Hold {
    /// `self + other`, saturating.
    pub fn plus(self, o: Hold) -> Hold {
        Hold {
            requests: self.requests.saturating_add(o.requests),
            value: self.value.saturating_add(o.value),
            bytes: self.bytes.saturating_add(o.bytes),
            liability: self.liability.saturating_add(o.liability),
        }
    }

    /// `self - other`, saturating.
    pub fn minus(self, o: Hold) -> Hold {
        Hold {
            requests: self.requests.saturating_sub(o.requests),
            value: self.value.saturating_sub(o.value),
            bytes: self.bytes.saturating_sub(o.bytes),
            liability: self.liability.saturating_sub(o.liability),
        }
    }
}

impl Entry {
    /// Twice the promised latency from us to `channel` along the route,
    /// `channel` included; `None` when the channel is not downstream on it.
    /// A notice about it may take that long to be corrected from where it
    /// came, which is the slack the confirmation check allows.
    pub fn round_trip_to(&self, channel: ChannelId) -> Option<u64> {
        let mut sum = 0u64;
        for (c, l, _) in &self.route_down {
            sum = sum.saturating_add(*l);
            if *c == channel {
                return Some(sum.saturating_mul(2));
            }
        }
        None
    }

    /// Whether `node` is an end of `channel` on the route below us (`me`):
    /// only an end can sever a channel, so only an end can sign its notice.
    pub fn is_end_below(&self, channel: ChannelId, node: &NodeKey, me: &NodeKey) -> bool {
        let mut upper = me;
        for (c, _, lower) in &self.route_down {
            if *c == channel {
                return node == upper || node == lower;
            }
            upper = lower;
        }
        false
    }

    /// Nothing left to do for this request: the entry can go.
    pub fn finished(&self, now: u64, per_sec: Amount, max_late_ms: u64, grace_ms: u64) -> bool {
        self.work_done(now, per_sec, max_late_ms, grace_ms) && self.up.as_ref().is_none_or(|u| now >= u.keep_until_ms)
    }

    /// Nothing left to do but, perhaps, keep the answer to repeat it.
    #[inline]
    pub fn work_done(&self, now: u64, per_sec: Amount, max_late_ms: u64, grace_ms: u64) -> bool {
        if self.confirm.is_some() {
            return false;
        }
        let up_done = self.up.as_ref().is_none_or(|u| u.settled(now, per_sec, max_late_ms));
        let down_done = self.down.as_ref().is_none_or(|d| match d.ended {
            None => false,
            Some((_, DownEnd::ChannelGone | DownEnd::Refused)) => true,
            Some((t, _)) => {
                // Answered before anyone downstream could owe a late fee: the
                // downstream counts from its own upstream deadline, up to one
                // promised edge latency before ours (DESIGN §2.5), and from
                // the first copy it got (a copy we re-sent moves only our
                // `owed_from_ms`). Otherwise its last payment, which settles
                // the lateness up to the end, comes at a later sync and must
                // still find the request: wait out the grace.
                let first_owed = d.deadline_ms.min(d.owed_from_ms).saturating_sub(d.latency_ms);
                (t <= first_owed && d.received == 0) || now >= t.saturating_add(grace_ms)
            }
        });
        let server_done = self.down.is_some() || self.served || self.up.is_none();
        up_done && down_done && server_done
    }
}

/// The requests one node tracks, by id (see the module docs).
///
/// Entries are stored in the table, not boxed: a lookup then reads one place
/// fewer, and an entry costs no allocation of its own (the table moves them
/// only when it grows). Never iterated, so its order never reaches an output.
#[derive(Default)]
pub(crate) struct Requests {
    entries: HashMap<RequestId, Entry, BuildHasherDefault<IdHasher>>,
    /// Whether changes are recorded in `changed` (a node with a store).
    tracking: bool,
    /// Ids whose entry was added, changed or removed since the driver last
    /// took them ([`Requests::take_changed`]), in no particular order.
    changed: std::collections::HashSet<RequestId, BuildHasherDefault<IdHasher>>,
}

impl Requests {
    /// Number of requests tracked.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether `id` is tracked.
    #[inline]
    pub(crate) fn contains(&self, id: &RequestId) -> bool {
        self.entries.contains_key(id)
    }

    /// One tracked request.
    #[inline]
    pub(crate) fn get(&self, id: &RequestId) -> Option<&Entry> {
        self.entries.get(id)
    }

    /// One tracked request, to change (recorded as changed).
    #[inline]
    pub(crate) fn get_mut(&mut self, id: &RequestId) -> Option<&mut Entry> {
        let e = self.entries.get_mut(id)?;
        if self.tracking {
            self.changed.insert(*id);
        }
        Some(e)
    }

    /// Starts tracking `entry` under its id (replacing any entry there).
    #[inline]
    pub(crate) fn insert(&mut self, entry: Entry) {
        if self.tracking {
            self.changed.insert(entry.id);
        }
        self.entries.insert(entry.id, entry);
    }

    /// Records changes from now on, for [`Requests::take_changed`].
    pub(crate) fn track_changes(&mut self) {
        self.tracking = true;
    }

    /// The requests added, changed or removed since the last call: each id
    /// with its entry as it is now, or `None` once it is gone.
    pub(crate) fn take_changed(&mut self) -> Vec<(RequestId, Option<Entry>)> {
        if self.changed.is_empty() {
            return Vec::new();
        }
        let ids: Vec<RequestId> = self.changed.drain().collect();
        ids.into_iter().map(|id| (id, self.entries.get(&id).cloned())).collect()
    }

    /// Stops tracking `id` if nothing is left to do for it
    /// ([`Entry::work_done`] under `config`'s late-fee terms) and returns the
    /// entry, for the caller to take it off its channels' books and keep its
    /// answer.
    #[inline]
    pub(crate) fn finish(&mut self, id: &RequestId, now: u64, config: &ProtocolConfig) -> Option<Entry> {
        let e = self.entries.get(id)?;
        if !e.work_done(now, config.late_fee_per_sec, config.max_late_ms, config.policy.late_fee_grace_ms) {
            return None;
        }
        if self.tracking {
            self.changed.insert(*id);
        }
        self.entries.remove(id)
    }
}

/// Hashes a request id by its first eight bytes. Ids are SHA-256 digests of
/// requests their requester signed, so they are already uniform, and an
/// entry exists only for a request someone paid for: grinding ids to collide
/// costs a payment per entry. Deterministic, so the engine draws no
/// randomness.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        if bytes.len() >= 8 {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[..8]);
            self.0 ^= u64::from_le_bytes(b);
        }
    }

    #[inline]
    fn write_usize(&mut self, _: usize) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(deadline: u64) -> UpLeg {
        UpLeg {
            channel: ChannelId(1),
            latency_ms: 100,
            deadline_ms: deadline,
            paid: 0,
            frozen_at: None,
            confirmed: 0,
            paid_seq: 0,
            claim_sends: 0,
            answer: None,
            keep_until_ms: 0,
            repeats: 0,
            due: 0,
        }
    }

    #[test]
    fn owed_grows_then_freezes() {
        let mut u = up(900);
        assert_eq!(u.owed(800, 1000, 10_000), 0);
        assert_eq!(u.owed(1500, 1000, 10_000), 600);
        u.frozen_at = Some(1700);
        assert_eq!(u.owed(1600, 1000, 10_000), 700, "not frozen yet at 1600");
        assert_eq!(u.owed(5000, 1000, 10_000), 800);
        assert!(!u.settled(5000, 1000, 10_000));
        u.paid = 800;
        assert!(!u.settled(5000, 1000, 10_000), "paid but not confirmed by the upstream yet");
        u.confirmed = 800;
        assert!(u.settled(5000, 1000, 10_000));
    }

    /// A leg sent at 300 over a 100 ms edge, due at 700.
    fn down() -> DownLeg {
        DownLeg {
            channel: ChannelId(2),
            latency_ms: 100,
            sent_ms: 300,
            deadline_ms: 700,
            voucher_digest: Hash32([0; 32]),
            acked: true,
            overdue: false,
            received: 0,
            ended: None,
            owed_from_ms: 700,
            request: None,
            resends: 0,
            resent_ms: 300,
            pays: 0,
            out: Hold::default(),
        }
    }

    #[test]
    fn required_lags_by_grace_and_stops_at_the_end() {
        let mut d = down();
        assert_eq!(d.required(1000, 500, 1000, 10_000), 0);
        assert_eq!(d.required(2000, 500, 1000, 10_000), 800);
        d.ended = Some((1600, DownEnd::Notice));
        assert_eq!(d.required(9000, 500, 1000, 10_000), 900);
        d.owed_from_ms = 1000;
        assert_eq!(d.required(9000, 500, 1000, 10_000), 600, "a copy sent unacknowledged moves the start");
    }

    #[test]
    fn a_kept_answer_outlives_every_copy_the_upstream_may_still_send() {
        use crate::protocol::config::Resend;
        let resend = Resend::default();
        let mut u = up(900);
        u.frozen_at = Some(950);
        // First ask at 900 + 2 × 100; then up to four copies, each a round
        // trip (2 × 100 + 50) and a sync tick (500) apart. Kept for one round
        // until the upstream asks again, then for every copy it may send.
        let round = 500 + 250;
        assert_eq!(crate::protocol::node::keep_until(&u, 500, &resend), 1100 + round, "not asked again yet");
        u.repeats = 1;
        assert_eq!(crate::protocol::node::keep_until(&u, 500, &resend), 1100 + 3 * round, "three copies left");
        u.repeats = 3;
        assert_eq!(crate::protocol::node::keep_until(&u, 500, &resend), 1100 + round, "one copy left");
        u.repeats = 9;
        assert_eq!(crate::protocol::node::keep_until(&u, 500, &resend), 1100 + round, "never less than one");
        let off = Resend { max_resends: 0, ..Resend::default() };
        assert_eq!(crate::protocol::node::keep_until(&u, 500, &off), 0);
    }

    #[test]
    fn a_late_leg_is_kept_for_the_grace_after_its_end() {
        // Re-sent after the deadline: our count starts later, the
        // downstream's does not.
        let late = DownLeg {
            overdue: true,
            received: 900,
            ended: Some((1600, DownEnd::Notice)),
            owed_from_ms: 1000,
            resends: 1,
            resent_ms: 800,
            ..down()
        };
        let mut e = Entry {
            id: RequestId([1; 32]),
            server: NodeKey([0; 32]),
            max_response_bytes: 0,
            route_down: vec![(ChannelId(2), 100, NodeKey([2; 32]))],
            up: None,
            down: Some(late),
            origin: Some(Origin { bound_at_ms: 700, resolved: true }),
            confirm: None,
            served: false,
            hold: Hold::default(),
        };
        let (rate, cap, grace) = (1000, 10_000, 1500);
        // 900 is more than our own count (600, from 1000 to 1600), yet the
        // downstream's settling payment may still come: kept.
        assert!(!e.work_done(1700, rate, cap, grace));
        assert!(!e.work_done(1600 + grace - 1, rate, cap, grace));
        assert!(e.work_done(1600 + grace, rate, cap, grace), "the grace ends the wait");
        // Answered more than one edge latency before the deadline, nothing
        // paid: nobody can owe anything, done at once.
        let d = e.down.as_mut().unwrap();
        (d.received, d.overdue, d.owed_from_ms, d.ended) = (0, false, 700, Some((550, DownEnd::Response)));
        assert!(e.work_done(560, rate, cap, grace));
        // Answered inside the last edge latency: the downstream may owe a
        // little from its earlier deadline; kept for the grace.
        e.down.as_mut().unwrap().ended = Some((650, DownEnd::Response));
        assert!(!e.work_done(660, rate, cap, grace));
    }
}
