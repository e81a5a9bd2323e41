//! Function-call access keys: a NEAR key of the operator's account that may
//! only call the contract, without a deposit, paying gas out of an allowance
//! (`por init --function-key` creates one; the node's chain client signs
//! what it may with it, see [`super::NearRpcChain::with_keys`]).
//!
//! A node that holds only such a key can do everything its agent does on
//! its own (sever, submit vouchers, finalize, close, confirm without a
//! deposit, partition steps) but cannot move the account's money: no
//! deposit, no transfer, no key changes, and with [`AGENT_METHODS`] not even
//! `withdraw` or `leave`. Not here: which file holds the key (the binary's
//! configuration).

use std::path::Path;

use near_crypto::{ED25519SecretKey, PublicKey, SecretKey};
use near_primitives::account::{AccessKey, AccessKeyPermission, FunctionCallPermission};
use near_primitives::transaction::{Action, AddKeyAction};
use near_primitives::types::{AccountId, Balance};

use super::{ChainClient, ChainError, TxOutcome};

/// The contract methods the node's agent calls without a deposit: what a
/// function-call key of the node needs. `withdraw`, `leave` and the
/// operator's own calls are left out, so a stolen key cannot make the
/// account leave or move its balance.
pub const AGENT_METHODS: &[&str] = &[
    "sever",
    "submit_voucher",
    "finalize",
    "confirm_close",
    "confirm_channel",
    "continue_partition_check",
    "settle",
    "cancel_proposal",
];

/// The allowance a new function-call key gets: 1 NEAR of gas, about 33
/// calls at 300 Tgas each at NEAR's minimum gas price (refunds of unused gas
/// go to the account, not back to the allowance).
pub const DEFAULT_ALLOWANCE: u128 = 1_000_000_000_000_000_000_000_000;

/// An ed25519 NEAR key from 32 random bytes.
pub fn secret_key_from_seed(seed: [u8; 32]) -> SecretKey {
    let mut bytes = seed;
    let secret = libp2p::identity::ed25519::SecretKey::try_from_bytes(&mut bytes)
        .expect("any 32 bytes are an ed25519 secret key");
    let keypair = libp2p::identity::ed25519::Keypair::from(secret);
    SecretKey::ED25519(ED25519SecretKey(keypair.to_bytes()))
}

/// Writes `key` of `account` as a NEAR key file (`{"account_id",
/// "public_key", "private_key"}`, what [`super::read_key_file`] reads) of
/// mode 0600. An existing file is not overwritten.
pub fn write_key_file(path: &Path, account: &AccountId, key: &SecretKey) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let body = serde_json::json!({
        "account_id": account,
        "public_key": key.public_key().to_string(),
        "private_key": key.to_string(),
    });
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path)?;
    f.write_all(body.to_string().as_bytes())?;
    f.sync_all()
}

/// The `AddKey` action of a function-call key for `receiver`'s `methods`
/// (none: any method) with `allowance` yocto of gas.
pub fn add_function_key_action(key: PublicKey, receiver: &AccountId, methods: &[&str], allowance: u128) -> Action {
    Action::AddKey(Box::new(AddKeyAction {
        public_key: key,
        access_key: AccessKey {
            nonce: 0,
            permission: AccessKeyPermission::FunctionCall(FunctionCallPermission {
                allowance: Some(Balance::from_yoctonear(allowance)),
                receiver_id: receiver.to_string(),
                method_names: methods.iter().map(|m| m.to_string()).collect(),
            }),
        },
    }))
}

/// Adds `key` to the client's own account as a function-call key (signed
/// with its full-access key).
pub async fn add_function_key<C: ChainClient>(
    chain: &C,
    key: PublicKey,
    receiver: &AccountId,
    methods: &[&str],
    allowance: u128,
) -> Result<TxOutcome, ChainError> {
    let account = chain.signer_account().ok_or(ChainError::NoSigner)?.clone();
    chain.transact(&account, vec![add_function_key_action(key, receiver, methods, allowance)]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_key_file_reads_back_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("function-key.json");
        let key = secret_key_from_seed([7; 32]);
        let account: AccountId = "alice.devnet".parse().unwrap();
        write_key_file(&path, &account, &key).unwrap();
        let (a, k) = super::super::read_key_file(&path).unwrap();
        assert_eq!((a, k), (account.clone(), key.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(write_key_file(&path, &account, &secret_key_from_seed([8; 32])).is_err(), "never overwritten");
        let sig = key.sign(b"m");
        assert!(sig.verify(b"m", &key.public_key()), "the public half matches the secret");
        assert_ne!(secret_key_from_seed([8; 32]), key);
    }
}
