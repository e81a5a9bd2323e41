//! Which paths the files subsystem may read and write: [`super::Files::add`]
//! reads only under the share folders, [`super::Files::get`] writes only
//! under the download folder, and neither ever touches the node's data
//! directory (its node key, account key, API credentials and channel store),
//! even when a share folder contains it.
//!
//! Every rule is checked on the real path, symbolic links resolved, so a
//! link inside a folder that points out of it is refused. A file being added
//! is checked once more after it is opened, on the path the kernel gives for
//! the open file and on its inode, so neither a link swapped in after the
//! first check nor a hard link to a file of the data directory passes. An
//! output path is checked when the download starts and again right before
//! each file is written.
//!
//! What this leaves out: it does not decide *what* is worth sharing inside
//! a share folder (everything under it is), and it trusts the operator's
//! own configuration of the folders.

use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use super::FilesError;

/// How deep the data directory is searched for files a hard link could
/// reach, and how many entries at most.
const DATA_DIR_DEPTH: usize = 4;
const DATA_DIR_ENTRIES: usize = 10_000;

/// The folder rules of one node.
#[derive(Debug, Clone)]
pub(crate) struct Folders {
    /// As configured; resolved on every use (a folder may appear later).
    share: Vec<PathBuf>,
    /// As configured.
    download: Option<PathBuf>,
    /// The node's data directory, canonical.
    data_dir: PathBuf,
    /// The file store (inside the data directory, not searched for keys).
    store: PathBuf,
}

fn not_allowed(msg: String) -> FilesError {
    FilesError::PathNotAllowed(msg)
}

/// `path` and, when links made it another, its real path.
fn shown(path: &Path, real: &Path) -> String {
    if real == path { path.display().to_string() } else { format!("{} (really {})", path.display(), real.display()) }
}

impl Folders {
    pub(crate) fn new(share: Vec<PathBuf>, download: Option<PathBuf>, data_dir: &Path, store: &Path) -> Folders {
        let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        Folders { share, download, data_dir: real(data_dir), store: real(store) }
    }

    /// The share folders that exist, canonical.
    fn share_roots(&self) -> Vec<PathBuf> {
        self.share.iter().filter_map(|p| std::fs::canonicalize(p).ok()).collect()
    }

    fn share_list(&self) -> String {
        self.share.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    }

    /// Refuses a real path inside the data directory, or containing it.
    fn outside_data_dir(&self, real: &Path, shown: &str) -> Result<(), FilesError> {
        if real.starts_with(&self.data_dir) {
            return Err(not_allowed(format!(
                "{shown} is inside the node's data directory {}, which holds its keys; \
                 copy what you mean to share into a share folder outside it",
                self.data_dir.display()
            )));
        }
        if self.data_dir.starts_with(real) {
            return Err(not_allowed(format!(
                "{shown} contains the node's data directory {}, which holds its keys; \
                 add a directory that does not contain it",
                self.data_dir.display()
            )));
        }
        Ok(())
    }

    /// Refuses a real path outside every share folder.
    fn inside_share(&self, real: &Path, shown: &str) -> Result<(), FilesError> {
        if self.share.is_empty() {
            return Err(not_allowed(format!(
                "cannot add {shown}: no share folder is configured; set [files].share_dirs in the node's \
                 config (FilesConfig::share_dirs) to the folders it may share, e.g. share_dirs = [\"/srv/por-share\"]"
            )));
        }
        if !self.share_roots().iter().any(|r| real.starts_with(r)) {
            return Err(not_allowed(format!(
                "{shown} is outside the share folders ({}); `files add` reads only under [files].share_dirs: \
                 move or copy it into one",
                self.share_list()
            )));
        }
        Ok(())
    }

    /// `path` canonical, if `files add` may read it.
    pub(crate) fn readable(&self, path: &Path) -> Result<PathBuf, FilesError> {
        let real = std::fs::canonicalize(path)
            .map_err(|e| FilesError::BadPath(format!("cannot add {}: {e}", path.display())))?;
        let shown = shown(path, &real);
        self.outside_data_dir(&real, &shown)?;
        self.inside_share(&real, &shown)?;
        Ok(real)
    }

    /// Checks a file opened for adding: the path the kernel gives for it
    /// (where it really is now) and its inode against the data directory's
    /// files (a hard link has no other tell).
    pub(crate) fn check_opened(
        &self,
        f: &File,
        path: &Path,
        data_inodes: &HashSet<(u64, u64)>,
    ) -> Result<(), FilesError> {
        use std::os::fd::AsRawFd;
        let real = std::fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd()))
            .or_else(|_| std::fs::canonicalize(path))
            .map_err(|e| FilesError::BadPath(format!("cannot add {}: {e}", path.display())))?;
        let shown = shown(path, &real);
        self.outside_data_dir(&real, &shown)?;
        self.inside_share(&real, &shown)?;
        let m = f.metadata().map_err(|e| FilesError::BadPath(format!("cannot add {}: {e}", path.display())))?;
        if data_inodes.contains(&(m.dev(), m.ino())) {
            return Err(not_allowed(format!(
                "{shown} is a hard link to a file in the node's data directory {}, which holds its keys; \
                 remove the link",
                self.data_dir.display()
            )));
        }
        Ok(())
    }

    /// The (device, inode) of every regular file in the data directory
    /// (the file store aside), a few levels deep.
    pub(crate) fn data_inodes(&self) -> HashSet<(u64, u64)> {
        let mut out = HashSet::new();
        let mut stack = vec![(self.data_dir.clone(), 0)];
        let mut seen = 0;
        while let Some((dir, depth)) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else { continue };
            for e in rd.flatten() {
                seen += 1;
                if seen > DATA_DIR_ENTRIES {
                    return out;
                }
                let Ok(m) = std::fs::symlink_metadata(e.path()) else { continue };
                if m.is_file() {
                    out.insert((m.dev(), m.ino()));
                } else if m.is_dir() && depth < DATA_DIR_DEPTH && e.path() != self.store {
                    stack.push((e.path(), depth + 1));
                }
            }
        }
        out
    }

    /// The download folder, canonical (created if missing).
    fn download_root(&self) -> Result<PathBuf, FilesError> {
        let Some(d) = &self.download else {
            return Err(not_allowed(
                "no download folder is configured: set [files].download_dir in the node's config \
                 (FilesConfig::download_dir), or leave `out` unset to keep the file in the store only"
                    .into(),
            ));
        };
        std::fs::create_dir_all(d)
            .and_then(|()| std::fs::canonicalize(d))
            .map_err(|e| FilesError::BadPath(format!("download folder {}: {e}", d.display())))
    }

    /// Where a download named `out` is written: `out` relative to the
    /// download folder, or an absolute path inside it; never through `..`,
    /// a symbolic link leading out, or onto anything that exists.
    pub(crate) fn writable(&self, out: &Path) -> Result<PathBuf, FilesError> {
        let root = self.download_root()?;
        if out.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(not_allowed(format!(
                "output {} contains `..`; name a path inside the download folder {}",
                out.display(),
                root.display()
            )));
        }
        let rel = if out.is_absolute() {
            let configured = self.download.as_deref().unwrap_or(&root);
            out.strip_prefix(&root).or_else(|_| out.strip_prefix(configured)).map_err(|_| {
                not_allowed(format!(
                    "output {} is outside the download folder {}; `files get` writes only under \
                     [files].download_dir: give a path inside it, or one relative to it",
                    out.display(),
                    root.display()
                ))
            })?
        } else {
            out
        };
        let rel: PathBuf = rel.components().filter(|c| matches!(c, Component::Normal(_))).collect();
        if rel.as_os_str().is_empty() {
            return Err(not_allowed(format!(
                "output {} names the download folder itself; name a file or a new directory inside it",
                out.display()
            )));
        }
        let target = root.join(rel);
        self.check_target(&root, &target)?;
        Ok(target)
    }

    /// Checks, right before writing, that `target` is still inside the
    /// download folder: its nearest existing ancestor resolves inside it, and
    /// nothing (not even a dangling link) is at `target` itself.
    pub(crate) fn check_before_write(&self, target: &Path) -> Result<(), FilesError> {
        let root = self.download_root()?;
        self.check_target(&root, target)
    }

    fn check_target(&self, root: &Path, target: &Path) -> Result<(), FilesError> {
        if std::fs::symlink_metadata(target).is_ok() {
            return Err(FilesError::Exists(format!(
                "{} exists; choose another output path or remove it",
                target.display()
            )));
        }
        let mut ancestor = target.parent();
        while let Some(a) = ancestor {
            if let Ok(real) = std::fs::canonicalize(a) {
                if !real.starts_with(root) {
                    return Err(not_allowed(format!(
                        "output {} leads out of the download folder {} (through {}, really {})",
                        target.display(),
                        root.display(),
                        a.display(),
                        real.display()
                    )));
                }
                if real.starts_with(&self.data_dir) {
                    return Err(not_allowed(format!(
                        "output {} is inside the node's data directory {}, which holds its keys; \
                         set [files].download_dir to a folder outside it",
                        target.display(),
                        self.data_dir.display()
                    )));
                }
                return Ok(());
            }
            ancestor = a.parent();
        }
        Err(not_allowed(format!("output {} has no existing folder above it", target.display())))
    }
}
