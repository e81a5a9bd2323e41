//! Key files are private: `por init` writes `account.json` 0600 (an older,
//! looser copy too), and a key file its group or others may read is refused,
//! by `por init` and by `por node run`, with the `chmod 600` that fixes it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use near_crypto::{KeyType, SecretKey};
use por::config::FileConfig;
use por::init::{InitOptions, init};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A NEAR key file of `alice.devnet`, mode `m`.
fn key_file(path: &Path, m: u32) {
    let sk = SecretKey::from_seed(KeyType::ED25519, "alice");
    let kf = serde_json::json!({ "account_id": "alice.devnet", "public_key": sk.public_key(), "private_key": sk });
    std::fs::write(path, kf.to_string()).unwrap();
    chmod(path, m);
}

#[tokio::test]
async fn init_writes_account_json_0600_and_refuses_a_loose_source() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let src = dir.path().join("alice.json");
    let mut o = InitOptions::new(&data);
    o.account = Some(("alice.devnet".into(), src.clone()));
    o.register = false;

    key_file(&src, 0o644);
    let e = init(&o, [1; 32]).await.unwrap_err().to_string();
    assert!(e.contains(&format!("chmod 600 {}", src.display())), "{e}");
    assert!(!data.join("account.json").exists(), "no copy of a key from a loose file");

    chmod(&src, 0o600);
    init(&o, [1; 32]).await.unwrap();
    assert_eq!(mode(&data.join("account.json")), 0o600);
    assert_eq!(mode(&data.join("node.key")), 0o600);

    // An older copy left open is rewritten 0600.
    chmod(&data.join("account.json"), 0o644);
    init(&o, [1; 32]).await.unwrap();
    assert_eq!(mode(&data.join("account.json")), 0o600);
}

#[tokio::test]
async fn node_run_refuses_a_loose_account_key_naming_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("account.json");
    key_file(&key, 0o640);
    let text = format!(
        "[node]\ndata_dir = {:?}\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\n[api]\nlisten = \"127.0.0.1:0\"\n\
         [chain]\nrpc = \"http://127.0.0.1:9\"\naccount = \"alice.devnet\"\n",
        dir.path().display().to_string()
    );
    let cfg = FileConfig::parse(&text).unwrap();
    let e = por::run::launch(&cfg, [5; 32]).await.err().expect("refused").to_string();
    assert!(e.contains(&format!("chmod 600 {}", key.display())) && e.contains("640"), "{e}");

    // And the node key likewise.
    chmod(&key, 0o600);
    chmod(&dir.path().join("node.key"), 0o644);
    let e = por::run::launch(&cfg, [5; 32]).await.err().expect("refused").to_string();
    assert!(e.contains(&format!("chmod 600 {}", dir.path().join("node.key").display())), "{e}");
}
