//! [`ChainClient`] over NEAR's JSON-RPC (near-jsonrpc-client 0.23).
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

use std::time::{Duration, Instant};

use near_crypto::{PublicKey, SecretKey, Signer};
use near_jsonrpc_client::errors::{JsonRpcError, JsonRpcServerError};
use near_jsonrpc_client::{JsonRpcClient, methods};
use near_jsonrpc_primitives::types::query::{QueryResponseKind, RpcQueryError};
use near_jsonrpc_primitives::types::transactions::{RpcTransactionError, TransactionInfo};
use near_primitives::errors::InvalidTxError;
use near_primitives::hash::CryptoHash;
use near_primitives::transaction::{Action, SignedTransaction, Transaction, TransactionV0};
use near_primitives::types::{AccountId, BlockReference, Finality, FunctionArgs};
use near_primitives::views::{FinalExecutionOutcomeView, FinalExecutionStatus, QueryRequest, TxExecutionStatus};
use serde_json::Value;
use tokio::sync::Mutex;

use super::error::{ChainError, contract_message};
use super::{ChainClient, ChainStatus, TxOutcome};

/// How hard to try before giving up on a send.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Sends of the same signed transaction. Default 4.
    pub attempts: u32,
    /// Wait before the first re-send; doubles each time. Default 250 ms.
    pub backoff: Duration,
    /// How long a fetched block hash is used for new transactions. Default 60 s
    /// (NEAR accepts hashes up to ~24 h old).
    pub block_hash_ttl: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { attempts: 4, backoff: Duration::from_millis(250), block_hash_ttl: Duration::from_secs(60) }
    }
}

struct KeyState {
    /// The next nonce to use, once known.
    next_nonce: Option<u64>,
    /// A recent block hash and when it was fetched.
    block_hash: Option<(CryptoHash, Instant)>,
}

/// A NEAR JSON-RPC endpoint, optionally with a signing key.
pub struct NearRpcChain {
    client: JsonRpcClient,
    url: String,
    signer: Option<(AccountId, Signer)>,
    key: Mutex<KeyState>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for NearRpcChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearRpcChain")
            .field("url", &self.url)
            .field("signer", &self.signer.as_ref().map(|s| &s.0))
            .finish()
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
    /// A read-only client of `url`.
    pub fn new(url: &str) -> NearRpcChain {
        NearRpcChain {
            client: JsonRpcClient::connect(url),
            url: url.to_string(),
            signer: None,
            key: Mutex::new(KeyState { next_nonce: None, block_hash: None }),
            retry: RetryPolicy::default(),
        }
    }

    /// A client that signs as `account` with `secret_key`.
    pub fn with_signer(url: &str, account: AccountId, secret_key: SecretKey) -> NearRpcChain {
        let signer = near_crypto::InMemorySigner::from_secret_key(account.clone(), secret_key);
        NearRpcChain { signer: Some((account, signer)), ..NearRpcChain::new(url) }
    }

    /// Changes the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> NearRpcChain {
        self.retry = retry;
        self
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The signing key's public half.
    pub fn public_key(&self) -> Option<PublicKey> {
        self.signer.as_ref().map(|(_, s)| s.public_key())
    }

    fn unreachable<E: std::fmt::Display>(&self, e: &JsonRpcError<E>) -> ChainError {
        ChainError::Unreachable { url: self.url.clone(), detail: e.to_string() }
    }

    /// The access key's nonce and a block hash to build on.
    async fn access_key(&self, account: &AccountId, key: &PublicKey) -> Result<(u64, CryptoHash), ChainError> {
        let req = methods::query::RpcQueryRequest {
            block_reference: BlockReference::Finality(Finality::Final),
            request: QueryRequest::ViewAccessKey { account_id: account.clone(), public_key: key.clone() },
        };
        match self.client.call(req).await {
            Ok(r) => match r.kind {
                QueryResponseKind::AccessKey(ak) => Ok((ak.nonce, r.block_hash)),
                other => Err(ChainError::Decode { what: "view_access_key".into(), detail: format!("{other:?}") }),
            },
            Err(e) => Err(self.query_error(e, "view_access_key", account, Some(key))),
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
            match self.client.call(req).await {
                Ok(resp) => match resp.final_execution_outcome {
                    Some(o) => return Ok(o.into_outcome()),
                    None => last = "no outcome in the response".into(),
                },
                Err(JsonRpcError::ServerError(JsonRpcServerError::HandlerError(
                    RpcTransactionError::InvalidTransaction { context },
                ))) => {
                    // On a re-send, a nonce error may mean our first send landed.
                    if attempt > 0
                        && let Ok(Some(o)) = self.tx_status(tx).await
                    {
                        return Ok(o);
                    }
                    return Err(SendError::Refused(context));
                }
                Err(e @ JsonRpcError::TransportError(_)) => last = e.to_string(),
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
        match self.client.call(req).await {
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
        let s = self.client.call(methods::status::RpcStatusRequest).await.map_err(|e| match e {
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
        let r = self.client.call(req).await.map_err(|e| self.query_error(e, method, contract, None))?;
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
        let r = self.client.call(req).await.map_err(|e| self.query_error(e, "view_account", account, None))?;
        match r.kind {
            QueryResponseKind::ViewAccount(a) => Ok(a.amount.as_yoctonear()),
            other => Err(ChainError::Decode { what: "view_account".into(), detail: format!("{other:?}") }),
        }
    }

    async fn advance_time(&self, ms: u64) -> Result<(), ChainError> {
        let req = methods::any::<Result<Value, Value>>("devnet_advance_time", serde_json::json!({ "ms": ms }));
        match self.client.call(req).await {
            Ok(_) => Ok(()),
            Err(JsonRpcError::ServerError(JsonRpcServerError::RequestValidationError(_))) => {
                Err(ChainError::Unsupported("devnet_advance_time (moving time is devnet-only)"))
            }
            Err(e @ JsonRpcError::TransportError(_)) => Err(self.unreachable(&e)),
            Err(e) => Err(ChainError::Rpc(e.to_string())),
        }
    }

    fn signer_account(&self) -> Option<&AccountId> {
        self.signer.as_ref().map(|(a, _)| a)
    }
}

impl NearRpcChain {
    /// Signs `actions` for `receiver`, announces the first signed hash on
    /// `signed` (if given), sends and waits for the final outcome.
    async fn sign_and_send(
        &self,
        receiver: &AccountId,
        actions: Vec<Action>,
        mut signed: Option<tokio::sync::oneshot::Sender<CryptoHash>>,
    ) -> Result<TxOutcome, ChainError> {
        let (account, signer) = self.signer.as_ref().ok_or(ChainError::NoSigner)?;
        let public_key = signer.public_key();
        let mut key = self.key.lock().await;
        let mut refreshes = 0u32;
        loop {
            let stale = key.block_hash.is_none_or(|(_, at)| at.elapsed() > self.retry.block_hash_ttl);
            if key.next_nonce.is_none() || stale {
                let (ak_nonce, block_hash) = self.access_key(account, &public_key).await?;
                let next = key.next_nonce.unwrap_or(0).max(ak_nonce + 1);
                key.next_nonce = Some(next);
                key.block_hash = Some((block_hash, Instant::now()));
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
                Err(SendError::Refused(e)) => return Err(ChainError::from_invalid_tx(&e)),
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
