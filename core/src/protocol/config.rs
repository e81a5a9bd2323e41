//! The settings of one node's protocol engine: the network-wide late-fee
//! terms (from the contract's config), the local sync and failure policy, and
//! the test-only fault injection.
//!
//! Every field's doc ends with its default.

use serde::{Deserialize, Serialize};

use crate::protocol::terms::Limits;
use crate::voucher::Amount;

/// Everything the engine needs to know that is not a message or a clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProtocolConfig {
    /// NEAR account of the PoR contract; vouchers are bound to it.
    /// Default `"por.test"`.
    pub contract: String,
    /// Late fee per second of lateness per overdue request, in yocto
    /// (contract config, uniform along every path). Default `1_000_000`.
    #[serde(with = "crate::bytes::amount_serde")]
    pub late_fee_per_sec: Amount,
    /// Most lateness any node is liable for on one request (contract
    /// config); past it the downstream edge must be cut. The cut happens at
    /// `deadline + max_late_ms` (plus the policy's `hop_slack_ms` per hop
    /// below). Default `30_000`.
    pub max_late_ms: u64,
    /// Sync interval of a channel opened without its own. Default `500`.
    pub default_sync_ms: u64,
    /// Send syncs on a channel even when nothing is in flight on it and
    /// nothing is owed. `false` keeps idle channels silent, which the
    /// liveness rule allows (it only watches channels with requests in
    /// flight) and which large simulations need. Default `true`.
    pub sync_when_idle: bool,
    /// Emit [`Effect::Persist`](crate::protocol::Effect::Persist) for every
    /// voucher signed or accepted. Only a driver without durable state (the
    /// simulator) may turn it off; a node must keep it on. Default `true`.
    pub emit_persists: bool,
    /// When to cut a neighbour.
    pub policy: FailurePolicy,
    /// Re-sending what a lossy link dropped.
    pub resend: Resend,
    /// Bounds on routes and on what one neighbour can make us hold.
    pub limits: Limits,
    /// Test-only misbehaviour. Off by default; never enable it on a real node.
    pub faults: FaultInjection,
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        ProtocolConfig {
            contract: "por.test".into(),
            late_fee_per_sec: 1_000_000,
            max_late_ms: 30_000,
            default_sync_ms: 500,
            sync_when_idle: true,
            emit_persists: true,
            policy: FailurePolicy::default(),
            resend: Resend::default(),
            limits: Limits::default(),
            faults: FaultInjection::default(),
        }
    }
}

/// The re-send rule (see [`crate::protocol`]): what a node sends again when a
/// message may have been lost, and for how long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Resend {
    /// Most times one request is sent again downstream (unacknowledged, or
    /// unanswered past its deadline), and most syncs that repeat one late-fee
    /// claim or notice. `0` turns re-sending off: no copies are kept, claims
    /// and notices go out in one sync only. Default `4`.
    pub max_resends: u32,
    /// Added to an edge's promised round trip before a missing
    /// acknowledgement counts as lost (processing time). Default `50`.
    pub margin_ms: u64,
}

impl Default for Resend {
    fn default() -> Self {
        Resend { max_resends: 4, margin_ms: 50 }
    }
}

impl Resend {
    /// How long after it sent a request a node waits for the ack before it
    /// sends the request again, on an edge of promised latency `latency_ms`.
    pub fn timeout_ms(&self, latency_ms: u64) -> u64 {
        latency_ms.saturating_mul(2).saturating_add(self.margin_ms)
    }
}

/// The local failure policy (DESIGN §2.7): when a downstream neighbour is cut.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FailurePolicy {
    /// Cut a neighbour that has sent nothing for this many of the channel's
    /// sync intervals while requests to it are in flight, and for at least
    /// `offline_grace_ms`. `0` disables the rule. Default `3`.
    pub missed_syncs: u32,
    /// How long a neighbour with requests from us in flight may be silent
    /// (restarting, upgrading, crashed) before silence alone gets it cut
    /// (DESIGN §2.11). Until then the late fee is the remedy: it accrues,
    /// and the neighbour must pay it within `late_fee_grace_ms` of coming
    /// back. What the cut would have protected is bounded by the channel's
    /// late-fee liability cap. Default `30_000`.
    pub offline_grace_ms: u64,
    /// How far a downstream neighbour's late payments may lag behind what it
    /// owes before it is cut: by `now` it must have paid for the lateness up
    /// to `now - late_fee_grace_ms`. A neighbour silent for longer than this
    /// is checked against what it owed when last heard, and once back has
    /// this long to pay for the silence (see `offline_grace_ms`). Must exceed the peer's sync interval
    /// plus the edge latency, or honest peers get cut. Default `1_500`.
    pub late_fee_grace_ms: u64,
    /// Cut the downstream edge once a request on it is this late, instead of
    /// waiting for `max_late_ms` (the paper's §5.2: `Some(0)` severs at the
    /// deadline and sends the notice at once; `None` waits and lets late fees
    /// flow, §5.3). Default `None`.
    pub sever_overdue_after_ms: Option<u64>,
    /// Extra wait, per hop below this node's downstream edge, before a
    /// policy cut for lateness (`sever_overdue_after_ms`, `max_late_ms`). The
    /// node below reaches the same check one edge latency earlier and its
    /// notice takes at most that latency to arrive, so with promised
    /// latencies that cover processing no slack is needed; a positive value
    /// keeps an honest relay from being cut over a few ms of processing.
    /// (Drivers should deliver messages before timers that fall on the same
    /// millisecond.) Default `0`.
    pub hop_slack_ms: u64,
    /// How long a received severance notice may stay unconfirmed on chain
    /// before it is treated as a lie and the edge it came over is cut (the
    /// engine adds the promised round trip to the named channel as slack, so
    /// that an honest relay's corrected notice reaches us before our check).
    /// Default `60_000`.
    pub notice_confirm_ms: u64,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        FailurePolicy {
            missed_syncs: 3,
            offline_grace_ms: 30_000,
            late_fee_grace_ms: 1_500,
            sever_overdue_after_ms: None,
            hop_slack_ms: 0,
            notice_confirm_ms: 60_000,
        }
    }
}

/// Test-only fault injection (issue #6), clearly named and off by default.
/// The simulator and the end-to-end tests use it to play misbehaving nodes
/// with the real engine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultInjection {
    /// Never pay late fees (syncs still go out, without them). Default `false`.
    pub withhold_late_fees: bool,
    /// At a downstream deadline, send upstream a severance notice for a
    /// channel that is *not* severed, to dodge late fees. Default `false`.
    pub false_notices: bool,
    /// As `false_notices`, but the notice names a channel that is not on
    /// the request's route (a mis-addressed notice). Default `false`.
    pub misaddressed_notices: bool,
    /// Neither acknowledge, forward nor serve any paid request: drop every
    /// incoming request with no effect at all (a silent hop that stays
    /// connected and keeps syncing). Default `false`.
    pub drop_requests: bool,
    /// Answer every incoming paid request `Busy` (a first hop that refuses
    /// everything, within the rules), while still sending and relaying
    /// nothing else differently. Default `false`.
    pub refuse_requests: bool,
    /// As a relay, take the response from downstream (its sender is paid
    /// and released as usual) and never pass it upstream: the response is
    /// held hostage. Late fees upstream accrue as for any late answer.
    /// Default `false`.
    pub withhold_responses: bool,
}

/// Late fee for `lateness_ms` at `per_sec` yocto per second, with lateness
/// capped at `max_late_ms` (DESIGN §2.6). Rounds down; monotone in the
/// lateness, so a relay that receives for at least as much lateness as it
/// pays for is whole.
#[inline]
pub fn late_fee(per_sec: Amount, lateness_ms: u64, max_late_ms: u64) -> Amount {
    per_sec.saturating_mul(lateness_ms.min(max_late_ms) as Amount) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_fee_is_proportional_and_capped() {
        assert_eq!(late_fee(1000, 0, 100), 0);
        assert_eq!(late_fee(1000, 1, 100), 1);
        assert_eq!(late_fee(1000, 99, 100), 99);
        assert_eq!(late_fee(1000, 500, 100), 100);
        assert_eq!(late_fee(3, 999, 10_000), 2, "rounds down");
    }

    #[test]
    fn config_defaults_parse_from_nothing() {
        let c: ProtocolConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, ProtocolConfig::default());
        let c: ProtocolConfig =
            serde_json::from_str(r#"{"late_fee_per_sec":"7","policy":{"sever_overdue_after_ms":0}}"#).unwrap();
        assert_eq!(c.late_fee_per_sec, 7);
        assert_eq!(c.policy.sever_overdue_after_ms, Some(0));
        assert_eq!(c.policy.missed_syncs, 3);
        let c: ProtocolConfig = serde_json::from_str(r#"{"resend":{"max_resends":0}}"#).unwrap();
        assert_eq!((c.resend.max_resends, c.resend.margin_ms), (0, 50));
    }
}
