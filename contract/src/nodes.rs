//! Nodes: registration with stake, adding stake, leaving, rejoining after a
//! partition, and the withdrawable balances every payout goes to.
//!
//! A node is a NEAR account plus an ed25519 node key. It gets a dense graph
//! index ([`por_core::NodeIdx`]) at registration; indices are never reused,
//! so a node that left stays in storage with status `left`. One account has
//! at most one live node, and a node key can be registered only once, ever.

use near_sdk::json_types::U128;
use near_sdk::{AccountId, near, require};
use por_core::NodeKey;

use crate::Contract;
use crate::events::Event;

/// Where a node stands.
#[near(serializers = [borsh, json])]
#[serde(rename_all = "snake_case")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeStatus {
    /// Registered and in good standing.
    Active,
    /// Was on the smaller side of a split; must `rejoin` before opening or
    /// confirming channels.
    Partitioned,
    /// Left; its stake was returned. The index is never reused.
    Left,
}

/// One open edge of a node.
#[near(serializers = [borsh])]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdjEntry {
    /// The neighbour.
    pub peer: u32,
    /// The channel to it.
    pub channel: u64,
}

/// A registered node as stored.
#[near(serializers = [borsh])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Its account.
    pub account_id: AccountId,
    /// Its node key (verifies its vouchers).
    pub key: NodeKey,
    /// Its stake, yocto.
    pub stake: u128,
    /// Service time it promises as a server, ms.
    pub service_ms: u64,
    /// Where it stands.
    pub status: NodeStatus,
    /// Its open edges (what the partition check reads).
    pub adj: Vec<AdjEntry>,
    /// Its channels that are not closed yet (proposed by it, open, closing,
    /// severed and settling).
    pub live: Vec<u64>,
    /// Ids of claims against it (some may be paid or lapsed already).
    pub claims_owed: Vec<u64>,
    /// Ids of claims it holds (some may be paid or lapsed already).
    pub claims_held: Vec<u64>,
}

impl Contract {
    /// The node index of `account`, refusing with `what` when there is none.
    pub(crate) fn index_of(&self, account: &AccountId, what: &str) -> u32 {
        match self.node_of.get(account) {
            Some(i) => *i,
            None => near_sdk::env::panic_str(&format!(
                "{what}: account {account} is not a registered node; call register_node first"
            )),
        }
    }

    /// The node at `idx` (which must exist).
    pub(crate) fn rec(&self, idx: u32) -> &Node {
        self.nodes.get(idx).unwrap_or_else(|| near_sdk::env::panic_str("internal: node index out of range"))
    }

    /// The node at `idx`, mutably (which must exist).
    pub(crate) fn rec_mut(&mut self, idx: u32) -> &mut Node {
        self.nodes.get_mut(idx).unwrap_or_else(|| near_sdk::env::panic_str("internal: node index out of range"))
    }

    /// Credits `amount` to `account`'s withdrawable balance.
    pub(crate) fn credit(&mut self, account: &AccountId, amount: u128) {
        if amount == 0 {
            return;
        }
        let b = self.balances.entry(account.clone()).or_insert(0);
        *b = b.checked_add(amount).unwrap_or_else(|| near_sdk::env::panic_str("internal: balance overflow"));
        self.total_balances += amount;
    }

    /// Refuses a node that may not open or confirm channels.
    pub(crate) fn require_can_open(&self, idx: u32, who: &str) {
        let n = self.rec(idx);
        require!(
            n.status == NodeStatus::Active,
            format!(
                "{who} {} is {:?}: a partitioned node must call rejoin (with stake ≥ min_stake) first; a node that left must register again",
                n.account_id, n.status
            )
        );
        require!(
            n.stake >= self.config.min_stake.0,
            format!(
                "{who} {} has stake {} below min_stake {}: call add_stake first",
                n.account_id, n.stake, self.config.min_stake.0
            )
        );
    }

    /// `register_node`.
    pub(crate) fn do_register(&mut self, caller: AccountId, key: NodeKey, service_ms: u64, deposit: u128) -> u32 {
        require!(
            !self.node_of.contains_key(&caller),
            format!(
                "account {caller} is already a registered node; one node key per account (use add_stake to add stake)"
            )
        );
        require!(
            !self.keys.contains(&key),
            format!("node key {key} is already registered; generate a fresh node key for a new node")
        );
        let fee = self.config.node_storage_fee.0;
        let need = self.config.min_stake.0.saturating_add(fee);
        require!(
            deposit >= need,
            format!(
                "register_node needs an attached deposit of at least {need} yocto (min_stake {} + node_storage_fee {fee}); attached {deposit}",
                self.config.min_stake.0
            )
        );
        let stake = deposit - fee;
        let index = self.nodes.len();
        self.nodes.push(Node {
            account_id: caller.clone(),
            key,
            stake,
            service_ms,
            status: NodeStatus::Active,
            adj: Vec::new(),
            live: Vec::new(),
            claims_owed: Vec::new(),
            claims_held: Vec::new(),
        });
        self.node_of.insert(caller.clone(), index);
        self.keys.insert(key);
        self.storage_reserve += fee;
        self.total_stake += stake;
        self.bump_graph();
        Event::NodeRegistered { account_id: caller, index, node_key: key, stake: U128(stake), service_ms }.emit();
        index
    }

    /// `add_stake`.
    pub(crate) fn do_add_stake(&mut self, caller: AccountId, deposit: u128) -> U128 {
        self.require_no_check("add_stake");
        let idx = self.index_of(&caller, "add_stake");
        require!(deposit > 0, "add_stake needs an attached deposit: the amount to add, in yocto");
        let n = self.rec_mut(idx);
        n.stake += deposit;
        let stake = n.stake;
        self.total_stake += deposit;
        self.bump_graph();
        Event::StakeAdded { account_id: caller, index: idx, amount: U128(deposit), stake: U128(stake) }.emit();
        U128(stake)
    }

    /// `rejoin`.
    pub(crate) fn do_rejoin(&mut self, caller: AccountId, deposit: u128) -> U128 {
        self.require_no_check("rejoin");
        let idx = self.index_of(&caller, "rejoin");
        let min = self.config.min_stake.0;
        let n = self.rec_mut(idx);
        require!(
            n.status == NodeStatus::Partitioned,
            format!("rejoin is only for partitioned nodes; {caller} is {:?}", n.status)
        );
        let stake = n.stake + deposit;
        require!(
            stake >= min,
            format!(
                "rejoin needs stake ≥ min_stake {min}: the node holds {} yocto, attach at least {} more",
                n.stake,
                min - stake
            )
        );
        n.stake = stake;
        n.status = NodeStatus::Active;
        self.total_stake += deposit;
        self.bump_graph();
        if deposit > 0 {
            Event::StakeAdded { account_id: caller.clone(), index: idx, amount: U128(deposit), stake: U128(stake) }
                .emit();
        }
        Event::NodeRejoined { account_id: caller, index: idx, stake: U128(stake) }.emit();
        U128(stake)
    }

    /// `leave`.
    pub(crate) fn do_leave(&mut self, caller: AccountId, now_ms: u64) -> U128 {
        self.require_no_check("leave");
        let idx = self.index_of(&caller, "leave");
        let n = self.rec(idx);
        require!(
            n.live.is_empty(),
            format!("leave: close, finalize or cancel your channels first (not yet closed: {:?})", n.live)
        );
        let ttl = self.config.claim_ttl_ms;
        let open_claims: Vec<u64> = n
            .claims_owed
            .iter()
            .filter(|id| self.claims.get(id).is_some_and(|c| now_ms < c.created_ms.saturating_add(ttl)))
            .copied()
            .collect();
        require!(
            open_claims.is_empty(),
            format!(
                "leave: reimbursement claims against you are still open (ids {open_claims:?}); they lapse claim_ttl_ms after they were made"
            )
        );
        let n = self.rec_mut(idx);
        let returned = n.stake;
        n.stake = 0;
        n.status = NodeStatus::Left;
        self.total_stake -= returned;
        self.node_of.remove(&caller);
        self.credit(&caller, returned);
        self.bump_graph();
        Event::NodeLeft { account_id: caller, index: idx, returned: U128(returned) }.emit();
        U128(returned)
    }
}
