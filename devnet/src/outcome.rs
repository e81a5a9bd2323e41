//! Reading outcomes: helpers on [`TxRecord`] for tests, and the conversion to
//! NEAR's own views (`FinalExecutionOutcomeView`, `AccountView`, …) that the
//! RPC server returns.

use near_primitives::errors::{ActionErrorKind, FunctionCallError, TxExecutionError};
use near_primitives::hash::CryptoHash;
use near_primitives::transaction::ExecutionStatus;
use near_primitives::types::{Balance, Gas};
use near_primitives::views::{
    AccountView, ExecutionMetadataView, ExecutionOutcomeView, ExecutionOutcomeWithIdView, ExecutionStatusView,
    FinalExecutionOutcomeView, FinalExecutionStatus, SignedTransactionView,
};

use crate::state::{Account, BlockInfo, TxRecord};

impl TxRecord {
    /// The transaction's hash.
    pub fn hash(&self) -> CryptoHash {
        self.tx.get_hash()
    }

    /// Whether the transaction's final status is a success.
    pub fn is_success(&self) -> bool {
        matches!(self.status, ExecutionStatus::SuccessValue(_))
    }

    /// The returned bytes, on success.
    pub fn value(&self) -> Option<&[u8]> {
        match &self.status {
            ExecutionStatus::SuccessValue(v) => Some(v),
            _ => None,
        }
    }

    /// The returned value parsed as JSON (`Null` for an empty return).
    pub fn json(&self) -> Option<serde_json::Value> {
        let v = self.value()?;
        if v.is_empty() { Some(serde_json::Value::Null) } else { serde_json::from_slice(v).ok() }
    }

    /// The failure, if the transaction failed.
    pub fn failure(&self) -> Option<&TxExecutionError> {
        match &self.status {
            ExecutionStatus::Failure(e) => Some(e),
            _ => None,
        }
    }

    /// The contract's message when a function call failed (e.g.
    /// `Smart contract panicked: not registered`).
    pub fn error_message(&self) -> Option<String> {
        match self.failure()? {
            TxExecutionError::ActionError(a) => match &a.kind {
                ActionErrorKind::FunctionCallError(FunctionCallError::ExecutionError(m)) => Some(m.clone()),
                other => Some(format!("{other:?}")),
            },
            TxExecutionError::InvalidTxError(e) => Some(e.to_string()),
        }
    }

    /// Every log line of every receipt, in order.
    pub fn logs(&self) -> impl Iterator<Item = &str> {
        self.receipts.iter().flat_map(|r| r.logs.iter().map(String::as_str))
    }

    /// The NEP-297 events (the JSON after `EVENT_JSON:`), in order.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.logs().filter_map(|l| l.strip_prefix("EVENT_JSON:")).filter_map(|j| serde_json::from_str(j).ok()).collect()
    }

    /// Gas burnt by the transaction and all its receipts.
    pub fn gas_burnt(&self) -> u64 {
        self.tx_gas_burnt + self.receipts.iter().map(|r| r.gas_burnt).sum::<u64>()
    }

    /// Gas burnt by the first receipt (the called method itself, with the
    /// runtime's fees for executing its actions; without the conversion fee).
    pub fn call_gas_burnt(&self) -> u64 {
        self.receipts.first().map_or(0, |r| r.gas_burnt)
    }

    /// The outcome as NEAR's RPC reports it.
    pub fn to_view(&self, gas_price: u128) -> FinalExecutionOutcomeView {
        let status = match &self.status {
            ExecutionStatus::SuccessValue(v) => FinalExecutionStatus::SuccessValue(v.clone()),
            ExecutionStatus::Failure(e) => FinalExecutionStatus::Failure(e.clone()),
            ExecutionStatus::SuccessReceiptId(_) => FinalExecutionStatus::Started,
            ExecutionStatus::Unknown => FinalExecutionStatus::NotStarted,
        };
        let signer = self.tx.transaction.signer_id().clone();
        let transaction_outcome = ExecutionOutcomeWithIdView {
            proof: vec![],
            block_hash: self.block.hash,
            id: self.hash(),
            outcome: ExecutionOutcomeView {
                logs: vec![],
                receipt_ids: vec![self.receipt_id],
                gas_burnt: Gas::from_gas(self.tx_gas_burnt),
                tokens_burnt: Balance::from_yoctonear(self.tx_gas_burnt as u128 * gas_price),
                executor_id: signer,
                status: ExecutionStatusView::SuccessReceiptId(self.receipt_id),
                metadata: ExecutionMetadataView::default(),
            },
        };
        let receipts_outcome = self
            .receipts
            .iter()
            .map(|r| ExecutionOutcomeWithIdView {
                proof: vec![],
                block_hash: self.block.hash,
                id: r.id,
                outcome: ExecutionOutcomeView {
                    logs: r.logs.clone(),
                    receipt_ids: r.receipt_ids.clone(),
                    gas_burnt: Gas::from_gas(r.gas_burnt),
                    tokens_burnt: Balance::from_yoctonear(r.tokens_burnt),
                    executor_id: r.executor.clone(),
                    status: r.status.clone().into(),
                    metadata: ExecutionMetadataView::default(),
                },
            })
            .collect();
        FinalExecutionOutcomeView {
            status,
            transaction: SignedTransactionView::from(self.tx.clone()),
            transaction_outcome,
            receipts_outcome,
        }
    }
}

impl Account {
    /// The account as NEAR's `view_account` reports it.
    pub fn to_view(&self) -> AccountView {
        AccountView {
            amount: Balance::from_yoctonear(self.balance),
            locked: Balance::ZERO,
            code_hash: self.code_hash.unwrap_or_default(),
            storage_usage: self.storage_usage,
            storage_paid_at: 0,
            global_contract_hash: None,
            global_contract_account_id: None,
            state: Default::default(),
            bootstrap_nonce: None,
        }
    }
}

impl BlockInfo {
    /// The timestamp in milliseconds.
    pub fn timestamp_ms(&self) -> u64 {
        self.timestamp_ns / 1_000_000
    }
}
