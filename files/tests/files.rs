//! File sharing over PoR (issue #8), with real nodes over loopback: providers
//! announce through Kademlia, the fetcher pays for every range as a PoR
//! request and verifies each block against the content id.

#[path = "../../node/tests/common/mod.rs"]
mod common;
mod files_common;

use std::time::Duration;

use common::spawn_network;
use files_common::{EDGE, PRICE, SERVICE_MS, await_providers, await_verified, fetched_bytes, files_on, random_file};
use por_files::tree::{BLOCK_SIZE, block_count};
use por_files::{FetchOptions, FixedRoutes, Progress};
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_file_through_two_relays_is_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let net = spawn_network(4).await;
    files_common::link(&net, 0, 1, 1, EDGE.latency_ms).await;
    files_common::link(&net, 1, 2, 2, EDGE.latency_ms).await;
    files_common::link(&net, 2, 3, 3, EDGE.latency_ms).await;
    let provider = files_on(&net, 3, &tmp.path().join("p"), FixedRoutes::new(), false).await;
    let (path, data) = random_file(tmp.path(), "big.bin", 64 << 20, 1).await;
    let added = provider.add(&path).await.unwrap();
    assert_eq!(added.id.0, *blake3::hash(&data).as_bytes(), "the id is the file's BLAKE3 hash");

    let routes = FixedRoutes::new().with(net.route(&[0, 1, 2, 3], &[1, 2, 3], EDGE, SERVICE_MS));
    let fetcher = files_on(&net, 0, &tmp.path().join("f"), routes, false).await;
    await_providers(&net, 0, &added.id, &[3]).await;
    let (tx, rx) = watch::channel(Progress::default());
    let watcher = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            eprintln!("progress: {:?}", *rx.borrow());
        }
    });
    let started = std::time::Instant::now();
    let report = fetcher.fetch(added.id, &FetchOptions::new(PRICE), &tx).await.unwrap();
    eprintln!("64 MiB through two relays in {:?}: {report:?}", started.elapsed());
    watcher.abort();

    assert_eq!(report.size, data.len() as u64);
    assert_eq!(report.fetched_blocks, block_count(data.len() as u64));
    assert_eq!(report.providers_used, vec![net.nodes[3].key], "found through the DHT");
    assert!(report.spent > 0 && report.spent <= PRICE);
    assert!(fetched_bytes(&fetcher, &added.id) == data, "byte-identical");
    let out = tmp.path().join("out.bin");
    fetcher.store().export(&added.id, &out).unwrap();
    assert!(std::fs::read(&out).unwrap() == data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_serving_corrupt_blocks_is_dropped_and_the_file_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let net = spawn_network(3).await;
    files_common::link(&net, 0, 1, 1, EDGE.latency_ms).await;
    files_common::link(&net, 0, 2, 2, EDGE.latency_ms).await;
    let (path, data) = random_file(tmp.path(), "f.bin", 8 << 20, 2).await;
    let bad = files_on(&net, 1, &tmp.path().join("bad"), FixedRoutes::new(), true).await;
    let good = files_on(&net, 2, &tmp.path().join("good"), FixedRoutes::new(), false).await;
    let id = bad.add(&path).await.unwrap().id;
    assert_eq!(good.add(&path).await.unwrap().id, id);

    let routes = FixedRoutes::new().with(net.route(&[0, 1], &[1], EDGE, SERVICE_MS)).with(net.route(
        &[0, 2],
        &[2],
        EDGE,
        SERVICE_MS,
    ));
    let fetcher = files_on(&net, 0, &tmp.path().join("f"), routes, false).await;
    await_providers(&net, 0, &id, &[1, 2]).await;
    let (tx, _rx) = watch::channel(Progress::default());
    let report = fetcher.fetch(id, &FetchOptions::new(PRICE), &tx).await.unwrap();

    assert_eq!(report.dropped.len(), 1, "{report:?}");
    assert_eq!(report.dropped[0].0, net.nodes[1].key, "the corrupting provider is dropped");
    assert!(report.dropped[0].1.contains("do not verify"), "{}", report.dropped[0].1);
    assert_eq!(report.providers_used, vec![net.nodes[2].key]);
    assert!(fetched_bytes(&fetcher, &id) == data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_download_resumes_without_refetching_verified_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let net = spawn_network(2).await;
    files_common::link(&net, 0, 1, 1, EDGE.latency_ms).await;
    let (path, data) = random_file(tmp.path(), "f.bin", 48 << 20, 3).await;
    let n = block_count(data.len() as u64);
    let provider = files_on(&net, 1, &tmp.path().join("p"), FixedRoutes::new(), false).await;
    let id = provider.add(&path).await.unwrap().id;
    let routes = FixedRoutes::new().with(net.route(&[0, 1], &[1], EDGE, SERVICE_MS));
    let store_dir = tmp.path().join("f");
    let fetcher = files_on(&net, 0, &store_dir, routes.clone(), false).await;
    await_providers(&net, 0, &id, &[1]).await;

    // One small request at a time, so the download is surely midway when killed.
    let mut slow = FetchOptions::new(PRICE);
    slow.per_provider_in_flight = 1;
    slow.blocks_per_request = 1;
    let (tx, mut rx) = watch::channel(Progress::default());
    let f1 = fetcher.clone();
    let task = tokio::spawn(async move { f1.fetch(id, &slow, &tx).await });
    // Killed once some blocks are recorded on disk (every 200 ms), well
    // before the end.
    tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|p| p.fetched_blocks > 0 && p.verified_blocks >= n / 4))
        .await
        .expect("progress within 60 s")
        .expect("the download is running");
    task.abort();
    let _ = task.await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fetched_before = fetcher.blocks_fetched();
    assert!(fetched_before > 0 && fetched_before < n, "killed midway: {fetched_before} of {n}; {:?}", rx.borrow());
    drop(fetcher);

    // The files layer starts again on the same store.
    let fetcher = files_on(&net, 0, &store_dir, routes, false).await;
    let (tx, _rx) = watch::channel(Progress::default());
    let report = fetcher.fetch(id, &FetchOptions::new(PRICE), &tx).await.unwrap();
    eprintln!("resumed: {report:?} (fetched {fetched_before} before the kill)");
    assert!(report.resumed_blocks >= fetched_before, "every block recorded before the kill is reused");
    assert_eq!(report.fetched_blocks, n - report.resumed_blocks, "no verified block is fetched again");
    assert_eq!(fetcher.blocks_fetched(), n - report.resumed_blocks);
    assert!(fetched_bytes(&fetcher, &id) == data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_going_offline_midway_does_not_stop_the_download() {
    let tmp = tempfile::tempdir().unwrap();
    let net = spawn_network(3).await;
    files_common::link(&net, 0, 1, 1, EDGE.latency_ms).await;
    files_common::link(&net, 0, 2, 2, EDGE.latency_ms).await;
    let (path, data) = random_file(tmp.path(), "f.bin", 16 << 20, 4).await;
    let n = block_count(data.len() as u64);
    let p1 = files_on(&net, 1, &tmp.path().join("p1"), FixedRoutes::new(), false).await;
    let p2 = files_on(&net, 2, &tmp.path().join("p2"), FixedRoutes::new(), false).await;
    let id = p1.add(&path).await.unwrap().id;
    p2.add(&path).await.unwrap();
    let routes = FixedRoutes::new().with(net.route(&[0, 1], &[1], EDGE, SERVICE_MS)).with(net.route(
        &[0, 2],
        &[2],
        EDGE,
        SERVICE_MS,
    ));
    let fetcher = files_on(&net, 0, &tmp.path().join("f"), routes, false).await;
    await_providers(&net, 0, &id, &[1, 2]).await;

    let mut opts = FetchOptions::new(PRICE);
    opts.per_provider_in_flight = 1;
    opts.blocks_per_request = 1;
    opts.grace = Duration::from_secs(1);
    let (tx, mut rx) = watch::channel(Progress::default());
    let f = fetcher.clone();
    let task = tokio::spawn(async move { f.fetch(id, &opts, &tx).await });
    await_verified(&mut rx, n / 4).await;
    net.nodes[1].handle.shutdown().await;
    let report = tokio::time::timeout(Duration::from_secs(90), task).await.expect("finishes").unwrap().unwrap();
    eprintln!("with a provider gone: {report:?}");
    assert_eq!(report.fetched_blocks, n);
    assert!(report.providers_used.contains(&net.nodes[2].key));
    assert!(fetched_bytes(&fetcher, &id) == data);
    assert!(BLOCK_SIZE * n >= data.len() as u64);
}
