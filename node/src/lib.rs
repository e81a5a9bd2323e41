//! # por-node: the PoR node
//!
//! So far this crate holds the node's chain client ([`chain`]): one trait
//! over NEAR's JSON-RPC, the typed PoR contract client, a follower that keeps
//! the channel graph current, and contract deployment. The swarm, relay,
//! HTTP API and metrics come with the node issue.
#![deny(missing_docs)]

pub mod chain;
