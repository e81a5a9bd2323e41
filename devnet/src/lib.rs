//! # por-devnet: an embedded NEAR chain for PoR
//!
//! A deterministic, single-process chain that runs the PoR contract's real
//! wasm with nearcore's own VM (near-vm-runner 0.38 at protocol version
//! [`PROTOCOL_VERSION`]) and speaks a subset of NEAR's JSON-RPC, so the node's
//! chain client works against it exactly as against NEAR testnet.
//!
//! What lives where:
//! - [`state`]: the persistent data (accounts, keys, code, blocks, outcomes);
//! - [`engine`]: [`Chain`], transaction validation (signature, nonce,
//!   balance, permissions), blocks and the clock, the direct Rust API;
//! - `receipts` (private): executing receipts with the VM,
//!   storage staking, transfers, refunds and rollback;
//! - `journal` (private): the per-receipt undo log of contract storage that
//!   rollback uses;
//! - [`outcome`]: reading outcomes, and NEAR's views of them;
//! - [`rpc`]: the JSON-RPC server (axum) over a shared chain;
//! - [`genesis`]: the data directory: genesis with the contract and funded
//!   accounts, key files, atomic persistence.
//!
//! Not here: consensus, sharding, validators, gas price changes (see
//! [`engine`] for what the engine leaves out).
//!
//! ```no_run
//! use por_devnet::{Chain, ChainConfig};
//! let mut chain = Chain::new(ChainConfig::default());
//! let alice: near_primitives::types::AccountId = "alice.devnet".parse().unwrap();
//! chain.create_account(alice.clone(), 10u128.pow(27), None).unwrap();
//! chain.deploy(&alice, std::fs::read("artifacts/por_contract.wasm").unwrap()).unwrap();
//! let out = chain.call(&alice, &alice, "config", b"{}", 0, por_devnet::DEFAULT_GAS).unwrap();
//! println!("{} gas, ok: {}", out.gas_burnt(), out.is_success());
//! ```
#![deny(missing_docs)]

mod chain;
pub mod engine;
pub mod genesis;
mod journal;
pub mod outcome;
mod receipts;
pub mod rpc;
pub mod state;

pub use engine::{Chain, ChainConfig, DEFAULT_GAS, EngineError, PROTOCOL_VERSION, ViewOutcome};
pub use state::{Account, BlockInfo, ReceiptOutcome, TxRecord};
