//! The contract's state and its `#[near]` surface: every exported method
//! reads the caller, the attached deposit and the clock, then calls a plain
//! method of the module that owns the rule. near-sdk's macros generate
//! undocumented items here (`ContractExt`, its methods, the wasm exports),
//! hence the `allow(missing_docs)` of this module only; everything written
//! by hand is documented.
#![allow(missing_docs)]

use near_sdk::json_types::U128;
use near_sdk::store::{IterableMap, IterableSet, LazyOption, LookupMap, LookupSet, Vector};
use near_sdk::{AccountId, BorshStorageKey, NearToken, PanicOnDefault, Promise, env, near, require};
use por_core::{EdgeParams, NodeKey, Signature, SignedVoucher};

use crate::claims::ClaimKey;
use crate::config::{Config, PendingConfig};
use crate::events::Event;
use crate::partition::{CheckStatus, PendingCheck};
use crate::splits::{SplitView, SplitsPage};
use crate::views::{BalancesView, ChannelView, ClaimsView, EdgesPage, NodeView, NodesPage, TotalsView};

/// Storage prefixes of the collections.
#[near(serializers = [borsh])]
#[derive(BorshStorageKey)]
enum Key {
    Nodes,
    NodeOf,
    Keys,
    Channels,
    OpenEdges,
    Claims,
    Balances,
    Check,
    States,
    Adj,
    Held,
    Splits,
}

/// The contract's state.
#[near(contract_state)]
#[derive(PanicOnDefault)]
pub struct Contract {
    pub(crate) config: Config,
    /// Nodes by graph index: account, key, channels, claim queues.
    pub(crate) nodes: Vector<crate::nodes::Node>,
    /// Stake and status by graph index (what the partition check reads per
    /// neighbour).
    pub(crate) states: Vector<crate::nodes::NodeState>,
    /// Open edges by graph index (what the partition check reads per node
    /// it expands).
    pub(crate) adj: Vector<Vec<crate::nodes::AdjEntry>>,
    /// Graph index of each registered (not left) account.
    pub(crate) node_of: LookupMap<AccountId, u32>,
    /// Every node key ever registered.
    pub(crate) keys: LookupSet<NodeKey>,
    /// Every channel, closed ones included.
    pub(crate) channels: LookupMap<u64, crate::channels::Channel>,
    /// Ids of the open edges (for the paged graph view).
    pub(crate) open_edges: IterableSet<u64>,
    pub(crate) next_channel: u64,
    /// Unpaid claims (lapsed ones until pruned) by debtor and position in
    /// its owed queue.
    pub(crate) claims: LookupMap<ClaimKey, crate::claims::Claim>,
    /// The held queues: creditor and position to the claim's key.
    pub(crate) held: LookupMap<ClaimKey, ClaimKey>,
    pub(crate) next_claim: u64,
    /// Withdrawable balances.
    pub(crate) balances: LookupMap<AccountId, u128>,
    pub(crate) treasury: u128,
    pub(crate) storage_reserve: u128,
    pub(crate) total_balances: u128,
    pub(crate) total_stake: u128,
    pub(crate) total_deposits: u128,
    /// Stake slashed by a pending settlement and not yet paid out.
    pub(crate) partition_pool: u128,
    pub(crate) graph_version: u64,
    /// The channel whose partition check is pending (cheap guard).
    pub(crate) check_channel: Option<u64>,
    /// The pending check's state (loaded only when needed).
    pub(crate) check: LazyOption<PendingCheck>,
    /// Splits waiting for their reconnection window, by severed channel.
    pub(crate) splits: IterableMap<u64, crate::splits::Split>,
    /// A config the owner submitted that is not in force yet.
    pub(crate) pending_config: Option<PendingConfig>,
}

fn now_ms() -> u64 {
    env::block_timestamp_ms()
}

fn deposit() -> u128 {
    env::attached_deposit().as_yoctonear()
}

#[near]
impl Contract {
    /// Initialises the contract with `config`. Only the contract account
    /// itself may call it (deploy and `new` in one transaction), once.
    #[init]
    #[private]
    pub fn new(config: Config) -> Self {
        config.validate();
        Contract {
            config,
            nodes: Vector::new(Key::Nodes),
            states: Vector::new(Key::States),
            adj: Vector::new(Key::Adj),
            node_of: LookupMap::new(Key::NodeOf),
            keys: LookupSet::new(Key::Keys),
            channels: LookupMap::new(Key::Channels),
            open_edges: IterableSet::new(Key::OpenEdges),
            next_channel: 1,
            claims: LookupMap::new(Key::Claims),
            held: LookupMap::new(Key::Held),
            next_claim: 1,
            balances: LookupMap::new(Key::Balances),
            treasury: 0,
            storage_reserve: 0,
            total_balances: 0,
            total_stake: 0,
            total_deposits: 0,
            partition_pool: 0,
            graph_version: 0,
            check_channel: None,
            check: LazyOption::new(Key::Check, None),
            splits: IterableMap::new(Key::Splits),
            pending_config: None,
        }
    }

    /// Submits a new config (owner only), within the limits of every
    /// value; it takes effect `config_delay_ms` (of the config in force)
    /// from now, replacing one still pending. Returns when (block time, ms).
    pub fn update_config(&mut self, config: Config) -> u64 {
        let now = now_ms();
        self.apply_due_config(now);
        self.do_update_config(&env::predecessor_account_id(), config, now)
    }

    /// Registers the caller as a node with `node_key`; the deposit minus the
    /// node storage fee is its stake. `signature` is the node key's over
    /// the registration bytes naming this contract and the caller
    /// (`por_core::Registration`): nobody registers a key they do not hold.
    /// Returns its graph index.
    #[payable]
    pub fn register_node(&mut self, node_key: NodeKey, service_ms: u64, signature: Signature) -> u32 {
        self.apply_due_config(now_ms());
        self.do_register(env::predecessor_account_id(), node_key, service_ms, &signature, deposit())
    }

    /// Adds the deposit to the caller's stake; returns the new stake.
    #[payable]
    pub fn add_stake(&mut self) -> U128 {
        self.apply_due_config(now_ms());
        self.do_add_stake(env::predecessor_account_id(), deposit())
    }

    /// Makes a partitioned caller active again (the deposit, if any, is added
    /// to its stake, which must reach `min_stake`); returns the stake.
    #[payable]
    pub fn rejoin(&mut self) -> U128 {
        self.apply_due_config(now_ms());
        self.do_rejoin(env::predecessor_account_id(), deposit())
    }

    /// Leaves: the stake goes to the caller's withdrawable balance. Needs no
    /// channel that is not closed and no open claim against the caller.
    pub fn leave(&mut self) -> U128 {
        self.apply_due_config(now_ms());
        self.do_leave(env::predecessor_account_id(), now_ms())
    }

    /// Proposes a channel to `peer`; the deposit minus the channel storage
    /// fee is the opener's deposit. Returns the channel id.
    #[payable]
    pub fn open_channel(&mut self, peer: AccountId, latency_ms: u64, base_fee: U128, byte_fee: U128) -> u64 {
        self.apply_due_config(now_ms());
        let params = EdgeParams { latency_ms, base_fee: base_fee.0, byte_fee: byte_fee.0 };
        self.do_open(env::predecessor_account_id(), peer, params, deposit(), now_ms())
    }

    /// The peer confirms a proposal with its deposit: the channel is an edge.
    #[payable]
    pub fn confirm_channel(&mut self, channel_id: u64) {
        self.apply_due_config(now_ms());
        self.do_confirm(env::predecessor_account_id(), channel_id, deposit())
    }

    /// The opener cancels an unconfirmed proposal after `proposal_timeout_ms`.
    pub fn cancel_proposal(&mut self, channel_id: u64) {
        self.apply_due_config(now_ms());
        self.do_cancel(env::predecessor_account_id(), channel_id, now_ms())
    }

    /// Proposes a cooperative close with the best voucher the other side
    /// signed; the edge is shown as closing from then on (nodes stop routing
    /// over it). The proposer may call it again with a better voucher until
    /// the other side confirms.
    pub fn propose_close(&mut self, channel_id: u64, voucher: Option<SignedVoucher>) {
        self.apply_due_config(now_ms());
        self.do_propose_close(env::predecessor_account_id(), channel_id, voucher)
    }

    /// Confirms the other side's close proposal with the best voucher the
    /// proposer signed (`voucher`) and the caller's own latest voucher to
    /// the proposer (`own`, may be omitted); both sides are credited, no
    /// penalty.
    pub fn confirm_close(&mut self, channel_id: u64, voucher: Option<SignedVoucher>, own: Option<SignedVoucher>) {
        self.apply_due_config(now_ms());
        self.do_confirm_close(env::predecessor_account_id(), channel_id, voucher, own)
    }

    /// Severs a channel with the best voucher the other side signed.
    pub fn sever(&mut self, channel_id: u64, voucher: Option<SignedVoucher>) -> CheckStatus {
        self.apply_due_config(now_ms());
        self.do_sever(env::predecessor_account_id(), channel_id, voucher, now_ms())
    }

    /// The side that did not sever submits a better voucher signed by the
    /// severer, during the challenge window.
    pub fn submit_voucher(&mut self, channel_id: u64, voucher: SignedVoucher) {
        self.apply_due_config(now_ms());
        self.do_submit_voucher(env::predecessor_account_id(), channel_id, voucher, now_ms())
    }

    /// Settles a severed channel after its challenge window (anyone).
    pub fn finalize(&mut self, channel_id: u64) {
        self.apply_due_config(now_ms());
        self.do_finalize(channel_id, now_ms())
    }

    /// Settles the split recorded after the severance of `channel_id`, from
    /// its deadline on (anyone): checks again whether the two ends are
    /// apart and, if so, slashes the smaller side and pays the claims on it
    /// (continued by `continue_partition_check`).
    pub fn settle(&mut self, channel_id: u64) -> CheckStatus {
        self.apply_due_config(now_ms());
        self.do_settle(channel_id, now_ms())
    }

    /// Continues the pending partition check by one bounded step (anyone).
    pub fn continue_partition_check(&mut self) -> CheckStatus {
        self.apply_due_config(now_ms());
        self.do_continue()
    }

    /// Transfers `amount` of the caller's withdrawable balance to it.
    pub fn withdraw(&mut self, amount: U128) -> Promise {
        self.apply_due_config(now_ms());
        let caller = env::predecessor_account_id();
        let have = self.balances.get(&caller).copied().unwrap_or(0);
        require!(amount.0 > 0, "withdraw: amount must be positive (yocto, as a decimal string)");
        require!(
            amount.0 <= have,
            format!("withdraw: {caller} may withdraw at most {have} yocto; asked for {}", amount.0)
        );
        if have == amount.0 {
            self.balances.remove(&caller);
        } else {
            self.balances.insert(caller.clone(), have - amount.0);
        }
        self.total_balances -= amount.0;
        Event::Withdrawn { account_id: caller.clone(), amount }.emit();
        Promise::new(caller).transfer(NearToken::from_yoctonear(amount.0))
    }

    /// Moves `amount` of the treasury to the owner's withdrawable balance
    /// (owner only), never below what the contract's storage needs (see
    /// [`Contract::storage_need`]).
    pub fn withdraw_treasury(&mut self, amount: U128) {
        self.apply_due_config(now_ms());
        let caller = env::predecessor_account_id();
        require!(
            caller == self.config.owner,
            format!("withdraw_treasury: only the owner {} may move treasury funds", self.config.owner)
        );
        require!(
            amount.0 <= self.treasury,
            format!("withdraw_treasury: the treasury holds {} yocto; asked for {}", self.treasury, amount.0)
        );
        let (own, need) = (self.own_funds(), self.storage_need());
        require!(
            own.saturating_sub(amount.0) >= need,
            format!(
                "withdraw_treasury: the contract must keep {need} yocto of its own for storage ({} bytes used plus room for a partition check); it holds {own}, so at most {} yocto can be moved now",
                env::storage_usage(),
                own.saturating_sub(need).min(self.treasury)
            )
        );
        self.treasury -= amount.0;
        self.credit(&caller, amount.0);
        Event::TreasuryWithdrawn { amount }.emit();
    }

    // ---- views ----

    /// The config in force now.
    pub fn config(&self) -> Config {
        self.config_at(now_ms())
    }

    /// The config the owner submitted that is not in force yet, with when
    /// it takes effect; null when none is waiting.
    pub fn pending_config(&self) -> Option<PendingConfig> {
        self.pending_config_at(now_ms())
    }

    /// The graph version (bumps on every change of nodes, stakes, statuses or open edges).
    pub fn graph_version(&self) -> u64 {
        self.graph_version
    }

    /// The node of `account_id`.
    pub fn node(&self, account_id: AccountId) -> Option<NodeView> {
        self.node_of.get(&account_id).and_then(|&i| self.node_view(i))
    }

    /// The node with graph index `index`.
    pub fn node_at(&self, index: u32) -> Option<NodeView> {
        self.node_view(index)
    }

    /// A channel.
    pub fn channel(&self, channel_id: u64) -> Option<ChannelView> {
        self.channels.get(&channel_id).map(|c| self.channel_view(c))
    }

    /// The channels of `account_id` that are not closed yet.
    pub fn channels_of(&self, account_id: AccountId) -> Vec<ChannelView> {
        let Some(&i) = self.node_of.get(&account_id) else { return Vec::new() };
        self.rec(i).live.iter().filter_map(|id| self.channels.get(id)).map(|c| self.channel_view(c)).collect()
    }

    /// Unlapsed claims against and held by `account_id`, oldest first, at
    /// most 200 of each.
    pub fn claims(&self, account_id: AccountId) -> ClaimsView {
        self.claims_view(&account_id, now_ms())
    }

    /// The money `account_id` has in the contract.
    pub fn balances(&self, account_id: AccountId) -> BalancesView {
        self.balances_view(&account_id)
    }

    /// The contract's books.
    pub fn totals(&self) -> TotalsView {
        self.totals_view()
    }

    /// A page of nodes by index.
    pub fn graph_nodes(&self, from_index: u32, limit: u32) -> NodesPage {
        self.nodes_page(from_index, limit)
    }

    /// A page of open edges.
    pub fn graph_edges(&self, from_index: u32, limit: u32) -> EdgesPage {
        self.edges_page(from_index, limit)
    }

    /// The split recorded after the severance of `channel_id`, while it
    /// waits to be settled.
    pub fn pending_split(&self, channel_id: u64) -> Option<SplitView> {
        self.split_of(channel_id)
    }

    /// A page of pending splits, in storage order.
    pub fn pending_splits(&self, from_index: u32, limit: u32) -> SplitsPage {
        self.splits_page(from_index, limit)
    }

    /// The pending partition check, or null.
    pub fn partition_check(&self) -> Option<CheckStatus> {
        self.check_status()
    }
}
