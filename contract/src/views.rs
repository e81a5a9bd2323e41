//! Read-only views: what nodes, clients and tests read. Every type here is
//! JSON only; amounts are decimal strings.

use near_sdk::json_types::U128;
use near_sdk::{AccountId, near};
use por_core::{EdgeParams, NodeKey};

use crate::Contract;
use crate::channels::{Channel, ChannelState};
use crate::claims::Claim;
use crate::nodes::NodeStatus;

/// Most items one page returns.
pub const MAX_PAGE: u32 = 500;

/// A node.
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeView {
    /// Graph index.
    pub index: u32,
    /// Account.
    pub account_id: AccountId,
    /// Node key.
    pub node_key: NodeKey,
    /// Stake.
    pub stake: U128,
    /// Promised service time, ms.
    pub service_ms: u64,
    /// `active`, `partitioned` or `left`.
    pub status: NodeStatus,
    /// Open edges.
    pub open_edges: u32,
    /// Channels not closed yet.
    pub live_channels: u32,
}

/// An open edge (or a closing one: see `closing`).
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeView {
    /// The channel.
    pub channel_id: u64,
    /// Opener index.
    pub a: u32,
    /// Peer index.
    pub b: u32,
    /// Opener account.
    pub a_account: AccountId,
    /// Peer account.
    pub b_account: AccountId,
    /// Parameters.
    pub params: EdgeParams,
    /// Opener deposit.
    pub deposit_a: U128,
    /// Peer deposit.
    pub deposit_b: U128,
    /// True once one side proposed a cooperative close: the edge still
    /// binds its two ends (the partition check counts it) but carries no
    /// new requests.
    pub closing: bool,
}

/// A channel in any state.
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelView {
    /// The channel.
    pub channel_id: u64,
    /// Opener index.
    pub a: u32,
    /// Peer index.
    pub b: u32,
    /// Opener account.
    pub a_account: AccountId,
    /// Peer account.
    pub b_account: AccountId,
    /// Parameters.
    pub params: EdgeParams,
    /// Opener deposit.
    pub deposit_a: U128,
    /// Peer deposit.
    pub deposit_b: U128,
    /// Best voucher recorded with payer `a`.
    pub paid_by_a: U128,
    /// Best voucher recorded with payer `b`.
    pub paid_by_b: U128,
    /// `proposed`, `open`, `close_proposed`, `severed` or `closed`.
    pub state: String,
    /// When it was proposed.
    pub proposed_at_ms: u64,
    /// Who proposed the cooperative close, if any.
    pub close_proposer: Option<AccountId>,
    /// Who severed, if severed (kept once the severance is finalized, so
    /// a closed channel that was severed is told from a cooperative close).
    pub severer: Option<AccountId>,
    /// When it was severed.
    pub severed_at_ms: Option<u64>,
    /// When `finalize` becomes possible.
    pub challenge_deadline_ms: Option<u64>,
}

/// A claim.
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimView {
    /// The claim.
    pub id: u64,
    /// Who is owed.
    pub creditor: AccountId,
    /// Who owes.
    pub debtor: AccountId,
    /// Amount.
    pub amount: U128,
    /// The severed channel.
    pub channel_id: u64,
    /// When it was made.
    pub created_ms: u64,
    /// When it lapses.
    pub expires_ms: u64,
}

/// An account's claims.
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ClaimsView {
    /// Claims against it.
    pub owed_by: Vec<ClaimView>,
    /// Claims it holds.
    pub held: Vec<ClaimView>,
}

/// An account's money in the contract.
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalancesView {
    /// What it may withdraw.
    pub withdrawable: U128,
    /// Its node's stake.
    pub stake: U128,
    /// Its deposits in channels not yet settled.
    pub in_channels: U128,
}

/// The contract's books: everything it holds for someone.
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TotalsView {
    /// Penalties and slashing not paid out.
    pub treasury: U128,
    /// Storage fees kept.
    pub storage_reserve: U128,
    /// Withdrawable balances.
    pub balances: U128,
    /// Stakes.
    pub stakes: U128,
    /// Channel deposits.
    pub deposits: U128,
    /// Stake slashed by a pending partition settlement, not yet paid out.
    pub partition_pool: U128,
}

/// A page of nodes.
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodesPage {
    /// The graph version the page was read at.
    pub graph_version: u64,
    /// Number of nodes ever registered.
    pub total: u64,
    /// The page.
    pub nodes: Vec<NodeView>,
}

/// A page of open edges.
#[near(serializers = [json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgesPage {
    /// The graph version the page was read at.
    pub graph_version: u64,
    /// Number of open edges.
    pub total: u64,
    /// The page.
    pub edges: Vec<EdgeView>,
}

impl Contract {
    pub(crate) fn node_view(&self, index: u32) -> Option<NodeView> {
        let n = self.nodes.get(index)?;
        let st = self.state(index);
        Some(NodeView {
            index,
            account_id: n.account_id.clone(),
            node_key: n.key,
            stake: U128(st.stake),
            service_ms: n.service_ms,
            status: st.status,
            open_edges: self.adj.get(index).map_or(0, |a| a.len() as u32),
            live_channels: n.live.len() as u32,
        })
    }

    pub(crate) fn channel_view(&self, c: &Channel) -> ChannelView {
        let acc = |i: u32| self.rec(i).account_id.clone();
        let side = |by_a: bool| acc(if by_a { c.a } else { c.b });
        let (close_proposer, severer, severed_at_ms, challenge_deadline_ms) = match c.state {
            ChannelState::CloseProposed { by_a } => (Some(side(by_a)), None, None, None),
            ChannelState::Severed { by_a, at_ms, deadline_ms } => {
                (None, Some(side(by_a)), Some(at_ms), Some(deadline_ms))
            }
            ChannelState::Closed { severed_by_a: Some(by_a) } => (None, Some(side(by_a)), None, None),
            _ => (None, None, None, None),
        };
        ChannelView {
            channel_id: c.id,
            a: c.a,
            b: c.b,
            a_account: acc(c.a),
            b_account: acc(c.b),
            params: c.params,
            deposit_a: U128(c.deposit_a),
            deposit_b: U128(c.deposit_b),
            paid_by_a: U128(c.paid_by_a),
            paid_by_b: U128(c.paid_by_b),
            state: c.state.name().to_string(),
            proposed_at_ms: c.proposed_at_ms,
            close_proposer,
            severer,
            severed_at_ms,
            challenge_deadline_ms,
        }
    }

    pub(crate) fn edge_view(&self, c: &Channel) -> EdgeView {
        EdgeView {
            channel_id: c.id,
            a: c.a,
            b: c.b,
            a_account: self.rec(c.a).account_id.clone(),
            b_account: self.rec(c.b).account_id.clone(),
            params: c.params,
            deposit_a: U128(c.deposit_a),
            deposit_b: U128(c.deposit_b),
            closing: matches!(c.state, ChannelState::CloseProposed { .. }),
        }
    }

    fn claim_view(&self, c: &Claim) -> ClaimView {
        ClaimView {
            id: c.id,
            creditor: self.rec(c.creditor).account_id.clone(),
            debtor: self.rec(c.debtor).account_id.clone(),
            amount: U128(c.amount),
            channel_id: c.channel,
            created_ms: c.created_ms,
            expires_ms: c.expires_ms,
        }
    }

    pub(crate) fn claims_view(&self, account: &AccountId, now_ms: u64) -> ClaimsView {
        let Some(&i) = self.node_of.get(account) else { return ClaimsView::default() };
        let pick = |owed: bool| -> Vec<ClaimView> {
            self.list_claims(i, owed, now_ms).into_iter().map(|(_, c)| self.claim_view(c)).collect()
        };
        ClaimsView { owed_by: pick(true), held: pick(false) }
    }

    pub(crate) fn balances_view(&self, account: &AccountId) -> BalancesView {
        let withdrawable = self.balances.get(account).copied().unwrap_or(0);
        let (stake, in_channels) = match self.node_of.get(account) {
            None => (0, 0),
            Some(&i) => {
                let n = self.rec(i);
                let dep: u128 = n
                    .live
                    .iter()
                    .filter_map(|id| self.channels.get(id))
                    .map(|c| if c.a == i { c.deposit_a } else { c.deposit_b })
                    .sum();
                (self.state(i).stake, dep)
            }
        };
        BalancesView { withdrawable: U128(withdrawable), stake: U128(stake), in_channels: U128(in_channels) }
    }

    pub(crate) fn totals_view(&self) -> TotalsView {
        TotalsView {
            treasury: U128(self.treasury),
            storage_reserve: U128(self.storage_reserve),
            balances: U128(self.total_balances),
            stakes: U128(self.total_stake),
            deposits: U128(self.total_deposits),
            partition_pool: U128(self.partition_pool),
        }
    }

    pub(crate) fn nodes_page(&self, from: u32, limit: u32) -> NodesPage {
        let end = from.saturating_add(limit.min(MAX_PAGE)).min(self.nodes.len());
        NodesPage {
            graph_version: self.graph_version,
            total: self.nodes.len() as u64,
            nodes: (from..end).filter_map(|i| self.node_view(i)).collect(),
        }
    }

    pub(crate) fn edges_page(&self, from: u32, limit: u32) -> EdgesPage {
        let edges = self
            .open_edges
            .iter()
            .skip(from as usize)
            .take(limit.min(MAX_PAGE) as usize)
            .filter_map(|id| self.channels.get(id))
            .map(|c| self.edge_view(c))
            .collect();
        EdgesPage { graph_version: self.graph_version, total: self.open_edges.len() as u64, edges }
    }
}
