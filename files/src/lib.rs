//! # por-files: file sharing over PoR
//!
//! Content-addressed files whose blocks
//! are served as ordinary paid PoR requests, so that a data set is provably
//! *served*, not only stored.
//!
//! - [`id`]: [`ContentId`], a file's BLAKE3 hash;
//! - [`tree`]: BLAKE3's tree cut into 256 KiB blocks, range proofs and their
//!   verification (every block is checked against the id before it is
//!   written or more is paid for);
//! - [`wire`]: the `files` service's request and reply;
//! - [`store`]: complete and partial files under `<data dir>/files/`;
//! - [`space`]: the store's quota and the free space it leaves on disk;
//! - `folders` (private): which paths `add` may read (the share folders) and
//!   `get` may write (the download folder), never the data directory;
//! - [`manifest`]: directories as a manifest file;
//! - [`service`]: the provider side;
//! - [`fetch`]: the fetcher (providers from the DHT, routes from a
//!   [`RouteSource`], parallel paid requests within a price, resume);
//! - [`api`]: the HTTP API under `/files` (the `por` binary mounts it
//!   beside the node's own routes; `por files` is its CLI).
//!
//! [`Files`] ties them to a node: it serves the store under the `files`
//! service, announces what it holds as Kademlia provider records, and runs
//! downloads. It does not pick routes itself (the [`RouteSource`] does) nor
//! decide what the network charges (the routes' edges do).

pub mod api;
pub mod fetch;
mod folders;
pub mod id;
pub mod manifest;
pub mod service;
pub mod space;
pub mod store;
pub mod tree;
pub mod wire;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

pub use fetch::{FetchError, FetchOptions, FetchReport, FixedRoutes, Progress, RouteSource};
pub use id::ContentId;
pub use manifest::{Manifest, ManifestEntry, ManifestError};
pub use space::StoreLimits;
pub use store::{ProvenRange, Store, StoreError, StoredFile};

use por_node::handle::NodeHandle;

/// Settings of the files subsystem. Every field's doc ends with its default.
#[derive(Debug, Clone)]
pub struct FilesConfig {
    /// Where the store lives. Default `<node data dir>/files`.
    pub dir: PathBuf,
    /// The node's data directory (its node key, account keys and channel
    /// store): [`Files::add`] refuses any path inside it, or containing it,
    /// and [`Files::get`] never writes into it. Default the data directory
    /// given to [`FilesConfig::new`].
    pub data_dir: PathBuf,
    /// The folders [`Files::add`] may read from: a path is added only if it
    /// resolves (symbolic links followed) inside one of them. Default none:
    /// every add is refused, naming this setting.
    pub share_dirs: Vec<PathBuf>,
    /// The folder [`Files::get`] writes its output under (created if
    /// missing): an output path is relative to it, or absolute inside it.
    /// Default none: a download with an output path is refused, naming this
    /// setting (without one, the file stays in the store).
    pub download_dir: Option<PathBuf>,
    /// The store's disk quota and the free space it leaves on its
    /// filesystem. Default [`StoreLimits::default`] (10 GiB, 256 MiB).
    pub limits: StoreLimits,
    /// How often every held file is announced again in the DHT (records
    /// are lost when peers restart). Default 10 minutes.
    pub announce_every: Duration,
    /// **Test fault, never set it in production**: serve every block with a
    /// byte flipped, so fetchers must catch it. Default false.
    pub test_fault_corrupt_blocks: bool,
}

impl FilesConfig {
    /// Defaults for a node whose data directory is `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        FilesConfig {
            dir: data_dir.join("files"),
            data_dir: data_dir.to_path_buf(),
            share_dirs: Vec::new(),
            download_dir: None,
            limits: StoreLimits::default(),
            announce_every: Duration::from_secs(600),
            test_fault_corrupt_blocks: false,
        }
    }
}

/// An operation on files failed.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// The store failed (the message names the path).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A path to add is not usable.
    #[error("{0}")]
    BadPath(String),
    /// A path is outside the folders it must be in: a path to add outside
    /// the share folders, or that is, or contains, the node's data directory
    /// (whose keys must never be shared); an output outside the download
    /// folder. The message names the folder and the setting.
    #[error("{0}")]
    PathNotAllowed(String),
    /// An output path exists already; nothing is overwritten.
    #[error("{0}")]
    Exists(String),
    /// A directory's manifest is unusable.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A download failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The node has stopped.
    #[error("the node has stopped")]
    Stopped,
}

impl FilesError {
    /// A stable code for the API (`{"error", "code"}`): `path_not_allowed`,
    /// `exists`, `bad_request`, `quota_exceeded`, `disk_full`, `stopped`, or
    /// the fetch's (see [`FetchError::code`]); `failed` for the rest.
    pub fn code(&self) -> &'static str {
        match self {
            FilesError::PathNotAllowed(_) => "path_not_allowed",
            FilesError::Exists(_) => "exists",
            FilesError::BadPath(_) | FilesError::Manifest(_) => "bad_request",
            FilesError::Store(StoreError::QuotaExceeded { .. }) => "quota_exceeded",
            FilesError::Store(StoreError::DiskFull(_)) => "disk_full",
            FilesError::Store(_) => "failed",
            FilesError::Fetch(e) => e.code(),
            FilesError::Stopped => "stopped",
        }
    }
}

/// What [`Files::add`] added.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Added {
    /// The content id (of the manifest, for a directory).
    #[schema(value_type = String)]
    pub id: ContentId,
    /// Bytes added (all files, for a directory).
    pub size: u64,
    /// Files added.
    pub files: usize,
    /// Whether it is a directory.
    pub dir: bool,
}

/// A download the node runs in the background (API and CLI).
#[derive(Clone)]
pub struct Job {
    /// Its progress.
    pub progress: watch::Receiver<Progress>,
}

/// The files subsystem of one node. Cheap to clone.
#[derive(Clone)]
pub struct Files {
    ctx: Arc<fetch::Ctx>,
    folders: Arc<folders::Folders>,
    jobs: Arc<Mutex<HashMap<ContentId, Job>>>,
}

impl Files {
    /// Opens the store, serves it as the `files` service on `node`, announces
    /// what it holds, and fetches with routes from `routes`.
    pub async fn start(
        config: FilesConfig,
        node: NodeHandle,
        routes: Arc<dyn RouteSource>,
    ) -> Result<Files, FilesError> {
        let store = Arc::new(Store::open_with_limits(&config.dir, config.limits)?);
        let folders =
            Arc::new(folders::Folders::new(config.share_dirs, config.download_dir, &config.data_dir, &config.dir));
        if config.test_fault_corrupt_blocks {
            warn!("files: TEST FAULT ON: every block served is corrupted");
        }
        let svc = service::FilesService::new(store.clone(), config.test_fault_corrupt_blocks);
        node.serve(wire::SERVICE, Arc::new(svc)).await.map_err(|_| FilesError::Stopped)?;
        let key = node.key();
        let ctx = Arc::new(fetch::Ctx { store, node, routes, key, blocks_fetched: Arc::new(AtomicU64::new(0)) });
        let files = Files { ctx, folders, jobs: Arc::default() };
        let weak = Arc::downgrade(&files.ctx);
        let every = config.announce_every;
        tokio::spawn(async move {
            loop {
                let Some(ctx) = weak.upgrade() else { return };
                for f in ctx.store.list().into_iter().filter(|f| f.state == "complete") {
                    if ctx.node.provide(f.id.provider_key()).await.is_err() {
                        return;
                    }
                }
                drop(ctx);
                tokio::time::sleep(every).await;
            }
        });
        Ok(files)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.ctx.store
    }

    /// Blocks fetched, verified and recorded on disk since start, over all
    /// downloads (resumed blocks are not counted).
    pub fn blocks_fetched(&self) -> u64 {
        self.ctx.blocks_fetched.load(Ordering::Relaxed)
    }

    /// Adds a file or a directory tree (each file, then a manifest naming
    /// them) and announces them. Symbolic links and special files inside a
    /// directory are skipped. Only a path inside a share folder
    /// ([`FilesConfig::share_dirs`]) and outside the node's data directory
    /// is added, symbolic links resolved first and every file checked again
    /// once open ([`FilesError::PathNotAllowed`]); the store's quota holds
    /// ([`StoreError::QuotaExceeded`], [`StoreError::DiskFull`]).
    pub async fn add(&self, path: &Path) -> Result<Added, FilesError> {
        let store = self.ctx.store.clone();
        let path = path.to_path_buf();
        let folders = self.folders.clone();
        let (added, ids) = tokio::task::spawn_blocking(move || add_blocking(&store, &path, &folders))
            .await
            .map_err(|e| FilesError::BadPath(format!("adding failed: {e}")))??;
        for id in ids.iter().chain([&added.id]) {
            self.ctx.node.provide(id.provider_key()).await.map_err(|_| FilesError::Stopped)?;
        }
        info!(id = %added.id, files = added.files, size = added.size, "added");
        Ok(added)
    }

    /// Files held, complete and partial.
    pub fn list(&self) -> Vec<StoredFile> {
        self.ctx.store.list()
    }

    /// Downloads `id` into the store, reporting progress on `progress`.
    pub async fn fetch(
        &self,
        id: ContentId,
        opts: &FetchOptions,
        progress: &watch::Sender<Progress>,
    ) -> Result<FetchReport, FetchError> {
        fetch::fetch(&self.ctx, id, opts, progress).await
    }

    /// Where a download named `out` would be written: `out` relative to the
    /// download folder ([`FilesConfig::download_dir`]), or absolute inside
    /// it; refused when it leads out of it ([`FilesError::PathNotAllowed`])
    /// or exists ([`FilesError::Exists`]).
    pub fn resolve_out(&self, out: &Path) -> Result<PathBuf, FilesError> {
        self.folders.writable(out)
    }

    /// Downloads `id` and, when it is a directory manifest (and `raw` is
    /// false), every file it names; then writes it to `out` if given (a file,
    /// or a new directory, inside the download folder: see
    /// [`Files::resolve_out`], checked before anything is fetched and again
    /// before each file is written). The price limit covers the whole tree.
    pub async fn get(
        &self,
        id: ContentId,
        out: Option<&Path>,
        raw: bool,
        opts: &FetchOptions,
        progress: &watch::Sender<Progress>,
    ) -> Result<Vec<FetchReport>, FilesError> {
        let out = out.map(|o| self.resolve_out(o)).transpose()?;
        let first = self.fetch(id, opts, progress).await?;
        let mut spent = first.spent;
        let mut reports = vec![first];
        let manifest = if raw { None } else { self.ctx.store.manifest(&id)? };
        if let Some(m) = &manifest {
            for e in &m.entries {
                let mut o = opts.clone();
                o.max_price = opts.max_price.saturating_sub(spent);
                let r = self.fetch(e.id, &o, progress).await?;
                spent += r.spent;
                if r.size != e.size {
                    return Err(FilesError::Manifest(ManifestError::Malformed(format!(
                        "the manifest says {} is {} bytes, its content is {} bytes",
                        e.path, e.size, r.size
                    ))));
                }
                reports.push(r);
            }
        }
        if let Some(out) = out {
            let store = self.ctx.store.clone();
            let folders = self.folders.clone();
            tokio::task::spawn_blocking(move || match manifest {
                Some(m) => export_dir(&store, &folders, &m, &out),
                None => {
                    folders.check_before_write(&out).and_then(|()| store.export(&id, &out).map_err(FilesError::from))
                }
            })
            .await
            .map_err(|e| FilesError::BadPath(format!("export failed: {e}")))??;
        }
        progress.send_modify(|p| p.state = "done".into());
        Ok(reports)
    }

    /// Starts [`Files::get`] in the background (one download per id at a
    /// time); returns its job.
    pub fn start_get(&self, id: ContentId, out: Option<PathBuf>, raw: bool, opts: FetchOptions) -> Job {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(j) = jobs.get(&id)
            && !matches!(j.progress.borrow().state.as_str(), "done" | "failed")
        {
            return j.clone();
        }
        let (tx, rx) = watch::channel(Progress { state: "starting".into(), ..Progress::default() });
        let job = Job { progress: rx };
        jobs.insert(id, job.clone());
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.get(id, out.as_deref(), raw, &opts, &tx).await {
                tx.send_modify(|p| {
                    p.state = "failed".into();
                    p.error = Some(e.to_string());
                    p.code = Some(e.code().into());
                });
            }
        });
        job
    }

    /// The job of a background download of `id`, if any.
    pub fn job(&self, id: &ContentId) -> Option<Job> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).get(id).cloned()
    }
}

fn add_blocking(store: &Store, path: &Path, folders: &folders::Folders) -> Result<(Added, Vec<ContentId>), FilesError> {
    // The name as given (a symbolic link's own name, not its target's).
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let path = &folders.readable(path)?;
    let data_inodes = folders.data_inodes();
    let add_one = |p: &Path, name: &str| -> Result<(ContentId, u64), FilesError> {
        let f = std::fs::File::open(p).map_err(|e| FilesError::BadPath(format!("cannot add {}: {e}", p.display())))?;
        folders.check_opened(&f, p, &data_inodes)?;
        Ok(store.add_open(f, p, name)?)
    };
    let meta =
        std::fs::metadata(path).map_err(|e| FilesError::BadPath(format!("cannot add {}: {e}", path.display())))?;
    if meta.is_file() {
        let (id, size) = add_one(path, &name)?;
        return Ok((Added { id, size, files: 1, dir: false }, Vec::new()));
    }
    if !meta.is_dir() {
        return Err(FilesError::BadPath(format!("{} is neither a file nor a directory", path.display())));
    }
    let mut entries = Vec::new();
    let mut stack = vec![(path.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let rd =
            std::fs::read_dir(&dir).map_err(|e| FilesError::BadPath(format!("cannot list {}: {e}", dir.display())))?;
        for e in rd {
            let e = e.map_err(|e| FilesError::BadPath(format!("cannot list {}: {e}", dir.display())))?;
            let Some(fname) = e.file_name().to_str().map(str::to_string) else {
                warn!(path = %e.path().display(), "skipped: the name is not UTF-8");
                continue;
            };
            let rel = if rel.is_empty() { fname } else { format!("{rel}/{fname}") };
            let ft = e.file_type().map_err(|err| FilesError::BadPath(format!("{}: {err}", e.path().display())))?;
            if ft.is_dir() {
                stack.push((e.path(), rel));
            } else if ft.is_file() {
                let (id, size) = add_one(&e.path(), &rel)?;
                entries.push(ManifestEntry { path: rel, size, id });
            } else {
                warn!(path = %e.path().display(), "skipped: not a regular file");
            }
        }
    }
    let size = entries.iter().map(|e| e.size).sum();
    let files = entries.len();
    let ids = entries.iter().map(|e| e.id).collect();
    let m = Manifest::new(entries)?;
    let id = store.add_bytes(&m.to_bytes(), &name)?;
    Ok((Added { id, size, files, dir: true }, ids))
}

/// Writes a fetched directory tree to `out` (which must not exist): each
/// file through a temp file and a rename, each checked to be inside the
/// download folder right before it is written.
fn export_dir(store: &Store, folders: &folders::Folders, m: &Manifest, out: &Path) -> Result<(), FilesError> {
    folders.check_before_write(out)?;
    std::fs::create_dir_all(out).map_err(|e| FilesError::BadPath(format!("cannot create {}: {e}", out.display())))?;
    for e in &m.entries {
        manifest::check_path(&e.path)?;
        let target = out.join(&e.path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|err| FilesError::BadPath(format!("cannot create {}: {err}", parent.display())))?;
        }
        folders.check_before_write(&target)?;
        store.export(&e.id, &target)?;
    }
    Ok(())
}
