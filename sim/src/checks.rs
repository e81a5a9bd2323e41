//! The invariant checks of a run (DESIGN §1): every acknowledged request
//! ends in exactly one terminal outcome (response or notice); while it is
//! late its requester has been paid late fees for the lateness (less a
//! tolerance, see `Scenario::check_tolerance_ms`); it is resolved within
//! `max_late_ms` of its bound; money is conserved on chain and no channel
//! shows more money than its deposits.
//!
//! The economic invariants are checked on each node's books at the end of
//! the run ([`NodeBooks`]): an honest node loses nothing beyond what the
//! protocol prices in (the half penalty of each cut it makes, less what a
//! partition paid back, and the late fees it paid beyond those it received);
//! an honest relay or server nets at least zero from the requests it carried
//! (fees earned plus late fees received less late fees paid); and each
//! attacker (any class but `"honest"`) loses no less than nothing and more
//! than any honest node it touched (the other end of a channel of its that
//! was cut, by either side) that lost something.
//!
//! The checks are plain functions of what the simulator remembers of an
//! attempt (`Track`); the event loop ([`crate::sim`]) calls them at each
//! outcome and at the end of the run, and records what they find with the
//! virtual time and the request or channel that broke it.

use por_core::Amount;
use por_core::protocol::{ProtocolConfig, Refusal, late_fee};

use crate::stats::NodeBooks;

/// What the simulator remembers of one attempt (one request id) for the
/// invariant checks, and which logical request it belongs to.
#[derive(Debug, Clone)]
pub(crate) struct Track {
    /// The client.
    pub(crate) from: u32,
    /// The server.
    pub(crate) to: u32,
    /// The first hop (the client's channel neighbour, who owes it late fees).
    pub(crate) first_hop: u32,
    /// The logical request (its slot in the simulator's table).
    pub(crate) req: u32,
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
    /// What the client paid for it.
    pub(crate) cost: Amount,
    /// The refusal its lie calls for (a lying requester's attempt).
    pub(crate) lie: Option<Refusal>,
}

impl Track {
    /// Late fees received must cover the lateness so far at `now`, less the
    /// requester's own tolerance (grace plus one sync, and the offline grace
    /// when its first hop is down): the shortfall, as a message, if they do
    /// not.
    pub(crate) fn late_shortfall(
        &self,
        now: u64,
        hop_offline: bool,
        cfg: &ProtocolConfig,
        when: &str,
    ) -> Option<String> {
        // A first hop that is down cannot pay; the client waits out the
        // offline grace before it cuts it (DESIGN §2.11), unpaid meanwhile.
        let grace = if hop_offline { cfg.policy.offline_grace_ms } else { 0 };
        let lateness = now.saturating_sub(self.bound_at + self.tol_ms + grace);
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

/// An honest node that lost more than the protocol prices in: the message.
pub(crate) fn honest_loss(b: &NodeBooks) -> Option<String> {
    (b.class == "honest" && b.beyond > 0).then(|| {
        format!(
            "lost {} beyond what is priced in (loss {}, own cuts {}, cut by others {}, slashed {}, late fees {} out / {} in, unacknowledged {})",
            b.beyond, b.loss, b.cut_penalties, b.cut_against, b.slashed, b.late_out, b.late_in, b.unacked
        )
    })
}

/// An honest node that carried requests at a loss: the message. What it
/// carried is what it earned relaying and serving, plus late fees received
/// from downstream (not those paid to it as a requester), less late fees
/// paid.
pub(crate) fn relay_loss(b: &NodeBooks) -> Option<String> {
    let carried = b.earned + b.late_in.saturating_sub(b.late_as_requester) as i128 - b.late_out as i128;
    (b.class == "honest" && carried < 0).then(|| {
        format!(
            "carried requests at a loss of {}: earned {}, late fees {} in / {} out",
            -carried, b.earned, b.late_in, b.late_out
        )
    })
}

/// An attacker that lost less than nothing, or no more than an honest node
/// it touched that lost something: the message. An attacker's loss here
/// leaves out the fees it earned carrying requests (an attacker relays
/// others' requests like anyone) and the late fees it was paid as the
/// requester of late requests (compensation for its own lateness, which an
/// honest requester gets alike), so what is compared is what the attack
/// cost it: late fees, unacknowledged pay, penalties, slashes.
pub(crate) fn attacker_gain(a: &NodeBooks, touched: &[&NodeBooks]) -> Option<String> {
    if a.class == "honest" {
        return None;
    }
    let lost = a.loss + a.earned.max(0) + a.late_as_requester as i128;
    let worst = touched.iter().filter(|h| h.loss > 0).max_by_key(|h| h.loss);
    match worst {
        Some(h) if lost <= h.loss => {
            Some(format!("lost {lost}, no more than honest neighbour {}'s {}", h.name, h.loss))
        }
        _ if lost < 0 => Some(format!(
            "gained {} beyond fees (earned {}, late fees {} in / {} out)",
            -lost, a.earned, a.late_in, a.late_out
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(late: Amount) -> Track {
        Track {
            from: 0,
            to: 1,
            req: 0,
            bound_at: 1_000,
            limit_at: 5_000,
            tol_ms: 500,
            first_hop: 1,
            acked: true,
            late,
            cost: 0,
            lie: None,
        }
    }

    #[test]
    fn late_fees_must_cover_the_lateness_less_the_tolerance() {
        let cfg = ProtocolConfig { late_fee_per_sec: 1_000, ..ProtocolConfig::default() };
        assert_eq!(track(0).late_shortfall(1_500, false, &cfg, "x"), None, "within the tolerance");
        let d = track(99).late_shortfall(1_600, false, &cfg, "at its outcome").unwrap();
        assert_eq!(d, "at its outcome: 600 ms late, late fees 99 < 100");
        assert_eq!(track(100).late_shortfall(1_600, false, &cfg, "x"), None);
        let down = cfg.policy.offline_grace_ms;
        assert_eq!(track(0).late_shortfall(1_500 + down, true, &cfg, "x"), None, "a first hop that is down cannot pay");
        assert!(track(0).late_shortfall(1_600 + down, true, &cfg, "x").is_some());
        assert!(!track(0).past_limit(5_000) && track(0).past_limit(5_001));
        assert_eq!(overdrawn(3, 10, 10), None);
        assert_eq!(overdrawn(3, 11, 10).unwrap(), "channel 3: balances 11 exceed deposits 10");
    }

    fn books(class: &str, loss: i128, beyond: i128, earned: i128) -> NodeBooks {
        NodeBooks { class: class.into(), name: class.into(), loss, beyond, earned, ..NodeBooks::default() }
    }

    #[test]
    fn the_economic_invariants_compare_the_books() {
        assert!(honest_loss(&books("honest", 5, 0, 0)).is_none(), "priced in");
        assert!(honest_loss(&books("honest", 5, 1, 0)).is_some());
        assert!(honest_loss(&books("slow", 5, 1, 0)).is_none(), "attackers may lose");
        assert!(relay_loss(&books("honest", 0, 0, -1)).is_some());
        let mut b = books("honest", 0, 0, -1);
        b.late_in = 1;
        assert!(relay_loss(&b).is_none(), "late fees received cover it");
        b.late_as_requester = 1;
        assert!(relay_loss(&b).is_some(), "not those received as a requester");
        let h = books("honest", 7, 0, 0);
        assert!(attacker_gain(&books("slow", 8, 0, 0), &[&h]).is_none());
        assert!(attacker_gain(&books("slow", 7, 0, 0), &[&h]).unwrap().contains("no more than"));
        assert!(attacker_gain(&books("slow", 0, 0, 0), &[]).is_none(), "a refused liar loses nothing");
        assert!(attacker_gain(&books("slow", -1, 0, 1), &[]).is_none(), "fees earned relaying are no gain");
        let mut compensated = books("slow", -2, 0, 1);
        compensated.late_as_requester = 2;
        assert!(attacker_gain(&compensated, &[]).is_none(), "late fees for its own late requests are no gain");
        assert!(attacker_gain(&books("slow", -2, 0, 1), &[]).unwrap().starts_with("gained 1"));
    }
}
