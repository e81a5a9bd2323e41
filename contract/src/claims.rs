//! Reimbursement claims: made by every severance, paid when their debtor is
//! partitioned, dropped when they lapse. The rules (queues, pruning,
//! payment) are por-core's [`por_core::settlement`]; this module keeps the
//! storage layout and the views.
//!
//! A claim is stored under its debtor and its position in the debtor's
//! [`ClaimQueue`](por_core::settlement::ClaimQueue) of owed claims (`claims`), and the creditor's queue of held
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

use crate::Contract;
use crate::events::Event;

pub use por_core::settlement::{Claim, ClaimKey, PRUNE_STEPS};

/// Most claims one view lists per role (owed, held).
pub const MAX_CLAIMS_VIEW: u32 = 200;

impl Contract {
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
