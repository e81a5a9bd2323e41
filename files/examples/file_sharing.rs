//! File sharing embedded in an application: two nodes in one process on
//! the local devnet. The provider adds a file and announces it in the DHT;
//! the fetcher opens a channel to it on chain, then downloads the file by
//! its content id in paid, verified blocks, and checks the bytes.
//!
//! Against the local devnet (`make testnet` in another terminal; its
//! accounts beyond the testnet's own nodes are free to use):
//!
//! ```text
//! cargo run -p por-files --example file_sharing -- \
//!     --provider-key testnet/devnet/keys/node7.devnet.json \
//!     --fetcher-key testnet/devnet/keys/node8.devnet.json
//! ```
//!
//! Flags: `--provider-key`, `--fetcher-key` (required: NEAR key files of
//! two accounts), `--size` (the file's bytes, default 1 MiB), `--rpc`,
//! `--contract`, `--dir` (where each node keeps its data, in a folder named
//! after its key file, as for the `server` example).

#[path = "../../node/examples/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use common::{Args, DEPOSIT, STAKE};
use por_core::EdgeParams;
use por_files::{FetchOptions, Files, FilesConfig};
use por_node::{Node, NodeBuilder};

/// The edge the fetcher proposes: 50 ms one way, 10^12 yocto per message
/// and 10^6 per byte.
const EDGE: EdgeParams = EdgeParams { latency_ms: 50, base_fee: 1_000_000_000_000, byte_fee: 1_000_000 };
/// The most the download may cost: 0.001 NEAR.
const MAX_PRICE: u128 = 1_000_000_000_000_000_000_000;

/// A node of the example, registered, with file sharing on it.
async fn start(args: &Args, key: &str, bootstrap: Option<libp2p::Multiaddr>) -> anyhow::Result<(Node, Files)> {
    let node_dir = args.node_dir(key)?;
    let dir = node_dir.parent().expect("a node directory has a parent");
    let mut b = NodeBuilder::new(&node_dir)
        .chain([args.rpc()], args.contract(), args.need(key)?)
        .register(20, STAKE)
        .accept_channels(DEPOSIT)
        .chain_poll(Duration::from_millis(200));
    if let Some(a) = bootstrap {
        b = b.bootstrap(a);
    }
    let node = b.start().await?;
    let mut cfg = FilesConfig::new(&node_dir);
    cfg.share_dirs = vec![dir.join("share")];
    cfg.download_dir = Some(dir.join("downloads"));
    std::fs::create_dir_all(dir.join("share"))?;
    let files = Files::start(cfg, node.handle().clone(), Arc::new(node.handle().clone())).await?;
    Ok((node, files))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse(&["--provider-key", "--fetcher-key", "--size", "--rpc", "--contract", "--dir"])?;
    let size: usize = match args.get("--size") {
        Some(s) => s.parse().with_context(|| format!("--size {s:?} is not a number of bytes"))?,
        None => 1 << 20,
    };

    // The provider: a file in its share folder, added and announced.
    let (provider, provider_files) = start(&args, "--provider-key", None).await?;
    let content: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
    let path = args.node_dir("--provider-key")?.with_file_name("share").join("data.bin");
    std::fs::write(&path, &content)?;
    let added = provider_files.add(&path).await?;
    println!("provider: added {} ({} bytes)", added.id, added.size);

    // The fetcher: a channel to the provider, then the download.
    let (mut fetcher, fetcher_files) = start(&args, "--fetcher-key", Some(provider.addresses()[0].clone())).await?;
    let mut events = fetcher.events();
    let (contract, _) = fetcher.contract().expect("a node with a chain");
    let (_, provider_account) = provider.contract().expect("a node with a chain");
    let fee = contract.config().await?.channel_storage_fee;
    let channel = contract.open_channel(provider_account, EDGE, DEPOSIT + fee).await?;
    println!("fetcher: proposed channel {channel} to {provider_account}");
    common::wait_for_channel("fetcher", &mut events, provider.key()).await?;

    // A download never overwrites: a file of an earlier run goes first.
    let downloaded = args.node_dir("--fetcher-key")?.with_file_name("downloads").join("data.bin");
    let _ = std::fs::remove_file(&downloaded);
    let mut opts = FetchOptions::new(MAX_PRICE);
    opts.providers = vec![provider.key()];
    let (progress, _) = tokio::sync::watch::channel(Default::default());
    let reports = common::retry("fetcher", 20, || {
        fetcher_files.get(added.id, Some("data.bin".as_ref()), false, &opts, &progress)
    })
    .await?;
    let got = std::fs::read(&downloaded)?;
    if got != content {
        bail!("the downloaded bytes differ from the provider's file");
    }
    let spent: u128 = reports.iter().map(|r| r.spent).sum();
    println!("fetcher: fetched {} bytes of {}, verified, paid {spent} yocto", got.len(), added.id);
    fetcher.stop(Duration::from_secs(5)).await;
    provider.stop(Duration::from_secs(5)).await;
    Ok(())
}
