//! A PoR server embedded in an application: the node registers on the
//! contract (if its account is not registered yet), confirms every channel
//! proposed to it, and serves `upper`, which answers a request's body in
//! capitals; it prints its events until stopped.
//!
//! Against the local devnet (`make testnet` in another terminal; its
//! accounts beyond the testnet's own nodes are free to use):
//!
//! ```text
//! cargo run -p por-node --example server -- --key testnet/devnet/keys/node5.devnet.json
//! ```
//!
//! It prints `server ready: key <hex> address <multiaddr>`; give both to the
//! `client` example. Flags: `--key` (required: the NEAR key file of the
//! account), `--rpc` (default the devnet's), `--contract` (default
//! `por.devnet`), `--dir` (where the node keeps its data, in a folder named after the key
//! file: `<dir>/<key file name>/node`; default under the system's temporary
//! directory, so a later run with the same account finds its node key),
//! `--for-secs` (stop after that long; default at Ctrl-C).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Args, DEPOSIT, STAKE, print_event};
use por_node::{EventError, NodeBuilder, Reply, ServiceRequest};

/// The service time the server promises, ms.
const SERVICE_MS: u64 = 20;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse(&["--key", "--rpc", "--contract", "--dir", "--for-secs"])?;
    let run_for = match args.get("--for-secs") {
        Some(s) => Duration::from_secs(s.parse().map_err(|_| anyhow::anyhow!("--for-secs {s:?} is not a number"))?),
        None => Duration::MAX,
    };
    let mut node = NodeBuilder::new(args.node_dir("--key")?)
        .chain([args.rpc()], args.contract(), args.need("--key")?)
        .register(SERVICE_MS, STAKE)
        .accept_channels(DEPOSIT)
        .chain_poll(Duration::from_millis(200))
        .start()
        .await?;
    let mut events = node.events();
    let upper = |r: ServiceRequest| async move { Reply::ok(r.body.to_ascii_uppercase()) };
    node.handle().serve("upper", Arc::new(upper)).await?;
    println!("server ready: key {} address {}", node.key().to_hex(), node.addresses()[0]);

    let stop = tokio::time::sleep(run_for.min(Duration::from_secs(100 * 365 * 86_400)));
    tokio::pin!(stop);
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                Ok(ev) => print_event("server", &ev),
                Err(EventError::Missed(n)) => println!("server: {n} events missed (the stream lagged)"),
                Err(EventError::Stopped) => break,
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = &mut stop => break,
        }
    }
    let left = node.stop(Duration::from_secs(5)).await;
    println!("server stopped ({left} requests left in flight)");
    Ok(())
}
