//! Reimbursement claims: made by every severance, paid when their debtor is
//! partitioned, dropped when they lapse.
//!
//! A claim is stored under its debtor and its position in the debtor's
//! owed [`ClaimQueue`](super::ClaimQueue), and the creditor's held queue points at it. Queues
//! are in creation order. Work per call is bounded whatever the number of
//! claims a node has:
//! - making a claim writes one entry per queue and prunes at most
//!   [`PRUNE_STEPS`] positions from the front of each queue it touches
//!   (lapsed claims and holes left by paid ones);
//! - a settlement walks a partitioned node's queue with a cursor, a bounded
//!   number of reads per call (see [`super::check`]);
//!
//! A claim carries its own expiry, so a later change of `claim_ttl_ms` does
//! not touch it. When the TTL was shortened, a queue is no longer ordered by
//! expiry; pruning from the front then stops at the first unexpired claim
//! and the later expired ones wait (settlements and views ignore them).

use super::{Claim, ClaimKey, Role, Rules, SettleEvent, SettlementStore};
use crate::graph::NodeIdx;
use crate::voucher::Amount;

/// Most queue positions one call prunes per queue it touches.
pub const PRUNE_STEPS: u32 = 8;

/// Records a claim of `creditor` against `debtor` (nothing for 0), then
/// prunes the two queues it went into.
pub fn add_claim<S: SettlementStore>(
    store: &mut S,
    rules: &Rules,
    creditor: NodeIdx,
    debtor: NodeIdx,
    amount: Amount,
    channel: u64,
    now_ms: u64,
) {
    if amount == 0 {
        return;
    }
    let id = store.next_claim_id();
    let expires_ms = now_ms.saturating_add(rules.claim_ttl_ms);
    let mut owed = store.queue(debtor, Role::Owed);
    let pos = owed.tail;
    owed.tail += 1;
    owed.live += 1;
    owed.until_ms = owed.until_ms.max(expires_ms);
    store.set_queue(debtor, Role::Owed, owed);
    let mut held = store.queue(creditor, Role::Held);
    let held_pos = held.tail;
    held.tail += 1;
    held.live += 1;
    held.until_ms = held.until_ms.max(expires_ms);
    store.set_queue(creditor, Role::Held, held);
    let key = ClaimKey { node: debtor, pos };
    let claim = Claim { id, creditor, debtor, amount, channel, created_ms: now_ms, expires_ms, held_pos };
    store.insert_claim(key, claim.clone());
    store.insert_held(ClaimKey { node: creditor, pos: held_pos }, key);
    store.emit(SettleEvent::ClaimCreated(claim));
    let mut lapsed = Vec::new();
    prune_owed(store, debtor, now_ms, &mut lapsed);
    prune_held(store, creditor, now_ms, &mut lapsed);
    emit_lapsed(store, lapsed);
}

/// Removes the claim at `key` (paid or lapsed) and its held entry; returns
/// it. Keeps the queues' positions, lowers their live counts.
pub fn remove_claim<S: SettlementStore>(store: &mut S, key: ClaimKey) -> Option<Claim> {
    let c = store.take_claim(key)?;
    store.remove_held(ClaimKey { node: c.creditor, pos: c.held_pos });
    for (n, role) in [(c.debtor, Role::Owed), (c.creditor, Role::Held)] {
        let mut q = store.queue(n, role);
        q.live -= 1;
        store.set_queue(n, role, q);
    }
    Some(c)
}

/// Pops up to [`PRUNE_STEPS`] lapsed claims or holes from the front of
/// `n`'s owed queue.
fn prune_owed<S: SettlementStore>(store: &mut S, n: NodeIdx, now_ms: u64, lapsed: &mut Vec<(u64, Amount)>) {
    for _ in 0..PRUNE_STEPS {
        let q = store.queue(n, Role::Owed);
        if q.head >= q.tail {
            return;
        }
        let key = ClaimKey { node: n, pos: q.head };
        match store.claim(key) {
            Some(c) if !c.lapsed(now_ms) => return,
            Some(_) => {
                let c = remove_claim(store, key).expect("the claim was just read");
                lapsed.push((c.id, c.amount));
            }
            None => {}
        }
        let mut q = store.queue(n, Role::Owed);
        q.head += 1;
        store.set_queue(n, Role::Owed, q);
    }
}

/// Pops up to [`PRUNE_STEPS`] lapsed claims or holes from the front of
/// `n`'s held queue.
fn prune_held<S: SettlementStore>(store: &mut S, n: NodeIdx, now_ms: u64, lapsed: &mut Vec<(u64, Amount)>) {
    for _ in 0..PRUNE_STEPS {
        let q = store.queue(n, Role::Held);
        if q.head >= q.tail {
            return;
        }
        if let Some(key) = store.held(ClaimKey { node: n, pos: q.head }) {
            match store.claim(key) {
                Some(c) if !c.lapsed(now_ms) => return,
                _ => {
                    if let Some(c) = remove_claim(store, key) {
                        lapsed.push((c.id, c.amount));
                    }
                }
            }
        }
        let mut q = store.queue(n, Role::Held);
        q.head += 1;
        store.set_queue(n, Role::Held, q);
    }
}

/// Emits one [`SettleEvent::ClaimsLapsed`] for `lapsed`, if any.
pub(crate) fn emit_lapsed<S: SettlementStore>(store: &mut S, lapsed: Vec<(u64, Amount)>) {
    if !lapsed.is_empty() {
        store.emit(SettleEvent::ClaimsLapsed(lapsed));
    }
}
