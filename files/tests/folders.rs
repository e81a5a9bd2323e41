//! Files stay inside their folders, over real HTTP against a running node's
//! files API: `add` reads only under the share folders (no link, hard link
//! or missing setting lets anything else through), `get` writes only under
//! the download folder, and the store keeps to its quota and its free-space
//! floor, refusing a download before any block of it is paid and resuming it
//! once there is room.

#[path = "../../node/tests/common/mod.rs"]
mod common;
mod files_common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use files_common::{EDGE, PRICE, SERVICE_MS, await_providers, fetched_bytes, files_with, random_file};
use por_files::tree::BLOCK_SIZE;
use por_files::wire::{FileRequest, response_allowance};
use por_files::{ContentId, Files, FilesConfig, FixedRoutes, StoreLimits};
use prometheus_client::registry::Registry;
use serde_json::{Value, json};

/// POSTs `body` as JSON; returns (status, JSON answer).
async fn post(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let a = common::json_http(addr, "POST", path, &body.to_string()).await;
    let json = serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("{e}: {}", a.body));
    (a.status, json)
}

async fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    let a = common::json_http(addr, "GET", path, "").await;
    let json = serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("{e}: {}", a.body));
    (a.status, json)
}

async fn add(addr: SocketAddr, path: &Path) -> (u16, Value) {
    post(addr, "/files/add", &json!({ "path": path })).await
}

/// Asserts a refusal with `status` and `code` whose message has `needle`.
#[track_caller]
fn refused((status, v): (u16, Value), want: (u16, &str), needle: &str) {
    assert_eq!((status, v["code"].as_str().unwrap_or_default()), want, "{v}");
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
}

/// One node with its files API; its layout under a temp dir: `data/` (the
/// data directory, with a node key), `share/`, `downloads/`, `outside/`.
struct Node {
    tmp: tempfile::TempDir,
    node: por_node::runtime::RunningNode,
    files: Files,
    addr: SocketAddr,
}

impl Node {
    fn at(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }
}

async fn node(tune: impl FnOnce(&Path, &mut FilesConfig)) -> Node {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for d in ["share", "downloads", "outside"] {
        std::fs::create_dir_all(tmp.path().join(d)).unwrap();
    }
    let mut reg = Registry::default();
    let node = por_node::start(por_node::NodeConfig::new(&data), [5; 32], &mut reg).await.unwrap();
    std::fs::write(data.join("node.key"), [7u8; 32]).unwrap();
    let mut cfg = FilesConfig::new(&data);
    cfg.share_dirs = vec![tmp.path().join("share")];
    cfg.download_dir = Some(tmp.path().join("downloads"));
    tune(tmp.path(), &mut cfg);
    let files = Files::start(cfg, node.handle.clone(), Arc::new(FixedRoutes::new())).await.unwrap();
    let addr = common::serve_http(por_files::api::router(files.clone())).await;
    Node { tmp, node, files, addr }
}

#[tokio::test]
async fn add_reads_only_under_the_share_folders() {
    let n = node(|_, _| {}).await;
    std::fs::write(n.at("share/ok.txt"), b"shared").unwrap();
    std::fs::write(n.at("outside/secret.txt"), b"not shared").unwrap();
    let (status, v) = add(n.addr, &n.at("share/ok.txt")).await;
    assert_eq!(status, 200, "{v}");

    // A file outside every share folder.
    refused(add(n.addr, &n.at("outside/secret.txt")).await, (403, "path_not_allowed"), "share_dirs");
    // Through `..` from inside the share folder.
    refused(add(n.addr, &n.at("share/../outside/secret.txt")).await, (403, "path_not_allowed"), "outside the share");
    // A symbolic link inside the share folder to a file outside it, and to the node key.
    std::os::unix::fs::symlink(n.at("outside/secret.txt"), n.at("share/innocent.txt")).unwrap();
    refused(add(n.addr, &n.at("share/innocent.txt")).await, (403, "path_not_allowed"), "outside the share");
    std::os::unix::fs::symlink(n.at("data/node.key"), n.at("share/key.txt")).unwrap();
    refused(add(n.addr, &n.at("share/key.txt")).await, (403, "path_not_allowed"), "data directory");
    // A linked directory leading out.
    std::os::unix::fs::symlink(n.at("outside"), n.at("share/out")).unwrap();
    refused(add(n.addr, &n.at("share/out/secret.txt")).await, (403, "path_not_allowed"), "outside the share");
    refused(add(n.addr, &n.at("share/out")).await, (403, "path_not_allowed"), "outside the share");
    // A hard link to the node key (it has no other tell).
    std::fs::hard_link(n.at("data/node.key"), n.at("share/hard.bin")).unwrap();
    refused(add(n.addr, &n.at("share/hard.bin")).await, (403, "path_not_allowed"), "hard link");
    // The whole share folder: it holds the hard link, so it is refused whole.
    refused(add(n.addr, &n.at("share")).await, (403, "path_not_allowed"), "hard link");
    std::fs::remove_file(n.at("share/hard.bin")).unwrap();
    // Without it, the folder is added; links inside it are skipped, not followed.
    let (status, v) = add(n.addr, &n.at("share")).await;
    assert_eq!((status, v["files"].as_u64()), (200, Some(1)), "only ok.txt: {v}");

    let held: Vec<Vec<u8>> =
        n.files.list().iter().map(|f| std::fs::read(n.files.store().blob_path(&f.id)).unwrap()).collect();
    assert!(held.iter().all(|b| b != b"not shared" && b != &[7u8; 32]), "nothing from outside was stored");
    n.node.handle.shutdown().await;
}

#[tokio::test]
async fn without_share_folders_nothing_is_added() {
    let n = node(|_, cfg| cfg.share_dirs.clear()).await;
    std::fs::write(n.at("share/ok.txt"), b"shared").unwrap();
    refused(add(n.addr, &n.at("share/ok.txt")).await, (403, "path_not_allowed"), "[files].share_dirs");
    assert!(n.files.list().is_empty());
    n.node.handle.shutdown().await;
}

#[tokio::test]
async fn get_writes_only_under_the_download_folder() {
    let n = node(|_, _| {}).await;
    let id = ContentId([9; 32]);
    let start = |out: Value| {
        let addr = n.addr;
        async move { post(addr, "/files/get", &json!({ "id": id, "max_price": "1", "out": out })).await }
    };
    std::os::unix::fs::symlink(n.at("outside"), n.at("downloads/escape")).unwrap();
    std::os::unix::fs::symlink(n.at("data"), n.at("downloads/data")).unwrap();
    std::os::unix::fs::symlink(n.at("outside/x"), n.at("downloads/dangling")).unwrap();
    std::fs::write(n.at("downloads/there.bin"), b"keep").unwrap();
    let outside = n.at("outside/x.bin");
    for (out, needle) in [
        (json!(outside), "outside the download folder"),
        (json!("/etc/por-x"), "outside the download folder"),
        (json!("../outside/x.bin"), "`..`"),
        (json!(n.at("downloads/../outside/x.bin")), "`..`"),
        (json!("sub/../../x.bin"), "`..`"),
        (json!("escape/x.bin"), "leads out of the download folder"),
        (json!("escape/deeper/x.bin"), "leads out of the download folder"),
        (json!("data/node2.key"), "leads out of the download folder"),
        (json!(""), "download folder itself"),
        (json!(n.at("downloads")), "download folder itself"),
    ] {
        refused(start(out.clone()).await, (403, "path_not_allowed"), needle);
    }
    refused(start(json!("there.bin")).await, (409, "exists"), "exists");
    refused(start(json!("dangling")).await, (409, "exists"), "exists");
    assert_eq!(std::fs::read(n.at("downloads/there.bin")).unwrap(), b"keep");
    assert!(std::fs::read_dir(n.at("outside")).unwrap().next().is_none(), "nothing written outside");

    // Inside it, relative or absolute: accepted, and the answer says where.
    let (status, v) = start(json!("new/x.bin")).await;
    assert_eq!(status, 202, "{v}");
    let real_downloads = std::fs::canonicalize(n.at("downloads")).unwrap();
    assert_eq!(v["out"], json!(real_downloads.join("new/x.bin")), "{v}");
    let (status, v) = post(
        n.addr,
        "/files/get",
        &json!({ "id": ContentId([8; 32]), "max_price": "1",
        "out": n.at("downloads/abs.bin") }),
    )
    .await;
    assert_eq!(status, 202, "{v}");
    n.node.handle.shutdown().await;

    // No download folder configured: an output is refused naming the setting.
    let n = node(|_, cfg| cfg.download_dir = None).await;
    let (status, v) = post(n.addr, "/files/get", &json!({ "id": id, "max_price": "1", "out": "x.bin" })).await;
    refused((status, v), (403, "path_not_allowed"), "[files].download_dir");
    n.node.handle.shutdown().await;
}

#[tokio::test]
async fn add_keeps_to_the_quota_and_the_free_space_floor() {
    let limits = StoreLimits { quota_bytes: 3 * BLOCK_SIZE, ..StoreLimits::default() };
    let n = node(|_, cfg| cfg.limits = limits).await;
    let (a, _) = random_file(&n.at("share"), "a.bin", 2 * BLOCK_SIZE as usize, 1).await;
    let (b, _) = random_file(&n.at("share"), "b.bin", 2 * BLOCK_SIZE as usize, 2).await;
    assert_eq!(add(n.addr, &a).await.0, 200);
    refused(add(n.addr, &b).await, (507, "quota_exceeded"), "[files].quota_bytes");
    // A directory holding it is refused too, and leaves nothing behind.
    refused(add(n.addr, &n.at("share")).await, (507, "quota_exceeded"), "quota");
    assert_eq!(n.files.list().len(), 1, "only a.bin: {:?}", n.files.list());
    assert!(std::fs::read_dir(n.files.store().root().join("tmp")).unwrap().next().is_none(), "no temp file left");
    let (status, v) = get(n.addr, "/files").await;
    assert_eq!(status, 200);
    assert_eq!(v["space"]["quota_bytes"], 3 * BLOCK_SIZE, "{v}");
    assert!(v["space"]["used_bytes"].as_u64().unwrap() >= 2 * BLOCK_SIZE, "{v}");
    n.node.handle.shutdown().await;

    // A disk that would keep less free than the floor: the same, as disk_full.
    let n = node(|_, cfg| cfg.limits = StoreLimits { quota_bytes: u64::MAX, min_free_bytes: u64::MAX / 2 }).await;
    std::fs::write(n.at("share/small.txt"), b"x").unwrap();
    refused(add(n.addr, &n.at("share/small.txt")).await, (507, "disk_full"), "[files].min_free_bytes");
    let (status, v) = post(n.addr, "/files/get", &json!({ "id": ContentId([1; 32]), "max_price": "1" })).await;
    refused((status, v), (507, "disk_full"), "min_free_bytes");
    n.node.handle.shutdown().await;
}

/// Polls a download's progress until it ends.
async fn finished(addr: SocketAddr, id: &ContentId) -> Value {
    for _ in 0..600 {
        let (status, v) = get(addr, &format!("/files/get/{id}")).await;
        assert_eq!(status, 200, "{v}");
        if matches!(v["progress"]["state"].as_str(), Some("done" | "failed")) {
            return v["progress"].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the download of {id} did not end within 60 s");
}

/// A download that does not fit is refused before any block is paid (a
/// store already full, before anything; otherwise right after the tail that
/// tells the size), leaves nothing behind, and goes through once there is
/// room: over HTTP on the fetcher, with real paid requests to a provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_past_the_quota_costs_no_block_and_goes_through_once_there_is_room() {
    let tmp = tempfile::tempdir().unwrap();
    let net = common::spawn_network(2).await;
    files_common::link(&net, 0, 1, 1, EDGE.latency_ms).await;
    let size = 3 * BLOCK_SIZE as usize + 5;
    let (path, data) = random_file(tmp.path(), "f.bin", size, 7).await;
    let provider = files_with(&net, 1, &tmp.path().join("p"), FixedRoutes::new(), |_| {}).await;
    let id = provider.add(&path).await.unwrap().id;
    let route = net.route(&[0, 1], &[1], EDGE, SERVICE_MS);
    let routes = FixedRoutes::new().with(route.clone());
    await_providers(&net, 0, &id, &[1]).await;
    let store_dir = tmp.path().join("f");
    let fetcher_with = |quota: u64| {
        let (net, routes, store_dir) = (&net, routes.clone(), store_dir.clone());
        async move {
            let f = files_with(net, 0, &store_dir, routes, |c| c.limits.quota_bytes = quota).await;
            let addr = common::serve_http(por_files::api::router(f.clone())).await;
            (f, addr)
        }
    };
    let body = json!({ "id": id, "max_price": PRICE.to_string(), "out": "got.bin" });

    // A store with no room at all: refused at once, nothing started.
    let (_f, addr) = fetcher_with(0).await;
    refused(post(addr, "/files/get", &body).await, (507, "quota_exceeded"), "quota");
    assert_eq!(get(addr, &format!("/files/get/{id}")).await.0, 404, "no download was started");

    // Room for a block but not the file: the tail tells the size, and the
    // download stops there, before any range is asked for.
    let (f, addr) = fetcher_with(BLOCK_SIZE + (64 << 10)).await;
    let (status, v) = post(addr, "/files/get", &body).await;
    assert_eq!(status, 202, "{v}");
    let p = finished(addr, &id).await;
    assert_eq!((p["state"].as_str(), p["code"].as_str()), (Some("failed"), Some("quota_exceeded")), "{p}");
    assert!(p["error"].as_str().unwrap().contains("[files].quota_bytes"), "{p}");
    assert_eq!(p["verified_blocks"], 0, "{p}");
    let tail_body = FileRequest::Tail { id }.encode().len() as u64;
    let one_request = route.quote(tail_body, response_allowance(1)).unwrap().total();
    assert_eq!(p["spent"], one_request.to_string(), "only the tail was paid: {p}");
    let partial = f.store().root().join("partial");
    assert!(std::fs::read_dir(&partial).unwrap().next().is_none(), "no partial file left behind");
    assert!(!tmp.path().join("got.bin").exists());

    // Room again (a larger quota): the same request goes through.
    let (f, addr) = fetcher_with(StoreLimits::default().quota_bytes).await;
    let (status, v) = post(addr, "/files/get", &body).await;
    assert_eq!(status, 202, "{v}");
    let p = finished(addr, &id).await;
    assert_eq!(p["state"], "done", "{p}");
    assert!(fetched_bytes(&f, &id) == data);
    assert!(std::fs::read(tmp.path().join("got.bin")).unwrap() == data, "written in the download folder");
}
