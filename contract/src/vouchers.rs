//! Voucher checks: the chain's `ed25519_verify` behind por-core's
//! [`Verifier`], and the rules a submitted voucher must pass.
//!
//! The rules are a plain function ([`check_voucher`]) returning a typed error,
//! so tests (the golden vectors among them) exercise exactly what the
//! contract's methods enforce; the methods turn an error into a `require!`
//! refusal with [`VoucherError::message`].

use near_sdk::env;
use por_core::{Amount, NodeKey, Signature, SignedVoucher, Verifier};

/// Verifies with the host function `ed25519_verify`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostVerifier;

impl Verifier for HostVerifier {
    fn verify(&self, key: &NodeKey, msg: &[u8], sig: &Signature) -> bool {
        env::ed25519_verify(&sig.0, msg, &key.0)
    }
}

/// Why a voucher was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoucherError {
    /// Signed for another contract account.
    WrongContract {
        /// This contract.
        expected: String,
        /// The voucher's.
        got: String,
    },
    /// Signed for another channel.
    WrongChannel {
        /// The channel of the call.
        expected: u64,
        /// The voucher's.
        got: u64,
    },
    /// Paid by the wrong side (or an unknown key).
    WrongPayer {
        /// The key that must have signed.
        expected: NodeKey,
        /// The voucher's payer.
        got: NodeKey,
    },
    /// Below what is already recorded for its direction (where a voucher
    /// equal to it is accepted: see [`Floor::AtLeast`]).
    Below {
        /// Recorded cumulative amount.
        last: Amount,
        /// The voucher's.
        got: Amount,
    },
    /// Not above what is already recorded for its direction.
    NotIncreasing {
        /// Recorded cumulative amount.
        last: Amount,
        /// The voucher's.
        got: Amount,
    },
    /// The signature does not verify.
    BadSignature,
}

impl VoucherError {
    /// A refusal message that says what to do.
    pub fn message(&self) -> String {
        match self {
            VoucherError::WrongContract { expected, got } => {
                format!(
                    "voucher is for contract {got:?}, but this contract is {expected:?}: it cannot be replayed here"
                )
            }
            VoucherError::WrongChannel { expected, got } => {
                format!(
                    "voucher is for channel {got}, but this call is about channel {expected}: submit that channel's voucher"
                )
            }
            VoucherError::WrongPayer { expected, got } => format!(
                "voucher is paid by key {got}, but here it must be signed by the other side's node key {expected} (wrong direction?)"
            ),
            VoucherError::NotIncreasing { last, got } => format!(
                "voucher for {got} yocto does not exceed the {last} yocto already recorded for this direction (replayed or stale voucher)"
            ),
            VoucherError::Below { last, got } => format!(
                "voucher for {got} yocto is below the {last} yocto already recorded for this direction (stale voucher): submit the latest one"
            ),
            VoucherError::BadSignature => {
                "voucher signature does not verify against the payer's registered node key (forged or damaged)"
                    .to_string()
            }
        }
    }
}

/// How a submitted voucher must compare with what is recorded for its
/// direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Floor {
    /// It must exceed the recorded amount: a voucher that only repeats
    /// what is recorded is a replay (`submit_voucher`, `propose_close`).
    Above(Amount),
    /// It may equal the recorded amount (then it changes nothing): the
    /// closing paths (`sever`, `confirm_close`), where the caller submits
    /// the best voucher it holds, which the other side may have recorded
    /// already (the one a close was proposed with, say).
    AtLeast(Amount),
}

impl Floor {
    /// The recorded amount.
    pub fn recorded(self) -> Amount {
        match self {
            Floor::Above(a) | Floor::AtLeast(a) => a,
        }
    }
}

/// Checks `sv` for channel `channel` of contract `contract`, to be paid by
/// `payer`, against what is recorded (`floor`); returns its cumulative
/// amount.
pub fn check_voucher(
    sv: &SignedVoucher,
    contract: &str,
    channel: u64,
    payer: &NodeKey,
    floor: Floor,
    verifier: &impl Verifier,
) -> Result<Amount, VoucherError> {
    let v = &sv.voucher;
    if v.contract != contract {
        return Err(VoucherError::WrongContract { expected: contract.to_string(), got: v.contract.clone() });
    }
    if v.channel.0 != channel {
        return Err(VoucherError::WrongChannel { expected: channel, got: v.channel.0 });
    }
    if v.payer != *payer {
        return Err(VoucherError::WrongPayer { expected: *payer, got: v.payer });
    }
    match floor {
        Floor::Above(last) if v.cumulative <= last => {
            return Err(VoucherError::NotIncreasing { last, got: v.cumulative });
        }
        Floor::AtLeast(last) if v.cumulative < last => return Err(VoucherError::Below { last, got: v.cumulative }),
        _ => {}
    }
    if !sv.verify(verifier) {
        return Err(VoucherError::BadSignature);
    }
    Ok(v.cumulative)
}

/// [`check_voucher`] against this contract's account with the host
/// verifier, refusing (panicking) with the error's message.
pub fn require_voucher(sv: &SignedVoucher, channel: u64, payer: &NodeKey, floor: Floor) -> Amount {
    let me = env::current_account_id();
    match check_voucher(sv, me.as_str(), channel, payer, floor, &HostVerifier) {
        Ok(c) => c,
        Err(e) => env::panic_str(&e.message()),
    }
}
