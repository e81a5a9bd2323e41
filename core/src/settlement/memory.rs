//! An in-memory [`SettlementStore`]: the graph with its stakes, balances,
//! the treasury, the reserve, the pool and the claims, in plain
//! collections. The simulator's chain model and the tests of this module
//! run the settlement over it; the contract runs the same rules over its
//! NEAR storage.

use std::cell::Cell;
use std::collections::BTreeMap;

use super::{Claim, ClaimKey, ClaimQueue, Pot, Role, SettleEvent, SettlementStore};
use crate::graph::{Graph, GraphView, NodeIdx, NodeInfo};
use crate::voucher::Amount;

/// Everything the settlement reads and writes, in memory.
#[derive(Debug, Clone, Default)]
pub struct MemStore {
    /// The open edges, and every node's stake (in its [`NodeInfo`]).
    pub graph: Graph,
    /// Whether each node was partitioned (and has not rejoined).
    pub partitioned: Vec<bool>,
    /// Withdrawable balances.
    pub balance: Vec<Amount>,
    /// Penalties and slashes not paid back.
    pub treasury: Amount,
    /// Claim storage fees.
    pub reserve: Amount,
    /// Slashed and not yet paid out.
    pub pool: Amount,
    /// Whether [`SettlementStore::emit`] keeps events in `events`.
    pub keep_events: bool,
    /// Events kept (when `keep_events`).
    pub events: Vec<SettleEvent>,
    owed: Vec<ClaimQueue>,
    held_q: Vec<ClaimQueue>,
    claims: BTreeMap<ClaimKey, Claim>,
    held: BTreeMap<ClaimKey, ClaimKey>,
    next_claim: u64,
    reads: Cell<u64>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        MemStore { next_claim: 1, ..Self::default() }
    }

    /// Adds a node with `info`; returns its index.
    pub fn add_node(&mut self, info: NodeInfo) -> NodeIdx {
        self.partitioned.push(false);
        self.balance.push(0);
        self.owed.push(ClaimQueue::default());
        self.held_q.push(ClaimQueue::default());
        self.graph.add_node(info)
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.partitioned.len()
    }

    /// Sets `n`'s stake.
    pub fn set_stake(&mut self, n: NodeIdx, stake: Amount) {
        let mut info = *self.graph.node(n).expect("node index in range");
        info.stake = stake;
        self.graph.set_node(n, info).expect("node index in range");
    }

    /// The unpaid claims, lapsed ones not yet pruned included, by key.
    pub fn claims(&self) -> impl Iterator<Item = (&ClaimKey, &Claim)> {
        self.claims.iter()
    }

    /// Sum of all stakes.
    pub fn total_stake(&self) -> Amount {
        (0..self.node_count() as NodeIdx).map(|n| self.graph.stake(n)).sum()
    }

    /// Money held in stakes, balances, treasury, reserve and pool.
    pub fn held_money(&self) -> Amount {
        self.total_stake() + self.balance.iter().sum::<Amount>() + self.treasury + self.reserve + self.pool
    }

    /// Starts counting reads afresh (one call's allowance).
    pub fn reset_reads(&self) {
        self.reads.set(0);
    }

    fn pot(&mut self, p: Pot) -> &mut Amount {
        match p {
            Pot::Balance(n) => &mut self.balance[n as usize],
            Pot::Treasury => &mut self.treasury,
            Pot::Reserve => &mut self.reserve,
            Pot::Pool => &mut self.pool,
            Pot::Stake(_) => unreachable!("stakes live in the graph"),
        }
    }
}

impl GraphView for MemStore {
    fn neighbors(&self, n: NodeIdx, out: &mut Vec<NodeIdx>) {
        self.reads.set(self.reads.get() + 1);
        self.graph.neighbors(n, out);
    }
    fn stake(&self, n: NodeIdx) -> Amount {
        self.reads.set(self.reads.get() + 1);
        self.graph.stake(n)
    }
}

impl SettlementStore for MemStore {
    fn transfer(&mut self, from: Pot, to: Pot, amount: Amount) {
        if amount == 0 {
            return;
        }
        match from {
            Pot::Stake(n) => {
                let s = self.graph.stake(n);
                self.set_stake(n, s.checked_sub(amount).expect("the rules never overdraw a stake"));
            }
            p => {
                let v = self.pot(p);
                *v = v.checked_sub(amount).expect("the rules never overdraw a pot");
            }
        }
        match to {
            Pot::Stake(n) => {
                let s = self.graph.stake(n);
                self.set_stake(n, s + amount);
            }
            p => *self.pot(p) += amount,
        }
    }
    fn mark_partitioned(&mut self, n: NodeIdx) {
        self.partitioned[n as usize] = true;
    }
    fn queue(&self, n: NodeIdx, role: Role) -> ClaimQueue {
        match role {
            Role::Owed => self.owed[n as usize],
            Role::Held => self.held_q[n as usize],
        }
    }
    fn set_queue(&mut self, n: NodeIdx, role: Role, q: ClaimQueue) {
        match role {
            Role::Owed => self.owed[n as usize] = q,
            Role::Held => self.held_q[n as usize] = q,
        }
    }
    fn claim(&self, key: ClaimKey) -> Option<Claim> {
        self.claims.get(&key).cloned()
    }
    fn insert_claim(&mut self, key: ClaimKey, claim: Claim) {
        self.claims.insert(key, claim);
    }
    fn take_claim(&mut self, key: ClaimKey) -> Option<Claim> {
        self.claims.remove(&key)
    }
    fn held(&self, key: ClaimKey) -> Option<ClaimKey> {
        self.held.get(&key).copied()
    }
    fn insert_held(&mut self, key: ClaimKey, target: ClaimKey) {
        self.held.insert(key, target);
    }
    fn remove_held(&mut self, key: ClaimKey) {
        self.held.remove(&key);
    }
    fn next_claim_id(&mut self) -> u64 {
        let id = self.next_claim;
        self.next_claim += 1;
        id
    }
    fn reads(&self) -> u64 {
        self.reads.get()
    }
    fn emit(&mut self, event: SettleEvent) {
        if self.keep_events {
            self.events.push(event);
        }
    }
}
