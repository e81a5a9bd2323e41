//! Receipt execution: the actions of a transaction or of a promise, applied
//! to their receiver with nearcore's own VM (near-vm-runner 0.38, wasmtime).
//!
//! Rules kept here, as NEAR keeps them:
//! - a receipt's actions apply all or nothing: if one fails, or the receiver
//!   would hold less than its storage stake afterwards (`LackBalanceForState`),
//!   the receiver's account (balance, keys, code, storage) is restored and the
//!   attached deposits go back to the predecessor;
//! - the VM writes storage through, so each receipt keeps an undo log of the
//!   keys it changed ([`crate::journal`]) and a copy of the receiver's other
//!   fields, and puts both back on failure: a receipt costs what it touches,
//!   not the size of the receiver's storage;
//! - receipts a contract creates (its promises) run after it, in creation
//!   order: transfers credit their receiver (a missing named account refunds
//!   the contract; a 64-hex implicit account is created), function calls run
//!   with the contract as predecessor, gas weights share the leftover gas;
//! - logs of a failed call are kept in its outcome.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;

use near_crypto::PublicKey;
use near_primitives::account::{AccessKey, AccessKeyPermission, FunctionCallPermission};
use near_primitives::errors::{ActionError, ActionErrorKind, CompilationError, FunctionCallError, MethodResolveError};
use near_primitives::hash::CryptoHash;
use near_primitives::transaction::{
    Action, AddKeyAction, CreateAccountAction, DeleteAccountAction, DeleteKeyAction, DeployContractAction,
    ExecutionStatus, FunctionCallAction, TransferAction,
};
use near_primitives::types::{AccountId, Balance, Gas};
use near_primitives_core::account::AccountContract;
use near_primitives_core::config::ViewConfig;
use near_vm_runner::logic::mocks::mock_external::{MockAction, MockedExternal};
use near_vm_runner::logic::types::PromiseResult;
use near_vm_runner::logic::{ReturnData, VMContext, VMOutcome};

use crate::chain::{Chain, EngineError, ViewOutcome};
use crate::journal::{Journal, JournaledExternal, Storage};
use crate::state::{Account, ReceiptOutcome};

/// Receipts one transaction may create in all (a runaway contract stops here).
const MAX_RECEIPTS: usize = 1_000;

/// A receipt waiting to run.
#[derive(Debug, Clone)]
pub(crate) struct Receipt {
    pub id: CryptoHash,
    pub predecessor: AccountId,
    pub receiver: AccountId,
    pub signer: AccountId,
    pub signer_pk: PublicKey,
    pub actions: Vec<Action>,
    /// Receipts whose results this one receives as promise results.
    pub deps: Vec<CryptoHash>,
    /// Set when the contract asked for an action the devnet does not run.
    pub unsupported: Option<String>,
    pub gas_price: u128,
}

/// Why an action failed, with what it produced before failing (logs, gas).
type ActionFailure = Box<(ActionErrorKind, ActionResult)>;

/// What one action produced.
#[derive(Default)]
struct ActionResult {
    logs: Vec<String>,
    gas_burnt: u64,
    children: Vec<Receipt>,
    returned: Option<ExecutionStatus>,
}

impl Chain {
    /// Runs `first` and every receipt it causes; returns their outcomes in
    /// execution order.
    pub(crate) fn run_receipts(&mut self, first: Receipt, tx_hash: &CryptoHash) -> Vec<ReceiptOutcome> {
        let mut queue = VecDeque::from([first]);
        let mut outcomes: Vec<ReceiptOutcome> = Vec::new();
        let mut results: HashMap<CryptoHash, ExecutionStatus> = HashMap::new();
        while let Some(r) = queue.pop_front() {
            if outcomes.len() >= MAX_RECEIPTS {
                break;
            }
            let (outcome, children) = self.apply_receipt(r, &results, tx_hash);
            results.insert(outcome.id, outcome.status.clone());
            queue.extend(children);
            outcomes.push(outcome);
        }
        outcomes
    }

    fn apply_receipt(
        &mut self,
        r: Receipt,
        results: &HashMap<CryptoHash, ExecutionStatus>,
        tx_hash: &CryptoHash,
    ) -> (ReceiptOutcome, Vec<Receipt>) {
        // The receiver without its storage, which `journal` covers.
        let snapshot = self.state.accounts.get(&r.receiver).map(|a| Account {
            storage: Storage::new(),
            keys: a.keys.clone(),
            ..*a
        });
        let mut journal = Journal::default();
        let deposit: u128 = r.actions.iter().map(action_deposit).sum();
        let mut logs = Vec::new();
        let mut gas: u64 = 0;
        let mut children = Vec::new();
        let mut returned = ExecutionStatus::SuccessValue(Vec::new());
        let mut error: Option<ActionError> = r.unsupported.as_ref().map(|m| ActionError {
            index: Some(0),
            kind: ActionErrorKind::FunctionCallError(FunctionCallError::ExecutionError(m.clone())),
        });
        // Promise results as plain data (`PromiseResult` holds an `Rc` and is not `Clone`).
        let promise_results: Vec<Option<Vec<u8>>> = r
            .deps
            .iter()
            .map(|d| match results.get(d) {
                Some(ExecutionStatus::SuccessValue(v)) => Some(v.clone()),
                Some(ExecutionStatus::SuccessReceiptId(_)) => Some(Vec::new()),
                _ => None,
            })
            .collect();
        let mut created_here = false;
        if error.is_none() {
            for (i, action) in r.actions.iter().enumerate() {
                match self.apply_action(&r, action, &promise_results, &mut created_here, &mut journal, tx_hash) {
                    Ok(res) => {
                        logs.extend(res.logs);
                        gas = gas.saturating_add(res.gas_burnt);
                        children.extend(res.children);
                        if let Some(s) = res.returned {
                            returned = s;
                        }
                    }
                    Err(failure) => {
                        let (kind, res) = *failure;
                        logs.extend(res.logs);
                        gas = gas.saturating_add(res.gas_burnt);
                        error = Some(ActionError { index: Some(i as u64), kind });
                        break;
                    }
                }
            }
        }
        if error.is_none()
            && let Some(a) = self.state.accounts.get(&r.receiver)
        {
            let need = a.storage_usage as u128 * self.storage_byte_cost();
            if a.balance < need {
                error = Some(ActionError {
                    index: None,
                    kind: ActionErrorKind::LackBalanceForState {
                        account_id: r.receiver.clone(),
                        amount: Balance::from_yoctonear(need - a.balance),
                    },
                });
            }
        }
        let status = match error {
            None => returned,
            Some(e) => {
                let current = self.state.accounts.remove(&r.receiver).map(|a| a.storage);
                if let Some(a) = snapshot {
                    let storage = journal.restore(current);
                    self.state.accounts.insert(r.receiver.clone(), Account { storage, ..a });
                }
                children.clear();
                if deposit > 0
                    && let Some(p) = self.state.accounts.get_mut(&r.predecessor)
                {
                    p.balance = p.balance.saturating_add(deposit);
                }
                ExecutionStatus::Failure(e.into())
            }
        };
        let outcome = ReceiptOutcome {
            id: r.id,
            executor: r.receiver.clone(),
            logs,
            receipt_ids: children.iter().map(|c| c.id).collect(),
            gas_burnt: gas,
            tokens_burnt: gas as u128 * r.gas_price,
            status,
        };
        (outcome, children)
    }

    fn apply_action(
        &mut self,
        r: &Receipt,
        action: &Action,
        promise_results: &[Option<Vec<u8>>],
        created_here: &mut bool,
        journal: &mut Journal,
        tx_hash: &CryptoHash,
    ) -> Result<ActionResult, ActionFailure> {
        let fail = |kind| Err(Box::new((kind, ActionResult::default())));
        let exists = self.state.accounts.contains_key(&r.receiver);
        let actor_ok = r.predecessor == r.receiver || *created_here;
        let no_permission =
            || ActionErrorKind::ActorNoPermission { account_id: r.receiver.clone(), actor_id: r.predecessor.clone() };
        match action {
            Action::CreateAccount(_) => {
                if exists {
                    return fail(ActionErrorKind::AccountAlreadyExists { account_id: r.receiver.clone() });
                }
                if let Some(parent) = r.receiver.get_parent_account_id()
                    && parent.as_str() != r.predecessor.as_str()
                {
                    return fail(ActionErrorKind::CreateAccountNotAllowed {
                        account_id: r.receiver.clone(),
                        predecessor_id: r.predecessor.clone(),
                    });
                }
                let usage = self.fees.storage_usage_config.num_bytes_account;
                self.state.accounts.insert(r.receiver.clone(), Account { storage_usage: usage, ..Default::default() });
                *created_here = true;
                Ok(ActionResult::default())
            }
            Action::Transfer(TransferAction { deposit }) => {
                if !exists && !self.create_implicit(&r.receiver) {
                    return fail(ActionErrorKind::AccountDoesNotExist { account_id: r.receiver.clone() });
                }
                let a = self.state.accounts.get_mut(&r.receiver).expect("exists");
                a.balance = a.balance.saturating_add(deposit.as_yoctonear());
                Ok(ActionResult::default())
            }
            _ if !exists => fail(ActionErrorKind::AccountDoesNotExist { account_id: r.receiver.clone() }),
            Action::DeployContract(DeployContractAction { code }) => {
                if !actor_ok {
                    return fail(no_permission());
                }
                self.set_code(&r.receiver, code.clone());
                Ok(ActionResult::default())
            }
            Action::AddKey(add) => {
                if !actor_ok {
                    return fail(no_permission());
                }
                let AddKeyAction { public_key, access_key } = add.as_ref();
                if self.state.accounts[&r.receiver].keys.contains_key(public_key) {
                    return fail(ActionErrorKind::AddKeyAlreadyExists {
                        account_id: r.receiver.clone(),
                        public_key: Box::new(public_key.clone()),
                    });
                }
                let ak = AccessKey {
                    nonce: self.state.head.height.saturating_sub(1).saturating_mul(1_000_000),
                    permission: access_key.permission.clone(),
                };
                let bytes = self.key_bytes(public_key, &ak);
                let a = self.state.accounts.get_mut(&r.receiver).expect("exists");
                a.keys.insert(public_key.clone(), ak);
                a.storage_usage += bytes;
                Ok(ActionResult::default())
            }
            Action::DeleteKey(del) => {
                if !actor_ok {
                    return fail(no_permission());
                }
                let DeleteKeyAction { public_key } = del.as_ref();
                let Some(ak) = self.state.accounts[&r.receiver].keys.get(public_key).cloned() else {
                    return fail(ActionErrorKind::DeleteKeyDoesNotExist {
                        account_id: r.receiver.clone(),
                        public_key: Box::new(public_key.clone()),
                    });
                };
                let bytes = self.key_bytes(public_key, &ak);
                let a = self.state.accounts.get_mut(&r.receiver).expect("exists");
                a.keys.remove(public_key);
                a.storage_usage = a.storage_usage.saturating_sub(bytes);
                Ok(ActionResult::default())
            }
            Action::DeleteAccount(DeleteAccountAction { beneficiary_id }) => {
                if !actor_ok {
                    return fail(no_permission());
                }
                let mut a = self.state.accounts.remove(&r.receiver).expect("exists");
                journal.account_deleted(std::mem::take(&mut a.storage));
                let refund = Receipt {
                    id: self.next_receipt_id(tx_hash),
                    predecessor: r.receiver.clone(),
                    receiver: beneficiary_id.clone(),
                    signer: r.signer.clone(),
                    signer_pk: r.signer_pk.clone(),
                    actions: vec![Action::Transfer(TransferAction { deposit: Balance::from_yoctonear(a.balance) })],
                    deps: Vec::new(),
                    unsupported: None,
                    gas_price: r.gas_price,
                };
                Ok(ActionResult { children: vec![refund], ..Default::default() })
            }
            Action::FunctionCall(fc) => self.function_call(r, fc, promise_results, journal, tx_hash),
            other => fail(ActionErrorKind::FunctionCallError(FunctionCallError::ExecutionError(format!(
                "devnet: action {other:?} is not supported"
            )))),
        }
    }

    /// Creates a NEAR-implicit account (64 hex chars = its ed25519 key) on
    /// first transfer. Returns whether the account exists now.
    fn create_implicit(&mut self, id: &AccountId) -> bool {
        let s = id.as_str();
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return false;
        }
        let mut raw = [0u8; 32];
        if hex_decode(s, &mut raw).is_none() {
            return false;
        }
        let key = PublicKey::ED25519(near_crypto::ED25519PublicKey(raw));
        self.create_account(id.clone(), 0, Some(key)).is_ok()
    }

    fn function_call(
        &mut self,
        r: &Receipt,
        fc: &FunctionCallAction,
        promise_results: &[Option<Vec<u8>>],
        journal: &mut Journal,
        tx_hash: &CryptoHash,
    ) -> Result<ActionResult, ActionFailure> {
        let deposit = fc.deposit.as_yoctonear();
        let acct = self.state.accounts.get_mut(&r.receiver).expect("caller checked");
        // The VM adds the attached deposit to `account_balance` itself.
        let balance_before = acct.balance;
        acct.balance = acct.balance.saturating_add(deposit);
        let Some(code_hash) = acct.code_hash else {
            return Err(Box::new((
                ActionErrorKind::FunctionCallError(FunctionCallError::CompilationError(
                    CompilationError::CodeDoesNotExist { account_id: r.receiver.clone() },
                )),
                ActionResult::default(),
            )));
        };
        let ctx = VMContext {
            current_account_id: r.receiver.clone(),
            signer_account_id: r.signer.clone(),
            signer_account_pk: borsh::to_vec(&r.signer_pk).unwrap_or_default(),
            predecessor_account_id: r.predecessor.clone(),
            refund_to_account_id: r.predecessor.clone(),
            input: Rc::from(fc.args.as_slice()),
            promise_results: promise_results
                .iter()
                .map(|p| match p {
                    Some(v) => PromiseResult::Successful(Rc::from(v.as_slice())),
                    None => PromiseResult::Failed,
                })
                .collect::<Vec<_>>()
                .into(),
            block_height: self.state.head.height,
            block_timestamp: self.state.head.timestamp_ns,
            epoch_height: 1,
            account_balance: Balance::from_yoctonear(balance_before),
            account_locked_balance: Balance::ZERO,
            storage_usage: acct.storage_usage,
            account_contract: AccountContract::Local(code_hash),
            attached_deposit: fc.deposit,
            prepaid_gas: fc.gas,
            random_seed: random_seed(&r.id, &self.state.head.hash),
            view_config: None,
            output_data_receivers: vec![],
        };
        let (out, ext) = self.run_vm(&r.receiver, code_hash, &fc.method_name, &ctx, journal);
        let acct = self.state.accounts.get_mut(&r.receiver).expect("caller checked");
        let out = match out {
            Ok(o) => o,
            Err(msg) => {
                return Err(Box::new((
                    ActionErrorKind::FunctionCallError(FunctionCallError::ExecutionError(msg)),
                    ActionResult::default(),
                )));
            }
        };
        let mut res = ActionResult { logs: out.logs.clone(), gas_burnt: out.burnt_gas.as_gas(), ..Default::default() };
        if let Some(err) = &out.aborted {
            return Err(Box::new((ActionErrorKind::FunctionCallError(convert_error(err)), res)));
        }
        acct.balance = out.balance.as_yoctonear();
        acct.storage_usage = out.storage_usage;
        let leftover = fc.gas.as_gas().saturating_sub(out.used_gas.as_gas());
        let (children, index_ids) = self.children(r, &ext.action_log, leftover, tx_hash);
        res.returned = Some(match &out.return_data {
            ReturnData::Value(v) => ExecutionStatus::SuccessValue(v.clone()),
            ReturnData::ReceiptIndex(i) => match index_ids.get(i) {
                Some(id) => ExecutionStatus::SuccessReceiptId(*id),
                None => ExecutionStatus::SuccessValue(Vec::new()),
            },
            ReturnData::None => ExecutionStatus::SuccessValue(Vec::new()),
        });
        res.children = children;
        Ok(res)
    }

    /// Runs the VM on `account`'s storage (moved in and out, not copied); the
    /// storage is put back whatever happens, and every key the VM changes is
    /// recorded in `journal` first (the caller undoes them on failure).
    fn run_vm(
        &mut self,
        account: &AccountId,
        code_hash: CryptoHash,
        method: &str,
        ctx: &VMContext,
        journal: &mut Journal,
    ) -> (Result<VMOutcome, String>, MockedExternal) {
        let mut inner = MockedExternal::new();
        inner.code_hash = code_hash;
        inner.code = self.contract_code(&code_hash);
        if let Some(a) = self.state.accounts.get_mut(account) {
            inner.fake_trie = std::mem::take(&mut a.storage);
        }
        let mut ext = JournaledExternal::new(inner, journal);
        let gas_counter = ctx.make_gas_counter(&self.wasm_config);
        let prepared =
            near_vm_runner::prepare(&ext.inner, self.wasm_config.clone(), Some(&self.vm_cache), gas_counter, method);
        let out = near_vm_runner::run(prepared, &mut ext, ctx, self.fees.clone()).map_err(|e| format!("{e:?}"));
        let mut inner = ext.inner;
        if let Some(a) = self.state.accounts.get_mut(account) {
            a.storage = std::mem::take(&mut inner.fake_trie);
        }
        (out, inner)
    }

    /// Turns the VM's action log into receipts; also returns the receipt id
    /// of each log index that created a receipt.
    fn children(
        &mut self,
        r: &Receipt,
        log: &[MockAction],
        leftover_gas: u64,
        tx_hash: &CryptoHash,
    ) -> (Vec<Receipt>, BTreeMap<u64, CryptoHash>) {
        let mut receipts: BTreeMap<u64, Receipt> = BTreeMap::new();
        let mut ids = BTreeMap::new();
        let mut weights: Vec<(u64, usize, u64)> = Vec::new();
        for (i, a) in log.iter().enumerate() {
            let i = i as u64;
            if let MockAction::CreateReceipt { receipt_indices, receiver_id } = a {
                let id = self.next_receipt_id(tx_hash);
                ids.insert(i, id);
                let deps = receipt_indices.iter().filter_map(|d| ids.get(d).copied()).collect();
                receipts.insert(
                    i,
                    Receipt {
                        id,
                        predecessor: r.receiver.clone(),
                        receiver: receiver_id.clone(),
                        signer: r.signer.clone(),
                        signer_pk: r.signer_pk.clone(),
                        actions: Vec::new(),
                        deps,
                        unsupported: None,
                        gas_price: r.gas_price,
                    },
                );
                continue;
            }
            let Some((idx, action)) = mock_to_action(a) else { continue };
            let Some(rec) = receipts.get_mut(&idx) else { continue };
            match action {
                Ok(action) => {
                    if let (Action::FunctionCall(_), MockAction::FunctionCallWeight { gas_weight, .. }) = (&action, a)
                        && gas_weight.0 > 0
                    {
                        weights.push((idx, rec.actions.len(), gas_weight.0));
                    }
                    rec.actions.push(action);
                }
                Err(name) => rec.unsupported = Some(format!("devnet: promise action {name} is not supported")),
            }
        }
        let total: u128 = weights.iter().map(|w| w.2 as u128).sum();
        for (idx, pos, w) in weights {
            let share = (leftover_gas as u128 * w as u128 / total.max(1)) as u64;
            if let Some(Action::FunctionCall(fc)) = receipts.get_mut(&idx).and_then(|r| r.actions.get_mut(pos)) {
                fc.gas = Gas::from_gas(fc.gas.as_gas().saturating_add(share));
            }
        }
        (receipts.into_values().collect(), ids)
    }
}

/// A view: runs `method` in view mode and changes nothing.
pub(crate) fn run_view(
    chain: &mut Chain,
    account: &AccountId,
    method: &str,
    args: &[u8],
) -> Result<ViewOutcome, EngineError> {
    let acct = chain.state.accounts.get(account).ok_or_else(|| EngineError::UnknownAccount(account.clone()))?;
    let code_hash = acct.code_hash.ok_or_else(|| EngineError::NoCode(account.clone()))?;
    let max = chain.wasm_config.limit_config.max_gas_burnt;
    let ctx = VMContext {
        current_account_id: account.clone(),
        signer_account_id: account.clone(),
        signer_account_pk: vec![],
        predecessor_account_id: account.clone(),
        refund_to_account_id: account.clone(),
        input: Rc::from(args),
        promise_results: Vec::new().into(),
        block_height: chain.state.head.height,
        block_timestamp: chain.state.head.timestamp_ns,
        epoch_height: 1,
        account_balance: Balance::from_yoctonear(acct.balance),
        account_locked_balance: Balance::ZERO,
        storage_usage: acct.storage_usage,
        account_contract: AccountContract::Local(code_hash),
        attached_deposit: Balance::ZERO,
        prepaid_gas: max,
        random_seed: random_seed(&code_hash, &chain.state.head.hash),
        view_config: Some(ViewConfig { max_gas_burnt: max }),
        output_data_receivers: vec![],
    };
    // A view cannot write (the VM refuses), so its journal stays empty.
    let (out, _ext) = chain.run_vm(account, code_hash, method, &ctx, &mut Journal::default());
    let fail = |message: String| EngineError::ViewFailed { account: account.clone(), method: method.into(), message };
    let out = out.map_err(fail)?;
    if let Some(err) = &out.aborted {
        return Err(fail(err.to_string()));
    }
    let result = match out.return_data {
        ReturnData::Value(v) => v,
        _ => Vec::new(),
    };
    Ok(ViewOutcome { result, logs: out.logs, gas_burnt: out.burnt_gas.as_gas() })
}

/// NEAR reports VM failures as these variants (runtime conversion in nearcore).
fn convert_error(e: &near_vm_runner::logic::errors::FunctionCallError) -> FunctionCallError {
    use near_vm_runner::logic::errors::{FunctionCallError as Vm, MethodResolveError as M};
    match e {
        Vm::LinkError { msg } => FunctionCallError::LinkError { msg: msg.clone() },
        Vm::MethodResolveError(m) => FunctionCallError::MethodResolveError(match m {
            M::MethodEmptyName => MethodResolveError::MethodEmptyName,
            M::MethodNotFound => MethodResolveError::MethodNotFound,
            M::MethodInvalidSignature => MethodResolveError::MethodInvalidSignature,
        }),
        other => FunctionCallError::ExecutionError(other.to_string()),
    }
}

fn random_seed(a: &CryptoHash, b: &CryptoHash) -> Vec<u8> {
    let mut v = a.as_ref().to_vec();
    v.extend_from_slice(b.as_ref());
    CryptoHash::hash_bytes(&v).as_ref().to_vec()
}

fn action_deposit(a: &Action) -> u128 {
    match a {
        Action::Transfer(t) => t.deposit.as_yoctonear(),
        Action::FunctionCall(f) => f.deposit.as_yoctonear(),
        _ => 0,
    }
}

fn hex_decode(s: &str, out: &mut [u8; 32]) -> Option<()> {
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(())
}

/// The receipt index an action belongs to, and the action (or the name of
/// an unsupported one).
fn mock_to_action(a: &MockAction) -> Option<(u64, Result<Action, &'static str>)> {
    Some(match a {
        MockAction::CreateReceipt { .. } | MockAction::YieldCreate { .. } | MockAction::YieldResume { .. } => {
            return None;
        }
        MockAction::Transfer { receipt_index, deposit } => {
            (*receipt_index, Ok(Action::Transfer(TransferAction { deposit: *deposit })))
        }
        MockAction::FunctionCallWeight { receipt_index, method_name, args, attached_deposit, prepaid_gas, .. } => (
            *receipt_index,
            Ok(Action::FunctionCall(Box::new(FunctionCallAction {
                method_name: String::from_utf8_lossy(method_name).into_owned(),
                args: args.clone(),
                gas: *prepaid_gas,
                deposit: *attached_deposit,
            }))),
        ),
        MockAction::CreateAccount { receipt_index } => {
            (*receipt_index, Ok(Action::CreateAccount(CreateAccountAction {})))
        }
        MockAction::DeployContract { receipt_index, code } => {
            (*receipt_index, Ok(Action::DeployContract(DeployContractAction { code: code.clone() })))
        }
        MockAction::AddKeyWithFullAccess { receipt_index, public_key, nonce } => (
            *receipt_index,
            Ok(Action::AddKey(Box::new(AddKeyAction {
                public_key: public_key.clone(),
                access_key: AccessKey { nonce: *nonce, permission: AccessKeyPermission::FullAccess },
            }))),
        ),
        MockAction::AddKeyWithFunctionCall {
            receipt_index,
            public_key,
            nonce,
            allowance,
            receiver_id,
            method_names,
        } => (
            *receipt_index,
            Ok(Action::AddKey(Box::new(AddKeyAction {
                public_key: public_key.clone(),
                access_key: AccessKey {
                    nonce: *nonce,
                    permission: AccessKeyPermission::FunctionCall(FunctionCallPermission {
                        allowance: *allowance,
                        receiver_id: receiver_id.to_string(),
                        method_names: method_names.iter().map(|m| String::from_utf8_lossy(m).into_owned()).collect(),
                    }),
                },
            }))),
        ),
        MockAction::DeleteKey { receipt_index, public_key } => {
            (*receipt_index, Ok(Action::DeleteKey(Box::new(DeleteKeyAction { public_key: public_key.clone() }))))
        }
        MockAction::DeleteAccount { receipt_index, beneficiary_id } => {
            (*receipt_index, Ok(Action::DeleteAccount(DeleteAccountAction { beneficiary_id: beneficiary_id.clone() })))
        }
        MockAction::DeployGlobalContract { receipt_index, .. } => (*receipt_index, Err("DeployGlobalContract")),
        MockAction::UseGlobalContract { receipt_index, .. } => (*receipt_index, Err("UseGlobalContract")),
        MockAction::DeterministicStateInit { receipt_index, .. } => (*receipt_index, Err("DeterministicStateInit")),
        MockAction::UniversalStateInit { receipt_index, .. } => (*receipt_index, Err("UniversalStateInit")),
        MockAction::TransferToGasKey { receipt_index, .. } => (*receipt_index, Err("TransferToGasKey")),
        MockAction::Stake { receipt_index, .. } => (*receipt_index, Err("Stake")),
        MockAction::AddGasKeyWithFullAccess { receipt_index, .. } => (*receipt_index, Err("AddGasKey")),
        MockAction::AddGasKeyWithFunctionCall { receipt_index, .. } => (*receipt_index, Err("AddGasKey")),
        MockAction::SetRefundTo { .. } => return None,
    })
}
