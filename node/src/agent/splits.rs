//! Splits the contract recorded (DESIGN §2.8): the agent reconnects when a
//! split leaves this node on the smaller side, and settles the splits it
//! is part of once their window has passed.
//!
//! A severance that splits the graph is not settled at once: the contract
//! records the split with a deadline `reconnect_window_ms` later, and only
//! a split still there at `settle` slashes the smaller side. An honest node
//! stranded there (it cut its only link to the network, or a node behind
//! which it sat was cut) is online, so it proposes a channel into the
//! larger side and is not slashed once that channel is confirmed. Whoever
//! made the cut does not matter: in the paper's topology Bob's cut of an
//! offline Eve strands honest Dave behind her, and Dave reconnects.
//!
//! The policy ([`ReconnectPolicy`]) says which peers to try and what
//! deposit to offer. An end of the severed channel tries at once; a node
//! stranded behind an end waits a third of the window first, so that a
//! reconnecting end usually makes its own proposal unnecessary. Each
//! candidate gets a quarter of the window that remains to confirm before
//! the next one is tried; proposals that were never confirmed are
//! cancelled once the contract allows it, so their deposits come back.

use std::collections::{BTreeMap, BTreeSet};

use near_primitives::types::AccountId;
use por_core::graph::GraphView;
use por_core::{Amount, EdgeParams, NodeIdx};
use tracing::{debug, info, warn};

use super::Agent;
use crate::chain::{ChainClient, ChainError, ChannelState, NodeStatus, SplitView};

/// Splits read per poll (the contract's views give at most 500 a page).
const SPLITS_PER_POLL: u32 = 100;

/// How the agent reconnects a node stranded on the small side of a split.
/// Every field's doc ends with its default.
#[derive(Debug, Clone)]
pub struct ReconnectPolicy {
    /// Reconnect at all. Default on.
    pub enabled: bool,
    /// Accounts to propose a channel to first, in this order (skipped while
    /// they are on the small side themselves). Then the larger side's
    /// active nodes, most stake first. The ends of the severed channel are
    /// tried only when listed here. Default none.
    pub peers: Vec<AccountId>,
    /// This node's deposit in each proposal (the contract's channel storage
    /// fee is added). Default: the largest deposit this node has had in a
    /// channel the agent tracked.
    pub deposit: Option<Amount>,
    /// Candidates proposed to per split before the agent gives up (and
    /// says so), and proposals out at once in all. Default 3.
    pub max_tries: u32,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy { enabled: true, peers: Vec::new(), deposit: None, max_tries: 3 }
    }
}

impl ReconnectPolicy {
    /// A policy that never reconnects.
    pub fn off() -> Self {
        ReconnectPolicy { enabled: false, ..ReconnectPolicy::default() }
    }
}

/// What the agent did about one pending split.
#[derive(Debug, Default)]
pub(super) struct SplitWatch {
    /// Proposals made for it: channel id, peer index, chain time made.
    proposals: Vec<(u64, NodeIdx, u64)>,
    /// Said that it gave up (so it says it once).
    gave_up: bool,
}

/// What the agent knows of its own channels, for proposals.
#[derive(Debug, Default)]
pub(super) struct OwnTerms {
    /// The largest deposit this node had in a tracked channel.
    pub(super) deposit: Amount,
    /// The parameters of the last channel it tracked.
    pub(super) params: Option<EdgeParams>,
}

impl<C: ChainClient> Agent<C> {
    /// Reads the pending splits; settles those this node is part of whose
    /// window passed, and reconnects when one leaves this node stranded.
    pub(super) async fn follow_splits(&mut self) -> Result<(), ChainError> {
        let page = self.contract.pending_splits(0, SPLITS_PER_POLL).await?;
        // Only a complete list can say which splits are over.
        if page.total <= page.splits.len() as u64 {
            self.handle.history().observe_splits(&page.splits, self.follower.version().unwrap_or(0));
        }
        let pending: BTreeSet<u64> = page.splits.iter().map(|s| s.channel_id).collect();
        self.split_watch.retain(|id, _| pending.contains(id));
        // Proposals of splits that are over (or that reconnected) which
        // nobody confirmed: take their deposits back when allowed.
        self.cancel_stale_proposals().await;
        if page.splits.is_empty() {
            return Ok(());
        }
        let now = self.contract.chain().status().await?.time_ms;
        let Some(me) = self.my_index() else { return Ok(()) };
        // One pass over the graph for every split (the partition rule of
        // `por_core::partition`, decided here for each split's two ends).
        let sides = Sides::of(self.follower.graph());
        for split in &page.splits {
            let (Some(severer), Some(other)) =
                (self.follower.index_of(&split.severer), self.follower.index_of(&split.other))
            else {
                continue;
            };
            let small = sides.smaller(severer, other);
            let stranded = small.is_some_and(|s| sides.of_node(me) == s);
            let end = me == severer || me == other;
            if now >= split.settle_after_ms {
                if self.config.settle_splits && (end || stranded || self.split_watch.contains_key(&split.channel_id)) {
                    self.settle(split.channel_id).await;
                }
            } else if let Some(small) = small.filter(|_| stranded && self.config.reconnect.enabled) {
                self.reconnect(split, &sides, small, end, now).await;
            }
        }
        Ok(())
    }

    /// Calls `settle` for the split of `channel` and drives the check it
    /// starts. A refusal (someone settled it first, or another check is
    /// pending) is left to the next poll.
    async fn settle(&self, channel: u64) {
        match self.contract.settle(channel).await {
            Ok(s) => {
                info!(channel, ?s.outcome, "settled the split after its reconnection window");
                if s.is_pending() {
                    self.drive_partition_check().await;
                }
            }
            Err(e) => debug!(channel, "settle refused (retried at the next poll while the split is pending): {e}"),
        }
    }

    /// This node is on the small side of `split`, whose window is open:
    /// propose a channel into the larger side, one candidate at a time.
    async fn reconnect(&mut self, split: &SplitView, sides: &Sides, small: NodeIdx, end: bool, now: u64) {
        let window = split.settle_after_ms.saturating_sub(split.severed_at_ms);
        if !end && now < split.severed_at_ms + window / 3 {
            return;
        }
        let watch = self.split_watch.entry(split.channel_id).or_default();
        if let Some(&(_, _, made)) = watch.proposals.last() {
            // A quarter of what was left of the window when it was made.
            let wait = split.settle_after_ms.saturating_sub(made) / 4;
            if now < made + wait {
                return;
            }
        }
        if watch.proposals.len() as u32 >= self.config.reconnect.max_tries {
            let tries = watch.proposals.len();
            return self.give_up(split.channel_id, &format!("no proposal of {tries} was confirmed"));
        }
        // However many splits an answer lists, at most `max_tries`
        // proposals (and their deposits) are out at once.
        if self.proposed.len() as u32 >= self.config.reconnect.max_tries {
            return;
        }
        let tried: Vec<NodeIdx> = watch.proposals.iter().map(|p| p.1).collect();
        let Some(peer) = self.candidate(split, sides, small, &tried) else {
            return self.give_up(split.channel_id, "no peer of the larger side is left to propose to");
        };
        let deposit = self.config.reconnect.deposit.unwrap_or(self.own_terms.deposit);
        if deposit == 0 {
            return self.give_up(split.channel_id, "no deposit is known to propose with (set the reconnect deposit)");
        }
        let params = match self.own_terms.params {
            Some(p) => p,
            None => match self.contract.channel(split.channel_id).await {
                Ok(Some(c)) => c.params,
                _ => return,
            },
        };
        let fee = match self.contract.config().await {
            Ok(c) => c.channel_storage_fee,
            Err(e) => return debug!("cannot read the config to reconnect: {e}"),
        };
        let Some(account) = self.follower.node(peer).map(|n| n.account_id.clone()) else { return };
        match self.contract.open_channel(&account, params, deposit.saturating_add(fee)).await {
            Ok(id) => {
                info!(split = split.channel_id, channel = id, %account, "stranded by a split: proposed a channel into the larger side");
                self.split_watch.entry(split.channel_id).or_default().proposals.push((id, peer, now));
                self.proposed.insert(id, now);
            }
            Err(e) => {
                warn!(split = split.channel_id, %account, "cannot propose a channel to reconnect (next candidate later): {e}");
                // Counts as a try, so a peer that cannot be proposed to is
                // not tried forever.
                self.split_watch.entry(split.channel_id).or_default().proposals.push((0, peer, now));
            }
        }
    }

    /// Says once per split that this node stays stranded, and why.
    fn give_up(&mut self, split: u64, why: &str) {
        let watch = self.split_watch.entry(split).or_default();
        if !watch.gave_up {
            watch.gave_up = true;
            warn!(
                split,
                "stranded on the small side of a split and not reconnecting: {why}; open a channel into the \
                 larger side before the window ends, or this node is slashed when the split is settled"
            );
        }
    }

    /// The next peer to propose to: the policy's list first, then the
    /// larger side by stake. Never a node of the small side, one already
    /// tried, or (unless listed) an end of the severed channel.
    fn candidate(&self, split: &SplitView, sides: &Sides, small: NodeIdx, tried: &[NodeIdx]) -> Option<NodeIdx> {
        let me = self.my_index()?;
        let usable = |i: NodeIdx| {
            i != me
                && sides.of_node(i) != small
                && !tried.contains(&i)
                && self.follower.node(i).is_some_and(|n| n.status == NodeStatus::Active)
        };
        let listed = self.config.reconnect.peers.iter().filter_map(|a| self.follower.index_of(a));
        if let Some(p) = listed.clone().find(|&i| usable(i)) {
            return Some(p);
        }
        let ends = [self.follower.index_of(&split.severer), self.follower.index_of(&split.other)];
        let node_count = self.follower.graph().node_count() as NodeIdx;
        (0..node_count)
            .filter(|&i| usable(i) && !ends.contains(&Some(i)))
            .max_by_key(|&i| (self.follower.graph().stake(i), std::cmp::Reverse(i)))
    }

    /// Reads this agent's reconnection proposals: forgets those confirmed
    /// or gone, and cancels those still unconfirmed once the contract
    /// allows it (`proposal_timeout_ms` after they were made) and they are
    /// not the current try of a pending split, so their deposits come back.
    async fn cancel_stale_proposals(&mut self) {
        if self.proposed.is_empty() {
            return;
        }
        let (now, timeout) = match (self.contract.chain().status().await, self.contract.config().await) {
            (Ok(s), Ok(c)) => (s.time_ms, c.proposal_timeout_ms),
            _ => return,
        };
        let out: Vec<(u64, u64)> = self.proposed.iter().map(|(id, made)| (*id, *made)).collect();
        for (id, made) in out {
            let current = self.split_watch.values().any(|w| w.proposals.last().is_some_and(|p| p.0 == id));
            match self.contract.channel(id).await {
                Ok(Some(c)) if c.state == ChannelState::Proposed => {
                    if current || now <= made + timeout {
                        continue;
                    }
                    match self.contract.cancel_proposal(id).await {
                        Ok(_) => {
                            info!(
                                channel = id,
                                "cancelled an unconfirmed reconnection proposal; its deposit is withdrawable"
                            );
                            self.proposed.remove(&id);
                        }
                        Err(e) => debug!(channel = id, "cancel_proposal (retried at the next poll): {e}"),
                    }
                }
                // Confirmed (or gone): no longer out.
                Ok(_) => {
                    self.proposed.remove(&id);
                }
                Err(e) => debug!(channel = id, "cannot read a reconnection proposal: {e}"),
            }
        }
    }
}

/// The graph's components with their stakes: which side of a split is the
/// smaller, as the contract decides it (by stake; a tie partitions nobody).
struct Sides {
    /// Each node's component label.
    label: Vec<NodeIdx>,
    /// Each label's total stake.
    stake: std::collections::HashMap<NodeIdx, Amount>,
}

impl Sides {
    fn of(g: &por_core::graph::Graph) -> Sides {
        let label = g.components();
        let mut stake = std::collections::HashMap::new();
        for (n, l) in label.iter().enumerate() {
            let s: &mut Amount = stake.entry(*l).or_default();
            *s = s.saturating_add(g.stake(n as NodeIdx));
        }
        Sides { label, stake }
    }

    fn of_node(&self, n: NodeIdx) -> NodeIdx {
        self.label[n as usize]
    }

    /// The label of the smaller side if `a` and `b` are apart and their
    /// sides' stakes differ.
    fn smaller(&self, a: NodeIdx, b: NodeIdx) -> Option<NodeIdx> {
        let (la, lb) = (self.of_node(a), self.of_node(b));
        let (sa, sb) = (self.stake[&la], self.stake[&lb]);
        match sa.cmp(&sb) {
            _ if la == lb => None,
            std::cmp::Ordering::Less => Some(la),
            std::cmp::Ordering::Greater => Some(lb),
            std::cmp::Ordering::Equal => None,
        }
    }
}

/// The splits the agent is acting on, by severed channel.
pub(super) type SplitWatches = BTreeMap<u64, SplitWatch>;
