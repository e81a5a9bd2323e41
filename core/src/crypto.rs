//! Signing and verification, behind two small traits so that the core stays
//! free of any particular implementation: the node and the simulator use
//! ed25519-dalek (feature `native`), the contract the chain's host function.

use crate::bytes::{NodeKey, Signature};

/// Checks ed25519 signatures.
pub trait Verifier {
    /// True when `sig` is `key`'s signature over `msg`.
    fn verify(&self, key: &NodeKey, msg: &[u8], sig: &Signature) -> bool;
}

/// Makes ed25519 signatures with one node key.
pub trait Signer {
    /// The public key signatures verify against.
    fn public(&self) -> NodeKey;
    /// Signs `msg`.
    fn sign(&self, msg: &[u8]) -> Signature;
}

/// A verifier that accepts nothing; for code paths that must not accept
/// signed input (and for tests of refusals).
#[derive(Debug, Clone, Copy, Default)]
pub struct RejectAll;

impl Verifier for RejectAll {
    fn verify(&self, _: &NodeKey, _: &[u8], _: &Signature) -> bool {
        false
    }
}

#[cfg(feature = "native")]
pub use native::{Ed25519Verifier, NodeSigner};

#[cfg(feature = "native")]
mod native {
    use super::*;
    use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

    /// Verifies with ed25519-dalek (strict verification: no malleable or
    /// small-order keys, matching the chain's `ed25519_verify`).
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Ed25519Verifier;

    impl Verifier for Ed25519Verifier {
        fn verify(&self, key: &NodeKey, msg: &[u8], sig: &Signature) -> bool {
            let Ok(vk) = VerifyingKey::from_bytes(&key.0) else {
                return false;
            };
            let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
            vk.verify_strict(msg, &sig).is_ok()
        }
    }

    /// A node's signing key.
    #[derive(Clone)]
    pub struct NodeSigner(SigningKey);

    impl NodeSigner {
        /// The key whose 32-byte secret seed is `seed`. Randomness is the
        /// caller's: the core reads none.
        pub fn from_seed(seed: [u8; 32]) -> Self {
            NodeSigner(SigningKey::from_bytes(&seed))
        }

        /// The 32-byte secret seed (keep it secret; the node stores it 0600).
        pub fn seed(&self) -> [u8; 32] {
            self.0.to_bytes()
        }
    }

    impl core::fmt::Debug for NodeSigner {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write!(f, "NodeSigner({})", self.public())
        }
    }

    impl Signer for NodeSigner {
        fn public(&self) -> NodeKey {
            NodeKey(self.0.verifying_key().to_bytes())
        }
        fn sign(&self, msg: &[u8]) -> Signature {
            Signature(self.0.sign(msg).to_bytes())
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn sign_verify_and_tamper() {
            let s = NodeSigner::from_seed([3; 32]);
            let sig = s.sign(b"hello");
            assert!(Ed25519Verifier.verify(&s.public(), b"hello", &sig));
            assert!(!Ed25519Verifier.verify(&s.public(), b"hellp", &sig));
            let other = NodeSigner::from_seed([4; 32]);
            assert!(!Ed25519Verifier.verify(&other.public(), b"hello", &sig));
            assert!(!RejectAll.verify(&s.public(), b"hello", &sig));
        }
    }
}
