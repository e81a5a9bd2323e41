//! `por files` against the files API of two real nodes over loopback: a
//! directory added, listed and fetched through the CLI, and hostile API
//! input refused with an error naming the problem.

#[path = "../../node/tests/common/mod.rs"]
mod common;
#[path = "../../files/tests/files_common/mod.rs"]
mod files_common;

use common::spawn_network;
use files_common::{EDGE, PRICE, SERVICE_MS, await_providers, files_on, random_file};
use por::apiclient::NodeApi;
use por_files::tree::BLOCK_SIZE;
use por_files::{ContentId, Files, FixedRoutes};

/// Serves the files API of `files` on a free port behind the guard with
/// the harness's tokens, as `por node run` does with the node's; returns it
/// with the admin token.
async fn serve_api(files: Files) -> NodeApi {
    // Under /v1 and at the old paths, as `por node run` serves it.
    let addr = common::serve_http(por_node::api::versioned(por_files::api::router(files))).await;
    NodeApi::new(&format!("http://{addr}"), Some(common::tokens().admin))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_over_the_cli_and_api_and_hostile_inputs_are_refused() {
    use por::files_cli::{FilesArgs, FilesCmd, call, run};
    use serde_json::json;

    let tmp = tempfile::tempdir().unwrap();
    let net = spawn_network(2).await;
    files_common::link(&net, 0, 1, 1, EDGE.latency_ms).await;
    let provider = files_on(&net, 1, &tmp.path().join("p"), FixedRoutes::new(), false).await;
    let routes = FixedRoutes::new().with(net.route(&[0, 1], &[1], EDGE, SERVICE_MS));
    let fetcher = files_on(&net, 0, &tmp.path().join("f"), routes, false).await;
    let (papi, fapi) = (serve_api(provider.clone()).await, serve_api(fetcher.clone()).await);
    // The CLI reads the token from a file of mode 0600, as from a data directory.
    let token_file = tmp.path().join("api-admin.token");
    std::fs::write(&token_file, common::tokens().admin.as_str()).unwrap();
    std::fs::set_permissions(&token_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let cli = |api: &NodeApi, cmd| {
        let args = FilesArgs { api: Some(api.base.clone()), config: None, token_file: Some(token_file.clone()), cmd };
        run(args, por::output::Output::Table)
    };

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
