//! # por-node: the PoR node as a library
//!
//! The swarm event loop driving the core's protocol engine, durable channel
//! state, services, the chain client, and the handle that the API, CLI, SDK
//! and tests use. It knows no command line and no configuration file, and
//! it does not link the embedded devnet: the `por` binary crate owns the
//! CLI, `init`, `node run` and `testnet`; file sharing (`por-files`) is an
//! application on [`NodeHandle`] whose routes the binary mounts beside
//! [`api::router_with_chain`]'s.
//!
//! - [`runtime`]: the event loop (one task owns the swarm, the engine and the
//!   store) and [`runtime::start`];
//! - [`agent`]: the chain agent: follows the graph for the node and carries
//!   out its chain jobs (severances, confirmations, finalization);
//! - [`api`]: the HTTP API and `/metrics`;
//! - [`builder`]: [`NodeBuilder`], a node embedded in an application (key,
//!   chain, registration, agent) in a few lines;
//! - [`chain`]: one trait over NEAR's JSON-RPC, the typed PoR contract
//!   client, a follower that keeps the channel graph current, deployment;
//! - [`client`]: [`NodeHandle::send`], a request to a node by key with
//!   routing and retries;
//! - [`committer`]: the group commit of vouchers (acks wait for the disk,
//!   nothing else does);
//! - [`events`]: the event stream an embedding application reads
//!   ([`NodeEvent`]: channels opened and closed, requests served, late
//!   fees, severances);
//! - [`handle`]: [`NodeHandle`], the cloneable way in;
//! - [`keys`]: the node key file;
//! - [`metrics`]: Prometheus metrics fed by the event loop;
//! - [`routes`]: the graph routes are found in;
//! - [`service`]: services a node serves and the reply format;
//! - [`store`]: the durable channel store;
//! - [`upstream`]: services backed by an upstream HTTP URL (the server role).
#![deny(missing_docs)]

pub mod agent;
pub mod api;
pub mod backup;
pub mod builder;
pub mod chain;
pub mod client;
pub mod committer;
pub mod events;
pub mod handle;
pub mod history;
pub mod keys;
pub mod metrics;
pub mod outcomes;
pub mod routes;
pub mod runtime;
pub mod sentlog;
pub mod service;
pub mod store;
pub mod upstream;

pub use builder::{BuildError, BuiltNode, Node, NodeBuilder};
pub use client::{Attempt, AttemptResult, ClientError, DEFAULT_MAX_COST, Outcome, OutcomeKind, SendOptions};
pub use events::{EventError, EventStream, NodeEvent};
pub use handle::{NodeHandle, PeerInfo, SendError, Status, Stopped};
pub use routes::{NetworkGraph, PricedRoute, RouteError, RouteLimits};
pub use runtime::{Envelope, NodeConfig, RunningNode, StartError, start};
pub use service::{Reply, Service, ServiceRequest, SharedService};
