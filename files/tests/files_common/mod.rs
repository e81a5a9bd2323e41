//! Helpers for the files tests on top of the shared harness.

#![allow(dead_code)] // each test file uses a part

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use por_core::protocol::ChannelSetup;
use por_core::{ChannelId, EdgeParams};
use por_files::{ContentId, Files, FilesConfig, FixedRoutes, Progress};
use tokio::sync::watch;

use crate::common::{DEPOSIT, Net};

/// The default sync interval of a real node (500 ms). The shared harness
/// syncs every 100 ms, which makes 3 missed syncs a 300 ms stall: a node busy
/// moving megabytes on a loaded test machine gets its channels cut.
pub const SYNC_MS: u64 = 500;

/// Opens channel `id` between nodes `a` and `b`, syncing every [`SYNC_MS`].
pub async fn link(net: &Net, a: usize, b: usize, id: u64, latency_ms: u64) {
    for (x, y) in [(a, b), (b, a)] {
        let setup = ChannelSetup {
            channel: ChannelId(id),
            remote: net.nodes[y].key,
            local_deposit: DEPOSIT,
            remote_deposit: DEPOSIT,
            latency_ms,
            sync_ms: Some(SYNC_MS),
        };
        net.nodes[x].handle.add_channel(setup, net.nodes[y].listen_addrs.clone()).await.unwrap();
    }
}

/// Generous promises: a debug build on a loaded machine must not look late.
pub const EDGE: EdgeParams = EdgeParams { latency_ms: 200, base_fee: 1_000, byte_fee: 0 };
pub const SERVICE_MS: u64 = 2_000;
pub const PRICE: u128 = 1_000_000_000_000;

/// Pseudo-random bytes (xorshift), fast to make and not compressible; made
/// off the async threads, which the nodes' event loops share.
pub async fn random_file(dir: &Path, name: &str, len: usize, seed: u64) -> (PathBuf, Vec<u8>) {
    let dir = dir.to_path_buf();
    let name = name.to_string();
    tokio::task::spawn_blocking(move || random_file_blocking(&dir, &name, len, seed)).await.unwrap()
}

pub fn random_file_blocking(dir: &Path, name: &str, len: usize, seed: u64) -> (PathBuf, Vec<u8>) {
    let mut x = seed | 1;
    let mut data = Vec::with_capacity(len + 8);
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len);
    let p = dir.join(name);
    std::fs::write(&p, &data).unwrap();
    (p, data)
}

/// Starts the files subsystem on node `i` with its data directory `dir`,
/// sharing from and downloading to `dir`'s parent (the test's temp dir).
pub async fn files_on(net: &Net, i: usize, dir: &Path, routes: FixedRoutes, corrupt: bool) -> Files {
    files_with(net, i, dir, routes, |cfg| cfg.test_fault_corrupt_blocks = corrupt).await
}

/// [`files_on`] with the config changed by `tune`.
pub async fn files_with(
    net: &Net,
    i: usize,
    dir: &Path,
    routes: FixedRoutes,
    tune: impl FnOnce(&mut FilesConfig),
) -> Files {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let mut cfg = FilesConfig::new(dir);
    let parent = dir.parent().expect("a data directory inside the test's temp dir").to_path_buf();
    cfg.share_dirs = vec![parent.clone()];
    cfg.download_dir = Some(parent);
    tune(&mut cfg);
    Files::start(cfg, net.nodes[i].handle.clone(), Arc::new(routes)).await.unwrap()
}

/// Waits until the DHT names every one of `providers` for `id` at node `at`.
pub async fn await_providers(net: &Net, at: usize, id: &ContentId, providers: &[usize]) {
    let want: Vec<_> = providers.iter().map(|&p| net.nodes[p].peer_id).collect();
    for _ in 0..100 {
        let found = net.nodes[at].handle.find_providers(id.provider_key()).await.unwrap();
        if want.iter().all(|w| found.contains(w)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the DHT did not name providers {providers:?} of {id} within 10 s");
}

/// Waits until the progress shows at least `blocks` verified.
pub async fn await_verified(rx: &mut watch::Receiver<Progress>, blocks: u64) {
    tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|p| p.verified_blocks >= blocks))
        .await
        .expect("progress within 60 s")
        .expect("the download is running");
}

pub fn fetched_bytes(files: &Files, id: &ContentId) -> Vec<u8> {
    std::fs::read(files.store().blob_path(id)).unwrap()
}
