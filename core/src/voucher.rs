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

/// A payee's acknowledgement of one frame of paid requests (DESIGN §2.12):
/// "I hold the voucher with this digest, and I accepted these requests
/// under it". One signature per frame, however many requests it carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// [`SignedVoucher::digest`] of the voucher the frame carried.
    pub voucher_digest: Hash32,
    /// The requests of the frame the payee accepted (repeats of requests it
    /// holds included), in the frame's order.
    pub accepted: Vec<RequestId>,
    /// The payee.
    pub payee: NodeKey,
    /// The payee's signature over [`Ack::signing_bytes`]; all zero when
    /// `accepted` is empty (nothing is acknowledged, nothing is signed).
    pub signature: Signature,
    /// The requests of the frame the payee refused, each with its reason. Not
    /// signed: a refusal is evidence for nothing on chain, and the transport
    /// authenticates the peer; the payer takes only ids it sent over the
    /// channel and has no ack for. Absent means none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<RefusedRequest>,
}

/// A request of a frame that its payee refused (see [`Ack::refused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedRequest {
    /// The request.
    pub request_id: RequestId,
    /// Why.
    pub reason: crate::protocol::Refusal,
}

impl Ack {
    /// Canonical bytes of an ack: the voucher's digest, the payee, and the
    /// accepted ids with their count.
    pub fn signing_bytes(voucher_digest: &Hash32, payee: &NodeKey, accepted: &[RequestId]) -> Vec<u8> {
        let mut c = Canon::new(DOMAIN_ACK);
        c.fixed(&voucher_digest.0).fixed(&payee.0).u32(u32::try_from(accepted.len()).unwrap_or(u32::MAX));
        for id in accepted {
            c.fixed(&id.0);
        }
        c.take()
    }

    /// The payee acknowledges the requests `accepted` of a frame that came
    /// with the voucher of digest `voucher_digest`, and lists those it
    /// `refused`. Signs only when it accepted something.
    pub fn create(
        voucher_digest: Hash32,
        accepted: Vec<RequestId>,
        refused: Vec<RefusedRequest>,
        payee: &impl Signer,
    ) -> Ack {
        let key = payee.public();
        let signature = if accepted.is_empty() {
            Signature([0; 64])
        } else {
            payee.sign(&Self::signing_bytes(&voucher_digest, &key, &accepted))
        };
        Ack { voucher_digest, accepted, payee: key, signature, refused }
    }

    /// True when `payee` signed this ack (and it accepts something).
    pub fn verify(&self, payee: &NodeKey, v: &impl Verifier) -> bool {
        !self.accepted.is_empty()
            && self.payee == *payee
            && v.verify(payee, &Self::signing_bytes(&self.voucher_digest, &self.payee, &self.accepted), &self.signature)
    }
}
