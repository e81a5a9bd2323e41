//! File sharing over PoR (issue #8), with real nodes over loopback: providers
//! announce through Kademlia, the fetcher pays for every range as a PoR
//! request and verifies each block against the content id.

mod common;
mod files_common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{Net, spawn_network};
use por_core::EdgeParams;
use por_node::files::tree::{BLOCK_SIZE, block_count};
use por_node::files::{ContentId, FetchOptions, Files, FilesConfig, FixedRoutes, Progress};
use tokio::sync::watch;

/// Generous promises: a debug build on a loaded machine must not look late.
const EDGE: EdgeParams = EdgeParams { latency_ms: 200, base_fee: 1_000, byte_fee: 0 };
const SERVICE_MS: u64 = 2_000;
const PRICE: u128 = 1_000_000_000_000;

/// Pseudo-random bytes (xorshift), fast to make and not compressible; made
/// off the async threads, which the nodes' event loops share.
async fn random_file(dir: &Path, name: &str, len: usize, seed: u64) -> (PathBuf, Vec<u8>) {
    let dir = dir.to_path_buf();
    let name = name.to_string();
    tokio::task::spawn_blocking(move || random_file_blocking(&dir, &name, len, seed)).await.unwrap()
}

fn random_file_blocking(dir: &Path, name: &str, len: usize, seed: u64) -> (PathBuf, Vec<u8>) {
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

/// Starts the files subsystem on node `i` with a store in `dir`.
async fn files_on(net: &Net, i: usize, dir: &Path, routes: FixedRoutes, corrupt: bool) -> Files {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let mut cfg = FilesConfig::new(dir);
    cfg.test_fault_corrupt_blocks = corrupt;
    Files::start(cfg, net.nodes[i].handle.clone(), Arc::new(routes)).await.unwrap()
}

/// Waits until the DHT names every one of `providers` for `id` at node `at`.
async fn await_providers(net: &Net, at: usize, id: &ContentId, providers: &[usize]) {
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
async fn await_verified(rx: &mut watch::Receiver<Progress>, blocks: u64) {
    tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|p| p.verified_blocks >= blocks))
        .await
        .expect("progress within 60 s")
        .expect("the download is running");
}

fn fetched_bytes(files: &Files, id: &ContentId) -> Vec<u8> {
    std::fs::read(files.store().blob_path(id)).unwrap()
}

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

/// Serves the files API of `files` on a free port; returns its base URL.
async fn serve_api(files: Files) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, por_node::files::api::router(files)).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_over_the_cli_and_api_and_hostile_inputs_are_refused() {
    use por_node::files::cli::{FilesArgs, FilesCmd, call, run};
    use serde_json::json;

    let tmp = tempfile::tempdir().unwrap();
    let net = spawn_network(2).await;
    files_common::link(&net, 0, 1, 1, EDGE.latency_ms).await;
    let provider = files_on(&net, 1, &tmp.path().join("p"), FixedRoutes::new(), false).await;
    let routes = FixedRoutes::new().with(net.route(&[0, 1], &[1], EDGE, SERVICE_MS));
    let fetcher = files_on(&net, 0, &tmp.path().join("f"), routes, false).await;
    let (papi, fapi) = (serve_api(provider.clone()).await, serve_api(fetcher.clone()).await);
    let cli = |api: &str, cmd| run(FilesArgs { api: Some(api.to_string()), config: None, cmd });

    // A tree: nested directories, an empty file, a file of several blocks.
    let src = tmp.path().join("tree");
    std::fs::create_dir_all(src.join("sub/deeper")).unwrap();
    std::fs::write(src.join("a.txt"), b"hello").unwrap();
    std::fs::write(src.join("sub/deeper/empty"), b"").unwrap();
    let (_, big) = random_file(&src.join("sub"), "b.bin", 3 * BLOCK_SIZE as usize + 17, 5).await;
    cli(&papi, FilesCmd::Add { path: src.clone() }).await.unwrap();
    cli(&papi, FilesCmd::Ls).await.unwrap();
    let listed = call(&papi, "GET", "/files", None).await.unwrap();
    let dir = listed["files"].as_array().unwrap().iter().find(|f| f["dir"] == true).expect("the manifest is listed");
    let id: ContentId = dir["id"].as_str().unwrap().parse().unwrap();
    await_providers(&net, 0, &id, &[1]).await;

    let out = tmp.path().join("out");
    let get =
        FilesCmd::Get { id: id.to_hex(), out: out.clone(), max_price: PRICE.to_string(), provider: vec![], raw: false };
    cli(&fapi, get).await.unwrap();
    assert_eq!(std::fs::read(out.join("a.txt")).unwrap(), b"hello");
    assert_eq!(std::fs::read(out.join("sub/deeper/empty")).unwrap(), b"");
    assert!(std::fs::read(out.join("sub/b.bin")).unwrap() == big);

    // Hostile or wrong API input: a JSON error naming the problem.
    let e = call(&fapi, "POST", "/files/add", Some(json!({ "path": "relative/x" }))).await.unwrap_err().0;
    assert!(e.starts_with("400") && e.contains("absolute"), "{e}");
    let e = call(&fapi, "POST", "/files/add", Some(json!({ "path": "/x", "extra": 1 }))).await.unwrap_err().0;
    assert!(e.contains("malformed JSON"), "{e}");
    let e = call(&fapi, "POST", "/files/get", Some(json!({ "id": "zz", "max_price": "1" }))).await.unwrap_err().0;
    assert!(e.contains("not a content id"), "{e}");
    let e = call(&fapi, "POST", "/files/get", Some(json!({ "id": id, "max_price": "-1" }))).await.unwrap_err().0;
    assert!(e.contains("max_price"), "{e}");
    let body = json!({ "id": id, "max_price": "1", "out": out });
    let e = call(&fapi, "POST", "/files/get", Some(body)).await.unwrap_err().0;
    assert!(e.starts_with("409"), "an existing output is never overwritten: {e}");
    let e = call(&fapi, "GET", &format!("/files/get/{}", ContentId([3; 32])), None).await.unwrap_err().0;
    assert!(e.starts_with("404"), "{e}");

    // A manifest that tries to write outside the output directory.
    let evil =
        format!(r#"{{"por_manifest":1,"entries":[{{"path":"../evil","size":5,"id":"{}"}}]}}"#, ContentId([1; 32]));
    std::fs::write(tmp.path().join("evil.json"), &evil).unwrap();
    let evil_id = provider.add(&tmp.path().join("evil.json")).await.unwrap().id;
    await_providers(&net, 0, &evil_id, &[1]).await;
    let get = FilesCmd::Get {
        id: evil_id.to_hex(),
        out: tmp.path().join("out2/x"),
        max_price: PRICE.to_string(),
        provider: vec![],
        raw: false,
    };
    let e = cli(&fapi, get).await.unwrap_err().0;
    assert!(e.contains("unsafe path"), "{e}");
    assert!(!tmp.path().join("out2").exists() && !tmp.path().join("evil").exists(), "nothing written");
}
