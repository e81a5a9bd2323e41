//! libp2p glue for PoR: codecs with explicit size limits and the behaviours for
//! `/por/relay/1.0.0` and `/por/sync/1.0.0`.
//!
//! This crate is filled by the node issue (#5); until then it holds nothing, and
//! nothing depends on it.
