//! `por-devnet`: runs the embedded devnet on a loopback port.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use por_devnet::genesis::{self, GenesisOptions};
use por_devnet::rpc::{DevnetServer, ServerConfig};
use por_devnet::{ChainConfig, PROTOCOL_VERSION};

/// An embedded NEAR chain running the PoR contract, serving NEAR JSON-RPC.
#[derive(Parser, Debug)]
#[command(name = "por-devnet", version)]
struct Args {
    /// Data directory: created (with genesis) on first start, resumed afterwards.
    #[arg(long)]
    data: PathBuf,
    /// Address to serve JSON-RPC on.
    #[arg(long, default_value = "127.0.0.1:3030")]
    listen: SocketAddr,
    /// Contract wasm deployed at genesis (only read on first start).
    #[arg(long, default_value = "artifacts/por_contract.wasm")]
    wasm: PathBuf,
    /// Funded accounts created at genesis (node0.devnet, …).
    #[arg(long, default_value_t = 4)]
    accounts: usize,
    /// Block time in milliseconds (only read on first start).
    #[arg(long, default_value_t = 1000)]
    block_ms: u64,
    /// Answer `devnet_advance_time` (at most 30 days a call), which makes
    /// challenge windows pass at once: for tests only.
    #[arg(long)]
    allow_time_travel: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let args = Args::parse();
    let genesis_time_ns =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).context("clock before 1970")?.as_nanos()
            as u64;
    let opts = GenesisOptions {
        wasm: args.wasm,
        accounts: args.accounts,
        chain: ChainConfig { block_ms: args.block_ms, genesis_time_ns, ..ChainConfig::default() },
        ..GenesisOptions::default()
    };
    let opened = genesis::open_or_create(&args.data, &opts)?;
    let head = opened.chain.head();
    let server = DevnetServer::start(
        opened.chain,
        ServerConfig {
            listen: args.listen,
            state_file: Some(opened.state_file.clone()),
            allow_time_travel: args.allow_time_travel,
            ..ServerConfig::default()
        },
    )
    .await?;
    println!(
        "por-devnet {} (protocol {PROTOCOL_VERSION}), height {}",
        if opened.created { "created" } else { "resumed" },
        head.height
    );
    println!("contract: {}", genesis::CONTRACT_ACCOUNT);
    println!("rpc: {}", server.url());
    for k in &opened.key_files {
        println!("key: {}", k.display());
    }
    tokio::signal::ctrl_c().await.context("waiting for ctrl-c")?;
    println!("stopping; saving {}", opened.state_file.display());
    server.shutdown().await?;
    Ok(())
}
