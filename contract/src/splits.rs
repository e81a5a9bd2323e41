//! Splits waiting for their reconnection window (DESIGN §2.8).
//!
//! A severance whose partition check finds the graph split does not slash
//! anyone at once: it records a [`Split`] with a deadline
//! `reconnect_window_ms` after the severance. Until then the nodes on the
//! smaller side stay active, so an honest one that was stranded (its only
//! link to the network was the node it cut, or a node that was cut) can
//! open and get confirmed a channel into the larger side. From the deadline
//! on anyone may call `settle(channel_id)`: it runs the partition search
//! again between the two ends, in the same bounded resumable steps
//! (`continue_partition_check`), and only if they are still apart is the
//! smaller side, as it is *then*, slashed by the `partition_slash_bps` in
//! force at the severance, and the claims on it paid. The rules are
//! por-core's [`por_core::settlement`]; this module keeps the records, the
//! method and the views.
//!
//! While any split is pending, `leave` is refused (a node of the smaller
//! side could otherwise close its channels and take its stake out before
//! the settlement); whoever wants to leave may call `settle` itself once
//! the deadline has passed.

use near_sdk::json_types::U128;
use near_sdk::{AccountId, near, require};
use por_core::Outcome;
use por_core::settlement::Check;

use crate::Contract;
use crate::events::{Event, OutcomeSummary};
use crate::partition::{CheckStatus, Store};
use crate::views::MAX_PAGE;

/// A recorded split, waiting for `settle`.
#[near(serializers = [borsh])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// The severed channel (the split's key).
    pub channel: u64,
    /// Who severed.
    pub severer: u32,
    /// The other end.
    pub other: u32,
    /// When it was severed.
    pub at_ms: u64,
    /// When `settle` becomes possible.
    pub deadline_ms: u64,
    /// `partition_slash_bps` in force at the severance.
    pub slash_bps: u32,
    /// Nodes on the smaller side at the severance.
    pub nodes: u32,
    /// Their stake then.
    pub stake: u128,
}

/// A pending split as views show it.
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitView {
    /// The severed channel.
    pub channel_id: u64,
    /// Who severed.
    pub severer: AccountId,
    /// The other end.
    pub other: AccountId,
    /// When it was severed.
    pub severed_at_ms: u64,
    /// When `settle` becomes possible.
    pub settle_after_ms: u64,
    /// The slash that applies if the split is still there then, basis points.
    pub slash_bps: u32,
    /// Nodes on the smaller side at the severance.
    pub nodes: u32,
    /// Their stake then.
    pub stake: U128,
}

/// A page of pending splits.
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitsPage {
    /// Pending splits in all.
    pub total: u64,
    /// This page, in storage order (a settled split's place is taken by
    /// the last one).
    pub splits: Vec<SplitView>,
}

impl Contract {
    /// Records the split found by the check after the severance of
    /// `check.channel` (called when that check ends partitioned).
    pub(crate) fn record_split(&mut self, check: &Check) {
        let Some(Outcome::Partitioned { nodes, stake }) = &check.outcome else { return };
        let deadline_ms = check.deadline_ms;
        let split = Split {
            channel: check.channel,
            severer: check.ends.0,
            other: check.ends.1,
            at_ms: check.at_ms,
            deadline_ms,
            slash_bps: check.slash_bps,
            nodes: nodes.len() as u32,
            stake: *stake,
        };
        Event::SplitRecorded {
            channel_id: split.channel,
            severer: self.rec(split.severer).account_id.clone(),
            other: self.rec(split.other).account_id.clone(),
            nodes: split.nodes,
            stake: U128(split.stake),
            settle_after_ms: deadline_ms,
        }
        .emit();
        self.splits.insert(split.channel, split);
    }

    /// `settle`: re-checks the split of `channel` after its window and
    /// settles it if the ends are still apart.
    pub(crate) fn do_settle(&mut self, channel: u64, now_ms: u64) -> CheckStatus {
        self.require_no_check("settle");
        let Some(split) = self.splits.get(&channel).cloned() else {
            near_sdk::env::panic_str(&format!(
                "settle: no split is pending for channel {channel} (it was never recorded, or is settled); see the view pending_splits"
            ))
        };
        require!(
            now_ms >= split.deadline_ms,
            format!(
                "settle: the reconnection window of channel {channel} lasts until {} ms (now {now_ms}); retry then",
                split.deadline_ms
            )
        );
        self.splits.remove(&channel);
        let check = Check::new(&Store::new(self), channel, split.severer, split.other, now_ms, split.slash_bps, true);
        self.check_channel = Some(channel);
        self.run_check(check)
    }

    /// Emits `split_settled` when a settling check ends.
    pub(crate) fn split_settled(&self, check: &Check) {
        Event::SplitSettled {
            channel_id: check.channel,
            outcome: check.outcome.as_ref().map(OutcomeSummary::from).unwrap_or(OutcomeSummary {
                kind: "connected".into(),
                nodes: 0,
                stake: U128(0),
            }),
        }
        .emit();
    }

    /// Refuses `what` while a split is pending.
    pub(crate) fn require_no_split(&self, what: &str) {
        if let Some((id, s)) = self.splits.iter().next() {
            near_sdk::env::panic_str(&format!(
                "{what}: the split after the severance of channel {id} is pending until {} ms; call settle({id}) (anyone may) from then on, then retry",
                s.deadline_ms
            ));
        }
    }

    fn split_view(&self, s: &Split) -> SplitView {
        SplitView {
            channel_id: s.channel,
            severer: self.rec(s.severer).account_id.clone(),
            other: self.rec(s.other).account_id.clone(),
            severed_at_ms: s.at_ms,
            settle_after_ms: s.deadline_ms,
            slash_bps: s.slash_bps,
            nodes: s.nodes,
            stake: U128(s.stake),
        }
    }

    /// The pending split of `channel`, if any.
    pub(crate) fn split_of(&self, channel: u64) -> Option<SplitView> {
        self.splits.get(&channel).map(|s| self.split_view(s))
    }

    /// A page of pending splits.
    pub(crate) fn splits_page(&self, from: u32, limit: u32) -> SplitsPage {
        let splits = self
            .splits
            .values()
            .skip(from as usize)
            .take(limit.min(MAX_PAGE) as usize)
            .map(|s| self.split_view(s))
            .collect();
        SplitsPage { total: self.splits.len() as u64, splits }
    }
}
