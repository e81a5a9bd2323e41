//! A PoR client embedded in an application: the node registers on the
//! contract (if its account is not registered yet), opens a channel to the
//! server of the `server` example, waits until the chain's graph routes to
//! it, and sends a paid request to its `upper` service; it prints the
//! reply, what it paid, and its events.
//!
//! Against the local devnet, with the `server` example running:
//!
//! ```text
//! cargo run -p por-node --example client -- --key testnet/devnet/keys/node6.devnet.json \
//!     --server-account node5.devnet --server-key <hex> --bootstrap <server address>
//! ```
//!
//! Flags: `--key` (required), `--server-account`, `--server-key` and
//! `--bootstrap` (required: what the server printed), `--body` (default
//! `hello from the client`), `--rpc`, `--contract`, `--dir` as for the
//! server. The request goes with the SDK's default cost cap
//! ([`por_node::DEFAULT_MAX_COST`], 0.01 NEAR).

mod common;

use std::time::Duration;

use anyhow::Context;
use common::{Args, DEPOSIT, STAKE, print_event};
use por_core::{EdgeParams, NodeKey};
use por_node::routes::RouteLimits;
use por_node::{NodeBuilder, OutcomeKind, Reply, SendOptions};

/// The edge the client proposes: 50 ms one way, 10^12 yocto per message
/// and 10^6 per byte.
const EDGE: EdgeParams = EdgeParams { latency_ms: 50, base_fee: 1_000_000_000_000, byte_fee: 1_000_000 };

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse(&[
        "--key",
        "--server-account",
        "--server-key",
        "--bootstrap",
        "--body",
        "--rpc",
        "--contract",
        "--dir",
    ])?;
    let server_key = NodeKey::from_hex(&args.need("--server-key")?).context("--server-key is not a node key")?;
    let server_account = args.need("--server-account")?.parse().context("--server-account")?;
    let bootstrap = args.need("--bootstrap")?.parse().context("--bootstrap is not a multiaddr")?;
    let body = args.get("--body").unwrap_or_else(|| "hello from the client".into());

    let mut node = NodeBuilder::new(args.node_dir("--key")?)
        .chain([args.rpc()], args.contract(), args.need("--key")?)
        .register(0, STAKE)
        .bootstrap(bootstrap)
        .chain_poll(Duration::from_millis(200))
        .start()
        .await?;
    let mut events = node.events();
    println!("client running: key {}", node.key().to_hex());

    // A channel to the server: proposed on chain with our deposit; the
    // server's agent confirms it, then both nodes track it.
    let (contract, _) = node.contract().expect("a node with a chain");
    let fee = contract.config().await?.channel_storage_fee;
    let channel = contract.open_channel(&server_account, EDGE, DEPOSIT + fee).await?;
    println!("client: proposed channel {channel} to {server_account}");
    common::wait_for_channel("client", &mut events, server_key).await?;

    // The graph the route is found in follows the chain; the server checks
    // our route against its own copy, which may lag by a poll: retry a few
    // times.
    let h = node.handle().clone();
    let mut opts = SendOptions::new(server_key, "upper");
    opts.body = body.into_bytes();
    opts.max_response_bytes = 1024;
    let out = common::retry("client", 20, || async {
        h.routes_to(&server_key, opts.body.len() as u64, opts.max_response_bytes, &RouteLimits::default(), 1)?;
        anyhow::Ok(h.send(opts.clone()).await?)
    })
    .await?;
    match &out.kind {
        OutcomeKind::Response(r) => {
            let reply = Reply::decode(&r.body).context("the response is not a reply")?;
            println!("client: reply {} {}", reply.status, String::from_utf8_lossy(&reply.body));
        }
        OutcomeKind::Notice(n) => println!("client: severance notice for channel {}", n.channel),
        OutcomeKind::Pending => println!("client: no answer yet (late fees so far {})", out.late_fees),
    }
    println!("client: paid {} yocto over {} hop(s)", out.paid, out.route.hops.len());
    while let Ok(Some(ev)) = events.try_next() {
        print_event("client", &ev);
    }
    node.stop(Duration::from_secs(5)).await;
    Ok(())
}
