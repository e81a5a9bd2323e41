//! Shared harness for node tests: real nodes on 127.0.0.1, channels set up
//! on both sides as the chain follower would.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use por_core::protocol::{ChannelSetup, Delivery};
use por_core::{ChannelId, EdgeParams, Route, RouteHop};
use por_node::{NodeConfig, Reply, RunningNode, ServiceRequest, start};

pub struct Net {
    pub nodes: Vec<RunningNode>,
    _dirs: Vec<tempfile::TempDir>,
}

/// Starts `n` nodes with seeds 1..=n.
pub async fn spawn_network(n: u8) -> Net {
    spawn_network_with(n, |_, _| {}).await
}

/// Starts `n` nodes with seeds 1..=n, node `i`'s config set by `tune(i, …)`.
pub async fn spawn_network_with(n: u8, tune: impl Fn(usize, &mut NodeConfig)) -> Net {
    let mut nodes = Vec::new();
    let mut dirs = Vec::new();
    for i in 1..=n {
        let dir = tempfile::tempdir().unwrap();
        let mut registry = prometheus_client::registry::Registry::default();
        let mut cfg = NodeConfig::new(dir.path());
        // These nodes have no chain to check routes against (test-only: a
        // node with a chain never trusts a route's terms). A test that
        // publishes a graph (`NodeHandle::set_graph`) gets the checks.
        cfg.protocol.limits.trust_route_terms = true;
        tune(usize::from(i - 1), &mut cfg);
        nodes.push(start(cfg, [i; 32], &mut registry).await.unwrap());
        dirs.push(dir);
    }
    Net { nodes, _dirs: dirs }
}

pub const DEPOSIT: u128 = 1_000_000_000;

impl Net {
    /// Opens channel `id` between nodes `a` and `b` with `latency_ms`.
    pub async fn link(&self, a: usize, b: usize, id: u64, latency_ms: u64) {
        for (x, y) in [(a, b), (b, a)] {
            let setup = ChannelSetup {
                channel: ChannelId(id),
                remote: self.nodes[y].key,
                local_deposit: DEPOSIT,
                remote_deposit: DEPOSIT,
                latency_ms,
                sync_ms: Some(100),
            };
            self.nodes[x].handle.add_channel(setup, self.nodes[y].listen_addrs.clone()).await.unwrap();
        }
    }

    /// A route from node `path[0]` through `path[1..]` over `channels`.
    pub fn route(&self, path: &[usize], channels: &[u64], params: EdgeParams, service_ms: u64) -> Route {
        Route {
            hops: path[1..]
                .iter()
                .zip(channels)
                .map(|(&n, &c)| RouteHop { channel: ChannelId(c), node: self.nodes[n].key, params })
                .collect(),
            service_ms,
        }
    }

    /// Node `i` serves `echo`, answering with the body it got.
    pub async fn serve_echo(&self, i: usize) {
        let svc = Arc::new(|r: ServiceRequest| async move { Reply::ok(r.body) });
        self.nodes[i].handle.serve("echo", svc).await.unwrap();
    }
}

/// Waits for the terminal outcome of a request, collecting everything before.
pub async fn outcome(rx: &mut tokio::sync::mpsc::Receiver<Delivery>, within: Duration) -> Vec<Delivery> {
    let mut seen = Vec::new();
    let _ = tokio::time::timeout(within, async {
        while let Some(d) = rx.recv().await {
            let terminal = matches!(d, Delivery::Response { .. } | Delivery::Notice { .. });
            seen.push(d);
            if terminal {
                return;
            }
        }
    })
    .await;
    seen
}
