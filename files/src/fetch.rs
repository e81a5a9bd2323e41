//! The fetcher: finds providers, picks a route to each, and fetches block
//! ranges as paid PoR requests from several providers at once.
//!
//! 1. **Providers** come from the DHT's provider records and from the caller;
//!    a [`RouteSource`] gives routes to each over the channel graph, and the
//!    cheapest route is kept.
//! 2. **Size**: unless an unfinished download already knows it, the first
//!    request asks a provider for the file's *tail* (the last block with its
//!    proof), which authenticates the size (see [`super::tree`]).
//! 3. **Blocks**: missing blocks are cut into ranges of up to
//!    [`FetchOptions::blocks_per_request`] and sent to the least loaded,
//!    cheapest provider with room, never past [`FetchOptions::max_price`]
//!    (the sum of the route costs of every request sent). Each reply is
//!    verified against the content id before anything is written; blocks are
//!    written to the partial file and recorded as verified every
//!    [`PERSIST_EVERY`], so an interrupted download resumes from them.
//! 4. **Failures**: a provider whose reply does not verify (or that says it
//!    does not hold the file) is **dropped** for this download. One that
//!    goes silent — a severance notice, a late payment (its deadline passed),
//!    no outcome within twice the bound plus a grace, or a refused route — is
//!    **skipped** for a while (doubling on each repeat); its range goes back
//!    to the queue at once. A route that answers *busy* (a node at its limit
//!    for a neighbour) only pauses the provider for [`BUSY_PAUSE`]. A late
//!    reply that still arrives and verifies is used.
//! 5. **Done**: the verified blocks' CVs are checked to hash to the id (the
//!    data itself was hashed once, when it was verified), the file is moved
//!    into the store and announced in the DHT: the fetcher becomes a
//!    provider.
//!
//! A response body is decoded in place and its blocks written from it: the
//! fetcher copies no block between the node's delivery and the disk.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use blake3::hazmat::ChainingValue;
use por_core::{Amount, NodeKey};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use super::id::ContentId;
use super::store::{Partial, Store};
use super::tree::block_count;
use super::wire::{FileRequest, MAX_BLOCKS_PER_REQUEST, response_allowance};
use exchange::request;
use por_node::handle::NodeHandle;
use providers::{PState, Provider};

pub use report::{FetchError, FetchOptions, FetchReport, Progress};
pub use routes::{FixedRoutes, RouteSource};

mod exchange;
mod providers;
mod report;
mod routes;

/// How often verified blocks are made durable and recorded.
pub const PERSIST_EVERY: Duration = Duration::from_millis(200);
/// How long a provider whose route answered busy gets no new request: a
/// node's limit for a neighbour frees as the requests in flight end, so
/// this is back-pressure, not silence (no doubling, no skip counted).
pub const BUSY_PAUSE: Duration = Duration::from_millis(50);

/// What the fetcher needs from the files subsystem.
pub(crate) struct Ctx {
    pub store: Arc<Store>,
    pub node: NodeHandle,
    pub routes: Arc<dyn RouteSource>,
    pub key: NodeKey,
    /// Blocks fetched, verified and recorded, over all downloads.
    pub blocks_fetched: Arc<AtomicU64>,
}

/// What one request is for.
#[derive(Debug, Clone, Copy)]
enum Want {
    Tail,
    Range { size: u64, first: u64, count: u32 },
}

struct InFlight {
    provider: usize,
    want: Want,
    requeued: bool,
}

/// Verified blocks, left inside the response they came in: the response
/// body is moved from the node to the writer, never copied.
struct Blocks {
    /// The response body.
    bytes: Vec<u8>,
    /// Where the blocks are in it.
    at: Range<usize>,
}

impl Blocks {
    fn data(&self) -> &[u8] {
        &self.bytes[self.at.clone()]
    }
}

enum Outcome {
    Verified {
        size: u64,
        first: u64,
        data: Blocks,
        cvs: Vec<ChainingValue>,
    },
    /// The reply does not verify: drop the provider.
    Bad(String),
    /// The provider answered that it cannot serve this: drop it.
    Refused(String),
    /// No usable outcome in time, a notice, or a refused route: skip it.
    Silent(String),
    /// A node of the route is at its limit for its neighbour (back-pressure):
    /// send the provider nothing for [`BUSY_PAUSE`], then go on.
    Busy(String),
}

enum Event {
    Slow(u64),
    Done(u64, Outcome),
}

struct Writer {
    partial: Partial,
    last_persist: Instant,
}

/// Downloads `id` into the store.
pub(crate) async fn fetch(
    ctx: &Ctx,
    id: ContentId,
    opts: &FetchOptions,
    progress: &watch::Sender<Progress>,
) -> Result<FetchReport, FetchError> {
    if ctx.store.has(&id) {
        let size = ctx.store.outboard(&id)?.size();
        let n = block_count(size);
        progress.send_modify(|p| {
            p.state = "done".into();
            p.size = Some(size);
            p.blocks = n;
            p.verified_blocks = n;
            p.resumed_blocks = n;
        });
        return Ok(FetchReport {
            size,
            blocks: n,
            resumed_blocks: n,
            fetched_blocks: 0,
            spent: 0,
            providers_used: Vec::new(),
            dropped: Vec::new(),
        });
    }
    let (tx, rx) = mpsc::channel(256);
    let mut f = Fetch {
        ctx,
        id,
        opts,
        providers: Vec::new(),
        known: HashSet::new(),
        spent: 0,
        tx,
        rx,
        next_req: 0,
        requests: HashMap::new(),
        progress,
        started: Instant::now(),
        last_discovery: None,
        fetched: Arc::new(AtomicU64::new(0)),
    };
    let r = f.run().await;
    if let Err(e) = &r {
        progress.send_modify(|p| {
            p.state = "failed".into();
            p.error = Some(e.to_string());
            p.code = Some(e.code().into());
            p.spent = f.spent.to_string();
        });
    }
    r
}

struct Fetch<'a> {
    ctx: &'a Ctx,
    id: ContentId,
    opts: &'a FetchOptions,
    providers: Vec<Provider>,
    known: HashSet<NodeKey>,
    spent: Amount,
    tx: mpsc::Sender<Event>,
    rx: mpsc::Receiver<Event>,
    next_req: u64,
    requests: HashMap<u64, InFlight>,
    progress: &'a watch::Sender<Progress>,
    started: Instant,
    last_discovery: Option<Instant>,
    fetched: Arc<AtomicU64>,
}

impl Fetch<'_> {
    fn bpr(&self) -> u32 {
        self.opts.blocks_per_request.clamp(1, MAX_BLOCKS_PER_REQUEST)
    }

    async fn run(&mut self) -> Result<FetchReport, FetchError> {
        let resuming = self.ctx.store.partial_size(&self.id);
        // A store with no room left refuses before anything is paid; a new
        // download's whole size is reserved once the tail has told it
        // (`Store::partial`), before any block is asked for.
        if resuming.is_none() {
            self.ctx.store.check_room()?;
        }
        self.progress.send_modify(|p| p.state = "finding providers".into());
        self.discover().await?;
        let (size, tail) = match resuming {
            Some(s) => (s, None),
            None => {
                let (size, first, data, cvs) = self.fetch_tail().await?;
                (size, Some((first, data, cvs)))
            }
        };
        let n = block_count(size);
        let store = self.ctx.store.clone();
        let id = self.id;
        let partial = tokio::task::spawn_blocking(move || store.partial(&id, size))
            .await
            .map_err(|e| FetchError::Store(e.to_string()))??;
        let mut verified: Vec<bool> = (0..n).map(|i| partial.is_verified(i)).collect();
        let resumed = partial.verified();
        info!(id = %self.id, size, blocks = n, resumed, "fetching");
        let writer = Arc::new(Mutex::new(Writer { partial, last_persist: Instant::now() }));
        let mut writes = tokio::task::JoinSet::new();
        if let Some((first, data, cvs)) = tail {
            verified[first as usize] = true;
            self.write(&writer, &mut writes, first, data, cvs);
        }
        let mut missing: BTreeSet<u64> = (0..n).filter(|&i| !verified[i as usize]).collect();
        self.progress.send_modify(|p| {
            p.state = "fetching".into();
            p.size = Some(size);
            p.blocks = n;
            p.resumed_blocks = resumed;
        });
        let mut remaining = missing.len() as u64;
        while remaining > 0 {
            self.fill(size, &mut missing);
            if self.requests.is_empty() {
                self.stuck(remaining).await?;
                continue;
            }
            let ev = tokio::time::timeout(Duration::from_millis(250), self.rx.recv()).await;
            match ev {
                Ok(Some(Event::Slow(req))) => self.on_slow(req, &verified, &mut missing),
                Ok(Some(Event::Done(req, out))) => {
                    let Some(fl) = self.requests.remove(&req) else { continue };
                    self.providers[fl.provider].in_flight -= 1;
                    match out {
                        Outcome::Verified { first, data, cvs, .. } => {
                            self.providers[fl.provider].served += cvs.len() as u64;
                            let mut new = false;
                            for k in 0..cvs.len() as u64 {
                                let i = (first + k) as usize;
                                if !verified[i] {
                                    verified[i] = true;
                                    remaining -= 1;
                                    new = true;
                                }
                                missing.remove(&(first + k));
                            }
                            if new {
                                self.write(&writer, &mut writes, first, data, cvs);
                            }
                        }
                        Outcome::Bad(why) | Outcome::Refused(why) => {
                            warn!(id = %self.id, provider = %self.providers[fl.provider].key.peer_id(), "dropped: {why}");
                            self.providers[fl.provider].state = PState::Dropped(why);
                            self.requeue(&fl, &verified, &mut missing);
                        }
                        Outcome::Silent(why) => {
                            self.skip(fl.provider, why);
                            self.requeue(&fl, &verified, &mut missing);
                        }
                        Outcome::Busy(why) => {
                            self.pause(fl.provider, why);
                            self.requeue(&fl, &verified, &mut missing);
                        }
                    }
                }
                Ok(None) => return Err(FetchError::Stopped),
                Err(_) => {}
            }
            while let Some(r) = writes.try_join_next() {
                r.map_err(|e| FetchError::Store(e.to_string()))??;
            }
            self.report(n, n - remaining, resumed);
        }
        while let Some(r) = writes.join_next().await {
            r.map_err(|e| FetchError::Store(e.to_string()))??;
        }
        self.progress.send_modify(|p| p.state = "verifying".into());
        let w = Arc::try_unwrap(writer).map_err(|_| FetchError::Store("a write is still running".into()))?;
        let mut w = w.into_inner().unwrap_or_else(|e| e.into_inner());
        let counted = w.partial.persist()?;
        self.count(counted);
        let store = self.ctx.store.clone();
        let name = self.id.to_hex();
        tokio::task::spawn_blocking(move || store.finish(w.partial, &name))
            .await
            .map_err(|e| FetchError::Store(e.to_string()))??;
        if let Err(e) = self.ctx.node.provide(self.id.provider_key()).await {
            warn!(id = %self.id, "cannot announce the fetched file: {e}");
        }
        self.report(n, n, resumed);
        self.progress.send_modify(|p| p.state = "done".into());
        Ok(FetchReport {
            size,
            blocks: n,
            resumed_blocks: resumed,
            fetched_blocks: self.fetched.load(Ordering::Relaxed),
            spent: self.spent,
            providers_used: self.providers.iter().filter(|p| p.served > 0).map(|p| p.key).collect(),
            dropped: self
                .providers
                .iter()
                .filter_map(|p| match &p.state {
                    PState::Dropped(w) => Some((p.key, w.clone())),
                    _ => None,
                })
                .collect(),
        })
    }

    fn count(&self, blocks: u64) {
        self.fetched.fetch_add(blocks, Ordering::Relaxed);
        self.ctx.blocks_fetched.fetch_add(blocks, Ordering::Relaxed);
    }

    /// Writes verified blocks off the async threads; records them every
    /// [`PERSIST_EVERY`].
    fn write(
        &self,
        writer: &Arc<Mutex<Writer>>,
        writes: &mut tokio::task::JoinSet<Result<(), FetchError>>,
        first: u64,
        data: Blocks,
        cvs: Vec<ChainingValue>,
    ) {
        let writer = writer.clone();
        let fetched = self.fetched.clone();
        let total = self.ctx.blocks_fetched.clone();
        writes.spawn_blocking(move || {
            let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
            w.partial.write(first, data.data(), &cvs)?;
            if w.last_persist.elapsed() >= PERSIST_EVERY {
                let counted = w.partial.persist()?;
                w.last_persist = Instant::now();
                fetched.fetch_add(counted, Ordering::Relaxed);
                total.fetch_add(counted, Ordering::Relaxed);
            }
            Ok(())
        });
    }

    fn report(&self, n: u64, verified: u64, resumed: u64) {
        let fetched = self.fetched.load(Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let bytes = (verified - resumed.min(verified)) as f64 * super::tree::BLOCK_SIZE as f64;
        let (mut active, mut skipped, mut dropped) = (0, 0, 0);
        for p in &self.providers {
            match p.state {
                PState::Active => active += 1,
                PState::Skipped { .. } => skipped += 1,
                PState::Dropped(_) => dropped += 1,
            }
        }
        self.progress.send_modify(|p| {
            p.blocks = n;
            p.verified_blocks = verified;
            p.fetched_blocks = fetched;
            p.spent = self.spent.to_string();
            p.providers_active = active;
            p.providers_skipped = skipped;
            p.providers_dropped = dropped;
            p.bytes_per_sec = bytes / secs;
        });
    }

    fn on_slow(&mut self, req: u64, verified: &[bool], missing: &mut BTreeSet<u64>) {
        let Some(fl) = self.requests.get(&req) else { return };
        let p = fl.provider;
        self.skip(p, "its deadline passed (late payment)".into());
        if let Some(fl) = self.requests.get_mut(&req)
            && !fl.requeued
        {
            fl.requeued = true;
            if let Want::Range { first, count, .. } = fl.want {
                for i in first..first + count as u64 {
                    if !verified[i as usize] {
                        missing.insert(i);
                    }
                }
            }
        }
    }

    fn requeue(&self, fl: &InFlight, verified: &[bool], missing: &mut BTreeSet<u64>) {
        if fl.requeued {
            return;
        }
        if let Want::Range { first, count, .. } = fl.want {
            for i in first..first + count as u64 {
                if !verified[i as usize] {
                    missing.insert(i);
                }
            }
        }
    }

    /// Sends requests while a provider has room and the price allows.
    fn fill(&mut self, size: u64, missing: &mut BTreeSet<u64>) {
        self.unskip();
        while !missing.is_empty() && self.requests.len() < self.opts.max_in_flight {
            let limit = self.opts.max_price;
            let cap = self.opts.per_provider_in_flight;
            let pick = (0..self.providers.len())
                .filter(|&i| {
                    let p = &self.providers[i];
                    p.state == PState::Active && p.in_flight < cap && self.spent + p.cost <= limit
                })
                .min_by_key(|&i| (self.providers[i].in_flight, self.providers[i].cost));
            let Some(i) = pick else { return };
            let first = *missing.iter().next().expect("not empty");
            let mut count = 0u32;
            while count < self.bpr() && missing.remove(&(first + count as u64)) {
                count += 1;
            }
            self.send(i, Want::Range { size, first, count });
        }
    }

    fn send(&mut self, provider: usize, want: Want) -> u64 {
        let req = self.next_req;
        self.next_req += 1;
        let bpr = self.bpr();
        let p = &mut self.providers[provider];
        p.in_flight += 1;
        self.spent += p.cost;
        self.requests.insert(req, InFlight { provider, want, requeued: false });
        let body = match want {
            Want::Tail => FileRequest::Tail { id: self.id },
            Want::Range { first, count, .. } => FileRequest::Range { id: self.id, first, count },
        }
        .encode();
        let allowance = response_allowance(match want {
            Want::Tail => 1,
            Want::Range { .. } => bpr,
        });
        let timeout = Duration::from_millis(p.bound_ms.saturating_mul(2)) + self.opts.grace;
        let (node, route, id, tx) = (self.ctx.node.clone(), p.route.clone(), self.id, self.tx.clone());
        tokio::spawn(async move {
            let out = request(node, route, body, allowance, id, want, timeout, req, &tx).await;
            let _ = tx.send(Event::Done(req, out)).await;
        });
        req
    }
}
