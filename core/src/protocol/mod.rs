//! The per-node protocol engine (DESIGN §2.3–§2.7), sans-IO.
//!
//! [`NodeEngine`] is one node's state machine: it pays and forwards requests,
//! acknowledges, relays signed responses, tracks deadlines on the node's own
//! clock, streams late fees in periodic syncs, applies the failure policy and
//! sends severance notices. It reads no clock and draws no randomness: every
//! input carries `now` (the node's monotonic clock in ms), every output is an
//! [`Effect`] appended to a caller-provided `Vec` and carried out by the
//! driver in order (see [`effect`] for the durability rule).
//!
//! The node (issue #6) drives it over libp2p and the chain; the simulator
//! (`por-sim`) drives the very same code with virtual time.
//!
//! Files by role:
//! - [`config`]: late-fee terms, sync, failure policy, fault injection;
//! - [`effect`]: wire messages, effects, timers, deliveries;
//! - [`channel`]: per-channel state;
//! - [`inflight`]: per-request legs and their late accounting;
//! - `node`: requests, acks, responses, notices;
//! - `sync`: syncs, timers, policy, severance;
//! - `refused`: a request the first hop refused outright;
//! - `restore`: channels back after a restart.

pub mod channel;
pub mod config;
pub mod effect;
pub mod inflight;
mod node;
mod refused;
mod restore;
mod sync;
#[cfg(all(test, feature = "native"))]
mod tests;

pub use channel::{ChannelSetup, ChannelState};
pub use config::{FailurePolicy, FaultInjection, ProtocolConfig, late_fee};
pub use effect::{Delivery, Effect, EngineEvent, PaidRequest, Refusal, SeverReason, Timer, Wire, offline_tx_hash};
pub use node::{NodeEngine, RequestError, RespondError};
