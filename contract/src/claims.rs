//! Reimbursement claims: made by every severance, paid when their debtor is
//! partitioned, dropped when they lapse.
//!
//! A claim is stored under its debtor and its position in the debtor's
//! [`ClaimQueue`](crate::nodes::ClaimQueue) of owed claims (`claims`), and the creditor's queue of held
//! claims points at it (`held`). Queues are in creation order. Work per call
//! is bounded whatever the number of claims a node has:
//! - making a claim writes one entry per queue and prunes at most
//!   [`PRUNE_STEPS`] positions from the front of each queue it touches
//!   (lapsed claims and holes left by paid ones);
//! - `leave` needs only the queue's counters (open claims, latest expiry);
//! - a settlement walks a partitioned node's queue with a cursor, a bounded
//!   number of reads per call (see [`crate::partition`]);
//! - views list at most [`MAX_CLAIMS_VIEW`] claims per role.
//!
//! A claim carries its own expiry (`expires_ms`, fixed when it is made), so
//! a later change of `claim_ttl_ms` does not touch it. When the TTL was
//! shortened, a queue is no longer ordered by expiry; pruning from the front
//! then stops at the first unexpired claim and the later expired ones wait
//! (they are ignored by settlements and views, and pruned later).

use near_sdk::json_types::U128;
use near_sdk::near;

use crate::Contract;
use crate::events::Event;

/// Most queue positions one call prunes per queue it touches.
pub const PRUNE_STEPS: u32 = 8;

/// Most claims one view lists per role (owed, held).
pub const MAX_CLAIMS_VIEW: u32 = 200;

/// Where a claim is stored: its debtor (or, in the held index, its
/// creditor) and the position in that node's queue.
#[near(serializers = [borsh])]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClaimKey {
    /// The node whose queue it is in.
    pub node: u32,
    /// The position in that queue.
    pub pos: u32,
}

/// A reimbursement claim: `creditor` paid `amount` of penalty when the
/// channel between it and `debtor` was severed.
#[near(serializers = [borsh])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Its id (events and views name claims by it).
    pub id: u64,
    /// Who is owed.
    pub creditor: u32,
    /// Who owes, if it ends up on a partitioned side.
    pub debtor: u32,
    /// The half-penalty the creditor paid.
    pub amount: u128,
    /// The severed channel.
    pub channel: u64,
    /// When it was made.
    pub created_ms: u64,
    /// When it lapses: `created_ms + claim_ttl_ms` of the config in force
    /// when it was made.
    pub expires_ms: u64,
    /// Its position in the creditor's held queue.
    pub held_pos: u32,
}

impl Claim {
    /// True when it has lapsed at `now_ms`.
    pub fn lapsed(&self, now_ms: u64) -> bool {
        now_ms >= self.expires_ms
    }
}

impl Contract {
    /// Records a claim of `creditor` against `debtor` (nothing for 0), then
    /// prunes the two queues it went into.
    pub(crate) fn add_claim(&mut self, creditor: u32, debtor: u32, amount: u128, channel: u64, now_ms: u64) {
        if amount == 0 {
            return;
        }
        let id = self.next_claim;
        self.next_claim += 1;
        let expires_ms = now_ms.saturating_add(self.config.claim_ttl_ms);
        let d = self.rec_mut(debtor);
        let pos = d.owed.tail;
        d.owed.tail += 1;
        d.owed.live += 1;
        d.owed.until_ms = d.owed.until_ms.max(expires_ms);
        let c = self.rec_mut(creditor);
        let held_pos = c.held.tail;
        c.held.tail += 1;
        c.held.live += 1;
        c.held.until_ms = c.held.until_ms.max(expires_ms);
        let key = ClaimKey { node: debtor, pos };
        self.claims
            .insert(key, Claim { id, creditor, debtor, amount, channel, created_ms: now_ms, expires_ms, held_pos });
        self.held.insert(ClaimKey { node: creditor, pos: held_pos }, key);
        let (ca, da) = (self.rec(creditor).account_id.clone(), self.rec(debtor).account_id.clone());
        Event::ClaimCreated {
            claim_id: id,
            creditor: ca,
            debtor: da,
            amount: U128(amount),
            channel_id: channel,
            expires_ms,
        }
        .emit();
        let mut lapsed = Vec::new();
        self.prune_owed(debtor, now_ms, &mut lapsed);
        self.prune_held(creditor, now_ms, &mut lapsed);
        emit_lapsed(lapsed);
    }

    /// Removes the claim at `key` (paid or lapsed) and its held entry;
    /// returns it. Keeps the debtor's and creditor's counters.
    pub(crate) fn remove_claim(&mut self, key: ClaimKey) -> Option<Claim> {
        let c = self.claims.remove(&key)?;
        self.held.remove(&ClaimKey { node: c.creditor, pos: c.held_pos });
        self.rec_mut(c.debtor).owed.live -= 1;
        self.rec_mut(c.creditor).held.live -= 1;
        Some(c)
    }

    /// Pops up to [`PRUNE_STEPS`] lapsed claims or holes from the front of
    /// `n`'s owed queue.
    fn prune_owed(&mut self, n: u32, now_ms: u64, lapsed: &mut Vec<(u64, u128)>) {
        for _ in 0..PRUNE_STEPS {
            let q = self.rec(n).owed;
            if q.head >= q.tail {
                return;
            }
            let key = ClaimKey { node: n, pos: q.head };
            match self.claims.get(&key) {
                Some(c) if !c.lapsed(now_ms) => return,
                Some(_) => {
                    let c = self.remove_claim(key).unwrap_or_else(|| near_sdk::env::panic_str("internal: claim"));
                    lapsed.push((c.id, c.amount));
                }
                None => {}
            }
            self.rec_mut(n).owed.head += 1;
        }
    }

    /// Pops up to [`PRUNE_STEPS`] lapsed claims or holes from the front of
    /// `n`'s held queue.
    fn prune_held(&mut self, n: u32, now_ms: u64, lapsed: &mut Vec<(u64, u128)>) {
        for _ in 0..PRUNE_STEPS {
            let q = self.rec(n).held;
            if q.head >= q.tail {
                return;
            }
            if let Some(&key) = self.held.get(&ClaimKey { node: n, pos: q.head }) {
                match self.claims.get(&key) {
                    Some(c) if !c.lapsed(now_ms) => return,
                    _ => {
                        if let Some(c) = self.remove_claim(key) {
                            lapsed.push((c.id, c.amount));
                        }
                    }
                }
            }
            self.rec_mut(n).held.head += 1;
        }
    }

    /// Up to [`MAX_CLAIMS_VIEW`] unlapsed claims of `n`'s owed (`owed`
    /// true) or held queue, oldest first, scanning at most four times as
    /// many positions.
    pub(crate) fn list_claims(&self, n: u32, owed: bool, now_ms: u64) -> Vec<(ClaimKey, &Claim)> {
        let node = self.rec(n);
        let q = if owed { node.owed } else { node.held };
        let mut out = Vec::new();
        let scan_end = q.tail.min(q.head.saturating_add(4 * MAX_CLAIMS_VIEW));
        for pos in q.head..scan_end {
            if out.len() as u32 >= MAX_CLAIMS_VIEW {
                break;
            }
            let key =
                if owed { Some(ClaimKey { node: n, pos }) } else { self.held.get(&ClaimKey { node: n, pos }).copied() };
            if let Some((k, c)) = key.and_then(|k| self.claims.get(&k).map(|c| (k, c)))
                && !c.lapsed(now_ms)
            {
                out.push((k, c));
            }
        }
        out
    }
}

/// Emits one `claims_lapsed` event for `lapsed` (id, amount), if any.
pub(crate) fn emit_lapsed(lapsed: Vec<(u64, u128)>) {
    if lapsed.is_empty() {
        return;
    }
    let amount = lapsed.iter().map(|(_, a)| a).sum();
    Event::ClaimsLapsed { claim_ids: lapsed.into_iter().map(|(id, _)| id).collect(), amount: U128(amount) }.emit();
}
