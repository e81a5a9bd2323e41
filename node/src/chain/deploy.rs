//! Deploying the contract on any network: `por contract deploy`.
//!
//! One transaction deploys the wasm and (unless told not to) calls `new`
//! with the given configuration, so a contract is never left deployed but
//! uninitialised. The chain's protocol version is checked first: a near-sdk
//! 5.30 contract deploys on an older protocol but every call then fails.

use std::path::{Path, PathBuf};

use near_crypto::{PublicKey, SecretKey};
use near_primitives::transaction::{Action, DeployContractAction, FunctionCallAction};
use near_primitives::types::{AccountId, Balance, Gas};
use serde::Deserialize;
use serde_json::Value;

use super::{ChainClient, ChainError, ContractConfig, DEFAULT_GAS, NearRpcChain, TxOutcome};

/// The least protocol version the contract runs on (near-sdk 5.30).
pub const MIN_PROTOCOL_VERSION: u32 = 88;

/// What to deploy where.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// RPC URL of the network.
    pub rpc: String,
    /// The account to deploy on (must match the key file's account).
    pub account: AccountId,
    /// NEAR key file of a full-access key of `account`.
    pub key_file: PathBuf,
    /// The wasm. Default `artifacts/por_contract.wasm`.
    pub wasm: PathBuf,
    /// The config passed to `new`; `None` deploys without initialising
    /// (an upgrade of an initialised contract).
    pub config: Option<ContractConfig>,
}

/// Why a deploy failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The wasm is missing.
    #[error("contract wasm {0} not found: run `make contract` first")]
    MissingWasm(PathBuf),
    /// The key file is unusable.
    #[error("key file {path}: {why}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The network's protocol is too old for the contract.
    #[error(
        "the chain runs protocol {found}, the contract (near-sdk 5.30) needs {MIN_PROTOCOL_VERSION}: every call would fail with LinkError"
    )]
    ProtocolTooOld {
        /// What the chain runs.
        found: u32,
    },
    /// The chain refused or failed the transaction.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

#[derive(Deserialize)]
struct RawKeyFile {
    account_id: AccountId,
    public_key: PublicKey,
    #[serde(alias = "secret_key")]
    private_key: SecretKey,
}

/// Reads a NEAR key file (`{"account_id","public_key","private_key"}`; near-cli's
/// `secret_key` is accepted too) and checks the two keys match. A file its
/// group or others may read or write is refused (see [`crate::keys::loose_mode`]).
pub fn read_key_file(path: &Path) -> Result<(AccountId, SecretKey), DeployError> {
    let bad = |why: String| DeployError::KeyFile { path: path.to_path_buf(), why };
    if let Some(mode) = crate::keys::loose_mode(path).map_err(|e| bad(e.to_string()))? {
        return Err(bad(format!(
            "it holds a private key but is open to its group or others (mode {mode:o}); run `chmod 600 {}`",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let k: RawKeyFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if k.private_key.public_key() != k.public_key {
        return Err(bad("public_key does not belong to private_key".into()));
    }
    Ok((k.account_id, k.private_key))
}

/// Deploys (and initialises) the contract; returns the transaction's outcome.
pub async fn deploy(opts: &DeployOptions) -> Result<TxOutcome, DeployError> {
    let (key_account, secret) = read_key_file(&opts.key_file)?;
    if key_account != opts.account {
        return Err(DeployError::KeyFile {
            path: opts.key_file.clone(),
            why: format!("it is a key of {key_account}, not of {}", opts.account),
        });
    }
    let code = std::fs::read(&opts.wasm).map_err(|_| DeployError::MissingWasm(opts.wasm.clone()))?;
    let chain = NearRpcChain::with_signer(&opts.rpc, opts.account.clone(), secret);
    let status = chain.status().await?;
    if status.protocol_version < MIN_PROTOCOL_VERSION {
        return Err(DeployError::ProtocolTooOld { found: status.protocol_version });
    }
    let mut actions = vec![Action::DeployContract(DeployContractAction { code })];
    if let Some(config) = &opts.config {
        let args: Value = serde_json::json!({ "config": config });
        actions.push(Action::FunctionCall(Box::new(FunctionCallAction {
            method_name: "new".into(),
            args: args.to_string().into_bytes(),
            gas: Gas::from_gas(DEFAULT_GAS),
            deposit: Balance::ZERO,
        })));
    }
    Ok(chain.transact(&opts.account, actions).await?)
}

impl ContractConfig {
    /// A configuration for a public test network: one-hour challenge window,
    /// two-hour reconnection window, one-day proposal timeout, 1 NEAR
    /// minimum stake, config changes a day after they are submitted.
    pub fn public_default(owner: AccountId) -> ContractConfig {
        const NEAR: u128 = 1_000_000_000_000_000_000_000_000;
        ContractConfig {
            owner,
            min_stake: NEAR,
            severance_penalty: NEAR / 10,
            challenge_period_ms: 3_600_000,
            reconnect_window_ms: 7_200_000,
            proposal_timeout_ms: 86_400_000,
            partition_slash_bps: 1000,
            late_fee_per_sec: NEAR / 1_000_000,
            max_late_ms: 60_000,
            claim_ttl_ms: 30 * 86_400_000,
            partition_step_budget: 1000,
            settle_batch: 25,
            node_storage_fee: NEAR / 100,
            channel_storage_fee: NEAR / 100,
            claim_storage_fee: NEAR / 500,
            config_delay_ms: 86_400_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_key_file_open_to_group_or_others_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("account.json");
        let sk = SecretKey::from_seed(near_crypto::KeyType::ED25519, "alice");
        let kf = serde_json::json!({ "account_id": "alice.devnet", "public_key": sk.public_key(), "private_key": sk });
        std::fs::write(&path, kf.to_string()).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = read_key_file(&path).unwrap_err().to_string();
            assert!(e.contains(&format!("chmod 600 {}", path.display())), "{mode:o}: {e}");
            assert!(e.contains(&format!("{mode:o}")), "{e}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let (account, key) = read_key_file(&path).unwrap();
        assert_eq!((account.as_str(), key), ("alice.devnet", sk));
    }
}
