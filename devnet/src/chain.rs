//! The devnet's chain as a value, and the errors and view results of its
//! direct API. Its behaviour is split by role: transactions, blocks and
//! views in [`crate::engine`], receipt execution in the private `receipts`
//! module; both import this module and neither imports the other's insides.

use std::collections::HashMap;
use std::sync::Arc;

use near_parameters::RuntimeFeesConfig;
use near_primitives::errors::InvalidTxError;
use near_primitives::hash::CryptoHash;
use near_primitives::types::AccountId;
use near_vm_runner::{ContractCode, MockContractRuntimeCache};

use crate::state::{ChainState, STATE_VERSION};

/// Errors of the engine's direct API (transactions refused by validation are
/// [`InvalidTxError`]s, as NEAR reports them).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The transaction was refused before execution; nothing changed.
    #[error("invalid transaction: {0}")]
    InvalidTx(InvalidTxError),
    /// No such account.
    #[error("account {0} does not exist")]
    UnknownAccount(AccountId),
    /// The account exists already.
    #[error("account {0} already exists")]
    AccountExists(AccountId),
    /// The account has no contract.
    #[error("account {0} has no contract code")]
    NoCode(AccountId),
    /// A view call failed (the message is the VM's, e.g. `Smart contract panicked: …`).
    #[error("view {method} on {account} failed: {message}")]
    ViewFailed {
        /// The contract.
        account: AccountId,
        /// The method.
        method: String,
        /// What went wrong.
        message: String,
    },
    /// The state file could not be decoded.
    #[error("state file is not a devnet state of version {STATE_VERSION}: {0}")]
    BadState(String),
}

/// The result of a view call.
#[derive(Debug, Clone)]
pub struct ViewOutcome {
    /// The bytes the method returned (JSON for near-sdk contracts).
    pub result: Vec<u8>,
    /// Its logs.
    pub logs: Vec<String>,
    /// Gas it burnt.
    pub gas_burnt: u64,
}

/// The devnet chain. See [`crate::engine`].
pub struct Chain {
    pub(crate) state: ChainState,
    pub(crate) wasm_config: Arc<near_parameters::vm::Config>,
    pub(crate) fees: Arc<RuntimeFeesConfig>,
    pub(crate) code_cache: HashMap<CryptoHash, Arc<ContractCode>>,
    pub(crate) vm_cache: MockContractRuntimeCache,
    /// Milliseconds the block of a transaction adds to the clock: the
    /// chain's `block_ms` when only transactions move the clock, 1 when
    /// [`Chain::follow_wall_clock`] says blocks come with wall time (not
    /// part of the state: the server sets it at each start).
    pub(crate) tx_block_ms: u64,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("chain_id", &self.state.chain_id)
            .field("head", &self.state.head)
            .field("accounts", &self.state.accounts.len())
            .finish()
    }
}
