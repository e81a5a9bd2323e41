//! Per-receipt rollback of contract storage by an undo log, so a receipt costs
//! what it touches rather than the size of the receiver's storage.
//!
//! The VM writes storage through: [`JournaledExternal`] wraps nearcore's
//! `MockedExternal` (the storage and the action log) and, before the first
//! write or removal of each key in a receipt, records the value the key had
//! ([`Journal`]). On failure the receipt's caller puts those values back
//! ([`Journal::restore`]); on success the log is dropped. Everything else the
//! VM asks of its host goes to `MockedExternal` unchanged.
//!
//! Not here: the account's other fields (balance, keys, code, usage), which
//! are small and which `receipts` snapshots whole.

use std::collections::HashMap;

use near_crypto::PublicKey;
use near_primitives_core::hash::{CryptoHash, YieldId};
use near_primitives_core::types::{AccountId, Balance, Gas, GasWeight, Nonce, NonceIndex};
use near_primitives_core::universal_state_init::{DecodeMode, RawStateInit, StateInitError, UniversalStateInitCounts};
use near_vm_runner::logic::mocks::mock_external::MockedExternal;
use near_vm_runner::logic::types::{ActionIndex, GlobalContractDeployMode, GlobalContractIdentifier, ReceiptIndex};
use near_vm_runner::logic::{External, StorageAccessTracker, VMLogicError, ValuePtr};

/// What the VM's host calls return.
type Result<T, E = VMLogicError> = std::result::Result<T, E>;

/// Contract storage: key to value.
pub(crate) type Storage = HashMap<Vec<u8>, Vec<u8>>;

/// For each key a receipt changed, the value it had before (`None`: absent).
type Undo = HashMap<Vec<u8>, Option<Vec<u8>>>;

/// What one receipt changed in its receiver's storage, so it can be undone.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    /// The value each key had before the receipt first wrote or removed it
    /// (`None`: the key was absent).
    before: Undo,
    /// Set when the receipt deleted its receiver: the storage it had then and
    /// the log up to that point (a later account of the same name, created in
    /// the same receipt, is a different account).
    deleted: Option<(Storage, Undo)>,
}

impl Journal {
    /// Records `key`'s current value in `storage` unless the receipt already
    /// changed the key.
    fn note(&mut self, storage: &Storage, key: &[u8]) {
        if !self.before.contains_key(key) {
            self.before.insert(key.to_vec(), storage.get(key).cloned());
        }
    }

    /// The receipt deleted its receiver, whose storage was `storage`.
    pub(crate) fn account_deleted(&mut self, storage: Storage) {
        if self.deleted.is_none() {
            self.deleted = Some((storage, std::mem::take(&mut self.before)));
        }
    }

    /// The receiver's storage as it was before the receipt, given the storage
    /// it has now (`None` if it no longer exists).
    pub(crate) fn restore(self, current: Option<Storage>) -> Storage {
        let (mut storage, before) = match self.deleted {
            Some(d) => d,
            None => (current.unwrap_or_default(), self.before),
        };
        for (key, value) in before {
            match value {
                Some(v) => storage.insert(key, v),
                None => storage.remove(&key),
            };
        }
        storage
    }
}

/// `MockedExternal` whose storage writes are journaled.
pub(crate) struct JournaledExternal<'j> {
    /// The storage (`fake_trie`) and the action log.
    pub inner: MockedExternal,
    journal: &'j mut Journal,
}

impl<'j> JournaledExternal<'j> {
    /// Wraps `inner`, recording into `journal`.
    pub(crate) fn new(inner: MockedExternal, journal: &'j mut Journal) -> Self {
        JournaledExternal { inner, journal }
    }
}

impl External for JournaledExternal<'_> {
    fn storage_set(
        &mut self,
        tracker: &mut dyn StorageAccessTracker,
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        self.journal.note(&self.inner.fake_trie, key);
        self.inner.storage_set(tracker, key, value)
    }

    fn storage_get<'a>(
        &'a self,
        tracker: &mut dyn StorageAccessTracker,
        key: &[u8],
    ) -> Result<Option<Box<dyn ValuePtr + 'a>>> {
        self.inner.storage_get(tracker, key)
    }

    fn storage_remove(&mut self, tracker: &mut dyn StorageAccessTracker, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.journal.note(&self.inner.fake_trie, key);
        self.inner.storage_remove(tracker, key)
    }

    fn storage_has_key(&mut self, tracker: &mut dyn StorageAccessTracker, key: &[u8]) -> Result<bool> {
        self.inner.storage_has_key(tracker, key)
    }

    fn generate_data_id(&mut self) -> CryptoHash {
        self.inner.generate_data_id()
    }

    fn get_recorded_storage_size(&self) -> usize {
        self.inner.get_recorded_storage_size()
    }

    fn storage_proof_size_before_receipt(&self) -> usize {
        self.inner.storage_proof_size_before_receipt()
    }

    fn validator_stake(&self, account_id: &AccountId) -> Result<Option<Balance>> {
        self.inner.validator_stake(account_id)
    }

    fn validator_total_stake(&self) -> Result<Balance> {
        self.inner.validator_total_stake()
    }

    fn chain_id(&self) -> String {
        self.inner.chain_id()
    }

    fn create_action_receipt(
        &mut self,
        receipt_indices: Vec<ReceiptIndex>,
        receiver_id: AccountId,
    ) -> Result<ReceiptIndex> {
        self.inner.create_action_receipt(receipt_indices, receiver_id)
    }

    fn create_promise_yield_receipt(&mut self, receiver_id: AccountId) -> Result<(ReceiptIndex, CryptoHash)> {
        self.inner.create_promise_yield_receipt(receiver_id)
    }

    fn create_promise_yield_receipt_with_id(
        &mut self,
        receiver_id: AccountId,
        user_yield_id: YieldId,
    ) -> Result<Option<(ReceiptIndex, CryptoHash)>> {
        self.inner.create_promise_yield_receipt_with_id(receiver_id, user_yield_id)
    }

    fn submit_promise_resume_data(&mut self, data_id: CryptoHash, data: Vec<u8>) -> Result<bool> {
        self.inner.submit_promise_resume_data(data_id, data)
    }

    fn submit_promise_resume_data_with_yield_id(&mut self, user_yield_id: YieldId, data: Vec<u8>) -> Result<bool> {
        self.inner.submit_promise_resume_data_with_yield_id(user_yield_id, data)
    }

    fn append_action_create_account(&mut self, receipt_index: ReceiptIndex) {
        self.inner.append_action_create_account(receipt_index)
    }

    fn append_action_deploy_contract(&mut self, receipt_index: ReceiptIndex, code: Vec<u8>) {
        self.inner.append_action_deploy_contract(receipt_index, code)
    }

    fn append_action_deploy_global_contract(
        &mut self,
        receipt_index: ReceiptIndex,
        code: Vec<u8>,
        mode: GlobalContractDeployMode,
    ) {
        self.inner.append_action_deploy_global_contract(receipt_index, code, mode)
    }

    fn append_action_use_global_contract(
        &mut self,
        receipt_index: ReceiptIndex,
        contract_id: GlobalContractIdentifier,
    ) {
        self.inner.append_action_use_global_contract(receipt_index, contract_id)
    }

    fn append_action_deterministic_state_init(
        &mut self,
        receipt_index: ReceiptIndex,
        contract_id: GlobalContractIdentifier,
        amount: Balance,
    ) -> ActionIndex {
        self.inner.append_action_deterministic_state_init(receipt_index, contract_id, amount)
    }

    fn set_deterministic_state_init_data_entry(
        &mut self,
        receipt_index: ReceiptIndex,
        action_index: ActionIndex,
        key: Vec<u8>,
        value: Vec<u8>,
    ) -> Result<()> {
        self.inner.set_deterministic_state_init_data_entry(receipt_index, action_index, key, value)
    }

    fn check_state_init(&self, state_init: &RawStateInit) -> Result<(), StateInitError> {
        self.inner.check_state_init(state_init)
    }

    fn state_init_send_counts(&self, state_init: &RawStateInit, mode: DecodeMode) -> UniversalStateInitCounts {
        self.inner.state_init_send_counts(state_init, mode)
    }

    fn append_action_universal_state_init(
        &mut self,
        receipt_index: ReceiptIndex,
        state_init: RawStateInit,
        amount: Balance,
    ) {
        self.inner.append_action_universal_state_init(receipt_index, state_init, amount)
    }

    fn append_action_function_call_weight(
        &mut self,
        receipt_index: ReceiptIndex,
        method_name: Vec<u8>,
        args: Vec<u8>,
        attached_deposit: Balance,
        prepaid_gas: Gas,
        gas_weight: GasWeight,
    ) -> Result<()> {
        self.inner.append_action_function_call_weight(
            receipt_index,
            method_name,
            args,
            attached_deposit,
            prepaid_gas,
            gas_weight,
        )
    }

    fn append_action_transfer(&mut self, receipt_index: ReceiptIndex, deposit: Balance) {
        self.inner.append_action_transfer(receipt_index, deposit)
    }

    fn append_action_transfer_to_gas_key(
        &mut self,
        receipt_index: ReceiptIndex,
        public_key: PublicKey,
        deposit: Balance,
    ) {
        self.inner.append_action_transfer_to_gas_key(receipt_index, public_key, deposit)
    }

    fn append_action_add_gas_key_with_full_access(
        &mut self,
        receipt_index: ReceiptIndex,
        public_key: PublicKey,
        num_nonces: NonceIndex,
    ) {
        self.inner.append_action_add_gas_key_with_full_access(receipt_index, public_key, num_nonces)
    }

    fn append_action_add_gas_key_with_function_call(
        &mut self,
        receipt_index: ReceiptIndex,
        public_key: PublicKey,
        num_nonces: NonceIndex,
        allowance: Option<Balance>,
        receiver_id: AccountId,
        method_names: Vec<Vec<u8>>,
    ) -> Result<()> {
        self.inner.append_action_add_gas_key_with_function_call(
            receipt_index,
            public_key,
            num_nonces,
            allowance,
            receiver_id,
            method_names,
        )
    }

    fn append_action_stake(&mut self, receipt_index: ReceiptIndex, stake: Balance, public_key: PublicKey) {
        self.inner.append_action_stake(receipt_index, stake, public_key)
    }

    fn append_action_add_key_with_full_access(
        &mut self,
        receipt_index: ReceiptIndex,
        public_key: PublicKey,
        nonce: Nonce,
    ) {
        self.inner.append_action_add_key_with_full_access(receipt_index, public_key, nonce)
    }

    fn append_action_add_key_with_function_call(
        &mut self,
        receipt_index: ReceiptIndex,
        public_key: PublicKey,
        nonce: Nonce,
        allowance: Option<Balance>,
        receiver_id: AccountId,
        method_names: Vec<Vec<u8>>,
    ) -> Result<()> {
        self.inner.append_action_add_key_with_function_call(
            receipt_index,
            public_key,
            nonce,
            allowance,
            receiver_id,
            method_names,
        )
    }

    fn append_action_delete_key(&mut self, receipt_index: ReceiptIndex, public_key: PublicKey) {
        self.inner.append_action_delete_key(receipt_index, public_key)
    }

    fn append_action_delete_account(&mut self, receipt_index: ReceiptIndex, beneficiary_id: AccountId) {
        self.inner.append_action_delete_account(receipt_index, beneficiary_id)
    }

    fn get_receipt_receiver(&self, receipt_index: ReceiptIndex) -> &AccountId {
        self.inner.get_receipt_receiver(receipt_index)
    }

    fn set_refund_to(&mut self, receipt_index: ReceiptIndex, refund_to: AccountId) {
        self.inner.set_refund_to(receipt_index, refund_to)
    }

    fn post_quantum_keys_enabled(&self) -> bool {
        self.inner.post_quantum_keys_enabled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(pairs: &[(&str, &str)]) -> Storage {
        pairs.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
    }

    #[test]
    fn restore_undoes_writes_and_removals_once_per_key() {
        let original = storage(&[("a", "1"), ("b", "2")]);
        let mut now = original.clone();
        let mut j = Journal::default();
        for (k, v) in [("a", Some("x")), ("a", Some("y")), ("b", None), ("c", Some("3")), ("c", None)] {
            j.note(&now, k.as_bytes());
            match v {
                Some(v) => now.insert(k.as_bytes().to_vec(), v.as_bytes().to_vec()),
                None => now.remove(k.as_bytes()),
            };
        }
        assert_eq!(j.restore(Some(now)), original);
    }

    #[test]
    fn restore_after_deletion_uses_the_deleted_storage() {
        let original = storage(&[("a", "1")]);
        let mut now = original.clone();
        let mut j = Journal::default();
        j.note(&now, b"a");
        now.insert(b"a".to_vec(), b"2".to_vec());
        j.account_deleted(now);
        // A new account of the same name, created later in the receipt.
        let mut again = Storage::new();
        j.note(&again, b"a");
        again.insert(b"a".to_vec(), b"new".to_vec());
        assert_eq!(j.restore(Some(again)), original);
    }
}
