//! The PoR contract, typed: one Rust method per contract method and view of
//! `contract/API.md`, with the contract's JSON types.
//!
//! Change methods return the contract's return value; refusals come back as
//! [`ChainError::TxFailed`] carrying the contract's message. Amounts are yocto
//! (`u128`), carried in JSON as decimal strings.

use near_primitives::types::AccountId;
use por_core::bytes::amount_serde;
use por_core::{Amount, EdgeParams, NodeIdx, NodeKey, Outcome, Registration, SignedVoucher, Signer};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ChainClient, ChainError, DEFAULT_GAS, TxOutcome};

/// The contract's configuration (`new`, `update_config`, `config`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractConfig {
    /// Account allowed to change the config and withdraw the treasury.
    pub owner: AccountId,
    /// Least stake of an active node.
    #[serde(with = "amount_serde")]
    pub min_stake: Amount,
    /// Penalty of a severance, half on each side.
    #[serde(with = "amount_serde")]
    pub severance_penalty: Amount,
    /// Window for the other side's voucher after a severance.
    pub challenge_period_ms: u64,
    /// How long after a severance that split the graph the split may be
    /// settled (`settle`); a node that reconnects into the larger side
    /// meanwhile is not slashed. Absent from an older contract: 2 h.
    #[serde(default = "default_reconnect_window_ms")]
    pub reconnect_window_ms: u64,
    /// When an unconfirmed proposal may be cancelled.
    pub proposal_timeout_ms: u64,
    /// Share of stake a partitioned node loses, in basis points.
    pub partition_slash_bps: u32,
    /// Late fee, yocto per second of lateness.
    #[serde(with = "amount_serde")]
    pub late_fee_per_sec: Amount,
    /// Cap on a request's late liability.
    pub max_late_ms: u64,
    /// How long a reimbursement claim lives.
    pub claim_ttl_ms: u64,
    /// Storage reads per partition-check call (the contract treats more
    /// than 1,500 as 1,500).
    pub partition_step_budget: u64,
    /// Nodes settled per call.
    pub settle_batch: u32,
    /// Storage fee taken at registration.
    #[serde(with = "amount_serde")]
    pub node_storage_fee: Amount,
    /// Storage fee taken at channel opening.
    #[serde(with = "amount_serde")]
    pub channel_storage_fee: Amount,
    /// Storage fee of a reimbursement claim, taken from the half-penalty it
    /// reimburses (at most half the penalty). Default 0.002 NEAR.
    #[serde(with = "amount_serde", default = "default_claim_storage_fee")]
    pub claim_storage_fee: Amount,
    /// How long after the owner submits a config it takes effect. Absent
    /// from an older contract (whose changes took effect at once): 0.
    #[serde(default)]
    pub config_delay_ms: u64,
}

/// A config the owner submitted that is not in force yet (`pending_config`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingConfig {
    /// The config that will be in force.
    pub config: ContractConfig,
    /// From when, in block time (ms).
    pub effective_ms: u64,
}

fn default_reconnect_window_ms() -> u64 {
    7_200_000
}

fn default_claim_storage_fee() -> Amount {
    2 * 10u128.pow(21)
}

/// A node's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// In the graph.
    Active,
    /// Cut off by a partition.
    Partitioned,
    /// Left.
    Left,
}

/// A registered node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    /// Its index in the graph.
    pub index: NodeIdx,
    /// Its account.
    pub account_id: AccountId,
    /// Its node key.
    pub node_key: NodeKey,
    /// Its stake.
    #[serde(with = "amount_serde")]
    pub stake: Amount,
    /// Its promised service time.
    pub service_ms: u64,
    /// Its status.
    pub status: NodeStatus,
    /// Open edges.
    pub open_edges: u32,
    /// Channels not yet closed.
    pub live_channels: u32,
}

/// An open edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeView {
    /// The channel.
    pub channel_id: u64,
    /// Opener index.
    pub a: NodeIdx,
    /// Peer index.
    pub b: NodeIdx,
    /// Opener account.
    pub a_account: AccountId,
    /// Peer account.
    pub b_account: AccountId,
    /// Parameters.
    pub params: EdgeParams,
    /// Opener's deposit.
    #[serde(with = "amount_serde")]
    pub deposit_a: Amount,
    /// Peer's deposit.
    #[serde(with = "amount_serde")]
    pub deposit_b: Amount,
    /// Whether one side proposed a cooperative close: the edge still binds
    /// its ends but carries no new request. Absent (false) from contracts
    /// that predate it.
    #[serde(default)]
    pub closing: bool,
}

/// A channel's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelState {
    /// Proposed, not confirmed.
    Proposed,
    /// Open (an edge of the graph).
    Open,
    /// A cooperative close was proposed.
    CloseProposed,
    /// Severed; in its challenge window until finalized.
    Severed,
    /// Closed or finalized.
    Closed,
}

/// A channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelView {
    /// The channel.
    pub channel_id: u64,
    /// Opener index.
    pub a: NodeIdx,
    /// Peer index.
    pub b: NodeIdx,
    /// Opener account.
    pub a_account: AccountId,
    /// Peer account.
    pub b_account: AccountId,
    /// Parameters.
    pub params: EdgeParams,
    /// Opener's deposit.
    #[serde(with = "amount_serde")]
    pub deposit_a: Amount,
    /// Peer's deposit.
    #[serde(with = "amount_serde")]
    pub deposit_b: Amount,
    /// Best voucher recorded with payer `a`.
    #[serde(with = "amount_serde")]
    pub paid_by_a: Amount,
    /// Best voucher recorded with payer `b`.
    #[serde(with = "amount_serde")]
    pub paid_by_b: Amount,
    /// State.
    pub state: ChannelState,
    /// When it was proposed.
    pub proposed_at_ms: u64,
    /// Who proposed a cooperative close.
    pub close_proposer: Option<AccountId>,
    /// Who severed it.
    pub severer: Option<AccountId>,
    /// When it was severed.
    pub severed_at_ms: Option<u64>,
    /// End of the challenge window.
    pub challenge_deadline_ms: Option<u64>,
}

/// A reimbursement claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimView {
    /// Claim id.
    pub id: u64,
    /// Who is owed.
    pub creditor: AccountId,
    /// Who owes.
    pub debtor: AccountId,
    /// How much.
    #[serde(with = "amount_serde")]
    pub amount: Amount,
    /// The severed channel.
    pub channel_id: u64,
    /// Created at.
    pub created_ms: u64,
    /// Expires at.
    pub expires_ms: u64,
}

/// Claims of one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Claims the account owes.
    pub owed_by: Vec<ClaimView>,
    /// Claims the account holds.
    pub held: Vec<ClaimView>,
}

/// An account's money in the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balances {
    /// What it may withdraw now.
    #[serde(with = "amount_serde")]
    pub withdrawable: Amount,
    /// Its stake.
    #[serde(with = "amount_serde")]
    pub stake: Amount,
    /// Its deposits in channels.
    #[serde(with = "amount_serde")]
    pub in_channels: Amount,
}

/// The contract's books.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Treasury.
    #[serde(with = "amount_serde")]
    pub treasury: Amount,
    /// Storage fees kept.
    #[serde(with = "amount_serde")]
    pub storage_reserve: Amount,
    /// Withdrawable balances.
    #[serde(with = "amount_serde")]
    pub balances: Amount,
    /// Stakes.
    #[serde(with = "amount_serde")]
    pub stakes: Amount,
    /// Channel deposits.
    #[serde(with = "amount_serde")]
    pub deposits: Amount,
    /// Slashed stake of a partition being paid out.
    #[serde(with = "amount_serde", default)]
    pub partition_pool: Amount,
}

/// A page of `graph_nodes` or `graph_edges`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphPage<T> {
    /// The graph version the page was read at.
    pub graph_version: u64,
    /// Items in all.
    pub total: u64,
    /// This page's nodes (for `graph_nodes`).
    #[serde(alias = "edges", alias = "nodes")]
    pub items: Vec<T>,
}

/// Where a partition check stands (what `sever`, `continue_partition_check`
/// and the `partition_check` view return).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckStatus {
    /// The severed channel being checked.
    pub channel_id: u64,
    /// `sever` (the check after a severance: it only searches and records
    /// a split) or `settle` (a recorded split checked again at `settle`:
    /// it slashes and pays).
    #[serde(default)]
    pub kind: String,
    /// `search`, `slash`, `tally`, `pay`, or `done` (nothing pending any more).
    pub phase: String,
    /// Search work so far.
    pub work: u64,
    /// The search's outcome, once known.
    pub outcome: Option<Outcome>,
}

impl CheckStatus {
    /// Whether more `continue_partition_check` calls are needed.
    pub fn is_pending(&self) -> bool {
        self.phase != "done"
    }
}

/// A split the contract recorded after a severance, waiting for its
/// reconnection window to pass before anyone may `settle` it (DESIGN §2.8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitView {
    /// The severed channel (the split's key).
    pub channel_id: u64,
    /// Who severed.
    pub severer: AccountId,
    /// The other end.
    pub other: AccountId,
    /// When it was severed (chain time, ms).
    pub severed_at_ms: u64,
    /// When `settle` becomes possible (chain time, ms).
    pub settle_after_ms: u64,
    /// The slash that applies if the split is still there then, basis points.
    pub slash_bps: u32,
    /// Nodes on the smaller side at the severance.
    pub nodes: u32,
    /// Their stake then.
    #[serde(with = "amount_serde")]
    pub stake: Amount,
}

/// A page of pending splits (`pending_splits`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitsPage {
    /// Pending splits in all.
    pub total: u64,
    /// This page.
    pub splits: Vec<SplitView>,
}

/// A severance that executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Severed {
    /// The `sever` transaction.
    pub tx_hash: near_primitives::hash::CryptoHash,
    /// Where the partition check it started stands.
    pub check: CheckStatus,
}

/// The PoR contract on some chain.
#[derive(Debug, Clone)]
pub struct PorContract<C> {
    chain: C,
    contract: AccountId,
    gas: u64,
    metrics: Option<crate::metrics::ChainMetrics>,
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, v: Value) -> Result<T, ChainError> {
    serde_json::from_value(v).map_err(|e| ChainError::Decode { what: what.to_string(), detail: e.to_string() })
}

impl<C: ChainClient> PorContract<C> {
    /// The contract at `contract`, reached through `chain`.
    pub fn new(chain: C, contract: AccountId) -> PorContract<C> {
        PorContract { chain, contract, gas: DEFAULT_GAS, metrics: None }
    }

    /// The metrics given with [`PorContract::with_metrics`], if any.
    pub fn metrics(&self) -> Option<&crate::metrics::ChainMetrics> {
        self.metrics.as_ref()
    }

    /// Counts every call and view in `metrics` (`por_chain_calls_total`);
    /// the chain agent also reports its lag there.
    pub fn with_metrics(mut self, metrics: crate::metrics::ChainMetrics) -> PorContract<C> {
        self.metrics = Some(metrics);
        self
    }

    fn record<T>(&self, method: &str, r: &Result<T, ChainError>) {
        if let Some(m) = &self.metrics {
            m.record(method, r.is_ok());
        }
    }

    /// The chain client.
    pub fn chain(&self) -> &C {
        &self.chain
    }

    /// The contract's account.
    pub fn account(&self) -> &AccountId {
        &self.contract
    }

    async fn call(&self, method: &str, args: Value, deposit: Amount) -> Result<TxOutcome, ChainError> {
        let r = self.chain.call(&self.contract, method, args, deposit, self.gas).await;
        self.record(method, &r);
        r
    }

    async fn call_json<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        args: Value,
        deposit: Amount,
    ) -> Result<T, ChainError> {
        decode(method, self.call(method, args, deposit).await?.json()?)
    }

    async fn view<T: serde::de::DeserializeOwned>(&self, method: &str, args: Value) -> Result<T, ChainError> {
        let r = self.chain.view(&self.contract, method, args).await;
        self.record(method, &r);
        decode(method, r?)
    }

    // ---- change methods ----

    /// `update_config` (owner only).
    pub async fn update_config(&self, config: &ContractConfig) -> Result<TxOutcome, ChainError> {
        self.call("update_config", json!({ "config": config }), 0).await
    }

    /// `register_node` of the node whose key `node` holds, for the account
    /// this client signs for, with the node key's proof over the contract
    /// and that account ([`Registration`]): deposit = stake +
    /// `node_storage_fee`. Returns the node's index.
    pub async fn register_node(
        &self,
        node: &impl Signer,
        service_ms: u64,
        deposit: Amount,
    ) -> Result<NodeIdx, ChainError> {
        let account = self.chain.signer_account().ok_or(ChainError::NoSigner)?;
        let proof =
            Registration { contract: self.contract.to_string(), account: account.to_string(), node_key: node.public() };
        let args = json!({ "node_key": proof.node_key, "service_ms": service_ms, "signature": proof.sign(node) });
        self.call_json("register_node", args, deposit).await
    }

    /// `add_stake`. Returns the new stake.
    pub async fn add_stake(&self, deposit: Amount) -> Result<Amount, ChainError> {
        amount(self.call("add_stake", json!({}), deposit).await?)
    }

    /// `rejoin` after a partition. Returns the new stake.
    pub async fn rejoin(&self, deposit: Amount) -> Result<Amount, ChainError> {
        amount(self.call("rejoin", json!({}), deposit).await?)
    }

    /// `leave`. Returns the stake credited.
    pub async fn leave(&self) -> Result<Amount, ChainError> {
        amount(self.call("leave", json!({}), 0).await?)
    }

    /// `open_channel`: deposit = own collateral + `channel_storage_fee`. Returns the channel id.
    pub async fn open_channel(&self, peer: &AccountId, params: EdgeParams, deposit: Amount) -> Result<u64, ChainError> {
        let args = json!({
            "peer": peer,
            "latency_ms": params.latency_ms,
            "base_fee": params.base_fee.to_string(),
            "byte_fee": params.byte_fee.to_string(),
        });
        self.call_json("open_channel", args, deposit).await
    }

    /// `confirm_channel` with the peer's deposit.
    pub async fn confirm_channel(&self, channel_id: u64, deposit: Amount) -> Result<TxOutcome, ChainError> {
        self.call("confirm_channel", json!({ "channel_id": channel_id }), deposit).await
    }

    /// `cancel_proposal` (opener, after the proposal timeout).
    pub async fn cancel_proposal(&self, channel_id: u64) -> Result<TxOutcome, ChainError> {
        self.call("cancel_proposal", json!({ "channel_id": channel_id }), 0).await
    }

    /// `propose_close` with the best voucher paid by the other side.
    pub async fn propose_close(
        &self,
        channel_id: u64,
        voucher: Option<&SignedVoucher>,
    ) -> Result<TxOutcome, ChainError> {
        self.call("propose_close", json!({ "channel_id": channel_id, "voucher": voucher }), 0).await
    }

    /// `confirm_close` with the best voucher paid by the proposer.
    pub async fn confirm_close(
        &self,
        channel_id: u64,
        voucher: Option<&SignedVoucher>,
    ) -> Result<TxOutcome, ChainError> {
        self.confirm_close_with_own(channel_id, voucher, None).await
    }

    /// `confirm_close` with the best voucher paid by the proposer and this
    /// side's own latest voucher to the proposer (`own`), so the close
    /// pays the proposer what it was paid after proposing too.
    pub async fn confirm_close_with_own(
        &self,
        channel_id: u64,
        voucher: Option<&SignedVoucher>,
        own: Option<&SignedVoucher>,
    ) -> Result<TxOutcome, ChainError> {
        self.call("confirm_close", json!({ "channel_id": channel_id, "voucher": voucher, "own": own }), 0).await
    }

    /// `sever` with the best voucher paid by the other side. Returns the
    /// transaction (its hash goes into the severance notices) and where the
    /// partition check stands.
    pub async fn sever(&self, channel_id: u64, voucher: Option<&SignedVoucher>) -> Result<Severed, ChainError> {
        let out = self.call("sever", json!({ "channel_id": channel_id, "voucher": voucher }), 0).await?;
        let check = decode("sever", out.json()?)?;
        Ok(Severed { tx_hash: out.tx_hash, check })
    }

    /// [`sever`](Self::sever), sending the transaction's hash on `signed`
    /// as soon as it is signed (the notices go upstream then, DESIGN §2.7).
    pub async fn sever_announced(
        &self,
        channel_id: u64,
        voucher: Option<&SignedVoucher>,
        signed: tokio::sync::oneshot::Sender<near_primitives::hash::CryptoHash>,
    ) -> Result<Severed, ChainError> {
        let action = near_primitives::transaction::Action::FunctionCall(Box::new(
            near_primitives::transaction::FunctionCallAction {
                method_name: "sever".into(),
                args: json!({ "channel_id": channel_id, "voucher": voucher }).to_string().into_bytes(),
                gas: near_primitives::types::Gas::from_gas(self.gas),
                deposit: near_primitives::types::Balance::from_yoctonear(0),
            },
        ));
        let r = self.chain.transact_announced(&self.contract, vec![action], signed).await;
        self.record("sever", &r);
        let out = r?;
        let check = decode("sever", out.json()?)?;
        Ok(Severed { tx_hash: out.tx_hash, check })
    }

    /// `submit_voucher` (the side that did not sever, in the challenge window).
    pub async fn submit_voucher(&self, channel_id: u64, voucher: &SignedVoucher) -> Result<TxOutcome, ChainError> {
        self.call("submit_voucher", json!({ "channel_id": channel_id, "voucher": voucher }), 0).await
    }

    /// `finalize` (anyone, after the challenge deadline).
    pub async fn finalize(&self, channel_id: u64) -> Result<TxOutcome, ChainError> {
        self.call("finalize", json!({ "channel_id": channel_id }), 0).await
    }

    /// `settle` (anyone, from the split's deadline): checks again whether
    /// the split recorded after the severance of `channel_id` still holds,
    /// and only then slashes and pays (continued by
    /// `continue_partition_check`).
    pub async fn settle(&self, channel_id: u64) -> Result<CheckStatus, ChainError> {
        self.call_json("settle", json!({ "channel_id": channel_id }), 0).await
    }

    /// `continue_partition_check`.
    pub async fn continue_partition_check(&self) -> Result<CheckStatus, ChainError> {
        self.call_json("continue_partition_check", json!({}), 0).await
    }

    /// Calls `continue_partition_check` until no check is pending (at most
    /// `max_calls` times); returns the last status.
    pub async fn finish_partition_check(&self, max_calls: u32) -> Result<Option<CheckStatus>, ChainError> {
        let mut last = None;
        for _ in 0..max_calls {
            if self.partition_check().await?.is_none() {
                return Ok(last);
            }
            last = Some(self.continue_partition_check().await?);
        }
        Ok(last)
    }

    /// `withdraw` `amount` to the caller.
    pub async fn withdraw(&self, amount: Amount) -> Result<TxOutcome, ChainError> {
        self.call("withdraw", json!({ "amount": amount.to_string() }), 0).await
    }

    /// `withdraw_treasury` (owner only).
    pub async fn withdraw_treasury(&self, amount: Amount) -> Result<TxOutcome, ChainError> {
        self.call("withdraw_treasury", json!({ "amount": amount.to_string() }), 0).await
    }

    // ---- views ----

    /// `config`.
    pub async fn config(&self) -> Result<ContractConfig, ChainError> {
        self.view("config", json!({})).await
    }

    /// `pending_config`: the config the owner submitted and when it takes
    /// effect, if one is waiting.
    pub async fn pending_config(&self) -> Result<Option<PendingConfig>, ChainError> {
        self.view("pending_config", json!({})).await
    }

    /// `graph_version`.
    pub async fn graph_version(&self) -> Result<u64, ChainError> {
        self.view("graph_version", json!({})).await
    }

    /// `node` by account.
    pub async fn node(&self, account_id: &AccountId) -> Result<Option<NodeView>, ChainError> {
        self.view("node", json!({ "account_id": account_id })).await
    }

    /// `node_at` by index.
    pub async fn node_at(&self, index: NodeIdx) -> Result<Option<NodeView>, ChainError> {
        self.view("node_at", json!({ "index": index })).await
    }

    /// `channel`.
    pub async fn channel(&self, channel_id: u64) -> Result<Option<ChannelView>, ChainError> {
        self.view("channel", json!({ "channel_id": channel_id })).await
    }

    /// `channels_of`.
    pub async fn channels_of(&self, account_id: &AccountId) -> Result<Vec<ChannelView>, ChainError> {
        self.view("channels_of", json!({ "account_id": account_id })).await
    }

    /// `claims`.
    pub async fn claims(&self, account_id: &AccountId) -> Result<Claims, ChainError> {
        self.view("claims", json!({ "account_id": account_id })).await
    }

    /// `balances`.
    pub async fn balances(&self, account_id: &AccountId) -> Result<Balances, ChainError> {
        self.view("balances", json!({ "account_id": account_id })).await
    }

    /// `totals`.
    pub async fn totals(&self) -> Result<Totals, ChainError> {
        self.view("totals", json!({})).await
    }

    /// `graph_nodes` (a page; `limit` ≤ 500).
    pub async fn graph_nodes(&self, from_index: u32, limit: u32) -> Result<GraphPage<NodeView>, ChainError> {
        self.view("graph_nodes", json!({ "from_index": from_index, "limit": limit })).await
    }

    /// `graph_edges` (a page; `limit` ≤ 500).
    pub async fn graph_edges(&self, from_index: u32, limit: u32) -> Result<GraphPage<EdgeView>, ChainError> {
        self.view("graph_edges", json!({ "from_index": from_index, "limit": limit })).await
    }

    /// `pending_split`: the split recorded after the severance of
    /// `channel_id`, while it waits to be settled.
    pub async fn pending_split(&self, channel_id: u64) -> Result<Option<SplitView>, ChainError> {
        self.view("pending_split", json!({ "channel_id": channel_id })).await
    }

    /// `pending_splits` (a page).
    pub async fn pending_splits(&self, from_index: u32, limit: u32) -> Result<SplitsPage, ChainError> {
        self.view("pending_splits", json!({ "from_index": from_index, "limit": limit })).await
    }

    /// `partition_check`: the pending check, if any.
    pub async fn partition_check(&self) -> Result<Option<CheckStatus>, ChainError> {
        self.view("partition_check", json!({})).await
    }
}

fn amount(o: TxOutcome) -> Result<Amount, ChainError> {
    let v = o.json()?;
    let s = v.as_str().ok_or_else(|| ChainError::Decode { what: "amount".into(), detail: v.to_string() })?;
    s.parse().map_err(|e: std::num::ParseIntError| ChainError::Decode { what: "amount".into(), detail: e.to_string() })
}
