//! The node key on disk: a 32-byte ed25519 seed as hex in a file of mode
//! 0600, created on first start so that the `PeerId` survives restarts.
//!
//! Every key file the node reads (this one, and the NEAR account key of
//! [`crate::chain::read_key_file`]) must be private: a file its group or
//! others may read or write is refused with the `chmod 600` that fixes it
//! ([`loose_mode`]).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or creating the file failed.
    #[error("node key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file does not hold 64 hex characters.
    #[error("node key file {0} must hold a 32-byte seed as 64 hex characters")]
    Malformed(String),
    /// The file's group or others may read or write it.
    #[error("node key file {0} is open to its group or others (mode {1:o}); run `chmod 600 {0}`")]
    TooOpen(String, u32),
}

/// The permission bits of the file at `path` (symbolic links followed) when
/// its group or others have any access to it; `None` when it is private
/// (0600 or stricter).
pub fn loose_mode(path: &Path) -> std::io::Result<Option<u32>> {
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    Ok((mode & 0o077 != 0).then_some(mode))
}

/// Loads the seed at `path`, or creates one from `fresh` (random bytes the
/// caller drew) if the file does not exist.
pub fn load_or_create(path: &Path, fresh: [u8; 32]) -> Result<[u8; 32], KeyError> {
    let p = path.display().to_string();
    let io = |source| KeyError::Io { path: p.clone(), source };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            if let Some(mode) = loose_mode(path).map_err(io)? {
                return Err(KeyError::TooOpen(p, mode));
            }
            let bytes = hex::decode(text.trim()).map_err(|_| KeyError::Malformed(p.clone()))?;
            bytes.try_into().map_err(|_| KeyError::Malformed(p))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
            f.write_all(hex::encode(fresh).as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
            Ok(fresh)
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reloaded_with_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/node.key");
        let a = load_or_create(&path, [7; 32]).unwrap();
        let b = load_or_create(&path, [9; 32]).unwrap();
        assert_eq!(a, [7; 32]);
        assert_eq!(b, [7; 32], "the existing key wins");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn refuses_open_or_malformed_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        std::fs::write(&path, "zz").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(load_or_create(&path, [0; 32]), Err(KeyError::Malformed(_))));
        std::fs::write(&path, hex::encode([1u8; 32])).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620, 0o602] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = load_or_create(&path, [0; 32]).unwrap_err();
            assert!(err.to_string().contains(&format!("chmod 600 {}", path.display())), "{mode:o}: {err}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(load_or_create(&path, [0; 32]).unwrap(), [1; 32], "owner-only modes are fine");
    }
}
