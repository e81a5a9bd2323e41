//! Group commit of vouchers, off the event loop.
//!
//! The event loop never waits for the disk. Vouchers to persist are collected
//! here and handed, as one batch, to a thread that commits them to the
//! [`Store`] (one redb transaction, fsync). While that commit runs, new
//! vouchers gather into the next batch, so under load one fsync covers many
//! requests, and when idle a lone voucher is committed at once.
//!
//! What must wait for the disk is an *acknowledgement* of money (DESIGN §2.4:
//! "persists it, then answers with an ack"): acks and sync acks are held
//! ([`Committer::gate`]) until every voucher written before them is durable.
//! Everything else leaves at once; in particular a relay forwards a paid
//! request as soon as the engine has verified the incoming voucher ("the ack
//! is never on the critical path"). A voucher this node signs is committed in
//! the same batches; a crash before that commit can only leave the stored
//! sent amount below what the peer holds, so the peer refuses a later,
//! lower voucher as not increasing: the peer never loses.
//!
//! If a commit fails (disk full, I/O error), the error is logged and its
//! vouchers (and requests and credits) go back into the next batch, retried
//! after [`RETRY_AFTER`]: money-bearing state is never given up. The acks it
//! gated keep waiting, now for the retry: they leave once the vouchers they
//! acknowledge are on disk, however long the disk takes to recover (the
//! payer's re-sends may long be used up by then).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use por_core::protocol::Wire;
use por_core::protocol::inflight::Entry;
use por_core::{ChannelId, RequestId, SignedVoucher};
use tokio::sync::mpsc;
use tracing::error;

use std::path::PathBuf;

use por_core::NodeKey;

use crate::backup::{BackupError, ChannelBackup};
use crate::store::{Store, StoreError};

/// How long the commit thread waits before reporting a failed commit, so a
/// broken disk is retried at this pace rather than in a busy loop.
pub const RETRY_AFTER: Duration = Duration::from_millis(200);

/// Acks held for a commit beyond this many are dropped (oldest first): only
/// reachable when the disk has been failing for a long time.
const MAX_GATED: usize = 65_536;

/// A batch: the highest voucher per channel and direction (`true`:
/// received), and the latest state of each request that changed (`None`:
/// it ended).
#[derive(Default)]
pub struct Batch {
    vouchers: HashMap<(ChannelId, bool), SignedVoucher>,
    requests: HashMap<RequestId, Option<Entry>>,
    credits: HashMap<ChannelId, (u128, u128)>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.vouchers.is_empty() && self.requests.is_empty() && self.credits.is_empty()
    }

    /// Writes the batch to `store` in one transaction.
    fn commit_to(&self, store: &Store) -> Result<(), StoreError> {
        store.commit(
            self.vouchers.iter().map(|((_, received), v)| (v, *received)),
            self.requests.iter(),
            self.credits.iter().map(|(c, v)| (*c, *v)),
        )
    }
}

/// A commit's result, for [`Committer::on_done`].
pub struct Committed {
    seq: u64,
    batch: Batch,
    result: Result<(), StoreError>,
}

/// The event loop's side of the group commit.
pub struct Committer {
    store: Arc<Store>,
    jobs: Option<std::sync::mpsc::SyncSender<(u64, Batch)>>,
    thread: Option<JoinHandle<()>>,
    /// Results of commits, for the event loop's `select!`.
    pub done: mpsc::Receiver<Committed>,
    pending: Batch,
    next_seq: u64,
    in_flight: Option<u64>,
    durable: u64,
    gated: VecDeque<(u64, ChannelId, Wire)>,
}

impl Committer {
    /// Starts the commit thread for `store`.
    pub fn new(store: Arc<Store>) -> Committer {
        Self::with_backup(store, None)
    }

    /// The same, and when `backup` names a file (and the node's key), the
    /// commit thread rewrites it with a channel backup after every commit
    /// that changed a voucher or a credit, and once at start. A backup that
    /// cannot be written is logged and tried again at the next commit; it
    /// never holds up the vouchers.
    pub fn with_backup(store: Arc<Store>, backup: Option<(PathBuf, NodeKey)>) -> Committer {
        let thread_store = store.clone();
        let write_backup = move |store: &Store| {
            if let Some((path, node)) = &backup {
                let written =
                    ChannelBackup::from_store(store, *node).map_err(BackupError::from).and_then(|b| b.write(path));
                if let Err(e) = written {
                    error!("cannot write the channel backup: {e}");
                }
            }
        };
        write_backup(&store);
        Self::with_commit(store, move |batch| {
            batch.commit_to(&thread_store)?;
            if !batch.vouchers.is_empty() || !batch.credits.is_empty() {
                write_backup(&thread_store);
            }
            Ok(())
        })
    }

    /// The same with the commit done by `commit` (tests inject disk faults).
    fn with_commit(store: Arc<Store>, commit: impl Fn(&Batch) -> Result<(), StoreError> + Send + 'static) -> Committer {
        // One commit runs at a time (the loop sends a batch only when the
        // last result is in), so both queues hold at most one item.
        let (jobs, rx) = std::sync::mpsc::sync_channel::<(u64, Batch)>(1);
        let (done_tx, done) = mpsc::channel(1);
        let thread = std::thread::Builder::new()
            .name("por-commit".into())
            .spawn(move || {
                while let Ok((seq, batch)) = rx.recv() {
                    let result = commit(&batch);
                    if result.is_err() {
                        std::thread::sleep(RETRY_AFTER);
                    }
                    if done_tx.blocking_send(Committed { seq, batch, result }).is_err() {
                        return;
                    }
                }
            })
            .expect("spawning the commit thread");
        Committer {
            store,
            jobs: Some(jobs),
            thread: Some(thread),
            done,
            pending: Batch::default(),
            next_seq: 1,
            in_flight: None,
            durable: 0,
            gated: VecDeque::new(),
        }
    }

    /// The sequence number the next commit to start will have.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The last commit known to have landed.
    pub fn durable(&self) -> u64 {
        self.durable
    }

    /// The store (for the rare synchronous writes: a channel's setup).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Queues a voucher for the next commit (only the highest per channel
    /// and direction is kept).
    pub fn write(&mut self, channel: ChannelId, received: bool, voucher: SignedVoucher) {
        match self.pending.vouchers.entry((channel, received)) {
            std::collections::hash_map::Entry::Occupied(mut e) => {
                if voucher.voucher.cumulative > e.get().voucher.cumulative {
                    e.insert(voucher);
                }
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(voucher);
            }
        }
    }

    /// Queues the state of a request for the next commit (`None`: it ended);
    /// a later write of the same request replaces it.
    pub fn write_request(&mut self, id: RequestId, entry: Option<Entry>) {
        self.pending.requests.insert(id, entry);
    }

    /// Queues a channel's credit (the peer's, ours) for the next commit.
    pub fn write_credit(&mut self, channel: ChannelId, credit: (u128, u128)) {
        self.pending.credits.insert(channel, credit);
    }

    /// The commit that makes everything written so far durable.
    fn covering(&self) -> u64 {
        if !self.pending.is_empty() { self.next_seq } else { self.in_flight.unwrap_or(self.durable) }
    }

    /// Returns `msg` if it may leave now; holds it otherwise. Acks (one per
    /// frame of requests) and sync acks wait for every voucher written
    /// before them; a response waits behind a held ack that accepted its
    /// request on the same channel, so the payer
    /// sees the ack first (a fast service would otherwise answer before the
    /// fsync ends). Only the server's own response can wait for its own
    /// commit: a relay's commit starts when the request passes, well before
    /// the answer comes back.
    pub fn gate(&mut self, channel: ChannelId, msg: Wire) -> Option<(ChannelId, Wire)> {
        let need = match &msg {
            // A refusal from below gives the upstream credit: the credit is
            // on disk before the upstream may spend it.
            Wire::Ack(_) | Wire::SyncAck(_) | Wire::Refused(_) => self.covering(),
            Wire::Response(r) => {
                let held = self.gated.iter().find(|(_, ch, m)| {
                    *ch == channel && matches!(m, Wire::Ack(a) if a.accepted.contains(&r.request_id))
                });
                match held {
                    Some((need, _, _)) => *need,
                    None => return Some((channel, msg)),
                }
            }
            _ => return Some((channel, msg)),
        };
        if need <= self.durable {
            return Some((channel, msg));
        }
        if self.gated.len() >= MAX_GATED {
            self.gated.pop_front();
            error!("more than {MAX_GATED} acks wait for the disk; dropping the oldest");
        }
        self.gated.push_back((need, channel, msg));
        None
    }

    /// Starts a commit of what is pending, unless one is running.
    pub fn kick(&mut self) {
        if self.in_flight.is_some() || self.pending.is_empty() {
            return;
        }
        let Some(jobs) = &self.jobs else { return };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.in_flight = Some(seq);
        if jobs.send((seq, std::mem::take(&mut self.pending))).is_err() {
            error!("the commit thread is gone; vouchers can no longer be made durable");
            self.jobs = None;
        }
    }

    /// A commit finished: returns the acks that may leave now (in the order
    /// they were held). Starts the next commit.
    pub fn on_done(&mut self, c: Committed) -> Vec<(ChannelId, Wire)> {
        self.in_flight = None;
        let mut released = Vec::new();
        match c.result {
            Ok(()) => {
                self.durable = c.seq;
                while self.gated.front().is_some_and(|(need, _, _)| *need <= self.durable) {
                    let (_, channel, msg) = self.gated.pop_front().expect("front exists");
                    released.push((channel, msg));
                }
            }
            Err(e) => {
                // The acks it held (and the responses behind them) wait for
                // the retry, which carries the same vouchers: dropping them
                // would leave the payer to its re-sends, whose budget a
                // long outage (a full disk) uses up, and the request stuck.
                let retry = self.next_seq;
                let mut held = 0;
                for g in self.gated.iter_mut().filter(|(need, _, _)| *need == c.seq) {
                    g.0 = retry;
                    held += 1;
                }
                error!("cannot persist vouchers ({e}); they are retried, {held} acks wait for them");
                // The vouchers go into the next batch; acks held for it (a
                // higher seq) wait for the retried vouchers too.
                for ((channel, received), v) in c.batch.vouchers {
                    self.write(channel, received, v);
                }
                // A request written since is newer than the failed write.
                for (id, entry) in c.batch.requests {
                    self.pending.requests.entry(id).or_insert(entry);
                }
                for (channel, credit) in c.batch.credits {
                    self.pending.credits.entry(channel).or_insert(credit);
                }
            }
        }
        self.kick();
        released
    }

    /// Commits everything pending and waits for it (shutdown). Acks still
    /// held are dropped: the node is going away.
    pub async fn flush(&mut self) {
        loop {
            if self.in_flight.is_none() {
                if self.pending.is_empty() || self.jobs.is_none() {
                    break;
                }
                self.kick();
            }
            match self.done.recv().await {
                Some(c) => {
                    let failed = c.result.is_err();
                    self.on_done(c);
                    if failed {
                        break;
                    }
                }
                None => break,
            }
        }
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use por_core::{Ack, Hash32, NodeSigner, RequestId, SeveranceNotice, Signer, Voucher};

    use super::*;

    fn voucher(s: &NodeSigner, channel: u64, cumulative: u128) -> SignedVoucher {
        Voucher { contract: "por.test".into(), channel: ChannelId(channel), payer: s.public(), cumulative }.sign(s)
    }

    fn ack(s: &NodeSigner, v: &SignedVoucher, n: u8) -> Wire {
        Wire::Ack(Ack::create(v.digest(), vec![RequestId([n; 32])], Vec::new(), s))
    }

    fn received(store: &Store, channel: u64) -> Option<u128> {
        store.load().unwrap().get(&ChannelId(channel))?.received.as_ref().map(|v| v.voucher.cumulative)
    }

    fn open() -> (tempfile::TempDir, Arc<Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("channels.redb")).unwrap());
        (dir, store)
    }

    #[tokio::test]
    async fn an_ack_waits_for_its_voucher_on_disk_and_nothing_else_waits() {
        let (_dir, store) = open();
        let mut c = Committer::new(store.clone());
        let s = NodeSigner::from_seed([7; 32]);
        let v = voucher(&s, 1, 10);
        c.write(ChannelId(1), true, v.clone());
        assert!(c.gate(ChannelId(1), ack(&s, &v, 1)).is_none(), "the ack is held");
        let notice = SeveranceNotice::create(RequestId([3; 32]), ChannelId(1), Hash32([0; 32]), &s);
        assert!(c.gate(ChannelId(1), Wire::Notice(notice)).is_some(), "a notice does not wait for the disk");
        assert_eq!(received(&store, 1), None, "nothing committed before the kick");
        c.kick();
        let done = c.done.recv().await.unwrap();
        let released = c.on_done(done);
        assert_eq!(released.len(), 1, "the ack leaves once the commit is done");
        assert!(matches!(released[0].1, Wire::Ack(_)));
        assert_eq!(received(&store, 1), Some(10));
        // Nothing pending: the next ack leaves at once.
        assert!(c.gate(ChannelId(1), ack(&s, &v, 4)).is_some());
    }

    #[tokio::test]
    async fn a_response_waits_behind_the_held_ack_of_its_own_request_only() {
        let (_dir, store) = open();
        let mut c = Committer::new(store);
        let s = NodeSigner::from_seed([7; 32]);
        let v = voucher(&s, 1, 10);
        c.write(ChannelId(1), true, v.clone());
        assert!(c.gate(ChannelId(1), ack(&s, &v, 1)).is_none());
        let response = |n: u8| Wire::Response(Box::new(por_core::Response::create(RequestId([n; 32]), vec![n], &s)));
        assert!(c.gate(ChannelId(1), response(1)).is_none(), "request 1's response waits for its ack");
        assert!(c.gate(ChannelId(1), response(2)).is_some(), "another request's response does not");
        assert!(c.gate(ChannelId(2), response(1)).is_some(), "nor one on another channel");
        c.kick();
        let done = c.done.recv().await.unwrap();
        let released = c.on_done(done);
        assert_eq!(released.len(), 2);
        assert!(matches!(released[0].1, Wire::Ack(_)) && matches!(released[1].1, Wire::Response(_)), "ack first");
    }

    #[tokio::test]
    async fn vouchers_written_during_a_commit_go_into_one_next_batch() {
        let commits = Arc::new(AtomicUsize::new(0));
        let (_dir, store) = open();
        let counted = commits.clone();
        let st = store.clone();
        let mut c = Committer::with_commit(store.clone(), move |b| {
            counted.fetch_add(1, Ordering::SeqCst);
            b.commit_to(&st)
        });
        let s = NodeSigner::from_seed([7; 32]);
        c.write(ChannelId(1), true, voucher(&s, 1, 10));
        c.kick();
        // While the first commit runs, three more vouchers and their acks.
        for (ch, amount) in [(1, 30), (1, 20), (2, 5)] {
            let v = voucher(&s, ch, amount);
            c.write(ChannelId(ch), true, v.clone());
            assert!(c.gate(ChannelId(ch), ack(&s, &v, amount as u8)).is_none());
            c.kick();
        }
        let done = c.done.recv().await.unwrap();
        let first = c.on_done(done);
        assert!(first.is_empty(), "those acks need the second commit");
        let done = c.done.recv().await.unwrap();
        let second = c.on_done(done);
        assert_eq!(second.len(), 3);
        assert_eq!(commits.load(Ordering::SeqCst), 2, "one commit for the three vouchers");
        assert_eq!(received(&store, 1), Some(30), "the highest voucher wins, 20 does not go back");
        assert_eq!(received(&store, 2), Some(5));
    }

    #[tokio::test]
    async fn a_failed_commit_holds_its_acks_until_the_retry_lands() {
        let (_dir, store) = open();
        let attempts = Arc::new(AtomicUsize::new(0));
        let seen = attempts.clone();
        let st = store.clone();
        let mut c = Committer::with_commit(store.clone(), move |b| {
            if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(StoreError::Io { op: "commit", detail: "disk full (injected)".into() });
            }
            b.commit_to(&st)
        });
        let s = NodeSigner::from_seed([7; 32]);
        let v = voucher(&s, 1, 10);
        c.write(ChannelId(1), true, v.clone());
        assert!(c.gate(ChannelId(1), ack(&s, &v, 1)).is_none());
        let response = Wire::Response(Box::new(por_core::Response::create(RequestId([1; 32]), vec![1], &s)));
        assert!(c.gate(ChannelId(1), response).is_none(), "the response waits behind its ack");
        let started = std::time::Instant::now();
        c.kick();
        let done = c.done.recv().await.unwrap();
        let failed = c.on_done(done);
        assert!(started.elapsed() >= RETRY_AFTER, "a failure is reported after the retry pause");
        assert!(failed.is_empty(), "the ack of an uncommitted voucher never leaves");
        assert_eq!(received(&store, 1), None);
        // The retry was started by on_done and carries the voucher; the ack
        // and the response behind it leave once it lands.
        let done = c.done.recv().await.unwrap();
        let retried = c.on_done(done);
        assert_eq!(retried.len(), 2, "the held ack and response leave with the retry");
        assert!(matches!(retried[0].1, Wire::Ack(_)) && matches!(retried[1].1, Wire::Response(_)));
        assert_eq!(received(&store, 1), Some(10), "the voucher reached the disk on the retry");
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn flush_commits_what_is_pending() {
        let (_dir, store) = open();
        let mut c = Committer::new(store.clone());
        let s = NodeSigner::from_seed([7; 32]);
        c.write(ChannelId(3), false, voucher(&s, 3, 99));
        c.flush().await;
        assert_eq!(store.load().unwrap()[&ChannelId(3)].sent.as_ref().unwrap().voucher.cumulative, 99);
    }

    #[tokio::test]
    async fn a_failed_commit_retries_its_requests_but_never_over_a_newer_write() {
        use por_core::protocol::inflight::{Entry, Hold};
        let (_dir, store) = open();
        let attempts = Arc::new(AtomicUsize::new(0));
        let seen = attempts.clone();
        let st = store.clone();
        let mut c = Committer::with_commit(store.clone(), move |b| {
            if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(StoreError::Io { op: "commit", detail: "disk full (injected)".into() });
            }
            b.commit_to(&st)
        });
        let s = NodeSigner::from_seed([7; 32]);
        let entry = |n: u8, bytes: u64| Entry {
            id: RequestId([n; 32]),
            server: s.public(),
            max_response_bytes: bytes,
            route_down: Vec::new(),
            up: None,
            down: None,
            origin: None,
            confirm: None,
            served: false,
            hold: Hold::default(),
        };
        let v = voucher(&s, 1, 10);
        c.write(ChannelId(1), true, v.clone());
        c.write_request(RequestId([1; 32]), Some(entry(1, 1)));
        c.write_request(RequestId([2; 32]), Some(entry(2, 1)));
        assert!(c.gate(ChannelId(1), ack(&s, &v, 1)).is_none(), "the ack waits for the request too");
        c.kick();
        // While the doomed commit runs, request 2 changes again.
        c.write_request(RequestId([2; 32]), Some(entry(2, 2)));
        let done = c.done.recv().await.unwrap();
        assert!(c.on_done(done).is_empty(), "the failed commit's ack waits");
        let done = c.done.recv().await.unwrap();
        assert_eq!(c.on_done(done).len(), 1, "and leaves with the retry");
        let mut kept = store.load_requests().unwrap();
        kept.sort_by_key(|e| e.id.0);
        assert_eq!(kept, vec![entry(1, 1), entry(2, 2)], "request 1 retried, request 2 at its newer state");
        assert_eq!(received(&store, 1), Some(10));
    }
}
