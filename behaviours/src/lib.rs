//! libp2p glue for PoR: wire framing with explicit size limits and the
//! behaviours for the lanes `/por/relay/2.0.0` and `/por/sync/2.0.0`.
//!
//! What is here now:
//! - [`codec`]: CBOR encoding and length-prefixed framing, and a
//!   `request_response::Codec` with per-direction limits checked before
//!   anything is allocated (for request-response protocols: the file
//!   benches' baselines);
//! - [`frame`]: the v2 lane frames (messages and receipts) and their limits;
//! - [`lanes`]: a lane as a behaviour: a long-lived stream per neighbour,
//!   frames per turn, receipts in-band, back-pressure;
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
pub mod frame;
pub mod lanes;
pub mod protocol;
pub mod store;

pub use behaviour::{
    Behaviour, BehaviourEvent, BuildError, Lane, MessageId, NetConfig, NetEvent, Receipt, ReplyTo, build_swarm,
};
pub use codec::{CborLpCodec, FrameError};
