//! `por`: the PoR command line. Parses arguments, sets up tracing, and calls
//! the library: `init`, `node run`, `status`, `peers`, `channel`, `request`,
//! `files`, `contract deploy`, and `testnet` (what `make testnet` runs).
//! Everything but `init`, `node run`, `contract deploy` and `testnet` talks
//! to a running node through its HTTP API.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    por::cli::run(por::cli::Cli::parse()).await
}
