//! `POST /files/add` never shares the node's data directory (its node key,
//! account keys and channel store), whatever path names it: the file itself,
//! a symbolic link to it, or a directory containing it, even when a share
//! folder contains the data directory. Over real HTTP against a running
//! node's files API.

#[path = "../../node/tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use por_files::{Files, FilesConfig, FixedRoutes};
use prometheus_client::registry::Registry;

/// POSTs `body` as JSON from loopback; returns (status, JSON answer).
async fn post(addr: SocketAddr, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let a = common::json_http(addr, "POST", path, &body.to_string()).await;
    let json = serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("{e}: {}", a.body));
    (a.status, json)
}

async fn add(addr: SocketAddr, path: &Path) -> (u16, serde_json::Value) {
    post(addr, "/files/add", &serde_json::json!({ "path": path })).await
}

#[tokio::test]
async fn files_add_refuses_the_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut reg = Registry::default();
    let node = por_node::start(por_node::NodeConfig::new(&data), [5; 32], &mut reg).await.unwrap();
    // What `por node run` does: the node key in the data directory.
    let key = data.join("node.key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    // The share folder contains the data directory.
    let cfg = FilesConfig { share_dirs: vec![tmp.path().to_path_buf()], ..FilesConfig::new(&data) };
    let files = Files::start(cfg, node.handle.clone(), Arc::new(FixedRoutes::new())).await.unwrap();
    let addr = common::serve_http(por_files::api::router(files.clone())).await;

    let link = tmp.path().join("innocent.bin");
    std::os::unix::fs::symlink(&key, &link).unwrap();
    let dir_link = tmp.path().join("innocent-dir");
    std::os::unix::fs::symlink(&data, &dir_link).unwrap();
    let dotted = data.join("files").join("..").join("node.key");
    for (path, what) in [
        (key.clone(), "inside"),
        (link.clone(), "inside"),
        (dotted, "inside"),
        (data.clone(), "inside"),
        (dir_link.join("node.key"), "inside"),
        (tmp.path().to_path_buf(), "contains"),
    ] {
        let (status, v) = add(addr, &path).await;
        assert_eq!((status, v["code"].as_str()), (403, Some("path_not_allowed")), "{}: {v}", path.display());
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains(what) && msg.contains("data directory"), "{}: {msg}", path.display());
    }
    assert!(files.list().is_empty(), "nothing was added: {:?}", files.list());

    // A file elsewhere in the share folder is shared as before.
    let ok = tmp.path().join("share.txt");
    std::fs::write(&ok, b"hello").unwrap();
    let (status, v) = add(addr, &ok).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["size"], 5, "{v}");
    let (status, v) = add(addr, &data.join("no-such-file")).await;
    assert_eq!((status, v["code"].as_str()), (400, Some("bad_request")), "{v}");

    // The files routes are behind the API's guard: no cross-site form post.
    let body = serde_json::json!({ "path": ok }).to_string();
    let head = format!("Host: 127.0.0.1:{}\r\nContent-Type: text/plain\r\n", addr.port());
    let a = common::raw_http(addr, "POST /files/add HTTP/1.1", &head, body.as_bytes()).await;
    assert_eq!((a.status, a.code().as_str()), (415, "unsupported_media_type"), "{}", a.body);
}
