//! The file store under `<data dir>/files/`:
//!
//! - `blobs/<id>`: complete, verified files; `blobs/<id>.ob`: their outboard
//!   (interior hashes); `blobs/<id>.name`: the name it was added or fetched
//!   under (for `ls`);
//! - `partial/<id>.data` and `partial/<id>.state`: a download in progress:
//!   the blocks written so far and which of them are verified (with their
//!   hashes, so a resumed download re-checks them on disk);
//! - `tmp/`: files being written; everything lands by rename, so a crash
//!   leaves either the old state or the new one, never a torn file.
//!
//! The store never writes a block that has not been verified against the
//! content id, and a completed download becomes a blob only once its
//! blocks' CVs hash to the id.
//!
//! Disk space: every write reserves its room under the store's quota and
//! free-space floor first ([`super::space`]); a download reserves and
//! allocates its whole data file when it starts. A write that fails for want
//! of space ([`StoreError::QuotaExceeded`], [`StoreError::DiskFull`]) leaves
//! the store as it was: a temp file is removed, a partial download keeps its
//! verified blocks and its last recorded state, and resumes once there is
//! room.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use blake3::hazmat::ChainingValue;

use super::id::ContentId;
use super::manifest::{MAX_MANIFEST_BYTES, Manifest};
use super::space::{Reservation, Space, StoreLimits, allocate, is_full};
use super::tree::{BLOCK_SIZE, Outboard, block_count, block_cv, block_len, range_len};

/// Outboards kept in memory for serving.
const OUTBOARD_CACHE: usize = 256;
const STATE_MAGIC: &[u8; 8] = b"PORPART1";

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file of the store (or one being added) could not be read or written.
    #[error("{what} {path}: {err}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: String,
        /// The error.
        err: std::io::Error,
    },
    /// The store does not hold the file.
    #[error("this node does not hold {0}")]
    NotFound(ContentId),
    /// A stored file no longer matches its id (disk corruption or an outside edit).
    #[error("stored file {0} does not match its id any more; it was removed, fetch it again")]
    Corrupt(ContentId),
    /// The write would take the store past its quota; nothing was written.
    /// Raise the quota or make room in the store, then try again.
    #[error(
        "the file store at {root} would exceed its quota: {need} more bytes wanted, {used} of {quota} in use; \
         raise [files].quota_bytes or make room in the store, then try again (a download resumes where it stopped)"
    )]
    QuotaExceeded {
        /// Bytes the write wanted.
        need: u64,
        /// Bytes the store holds or has reserved.
        used: u64,
        /// The quota.
        quota: u64,
        /// The store.
        root: String,
    },
    /// The disk has no room for the write (or would keep less free than the
    /// node's channel store needs); what was written before is kept. Free
    /// disk space, then try again.
    #[error("no room on the disk for the file store: {0}; free disk space, then try again")]
    DiskFull(String),
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |err| {
        if is_full(&err) {
            StoreError::DiskFull(format!("{what} {}: {err}", path.display()))
        } else {
            StoreError::Io { what, path: path.display().to_string(), err }
        }
    }
}

/// Room a file of `size` bytes takes in the store besides its bytes: its
/// outboard (64 bytes a block), its name and a download's state file.
fn overhead(size: u64) -> u64 {
    block_count(size).saturating_mul(64) + 8192
}

/// A file in the store, as `ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct StoredFile {
    /// Content id.
    #[schema(value_type = String)]
    pub id: ContentId,
    /// Size in bytes.
    pub size: u64,
    /// The name it was added or fetched under.
    pub name: Option<String>,
    /// Whether it is a directory manifest.
    pub dir: bool,
    /// `complete`, or `partial` for an unfinished download.
    #[schema(value_type = String)]
    pub state: &'static str,
    /// Verified blocks (all, for a complete file).
    pub verified_blocks: u64,
    /// Blocks in all.
    pub blocks: u64,
}

/// Blocks of a complete file with their proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenRange {
    /// The file's size.
    pub size: u64,
    /// The blocks' bytes.
    pub data: Vec<u8>,
    /// Their proof (see [`Outboard::prove`]).
    pub proof: Vec<ChainingValue>,
}

/// The store.
pub struct Store {
    root: PathBuf,
    outboards: Mutex<HashMap<ContentId, Arc<Outboard>>>,
    space: Space,
}

impl Store {
    /// Opens (creating) the store at `root` with the default
    /// [`StoreLimits`]; clears leftovers in `tmp/`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        Store::open_with_limits(root, StoreLimits::default())
    }

    /// Opens (creating) the store at `root` with `limits`; clears leftovers
    /// in `tmp/`.
    pub fn open_with_limits(root: impl Into<PathBuf>, limits: StoreLimits) -> Result<Store, StoreError> {
        let root = root.into();
        for d in ["blobs", "partial", "tmp"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(io("cannot create", &p))?;
        }
        let tmp = root.join("tmp");
        if let Ok(rd) = fs::read_dir(&tmp) {
            for e in rd.flatten() {
                let _ = fs::remove_file(e.path());
            }
        }
        Ok(Store { root, outboards: Mutex::new(HashMap::new()), space: Space::new(limits) })
    }

    /// The store's limits.
    pub fn limits(&self) -> StoreLimits {
        self.space.limits()
    }

    /// Bytes the store holds (complete and partial files) or has reserved.
    pub fn used_bytes(&self) -> u64 {
        self.space.used(&self.root)
    }

    /// Whether the store has room for at least one more block: a download
    /// checks it before it asks for anything.
    pub fn check_room(&self) -> Result<(), StoreError> {
        self.reserve(BLOCK_SIZE).map(drop)
    }

    fn reserve(&self, bytes: u64) -> Result<Reservation<'_>, StoreError> {
        self.space.reserve(&self.root, bytes)
    }

    /// Where the store lives.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of a complete file.
    pub fn blob_path(&self, id: &ContentId) -> PathBuf {
        self.root.join("blobs").join(id.to_hex())
    }

    fn tmp_path(&self, tag: &str) -> PathBuf {
        self.root.join("tmp").join(format!("{tag}-{:016x}", rand::random::<u64>()))
    }

    /// Whether the store holds the complete file.
    pub fn has(&self, id: &ContentId) -> bool {
        self.blob_path(id).is_file() && self.root.join("blobs").join(format!("{}.ob", id.to_hex())).is_file()
    }

    /// The outboard of a complete file (cached).
    pub fn outboard(&self, id: &ContentId) -> Result<Arc<Outboard>, StoreError> {
        if let Some(ob) = self.outboards.lock().unwrap_or_else(|e| e.into_inner()).get(id) {
            return Ok(ob.clone());
        }
        let p = self.root.join("blobs").join(format!("{}.ob", id.to_hex()));
        let bytes = match fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StoreError::NotFound(*id)),
            Err(e) => return Err(io("cannot read", &p)(e)),
        };
        let ob = Arc::new(Outboard::from_bytes(&bytes).ok_or(StoreError::Corrupt(*id))?);
        let mut cache = self.outboards.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= OUTBOARD_CACHE {
            cache.clear();
        }
        cache.insert(*id, ob.clone());
        Ok(ob)
    }

    /// Blocks `[first, first + count)` of a complete file with their proof.
    pub fn read_range(&self, id: &ContentId, first: u64, count: u64) -> Result<Option<ProvenRange>, StoreError> {
        let Some((size, proof)) = self.prove_range(id, first, count)? else { return Ok(None) };
        let mut data = vec![0u8; range_len(size, first, count) as usize];
        self.read_blocks(id, first, &mut data)?;
        Ok(Some(ProvenRange { size, data, proof }))
    }

    /// The size of a complete file and the proof of blocks `[first, first +
    /// count)`; `None` when the range is not inside the file.
    pub fn prove_range(
        &self,
        id: &ContentId,
        first: u64,
        count: u64,
    ) -> Result<Option<(u64, Vec<ChainingValue>)>, StoreError> {
        let ob = self.outboard(id)?;
        Ok(ob.prove(first, count).ok().map(|proof| (ob.size(), proof)))
    }

    /// Reads a complete file's bytes from the start of block `first` into
    /// `buf` (all of it), so that a reply is read in place, not copied.
    pub fn read_blocks(&self, id: &ContentId, first: u64, buf: &mut [u8]) -> Result<(), StoreError> {
        let p = self.blob_path(id);
        let f = File::open(&p).map_err(io("cannot open", &p))?;
        f.read_exact_at(buf, first.saturating_mul(BLOCK_SIZE)).map_err(io("cannot read", &p))
    }

    /// Adds the file at `path` (copied into the store while it is hashed).
    /// Returns its id and size.
    pub fn add_file(&self, path: &Path, name: &str) -> Result<(ContentId, u64), StoreError> {
        let src = File::open(path).map_err(io("cannot open", path))?;
        self.add_open(src, path, name)
    }

    /// Adds the open file `src` (read from its start; `path` names it in
    /// errors), within the quota. Returns its id and size.
    pub fn add_open(&self, src: File, path: &Path, name: &str) -> Result<(ContentId, u64), StoreError> {
        let size = src.metadata().map_err(io("cannot stat", path))?.len();
        let _room = self.reserve(size.saturating_add(overhead(size)))?;
        let tmp = self.tmp_path("add");
        let r = self.copy_in(src, path, size, &tmp, name);
        if r.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        r.map(|id| (id, size))
    }

    fn copy_in(&self, mut src: File, path: &Path, size: u64, tmp: &Path, name: &str) -> Result<ContentId, StoreError> {
        let mut dst = File::create(tmp).map_err(io("cannot create", tmp))?;
        let blocks = block_count(size);
        let mut cvs = Vec::with_capacity(blocks as usize);
        let mut buf = vec![0u8; BLOCK_SIZE as usize];
        let mut whole = blake3::Hasher::new();
        for i in 0..blocks {
            let len = block_len(size, i) as usize;
            src.read_exact(&mut buf[..len]).map_err(io("cannot read (did the file shrink?)", path))?;
            dst.write_all(&buf[..len]).map_err(io("cannot write", tmp))?;
            cvs.push(block_cv(i, &buf[..len]));
            if blocks == 1 {
                whole.update(&buf[..len]);
            }
        }
        dst.sync_all().map_err(io("cannot sync", tmp))?;
        let ob = Outboard::from_block_cvs(size, cvs);
        let id = if blocks == 1 {
            ContentId(*whole.finalize().as_bytes())
        } else {
            ob.root_id().expect("two or more blocks")
        };
        self.commit(&id, tmp, &ob, name)?;
        Ok(id)
    }

    /// Adds bytes (a manifest) as a file, within the quota.
    pub fn add_bytes(&self, bytes: &[u8], name: &str) -> Result<ContentId, StoreError> {
        let len = bytes.len() as u64;
        let _room = self.reserve(len.saturating_add(overhead(len)))?;
        let tmp = self.tmp_path("add");
        let r = fs::write(&tmp, bytes).map_err(io("cannot write", &tmp)).and_then(|()| {
            let (id, ob) = Outboard::from_reader(bytes, len).map_err(io("cannot hash", &tmp))?;
            self.commit(&id, &tmp, &ob, name).map(|()| id)
        });
        if r.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        r
    }

    /// Moves a verified temp file into `blobs/` with its outboard and name.
    fn commit(&self, id: &ContentId, tmp: &Path, ob: &Outboard, name: &str) -> Result<(), StoreError> {
        let blobs = self.root.join("blobs");
        let hex = id.to_hex();
        let name_path = blobs.join(format!("{hex}.name"));
        if !name.is_empty() {
            self.write_atomic(&name_path, name.as_bytes())?;
        }
        if self.has(id) {
            let _ = fs::remove_file(tmp);
            return Ok(());
        }
        self.write_atomic(&blobs.join(format!("{hex}.ob")), &ob.to_bytes())?;
        let dst = blobs.join(&hex);
        fs::rename(tmp, &dst).map_err(io("cannot move into the store", &dst))?;
        Ok(())
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let tmp = self.tmp_path("w");
        let r = File::create(&tmp)
            .map_err(io("cannot create", &tmp))
            .and_then(|mut f| {
                f.write_all(bytes).map_err(io("cannot write", &tmp))?;
                f.sync_all().map_err(io("cannot sync", &tmp))
            })
            .and_then(|()| fs::rename(&tmp, path).map_err(io("cannot rename onto", path)));
        if r.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        r
    }

    /// Reads a complete file that may be a manifest: `Some` when it is one.
    pub fn manifest(&self, id: &ContentId) -> Result<Option<Manifest>, super::manifest::ManifestError> {
        let p = self.blob_path(id);
        let Ok(mut f) = File::open(&p) else { return Ok(None) };
        let mut head = vec![0u8; super::manifest::MAGIC.len()];
        if f.read_exact(&mut head).is_err() || !Manifest::looks_like(&head) {
            return Ok(None);
        }
        let len = f.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
        if len > MAX_MANIFEST_BYTES {
            return Err(super::manifest::ManifestError::TooLarge(len));
        }
        let bytes = fs::read(&p).map_err(|e| super::manifest::ManifestError::Malformed(e.to_string()))?;
        Manifest::parse(&bytes).map(Some)
    }

    /// Copies a complete file to `out` (through a temp file next to it and a
    /// rename); refuses to overwrite.
    pub fn export(&self, id: &ContentId, out: &Path) -> Result<(), StoreError> {
        if out.exists() {
            return Err(StoreError::Io {
                what: "will not overwrite",
                path: out.display().to_string(),
                err: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "choose another output path or remove it"),
            });
        }
        let src = self.blob_path(id);
        if !src.is_file() {
            return Err(StoreError::NotFound(*id));
        }
        let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let fname = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!(".{fname}.por-tmp-{:08x}", rand::random::<u32>()));
        fs::copy(&src, &tmp).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io("cannot write", &tmp)(e)
        })?;
        fs::rename(&tmp, out).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io("cannot rename onto", out)(e)
        })
    }

    /// Files in the store, complete and partial.
    pub fn list(&self) -> Vec<StoredFile> {
        let mut out = Vec::new();
        let blobs = self.root.join("blobs");
        if let Ok(rd) = fs::read_dir(&blobs) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                let Ok(id) = n.parse::<ContentId>() else { continue };
                let Ok(ob) = self.outboard(&id) else { continue };
                let name = fs::read_to_string(blobs.join(format!("{n}.name"))).ok();
                let dir = matches!(self.manifest(&id), Ok(Some(_)));
                let blocks = ob.blocks();
                out.push(StoredFile {
                    id,
                    size: ob.size(),
                    name,
                    dir,
                    state: "complete",
                    verified_blocks: blocks,
                    blocks,
                });
            }
        }
        let partial = self.root.join("partial");
        if let Ok(rd) = fs::read_dir(&partial) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                let Some(hex) = n.strip_suffix(".state") else { continue };
                let Ok(id) = hex.parse::<ContentId>() else { continue };
                let Some((size, cvs)) = fs::read(e.path()).ok().and_then(|b| decode_state(&b)) else { continue };
                out.push(StoredFile {
                    id,
                    size,
                    name: None,
                    dir: false,
                    state: "partial",
                    verified_blocks: cvs.iter().filter(|c| c.is_some()).count() as u64,
                    blocks: cvs.len() as u64,
                });
            }
        }
        out.sort_by(|a, b| (a.state, a.id).cmp(&(b.state, b.id)));
        out
    }

    /// The size recorded for an unfinished download of `id`, if any.
    pub fn partial_size(&self, id: &ContentId) -> Option<u64> {
        let p = self.root.join("partial").join(format!("{}.state", id.to_hex()));
        fs::read(p).ok().and_then(|b| decode_state(&b)).map(|(size, _)| size)
    }

    /// Opens the unfinished download of `id` (of an authenticated `size`),
    /// or starts one. Blocks recorded as verified are re-hashed on disk;
    /// those that no longer match are fetched again. The data file gets its
    /// whole size on disk first, within the quota and the free-space floor
    /// ([`StoreError::QuotaExceeded`], [`StoreError::DiskFull`]): a refused
    /// start leaves no file, a refused resume leaves the download as it was.
    pub fn partial(&self, id: &ContentId, size: u64) -> Result<Partial, StoreError> {
        let dir = self.root.join("partial");
        let hex = id.to_hex();
        let data_path = dir.join(format!("{hex}.data"));
        let state_path = dir.join(format!("{hex}.state"));
        let n = block_count(size);
        let mut cvs = match fs::read(&state_path).ok().and_then(|b| decode_state(&b)) {
            Some((s, cvs)) if s == size && cvs.len() as u64 == n => cvs,
            _ => vec![None; n as usize],
        };
        let had = fs::metadata(&data_path).map(|m| m.len()).ok();
        let want = size.saturating_sub(had.unwrap_or(0));
        let room = if want > 0 { Some(self.reserve(want.saturating_add(overhead(size)))?) } else { None };
        let data = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&data_path)
            .map_err(io("cannot open", &data_path))?;
        if room.is_some()
            && let Err(e) = allocate(&data, size)
        {
            if had.is_none() {
                let _ = fs::remove_file(&data_path);
            }
            return Err(io("cannot allocate", &data_path)(e));
        }
        drop(room);
        // The next state file's room too, so that recording verified blocks
        // never needs new space (see `Partial::persist`).
        let state_len = encode_state(size, &cvs).len() as u64;
        let _ = prepare_state(&state_path, state_len);
        let mut buf = vec![0u8; BLOCK_SIZE as usize];
        for (i, slot) in cvs.iter_mut().enumerate() {
            let Some(cv) = slot else { continue };
            let len = block_len(size, i as u64) as usize;
            let ok = data.read_exact_at(&mut buf[..len], i as u64 * BLOCK_SIZE).is_ok()
                && block_cv(i as u64, &buf[..len]) == *cv;
            if !ok {
                *slot = None;
            }
        }
        Ok(Partial { id: *id, size, data, data_path, state_path, cvs, unpersisted: 0 })
    }

    /// Turns a finished download into a blob: builds its outboard from the
    /// verified blocks' CVs, checks that they hash to the id, and moves it
    /// into `blobs/`. The data is not hashed again: every block was hashed
    /// once when it was verified (in memory, before it was written) or, for
    /// a resumed download, when its bytes on disk were re-checked
    /// ([`Store::partial`]). A one-block file is hashed again (at most one
    /// block), as its id is the hash of the data, not of a CV.
    pub fn finish(&self, p: Partial, name: &str) -> Result<(), StoreError> {
        p.data.sync_all().map_err(io("cannot sync", &p.data_path))?;
        let cvs: Option<Vec<ChainingValue>> = p.cvs.iter().copied().collect();
        let (id, ob) = match cvs {
            Some(cvs) if cvs.len() > 1 => {
                let ob = Outboard::from_block_cvs(p.size, cvs);
                (ob.root_id().ok_or(StoreError::Corrupt(p.id))?, ob)
            }
            _ => {
                let f = File::open(&p.data_path).map_err(io("cannot open", &p.data_path))?;
                Outboard::from_reader(std::io::BufReader::with_capacity(1 << 20, f), p.size)
                    .map_err(io("cannot hash", &p.data_path))?
            }
        };
        if id != p.id {
            let _ = fs::remove_file(&p.state_path);
            let _ = fs::remove_file(p.state_path.with_extension("state.tmp"));
            let _ = fs::remove_file(&p.data_path);
            return Err(StoreError::Corrupt(p.id));
        }
        let tmp = self.tmp_path("fetched");
        fs::rename(&p.data_path, &tmp).map_err(io("cannot move", &p.data_path))?;
        if let Err(e) = self.commit(&id, &tmp, &ob, name) {
            // A full disk (the outboard did not fit): the data goes back
            // where it was, so the download resumes whole once there is
            // room instead of paying for every block again. A rename on one
            // filesystem needs no space.
            let _ = fs::rename(&tmp, &p.data_path);
            return Err(e);
        }
        let _ = fs::remove_file(&p.state_path);
        let _ = fs::remove_file(p.state_path.with_extension("state.tmp"));
        Ok(())
    }
}

/// A download in progress: its data file and which blocks are verified.
pub struct Partial {
    /// The file.
    pub id: ContentId,
    /// Its authenticated size.
    pub size: u64,
    data: File,
    data_path: PathBuf,
    state_path: PathBuf,
    cvs: Vec<Option<ChainingValue>>,
    unpersisted: u64,
}

impl Partial {
    /// Whether block `i` is verified and on disk.
    pub fn is_verified(&self, i: u64) -> bool {
        self.cvs.get(i as usize).is_some_and(|c| c.is_some())
    }

    /// Verified blocks.
    pub fn verified(&self) -> u64 {
        self.cvs.iter().filter(|c| c.is_some()).count() as u64
    }

    /// Blocks in all.
    pub fn blocks(&self) -> u64 {
        self.cvs.len() as u64
    }

    /// Writes verified blocks `first..` (`data` and their `cvs`); blocks
    /// already verified are skipped. Returns how many were new.
    pub fn write(&mut self, first: u64, data: &[u8], cvs: &[ChainingValue]) -> Result<u64, StoreError> {
        let mut new = 0;
        for (k, cv) in cvs.iter().enumerate() {
            let i = first + k as u64;
            if self.is_verified(i) || i >= self.blocks() {
                continue;
            }
            let off = k * BLOCK_SIZE as usize;
            let len = block_len(self.size, i) as usize;
            self.data
                .write_all_at(&data[off..off + len], i * BLOCK_SIZE)
                .map_err(io("cannot write", &self.data_path))?;
            self.cvs[i as usize] = Some(*cv);
            new += 1;
        }
        self.unpersisted += new;
        Ok(new)
    }

    /// Makes the written blocks durable and records them as verified (data
    /// synced first, then the state replaced by rename). Returns how many
    /// blocks this recorded.
    pub fn persist(&mut self) -> Result<u64, StoreError> {
        if self.unpersisted == 0 && self.state_path.exists() {
            return Ok(0);
        }
        self.data.sync_data().map_err(io("cannot sync", &self.data_path))?;
        // Written in place into the next state file allocated beforehand,
        // so a disk filled by someone else meanwhile does not stop it (the
        // blocks it records were paid for); the rename frees the old state's
        // room, which the next one takes at once.
        let tmp = self.state_path.with_extension("state.tmp");
        let bytes = encode_state(self.size, &self.cvs);
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&tmp)
            .map_err(io("cannot create", &tmp))?;
        f.write_all_at(&bytes, 0).map_err(io("cannot write", &tmp))?;
        f.set_len(bytes.len() as u64).map_err(io("cannot write", &tmp))?;
        f.sync_all().map_err(io("cannot sync", &tmp))?;
        fs::rename(&tmp, &self.state_path).map_err(io("cannot rename onto", &self.state_path))?;
        let _ = prepare_state(&self.state_path, bytes.len() as u64);
        Ok(std::mem::take(&mut self.unpersisted))
    }
}

/// Allocates the next state file of the download whose state is at
/// `state_path` (`.state.tmp`, `len` bytes), if the disk has room.
fn prepare_state(state_path: &Path, len: u64) -> std::io::Result<()> {
    let tmp = state_path.with_extension("state.tmp");
    let f = OpenOptions::new().write(true).create(true).truncate(false).open(&tmp)?;
    allocate(&f, len)
}

/// State file: magic, size, one CV per block (zeros: not verified), and a
/// BLAKE3 checksum of all that.
fn encode_state(size: u64, cvs: &[Option<ChainingValue>]) -> Vec<u8> {
    let mut b = Vec::with_capacity(16 + 32 * cvs.len() + 32);
    b.extend_from_slice(STATE_MAGIC);
    b.extend_from_slice(&size.to_le_bytes());
    for c in cvs {
        b.extend_from_slice(&c.unwrap_or([0; 32]));
    }
    let sum = blake3::hash(&b);
    b.extend_from_slice(sum.as_bytes());
    b
}

fn decode_state(b: &[u8]) -> Option<(u64, Vec<Option<ChainingValue>>)> {
    if b.len() < 48 || &b[..8] != STATE_MAGIC {
        return None;
    }
    let (body, sum) = b.split_at(b.len() - 32);
    if blake3::hash(body).as_bytes() != sum {
        return None;
    }
    let size = u64::from_le_bytes(body[8..16].try_into().ok()?);
    let cvs = &body[16..];
    if cvs.len() as u64 != block_count(size).checked_mul(32)? {
        return None;
    }
    Some((
        size,
        cvs.chunks_exact(32)
            .map(|c| {
                let cv: ChainingValue = c.try_into().expect("32 bytes");
                (cv != [0; 32]).then_some(cv)
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trip_and_torn_state() {
        let cvs = vec![Some([1; 32]), None, Some([3; 32])];
        let b = encode_state(2 * BLOCK_SIZE + 5, &cvs);
        assert_eq!(decode_state(&b), Some((2 * BLOCK_SIZE + 5, cvs)));
        assert_eq!(decode_state(&b[..b.len() - 1]), None);
        let mut bad = b.clone();
        bad[20] ^= 1;
        assert_eq!(decode_state(&bad), None);
    }

    #[test]
    fn add_export_and_partial_resume() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("files")).unwrap();
        let size = 3 * BLOCK_SIZE + 100;
        let data: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
        let src = dir.path().join("src.bin");
        fs::write(&src, &data).unwrap();
        let (id, s) = store.add_file(&src, "src.bin").unwrap();
        assert_eq!(s, size);
        assert_eq!(id.0, *blake3::hash(&data).as_bytes());
        assert!(store.has(&id));
        let ProvenRange { size: sz, data: d, proof } = store.read_range(&id, 1, 2).unwrap().unwrap();
        assert_eq!(sz, size);
        let cvs = super::super::tree::verify_range(&id, size, 1, 2, &d, &proof).unwrap();
        assert!(store.read_range(&id, 4, 1).unwrap().is_none());

        // A partial download of the same content under another store.
        let store2 = Store::open(dir.path().join("files2")).unwrap();
        let mut p = store2.partial(&id, size).unwrap();
        assert_eq!(p.write(1, &d, &cvs).unwrap(), 2);
        assert_eq!(p.persist().unwrap(), 2);
        drop(p);
        let mut p = store2.partial(&id, size).unwrap();
        assert_eq!(p.verified(), 2);
        let ProvenRange { data: d0, proof: pr0, .. } = store.read_range(&id, 0, 1).unwrap().unwrap();
        let c0 = super::super::tree::verify_range(&id, size, 0, 1, &d0, &pr0).unwrap();
        p.write(0, &d0, &c0).unwrap();
        let ProvenRange { data: d3, proof: pr3, .. } = store.read_range(&id, 3, 1).unwrap().unwrap();
        let c3 = super::super::tree::verify_range(&id, size, 3, 1, &d3, &pr3).unwrap();
        p.write(3, &d3, &c3).unwrap();
        store2.finish(p, "x").unwrap();
        assert!(store2.has(&id));
        assert_eq!(fs::read(store2.blob_path(&id)).unwrap(), data);
        let out = dir.path().join("out.bin");
        store2.export(&id, &out).unwrap();
        assert_eq!(fs::read(&out).unwrap(), data);
        assert!(store2.export(&id, &out).is_err(), "no overwrite");
        assert_eq!(store2.list().len(), 1);
    }

    #[test]
    fn a_block_damaged_on_disk_is_fetched_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let size = 2 * BLOCK_SIZE;
        let data = vec![9u8; size as usize];
        let (id, _) = Outboard::from_reader(&data[..], size).unwrap();
        let cvs = vec![block_cv(0, &data[..BLOCK_SIZE as usize]), block_cv(1, &data[BLOCK_SIZE as usize..])];
        let mut p = store.partial(&id, size).unwrap();
        p.write(0, &data, &cvs).unwrap();
        p.persist().unwrap();
        drop(p);
        let f = OpenOptions::new()
            .write(true)
            .open(dir.path().join("partial").join(format!("{}.data", id.to_hex())))
            .unwrap();
        f.write_all_at(&[1], BLOCK_SIZE + 7).unwrap();
        let p = store.partial(&id, size).unwrap();
        assert!(p.is_verified(0));
        assert!(!p.is_verified(1));
    }
}
