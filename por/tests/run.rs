//! A node from a configuration file: key created once and kept, API up,
//! configured HTTP service served, clean shutdown.

use por::config::FileConfig;

#[tokio::test]
async fn launch_from_config_keeps_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[node]\ndata_dir = {:?}\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\n[api]\nlisten = \"127.0.0.1:0\"\n[services]\nweb = \"http://127.0.0.1:9/x\"\n",
        dir.path().display().to_string()
    );
    let cfg = FileConfig::parse(&text).unwrap();
    let first = por::run::launch(&cfg, [5; 32]).await.unwrap();
    let id = first.node.peer_id;
    first.node.handle.shutdown().await;
    first.node.task.await.unwrap();
    let again = por::run::launch(&cfg, [6; 32]).await.unwrap();
    assert_eq!(again.node.peer_id, id, "the key file wins over a fresh seed");
    let status = tokio::net::TcpStream::connect(again.api_addr).await;
    assert!(status.is_ok(), "the API listens");
}
