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
//!    to the queue at once. A late reply that still arrives and verifies is
//!    used.
//! 5. **Done**: the file is hashed whole once more, moved into the store and
//!    announced in the DHT: the fetcher becomes a provider.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use blake3::hazmat::ChainingValue;
use por_core::{Amount, NodeKey, Route};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::id::ContentId;
use super::store::{Partial, Store, StoreError};
use super::tree::block_count;
use super::wire::{FileRequest, MAX_BLOCKS_PER_REQUEST, response_allowance};
use exchange::request;
use por_node::handle::NodeHandle;

mod exchange;

/// How often verified blocks are made durable and recorded.
pub const PERSIST_EVERY: Duration = Duration::from_millis(200);

/// Where routes to a provider come from. The node plugs in its view of the
/// chain's channel graph ([`NodeHandle::routes_to`]); tests use [`FixedRoutes`].
pub trait RouteSource: Send + Sync + 'static {
    /// Routes from this node to `to` for requests of `body_bytes` with a
    /// response allowance of `max_response_bytes`, best first; empty when
    /// none is known.
    fn routes(&self, to: &NodeKey, body_bytes: u64, max_response_bytes: u64) -> Vec<Route>;
}

/// Routes given up front, per provider.
#[derive(Debug, Clone, Default)]
pub struct FixedRoutes {
    routes: HashMap<NodeKey, Vec<Route>>,
}

impl FixedRoutes {
    /// No routes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a route to the route's server.
    pub fn with(mut self, route: Route) -> Self {
        if let Some(s) = route.server().copied() {
            self.routes.entry(s).or_default().push(route);
        }
        self
    }
}

impl RouteSource for FixedRoutes {
    fn routes(&self, to: &NodeKey, _: u64, _: u64) -> Vec<Route> {
        self.routes.get(to).cloned().unwrap_or_default()
    }
}

/// Routes over the channel graph the node last read from the chain.
impl RouteSource for NodeHandle {
    fn routes(&self, to: &NodeKey, body_bytes: u64, max_response_bytes: u64) -> Vec<Route> {
        match self.routes_to(to, body_bytes, max_response_bytes, &por_node::routes::RouteLimits::default(), 3) {
            Ok(rs) => rs.into_iter().map(|r| r.route).collect(),
            Err(e) => {
                debug!(to = %to.peer_id(), "no route: {e}");
                Vec::new()
            }
        }
    }
}

/// How to fetch. Every field's doc ends with its default.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// The most to spend on this download, yocto: the sum of the route costs
    /// of every request sent. No default: the caller sets it.
    pub max_price: Amount,
    /// Providers to try besides those the DHT names. Default none.
    pub providers: Vec<NodeKey>,
    /// Requests in flight per provider. Default 4.
    pub per_provider_in_flight: usize,
    /// Requests in flight in all. Default 16.
    pub max_in_flight: usize,
    /// Blocks per request, 1 to 4. Default 4 (1 MiB).
    pub blocks_per_request: u32,
    /// How long a silent provider is skipped the first time (doubling on
    /// every repeat). Default 5 s.
    pub skip_for: Duration,
    /// Added to twice a route's bound to get a request's timeout. Default 3 s.
    pub grace: Duration,
    /// How long a DHT lookup for providers may take. Default 10 s.
    pub discover_timeout: Duration,
}

impl FetchOptions {
    /// Defaults, spending at most `max_price` yocto.
    pub fn new(max_price: Amount) -> Self {
        FetchOptions {
            max_price,
            providers: Vec::new(),
            per_provider_in_flight: 4,
            max_in_flight: 16,
            blocks_per_request: MAX_BLOCKS_PER_REQUEST,
            skip_for: Duration::from_secs(5),
            grace: Duration::from_secs(3),
            discover_timeout: Duration::from_secs(10),
        }
    }
}

/// A download's progress (what `por files get` shows).
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Progress {
    /// `starting`, `finding providers`, `fetching`, `verifying`, `done` or `failed`.
    pub state: String,
    /// The file's size, once authenticated.
    pub size: Option<u64>,
    /// Blocks in all.
    pub blocks: u64,
    /// Blocks verified (resumed ones included).
    pub verified_blocks: u64,
    /// Blocks found verified on disk when the download (re)started.
    pub resumed_blocks: u64,
    /// Blocks fetched, verified and recorded by this run.
    pub fetched_blocks: u64,
    /// Spent so far, yocto, as a decimal string.
    pub spent: String,
    /// Providers being fetched from.
    pub providers_active: usize,
    /// Providers skipped for now (silent).
    pub providers_skipped: usize,
    /// Providers dropped (bad data or do not hold it).
    pub providers_dropped: usize,
    /// Verified bytes per second in this run.
    pub bytes_per_sec: f64,
    /// Why it failed.
    pub error: Option<String>,
    /// A stable code of why it failed (see [`crate::FilesError::code`]).
    pub code: Option<String>,
}

/// What a finished download did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchReport {
    /// The file's size.
    pub size: u64,
    /// Blocks in all.
    pub blocks: u64,
    /// Blocks that were already verified on disk.
    pub resumed_blocks: u64,
    /// Blocks fetched by this run.
    pub fetched_blocks: u64,
    /// What this run spent, yocto.
    pub spent: Amount,
    /// Providers that served verified blocks.
    pub providers_used: Vec<NodeKey>,
    /// Providers dropped, with the reason.
    pub dropped: Vec<(NodeKey, String)>,
}

/// Why a download stopped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// No provider is known.
    #[error(
        "no provider of {0} found in the DHT and none given: check the id, make sure this node has peers \
         (`por status`), or name a provider with --provider PEER_ID"
    )]
    NoProviders(ContentId),
    /// Providers are known but none can be reached over the channel graph.
    #[error("{0} provider(s) found but no route to any of them: open a channel towards one (`por channel open`)")]
    NoRoute(usize),
    /// Every provider failed.
    #[error("no provider left for {id}: {}", reasons.join("; "))]
    NoneLeft {
        /// The file.
        id: ContentId,
        /// What happened to each provider.
        reasons: Vec<String>,
    },
    /// The next request would go over the price limit.
    #[error(
        "price limit reached: spent {spent} of {limit} yocto with {remaining} block(s) to go; \
         verified blocks are kept, run again with a higher --max-price to resume"
    )]
    PriceLimit {
        /// Spent by this run.
        spent: Amount,
        /// The limit.
        limit: Amount,
        /// Blocks still missing.
        remaining: u64,
    },
    /// The store failed.
    #[error("file store: {0}")]
    Store(String),
    /// The file does not fit in the store's quota
    /// ([`StoreError::QuotaExceeded`]). No block was asked for: at most the
    /// tail, which tells the size, was paid.
    #[error("{0}")]
    QuotaExceeded(String),
    /// The disk has no room ([`StoreError::DiskFull`]). What was verified
    /// is kept; run again once there is room to resume.
    #[error("{0}")]
    DiskFull(String),
    /// The node stopped.
    #[error("the node has stopped")]
    Stopped,
}

impl FetchError {
    /// A stable code for the API: `no_providers`, `no_route`, `none_left`,
    /// `price_limit`, `quota_exceeded`, `disk_full`, `store_failed` or `stopped`.
    pub fn code(&self) -> &'static str {
        match self {
            FetchError::NoProviders(_) => "no_providers",
            FetchError::NoRoute(_) => "no_route",
            FetchError::NoneLeft { .. } => "none_left",
            FetchError::PriceLimit { .. } => "price_limit",
            FetchError::Store(_) => "store_failed",
            FetchError::QuotaExceeded(_) => "quota_exceeded",
            FetchError::DiskFull(_) => "disk_full",
            FetchError::Stopped => "stopped",
        }
    }
}

impl From<StoreError> for FetchError {
    fn from(e: StoreError) -> Self {
        match e {
            e @ StoreError::QuotaExceeded { .. } => FetchError::QuotaExceeded(e.to_string()),
            e @ StoreError::DiskFull(_) => FetchError::DiskFull(e.to_string()),
            e => FetchError::Store(e.to_string()),
        }
    }
}

/// What the fetcher needs from the files subsystem.
pub(crate) struct Ctx {
    pub store: Arc<Store>,
    pub node: NodeHandle,
    pub routes: Arc<dyn RouteSource>,
    pub key: NodeKey,
    /// Blocks fetched, verified and recorded, over all downloads.
    pub blocks_fetched: Arc<AtomicU64>,
}

#[derive(Debug, Clone, PartialEq)]
enum PState {
    Active,
    Skipped { until: Instant },
    Dropped(String),
}

struct Provider {
    key: NodeKey,
    route: Route,
    cost: Amount,
    bound_ms: u64,
    in_flight: usize,
    state: PState,
    served: u64,
    last_problem: Option<String>,
    /// Times it was skipped.
    skips: u32,
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

enum Outcome {
    Verified {
        size: u64,
        first: u64,
        data: Vec<u8>,
        cvs: Vec<ChainingValue>,
    },
    /// The reply does not verify: drop the provider.
    Bad(String),
    /// The provider answered that it cannot serve this: drop it.
    Refused(String),
    /// No usable outcome in time, a notice, or a refused route: skip it.
    Silent(String),
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
        data: Vec<u8>,
        cvs: Vec<ChainingValue>,
    ) {
        let writer = writer.clone();
        let fetched = self.fetched.clone();
        let total = self.ctx.blocks_fetched.clone();
        writes.spawn_blocking(move || {
            let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
            w.partial.write(first, &data, &cvs)?;
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

    /// Asks the DHT (and the caller's list) for providers; keeps those with a
    /// route. Returns how many are new.
    async fn discover(&mut self) -> Result<usize, FetchError> {
        self.last_discovery = Some(Instant::now());
        let mut keys: Vec<NodeKey> = self.opts.providers.clone();
        match tokio::time::timeout(self.opts.discover_timeout, self.ctx.node.find_providers(self.id.provider_key()))
            .await
        {
            Ok(Ok(peers)) => keys.extend(peers.iter().filter_map(|p| NodeKey::from_peer_id_bytes(&p.to_bytes()))),
            Ok(Err(_)) => return Err(FetchError::Stopped),
            Err(_) => debug!(id = %self.id, "provider lookup timed out"),
        }
        let allowance = response_allowance(self.bpr());
        let body = FileRequest::Range { id: self.id, first: u64::MAX, count: u32::MAX }.encode().len() as u64;
        let mut new = 0;
        let mut unroutable = 0;
        for key in keys {
            if key == self.ctx.key || self.known.contains(&key) {
                continue;
            }
            let best = self
                .ctx
                .routes
                .routes(&key, body, allowance)
                .into_iter()
                .filter(|r| r.server() == Some(&key))
                .filter_map(|r| r.quote(body, allowance).ok().map(|q| (q.total(), q.bound_ms(), r)))
                .min_by_key(|(cost, bound, _)| (*cost, *bound));
            let Some((cost, bound_ms, route)) = best else {
                unroutable += 1;
                continue;
            };
            self.known.insert(key);
            self.providers.push(Provider {
                key,
                route,
                cost,
                bound_ms,
                in_flight: 0,
                state: PState::Active,
                served: 0,
                last_problem: None,
                skips: 0,
            });
            new += 1;
        }
        if self.providers.is_empty() {
            return Err(if unroutable > 0 {
                FetchError::NoRoute(unroutable)
            } else {
                FetchError::NoProviders(self.id)
            });
        }
        Ok(new)
    }

    /// Gets the authenticated size and the last block from the cheapest
    /// provider that proves it.
    async fn fetch_tail(&mut self) -> Result<(u64, u64, Vec<u8>, Vec<ChainingValue>), FetchError> {
        loop {
            self.unskip();
            let pick = (0..self.providers.len())
                .filter(|&i| self.providers[i].state == PState::Active)
                .min_by_key(|&i| (self.providers[i].cost, self.providers[i].bound_ms));
            let Some(i) = pick else {
                self.stuck(1).await?;
                continue;
            };
            if self.spent + self.providers[i].cost > self.opts.max_price {
                return Err(FetchError::PriceLimit { spent: self.spent, limit: self.opts.max_price, remaining: 1 });
            }
            let req = self.send(i, Want::Tail);
            loop {
                match self.rx.recv().await {
                    Some(Event::Slow(r)) if r == req => {}
                    Some(Event::Slow(_)) => {}
                    Some(Event::Done(r, out)) if r == req => {
                        self.requests.remove(&r);
                        self.providers[i].in_flight -= 1;
                        match out {
                            Outcome::Verified { size, first, data, cvs } => {
                                self.providers[i].served += 1;
                                return Ok((size, first, data, cvs));
                            }
                            Outcome::Bad(w) | Outcome::Refused(w) => self.providers[i].state = PState::Dropped(w),
                            Outcome::Silent(w) => self.skip(i, w),
                        }
                        break;
                    }
                    Some(Event::Done(..)) => {}
                    None => return Err(FetchError::Stopped),
                }
            }
        }
    }

    /// Nothing could be sent: wait for a skipped provider, look for new ones,
    /// or give up with the reason.
    async fn stuck(&mut self, remaining: u64) -> Result<(), FetchError> {
        let usable: Vec<&Provider> = self.providers.iter().filter(|p| !matches!(p.state, PState::Dropped(_))).collect();
        if usable.iter().any(|p| p.state == PState::Active) {
            // Active providers exist but none was affordable.
            return Err(FetchError::PriceLimit { spent: self.spent, limit: self.opts.max_price, remaining });
        }
        let wake = usable
            .iter()
            .filter_map(|p| match p.state {
                PState::Skipped { until, .. } => Some(until),
                _ => None,
            })
            .min();
        let rediscover = self.last_discovery.is_none_or(|t| t.elapsed() >= Duration::from_secs(2));
        if rediscover {
            let before = self.providers.len();
            let _ = self.discover().await;
            if self.providers.len() > before {
                return Ok(());
            }
        }
        if let Some(until) = wake {
            tokio::time::sleep_until(until.into()).await;
            self.unskip();
            return Ok(());
        }
        Err(FetchError::NoneLeft {
            id: self.id,
            reasons: self
                .providers
                .iter()
                .map(|p| {
                    let why = match &p.state {
                        PState::Dropped(w) => w.clone(),
                        _ => p.last_problem.clone().unwrap_or_default(),
                    };
                    format!("{}: {why}", p.key.peer_id())
                })
                .collect(),
        })
    }

    fn unskip(&mut self) {
        let now = Instant::now();
        for p in &mut self.providers {
            if let PState::Skipped { until, .. } = p.state
                && until <= now
            {
                p.state = PState::Active;
            }
        }
    }

    /// Skips provider `i` for a while. Only a failure after the provider
    /// was given another chance doubles the pause (the requests that were
    /// in flight when it went silent count once), up to 16 times.
    fn skip(&mut self, i: usize, why: String) {
        let p = &mut self.providers[i];
        p.last_problem = Some(why);
        let times = match p.state {
            PState::Dropped(_) | PState::Skipped { .. } => return,
            PState::Active => p.skips + 1,
        };
        p.skips = times;
        let d = self.opts.skip_for * 2u32.pow(times.saturating_sub(1).min(4));
        debug!(provider = %p.key.peer_id(), times, pause = ?d, "skipped: {}", p.last_problem.as_deref().unwrap_or(""));
        p.state = PState::Skipped { until: Instant::now() + d };
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
