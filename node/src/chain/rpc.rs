//! [`ChainClient`] over NEAR's JSON-RPC (near-jsonrpc-client 0.23), on one
//! endpoint or a list of them with failover ([`RpcEndpoints`]): a read goes
//! round the list up to [`RetryPolicy::read_passes`] times; each send of a
//! transaction goes round it once.
//!
//! Transactions from one key go out one at a time (a mutex per client), so
//! nonces stay in order: the nonce comes from `view_access_key` once, is
//! incremented locally, and is refreshed when the chain answers
//! `InvalidNonce`. A transaction whose send times out or fails in transit is
//! re-sent *unchanged* (same signature, same hash: the chain executes it at
//! most once); after the last attempt its status is asked with `tx`, and if
//! that does not settle it the caller gets [`ChainError::Unknown`] with the
//! hash. A new transaction (new nonce) is only signed when the chain said the
//! previous one was refused, which proves it did not execute.
//!
//! A client may hold two keys of its account: a full-access key and a
//! function-call access key ([`NearRpcChain::with_keys`]). A transaction the
//! function-call key may sign (one function call, no deposit, to the key's
//! receiver, a method it lists) is signed with it; anything else needs the
//! full-access key, and without one it fails with
//! [`ChainError::NeedsFullAccessKey`] before anything is sent. What the
//! function-call key may do is read from the chain (`view_access_key`), not
//! configured. Each key has its own nonce sequence and its own lock, as the
//! chain tracks nonces per access key.

use std::time::{Duration, Instant};

use near_crypto::{PublicKey, SecretKey, Signer};
use near_jsonrpc_client::errors::{JsonRpcError, JsonRpcServerError};
use near_jsonrpc_client::methods;
use near_jsonrpc_primitives::types::query::{QueryResponseKind, RpcQueryError};
use near_jsonrpc_primitives::types::transactions::{RpcTransactionError, TransactionInfo};
use near_primitives::errors::InvalidTxError;
use near_primitives::hash::CryptoHash;
use near_primitives::transaction::{Action, SignedTransaction, Transaction, TransactionV0};
use near_primitives::types::{AccountId, BlockReference, Finality, FunctionArgs};
use near_primitives::views::{
    AccessKeyPermissionView, FinalExecutionOutcomeView, FinalExecutionStatus, QueryRequest, TxExecutionStatus,
};
use serde_json::Value;
use tokio::sync::Mutex;

use super::endpoints::{RpcEndpoints, RpcMetrics};
use super::error::{ChainError, contract_message};
use super::{ChainClient, ChainStatus, TxOutcome};

/// How hard to try before giving up on a send or a read.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Sends of the same signed transaction; each send fails over round the
    /// endpoints until one answers. Default 4.
    pub attempts: u32,
    /// Passes round the endpoints for a read (status, view, balance, access
    /// key) before it fails as unreachable. Default 2.
    pub read_passes: u32,
    /// Wait before the first re-send or the second pass; doubles each time.
    /// Default 250 ms.
    pub backoff: Duration,
    /// How long one endpoint is given to answer one request before the next
    /// is asked. Default 20 s (a send waits for finality: a few seconds on
    /// testnet).
    pub request_timeout: Duration,
    /// How long a fetched block hash is used for new transactions. Default 60 s
    /// (NEAR accepts hashes up to ~24 h old).
    pub block_hash_ttl: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            read_passes: 2,
            backoff: Duration::from_millis(250),
            request_timeout: Duration::from_secs(20),
            block_hash_ttl: Duration::from_secs(60),
        }
    }
}

#[derive(Default)]
struct KeyState {
    /// The next nonce to use, once known.
    next_nonce: Option<u64>,
    /// A recent block hash and when it was fetched.
    block_hash: Option<(CryptoHash, Instant)>,
    /// What the key may sign, as the chain said (function-call keys only).
    scope: Option<AccessKeyPermissionView>,
}

/// One access key of the account, with its own nonce sequence.
struct AccessKeySigner {
    signer: Signer,
    state: Mutex<KeyState>,
}

impl AccessKeySigner {
    fn new(account: &AccountId, secret: SecretKey) -> AccessKeySigner {
        let signer = near_crypto::InMemorySigner::from_secret_key(account.clone(), secret);
        AccessKeySigner { signer, state: Mutex::new(KeyState::default()) }
    }
}

/// NEAR JSON-RPC endpoints (one or several, with failover), optionally with
/// the keys of one account.
pub struct NearRpcChain {
    endpoints: RpcEndpoints,
    account: Option<AccountId>,
    /// The full-access key.
    full: Option<AccessKeySigner>,
    /// A function-call access key, used for what it may sign.
    function: Option<AccessKeySigner>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for NearRpcChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearRpcChain")
            .field("endpoints", &self.endpoints.urls())
            .field("signer", &self.account)
            .field("full_access_key", &self.full.as_ref().map(|k| k.signer.public_key()))
            .field("function_call_key", &self.function.as_ref().map(|k| k.signer.public_key()))
            .finish()
    }
}

/// Whether a function-call key with permission `scope` may sign `actions`
/// for `receiver` (nearcore's rules: one function call, no deposit, the
/// key's receiver, a listed method or any when none are listed).
fn function_key_may_sign(scope: &AccessKeyPermissionView, receiver: &AccountId, actions: &[Action]) -> bool {
    let AccessKeyPermissionView::FunctionCall { receiver_id, method_names, .. } = scope else {
        // A full-access key given as the function-call key may sign anything.
        return true;
    };
    let [Action::FunctionCall(call)] = actions else { return false };
    call.deposit.is_zero()
        && receiver_id == receiver.as_str()
        && (method_names.is_empty() || method_names.contains(&call.method_name))
}

/// What a transaction is, for an error: the method called, or the actions.
fn describe(actions: &[Action]) -> String {
    match actions {
        [Action::FunctionCall(c)] if c.deposit.is_zero() => format!("calling {}", c.method_name),
        [Action::FunctionCall(c)] => format!("calling {} with a deposit of {} yocto", c.method_name, c.deposit),
        _ => format!("a transaction of {} action(s) other than one function call", actions.len()),
    }
}

/// Why one send did not give an outcome.
enum SendError {
    /// The chain refused the transaction: it did not execute.
    Refused(InvalidTxError),
    /// Transport trouble or a timeout: it may or may not have executed.
    Uncertain(ChainError),
    /// Any other definite error.
    Fatal(ChainError),
}

impl NearRpcChain {
    /// A read-only client of `url` alone.
    pub fn new(url: &str) -> NearRpcChain {
        NearRpcChain::over(RpcEndpoints::single(url))
    }

    /// A read-only client of `endpoints`, failing over between them.
    pub fn over(endpoints: RpcEndpoints) -> NearRpcChain {
        NearRpcChain { endpoints, account: None, full: None, function: None, retry: RetryPolicy::default() }
    }

    /// A client that signs as `account` with `secret_key`, a full-access key.
    pub fn with_signer(url: &str, account: AccountId, secret_key: SecretKey) -> NearRpcChain {
        NearRpcChain::with_keys(url, account, Some(secret_key), None)
    }

    /// A client that signs as `account` with a full-access key, a
    /// function-call access key, or both. With both, what the function-call
    /// key may sign (as the chain says) is signed with it, the rest with the
    /// full-access key; with the function-call key alone, the rest fails
    /// with [`ChainError::NeedsFullAccessKey`]. With neither, the client is
    /// read-only.
    pub fn with_keys(
        url: &str,
        account: AccountId,
        full_access: Option<SecretKey>,
        function_call: Option<SecretKey>,
    ) -> NearRpcChain {
        NearRpcChain::over(RpcEndpoints::single(url)).signing(account, full_access, function_call)
    }

    /// This client, signing as `account` with the keys given (see
    /// [`with_keys`](Self::with_keys)); with neither key it stays read-only.
    pub fn signing(
        self,
        account: AccountId,
        full_access: Option<SecretKey>,
        function_call: Option<SecretKey>,
    ) -> NearRpcChain {
        if full_access.is_none() && function_call.is_none() {
            return self;
        }
        NearRpcChain {
            full: full_access.map(|k| AccessKeySigner::new(&account, k)),
            function: function_call.map(|k| AccessKeySigner::new(&account, k)),
            account: Some(account),
            ..self
        }
    }

    /// Changes the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> NearRpcChain {
        self.retry = retry;
        self
    }

    /// The endpoint calls go to now (the one that answered last).
    pub fn url(&self) -> &str {
        self.endpoints.current_url()
    }

    /// The endpoints, with the one in use.
    pub fn endpoints(&self) -> &RpcEndpoints {
        &self.endpoints
    }

    /// Counts the calls each endpoint answered in `metrics`.
    pub fn with_rpc_metrics(mut self, metrics: RpcMetrics) -> NearRpcChain {
        self.endpoints = self.endpoints.with_metrics(metrics);
        self
    }

    /// A read, failing over round the endpoints for `read_passes` passes.
    async fn read<M: methods::RpcMethod>(&self, req: M) -> Result<M::Response, JsonRpcError<M::Error>> {
        let r = &self.retry;
        self.endpoints.call(&req, r.read_passes, r.backoff, r.request_timeout).await
    }

    /// One send: a single pass round the endpoints (the caller re-sends).
    async fn send_once<M: methods::RpcMethod>(&self, req: M) -> Result<M::Response, JsonRpcError<M::Error>> {
        self.endpoints.call(&req, 1, self.retry.backoff, self.retry.request_timeout).await
    }

    /// The full-access key's public half, if it has one.
    pub fn public_key(&self) -> Option<PublicKey> {
        self.full.as_ref().map(|k| k.signer.public_key())
    }

    /// The function-call access key's public half, if it has one.
    pub fn function_key(&self) -> Option<PublicKey> {
        self.function.as_ref().map(|k| k.signer.public_key())
    }

    fn unreachable<E: std::fmt::Display>(&self, e: &JsonRpcError<E>) -> ChainError {
        ChainError::Unreachable { url: self.endpoints.urls().join(", "), detail: e.to_string() }
    }

    /// The access key's nonce, its permission and a block hash to build on.
    async fn access_key(
        &self,
        account: &AccountId,
        key: &PublicKey,
    ) -> Result<(u64, AccessKeyPermissionView, CryptoHash), ChainError> {
        let req = methods::query::RpcQueryRequest {
            block_reference: BlockReference::Finality(Finality::Final),
            request: QueryRequest::ViewAccessKey { account_id: account.clone(), public_key: key.clone() },
        };
        match self.read(req).await {
            Ok(r) => match r.kind {
                QueryResponseKind::AccessKey(ak) => Ok((ak.nonce, ak.permission, r.block_hash)),
                other => Err(ChainError::Decode { what: "view_access_key".into(), detail: format!("{other:?}") }),
            },
            Err(e) => Err(self.query_error(e, "view_access_key", account, Some(key))),
        }
    }

    /// An access key of `account` as the chain knows it: its nonce and
    /// permission, or `None` if the account has no such key.
    pub async fn access_key_view(
        &self,
        account: &AccountId,
        key: &PublicKey,
    ) -> Result<Option<(u64, AccessKeyPermissionView)>, ChainError> {
        match self.access_key(account, key).await {
            Ok((nonce, permission, _)) => Ok(Some((nonce, permission))),
            Err(ChainError::UnknownAccessKey { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn query_error(
        &self,
        e: JsonRpcError<RpcQueryError>,
        what: &str,
        account: &AccountId,
        key: Option<&PublicKey>,
    ) -> ChainError {
        match e {
            JsonRpcError::TransportError(_) => self.unreachable(&e),
            JsonRpcError::ServerError(JsonRpcServerError::HandlerError(h)) => match h {
                RpcQueryError::UnknownAccount { requested_account_id, .. } => {
                    ChainError::UnknownAccount(requested_account_id)
                }
                RpcQueryError::UnknownAccessKey { public_key, .. } => ChainError::UnknownAccessKey {
                    account: account.clone(),
                    key: key.map_or_else(|| public_key.to_string(), |k| k.to_string()),
                },
                RpcQueryError::ContractExecutionError { vm_error, .. } => {
                    ChainError::ViewFailed { method: what.to_string(), message: contract_message(&vm_error) }
                }
                RpcQueryError::NoContractCode { contract_account_id, .. } => ChainError::ViewFailed {
                    method: what.to_string(),
                    message: format!("{contract_account_id} has no contract deployed"),
                },
                other => ChainError::Rpc(other.to_string()),
            },
            other => ChainError::Rpc(other.to_string()),
        }
    }

    /// Sends one signed transaction, re-sending it unchanged on uncertain
    /// failures, and finally asking for its status.
    async fn send_signed(&self, tx: &SignedTransaction) -> Result<FinalExecutionOutcomeView, SendError> {
        let hash = tx.get_hash();
        let mut wait = self.retry.backoff;
        let mut last = String::new();
        for attempt in 0..self.retry.attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
            }
            let req = methods::send_tx::RpcSendTransactionRequest {
                signed_transaction: tx.clone(),
                wait_until: TxExecutionStatus::Final,
            };
            match self.send_once(req).await {
                Ok(resp) => match resp.final_execution_outcome {
                    Some(o) => return Ok(o.into_outcome()),
                    None => last = "no outcome in the response".into(),
                },
                Err(JsonRpcError::ServerError(JsonRpcServerError::HandlerError(
                    RpcTransactionError::InvalidTransaction { context },
                ))) => {
                    // A nonce error may mean an earlier send of this very
                    // transaction landed: on a re-send, or on this send when
                    // an endpoint that failed before answering had passed it
                    // on and the next one (another RPC node) sees the nonce
                    // used. (NEAR and the devnet answer a known hash with its
                    // outcome; this covers endpoints that do not.)
                    if let Ok(Some(o)) = self.tx_status(tx).await {
                        return Ok(o);
                    }
                    return Err(SendError::Refused(context));
                }
                // Transport trouble, a timeout, a rate limit or a server
                // error on every endpoint: the send may have landed.
                Err(
                    e @ (JsonRpcError::TransportError(_)
                    | JsonRpcError::ServerError(
                        JsonRpcServerError::ResponseStatusError(_) | JsonRpcServerError::InternalError { .. },
                    )),
                ) => last = e.to_string(),
                Err(JsonRpcError::ServerError(JsonRpcServerError::HandlerError(
                    e @ (RpcTransactionError::TimeoutError(_) | RpcTransactionError::InternalError { .. }),
                ))) => last = e.to_string(),
                Err(e) => return Err(SendError::Fatal(ChainError::Rpc(e.to_string()))),
            }
        }
        match self.tx_status(tx).await {
            Ok(Some(o)) => Ok(o),
            Ok(None) => Err(SendError::Uncertain(ChainError::Unknown {
                tx_hash: hash,
                attempts: self.retry.attempts,
                detail: last,
            })),
            Err(e) => Err(SendError::Uncertain(ChainError::Unknown {
                tx_hash: hash,
                attempts: self.retry.attempts,
                detail: format!("{last}; tx status: {e}"),
            })),
        }
    }

    /// The final outcome of `tx` if the chain knows it.
    async fn tx_status(&self, tx: &SignedTransaction) -> Result<Option<FinalExecutionOutcomeView>, ChainError> {
        let req = methods::tx::RpcTransactionStatusRequest {
            transaction_info: TransactionInfo::TransactionId {
                tx_hash: tx.get_hash(),
                sender_account_id: tx.transaction.signer_id().clone(),
            },
            wait_until: TxExecutionStatus::Final,
        };
        match self.read(req).await {
            Ok(r) => Ok(r.final_execution_outcome.map(|o| o.into_outcome())),
            Err(JsonRpcError::ServerError(JsonRpcServerError::HandlerError(
                RpcTransactionError::UnknownTransaction { .. },
            ))) => Ok(None),
            Err(e) => Err(ChainError::Rpc(e.to_string())),
        }
    }
}

fn outcome(view: FinalExecutionOutcomeView) -> Result<TxOutcome, ChainError> {
    let tx_hash = view.transaction_outcome.id;
    let logs = view.receipts_outcome.iter().flat_map(|r| r.outcome.logs.iter().cloned()).collect();
    let gas_burnt = view.transaction_outcome.outcome.gas_burnt.as_gas()
        + view.receipts_outcome.iter().map(|r| r.outcome.gas_burnt.as_gas()).sum::<u64>();
    match view.status {
        FinalExecutionStatus::SuccessValue(value) => Ok(TxOutcome { tx_hash, value, logs, gas_burnt }),
        FinalExecutionStatus::Failure(e) => Err(ChainError::from_failure(tx_hash, &e)),
        FinalExecutionStatus::NotStarted | FinalExecutionStatus::Started => Err(ChainError::Unknown {
            tx_hash,
            attempts: 1,
            detail: "the transaction has not finished executing".into(),
        }),
    }
}

impl ChainClient for NearRpcChain {
    async fn status(&self) -> Result<ChainStatus, ChainError> {
        let s = self.read(methods::status::RpcStatusRequest).await.map_err(|e| match e {
            JsonRpcError::TransportError(_) => self.unreachable(&e),
            other => ChainError::Rpc(other.to_string()),
        })?;
        let time_ms = (s.sync_info.latest_block_time.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
        Ok(ChainStatus {
            chain_id: s.chain_id,
            protocol_version: s.protocol_version,
            height: s.sync_info.latest_block_height,
            block_hash: s.sync_info.latest_block_hash,
            time_ms,
        })
    }

    async fn view(&self, contract: &AccountId, method: &str, args: Value) -> Result<Value, ChainError> {
        let req = methods::query::RpcQueryRequest {
            block_reference: BlockReference::Finality(Finality::Final),
            request: QueryRequest::CallFunction {
                account_id: contract.clone(),
                method_name: method.to_string(),
                args: FunctionArgs::from(args.to_string().into_bytes()),
            },
        };
        let r = self.read(req).await.map_err(|e| self.query_error(e, method, contract, None))?;
        match r.kind {
            QueryResponseKind::CallResult(c) if c.result.is_empty() => Ok(Value::Null),
            QueryResponseKind::CallResult(c) => serde_json::from_slice(&c.result)
                .map_err(|e| ChainError::Decode { what: format!("view {method}"), detail: e.to_string() }),
            other => Err(ChainError::Decode { what: format!("view {method}"), detail: format!("{other:?}") }),
        }
    }

    async fn transact(&self, receiver: &AccountId, actions: Vec<Action>) -> Result<TxOutcome, ChainError> {
        self.sign_and_send(receiver, actions, None).await
    }

    async fn transact_announced(
        &self,
        receiver: &AccountId,
        actions: Vec<Action>,
        signed: tokio::sync::oneshot::Sender<CryptoHash>,
    ) -> Result<TxOutcome, ChainError> {
        self.sign_and_send(receiver, actions, Some(signed)).await
    }

    async fn balance(&self, account: &AccountId) -> Result<u128, ChainError> {
        let req = methods::query::RpcQueryRequest {
            block_reference: BlockReference::Finality(Finality::Final),
            request: QueryRequest::ViewAccount { account_id: account.clone() },
        };
        let r = self.read(req).await.map_err(|e| self.query_error(e, "view_account", account, None))?;
        match r.kind {
            QueryResponseKind::ViewAccount(a) => Ok(a.amount.as_yoctonear()),
            other => Err(ChainError::Decode { what: "view_account".into(), detail: format!("{other:?}") }),
        }
    }

    async fn advance_time(&self, ms: u64) -> Result<(), ChainError> {
        let req = methods::any::<Result<Value, Value>>("devnet_advance_time", serde_json::json!({ "ms": ms }));
        // Not a read: moving the clock twice is not moving it once.
        match self.send_once(req).await {
            Ok(_) => Ok(()),
            Err(JsonRpcError::ServerError(JsonRpcServerError::RequestValidationError(_))) => {
                Err(ChainError::Unsupported("devnet_advance_time (moving time is devnet-only)"))
            }
            Err(e @ JsonRpcError::TransportError(_)) => Err(self.unreachable(&e)),
            Err(e) => Err(ChainError::Rpc(e.to_string())),
        }
    }

    fn signer_account(&self) -> Option<&AccountId> {
        self.account.as_ref()
    }
}

impl NearRpcChain {
    /// Signs `actions` for `receiver`, announces the first signed hash on
    /// `signed` (if given), sends and waits for the final outcome.
    async fn sign_and_send(
        &self,
        receiver: &AccountId,
        actions: Vec<Action>,
        signed: Option<tokio::sync::oneshot::Sender<CryptoHash>>,
    ) -> Result<TxOutcome, ChainError> {
        let account = self.account.as_ref().ok_or(ChainError::NoSigner)?;
        if let Some(k) = &self.function {
            let mut state = k.state.lock().await;
            if state.scope.is_none() {
                let public_key = k.signer.public_key();
                let (ak_nonce, scope, block_hash) = self.access_key(account, &public_key).await?;
                state.next_nonce = Some(state.next_nonce.unwrap_or(0).max(ak_nonce + 1));
                state.block_hash = Some((block_hash, Instant::now()));
                state.scope = Some(scope);
            }
            if function_key_may_sign(state.scope.as_ref().expect("set above"), receiver, &actions) {
                return self.sign_and_send_with(account, k, state, receiver, actions, signed).await;
            }
        }
        let Some(k) = &self.full else {
            return Err(ChainError::NeedsFullAccessKey { account: account.clone(), what: describe(&actions) });
        };
        let state = k.state.lock().await;
        self.sign_and_send_with(account, k, state, receiver, actions, signed).await
    }

    /// Signs with `k` (its state locked for the whole exchange, so its
    /// nonces stay in order), sends and waits for the final outcome.
    async fn sign_and_send_with(
        &self,
        account: &AccountId,
        k: &AccessKeySigner,
        mut key: tokio::sync::MutexGuard<'_, KeyState>,
        receiver: &AccountId,
        actions: Vec<Action>,
        mut signed: Option<tokio::sync::oneshot::Sender<CryptoHash>>,
    ) -> Result<TxOutcome, ChainError> {
        let signer = &k.signer;
        let public_key = signer.public_key();
        let mut refreshes = 0u32;
        loop {
            let stale = key.block_hash.is_none_or(|(_, at)| at.elapsed() > self.retry.block_hash_ttl);
            if key.next_nonce.is_none() || stale {
                let (ak_nonce, scope, block_hash) = self.access_key(account, &public_key).await?;
                let next = key.next_nonce.unwrap_or(0).max(ak_nonce + 1);
                key.next_nonce = Some(next);
                key.block_hash = Some((block_hash, Instant::now()));
                key.scope = Some(scope);
            }
            let nonce = key.next_nonce.expect("set above");
            let block_hash = key.block_hash.expect("set above").0;
            let tx = Transaction::V0(TransactionV0 {
                signer_id: account.clone(),
                public_key: public_key.clone(),
                nonce,
                receiver_id: receiver.clone(),
                block_hash,
                actions: actions.clone(),
            });
            let (hash, _) = tx.get_hash_and_size();
            if let Some(tell) = signed.take() {
                let _ = tell.send(hash);
            }
            let tx = SignedTransaction::new(signer.sign(hash.as_ref()), tx);
            match self.send_signed(&tx).await {
                Ok(view) => {
                    key.next_nonce = Some(nonce + 1);
                    return outcome(view);
                }
                Err(SendError::Refused(InvalidTxError::InvalidNonce { ak_nonce, .. })) if refreshes < 3 => {
                    refreshes += 1;
                    key.next_nonce = Some(ak_nonce + 1);
                }
                Err(SendError::Refused(InvalidTxError::Expired | InvalidTxError::InvalidChain)) if refreshes < 3 => {
                    refreshes += 1;
                    key.block_hash = None;
                }
                Err(SendError::Refused(e)) => {
                    // A key whose permission changed on chain (deleted,
                    // re-added) is asked about again next time.
                    key.scope = None;
                    return Err(ChainError::from_invalid_tx(&e));
                }
                Err(SendError::Uncertain(e)) => {
                    // The nonce may or may not be used: ask the chain next time.
                    key.next_nonce = None;
                    return Err(e);
                }
                Err(SendError::Fatal(e)) => {
                    key.next_nonce = None;
                    return Err(e);
                }
            }
        }
    }
}
