//! The PoR node: the swarm event loop driving the core's protocol engine,
//! durable channel state, and the handle that the API, CLI, SDK and tests
//! use.
#![deny(missing_docs)]

pub mod store;
