//! libp2p glue for PoR: wire framing with explicit size limits, and (as the
//! node issue lands) the behaviours for `/por/relay/1.0.0` and
//! `/por/sync/1.0.0`.
//!
//! What is here now:
//! - [`codec`]: the length-prefixed CBOR framing every PoR protocol uses, as a
//!   `request_response::Codec` with per-protocol request and response limits
//!   checked before anything is allocated;
//! - [`protocol`]: the protocol names and their limits.
//!
//! Policy (whom to pay, when to cut an edge) is the node's, never this crate's.
#![deny(missing_docs)]

pub mod codec;
pub mod protocol;

pub use codec::{CborLpCodec, FrameError};
