//! # por-contract: the on-chain half of Proof of Response
//!
//! A NEAR contract (near-sdk 5.30) that keeps PoR's channel graph (DESIGN
//! §2.8): nodes register with stake; channels open and close with the
//! confirmation of both sides; a side may instead *sever* a channel, which
//! takes the edge out of the graph at once, charges each side half the
//! severance penalty, gives each a reimbursement claim on the other and runs
//! the partition check. When the check finds the graph split, the split is
//! recorded with a deadline (`reconnect_window_ms`); from then on anyone may
//! `settle` it, which checks again and, if the two ends are still apart,
//! partitions the side with less stake: its nodes lose
//! `partition_slash_bps` of their stake, out of which claims held by nodes
//! outside are paid before anything goes to the treasury. All payouts go
//! to withdrawable balances (`withdraw`, pull). Every state change emits a
//! NEP-297 event (standard `por`).
//!
//! [`contract`] holds the state and the `#[near]` surface, which only reads
//! the environment (caller, deposit, clock) and calls plain methods in:
//! - [`config`]: the configuration and its defaults;
//! - [`nodes`]: registration, stake, leave, rejoin, balances;
//! - [`channels`]: open/confirm/cancel, cooperative close, severance,
//!   challenge and finalize;
//! - [`vouchers`]: voucher checks with the host's `ed25519_verify`;
//! - [`claims`]: reimbursement claims in per-node queues, pruned a few per
//!   call;
//! - [`partition`]: the bounded, resumable partition check and settlement
//!   (storage glue around por-core's [`por_core::settlement`]);
//! - [`splits`]: splits waiting for their reconnection window, and `settle`;
//! - [`events`]: the NEP-297 events; [`views`]: the view types.
//!
//! The JSON API is listed in `contract/API.md`, the rules in
//! `docs/PROTOCOL.md` (section "Contract").
//!
//! Not here: what a node does off chain (vouchers, syncs, deadlines are in
//! `por-core` and `por-node`); the search algorithm itself (`por-core`).
#![deny(missing_docs)]

pub mod channels;
pub mod claims;
pub mod config;
pub mod contract;
pub mod events;
pub mod nodes;
pub mod partition;
pub mod splits;
pub mod views;
pub mod vouchers;

#[cfg(test)]
mod tests;

pub use config::Config;
pub use contract::Contract;
