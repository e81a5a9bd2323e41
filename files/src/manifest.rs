//! Directories: a manifest is a small JSON file naming each file's path,
//! size and content id. It is content-addressed like any file; the id of a
//! directory is the id of its manifest. A fetched blob that parses as a
//! manifest is treated as a directory (use `--raw` to keep the JSON).
//!
//! A manifest comes from the network, so everything in it is checked before
//! a byte is written: its size, the number of entries, and every path (relative,
//! no `..`, no empty or over-long component, no duplicates, no file that is
//! also a directory of another).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::id::ContentId;

/// The first bytes of every manifest.
pub const MAGIC: &[u8] = b"{\"por_manifest\":1,";
/// Largest manifest read.
pub const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;
/// Most files in one directory tree.
pub const MAX_ENTRIES: usize = 100_000;
/// Longest path in a manifest, bytes.
pub const MAX_PATH: usize = 4096;
/// Longest path component, bytes.
pub const MAX_COMPONENT: usize = 255;

/// A directory tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version: 1.
    pub por_manifest: u32,
    /// The files, sorted by path.
    pub entries: Vec<ManifestEntry>,
}

/// One file of a directory tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    /// Path relative to the directory, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Content id.
    pub id: ContentId,
}

/// A manifest that must not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Larger than [`MAX_MANIFEST_BYTES`].
    #[error("the manifest is {0} bytes, more than the {MAX_MANIFEST_BYTES} allowed")]
    TooLarge(u64),
    /// Not valid JSON of the right shape.
    #[error("malformed manifest: {0}")]
    Malformed(String),
    /// More than [`MAX_ENTRIES`] files.
    #[error("the manifest lists {0} files, more than the {MAX_ENTRIES} allowed")]
    TooManyEntries(usize),
    /// A path that could escape the target directory or is unusable.
    #[error("the manifest names an unsafe path {0:?}: {1}")]
    BadPath(String, &'static str),
    /// Two entries with the same path, or a file inside another file.
    #[error("the manifest names {0:?} twice (or as both a file and a directory)")]
    Duplicate(String),
}

impl Manifest {
    /// A manifest of `entries` (sorted here); checks them as a reader would.
    pub fn new(mut entries: Vec<ManifestEntry>) -> Result<Self, ManifestError> {
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        let m = Manifest { por_manifest: 1, entries };
        m.check()?;
        Ok(m)
    }

    /// The JSON bytes (starting with [`MAGIC`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a manifest always serialises")
    }

    /// Whether `head` (the first bytes of a blob) looks like a manifest.
    pub fn looks_like(head: &[u8]) -> bool {
        head.starts_with(MAGIC)
    }

    /// Reads and checks a manifest.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge(bytes.len() as u64));
        }
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed(e.to_string()))?;
        if m.por_manifest != 1 {
            return Err(ManifestError::Malformed(format!("unknown manifest version {}", m.por_manifest)));
        }
        m.check()?;
        Ok(m)
    }

    fn check(&self) -> Result<(), ManifestError> {
        if self.entries.len() > MAX_ENTRIES {
            return Err(ManifestError::TooManyEntries(self.entries.len()));
        }
        let mut files = BTreeSet::new();
        let mut dirs = BTreeSet::new();
        for e in &self.entries {
            check_path(&e.path)?;
            if !files.insert(e.path.as_str()) || dirs.contains(e.path.as_str()) {
                return Err(ManifestError::Duplicate(e.path.clone()));
            }
            let mut at = 0;
            while let Some(i) = e.path[at..].find('/') {
                let dir = &e.path[..at + i];
                if files.contains(dir) {
                    return Err(ManifestError::Duplicate(dir.to_string()));
                }
                dirs.insert(dir);
                at += i + 1;
            }
        }
        Ok(())
    }
}

/// Checks one relative path of a manifest.
pub fn check_path(p: &str) -> Result<(), ManifestError> {
    let bad = |why| Err(ManifestError::BadPath(p.chars().take(200).collect(), why));
    if p.is_empty() {
        return bad("empty");
    }
    if p.len() > MAX_PATH {
        return bad("longer than 4096 bytes");
    }
    if p.starts_with('/') {
        return bad("absolute");
    }
    if p.contains('\\') || p.contains('\0') {
        return bad("contains a backslash or NUL");
    }
    for c in p.split('/') {
        if c.is_empty() {
            return bad("empty component");
        }
        if c == "." || c == ".." {
            return bad("`.` or `..` component");
        }
        if c.len() > MAX_COMPONENT {
            return bad("component longer than 255 bytes");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str) -> ManifestEntry {
        ManifestEntry { path: path.into(), size: 1, id: ContentId([1; 32]) }
    }

    #[test]
    fn round_trip_and_magic() {
        let m = Manifest::new(vec![e("b/c.txt"), e("a.txt")]).unwrap();
        let b = m.to_bytes();
        assert!(Manifest::looks_like(&b), "{}", String::from_utf8_lossy(&b));
        assert_eq!(Manifest::parse(&b).unwrap(), m);
        assert_eq!(m.entries[0].path, "a.txt");
    }

    #[test]
    fn hostile_manifests_are_refused() {
        for p in ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a\\b", "x\0", &"y".repeat(300)] {
            assert!(Manifest::new(vec![e(p)]).is_err(), "{p:?} accepted");
        }
        assert!(Manifest::new(vec![e("a"), e("a")]).is_err());
        assert!(Manifest::new(vec![e("a"), e("a/b")]).is_err());
        assert!(Manifest::new(vec![e("a/b"), e("a")]).is_err());
        assert!(Manifest::parse(b"{\"por_manifest\":2,\"entries\":[]}").is_err());
        assert!(Manifest::parse(b"{\"por_manifest\":1,\"entries\":[],\"x\":1}").is_err());
        assert!(Manifest::parse(b"not json").is_err());
    }
}
