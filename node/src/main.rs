//! `por`: the PoR command line. For now only `por contract deploy`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use near_primitives::types::AccountId;
use por_node::chain::{ContractConfig, DeployOptions, deploy};

/// Proof of Response.
#[derive(Parser, Debug)]
#[command(name = "por", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The PoR contract.
    #[command(subcommand)]
    Contract(ContractCmd),
}

#[derive(Subcommand, Debug)]
enum ContractCmd {
    /// Deploy the contract wasm on ACCOUNT and initialise it.
    Deploy {
        /// RPC URL (e.g. `https://rpc.testnet.near.org` or the devnet's URL).
        #[arg(long)]
        rpc: String,
        /// Account to deploy on.
        #[arg(long)]
        account: AccountId,
        /// NEAR key file of a full-access key of ACCOUNT.
        #[arg(long)]
        key: PathBuf,
        /// The contract wasm.
        #[arg(long, default_value = "artifacts/por_contract.wasm")]
        wasm: PathBuf,
        /// JSON file with the contract config (see contract/API.md); default:
        /// a public-network config owned by ACCOUNT.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Deploy only (upgrade an initialised contract): do not call `new`.
        #[arg(long)]
        no_init: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    match Cli::parse().command {
        Command::Contract(ContractCmd::Deploy { rpc, account, key, wasm, config, no_init }) => {
            let config = if no_init {
                None
            } else if let Some(path) = config {
                let text =
                    std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))?;
                Some(serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))?)
            } else {
                Some(ContractConfig::public_default(account.clone()))
            };
            let out = deploy(&DeployOptions { rpc, account: account.clone(), key_file: key, wasm, config }).await?;
            println!("deployed on {account}: transaction {} ({} gas)", out.tx_hash, out.gas_burnt);
        }
    }
    Ok(())
}
