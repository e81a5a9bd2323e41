//! The money rules of DESIGN §2.8, once, for the contract and the simulator:
//! half-penalties on a severance, reimbursement claims, slashing of a
//! partitioned side, pro-rata payment of the claims out of the slash before
//! anything goes to the treasury, claim expiry, all in bounded resumable
//! steps.
//!
//! The rules run over a [`SettlementStore`], the way the partition search
//! runs over a [`GraphView`]: the store holds stakes, balances, the
//! treasury, the claim queues and the claims, and moves money between
//! [`Pot`]s when told. The contract implements it over its NEAR storage
//! (and turns [`SettleEvent`]s into NEP-297 events); the simulator's chain
//! model implements it in memory. Nothing here knows accounts, channels'
//! deposits or clocks: times are arguments.
//!
//! - [`claims`]: making claims, per-node queues, pruning lapsed ones a few
//!   at a time;
//! - [`memory`]: the store in memory (the simulator's, and the tests');
//! - [`check`]: the check that follows a severance or settles a split:
//!   the partition search, then (when asked to settle) slashing, tallying
//!   and paying the claims, each phase spending from one allowance of
//!   storage reads per call.
//!
//! Not here: channel lifecycles and vouchers (the contract), the search
//! algorithm itself ([`crate::partition`]).

pub mod check;
pub mod claims;
pub mod memory;

pub use check::{Check, CheckPhase, MAX_LAPSED_PER_CALL, PAY_READS, SEARCH_WORK_PER_READ, StepResult};
pub use claims::{PRUNE_STEPS, remove_claim};

use crate::graph::{GraphView, NodeIdx};
use crate::voucher::Amount;

/// Where money sits; the store moves it between pots when the rules say so
/// and keeps whatever running totals it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pot {
    /// A node's stake.
    Stake(NodeIdx),
    /// A node's withdrawable balance.
    Balance(NodeIdx),
    /// The contract's treasury (penalties and slashes not paid back).
    Treasury,
    /// What pays for the claims' storage.
    Reserve,
    /// Stake slashed by a settlement in progress and not paid out yet.
    Pool,
}

/// Which of a node's two claim queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Claims against the node.
    Owed,
    /// Claims the node holds.
    Held,
}

/// Where a claim is stored: its debtor (or, in the held index, its
/// creditor) and the position in that node's queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "borsh", derive(borsh::BorshSerialize, borsh::BorshDeserialize))]
pub struct ClaimKey {
    /// The node whose queue it is in.
    pub node: NodeIdx,
    /// The position in that queue.
    pub pos: u32,
}

/// A reimbursement claim: `creditor` paid `amount` of penalty when the
/// channel between it and `debtor` was severed; paid back if `debtor` ends
/// on a partitioned side while `creditor` does not.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "borsh", derive(borsh::BorshSerialize, borsh::BorshDeserialize))]
pub struct Claim {
    /// Its id (events and views name claims by it).
    pub id: u64,
    /// Who is owed.
    pub creditor: NodeIdx,
    /// Who owes, if it ends up on a partitioned side.
    pub debtor: NodeIdx,
    /// The half-penalty the creditor paid.
    pub amount: Amount,
    /// The severed channel.
    pub channel: u64,
    /// When it was made.
    pub created_ms: u64,
    /// When it lapses: `created_ms + claim_ttl_ms` of the rules in force
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

/// A node's list of claims in one role, in creation order: positions
/// `head..tail`, some of which may be gone already (paid or lapsed). New
/// claims go to `tail`; lapsed ones are pruned from `head`, a few per call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "borsh", derive(borsh::BorshSerialize, borsh::BorshDeserialize))]
pub struct ClaimQueue {
    /// First position that may still hold a claim.
    pub head: u32,
    /// Next position to fill.
    pub tail: u32,
    /// Claims still stored at positions `head..tail`.
    pub live: u32,
    /// Latest expiry of any claim ever put in the queue (ms).
    pub until_ms: u64,
}

/// The settlement's parameters, taken from the contract's config (or the
/// simulator's scenario) at each call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// What each side of a severance pays: half the severance penalty.
    pub half_penalty: Amount,
    /// Of each half-penalty that becomes a claim, this much pays for the
    /// claim's storage ([`Pot::Reserve`]); a smaller half-penalty makes no
    /// claim.
    pub claim_storage_fee: Amount,
    /// Lifetime of a claim.
    pub claim_ttl_ms: u64,
    /// Storage reads one call may spend on a check (at least 2).
    pub step_budget: u64,
    /// Nodes slashed, or claims paid, per call (at least 1).
    pub settle_batch: u32,
}

/// One claim paid by a settlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaidClaim {
    /// The claim.
    pub claim_id: u64,
    /// Who was paid.
    pub creditor: NodeIdx,
    /// Who owed.
    pub debtor: NodeIdx,
    /// The claim's amount.
    pub amount: Amount,
    /// What was paid (less when pro rata).
    pub paid: Amount,
}

/// What the rules did, for the store to publish (the contract as NEP-297
/// events; the simulator may ignore them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettleEvent {
    /// A claim was made.
    ClaimCreated(Claim),
    /// Claims lapsed and were dropped: (id, amount).
    ClaimsLapsed(Vec<(u64, Amount)>),
    /// A batch of the partitioned side was slashed and marked partitioned.
    NodesPartitioned {
        /// The severed channel whose check this is.
        channel: u64,
        /// The nodes.
        nodes: Vec<NodeIdx>,
        /// Slashed from them in all.
        slashed: Amount,
    },
    /// A batch of claims was paid out of the slash.
    ClaimsPaid {
        /// The severed channel whose check this is.
        channel: u64,
        /// The claims.
        claims: Vec<PaidClaim>,
    },
    /// A settlement finished; what was left of the slash went to the
    /// treasury.
    PartitionSettled {
        /// The severed channel whose check this is.
        channel: u64,
        /// Nodes on the partitioned side.
        nodes: u32,
        /// Slashed from them.
        slashed: Amount,
        /// Paid back on claims.
        reimbursed: Amount,
        /// Left for the treasury.
        to_treasury: Amount,
    },
}

/// The storage the rules run over. Every method is one small record's read
/// or write; [`SettlementStore::reads`] counts the reads made since the
/// store was set up for the current call (an upper bound is fine), which
/// is what a call's allowance is spent on. The graph it shows
/// ([`GraphView`]) must lack the severed edge and stay unchanged while a
/// check runs.
pub trait SettlementStore: GraphView {
    /// Moves `amount` from one pot to another. The rules never take more
    /// from a pot than it holds.
    fn transfer(&mut self, from: Pot, to: Pot, amount: Amount);
    /// Marks `n` partitioned (it must rejoin before opening channels).
    fn mark_partitioned(&mut self, n: NodeIdx);
    /// `n`'s queue in `role`.
    fn queue(&self, n: NodeIdx, role: Role) -> ClaimQueue;
    /// Replaces `n`'s queue in `role`.
    fn set_queue(&mut self, n: NodeIdx, role: Role, q: ClaimQueue);
    /// The claim at `key` of its debtor's owed queue, if still there.
    fn claim(&self, key: ClaimKey) -> Option<Claim>;
    /// Stores a claim under `key` of its debtor's owed queue.
    fn insert_claim(&mut self, key: ClaimKey, claim: Claim);
    /// Removes and returns the claim at `key`.
    fn take_claim(&mut self, key: ClaimKey) -> Option<Claim>;
    /// Where the held queue's entry `key` (creditor, position) points.
    fn held(&self, key: ClaimKey) -> Option<ClaimKey>;
    /// Stores a held-queue entry.
    fn insert_held(&mut self, key: ClaimKey, target: ClaimKey);
    /// Removes a held-queue entry.
    fn remove_held(&mut self, key: ClaimKey);
    /// A fresh claim id (never reused).
    fn next_claim_id(&mut self) -> u64;
    /// Storage reads made so far in this call.
    fn reads(&self) -> u64;
    /// Publishes what the rules did.
    fn emit(&mut self, event: SettleEvent);
}

/// What a severance charged: each side's half-penalty as taken from its
/// stake (less than the half when the stake was smaller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Penalties {
    /// Taken from the severer.
    pub severer: Amount,
    /// Taken from the other side.
    pub other: Amount,
}

/// Charges both ends of a severed channel half the penalty each, out of
/// their stakes. Of each half-penalty of at least `claim_storage_fee`, that
/// fee goes to [`Pot::Reserve`] (it pays for the claim [`record_claims`]
/// will make); everything else goes to the treasury.
pub fn charge_penalties<S: SettlementStore>(
    store: &mut S,
    rules: &Rules,
    severer: NodeIdx,
    other: NodeIdx,
) -> Penalties {
    let mut take = |n: NodeIdx| {
        let taken = rules.half_penalty.min(store.stake(n));
        if taken > 0 {
            let fee = if makes_claim(rules, taken) { rules.claim_storage_fee } else { 0 };
            store.transfer(Pot::Stake(n), Pot::Reserve, fee);
            store.transfer(Pot::Stake(n), Pot::Treasury, taken - fee);
        }
        taken
    };
    let severer_pen = take(severer);
    let other_pen = take(other);
    Penalties { severer: severer_pen, other: other_pen }
}

/// Gives each end a claim on the other for the half-penalty it paid (see
/// [`charge_penalties`]), made at `now_ms` for `channel`.
pub fn record_claims<S: SettlementStore>(
    store: &mut S,
    rules: &Rules,
    channel: u64,
    severer: NodeIdx,
    other: NodeIdx,
    pen: Penalties,
    now_ms: u64,
) {
    for (creditor, debtor, amount) in [(severer, other, pen.severer), (other, severer, pen.other)] {
        if makes_claim(rules, amount) {
            claims::add_claim(store, rules, creditor, debtor, amount, channel, now_ms);
        }
    }
}

/// Whether a half-penalty of `amount` becomes a claim.
pub fn makes_claim(rules: &Rules, amount: Amount) -> bool {
    amount > 0 && amount >= rules.claim_storage_fee
}

/// What each side gets when a channel with these deposits and vouchers is
/// settled: `(credit_a, credit_b)`, always summing to the two deposits. A
/// side that signed more than it could cover (`paid_by_x > deposit_x +
/// paid_to_x`) gets nothing and the other side everything.
pub fn settle_amounts(deposit_a: u128, deposit_b: u128, paid_by_a: u128, paid_by_b: u128) -> (u128, u128) {
    let total = deposit_a + deposit_b;
    let have_a = deposit_a.saturating_add(paid_by_b);
    let credit_a = if paid_by_a > have_a { 0 } else { (have_a - paid_by_a).min(total) };
    (credit_a, total - credit_a)
}

/// `floor(a · b / c)` without overflow, for `0 < c` and `b ≤ c` (so the
/// result fits).
pub fn mul_div(a: u128, b: u128, c: u128) -> u128 {
    assert!(c > 0 && b <= c, "mul_div needs 0 < c and b ≤ c");
    // 256-bit product.
    let (a1, a0) = (a >> 64, a & u64::MAX as u128);
    let (b1, b0) = (b >> 64, b & u64::MAX as u128);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & u64::MAX as u128) + (p10 & u64::MAX as u128);
    let lo = (p00 & u64::MAX as u128) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    // Long division, one bit at a time.
    let mut rem: u128 = 0;
    let mut q: u128 = 0;
    for i in (0..256u32).rev() {
        let bit = if i >= 128 { (hi >> (i - 128)) & 1 } else { (lo >> i) & 1 };
        let carry = rem >> 127;
        rem = (rem << 1) | bit;
        if carry == 1 || rem >= c {
            rem = rem.wrapping_sub(c);
            if i < 128 {
                q |= 1 << i;
            }
        }
    }
    q
}

#[cfg(test)]
mod tests;
