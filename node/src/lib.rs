//! # por-node: the PoR node
//!
//! The swarm event loop driving the core's protocol engine, durable channel
//! state, services, the chain client, and the handle that the API, CLI, SDK
//! and tests use.
//!
//! - [`runtime`]: the event loop (one task owns the swarm, the engine and the
//!   store) and [`runtime::start`];
//! - [`api`]: the HTTP API and `/metrics`; [`apiclient`]: the CLI's client of it;
//! - [`chain`]: one trait over NEAR's JSON-RPC, the typed PoR contract
//!   client, a follower that keeps the channel graph current, deployment;
//! - [`client`]: [`NodeHandle::send`], a request to a node by key with
//!   routing and retries;
//! - [`committer`]: the group commit of vouchers (acks wait for the disk,
//!   nothing else does);
//! - [`config`]: the configuration file;
//! - [`files`]: file sharing over PoR (content ids, verified ranges, the
//!   `files` service, the fetcher, `por files`);
//! - [`handle`]: [`NodeHandle`], the cloneable way in;
//! - [`init`]: `por init` (data directory, config, registration);
//! - [`keys`]: the node key file;
//! - [`metrics`]: Prometheus metrics fed by the event loop;
//! - [`routes`]: the graph routes are found in;
//! - [`run`]: a node from its configuration file, with its API (`por node run`);
//! - [`service`]: services a node serves and the reply format;
//! - [`store`]: the durable channel store;
//! - [`testnet`]: `por testnet`, the local network `make testnet` runs;
//! - [`upstream`]: services backed by an upstream HTTP URL (the server role).
#![deny(missing_docs)]

pub mod api;
pub mod apiclient;
pub mod chain;
pub mod client;
pub mod committer;
pub mod config;
pub mod files;
pub mod handle;
pub mod init;
pub mod keys;
pub mod metrics;
pub mod routes;
pub mod run;
pub mod runtime;
pub mod service;
pub mod store;
pub mod testnet;
pub mod upstream;

pub use client::{Attempt, ClientError, Outcome, OutcomeKind, SendOptions};
pub use handle::{NodeHandle, PeerInfo, SendError, Status, Stopped};
pub use routes::{NetworkGraph, PricedRoute, RouteError, RouteLimits};
pub use runtime::{Envelope, NodeConfig, RunningNode, StartError, start};
pub use service::{Reply, Service, ServiceRequest, SharedService};
