//! A channel backup (issue #17), like lnd's static channel backup: the
//! setups of the node's channels with the best voucher it received and the
//! last it signed on each, and the credit from refused requests, in a small
//! JSON file. `por channel export` writes one from a running node
//! (`GET /channels/backup`); a node configured with `[node].channel_backup`
//! rewrites one after every commit; `por channel restore` brings one back
//! into an empty data directory.
//!
//! What a backup cannot hold: the requests in flight (they live only in the
//! store) and anything newer than the file. Restoring a stale backup means
//! signing from an older cumulative amount (peers refuse such vouchers as
//! not increasing until the node's own sent amount catches up; they lose
//! nothing) and claiming only the vouchers it holds (what the peers paid
//! since is lost to the node). A backup is for a lost disk, not a rollback.

use std::io::Write;
use std::path::Path;

use por_core::protocol::ChannelSetup;
use por_core::{ChannelId, NodeKey, SignedVoucher, Verifier};
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError};

/// The file format's version.
pub const VERSION: u32 = 1;

/// The largest backup file accepted (a node has hundreds of channels at most).
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// A node's channels, as a backup file holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelBackup {
    /// [`VERSION`].
    pub version: u32,
    /// The node key the channels belong to.
    pub node: NodeKey,
    /// The channels.
    pub channels: Vec<BackupChannel>,
}

/// One channel of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupChannel {
    /// How it was opened.
    pub setup: ChannelSetup,
    /// The last voucher the node signed on it.
    pub sent: Option<SignedVoucher>,
    /// The best voucher the node received on it.
    pub received: Option<SignedVoucher>,
    /// The credit from refused requests, in yocto: the peer's, then ours.
    #[serde(default, with = "credit_serde")]
    pub credit: Option<(u128, u128)>,
}

/// A backup that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Reading or writing the file failed.
    #[error("channel backup {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a backup this build reads.
    #[error("channel backup {path} is not valid: {detail}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Restoring over existing channels would mix two histories.
    #[error("the data directory's store already has {0} channel(s); restore only into an empty data directory")]
    NotEmpty(usize),
}

impl ChannelBackup {
    /// The backup of what `store` holds for node `node`.
    pub fn from_store(store: &Store, node: NodeKey) -> Result<ChannelBackup, StoreError> {
        let channels = store
            .load()?
            .into_values()
            .filter_map(|c| {
                Some(BackupChannel { setup: c.setup?, sent: c.sent, received: c.received, credit: c.credit })
            })
            .collect();
        Ok(ChannelBackup { version: VERSION, node, channels })
    }

    /// Checks that every voucher belongs where the backup puts it: its
    /// channel's, signed by this node (sent) or by the channel's peer
    /// (received), for `contract`. Returns the first problem.
    pub fn check(&self, node: &NodeKey, contract: &str, verifier: &impl Verifier) -> Result<(), String> {
        if self.version != VERSION {
            return Err(format!("version {} (this build reads {VERSION})", self.version));
        }
        if self.node != *node {
            return Err(format!(
                "made for node {}, this data directory's node is {}",
                self.node.to_hex(),
                node.to_hex()
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in &self.channels {
            let id = c.setup.channel;
            if !seen.insert(id) {
                return Err(format!("channel {id} appears twice"));
            }
            for (v, payer, what) in [(&c.sent, node, "sent"), (&c.received, &c.setup.remote, "received")] {
                let Some(v) = v else { continue };
                if v.voucher.channel != id || v.voucher.payer != *payer || v.voucher.contract != contract {
                    return Err(format!("channel {id}: the {what} voucher is for another channel, payer or contract"));
                }
                if !v.verify(verifier) {
                    return Err(format!("channel {id}: the {what} voucher's signature does not verify"));
                }
            }
        }
        Ok(())
    }

    /// Writes the backup's channels into `store`, which must hold none.
    pub fn restore_into(&self, store: &Store) -> Result<usize, BackupError> {
        let existing = store.load()?.len();
        if existing > 0 {
            return Err(BackupError::NotEmpty(existing));
        }
        for c in &self.channels {
            store.put_channel(&c.setup)?;
            let vouchers = c.sent.iter().map(|v| (v, false)).chain(c.received.iter().map(|v| (v, true)));
            let credit = c.credit.map(|k| (c.setup.channel, k));
            store.commit(vouchers, std::iter::empty(), credit)?;
        }
        Ok(self.channels.len())
    }

    /// Reads a backup file (at most [`MAX_FILE_BYTES`]).
    pub fn read(path: &Path) -> Result<ChannelBackup, BackupError> {
        let io = |source| BackupError::Io { path: path.display().to_string(), source };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_FILE_BYTES {
            return Err(BackupError::Invalid {
                path: path.display().to_string(),
                detail: format!("{len} bytes, more than {MAX_FILE_BYTES}"),
            });
        }
        let text = std::fs::read(path).map_err(io)?;
        serde_json::from_slice(&text)
            .map_err(|e| BackupError::Invalid { path: path.display().to_string(), detail: e.to_string() })
    }

    /// Writes the backup to `path` (mode 0600) so that a reader sees the old
    /// file or the new one, never a torn one: a temporary file beside it,
    /// synced, then renamed over it.
    pub fn write(&self, path: &Path) -> Result<(), BackupError> {
        let io = |source| BackupError::Io { path: path.display().to_string(), source };
        let tmp = path.with_extension("tmp");
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp).map_err(io)?;
        let text = serde_json::to_vec_pretty(self).expect("a backup serialises");
        f.write_all(&text).and_then(|_| f.sync_all()).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

/// The credit pair as two decimal strings (JSON has no 128-bit integers).
mod credit_serde {
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

    pub fn serialize<S: Serializer>(v: &Option<(u128, u128)>, s: S) -> Result<S::Ok, S::Error> {
        v.map(|(a, b)| [a.to_string(), b.to_string()]).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<(u128, u128)>, D::Error> {
        let Some([a, b]) = Option::<[String; 2]>::deserialize(d)? else { return Ok(None) };
        let parse =
            |x: &str| x.parse::<u128>().map_err(|_| de::Error::custom(format!("not an amount in yocto: {x:?}")));
        Ok(Some((parse(&a)?, parse(&b)?)))
    }
}

/// The channel ids of a backup, for messages.
pub fn ids(b: &ChannelBackup) -> Vec<ChannelId> {
    b.channels.iter().map(|c| c.setup.channel).collect()
}

#[cfg(test)]
mod tests {
    use por_core::{Ed25519Verifier, NodeSigner, Signer, Voucher};

    use super::*;

    fn voucher(s: &NodeSigner, channel: u64, cumulative: u128) -> SignedVoucher {
        Voucher { contract: "por.test".into(), channel: ChannelId(channel), payer: s.public(), cumulative }.sign(s)
    }

    fn setup(channel: u64, remote: NodeKey) -> ChannelSetup {
        ChannelSetup {
            channel: ChannelId(channel),
            remote,
            local_deposit: 10,
            remote_deposit: 20,
            latency_ms: 30,
            sync_ms: None,
        }
    }

    #[test]
    fn a_store_round_trips_through_a_file_into_an_empty_store_only() {
        let (me, peer) = (NodeSigner::from_seed([1; 32]), NodeSigner::from_seed([2; 32]));
        let dir = tempfile::tempdir().unwrap();
        let a = Store::open(&dir.path().join("a.redb")).unwrap();
        a.put_channel(&setup(7, peer.public())).unwrap();
        let (sent, received) = (voucher(&me, 7, 5), voucher(&peer, 7, 9));
        a.commit([(&sent, false), (&received, true)], std::iter::empty(), [(ChannelId(7), (3, u128::MAX))]).unwrap();
        let backup = ChannelBackup::from_store(&a, me.public()).unwrap();
        backup.check(&me.public(), "por.test", &Ed25519Verifier).unwrap();
        let file = dir.path().join("channels.backup");
        backup.write(&file).unwrap();
        #[cfg(unix)]
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions()) & 0o777,
            0o600
        );
        let back = ChannelBackup::read(&file).unwrap();
        assert_eq!(back, backup);
        let b = Store::open(&dir.path().join("b.redb")).unwrap();
        assert_eq!(back.restore_into(&b).unwrap(), 1);
        assert_eq!(b.load().unwrap(), a.load().unwrap(), "the same channels, vouchers and credit");
        assert!(matches!(back.restore_into(&b), Err(BackupError::NotEmpty(1))), "never over existing channels");
    }

    #[test]
    fn a_backup_of_another_node_or_with_a_foreign_voucher_is_refused() {
        let (me, peer, other) =
            (NodeSigner::from_seed([1; 32]), NodeSigner::from_seed([2; 32]), NodeSigner::from_seed([3; 32]));
        let good = BackupChannel {
            setup: setup(7, peer.public()),
            sent: Some(voucher(&me, 7, 5)),
            received: None,
            credit: None,
        };
        let b = |channels| ChannelBackup { version: VERSION, node: me.public(), channels };
        assert!(b(vec![good.clone()]).check(&me.public(), "por.test", &Ed25519Verifier).is_ok());
        let err = b(vec![good.clone()]).check(&other.public(), "por.test", &Ed25519Verifier).unwrap_err();
        assert!(err.contains("made for node"), "{err}");
        let forged = BackupChannel { received: Some(voucher(&other, 7, 99)), ..good.clone() };
        let err = b(vec![forged]).check(&me.public(), "por.test", &Ed25519Verifier).unwrap_err();
        assert!(err.contains("received voucher is for another channel, payer or contract"), "{err}");
        let mut tampered = voucher(&peer, 7, 9);
        tampered.voucher.cumulative = 1_000;
        let err = b(vec![BackupChannel { received: Some(tampered), ..good.clone() }])
            .check(&me.public(), "por.test", &Ed25519Verifier)
            .unwrap_err();
        assert!(err.contains("signature does not verify"), "{err}");
        let err = b(vec![good.clone(), good]).check(&me.public(), "por.test", &Ed25519Verifier).unwrap_err();
        assert!(err.contains("appears twice"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.backup");
        std::fs::write(&file, b"{\"version\": 1, \"node\": 5}").unwrap();
        assert!(matches!(ChannelBackup::read(&file), Err(BackupError::Invalid { .. })));
    }
}
