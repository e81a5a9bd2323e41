//! The store keeps every voucher it acknowledged through a hard kill.
//!
//! The test runs itself as a child process that persists ever higher vouchers
//! and prints `acked N` after each `persist` returns (the moment the node
//! would send its ack). The parent kills the child with SIGKILL mid-stream,
//! reopens the store and checks that it holds at least the last acked amount.
//! (A process kill, not a power cut: the page cache survives a kill. Against
//! power loss the store relies on redb's fsync at every commit.)
//!
//! Each commit also writes the request that voucher paid for and deletes the
//! one before (DESIGN §2.11): whatever the kill interrupts, the store holds
//! exactly the request of the voucher it holds, never a mix of two commits.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use por_core::protocol::inflight::{Entry, Hold};
use por_core::{ChannelId, NodeSigner, RequestId, Signer, Voucher};
use por_node::store::Store;

/// The request paid by voucher `i`.
fn request(i: u128) -> Entry {
    let mut id = [0u8; 32];
    id[..16].copy_from_slice(&i.to_le_bytes());
    Entry {
        id: RequestId(id),
        server: NodeSigner::from_seed([5; 32]).public(),
        max_response_bytes: i as u64,
        route_down: Vec::new(),
        up: None,
        down: None,
        origin: None,
        confirm: None,
        served: false,
        hold: Hold { requests: 1, value: i, bytes: 0, liability: 0 },
    }
}

const CHILD_ENV: &str = "POR_STORE_CRASH_CHILD";

#[test]
fn child_writer() {
    let Some(path) = std::env::var_os(CHILD_ENV) else { return };
    let store = Store::open(std::path::Path::new(&path)).unwrap();
    let s = NodeSigner::from_seed([4; 32]);
    for i in 1u128.. {
        let v =
            Voucher { contract: "por.test".into(), channel: ChannelId(1), payer: s.public(), cumulative: i }.sign(&s);
        let (new, old) = (request(i), request(i - 1));
        store.commit([(&v, true)], [(&new.id, &Some(new.clone())), (&old.id, &None)], []).unwrap();
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
    let store = Store::open(&path).unwrap();
    let all = store.load().unwrap();
    let held = all[&ChannelId(1)].received.as_ref().unwrap().voucher.cumulative;
    assert!(held >= last, "store holds {held} but {last} was acked");
    assert_eq!(store.load_requests().unwrap(), vec![request(held)], "the request of voucher {held}, alone");
}
