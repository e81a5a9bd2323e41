//! The invariant checks of a run (DESIGN §1): every acknowledged request
//! ends in exactly one terminal outcome (response or notice); while it is
//! late its requester has been paid late fees for the lateness (less a
//! tolerance, see `Scenario::check_tolerance_ms`); it is resolved within
//! `max_late_ms` of its bound; money is conserved on chain and no channel
//! shows more money than its deposits.
//!
//! The checks are plain functions of what the simulator remembers of an
//! attempt (`Track`); the event loop ([`crate::sim`]) calls them at each
//! outcome and at the end of the run, and records what they find with the
//! virtual time and the request or channel that broke it.

use por_core::Amount;
use por_core::protocol::{ProtocolConfig, late_fee};

/// What the simulator remembers of one attempt (one request id) for the
/// invariant checks, and which logical request it belongs to.
#[derive(Debug, Clone)]
pub(crate) struct Track {
    /// The client.
    pub(crate) from: u32,
    /// The server.
    pub(crate) to: u32,
    /// The logical request (its slot in the simulator's table).
    pub(crate) req: u32,
    /// The request's nonce (the first hop's refusal names it).
    pub(crate) nonce: u64,
    /// When its bound ends.
    pub(crate) bound_at: u64,
    /// When it must be resolved by (bound plus `max_late_ms` and slack).
    pub(crate) limit_at: u64,
    /// How far late fees may lag behind the lateness.
    pub(crate) tol_ms: u64,
    /// The first hop acknowledged it.
    pub(crate) acked: bool,
    /// Late fees received for it so far.
    pub(crate) late: Amount,
}

impl Track {
    /// Late fees received must cover the lateness so far at `now`, less the
    /// requester's own tolerance (grace plus one sync): the shortfall, as a
    /// message, if they do not.
    pub(crate) fn late_shortfall(&self, now: u64, cfg: &ProtocolConfig, when: &str) -> Option<String> {
        let lateness = now.saturating_sub(self.bound_at + self.tol_ms);
        let need = late_fee(cfg.late_fee_per_sec, lateness, cfg.max_late_ms);
        (self.late < need)
            .then(|| format!("{when}: {} ms late, late fees {} < {}", now - self.bound_at, self.late, need))
    }

    /// Whether `now` is past the last moment an outcome may come.
    pub(crate) fn past_limit(&self, now: u64) -> bool {
        now > self.limit_at
    }
}

/// A channel whose two balances add up to more than both deposits: the
/// message saying so.
pub(crate) fn overdrawn(channel: u64, balances: Amount, deposits: Amount) -> Option<String> {
    (balances > deposits).then(|| format!("channel {channel}: balances {balances} exceed deposits {deposits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(late: Amount) -> Track {
        Track { from: 0, to: 1, req: 0, nonce: 1, bound_at: 1_000, limit_at: 5_000, tol_ms: 500, acked: true, late }
    }

    #[test]
    fn late_fees_must_cover_the_lateness_less_the_tolerance() {
        let cfg = ProtocolConfig { late_fee_per_sec: 1_000, ..ProtocolConfig::default() };
        assert_eq!(track(0).late_shortfall(1_500, &cfg, "x"), None, "within the tolerance");
        let d = track(99).late_shortfall(1_600, &cfg, "at its outcome").unwrap();
        assert_eq!(d, "at its outcome: 600 ms late, late fees 99 < 100");
        assert_eq!(track(100).late_shortfall(1_600, &cfg, "x"), None);
        assert!(!track(0).past_limit(5_000) && track(0).past_limit(5_001));
        assert_eq!(overdrawn(3, 10, 10), None);
        assert_eq!(overdrawn(3, 11, 10).unwrap(), "channel 3: balances 11 exceed deposits 10");
    }
}
