//! The node's view of the chain.
//!
//! One trait, [`ChainClient`], is everything the node asks of the chain:
//! status, views, signed transactions, balances and (on the devnet only)
//! moving time. It is implemented once, over NEAR's JSON-RPC with
//! near-jsonrpc-client ([`NearRpcChain`]); the same code talks to the
//! embedded devnet and to NEAR testnet, over one endpoint or a list of them
//! with failover ([`RpcEndpoints`], whose [`RpcMetrics`] say which answered).
//! On top:
//! - [`PorContract`]: every method and view of the PoR contract, typed
//!   (`contract/API.md`);
//! - [`GraphFollower`]: keeps a local [`por_core::Graph`] current by following
//!   the contract's `graph_version`;
//! - [`deploy()`]: deploys and initialises the contract (the `por contract
//!   deploy` command).
//!
//! Not here: when to sever (the engine's policy), persistence, and the task
//! that follows the graph for a running node and carries out its chain jobs
//! ([`crate::agent`], a layer above the node's handle).

mod access;
mod contract;
mod deploy;
mod endpoints;
mod error;
mod graph;
mod rpc;

use std::future::Future;

use near_primitives::hash::CryptoHash;
use near_primitives::transaction::{Action, FunctionCallAction};
use near_primitives::types::{AccountId, Balance, Gas};
use serde_json::Value;

pub use access::{
    AGENT_METHODS, DEFAULT_ALLOWANCE, add_function_key, add_function_key_action, secret_key_from_seed, write_key_file,
};
pub use contract::{
    Balances, ChannelState, ChannelView, CheckStatus, ClaimView, Claims, ContractConfig, EdgeView, GraphPage,
    NodeStatus, NodeView, PendingConfig, PorContract, Severed, SplitView, SplitsPage, Totals,
};
pub use deploy::{DeployError, DeployOptions, MIN_PROTOCOL_VERSION, deploy, read_key_file};
pub use endpoints::{EndpointError, EndpointLabel, RpcEndpoints, RpcLabels, RpcMetrics};
pub use error::ChainError;
pub use graph::GraphFollower;
pub use rpc::{NearRpcChain, RetryPolicy};

/// Gas attached to calls unless said otherwise (300 Tgas).
pub const DEFAULT_GAS: u64 = 300_000_000_000_000;

/// What the chain says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainStatus {
    /// Chain id (`testnet`, `por-devnet`, …).
    pub chain_id: String,
    /// Protocol version in force. near-sdk 5.30 contracts need 88.
    pub protocol_version: u32,
    /// Latest block height.
    pub height: u64,
    /// Latest block hash.
    pub block_hash: CryptoHash,
    /// Latest block time, in ms since the Unix epoch.
    pub time_ms: u64,
}

/// A transaction that executed successfully.
#[derive(Debug, Clone)]
pub struct TxOutcome {
    /// Its hash.
    pub tx_hash: CryptoHash,
    /// What the call returned (JSON bytes for the PoR contract; empty for none).
    pub value: Vec<u8>,
    /// All log lines of all its receipts, in order.
    pub logs: Vec<String>,
    /// Gas burnt by the transaction and its receipts.
    pub gas_burnt: u64,
}

impl TxOutcome {
    /// The return value as JSON (`Null` when empty).
    pub fn json(&self) -> Result<Value, ChainError> {
        if self.value.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.value)
            .map_err(|e| ChainError::Decode { what: format!("transaction {}", self.tx_hash), detail: e.to_string() })
    }

    /// The NEP-297 events it logged (`EVENT_JSON:` lines), parsed.
    pub fn events(&self) -> Vec<Value> {
        self.logs
            .iter()
            .filter_map(|l| l.strip_prefix("EVENT_JSON:"))
            .filter_map(|j| serde_json::from_str(j).ok())
            .collect()
    }

    /// The names of the events it logged, in order.
    pub fn event_names(&self) -> Vec<String> {
        self.events().iter().filter_map(|e| e["event"].as_str().map(str::to_string)).collect()
    }
}

/// Everything the node asks of a chain. Implemented by [`NearRpcChain`].
pub trait ChainClient: Send + Sync {
    /// Chain id, protocol version and latest block.
    fn status(&self) -> impl Future<Output = Result<ChainStatus, ChainError>> + Send;

    /// Runs a view method of `contract` with JSON `args`; returns its JSON.
    fn view(
        &self,
        contract: &AccountId,
        method: &str,
        args: Value,
    ) -> impl Future<Output = Result<Value, ChainError>> + Send;

    /// Signs `actions` for `receiver` with this client's key, sends them and
    /// waits for the final outcome. Safe to call again after an error: a
    /// transaction whose fate is unknown is reported as
    /// [`ChainError::Unknown`], never silently replaced by another.
    fn transact(
        &self,
        receiver: &AccountId,
        actions: Vec<Action>,
    ) -> impl Future<Output = Result<TxOutcome, ChainError>> + Send;

    /// As [`transact`](Self::transact), and sends the transaction's hash on
    /// `signed` as soon as it is signed, before it is sent: a severance
    /// notice names it without waiting for finality (DESIGN §2.7). If the
    /// transaction has to be signed again (a stale nonce), the first hash is
    /// the one announced; the chain is asked about the channel, not the
    /// hash. Nothing is sent on `signed` when nothing could be signed.
    fn transact_announced(
        &self,
        receiver: &AccountId,
        actions: Vec<Action>,
        signed: tokio::sync::oneshot::Sender<CryptoHash>,
    ) -> impl Future<Output = Result<TxOutcome, ChainError>> + Send {
        async move {
            // A client that cannot tell the hash before sending tells it
            // after: later, never wrong.
            let r = self.transact(receiver, actions).await;
            if let Ok(o) = &r {
                let _ = signed.send(o.tx_hash);
            }
            r
        }
    }

    /// An account's liquid balance, in yocto.
    fn balance(&self, account: &AccountId) -> impl Future<Output = Result<u128, ChainError>> + Send;

    /// Moves the chain's clock forward (the devnet's `devnet_advance_time`);
    /// [`ChainError::Unsupported`] on public networks.
    fn advance_time(&self, ms: u64) -> impl Future<Output = Result<(), ChainError>> + Send;

    /// The account this client signs for, if any.
    fn signer_account(&self) -> Option<&AccountId>;

    /// Calls `method` on `contract` with JSON `args`, a deposit and gas.
    fn call(
        &self,
        contract: &AccountId,
        method: &str,
        args: Value,
        deposit: u128,
        gas: u64,
    ) -> impl Future<Output = Result<TxOutcome, ChainError>> + Send {
        let action = Action::FunctionCall(Box::new(FunctionCallAction {
            method_name: method.to_string(),
            args: args.to_string().into_bytes(),
            gas: Gas::from_gas(gas),
            deposit: Balance::from_yoctonear(deposit),
        }));
        self.transact(contract, vec![action])
    }
}

/// A shared client is a client: the node's agent and its CLI/API share one
/// signing key, so they share one nonce sequence.
impl<T: ChainClient> ChainClient for std::sync::Arc<T> {
    fn status(&self) -> impl Future<Output = Result<ChainStatus, ChainError>> + Send {
        (**self).status()
    }

    fn view(
        &self,
        contract: &AccountId,
        method: &str,
        args: Value,
    ) -> impl Future<Output = Result<Value, ChainError>> + Send {
        (**self).view(contract, method, args)
    }

    fn transact(
        &self,
        receiver: &AccountId,
        actions: Vec<Action>,
    ) -> impl Future<Output = Result<TxOutcome, ChainError>> + Send {
        (**self).transact(receiver, actions)
    }

    fn transact_announced(
        &self,
        receiver: &AccountId,
        actions: Vec<Action>,
        signed: tokio::sync::oneshot::Sender<CryptoHash>,
    ) -> impl Future<Output = Result<TxOutcome, ChainError>> + Send {
        (**self).transact_announced(receiver, actions, signed)
    }

    fn balance(&self, account: &AccountId) -> impl Future<Output = Result<u128, ChainError>> + Send {
        (**self).balance(account)
    }

    fn advance_time(&self, ms: u64) -> impl Future<Output = Result<(), ChainError>> + Send {
        (**self).advance_time(ms)
    }

    fn signer_account(&self) -> Option<&AccountId> {
        (**self).signer_account()
    }
}
