//! The proof a node gives at registration that it holds its node key
//! (DESIGN §2.8): a signature by the node key over the contract account and
//! the registering account, so nobody registers a key they do not hold and
//! a proof made for one account or one deployment is worth nothing for
//! another.

use crate::bytes::{NodeKey, Signature};
use crate::canonical::{Canon, DOMAIN_REGISTRATION};
use crate::crypto::{Signer, Verifier};

/// What a registration proof is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// NEAR account of the PoR contract registered with.
    pub contract: String,
    /// NEAR account that registers (the node's account).
    pub account: String,
    /// The node key registered; it signs.
    pub node_key: NodeKey,
}

impl Registration {
    /// The canonical bytes the node key signs.
    pub fn signing_bytes(&self) -> Vec<u8> {
        Canon::new(DOMAIN_REGISTRATION).str(&self.contract).str(&self.account).fixed(&self.node_key.0).take()
    }

    /// The proof: `signer` (whose public key must be `node_key`) signs.
    pub fn sign(&self, signer: &impl Signer) -> Signature {
        debug_assert_eq!(signer.public(), self.node_key, "registration signed by another key");
        signer.sign(&self.signing_bytes())
    }

    /// Whether `signature` is `node_key`'s over these bytes.
    pub fn verify(&self, signature: &Signature, verifier: &impl Verifier) -> bool {
        verifier.verify(&self.node_key, &self.signing_bytes(), signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Ed25519Verifier, NodeSigner};

    #[test]
    fn a_proof_holds_only_for_its_contract_account_and_key() {
        let s = NodeSigner::from_seed([7; 32]);
        let r = Registration { contract: "por.near".into(), account: "alice.near".into(), node_key: s.public() };
        let sig = r.sign(&s);
        assert!(r.verify(&sig, &Ed25519Verifier));
        let other_account = Registration { account: "mallory.near".into(), ..r.clone() };
        assert!(!other_account.verify(&sig, &Ed25519Verifier));
        let other_contract = Registration { contract: "evil.near".into(), ..r.clone() };
        assert!(!other_contract.verify(&sig, &Ed25519Verifier));
        let other_key = Registration { node_key: NodeSigner::from_seed([8; 32]).public(), ..r.clone() };
        assert!(!other_key.verify(&sig, &Ed25519Verifier));
        // The account and contract fields cannot trade bytes.
        let shifted = Registration { contract: "por.nearalice".into(), account: ".near".into(), ..r };
        assert_ne!(
            shifted.signing_bytes(),
            Registration { contract: "por.near".into(), account: "alice.near".into(), node_key: s.public() }
                .signing_bytes()
        );
    }
}
