//! The store keeps every voucher it acknowledged through a hard kill.
//!
//! The test runs itself as a child process that persists ever higher vouchers
//! and prints `acked N` after each `persist` returns (the moment the node
//! would send its ack). The parent kills the child with SIGKILL mid-stream,
//! reopens the store and checks that it holds at least the last acked amount.
//! (A process kill, not a power cut: the page cache survives a kill. Against
//! power loss the store relies on redb's fsync at every commit.)

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use por_core::{ChannelId, NodeSigner, Signer, Voucher};
use por_node::store::Store;

const CHILD_ENV: &str = "POR_STORE_CRASH_CHILD";

#[test]
fn child_writer() {
    let Some(path) = std::env::var_os(CHILD_ENV) else { return };
    let store = Store::open(std::path::Path::new(&path)).unwrap();
    let s = NodeSigner::from_seed([4; 32]);
    for i in 1u128.. {
        let v =
            Voucher { contract: "por.test".into(), channel: ChannelId(1), payer: s.public(), cumulative: i }.sign(&s);
        store.persist([(&v, true)]).unwrap();
        println!("acked {i}");
    }
}

#[test]
fn acked_vouchers_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("channels.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["child_writer", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut last = 0u128;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("acked ") {
            last = n.parse().unwrap();
            if last == 150 {
                child.kill().unwrap(); // SIGKILL: no destructors, no flush
                break;
            }
        }
    }
    child.wait().unwrap();
    assert_eq!(last, 150, "the child acked 150 vouchers before it was killed");
    let all = Store::open(&path).unwrap().load().unwrap();
    let held = all[&ChannelId(1)].received.as_ref().unwrap().voucher.cumulative;
    assert!(held >= last, "store holds {held} but {last} was acked");
}
