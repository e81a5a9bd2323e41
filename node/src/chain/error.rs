//! What can go wrong talking to the chain, in terms a caller can act on.

use near_primitives::errors::{
    ActionErrorKind, FunctionCallError, InvalidAccessKeyError, InvalidTxError, TxExecutionError,
};
use near_primitives::hash::CryptoHash;
use near_primitives::types::AccountId;

/// A chain operation that did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChainError {
    /// The RPC endpoint could not be reached (connection refused, DNS, TLS…).
    /// Nothing is known to have happened; check the URL and that the node runs.
    #[error("RPC {url} unreachable: {detail}")]
    Unreachable {
        /// The endpoint.
        url: String,
        /// The transport's message.
        detail: String,
    },
    /// The transaction executed and failed. For a contract call `message` is
    /// the contract's own (its `require!` text); the state did not change.
    #[error("transaction {tx_hash} failed: {message}")]
    TxFailed {
        /// The transaction.
        tx_hash: CryptoHash,
        /// The contract's message, or NEAR's description of the failure.
        message: String,
    },
    /// The signer cannot pay for the transaction (deposit plus gas).
    /// Fund the account or attach less.
    #[error("account {account} has not enough balance: has {balance} yocto, the transaction costs {cost}")]
    NotEnoughBalance {
        /// The signer.
        account: AccountId,
        /// Its balance.
        balance: u128,
        /// What the transaction costs.
        cost: u128,
    },
    /// An account would not cover its storage stake afterwards. Fund it.
    #[error("account {account} would not cover its storage: {missing} yocto more are needed")]
    LackBalanceForState {
        /// The account.
        account: AccountId,
        /// The shortfall.
        missing: u128,
    },
    /// The account does not exist on this chain.
    #[error("account {0} does not exist on this chain")]
    UnknownAccount(AccountId),
    /// The signing key is not an access key of the account (wrong key file or
    /// wrong network).
    #[error("key {key} is not an access key of {account}")]
    UnknownAccessKey {
        /// The account.
        account: AccountId,
        /// The key.
        key: String,
    },
    /// The chain refused the transaction before executing it.
    #[error("transaction refused: {0}")]
    Refused(String),
    /// A view call failed; `message` is the contract's.
    #[error("view {method} failed: {message}")]
    ViewFailed {
        /// The method.
        method: String,
        /// What the contract said.
        message: String,
    },
    /// The transaction was sent but its fate is unknown (timeouts). Query it
    /// with `tx` before sending anything else for the same intent.
    #[error("transaction {tx_hash} status unknown after {attempts} attempts ({detail}); check it before retrying")]
    Unknown {
        /// The transaction.
        tx_hash: CryptoHash,
        /// Sends tried.
        attempts: u32,
        /// The last error.
        detail: String,
    },
    /// The transaction needs the account's full-access key (a deposit, an
    /// action other than one function call, another receiver or a method the
    /// function-call key does not list), but the client has only a
    /// function-call access key. Nothing was sent. Give the client the
    /// full-access key, or do this elsewhere with it.
    #[error(
        "{what} needs a full-access key of {account}, but only a function-call access key is configured \
         (it signs calls without a deposit to the contract): configure the account's full-access key file"
    )]
    NeedsFullAccessKey {
        /// The signing account.
        account: AccountId,
        /// What was asked (the method, the deposit).
        what: String,
    },
    /// The function-call access key's allowance cannot pay this
    /// transaction's gas. Add a new function-call key (or one with a larger
    /// allowance) with the full-access key.
    #[error(
        "the function-call access key {key} of {account} has {allowance} yocto of allowance left, \
         the transaction's gas costs {cost}: add a new function-call key with the full-access key"
    )]
    AllowanceExhausted {
        /// The account.
        account: AccountId,
        /// The key.
        key: String,
        /// Allowance left.
        allowance: u128,
        /// What the gas would cost.
        cost: u128,
    },
    /// This client has no signing key.
    #[error("no signing key configured: this chain client is read-only")]
    NoSigner,
    /// The chain does not offer this (e.g. moving time on a public network).
    #[error("the chain does not support {0}")]
    Unsupported(&'static str),
    /// The response could not be understood.
    #[error("unexpected response from {what}: {detail}")]
    Decode {
        /// What was asked.
        what: String,
        /// Why it did not parse.
        detail: String,
    },
    /// Any other RPC error.
    #[error("RPC error: {0}")]
    Rpc(String),
}

/// The contract's message without NEAR's prefix.
pub(crate) fn contract_message(m: &str) -> String {
    m.strip_prefix("Smart contract panicked: ").unwrap_or(m).to_string()
}

impl ChainError {
    /// The error for a refused transaction.
    pub(crate) fn from_invalid_tx(e: &InvalidTxError) -> ChainError {
        match e {
            InvalidTxError::NotEnoughBalance { signer_id, balance, cost } => ChainError::NotEnoughBalance {
                account: signer_id.clone(),
                balance: balance.as_yoctonear(),
                cost: cost.as_yoctonear(),
            },
            InvalidTxError::LackBalanceForState { signer_id, amount } => {
                ChainError::LackBalanceForState { account: signer_id.clone(), missing: amount.as_yoctonear() }
            }
            InvalidTxError::SignerDoesNotExist { signer_id } => ChainError::UnknownAccount(signer_id.clone()),
            InvalidTxError::InvalidAccessKeyError(InvalidAccessKeyError::AccessKeyNotFound {
                account_id,
                public_key,
            }) => ChainError::UnknownAccessKey { account: account_id.clone(), key: public_key.to_string() },
            InvalidTxError::InvalidAccessKeyError(InvalidAccessKeyError::NotEnoughAllowance {
                account_id,
                public_key,
                allowance,
                cost,
            }) => ChainError::AllowanceExhausted {
                account: account_id.clone(),
                key: public_key.to_string(),
                allowance: allowance.as_yoctonear(),
                cost: cost.as_yoctonear(),
            },
            other => ChainError::Refused(other.to_string()),
        }
    }

    /// The error for an executed transaction that failed.
    pub(crate) fn from_failure(tx_hash: CryptoHash, e: &TxExecutionError) -> ChainError {
        match e {
            TxExecutionError::InvalidTxError(e) => ChainError::from_invalid_tx(e),
            TxExecutionError::ActionError(a) => match &a.kind {
                ActionErrorKind::FunctionCallError(FunctionCallError::ExecutionError(m)) => {
                    ChainError::TxFailed { tx_hash, message: contract_message(m) }
                }
                ActionErrorKind::LackBalanceForState { account_id, amount } => {
                    ChainError::LackBalanceForState { account: account_id.clone(), missing: amount.as_yoctonear() }
                }
                ActionErrorKind::AccountDoesNotExist { account_id } => ChainError::UnknownAccount(account_id.clone()),
                other => ChainError::TxFailed { tx_hash, message: other.to_string() },
            },
        }
    }
}
