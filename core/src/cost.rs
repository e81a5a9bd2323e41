//! What a request costs along a path and how long each node may take
//! (DESIGN §2.3 and §2.5).
//!
//! Path `n0 → n1 → … → nk` over edges `e1..ek`; a body of `s` bytes and at
//! most `r` response bytes.
//! - `cost(e) = base_fee(e) + byte_fee(e) · (s + r)`;
//! - the voucher update crossing `ej` pays `Σ_{i≥j} cost(ei)`; node `nj` keeps
//!   `cost(ej)` and forwards the rest;
//! - the requester's bound is `b0 = 2 · Σ ℓ(ej) + service_ms(nk)`; node `ni`
//!   forwards with the budget `bi = 2 · Σ_{j>i} ℓ(ej) + service_ms(nk)`,
//!   measured on its own clock from the moment it sent the request on.

use serde::{Deserialize, Serialize};

use crate::bytes::amount_serde;
use crate::voucher::Amount;

/// The parameters of an edge, agreed by both sides when it opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "borsh", derive(borsh::BorshSerialize, borsh::BorshDeserialize))]
pub struct EdgeParams {
    /// Promised one-way latency `ℓ`, in milliseconds.
    pub latency_ms: u64,
    /// Fee per message crossing the edge, in yocto.
    #[serde(with = "amount_serde")]
    pub base_fee: Amount,
    /// Fee per byte carried (request body plus the response allowance), in yocto.
    #[serde(with = "amount_serde")]
    pub byte_fee: Amount,
}

/// An amount or duration does not fit its integer type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    /// The cost of the path overflows `u128` yocto: the fees or sizes are absurd.
    #[error("cost of the path overflows u128 yocto; check the fees and the sizes")]
    AmountOverflow,
    /// The bound overflows `u64` milliseconds: the latencies are absurd.
    #[error("bound of the path overflows u64 milliseconds; check the latencies")]
    TimeOverflow,
    /// A path needs at least one edge.
    #[error("a path needs at least one edge")]
    EmptyPath,
}

impl EdgeParams {
    /// `base_fee + byte_fee · bytes`.
    pub fn cost(&self, bytes: u64) -> Result<Amount, CostError> {
        self.byte_fee
            .checked_mul(bytes as u128)
            .and_then(|b| b.checked_add(self.base_fee))
            .ok_or(CostError::AmountOverflow)
    }
}

/// The money and time of one request along one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathQuote {
    /// `cost(ej)` for j = 1..k: what node `nj` keeps.
    pub fees: Vec<Amount>,
    /// `Σ_{i≥j} cost(ei)` for j = 1..k: what the update crossing `ej` pays.
    /// `payments[0]` is what the requester pays.
    pub payments: Vec<Amount>,
    /// `bi` for i = 0..k-1: the budget node `ni` forwards with; `budgets[0]`
    /// is the requester's bound `b0`.
    pub budgets_ms: Vec<u64>,
}

impl PathQuote {
    /// The requester's bound `b0`.
    pub fn bound_ms(&self) -> u64 {
        self.budgets_ms[0]
    }

    /// What the requester pays in all.
    pub fn total(&self) -> Amount {
        self.payments[0]
    }
}

/// Prices a request of `body_bytes` with a response allowance of
/// `max_response_bytes` over `edges` (in path order) to a server that
/// promises `service_ms`.
pub fn quote(
    edges: &[EdgeParams],
    service_ms: u64,
    body_bytes: u64,
    max_response_bytes: u64,
) -> Result<PathQuote, CostError> {
    if edges.is_empty() {
        return Err(CostError::EmptyPath);
    }
    let bytes = body_bytes.checked_add(max_response_bytes).ok_or(CostError::AmountOverflow)?;
    let fees = edges.iter().map(|e| e.cost(bytes)).collect::<Result<Vec<_>, _>>()?;
    let mut payments = vec![0; edges.len()];
    let mut budgets_ms = vec![0; edges.len()];
    let mut pay: Amount = 0;
    let mut budget: u64 = service_ms;
    for j in (0..edges.len()).rev() {
        pay = pay.checked_add(fees[j]).ok_or(CostError::AmountOverflow)?;
        payments[j] = pay;
        budget =
            edges[j].latency_ms.checked_mul(2).and_then(|l| l.checked_add(budget)).ok_or(CostError::TimeOverflow)?;
        budgets_ms[j] = budget;
    }
    Ok(PathQuote { fees, payments, budgets_ms })
}

/// The requester's bound alone: `2 · Σ ℓ + service_ms`.
pub fn bound_ms(latencies_ms: impl IntoIterator<Item = u64>, service_ms: u64) -> Result<u64, CostError> {
    let mut sum: u64 = 0;
    for l in latencies_ms {
        sum = sum.checked_add(l).ok_or(CostError::TimeOverflow)?;
    }
    sum.checked_mul(2).and_then(|s| s.checked_add(service_ms)).ok_or(CostError::TimeOverflow)
}

/// The absolute deadlines `t_i + b_i` of nodes `n0..n{k-1}` when `n0` sends at
/// `t0` and every edge takes exactly its promised latency. For checking the
/// design's claim that each upstream deadline falls one edge latency after the
/// deadline below it (DESIGN §2.5).
pub fn deadlines_at_promised_latency(edges: &[EdgeParams], service_ms: u64, t0: u64) -> Result<Vec<u64>, CostError> {
    let q = quote(edges, service_ms, 0, 0)?;
    let mut t = t0;
    let mut out = Vec::with_capacity(edges.len());
    for (i, b) in q.budgets_ms.iter().enumerate() {
        out.push(t.checked_add(*b).ok_or(CostError::TimeOverflow)?);
        t = t.checked_add(edges[i].latency_ms).ok_or(CostError::TimeOverflow)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lat(l: u64) -> EdgeParams {
        EdgeParams { latency_ms: l, base_fee: 0, byte_fee: 0 }
    }

    /// The paper's example: Alex–Alice 100 ms, Alice–Bob 200 ms, Bob–Carol 100 ms.
    #[test]
    fn paper_example() {
        let q = quote(&[lat(100), lat(200), lat(100)], 0, 0, 0).unwrap();
        assert_eq!(q.bound_ms(), 800, "Alex's bound");
        assert_eq!(q.budgets_ms, vec![800, 600, 200], "Alice forwards with 600 ms, Bob with 200 ms");
        let d = deadlines_at_promised_latency(&[lat(100), lat(200), lat(100)], 0, 0).unwrap();
        assert_eq!(d, vec![800, 700, 500]);
    }

    #[test]
    fn fees_and_payments() {
        let e = |b, f| EdgeParams { latency_ms: 10, base_fee: b, byte_fee: f };
        let q = quote(&[e(5, 1), e(7, 0), e(0, 2)], 3, 10, 90).unwrap();
        assert_eq!(q.fees, vec![105, 7, 200]);
        assert_eq!(q.payments, vec![312, 207, 200]);
        assert_eq!(q.total(), 312);
        assert_eq!(q.budgets_ms, vec![63, 43, 23]);
    }

    #[test]
    fn overflow_is_an_error() {
        let e = EdgeParams { latency_ms: u64::MAX, base_fee: u128::MAX, byte_fee: 1 };
        assert_eq!(quote(&[e], 0, 1, 0), Err(CostError::AmountOverflow));
        let e = EdgeParams { latency_ms: u64::MAX, base_fee: 0, byte_fee: 0 };
        assert_eq!(quote(&[e], 0, 1, 0), Err(CostError::TimeOverflow));
        assert_eq!(quote(&[], 0, 0, 0), Err(CostError::EmptyPath));
    }

    fn edge() -> impl Strategy<Value = EdgeParams> {
        (0u64..10_000, 0u128..1_000_000_000_000, 0u128..1_000_000)
            .prop_map(|(latency_ms, base_fee, byte_fee)| EdgeParams { latency_ms, base_fee, byte_fee })
    }

    proptest! {
        /// Every node keeps exactly the fee of the edge it was reached on, and
        /// the fees add up to what the requester pays.
        #[test]
        fn payments_split_exactly(edges in prop::collection::vec(edge(), 1..12), s in 0u64..1<<20, r in 0u64..1<<20, svc in 0u64..5000) {
            let q = quote(&edges, svc, s, r).unwrap();
            for (j, e) in edges.iter().enumerate() {
                let next = q.payments.get(j + 1).copied().unwrap_or(0);
                prop_assert_eq!(q.payments[j] - next, q.fees[j]);
                prop_assert_eq!(q.fees[j], e.base_fee + e.byte_fee * (s + r) as u128);
            }
            prop_assert_eq!(q.fees.iter().sum::<u128>(), q.total());
            prop_assert_eq!(q.bound_ms(), bound_ms(edges.iter().map(|e| e.latency_ms), svc).unwrap());
        }

        /// Every upstream deadline is one edge latency (of the edge between the
        /// two nodes) after the one below it.
        #[test]
        fn upstream_deadline_one_latency_later(edges in prop::collection::vec(edge(), 1..12), svc in 0u64..5000, t0 in 0u64..1<<40) {
            let d = deadlines_at_promised_latency(&edges, svc, t0).unwrap();
            for i in 1..edges.len() {
                prop_assert_eq!(d[i - 1], d[i] + edges[i - 1].latency_ms);
            }
            // The last relay's deadline: its edge there and back plus service.
            let k = edges.len();
            let sent_last: u64 = t0 + edges[..k - 1].iter().map(|e| e.latency_ms).sum::<u64>();
            prop_assert_eq!(d[k - 1], sent_last + 2 * edges[k - 1].latency_ms + svc);
        }
    }
}
