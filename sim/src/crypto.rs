//! **Simulation-only, non-cryptographic** signatures.
//!
//! A run of 1,000,000 requests makes some ten million signatures; ed25519
//! would take minutes. [`SimSigner`] and [`SimVerifier`] implement the core's
//! [`Signer`] and [`Verifier`] traits with a keyed 64-bit hash instead: a
//! "signature" is the signer's key followed by a hash of the message, so a
//! verifier still catches every check made against the wrong key or the wrong
//! bytes (an engine bug), but **anyone can forge one**. The protocol engine
//! is the same code either way; only these two types differ from the node's.
//! Simulated attackers never forge signatures, which is the real protocol's
//! assumption too.

use por_core::{NodeKey, Signature, Signer, Verifier};

/// A 64-bit hash of `msg`, word at a time (not cryptographic).
pub fn hash64(msg: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: u64 = 0xCBF2_9CE4_8422_2325 ^ (msg.len() as u64).wrapping_mul(K);
    let mut chunks = msg.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("chunks of 8"));
        h = (h ^ w).wrapping_mul(K).rotate_left(29);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    h ^ (h >> 31)
}

/// The simulated node key of node `i`.
pub fn sim_key(i: u32) -> NodeKey {
    let mut k = [0x5Au8; 32];
    k[..4].copy_from_slice(&i.to_le_bytes());
    NodeKey(k)
}

/// The node index inside a key made by [`sim_key`].
pub fn key_index(k: &NodeKey) -> u32 {
    u32::from_le_bytes(k.0[..4].try_into().expect("4 bytes"))
}

/// Signs with a [`sim_key`]: NOT cryptographic (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct SimSigner(pub NodeKey);

impl Signer for SimSigner {
    fn public(&self) -> NodeKey {
        self.0
    }
    fn sign(&self, msg: &[u8]) -> Signature {
        let mut s = [0u8; 64];
        s[..32].copy_from_slice(&self.0.0);
        s[32..40].copy_from_slice(&hash64(msg).to_le_bytes());
        Signature(s)
    }
}

/// Verifies [`SimSigner`] signatures: NOT cryptographic (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct SimVerifier;

impl Verifier for SimVerifier {
    fn verify(&self, key: &NodeKey, msg: &[u8], sig: &Signature) -> bool {
        sig.0[..32] == key.0 && sig.0[32..40] == hash64(msg).to_le_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_key_or_bytes_fail() {
        let s = SimSigner(sim_key(7));
        let sig = s.sign(b"hello world, longer than eight");
        assert!(SimVerifier.verify(&sim_key(7), b"hello world, longer than eight", &sig));
        assert!(!SimVerifier.verify(&sim_key(8), b"hello world, longer than eight", &sig));
        assert!(!SimVerifier.verify(&sim_key(7), b"hello world, longer than eighT", &sig));
        assert_eq!(key_index(&sim_key(12345)), 12345);
        assert_ne!(hash64(b"a"), hash64(b"a\0"));
    }
}
