//! The deterministic chain: accounts, access keys, blocks, transactions.
//!
//! [`Chain`] is the whole devnet in one value. It verifies and executes
//! transactions ([`Chain::submit`]), or executes calls without a signature for
//! tests and benches ([`Chain::call`]); it answers views ([`Chain::view`]) and
//! moves its clock ([`Chain::produce_block`], [`Chain::advance_time`]). It does
//! no I/O and reads no clock: time only moves when asked, so the same inputs
//! always give the same chain. Receipt execution (the VM, transfers, refunds,
//! rollback) lives in the private `receipts` module; outcome helpers and NEAR's views in
//! [`crate::outcome`].
//!
//! What it leaves out, by design: sharding, validators, staking, gas price
//! changes, callbacks that wait on a promise's *final* result (a receipt
//! depending on another sees that receipt's own outcome), and receipts
//! spanning several blocks (every receipt of a transaction runs in the
//! transaction's block).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use near_crypto::{PublicKey, Signature};
use near_parameters::vm::VMKind;
use near_parameters::{ActionCosts, RuntimeConfigStore};
use near_primitives::account::{AccessKey, AccessKeyPermission};
use near_primitives::errors::{ActionsValidationError, InvalidAccessKeyError, InvalidTxError};
use near_primitives::hash::CryptoHash;
use near_primitives::transaction::{
    Action, ExecutionStatus, FunctionCallAction, SignedTransaction, Transaction, TransactionV0,
};
use near_primitives::types::AccountId;
use near_vm_runner::{ContractCode, MockContractRuntimeCache};

pub use crate::chain::{Chain, EngineError, ViewOutcome};
use crate::receipts::Receipt;
use crate::state::{Account, BlockInfo, ChainState, RECENT_BLOCKS, RECENT_OUTCOMES, STATE_VERSION, TxRecord};

/// The protocol version the devnet runs (near-sdk 5.30 contracts need 88).
pub const PROTOCOL_VERSION: u32 = near_primitives_core::version::PROTOCOL_VERSION;

/// Gas a call gets when the caller does not say (300 Tgas).
pub const DEFAULT_GAS: u64 = 300_000_000_000_000;

/// NEAR's bound on a transaction's nonce: below `height × 10⁶`.
const NONCE_RANGE: u64 = 1_000_000;

/// How a chain starts.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// Chain id reported by `status`. Default `"por-devnet"`.
    pub chain_id: String,
    /// Milliseconds each block adds to the clock. Default 1000.
    pub block_ms: u64,
    /// Genesis time, in nanoseconds since the Unix epoch. Default
    /// 1 700 000 000 s (a fixed instant, so tests are reproducible).
    pub genesis_time_ns: u64,
    /// Yocto per unit of gas. Default 10⁸ (NEAR's minimum gas price).
    pub gas_price: u128,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            chain_id: "por-devnet".into(),
            block_ms: 1000,
            genesis_time_ns: 1_700_000_000_000_000_000,
            gas_price: 100_000_000,
        }
    }
}

impl Chain {
    /// A chain with only a genesis block and no accounts.
    pub fn new(config: ChainConfig) -> Chain {
        let genesis = BlockInfo::genesis(config.genesis_time_ns);
        let state = ChainState {
            version: STATE_VERSION,
            chain_id: config.chain_id,
            block_ms: config.block_ms,
            gas_price: config.gas_price,
            genesis,
            head: genesis,
            accounts: BTreeMap::new(),
            codes: BTreeMap::new(),
            blocks: VecDeque::from([genesis]),
            txs: HashMap::new(),
            tx_order: VecDeque::new(),
            receipt_counter: 0,
        };
        Chain::from_state(state)
    }

    fn from_state(state: ChainState) -> Chain {
        let block_ms = state.block_ms;
        let store = RuntimeConfigStore::new(None);
        let rc = store.get_config(PROTOCOL_VERSION);
        let mut wasm = (*rc.wasm_config).clone();
        // The crates.io build of near-vm-runner only has wasmtime.
        wasm.vm_kind = VMKind::Wasmtime;
        Chain {
            state,
            wasm_config: Arc::new(wasm),
            fees: rc.fees.clone(),
            code_cache: HashMap::new(),
            vm_cache: MockContractRuntimeCache::default(),
            tx_block_ms: block_ms,
        }
    }

    /// The chain as bytes (borsh), for [`Chain::from_bytes`].
    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(&self.state).expect("borsh of in-memory state cannot fail")
    }

    /// A chain from [`Chain::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Chain, EngineError> {
        let state: ChainState = borsh::from_slice(bytes).map_err(|e| EngineError::BadState(e.to_string()))?;
        if state.version != STATE_VERSION {
            return Err(EngineError::BadState(format!("found version {}", state.version)));
        }
        Ok(Chain::from_state(state))
    }

    /// Chain id.
    pub fn chain_id(&self) -> &str {
        &self.state.chain_id
    }

    /// Milliseconds per block.
    pub fn block_ms(&self) -> u64 {
        self.state.block_ms
    }

    /// Yocto per unit of gas.
    pub fn gas_price(&self) -> u128 {
        self.state.gas_price
    }

    /// Yocto each byte of storage locks.
    pub fn storage_byte_cost(&self) -> u128 {
        self.fees.storage_usage_config.storage_amount_per_byte.as_yoctonear()
    }

    /// The latest block.
    pub fn head(&self) -> BlockInfo {
        self.state.head
    }

    /// The genesis block.
    pub fn genesis(&self) -> BlockInfo {
        self.state.genesis
    }

    /// A recent block by height.
    pub fn block_at(&self, height: u64) -> Option<BlockInfo> {
        let first = self.state.blocks.front()?.height;
        let b = *self.state.blocks.get(height.checked_sub(first)? as usize)?;
        (b.height == height).then_some(b)
    }

    /// A recent block by hash.
    pub fn block_by_hash(&self, hash: &CryptoHash) -> Option<BlockInfo> {
        self.state.blocks.iter().rev().find(|b| b.hash == *hash).copied()
    }

    /// Adds an empty block `block_ms` after the head; returns it.
    pub fn produce_block(&mut self) -> BlockInfo {
        self.push_block(self.state.block_ms)
    }

    /// Says whether something else produces a block every `block_ms` of
    /// wall time ([`crate::rpc::DevnetServer`] does, unless told not to).
    /// Then a transaction's block comes 1 ms after the head instead of
    /// `block_ms`: on NEAR, transactions share the blocks that come with
    /// time, so a busy devnet must not run its clock ahead of the wall
    /// (each transaction used to add a whole block time, and windows of a
    /// few seconds, such as a split's reconnection window, passed after a
    /// few transactions). Without a ticker, transactions alone move the
    /// clock, `block_ms` each, as before.
    pub fn follow_wall_clock(&mut self, on: bool) {
        self.tx_block_ms = if on { 1 } else { self.state.block_ms };
    }

    /// Moves the clock forward by `ms` (one block carrying the whole jump);
    /// returns the new head. Used by tests to pass challenge windows.
    pub fn advance_time(&mut self, ms: u64) -> BlockInfo {
        self.push_block(ms)
    }

    fn push_block(&mut self, ms: u64) -> BlockInfo {
        let b = BlockInfo::next(&self.state.head, ms);
        self.state.head = b;
        self.state.blocks.push_back(b);
        while self.state.blocks.len() > RECENT_BLOCKS {
            self.state.blocks.pop_front();
        }
        b
    }

    /// An account, if it exists.
    pub fn account(&self, id: &AccountId) -> Option<&Account> {
        self.state.accounts.get(id)
    }

    /// All account ids.
    pub fn account_ids(&self) -> impl Iterator<Item = &AccountId> {
        self.state.accounts.keys()
    }

    /// An account's access key.
    pub fn access_key(&self, id: &AccountId, key: &PublicKey) -> Option<&AccessKey> {
        self.state.accounts.get(id)?.keys.get(key)
    }

    /// The code deployed on an account.
    pub fn code(&self, id: &AccountId) -> Option<&[u8]> {
        let h = self.state.accounts.get(id)?.code_hash?;
        self.state.codes.get(&h).map(|c| c.as_slice())
    }

    /// A recorded transaction, by hash.
    pub fn tx(&self, hash: &CryptoHash) -> Option<&TxRecord> {
        self.state.txs.get(hash)
    }

    /// Creates an account out of thin air (genesis), with a balance and
    /// optionally one full-access key.
    pub fn create_account(&mut self, id: AccountId, balance: u128, key: Option<PublicKey>) -> Result<(), EngineError> {
        if self.state.accounts.contains_key(&id) {
            return Err(EngineError::AccountExists(id));
        }
        let mut acct =
            Account { balance, storage_usage: self.fees.storage_usage_config.num_bytes_account, ..Default::default() };
        if let Some(k) = key {
            let ak = AccessKey::full_access();
            acct.storage_usage += self.key_bytes(&k, &ak);
            acct.keys.insert(k, ak);
        }
        self.state.accounts.insert(id, acct);
        Ok(())
    }

    /// Deploys code on an existing account directly (genesis).
    pub fn deploy(&mut self, id: &AccountId, code: Vec<u8>) -> Result<(), EngineError> {
        if !self.state.accounts.contains_key(id) {
            return Err(EngineError::UnknownAccount(id.clone()));
        }
        self.set_code(id, code);
        Ok(())
    }

    /// Credits yocto to an account out of thin air (a faucet).
    pub fn mint(&mut self, id: &AccountId, amount: u128) -> Result<(), EngineError> {
        let a = self.state.accounts.get_mut(id).ok_or_else(|| EngineError::UnknownAccount(id.clone()))?;
        a.balance = a.balance.saturating_add(amount);
        Ok(())
    }

    pub(crate) fn set_code(&mut self, id: &AccountId, code: Vec<u8>) {
        let hash = CryptoHash::hash_bytes(&code);
        let old_len = self.code(id).map_or(0, |c| c.len() as u64);
        let len = code.len() as u64;
        self.state.codes.entry(hash).or_insert(code);
        let a = self.state.accounts.get_mut(id).expect("caller checked the account");
        a.storage_usage = a.storage_usage.saturating_sub(old_len) + len;
        a.code_hash = Some(hash);
    }

    pub(crate) fn key_bytes(&self, key: &PublicKey, ak: &AccessKey) -> u64 {
        let pk = borsh::object_length(key).unwrap_or(33) as u64;
        let ak = borsh::object_length(ak).unwrap_or(9) as u64;
        pk + ak + self.fees.storage_usage_config.num_extra_bytes_record
    }

    pub(crate) fn contract_code(&mut self, hash: &CryptoHash) -> Option<Arc<ContractCode>> {
        if let Some(c) = self.code_cache.get(hash) {
            return Some(c.clone());
        }
        let bytes = self.state.codes.get(hash)?.clone();
        let code = Arc::new(ContractCode::new(bytes, Some(*hash)));
        self.code_cache.insert(*hash, code.clone());
        Some(code)
    }

    /// Calls `method` on `receiver` as `signer`, without a signature or
    /// nonce (tests and benches). Balance and deposit rules apply as for a
    /// signed transaction, and the call gets its own block. Returns the
    /// outcome even when the call failed (see [`TxRecord::failure`]).
    pub fn call(
        &mut self,
        signer: &AccountId,
        receiver: &AccountId,
        method: &str,
        args: &[u8],
        deposit: u128,
        gas: u64,
    ) -> Result<TxRecord, EngineError> {
        let action = Action::FunctionCall(Box::new(FunctionCallAction {
            method_name: method.to_string(),
            args: args.to_vec(),
            gas: near_primitives::types::Gas::from_gas(gas),
            deposit: near_primitives::types::Balance::from_yoctonear(deposit),
        }));
        self.execute_unsigned(signer, receiver, vec![action])
    }

    /// Executes actions as `signer` without a signature (tests, benches,
    /// genesis). See [`Chain::call`].
    pub fn execute_unsigned(
        &mut self,
        signer: &AccountId,
        receiver: &AccountId,
        actions: Vec<Action>,
    ) -> Result<TxRecord, EngineError> {
        let acct = self.state.accounts.get(signer).ok_or_else(|| EngineError::UnknownAccount(signer.clone()))?;
        let public_key =
            acct.keys.keys().next().cloned().unwrap_or_else(|| PublicKey::empty(near_crypto::KeyType::ED25519));
        self.state.receipt_counter += 1;
        let tx = Transaction::V0(TransactionV0 {
            signer_id: signer.clone(),
            public_key,
            // Unsigned calls do not use the key's nonce; this makes each
            // transaction (and so its hash) unique.
            nonce: self.state.receipt_counter,
            receiver_id: receiver.clone(),
            block_hash: self.state.head.hash,
            actions,
        });
        let signed = SignedTransaction::new(Signature::empty(near_crypto::KeyType::ED25519), tx);
        self.execute(signed, false).map_err(EngineError::InvalidTx)
    }

    /// Verifies and executes a signed transaction. A transaction already
    /// executed (same hash) is not executed again: its recorded outcome is
    /// returned, as NEAR does for a re-sent transaction.
    pub fn submit(&mut self, tx: SignedTransaction) -> Result<TxRecord, InvalidTxError> {
        self.execute(tx, true)
    }

    fn execute(&mut self, tx: SignedTransaction, signed: bool) -> Result<TxRecord, InvalidTxError> {
        let hash = tx.get_hash();
        if let Some(rec) = self.state.txs.get(&hash) {
            return Ok(rec.clone());
        }
        let t = &tx.transaction;
        let signer_id = t.signer_id().clone();
        let nonce = t.nonce().nonce();
        if signed {
            if t.nonce().nonce_index().is_some() {
                return Err(unsupported("gas keys"));
            }
            if !tx.signature.verify(hash.as_ref(), t.public_key()) {
                return Err(InvalidTxError::InvalidSignature);
            }
            if self.block_by_hash(t.block_hash()).is_none() {
                return Err(InvalidTxError::InvalidChain);
            }
        }
        for a in t.actions() {
            check_supported(a)?;
        }
        let (cost, gas_reserved, tx_gas) = self.tx_cost(t)?;
        let acct = self
            .state
            .accounts
            .get(&signer_id)
            .ok_or_else(|| InvalidTxError::SignerDoesNotExist { signer_id: signer_id.clone() })?;
        if signed {
            let ak = acct.keys.get(t.public_key()).ok_or_else(|| {
                InvalidTxError::InvalidAccessKeyError(InvalidAccessKeyError::AccessKeyNotFound {
                    account_id: signer_id.clone(),
                    public_key: Box::new(t.public_key().clone()),
                })
            })?;
            if nonce <= ak.nonce {
                return Err(InvalidTxError::InvalidNonce { tx_nonce: nonce, ak_nonce: ak.nonce });
            }
            let upper = (self.state.head.height + 1).saturating_mul(NONCE_RANGE);
            if nonce >= upper {
                return Err(InvalidTxError::NonceTooLarge { tx_nonce: nonce, upper_bound: upper });
            }
            check_permission(&ak.permission, t, gas_reserved)?;
        }
        if acct.balance < cost {
            return Err(InvalidTxError::NotEnoughBalance {
                signer_id,
                balance: near_primitives::types::Balance::from_yoctonear(acct.balance),
                cost: near_primitives::types::Balance::from_yoctonear(cost),
            });
        }
        let need = acct.storage_usage as u128 * self.storage_byte_cost();
        if acct.balance - cost < need {
            return Err(InvalidTxError::LackBalanceForState {
                signer_id,
                amount: near_primitives::types::Balance::from_yoctonear(need - (acct.balance - cost)),
            });
        }

        // Valid: it gets a block and is charged.
        let block = self.push_block(self.tx_block_ms);
        let acct = self.state.accounts.get_mut(&signer_id).expect("checked above");
        acct.balance -= cost;
        if signed {
            let ak = acct.keys.get_mut(t.public_key()).expect("checked above");
            ak.nonce = nonce;
            if let AccessKeyPermission::FunctionCall(p) = &mut ak.permission
                && let Some(a) = &mut p.allowance
            {
                *a = a.saturating_sub(near_primitives::types::Balance::from_yoctonear(gas_reserved));
            }
        }
        let receipt_id = self.next_receipt_id(&hash);
        let first = Receipt {
            id: receipt_id,
            predecessor: signer_id.clone(),
            receiver: t.receiver_id().clone(),
            signer: signer_id.clone(),
            signer_pk: t.public_key().clone(),
            actions: t.actions().to_vec(),
            deps: Vec::new(),
            unsupported: None,
            gas_price: self.state.gas_price,
        };
        let outcomes = self.run_receipts(first, &hash);
        let burnt: u128 = tx_gas as u128 * self.state.gas_price + outcomes.iter().map(|o| o.tokens_burnt).sum::<u128>();
        let refund = gas_reserved.saturating_sub(burnt);
        if refund > 0
            && let Some(a) = self.state.accounts.get_mut(&signer_id)
        {
            a.balance = a.balance.saturating_add(refund);
        }
        let status = final_status(receipt_id, &outcomes);
        let rec = TxRecord { tx, block, tx_gas_burnt: tx_gas, receipt_id, receipts: outcomes, status };
        self.state.txs.insert(hash, rec.clone());
        self.state.tx_order.push_back(hash);
        while self.state.tx_order.len() > RECENT_OUTCOMES {
            if let Some(old) = self.state.tx_order.pop_front() {
                self.state.txs.remove(&old);
            }
        }
        Ok(rec)
    }

    pub(crate) fn next_receipt_id(&mut self, tx_hash: &CryptoHash) -> CryptoHash {
        self.state.receipt_counter += 1;
        let mut b = tx_hash.as_ref().to_vec();
        b.extend_from_slice(&self.state.receipt_counter.to_le_bytes());
        CryptoHash::hash_bytes(&b)
    }

    /// What the signer pays up front: (total in yocto, the part reserved for
    /// gas, gas burnt converting the transaction).
    fn tx_cost(&self, t: &Transaction) -> Result<(u128, u128, u64), InvalidTxError> {
        let sir = t.signer_id() == t.receiver_id();
        let f = &self.fees;
        let send = |c: ActionCosts| f.fee(c).send_fee(sir).gas.as_gas();
        let exec = |c: ActionCosts| f.fee(c).exec_fee().gas.as_gas();
        let both = |c: ActionCosts, n: u64| (send(c) + exec(c)).saturating_mul(n);
        let mut send_gas = send(ActionCosts::new_action_receipt);
        let mut exec_gas = exec(ActionCosts::new_action_receipt);
        let mut prepaid: u64 = 0;
        let mut deposit: u128 = 0;
        for a in t.actions() {
            let (s, e) = match a {
                Action::CreateAccount(_) => (send(ActionCosts::create_account), exec(ActionCosts::create_account)),
                Action::DeployContract(d) => {
                    let n = d.code.len() as u64;
                    let g = both(ActionCosts::deploy_contract_base, 1) + both(ActionCosts::deploy_contract_byte, n);
                    (g, 0)
                }
                Action::FunctionCall(fc) => {
                    let n = (fc.method_name.len() + fc.args.len()) as u64;
                    prepaid = prepaid.saturating_add(fc.gas.as_gas());
                    deposit = deposit.checked_add(fc.deposit.as_yoctonear()).ok_or(InvalidTxError::CostOverflow)?;
                    (both(ActionCosts::function_call_base, 1) + both(ActionCosts::function_call_byte, n), 0)
                }
                Action::Transfer(tr) => {
                    deposit = deposit.checked_add(tr.deposit.as_yoctonear()).ok_or(InvalidTxError::CostOverflow)?;
                    (send(ActionCosts::transfer), exec(ActionCosts::transfer))
                }
                Action::AddKey(add) => match &add.access_key.permission {
                    // nearcore: the base fee plus a fee per byte of the
                    // method names, one more byte per name.
                    AccessKeyPermission::FunctionCall(p) => {
                        let n = p.method_names.iter().map(|m| m.len() as u64 + 1).sum::<u64>();
                        let g = both(ActionCosts::add_function_call_key_base, 1)
                            + both(ActionCosts::add_function_call_key_byte, n);
                        (g, 0)
                    }
                    _ => (both(ActionCosts::add_full_access_key, 1), 0),
                },
                Action::DeleteKey(_) => (both(ActionCosts::delete_key, 1), 0),
                Action::DeleteAccount(_) => (both(ActionCosts::delete_account, 1), 0),
                _ => (0, 0),
            };
            send_gas = send_gas.saturating_add(s);
            exec_gas = exec_gas.saturating_add(e);
        }
        let limit = self.wasm_config.limit_config.max_total_prepaid_gas.as_gas();
        if prepaid > limit {
            return Err(InvalidTxError::ActionsValidation(ActionsValidationError::TotalPrepaidGasExceeded {
                total_prepaid_gas: near_primitives::types::Gas::from_gas(prepaid),
                limit: near_primitives::types::Gas::from_gas(limit),
            }));
        }
        // Deposits are the signer's to choose: a sum past u128 is refused, as
        // nearcore does, rather than wrapping into a cheap transaction.
        let gas_reserved = (send_gas as u128 + exec_gas as u128 + prepaid as u128)
            .checked_mul(self.state.gas_price)
            .ok_or(InvalidTxError::CostOverflow)?;
        let total = deposit.checked_add(gas_reserved).ok_or(InvalidTxError::CostOverflow)?;
        Ok((total, gas_reserved, send_gas))
    }

    /// Runs a view method. Views cannot change state; `&mut` is only because
    /// the VM borrows the storage it reads.
    pub fn view(&mut self, account: &AccountId, method: &str, args: &[u8]) -> Result<ViewOutcome, EngineError> {
        crate::receipts::run_view(self, account, method, args)
    }
}

fn unsupported(what: &str) -> InvalidTxError {
    InvalidTxError::ActionsValidation(ActionsValidationError::UnsupportedProtocolFeature {
        protocol_feature: format!("{what} (not supported by the PoR devnet)"),
        version: PROTOCOL_VERSION,
    })
}

fn check_supported(a: &Action) -> Result<(), InvalidTxError> {
    match a {
        Action::CreateAccount(_)
        | Action::DeployContract(_)
        | Action::FunctionCall(_)
        | Action::Transfer(_)
        | Action::AddKey(_)
        | Action::DeleteKey(_)
        | Action::DeleteAccount(_) => Ok(()),
        other => Err(unsupported(&format!("{:?}", std::mem::discriminant(other)))),
    }
}

fn check_permission(p: &AccessKeyPermission, t: &Transaction, gas_cost: u128) -> Result<(), InvalidTxError> {
    let fc = match p {
        AccessKeyPermission::FullAccess => return Ok(()),
        AccessKeyPermission::FunctionCall(fc) => fc,
        _ => return Err(unsupported("gas keys")),
    };
    let denied = |e| Err(InvalidTxError::InvalidAccessKeyError(e));
    let [Action::FunctionCall(call)] = t.actions() else {
        return denied(InvalidAccessKeyError::RequiresFullAccess);
    };
    if !call.deposit.is_zero() {
        return denied(InvalidAccessKeyError::DepositWithFunctionCall);
    }
    if fc.receiver_id != t.receiver_id().as_str() {
        return denied(InvalidAccessKeyError::ReceiverMismatch {
            tx_receiver: t.receiver_id().clone(),
            ak_receiver: fc.receiver_id.clone(),
        });
    }
    if !fc.method_names.is_empty() && !fc.method_names.contains(&call.method_name) {
        return denied(InvalidAccessKeyError::MethodNameMismatch { method_name: call.method_name.clone() });
    }
    if let Some(allowance) = fc.allowance
        && allowance.as_yoctonear() < gas_cost
    {
        return denied(InvalidAccessKeyError::NotEnoughAllowance {
            account_id: t.signer_id().clone(),
            public_key: Box::new(t.public_key().clone()),
            allowance,
            cost: near_primitives::types::Balance::from_yoctonear(gas_cost),
        });
    }
    Ok(())
}

/// Follows returned promises from the first receipt to the final status.
fn final_status(first: CryptoHash, outcomes: &[crate::state::ReceiptOutcome]) -> ExecutionStatus {
    let mut id = first;
    for _ in 0..=outcomes.len() {
        let Some(o) = outcomes.iter().find(|o| o.id == id) else { return ExecutionStatus::Unknown };
        match &o.status {
            ExecutionStatus::SuccessReceiptId(next) => id = *next,
            s => return s.clone(),
        }
    }
    ExecutionStatus::Unknown
}
