//! The store's disk space: a quota on what it holds and a floor of free
//! space it never writes below.
//!
//! - **Quota**: the bytes in `blobs/` and `partial/` (a download's data file
//!   counts at its full size from the start) plus what is reserved for
//!   writes in progress never exceed [`StoreLimits::quota_bytes`].
//! - **Free-space floor**: the store never starts a write that would leave
//!   less than [`StoreLimits::min_free_bytes`] free on its filesystem, which
//!   it shares with the node's channel store: vouchers must still find room
//!   to be committed when the files fill the disk.
//!
//! Every write reserves its room first (`Space::reserve`) and holds the
//! reservation until its bytes are on disk, where the next scan counts them;
//! the reservation is dropped afterwards. A download reserves and allocates
//! its whole size before it asks for a block (see `Store::partial`), so that
//! neither limit can be met halfway through it.
//!
//! What this leaves out: other writers on the same filesystem can still fill
//! it between a check and a write; the writes that then fail leave the store
//! as it was (see `store`).

use std::path::Path;
use std::sync::Mutex;

use super::store::StoreError;

/// Limits on the store's disk use. Every field's doc ends with its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// The most the store holds, complete and partial files together, in
    /// bytes. Default 10 GiB.
    pub quota_bytes: u64,
    /// Free space the store leaves on its filesystem, in bytes. Default 256 MiB.
    pub min_free_bytes: u64,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits { quota_bytes: 10 << 30, min_free_bytes: 256 << 20 }
    }
}

/// The quota's book-keeping for one store.
#[derive(Debug)]
pub(crate) struct Space {
    limits: StoreLimits,
    /// Bytes reserved by writes not yet on disk.
    pending: Mutex<u64>,
}

/// Room reserved for a write; given back when dropped.
#[derive(Debug)]
pub struct Reservation<'a> {
    space: &'a Space,
    bytes: u64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut p = self.space.pending.lock().unwrap_or_else(|e| e.into_inner());
        *p = p.saturating_sub(self.bytes);
    }
}

impl Space {
    pub(crate) fn new(limits: StoreLimits) -> Space {
        Space { limits, pending: Mutex::new(0) }
    }

    pub(crate) fn limits(&self) -> StoreLimits {
        self.limits
    }

    /// Reserves `bytes` for a write into the store at `root`, or says which
    /// limit it would break.
    pub(crate) fn reserve(&self, root: &Path, bytes: u64) -> Result<Reservation<'_>, StoreError> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let used = used_bytes(root).saturating_add(*pending);
        if used.saturating_add(bytes) > self.limits.quota_bytes {
            return Err(StoreError::QuotaExceeded {
                need: bytes,
                used,
                quota: self.limits.quota_bytes,
                root: root.display().to_string(),
            });
        }
        // Unknown free space (an odd filesystem) does not block a write; the
        // write itself then says whether it fits.
        if let Some(free) = free_bytes(root) {
            let after = free.saturating_sub(*pending);
            if after < bytes.saturating_add(self.limits.min_free_bytes) {
                return Err(StoreError::DiskFull(format!(
                    "{bytes} bytes wanted at {}, {after} free, and {} are kept free for the node's channel store \
                     ([files].min_free_bytes)",
                    root.display(),
                    self.limits.min_free_bytes
                )));
            }
        }
        *pending += bytes;
        Ok(Reservation { space: self, bytes })
    }

    /// Bytes the store at `root` holds now.
    pub(crate) fn used(&self, root: &Path) -> u64 {
        used_bytes(root).saturating_add(*self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Sizes of the files in `blobs/` and `partial/` (`tmp/` is what
/// reservations cover).
fn used_bytes(root: &Path) -> u64 {
    ["blobs", "partial"]
        .iter()
        .filter_map(|d| std::fs::read_dir(root.join(d)).ok())
        .flat_map(|rd| rd.flatten())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .fold(0u64, u64::saturating_add)
}

/// Bytes an unprivileged writer may still use on the filesystem of `path`.
fn free_bytes(path: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(path).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

/// Whether an I/O error means the disk (or the user's disk quota) is full.
pub(crate) fn is_full(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
}

/// Gives `f` all of its first `len` bytes on disk, so that writing them
/// later cannot fail for want of space. A filesystem that cannot allocate
/// ahead gets the length only (the writes then say whether they fit).
pub(crate) fn allocate(f: &std::fs::File, len: u64) -> std::io::Result<()> {
    match rustix::fs::fallocate(f, rustix::fs::FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::NOSPC || e == rustix::io::Errno::DQUOT => Err(e.into()),
        Err(_) => f.set_len(len.max(f.metadata()?.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_count_until_dropped_and_the_quota_holds() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["blobs", "partial"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("blobs/a"), [0u8; 100]).unwrap();
        let s = Space::new(StoreLimits { quota_bytes: 1000, min_free_bytes: 0 });
        assert_eq!(s.used(dir.path()), 100);
        let r = s.reserve(dir.path(), 800).unwrap();
        assert_eq!(s.used(dir.path()), 900);
        let e = s.reserve(dir.path(), 101).unwrap_err();
        assert!(matches!(e, StoreError::QuotaExceeded { need: 101, used: 900, quota: 1000, .. }), "{e}");
        drop(r);
        s.reserve(dir.path(), 900).unwrap();
        let huge = Space::new(StoreLimits { quota_bytes: u64::MAX, min_free_bytes: u64::MAX / 2 });
        assert!(matches!(huge.reserve(dir.path(), 1), Err(StoreError::DiskFull(_))));
    }
}
