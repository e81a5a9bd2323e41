//! # por: the PoR command and what only it knows
//!
//! The node library (`por-node`) knows no command line, no configuration
//! file and no devnet; file sharing (`por-files`) is an application on the
//! node's handle. This crate puts them together for an operator:
//!
//! - [`config`]: the configuration file (`por.toml`) and what it turns into;
//! - [`init`]: `por init` (data directory, key, config, registration);
//! - [`run`]: a node from its configuration file, with its services, file
//!   sharing and its HTTP API (`por node run`);
//! - `testnet` (feature `devnet`, on by default): `por testnet`, the local
//!   network `make testnet` runs on the embedded devnet (the only part of
//!   the project that links it);
//! - [`cli`]: the command line (clap) and what each command does;
//! - [`apiclient`]: the CLI's client of a running node's HTTP API;
//! - [`files_cli`]: `por files`;
//! - [`network_cli`]: `por network`;
//! - [`output`]: every command's result as a table or as JSON.
//!
//! `main.rs` parses the command line, sets up logging on stderr and calls
//! [`cli::run`].
#![deny(missing_docs)]

pub mod apiclient;
pub mod cli;
pub mod config;
pub mod files_cli;
pub mod init;
pub mod network_cli;
pub mod output;
pub mod run;
#[cfg(feature = "devnet")]
pub mod testnet;
