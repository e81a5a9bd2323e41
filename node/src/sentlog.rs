//! The vouchers this node signed, logged before they leave (issue #17).
//!
//! A voucher the node signs (paying a forwarded request or late fees) goes
//! out at once; the group commit that stores it comes a little later. Were
//! the process killed in between, the store would hold a lower sent amount
//! than the peer does, and after the restart every voucher the node signs
//! for that peer would be "not increasing": refused, so the node could not
//! pay it and would be cut. So each signed voucher is first appended to this
//! log (a `write`, no `fsync`: it survives a killed process, whose writes
//! are in the page cache, though not a power cut), and at start the best
//! voucher of each channel in the log is restored if the store's is lower.
//!
//! The log rotates: once it passes [`ROTATE_BYTES`] it is renamed and a new
//! one started; the old one goes when a commit that began after the rotation
//! has landed (everything it holds was queued for that commit or an earlier
//! one).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use por_core::{ChannelId, NodeKey, SignedVoucher, Verifier};

/// The log being written.
pub const CURRENT: &str = "sent.log";
/// The log before the last rotation.
pub const OLD: &str = "sent.old.log";
/// Size at which the log rotates.
pub const ROTATE_BYTES: u64 = 4 << 20;
/// The largest record read back (a voucher is a few hundred bytes).
const MAX_RECORD: usize = 64 << 10;

/// The log of signed vouchers.
pub struct SentLog {
    dir: PathBuf,
    file: File,
    len: u64,
    /// The commit that makes the old log unneeded, once it lands.
    old_until: Option<u64>,
}

impl SentLog {
    /// Opens (or creates) the log in `dir` for appending.
    pub fn open(dir: &Path) -> std::io::Result<SentLog> {
        let file = OpenOptions::new().create(true).append(true).open(dir.join(CURRENT))?;
        let len = file.metadata()?.len();
        let old_until = dir.join(OLD).exists().then_some(0);
        Ok(SentLog { dir: dir.to_path_buf(), file, len, old_until })
    }

    /// Appends `v` (length-prefixed CBOR).
    pub fn append(&mut self, v: &SignedVoucher) -> std::io::Result<()> {
        let body = cbor4ii::serde::to_vec(Vec::new(), v).expect("encoding to a Vec cannot fail");
        let mut rec = Vec::with_capacity(4 + body.len());
        rec.extend_from_slice(&(body.len() as u32).to_le_bytes());
        rec.extend_from_slice(&body);
        self.file.write_all(&rec)?;
        self.len += rec.len() as u64;
        Ok(())
    }

    /// Rotates the log if it is large and no rotation is pending; `next`
    /// is the sequence number of the next commit to start, which covers
    /// everything logged so far.
    pub fn maybe_rotate(&mut self, next: u64) -> std::io::Result<()> {
        if self.len < ROTATE_BYTES || self.old_until.is_some() {
            return Ok(());
        }
        std::fs::rename(self.dir.join(CURRENT), self.dir.join(OLD))?;
        self.file = OpenOptions::new().create(true).append(true).open(self.dir.join(CURRENT))?;
        self.len = 0;
        self.old_until = Some(next);
        Ok(())
    }

    /// The commits up to `durable` have landed: the old log goes if they
    /// cover it.
    pub fn committed(&mut self, durable: u64) {
        if self.old_until.is_some_and(|s| durable >= s) && std::fs::remove_file(self.dir.join(OLD)).is_ok() {
            self.old_until = None;
        }
    }

    /// The best voucher of each channel in the logs of `dir` that `me`
    /// signed (anything else, or a torn last record, is skipped).
    pub fn read_best(dir: &Path, me: &NodeKey, verifier: &impl Verifier) -> BTreeMap<ChannelId, SignedVoucher> {
        let mut best: BTreeMap<ChannelId, SignedVoucher> = BTreeMap::new();
        for name in [OLD, CURRENT] {
            let mut bytes = Vec::new();
            if File::open(dir.join(name)).and_then(|mut f| f.read_to_end(&mut bytes)).is_err() {
                continue;
            }
            let mut rest = bytes.as_slice();
            while rest.len() >= 4 {
                let n = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
                if n > MAX_RECORD || rest.len() < 4 + n {
                    break;
                }
                let Ok(v) = cbor4ii::serde::from_slice::<SignedVoucher>(&rest[4..4 + n]) else { break };
                rest = &rest[4 + n..];
                if v.voucher.payer != *me || !v.verify(verifier) {
                    continue;
                }
                let id = v.voucher.channel;
                if best.get(&id).is_none_or(|b| v.voucher.cumulative > b.voucher.cumulative) {
                    best.insert(id, v);
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use por_core::{Ed25519Verifier, NodeSigner, Signer, Voucher};

    use super::*;

    fn voucher(s: &NodeSigner, channel: u64, cumulative: u128) -> SignedVoucher {
        Voucher { contract: "por.test".into(), channel: ChannelId(channel), payer: s.public(), cumulative }.sign(s)
    }

    #[test]
    fn the_best_of_each_channel_survives_rotation_and_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let (me, other) = (NodeSigner::from_seed([1; 32]), NodeSigner::from_seed([2; 32]));
        let mut log = SentLog::open(dir.path()).unwrap();
        log.append(&voucher(&me, 1, 10)).unwrap();
        log.append(&voucher(&me, 1, 30)).unwrap();
        log.len = ROTATE_BYTES;
        log.maybe_rotate(7).unwrap();
        log.append(&voucher(&me, 1, 20)).unwrap();
        log.append(&voucher(&me, 2, 5)).unwrap();
        log.append(&voucher(&other, 3, 99)).unwrap();
        // A record cut short by the kill.
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(CURRENT))
            .unwrap()
            .write_all(&[200, 0, 0, 0, 1])
            .unwrap();
        let best = SentLog::read_best(dir.path(), &me.public(), &Ed25519Verifier);
        let got: Vec<(u64, u128)> = best.iter().map(|(c, v)| (c.0, v.voucher.cumulative)).collect();
        assert_eq!(got, vec![(1, 30), (2, 5)], "the old log counts until it goes; others' vouchers never");
        log.committed(6);
        assert!(dir.path().join(OLD).exists(), "a commit from before the rotation does not cover it");
        log.committed(7);
        assert!(!dir.path().join(OLD).exists());
    }
}
