//! Cumulative vouchers and the acks that answer them (DESIGN §2.4).
//!
//! A voucher says "`payer` has paid, in all, `cumulative` yocto on channel
//! `channel` of contract `contract`". It binds the contract account, the
//! channel and the direction (the payer's key), so it cannot be replayed on
//! another channel, another deployment, or backwards.

use serde::{Deserialize, Serialize};

use crate::bytes::{Hash32, NodeKey, RequestId, Signature, amount_serde, sha256};
use crate::canonical::{Canon, DOMAIN_ACK, DOMAIN_VOUCHER};
use crate::crypto::{Signer, Verifier};

/// Yocto-NEAR.
pub type Amount = u128;

/// The id the contract gave a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "borsh", derive(borsh::BorshSerialize, borsh::BorshDeserialize))]
#[serde(transparent)]
pub struct ChannelId(pub u64);

impl core::fmt::Display for ChannelId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The unsigned content of a voucher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "borsh", derive(borsh::BorshSerialize, borsh::BorshDeserialize))]
pub struct Voucher {
    /// NEAR account of the PoR contract the channel lives in.
    pub contract: String,
    /// The channel.
    pub channel: ChannelId,
    /// Node key of the paying side (fixes the direction).
    pub payer: NodeKey,
    /// Everything the payer has paid on this channel, ever.
    #[serde(with = "amount_serde")]
    pub cumulative: Amount,
}

impl Voucher {
    /// The canonical bytes the payer signs.
    pub fn signing_bytes(&self) -> Vec<u8> {
        Canon::new(DOMAIN_VOUCHER)
            .str(&self.contract)
            .u64(self.channel.0)
            .fixed(&self.payer.0)
            .u128(self.cumulative)
            .take()
    }

    /// Signs with the payer's key (which must be `self.payer`).
    pub fn sign(self, signer: &impl Signer) -> SignedVoucher {
        debug_assert_eq!(signer.public(), self.payer, "voucher signed by someone else");
        let signature = signer.sign(&self.signing_bytes());
        SignedVoucher { voucher: self, signature }
    }
}

/// A voucher with the payer's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "borsh", derive(borsh::BorshSerialize, borsh::BorshDeserialize))]
pub struct SignedVoucher {
    /// The content.
    pub voucher: Voucher,
    /// The payer's signature over [`Voucher::signing_bytes`].
    pub signature: Signature,
}

impl SignedVoucher {
    /// True when the payer's signature holds.
    pub fn verify(&self, v: &impl Verifier) -> bool {
        v.verify(&self.voucher.payer, &self.voucher.signing_bytes(), &self.signature)
    }

    /// Hash of the signed bytes, which an ack commits to.
    pub fn digest(&self) -> Hash32 {
        sha256(&self.voucher.signing_bytes())
    }
}

/// A payee's acknowledgement: "I hold this voucher for this request".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The request the payment was for.
    pub request_id: RequestId,
    /// [`SignedVoucher::digest`] of the voucher acknowledged.
    pub voucher_digest: Hash32,
    /// The payee.
    pub payee: NodeKey,
    /// The payee's signature over [`Ack::signing_bytes`].
    pub signature: Signature,
}

impl Ack {
    /// Canonical bytes of an ack.
    pub fn signing_bytes(request_id: &RequestId, voucher_digest: &Hash32, payee: &NodeKey) -> Vec<u8> {
        Canon::new(DOMAIN_ACK).fixed(&request_id.0).fixed(&voucher_digest.0).fixed(&payee.0).take()
    }

    /// The payee acknowledges `voucher` for `request_id`.
    pub fn create(request_id: RequestId, voucher: &SignedVoucher, payee: &impl Signer) -> Ack {
        let voucher_digest = voucher.digest();
        let key = payee.public();
        let signature = payee.sign(&Self::signing_bytes(&request_id, &voucher_digest, &key));
        Ack { request_id, voucher_digest, payee: key, signature }
    }

    /// True when this acks exactly `voucher` for `request_id`, signed by
    /// `payee`.
    pub fn verify(&self, request_id: &RequestId, voucher: &SignedVoucher, payee: &NodeKey, v: &impl Verifier) -> bool {
        self.request_id == *request_id
            && self.payee == *payee
            && self.voucher_digest == voucher.digest()
            && v.verify(
                payee,
                &Self::signing_bytes(&self.request_id, &self.voucher_digest, &self.payee),
                &self.signature,
            )
    }
}
