//! The data directory: genesis on first start, key files, persistence.
//!
//! Layout of `DIR`:
//! - `chain.borsh`: the whole chain ([`Chain::to_bytes`]), replaced
//!   atomically (temp file, fsync, rename) on every save;
//! - `keys/<account>.json`: NEAR-style key files
//!   (`{"account_id","public_key":"ed25519:…","private_key":"ed25519:…"}`) for
//!   the contract account, its owner and the `N` funded accounts; written
//!   0600 in a 0700 directory, and [`KeyFile::read`] refuses one its group or
//!   others may read or write.
//!
//! Genesis deploys the PoR contract on [`CONTRACT_ACCOUNT`] and calls its
//! `new` with [`devnet_contract_config`] (short windows: a 10 s challenge
//! period, 30 s proposal timeout).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use near_crypto::{KeyType, PublicKey, SecretKey};
use near_primitives::types::AccountId;
use serde::{Deserialize, Serialize};

use crate::engine::{Chain, ChainConfig, DEFAULT_GAS, EngineError};

/// The contract's account on the devnet.
pub const CONTRACT_ACCOUNT: &str = "por.devnet";
/// The contract owner's account.
pub const OWNER_ACCOUNT: &str = "owner.devnet";
/// One NEAR in yocto.
pub const NEAR: u128 = 1_000_000_000_000_000_000_000_000;

/// How a new devnet is made.
#[derive(Debug, Clone)]
pub struct GenesisOptions {
    /// The contract wasm. Default `artifacts/por_contract.wasm`.
    pub wasm: PathBuf,
    /// Number of funded accounts (`node0.devnet`, …). Default 4.
    pub accounts: usize,
    /// Balance of each funded account and of the owner. Default 10 000 NEAR.
    pub balance: u128,
    /// The chain's settings (block time, chain id). Default [`ChainConfig::default`].
    pub chain: ChainConfig,
    /// The JSON arguments of the contract's `new`. Default
    /// `{"config": devnet_contract_config(owner)}`.
    pub init_args: Option<serde_json::Value>,
}

impl Default for GenesisOptions {
    fn default() -> Self {
        GenesisOptions {
            wasm: PathBuf::from("artifacts/por_contract.wasm"),
            accounts: 4,
            balance: 10_000 * NEAR,
            chain: ChainConfig::default(),
            init_args: None,
        }
    }
}

/// A NEAR key file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyFile {
    /// The account.
    pub account_id: AccountId,
    /// `ed25519:…`.
    pub public_key: PublicKey,
    /// `ed25519:…` (also read as `secret_key`, as near-cli writes it).
    #[serde(alias = "secret_key")]
    pub private_key: SecretKey,
}

impl KeyFile {
    /// Reads a key file and checks that the keys match. A file its group or
    /// others may read or write is refused, naming the `chmod` that fixes it.
    pub fn read(path: &Path) -> Result<KeyFile, GenesisError> {
        let bad = |why: String| GenesisError::BadKeyFile { path: path.to_path_buf(), why };
        let mode = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(bad(format!(
                "it holds a private key but is open to its group or others (mode {mode:o}); run `chmod 600 {}`",
                path.display()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let k: KeyFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if k.private_key.public_key() != k.public_key {
            return Err(bad("public_key does not belong to private_key".into()));
        }
        Ok(k)
    }
}

/// What went wrong with the data directory.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// The wasm to deploy at genesis is missing.
    #[error("contract wasm {0} not found: run `make contract` first (or pass --wasm PATH)")]
    MissingWasm(PathBuf),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A key file is malformed.
    #[error("key file {path}: {why}")]
    BadKeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The engine refused a genesis step, or the state file is unreadable.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The contract's `new` failed.
    #[error("the contract's `new` failed: {0}")]
    Init(String),
}

/// A devnet opened from its data directory.
#[derive(Debug)]
pub struct Opened {
    /// The chain.
    pub chain: Chain,
    /// The state file.
    pub state_file: PathBuf,
    /// Whether genesis ran now.
    pub created: bool,
    /// The key files in the directory.
    pub key_files: Vec<PathBuf>,
}

/// The contract configuration used at genesis (see `contract/API.md`).
pub fn devnet_contract_config(owner: &str) -> serde_json::Value {
    serde_json::json!({
        "owner": owner,
        "min_stake": NEAR.to_string(),
        "severance_penalty": (NEAR / 10).to_string(),
        "challenge_period_ms": 10_000,
        "reconnect_window_ms": 15_000,
        "proposal_timeout_ms": 30_000,
        "partition_slash_bps": 1000,
        "late_fee_per_sec": (NEAR / 1_000_000).to_string(),
        "max_late_ms": 60_000,
        "claim_ttl_ms": 86_400_000u64,
        "partition_step_budget": 1000,
        "settle_batch": 25,
        "node_storage_fee": (NEAR / 100).to_string(),
        "channel_storage_fee": (NEAR / 100).to_string(),
        // Config changes land two seconds after the owner submits them (a
        // day on a public network): short enough for tests, long enough
        // that nodes follow a change when it lands, not before.
        "config_delay_ms": 2_000,
    })
}

/// Writes `bytes` to `path` atomically: a temp file beside it, fsync, rename.
pub fn save_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    save_with_mode(path, bytes, 0o644)
}

/// [`save_atomic`] for a secret: the file is 0600 from its first byte.
pub fn save_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    save_with_mode(path, bytes, 0o600)
}

fn save_with_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> GenesisError + '_ {
    move |source| GenesisError::Io { path: path.to_path_buf(), source }
}

fn account(s: &str) -> AccountId {
    s.parse().expect("constant account ids are valid")
}

/// Opens the devnet in `dir`, or creates it (genesis) if `dir` holds none.
pub fn open_or_create(dir: &Path, opts: &GenesisOptions) -> Result<Opened, GenesisError> {
    let state_file = dir.join("chain.borsh");
    let keys_dir = dir.join("keys");
    if state_file.exists() {
        let bytes = std::fs::read(&state_file).map_err(io(&state_file))?;
        let chain = Chain::from_bytes(&bytes)?;
        return Ok(Opened { chain, state_file, created: false, key_files: list_keys(&keys_dir)? });
    }
    let wasm = std::fs::read(&opts.wasm).map_err(|_| GenesisError::MissingWasm(opts.wasm.clone()))?;
    std::fs::create_dir_all(&keys_dir).map_err(io(&keys_dir))?;
    std::fs::set_permissions(&keys_dir, std::fs::Permissions::from_mode(0o700)).map_err(io(&keys_dir))?;
    let mut chain = Chain::new(opts.chain.clone());
    let mut key_files = Vec::new();
    let mut add = |chain: &mut Chain, id: AccountId, balance: u128| -> Result<(), GenesisError> {
        let sk = SecretKey::from_random(KeyType::ED25519);
        chain.create_account(id.clone(), balance, Some(sk.public_key()))?;
        let kf = KeyFile { account_id: id.clone(), public_key: sk.public_key(), private_key: sk };
        let path = keys_dir.join(format!("{id}.json"));
        let text = serde_json::to_vec_pretty(&kf).expect("key files serialise");
        save_private(&path, &text).map_err(io(&path))?;
        key_files.push(path);
        Ok(())
    };
    let contract = account(CONTRACT_ACCOUNT);
    add(&mut chain, contract.clone(), 100 * NEAR)?;
    add(&mut chain, account(OWNER_ACCOUNT), opts.balance)?;
    for i in 0..opts.accounts {
        add(&mut chain, account(&format!("node{i}.devnet")), opts.balance)?;
    }
    chain.deploy(&contract, wasm)?;
    let args = opts
        .init_args
        .clone()
        .unwrap_or_else(|| serde_json::json!({ "config": devnet_contract_config(OWNER_ACCOUNT) }));
    let out = chain.call(&contract, &contract, "new", args.to_string().as_bytes(), 0, DEFAULT_GAS)?;
    if !out.is_success() {
        return Err(GenesisError::Init(out.error_message().unwrap_or_default()));
    }
    save_atomic(&state_file, &chain.to_bytes()).map_err(io(&state_file))?;
    Ok(Opened { chain, state_file, created: true, key_files })
}

fn list_keys(dir: &Path) -> Result<Vec<PathBuf>, GenesisError> {
    let mut out = Vec::new();
    if dir.exists() {
        for e in std::fs::read_dir(dir).map_err(io(dir))? {
            let p = e.map_err(io(dir))?.path();
            if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}
