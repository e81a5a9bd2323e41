//! What a fetch is asked to do and what it tells: its options, its
//! progress, its report and why it stopped.

use std::time::Duration;

use por_core::{Amount, NodeKey};
use serde::Serialize;

use super::super::id::ContentId;
use super::super::store::StoreError;
use super::super::wire::MAX_BLOCKS_PER_REQUEST;

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
