//! libp2p glue for PoR: wire framing with explicit size limits and the
//! behaviours for `/por/relay/1.0.0` and `/por/sync/1.0.0`.
//!
//! What is here now:
//! - [`codec`]: the length-prefixed CBOR framing every PoR protocol uses, as a
//!   `request_response::Codec` with per-protocol request and response limits
//!   checked before anything is allocated;
//! - [`protocol`]: the protocol names and their limits;
//! - [`behaviour`]: the composed behaviour (relay and sync lanes, Kademlia,
//!   identify, ping, connection limits), the swarm builder and the domain
//!   events the node consumes;
//! - [`store`]: Kademlia's provider store, bounded per remote peer.
//!
//! Policy (whom to pay, when to cut an edge) is the node's, never this crate's.
#![deny(missing_docs)]

pub mod behaviour;
pub mod codec;
pub mod protocol;
pub mod store;

pub use behaviour::{Behaviour, BehaviourEvent, BuildError, Lane, NetConfig, NetEvent, Receipt, build_swarm};
pub use codec::{CborLpCodec, FrameError};
