//! Channel backups with the real `por` binary (issue #17): `por channel
//! restore` checks a backup against the data directory's node key and the
//! config's contract and writes it only into an empty store; a running node
//! with `[node].channel_backup` keeps the file current, and `por channel
//! export` writes the same from its API.

mod cli_common;

use std::path::Path;

use cli_common::{Node, free_port, por, text};
use por_core::protocol::ChannelSetup;
use por_core::{ChannelId, NodeSigner, SignedVoucher, Signer, Voucher};
use por_node::backup::{BackupChannel, ChannelBackup, VERSION};
use por_node::store::Store;

/// `por init` in `dir/por-data` (no chain account); returns the config.
fn init(dir: &Path, extra: &str) -> std::path::PathBuf {
    let data = dir.join("por-data");
    let api = format!("127.0.0.1:{}", free_port());
    let args = [
        "init",
        "--data-dir",
        data.to_str().unwrap(),
        "--no-register",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--api",
        &api,
    ];
    let o = por(dir, &args, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let config = data.join("por.toml");
    if !extra.is_empty() {
        let t = std::fs::read_to_string(&config).unwrap().replacen("[node]\n", &format!("[node]\n{extra}\n"), 1);
        std::fs::write(&config, t).unwrap();
    }
    config
}

/// The node of a data directory, from its key file.
fn node_of(data: &Path) -> NodeSigner {
    NodeSigner::from_seed(por_node::keys::load_or_create(&data.join("node.key"), [0; 32]).unwrap())
}

fn voucher(s: &NodeSigner, channel: u64, cumulative: u128) -> SignedVoucher {
    // `por init`'s default contract.
    Voucher { contract: "por.devnet".into(), channel: ChannelId(channel), payer: s.public(), cumulative }.sign(s)
}

/// A backup of one channel 7 with a peer, as a node of `me` would make it.
fn backup(me: &NodeSigner, peer: &NodeSigner) -> ChannelBackup {
    let setup = ChannelSetup {
        channel: ChannelId(7),
        remote: peer.public(),
        local_deposit: 1_000,
        remote_deposit: 2_000,
        latency_ms: 40,
        sync_ms: None,
    };
    let c = BackupChannel {
        setup,
        sent: Some(voucher(me, 7, 300)),
        received: Some(voucher(peer, 7, 500)),
        credit: Some((11, 22)),
    };
    ChannelBackup { version: VERSION, node: me.public(), channels: vec![c] }
}

#[test]
fn a_backup_restores_into_an_empty_store_only_and_a_running_node_exports_it() {
    let tmp = tempfile::tempdir().unwrap();
    let config = init(tmp.path(), "");
    let data = tmp.path().join("por-data");
    let me = node_of(&data);
    let peer = NodeSigner::from_seed([9; 32]);
    let file = tmp.path().join("channels.backup");
    let b = backup(&me, &peer);
    b.write(&file).unwrap();
    let restore = |file: &Path| {
        let args = ["channel", "restore", file.to_str().unwrap(), "--config", config.to_str().unwrap()];
        por(tmp.path(), &args, &[("POR_OUTPUT", "json")])
    };

    // A forged voucher is refused, and nothing is written.
    let mut forged = b.clone();
    forged.channels[0].received.as_mut().unwrap().voucher.cumulative = 5_000;
    let bad = tmp.path().join("forged.backup");
    forged.write(&bad).unwrap();
    let o = restore(&bad);
    assert!(!o.status.success() && text(&o).contains("signature does not verify"), "{}", text(&o));
    assert!(Store::open(&data.join("channels.redb")).unwrap().load().unwrap().is_empty());

    let o = restore(&file);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("\"restored\": 1"), "{}", text(&o));
    let o = restore(&file);
    assert!(!o.status.success() && text(&o).contains("restore only into an empty data directory"), "{}", text(&o));
    {
        let store = Store::open(&data.join("channels.redb")).unwrap();
        assert_eq!(ChannelBackup::from_store(&store, me.public()).unwrap(), b, "setups, vouchers and credit are back");
    }

    // The node starts on the restored store, keeps the backup file current
    // and exports the same backup from its API.
    let kept = tmp.path().join("kept.backup");
    let t = std::fs::read_to_string(&config).unwrap().replacen(
        "[node]\n",
        &format!("[node]\nchannel_backup = {:?}\n", kept.to_str().unwrap()),
        1,
    );
    std::fs::write(&config, t).unwrap();
    let node = Node::start(&config, tmp.path().join("node.log")).unwrap_or_else(|out| panic!("node exited:\n{out}"));
    assert_eq!(ChannelBackup::read(&kept).unwrap(), b, "written at start:\n{}", node.output());
    let out = tmp.path().join("export.backup");
    let o = por(
        tmp.path(),
        &["channel", "export", "--out", out.to_str().unwrap(), "--config", config.to_str().unwrap()],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(ChannelBackup::read(&out).unwrap(), b);
    let o = restore(&file);
    assert!(!o.status.success(), "a running node's store is not restored into: {}", text(&o));
}

#[test]
fn a_backup_of_another_node_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let config = init(tmp.path(), "");
    let stranger = NodeSigner::from_seed([3; 32]);
    let file = tmp.path().join("other.backup");
    backup(&stranger, &NodeSigner::from_seed([9; 32])).write(&file).unwrap();
    let o = por(tmp.path(), &["channel", "restore", file.to_str().unwrap(), "--config", config.to_str().unwrap()], &[]);
    assert!(!o.status.success() && text(&o).contains("made for node"), "{}", text(&o));
    std::fs::write(&file, b"not json").unwrap();
    let o = por(tmp.path(), &["channel", "restore", file.to_str().unwrap(), "--config", config.to_str().unwrap()], &[]);
    assert!(!o.status.success() && text(&o).contains("is not valid"), "{}", text(&o));
}
