//! What the SDK examples share: their flags, their defaults (the local
//! devnet of `make testnet`) and how they print events.
#![allow(dead_code)]

use std::path::PathBuf;

use std::future::Future;
use std::time::Duration;

use anyhow::{Context, bail};
use por_core::NodeKey;
use por_node::{EventStream, NodeEvent};

/// The devnet's RPC endpoint (`make testnet`, `por testnet`).
pub const DEVNET_RPC: &str = "http://127.0.0.1:3030";
/// The devnet's PoR contract.
pub const DEVNET_CONTRACT: &str = "por.devnet";
/// Stake a node of the examples registers with: 5 NEAR.
pub const STAKE: u128 = 5 * NEAR;
/// Each side's deposit in a channel of the examples: 1 NEAR.
pub const DEPOSIT: u128 = NEAR;
/// One NEAR in yocto.
pub const NEAR: u128 = 1_000_000_000_000_000_000_000_000;

/// `--name value` flags.
pub struct Args(Vec<String>);

impl Args {
    /// The process's flags; every one must be `--name value`.
    pub fn parse(known: &[&str]) -> anyhow::Result<Args> {
        let v: Vec<String> = std::env::args().skip(1).collect();
        for pair in v.chunks(2) {
            let name = &pair[0];
            if !known.contains(&name.as_str()) {
                bail!("unknown flag {name:?}; the flags are {}", known.join(", "));
            }
            if pair.len() < 2 {
                bail!("{name} needs a value");
            }
        }
        Ok(Args(v))
    }

    /// The value of `--name`, if given.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.chunks(2).find(|p| p[0] == name).map(|p| p[1].clone())
    }

    /// The value of `--name`, which must be given.
    pub fn need(&self, name: &str) -> anyhow::Result<String> {
        self.get(name).with_context(|| format!("{name} is required"))
    }

    /// `--rpc`, default the devnet's.
    pub fn rpc(&self) -> String {
        self.get("--rpc").unwrap_or_else(|| DEVNET_RPC.into())
    }

    /// `--contract`, default the devnet's.
    pub fn contract(&self) -> String {
        self.get("--contract").unwrap_or_else(|| DEVNET_CONTRACT.into())
    }

    /// Where the node of the key file given as `key_flag` keeps its data:
    /// `<--dir>/<key file name>/node`, by default under the system's
    /// temporary directory. One directory per account, so that every run
    /// (of any example) with that account has the node key it registered.
    pub fn node_dir(&self, key_flag: &str) -> anyhow::Result<PathBuf> {
        let key = PathBuf::from(self.need(key_flag)?);
        let name = key.file_stem().with_context(|| format!("{key_flag} {} names no file", key.display()))?;
        let base = match self.get("--dir") {
            Some(d) => PathBuf::from(d),
            None => std::env::temp_dir().join("por-examples"),
        };
        Ok(base.join(name).join("node"))
    }
}

/// Prints `ev` as one line: `<who> event: <kind> <fields>`.
pub fn print_event(who: &str, ev: &NodeEvent) {
    let line = match ev {
        NodeEvent::ChannelOpened { channel, peer, local_deposit, remote_deposit } => format!(
            "channel_opened channel={channel} peer={} local_deposit={local_deposit} remote_deposit={remote_deposit}",
            peer.to_hex()
        ),
        NodeEvent::ChannelClosed { channel, .. } => format!("channel_closed channel={channel}"),
        NodeEvent::RequestServed { request_id, service, status, .. } => {
            format!("request_served request={request_id} service={service} status={status}")
        }
        NodeEvent::LateFeePaid { channel, amount } => format!("late_fee_paid channel={channel} amount={amount}"),
        NodeEvent::LateFeeReceived { channel, amount } => {
            format!("late_fee_received channel={channel} amount={amount}")
        }
        NodeEvent::Severing { channel, reason } => format!("severing channel={channel} reason={reason:?}"),
    };
    println!("{who} event: {line}");
}

/// Prints `who`'s events until the channel with `peer` is open (60 s at most).
pub async fn wait_for_channel(who: &str, events: &mut EventStream, peer: NodeKey) -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let ev = events.next().await?;
            print_event(who, &ev);
            if matches!(ev, NodeEvent::ChannelOpened { peer: p, .. } if p == peer) {
                return anyhow::Ok(());
            }
        }
    })
    .await
    .context("the peer did not confirm the channel within 60 s")?
}

/// Tries `f` up to `tries` times, half a second apart, printing why each
/// failed: the peer checks a route against its own copy of the chain's
/// graph, which may lag ours by a poll.
pub async fn retry<T, E: std::fmt::Display, F: Future<Output = Result<T, E>>>(
    who: &str,
    tries: usize,
    mut f: impl FnMut() -> F,
) -> anyhow::Result<T> {
    for _ in 0..tries {
        match f().await {
            Ok(t) => return Ok(t),
            Err(e) => println!("{who}: not yet: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bail!("{who}: failed {tries} times")
}
