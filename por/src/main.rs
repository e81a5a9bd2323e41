//! `por`: the PoR command line. Parses arguments, sets up tracing, and calls
//! the library: `init`, `node run`, `status`, `peers`, `channel`, `request`,
//! `files`, `contract deploy`, and `testnet` (what `make testnet` runs).
//! Everything but `init`, `node run`, `contract deploy` and `testnet` talks
//! to a running node through its HTTP API.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = por::cli::Cli::from_args();
    cli.global.init_logging();
    por::cli::run(cli).await
}
