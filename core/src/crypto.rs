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
            let Some(vk) = verifying_key(key) else {
                return false;
            };
            let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
            vk.verify_strict(msg, &sig).is_ok()
        }
    }

    /// Keys remembered per thread before the memory is cleared.
    const KEYS_KEPT: usize = 4096;

    std::thread_local! {
        /// Decompressed keys (`None`: not a curve point). A node verifies
        /// the same few keys over and over (its neighbours, the servers it
        /// asks), and decompressing one costs about a third of a verification.
        static KEYS: std::cell::RefCell<std::collections::HashMap<[u8; 32], Option<VerifyingKey>>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }

    fn verifying_key(key: &NodeKey) -> Option<VerifyingKey> {
        KEYS.with(|keys| {
            let mut keys = keys.borrow_mut();
            if let Some(vk) = keys.get(&key.0) {
                return *vk;
            }
            if keys.len() >= KEYS_KEPT {
                keys.clear();
            }
            let vk = VerifyingKey::from_bytes(&key.0).ok();
            keys.insert(key.0, vk);
            vk
        })
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

        #[test]
        fn remembered_keys_give_the_same_answers() {
            let s = NodeSigner::from_seed([5; 32]);
            let sig = s.sign(b"m");
            for _ in 0..3 {
                assert!(Ed25519Verifier.verify(&s.public(), b"m", &sig));
                assert!(!Ed25519Verifier.verify(&s.public(), b"n", &sig));
            }
            // Not a point on the curve (y = 2 has no x): refused, every time.
            let mut bad = [0u8; 32];
            bad[0] = 2;
            assert!(VerifyingKey::from_bytes(&bad).is_err());
            for _ in 0..2 {
                assert!(!Ed25519Verifier.verify(&NodeKey(bad), b"m", &sig));
            }
            // More keys than are kept: still right after the memory is cleared.
            for i in 0..(KEYS_KEPT + 10) as u32 {
                let mut k = [0u8; 32];
                k[..4].copy_from_slice(&i.to_le_bytes());
                let _ = Ed25519Verifier.verify(&NodeKey(k), b"m", &sig);
            }
            assert!(Ed25519Verifier.verify(&s.public(), b"m", &sig));
        }
    }
}
