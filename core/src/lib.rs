//! # por-core: Proof of Response without I/O
//!
//! The protocol rules of PoR (see `docs/PROTOCOL.md`) as plain Rust that the
//! node, the simulator and the NEAR contract share. Nothing here reads a clock,
//! draws randomness, touches a socket or spawns a task: time and random bytes
//! are arguments, effects are returned values. It builds for
//! `wasm32-unknown-unknown` without the `native` feature (the contract
//! verifies signatures with the chain's host function instead of
//! ed25519-dalek).
//!
//! What lives where:
//! - [`bytes`]: node keys, signatures, hashes, request ids, amount encoding;
//! - [`peer`]: node key ↔ libp2p `PeerId`;
//! - [`canonical`]: the domain-separated bytes every signature covers;
//! - [`crypto`]: the signing and verifying traits (and ed25519-dalek under `native`);
//! - [`voucher`]: cumulative vouchers, acks, channel ids;
//! - [`merkle`]: batch signatures (one root per turn, a path per object);
//! - [`message`]: requests, routes, responses, severance notices, syncs;
//! - [`cost`]: fees, payments and per-hop budgets along a path;
//! - [`ledger`]: one channel's two directions and the checks on a voucher;
//! - [`graph`], [`partition`]: the channel graph and the bounded partition check;
//! - [`settlement`]: penalties, claims, slashing and reimbursement over a
//!   storage trait, which the contract and the simulator both implement;
//! - [`routing`]: cheapest route under a bound, with alternatives;
//! - [`protocol`]: the per-node engine (payments, deadlines, syncs, late fees,
//!   severance) that the node and the simulator both drive;
//! - [`requester`]: the requester's retry policy (attempts, exclusions, money
//!   and time left, the ack timeout) that the node and the simulator both
//!   drive.
//!
//! Not here: wire framing and size limits (`por-behaviours`), persistence and
//! the chain client (`por-node`), on-chain storage (`por-contract`).
#![deny(missing_docs)]

pub mod bytes;
pub mod canonical;
pub mod cost;
pub mod crypto;
pub mod graph;
pub mod ledger;
pub mod merkle;
pub mod message;
pub mod partition;
pub mod peer;
pub mod protocol;
pub mod registration;
pub mod requester;
pub mod routing;
pub mod settlement;
pub mod voucher;

pub use bytes::{Hash32, NodeKey, RequestId, Signature, sha256};
pub use cost::{CostError, EdgeParams, PathQuote, quote};
#[cfg(feature = "native")]
pub use crypto::{Ed25519Verifier, NodeSigner};
pub use crypto::{Signer, Verifier};
pub use graph::{Edge, Graph, GraphView, NodeIdx, NodeInfo};
pub use ledger::{ChannelLedger, LedgerError};
pub use message::{Overdue, Request, Response, Route, RouteHop, SeveranceNotice, SyncAck, SyncMessage};
pub use partition::{Outcome, PartitionCheck, Progress, partition_oracle};
pub use protocol::{ChannelSetup, Delivery, Effect, NodeEngine, ProtocolConfig, Timer, Wire};
// `Outcome` at the root is the partition check's; the requester's is
// `requester::Outcome`, also re-exported as `RequestOutcome`.
pub use registration::Registration;
pub use requester::{
    Attempt, AttemptResult, Next, Outcome as RequestOutcome, OutcomeKind, Refused, RequestFailure, Requester,
    RetryPolicy, RouteWants,
};
pub use routing::{FoundRoute, RouteError, RouteQuery, find_routes};
pub use voucher::{Ack, Amount, ChannelId, SignedVoucher, Voucher};
