//! Nodes: registration with stake, adding stake, leaving, rejoining after a
//! partition, and the withdrawable balances every payout goes to.
//!
//! A node is a NEAR account plus an ed25519 node key. It gets a dense graph
//! index ([`por_core::NodeIdx`]) at registration; indices are never reused,
//! so a node that left stays in storage with status `left`. One account has
//! at most one live node, and a node key can be registered only once, ever.

use near_sdk::json_types::U128;
use near_sdk::{AccountId, near, require};
use por_core::canonical::DOMAIN_REGISTRATION;
use por_core::{NodeKey, Registration, Signature};

use crate::Contract;
use crate::events::Event;
use crate::vouchers::HostVerifier;

/// Bytes of storage the contract keeps room for, per registered node, for
/// a pending partition check's state (the search's visited and frontier
/// sets, then the partitioned side's list: at most 12 bytes per node).
pub const CHECK_BYTES_PER_NODE: u64 = 16;

/// Bytes of storage the contract keeps room for beyond that (records a call
/// may add before its fee is counted, the check's fixed part).
pub const STORAGE_MARGIN_BYTES: u64 = 4_000;

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

/// What the partition check and its settlement read of every node they
/// touch, kept in its own small record (17 bytes) so that learning a
/// neighbour's stake is one short storage read.
#[near(serializers = [borsh])]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeState {
    /// Its stake, yocto.
    pub stake: u128,
    /// Where it stands.
    pub status: NodeStatus,
}

pub use por_core::settlement::ClaimQueue;

/// A registered node as stored (what the partition search never reads).
#[near(serializers = [borsh])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Its account.
    pub account_id: AccountId,
    /// Its node key (verifies its vouchers).
    pub key: NodeKey,
    /// Service time it promises as a server, ms.
    pub service_ms: u64,
    /// Its channels that are not closed yet (proposed by it, open, closing,
    /// severed and settling).
    pub live: Vec<u64>,
    /// Claims against it.
    pub owed: ClaimQueue,
    /// Claims it holds.
    pub held: ClaimQueue,
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

    /// The stake and status of node `idx` (which must exist).
    pub(crate) fn state(&self, idx: u32) -> NodeState {
        *self.states.get(idx).unwrap_or_else(|| near_sdk::env::panic_str("internal: node index out of range"))
    }

    /// The stake and status of node `idx`, mutably (which must exist).
    pub(crate) fn state_mut(&mut self, idx: u32) -> &mut NodeState {
        self.states.get_mut(idx).unwrap_or_else(|| near_sdk::env::panic_str("internal: node index out of range"))
    }

    /// The open edges of node `idx`, mutably (which must exist).
    pub(crate) fn adj_mut(&mut self, idx: u32) -> &mut Vec<AdjEntry> {
        self.adj.get_mut(idx).unwrap_or_else(|| near_sdk::env::panic_str("internal: node index out of range"))
    }

    /// Takes `amount` from `account`'s withdrawable balance (which must
    /// hold it).
    pub(crate) fn debit(&mut self, account: &AccountId, amount: u128) {
        let have = self.balances.get(account).copied().unwrap_or(0);
        let left = have.checked_sub(amount).unwrap_or_else(|| near_sdk::env::panic_str("internal: balance underflow"));
        if left == 0 {
            self.balances.remove(account);
        } else {
            self.balances.insert(account.clone(), left);
        }
        self.total_balances -= amount;
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

    /// The contract's own money: its balance minus what it holds for
    /// others (withdrawable balances, stakes, channel deposits, a pending
    /// settlement's pool). Storage
    /// fees, the treasury and what the account was funded with at deploy.
    pub(crate) fn own_funds(&self) -> u128 {
        let others = self.total_balances + self.total_stake + self.total_deposits + self.partition_pool;
        near_sdk::env::account_balance().as_yoctonear().saturating_sub(others)
    }

    /// What the contract's own money must always cover: the storage it uses
    /// now plus room for the largest pending partition check
    /// ([`CHECK_BYTES_PER_NODE`] per registered node) and
    /// [`STORAGE_MARGIN_BYTES`], at the chain's price per byte. The treasury
    /// can never be withdrawn below it, so users' stakes and deposits never
    /// pay for storage and every withdrawal stays possible.
    pub fn storage_need(&self) -> u128 {
        let bytes = near_sdk::env::storage_usage()
            .saturating_add(STORAGE_MARGIN_BYTES)
            .saturating_add(CHECK_BYTES_PER_NODE.saturating_mul(self.nodes.len() as u64));
        (bytes as u128).saturating_mul(near_sdk::env::storage_byte_cost().as_yoctonear())
    }

    /// Refuses a node that may not open or confirm channels.
    pub(crate) fn require_can_open(&self, idx: u32, who: &str) {
        let n = self.state(idx);
        require!(
            n.status == NodeStatus::Active,
            format!(
                "{who} {} is {:?}: a partitioned node must call rejoin (with stake ≥ min_stake) first; a node that left must register again",
                self.rec(idx).account_id,
                n.status
            )
        );
        require!(
            n.stake >= self.config.min_stake.0,
            format!(
                "{who} {} has stake {} below min_stake {}: call add_stake first",
                self.rec(idx).account_id,
                n.stake,
                self.config.min_stake.0
            )
        );
    }

    /// `register_node`.
    pub(crate) fn do_register(
        &mut self,
        caller: AccountId,
        key: NodeKey,
        service_ms: u64,
        signature: &Signature,
        deposit: u128,
    ) -> u32 {
        let proof = Registration {
            contract: near_sdk::env::current_account_id().to_string(),
            account: caller.to_string(),
            node_key: key,
        };
        require!(
            proof.verify(signature, &HostVerifier),
            format!(
                "register_node: the signature does not prove node key {key}: sign the registration bytes (domain {DOMAIN_REGISTRATION}, contract {}, account {caller}, the key) with the node key itself",
                proof.contract
            )
        );
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
            service_ms,
            live: Vec::new(),
            owed: ClaimQueue::default(),
            held: ClaimQueue::default(),
        });
        self.states.push(NodeState { stake, status: NodeStatus::Active });
        self.adj.push(Vec::new());
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
        let n = self.state_mut(idx);
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
        let n = self.state_mut(idx);
        require!(
            n.status == NodeStatus::Partitioned,
            format!("rejoin is only for partitioned nodes; {caller} is {:?}", n.status)
        );
        let stake = n.stake + deposit;
        // Not require!: in a debug build it formats its message even when
        // the condition holds, and `min - stake` would underflow then.
        if stake < min {
            near_sdk::env::panic_str(&format!(
                "rejoin needs stake ≥ min_stake {min}: the node holds {} yocto, attach at least {} more",
                n.stake,
                min - stake
            ));
        }
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
        self.require_no_split("leave");
        let idx = self.index_of(&caller, "leave");
        let n = self.rec(idx);
        require!(
            n.live.is_empty(),
            format!("leave: close, finalize or cancel your channels first (not yet closed: {:?})", n.live)
        );
        // O(1): the queue counts its claims and knows the latest expiry.
        require!(
            n.owed.live == 0 || now_ms >= n.owed.until_ms,
            format!(
                "leave: {} reimbursement claims against you are still open; the last lapses at {} ms (claim_ttl_ms after it was made), retry then",
                n.owed.live, n.owed.until_ms
            )
        );
        let st = self.state_mut(idx);
        let returned = st.stake;
        st.stake = 0;
        st.status = NodeStatus::Left;
        self.total_stake -= returned;
        self.node_of.remove(&caller);
        self.credit(&caller, returned);
        self.bump_graph();
        Event::NodeLeft { account_id: caller, index: idx, returned: U128(returned) }.emit();
        U128(returned)
    }
}
