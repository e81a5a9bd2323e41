//! The devnet's key files are private: genesis writes them 0600 in a 0700
//! directory, and a key file its group or others may read is refused on load
//! with the `chmod` that fixes it.

use std::os::unix::fs::PermissionsExt;

use por_devnet::genesis::{self, GenesisOptions, KeyFile};

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn genesis_writes_private_key_files_and_loose_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = concat!(env!("CARGO_MANIFEST_DIR"), "/../artifacts/por_contract.wasm");
    let opts = GenesisOptions { wasm: wasm.into(), accounts: 2, ..GenesisOptions::default() };
    let opened = genesis::open_or_create(dir.path(), &opts)
        .unwrap_or_else(|e| panic!("{e}; build the contract with `make contract` (make test does)"));
    assert_eq!(opened.key_files.len(), 4, "contract, owner and two accounts");
    assert_eq!(mode(&dir.path().join("keys")), 0o700);
    for k in &opened.key_files {
        assert_eq!(mode(k), 0o600, "{}", k.display());
        KeyFile::read(k).unwrap();
    }

    let k = &opened.key_files[0];
    for loose in [0o644, 0o640, 0o604, 0o620] {
        std::fs::set_permissions(k, std::fs::Permissions::from_mode(loose)).unwrap();
        let e = KeyFile::read(k).unwrap_err().to_string();
        assert!(e.contains(&k.display().to_string()) && e.contains(&format!("chmod 600 {}", k.display())), "{e}");
    }
    std::fs::set_permissions(k, std::fs::Permissions::from_mode(0o400)).unwrap();
    KeyFile::read(k).unwrap();
}
