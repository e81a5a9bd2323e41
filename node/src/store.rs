//! The node's durable channel state: an embedded ACID store (redb).
//!
//! It holds, per channel, the best voucher received from the peer (the money
//! this node can claim on chain), the last voucher it signed (so that it never
//! signs a lower cumulative amount after a restart), and the channel's setup.
//! Every write is one redb transaction committed with immediate durability
//! (fsync): when [`Store::persist`] returns, the vouchers survive a crash, and
//! only then may the node send the ack (DESIGN §2.4). Several vouchers of one
//! batch of effects go in one transaction.
//!
//! Vouchers on disk only ever go up: a write of a lower cumulative amount than
//! the one stored is ignored, so a late or replayed write cannot lose money.
//!
//! The same transactions hold the requests in flight (DESIGN §2.11): each
//! one's engine entry (legs, deadlines, amounts owed and received, the answer
//! it may have to repeat), written when it changes and deleted when it ends,
//! so that a restarted node finishes what it acknowledged.

use std::path::Path;

use por_core::protocol::ChannelSetup;
use por_core::protocol::inflight::Entry;
use por_core::{ChannelId, RequestId, SignedVoucher};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

const RECEIVED: TableDefinition<u64, &[u8]> = TableDefinition::new("vouchers_received");
const SENT: TableDefinition<u64, &[u8]> = TableDefinition::new("vouchers_sent");
const CHANNELS: TableDefinition<u64, &[u8]> = TableDefinition::new("channels");
const REQUESTS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("requests");
/// Per channel, the credit from refused requests (DESIGN §2.10): what the
/// peer paid that no request used yet, then what we paid it the same way,
/// each 16 bytes little-endian.
const CREDITS: TableDefinition<u64, &[u8; 32]> = TableDefinition::new("credits");

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or created.
    #[error("cannot open the channel store at {path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// Why.
        source: redb::DatabaseError,
    },
    /// A read or write failed (disk full, I/O error).
    #[error("channel store {op} failed: {detail}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// redb's message.
        detail: String,
    },
    /// An entry on disk does not decode: the file is damaged or from an
    /// incompatible version.
    #[error("channel store entry {table}[{key}] is damaged: {detail}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The key.
        key: u64,
        /// The decoder's message.
        detail: String,
    },
}

fn io(op: &'static str) -> impl Fn(&dyn std::fmt::Display) -> StoreError {
    move |e| StoreError::Io { op, detail: e.to_string() }
}

/// What the store remembers of one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChannel {
    /// The setup the channel was opened with.
    pub setup: Option<ChannelSetup>,
    /// The best voucher received from the peer.
    pub received: Option<SignedVoucher>,
    /// Its credit from refused requests: (the peer's, ours), if any.
    pub credit: Option<(u128, u128)>,
    /// The last voucher this node signed.
    pub sent: Option<SignedVoucher>,
}

/// The channel store.
///
/// After an I/O error (a full disk) redb refuses every later operation
/// until the database is closed and opened again; the store does that after
/// any failed operation, so that the commit thread's retry, once the disk
/// has room again, finds a working database.
pub struct Store {
    path: std::path::PathBuf,
    db: std::sync::RwLock<Option<Database>>,
}

impl Store {
    /// Opens the store at `path`, creating it if needed.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db =
            Database::create(path).map_err(|source| StoreError::Open { path: path.display().to_string(), source })?;
        let tx = db.begin_write().map_err(|e| io("begin")(&e))?;
        for t in [RECEIVED, SENT, CHANNELS] {
            tx.open_table(t).map_err(|e| io("create table")(&e))?;
        }
        tx.open_table(REQUESTS).map_err(|e| io("create table")(&e))?;
        tx.open_table(CREDITS).map_err(|e| io("create table")(&e))?;
        tx.commit().map_err(|e| io("commit")(&e))?;
        Ok(Store { path: path.to_path_buf(), db: std::sync::RwLock::new(Some(db)) })
    }

    fn begin_write(&self) -> Result<redb::WriteTransaction, StoreError> {
        let db = self.db.read().unwrap_or_else(|e| e.into_inner());
        let db = db.as_ref().ok_or_else(|| StoreError::Io { op: "begin", detail: "the store is closed".into() })?;
        db.begin_write().map_err(|e| io("begin")(&e))
    }

    fn begin_read(&self) -> Result<redb::ReadTransaction, StoreError> {
        let db = self.db.read().unwrap_or_else(|e| e.into_inner());
        let db =
            db.as_ref().ok_or_else(|| StoreError::Io { op: "begin read", detail: "the store is closed".into() })?;
        db.begin_read().map_err(|e| io("begin read")(&e))
    }

    /// Passes `r` on; after an I/O error, closes and reopens the database
    /// first (see [`Store`]).
    fn healed<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(StoreError::Io { .. }) = &r {
            let mut db = self.db.write().unwrap_or_else(|e| e.into_inner());
            *db = None;
            match Database::create(&self.path) {
                Ok(fresh) => *db = Some(fresh),
                Err(e) => tracing::error!("cannot reopen the channel store at {}: {e}", self.path.display()),
            }
        }
        r
    }

    /// Makes vouchers durable in one transaction. `received` tells whether we
    /// are the payee. Lower amounts than those stored are ignored.
    pub fn persist<'a>(&self, vouchers: impl IntoIterator<Item = (&'a SignedVoucher, bool)>) -> Result<(), StoreError> {
        self.commit(vouchers, std::iter::empty(), std::iter::empty())
    }

    /// Writes vouchers (as [`Store::persist`]) and request entries (`None`:
    /// the request ended, delete it) in one transaction.
    pub fn commit<'a>(
        &self,
        vouchers: impl IntoIterator<Item = (&'a SignedVoucher, bool)>,
        requests: impl IntoIterator<Item = (&'a RequestId, &'a Option<Entry>)>,
        credits: impl IntoIterator<Item = (ChannelId, (u128, u128))>,
    ) -> Result<(), StoreError> {
        self.healed(self.commit_once(vouchers, requests, credits))
    }

    fn commit_once<'a>(
        &self,
        vouchers: impl IntoIterator<Item = (&'a SignedVoucher, bool)>,
        requests: impl IntoIterator<Item = (&'a RequestId, &'a Option<Entry>)>,
        credits: impl IntoIterator<Item = (ChannelId, (u128, u128))>,
    ) -> Result<(), StoreError> {
        let tx = self.begin_write()?;
        {
            let mut table = tx.open_table(CREDITS).map_err(|e| io("open table")(&e))?;
            for (channel, (theirs, ours)) in credits {
                let mut b = [0u8; 32];
                b[..16].copy_from_slice(&theirs.to_le_bytes());
                b[16..].copy_from_slice(&ours.to_le_bytes());
                table.insert(channel.0, &b).map_err(|e| io("write")(&e))?;
            }
        }
        {
            let mut table = tx.open_table(REQUESTS).map_err(|e| io("open table")(&e))?;
            for (id, entry) in requests {
                match entry {
                    Some(e) => table.insert(&id.0, encode(e).as_slice()).map(|_| ()),
                    None => table.remove(&id.0).map(|_| ()),
                }
                .map_err(|e| io("write")(&e))?;
            }
        }
        {
            let mut received = tx.open_table(RECEIVED).map_err(|e| io("open table")(&e))?;
            let mut sent = tx.open_table(SENT).map_err(|e| io("open table")(&e))?;
            for (v, is_received) in vouchers {
                let (table, name) =
                    if is_received { (&mut received, "vouchers_received") } else { (&mut sent, "vouchers_sent") };
                let key = v.voucher.channel.0;
                let old = match table.get(key).map_err(|e| io("read")(&e))? {
                    Some(b) => Some(decode::<SignedVoucher>(b.value(), name, key)?),
                    None => None,
                };
                if old.is_some_and(|o| o.voucher.cumulative >= v.voucher.cumulative) {
                    continue;
                }
                table.insert(key, encode(v).as_slice()).map_err(|e| io("write")(&e))?;
            }
        }
        tx.commit().map_err(|e| io("commit")(&e))
    }

    /// Remembers a channel's setup.
    pub fn put_channel(&self, setup: &ChannelSetup) -> Result<(), StoreError> {
        self.healed(self.put_channel_once(setup))
    }

    fn put_channel_once(&self, setup: &ChannelSetup) -> Result<(), StoreError> {
        let tx = self.begin_write()?;
        tx.open_table(CHANNELS)
            .map_err(|e| io("open table")(&e))?
            .insert(setup.channel.0, encode(setup).as_slice())
            .map_err(|e| io("write")(&e))?;
        tx.commit().map_err(|e| io("commit")(&e))
    }

    /// The requests that were in flight, as the engine last recorded them.
    pub fn load_requests(&self) -> Result<Vec<Entry>, StoreError> {
        self.healed(self.load_requests_once())
    }

    fn load_requests_once(&self) -> Result<Vec<Entry>, StoreError> {
        let tx = self.begin_read()?;
        let table = tx.open_table(REQUESTS).map_err(|e| io("open table")(&e))?;
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| io("read")(&e))? {
            let (k, v) = row.map_err(|e| io("read")(&e))?;
            let key = u64::from_le_bytes(k.value()[..8].try_into().expect("8 bytes"));
            let entry: Entry = decode(v.value(), "requests", key)?;
            if entry.id.0 != *k.value() {
                return Err(StoreError::Corrupt { table: "requests", key, detail: "stored under another id".into() });
            }
            out.push(entry);
        }
        Ok(out)
    }

    /// Everything stored, by channel.
    pub fn load(&self) -> Result<std::collections::BTreeMap<ChannelId, StoredChannel>, StoreError> {
        self.healed(self.load_once())
    }

    fn load_once(&self) -> Result<std::collections::BTreeMap<ChannelId, StoredChannel>, StoreError> {
        let mut out = std::collections::BTreeMap::<ChannelId, StoredChannel>::new();
        let tx = self.begin_read()?;
        let blank = || StoredChannel { setup: None, received: None, sent: None, credit: None };
        for (def, name) in [(CHANNELS, "channels"), (RECEIVED, "vouchers_received"), (SENT, "vouchers_sent")] {
            let table = tx.open_table(def).map_err(|e| io("open table")(&e))?;
            for row in table.iter().map_err(|e| io("read")(&e))? {
                let (k, v) = row.map_err(|e| io("read")(&e))?;
                let key = k.value();
                let slot = out.entry(ChannelId(key)).or_insert_with(blank);
                match name {
                    "channels" => slot.setup = Some(decode(v.value(), name, key)?),
                    "vouchers_received" => slot.received = Some(decode(v.value(), name, key)?),
                    _ => slot.sent = Some(decode(v.value(), name, key)?),
                }
            }
        }
        let table = tx.open_table(CREDITS).map_err(|e| io("open table")(&e))?;
        for row in table.iter().map_err(|e| io("read")(&e))? {
            let (k, v) = row.map_err(|e| io("read")(&e))?;
            let b = v.value();
            let half = |r: std::ops::Range<usize>| u128::from_le_bytes(b[r].try_into().expect("16 bytes"));
            out.entry(ChannelId(k.value())).or_insert_with(blank).credit = Some((half(0..16), half(16..32)));
        }
        Ok(out)
    }
}

fn encode<T: serde::Serialize>(v: &T) -> Vec<u8> {
    cbor4ii::serde::to_vec(Vec::new(), v).expect("encoding to a Vec cannot fail")
}

fn decode<T: serde::de::DeserializeOwned>(b: &[u8], table: &'static str, key: u64) -> Result<T, StoreError> {
    cbor4ii::serde::from_slice(b).map_err(|e| StoreError::Corrupt { table, key, detail: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use por_core::{NodeSigner, Signer, Voucher};

    fn voucher(s: &NodeSigner, channel: u64, cumulative: u128) -> SignedVoucher {
        Voucher { contract: "por.test".into(), channel: ChannelId(channel), payer: s.public(), cumulative }.sign(s)
    }

    #[test]
    fn persists_across_reopen_and_never_goes_down() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("channels.redb");
        let s = NodeSigner::from_seed([1; 32]);
        {
            let st = Store::open(&path).unwrap();
            st.persist([(&voucher(&s, 1, 10), true), (&voucher(&s, 2, 5), false)]).unwrap();
            st.persist([(&voucher(&s, 1, 7), true)]).unwrap();
            st.put_channel(&ChannelSetup {
                channel: ChannelId(1),
                remote: s.public(),
                local_deposit: 1,
                remote_deposit: 2,
                latency_ms: 3,
                sync_ms: None,
            })
            .unwrap();
        }
        let st = Store::open(&path).unwrap();
        let all = st.load().unwrap();
        assert_eq!(all[&ChannelId(1)].received.as_ref().unwrap().voucher.cumulative, 10, "7 < 10 was ignored");
        assert_eq!(all[&ChannelId(1)].setup.as_ref().unwrap().latency_ms, 3);
        assert_eq!(all[&ChannelId(2)].sent.as_ref().unwrap().voucher.cumulative, 5);
        assert!(all[&ChannelId(2)].received.is_none());
    }

    #[test]
    fn garbage_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("channels.redb");
        std::fs::write(&path, b"this is not a database").unwrap();
        let err = Store::open(&path).err().expect("refused");
        assert!(err.to_string().contains("cannot open the channel store"), "{err}");
    }

    fn entry(n: u8, paid: u128) -> Entry {
        use por_core::protocol::inflight::{Hold, UpLeg};
        Entry {
            id: RequestId([n; 32]),
            server: NodeSigner::from_seed([9; 32]).public(),
            max_response_bytes: 64,
            route_down: Vec::new(),
            up: Some(UpLeg {
                channel: ChannelId(1),
                latency_ms: 20,
                deadline_ms: 1_765_000_000_000,
                paid,
                frozen_at: None,
                confirmed: 0,
                paid_seq: 0,
                claim_sends: 0,
                answer: None,
                keep_until_ms: 0,
                repeats: 0,
                due: 7,
            }),
            down: None,
            origin: None,
            confirm: None,
            served: false,
            hold: Hold { requests: 1, value: 5, bytes: 100, liability: u128::MAX / 3 },
        }
    }

    #[test]
    fn requests_in_flight_survive_a_reopen_and_go_when_they_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("channels.redb");
        let s = NodeSigner::from_seed([1; 32]);
        let (a, b) = (entry(1, 10), entry(2, u128::MAX));
        {
            let st = Store::open(&path).unwrap();
            let v = voucher(&s, 1, 10);
            st.commit(
                [(&v, true)],
                [(&a.id, &Some(a.clone())), (&b.id, &Some(b.clone()))],
                [(ChannelId(1), (7, u128::MAX))],
            )
            .unwrap();
            st.commit([], [(&a.id, &None)], []).unwrap();
        }
        let st = Store::open(&path).unwrap();
        assert_eq!(st.load_requests().unwrap(), vec![b], "the ended request is gone, the other is whole");
        assert_eq!(st.load().unwrap()[&ChannelId(1)].received.as_ref().unwrap().voucher.cumulative, 10);
        assert_eq!(st.load().unwrap()[&ChannelId(1)].credit, Some((7, u128::MAX)), "the channel's credit too");
    }
}
