//! The chain's persistent state: accounts, code, blocks and recorded outcomes,
//! as plain data that borsh writes to the data directory.
//!
//! Nothing here executes anything; [`crate::engine`] owns the rules. The file
//! format is versioned ([`STATE_VERSION`]); a file of another version is
//! refused rather than misread.

use std::collections::{BTreeMap, HashMap, VecDeque};

use borsh::{BorshDeserialize, BorshSerialize};
use near_crypto::PublicKey;
use near_primitives::hash::CryptoHash;
use near_primitives::transaction::{ExecutionStatus, SignedTransaction};
use near_primitives::types::AccountId;
use near_primitives_core::account::AccessKey;

/// Version of the state file layout.
pub const STATE_VERSION: u32 = 1;

/// How many recent blocks are remembered (for `block` queries and the
/// `block_hash` a transaction is built on).
pub const RECENT_BLOCKS: usize = 10_000;

/// How many transaction outcomes are remembered (for `tx` queries and for
/// answering a re-sent transaction with its first outcome).
pub const RECENT_OUTCOMES: usize = 10_000;

/// One account.
#[derive(Debug, Clone, Default, BorshSerialize, BorshDeserialize)]
pub struct Account {
    /// Liquid balance, in yocto.
    pub balance: u128,
    /// Hash of the deployed code, if any.
    pub code_hash: Option<CryptoHash>,
    /// Bytes the account occupies (account record, keys, code, contract data),
    /// counted as NEAR counts them.
    pub storage_usage: u64,
    /// Access keys.
    pub keys: BTreeMap<PublicKey, AccessKey>,
    /// Contract storage.
    pub storage: HashMap<Vec<u8>, Vec<u8>>,
}

/// A block header, as far as the devnet has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct BlockInfo {
    /// Height.
    pub height: u64,
    /// Timestamp, in nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    /// This block's hash.
    pub hash: CryptoHash,
    /// The previous block's hash (zero for genesis).
    pub prev_hash: CryptoHash,
}

impl BlockInfo {
    /// The block after `prev`, `ms` milliseconds later.
    pub fn next(prev: &BlockInfo, ms: u64) -> BlockInfo {
        let height = prev.height + 1;
        let timestamp_ns = prev.timestamp_ns.saturating_add(ms.saturating_mul(1_000_000));
        let hash = block_hash(&prev.hash, height, timestamp_ns);
        BlockInfo { height, timestamp_ns, hash, prev_hash: prev.hash }
    }

    /// The genesis block at `timestamp_ns`.
    pub fn genesis(timestamp_ns: u64) -> BlockInfo {
        let prev = CryptoHash::default();
        BlockInfo { height: 1, timestamp_ns, hash: block_hash(&prev, 1, timestamp_ns), prev_hash: prev }
    }
}

fn block_hash(prev: &CryptoHash, height: u64, timestamp_ns: u64) -> CryptoHash {
    let mut bytes = Vec::with_capacity(48);
    bytes.extend_from_slice(prev.as_ref());
    bytes.extend_from_slice(&height.to_le_bytes());
    bytes.extend_from_slice(&timestamp_ns.to_le_bytes());
    CryptoHash::hash_bytes(&bytes)
}

/// The outcome of one receipt (the transaction's own receipt or one the
/// contract created).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ReceiptOutcome {
    /// The receipt's id.
    pub id: CryptoHash,
    /// The account that executed it.
    pub executor: AccountId,
    /// Log lines (NEP-297 events are the ones starting with `EVENT_JSON:`).
    pub logs: Vec<String>,
    /// Receipts it created.
    pub receipt_ids: Vec<CryptoHash>,
    /// Gas burnt.
    pub gas_burnt: u64,
    /// Yocto burnt for that gas.
    pub tokens_burnt: u128,
    /// What it returned or why it failed.
    pub status: ExecutionStatus,
}

/// Everything recorded about one transaction.
#[derive(Debug, Clone, BorshSerialize, BorshDeserialize)]
pub struct TxRecord {
    /// The transaction as signed (for unsigned engine calls, a transaction
    /// with an empty signature).
    pub tx: SignedTransaction,
    /// The block it was executed in.
    pub block: BlockInfo,
    /// Gas burnt converting the transaction to its receipt.
    pub tx_gas_burnt: u64,
    /// The id of the receipt the transaction became.
    pub receipt_id: CryptoHash,
    /// Outcomes of every receipt, in execution order (the first is the
    /// transaction's own).
    pub receipts: Vec<ReceiptOutcome>,
    /// The transaction's final status: the value of the last receipt in the
    /// chain of returned promises, or the first failure on it.
    pub status: ExecutionStatus,
}

/// The whole chain.
#[derive(Debug, Clone, BorshSerialize, BorshDeserialize)]
pub struct ChainState {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// Chain id reported by `status`.
    pub chain_id: String,
    /// Milliseconds a block adds to the clock.
    pub block_ms: u64,
    /// Yocto per unit of gas.
    pub gas_price: u128,
    /// Genesis block.
    pub genesis: BlockInfo,
    /// Latest block.
    pub head: BlockInfo,
    /// Accounts.
    pub accounts: BTreeMap<AccountId, Account>,
    /// Contract code by hash.
    pub codes: BTreeMap<CryptoHash, Vec<u8>>,
    /// Recent blocks, oldest first.
    pub blocks: VecDeque<BlockInfo>,
    /// Recent transactions, by hash.
    pub txs: HashMap<CryptoHash, TxRecord>,
    /// Their hashes in execution order (to forget the oldest).
    pub tx_order: VecDeque<CryptoHash>,
    /// Receipts executed so far (for receipt ids).
    pub receipt_counter: u64,
}
