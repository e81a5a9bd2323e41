//! Batch signatures (DESIGN §2.12): one ed25519 signature over a Merkle root
//! covers every request (or every response) a node signs in one turn, and
//! each object carries the path from its leaf to that root.
//!
//! All hashes here are BLAKE3 over canonical, domain-separated bytes
//! ([`Canon`]): a leaf, an inner node and a root each have their own domain,
//! so no leaf can pass for an inner node nor a request root for a response
//! root. The tree is built level by level, pairing neighbours left to right;
//! an odd node out is promoted to the next level unchanged, so a path holds
//! only real siblings and a batch of one has an empty path (its root is its
//! leaf, and it costs what one v1 signature did).
//!
//! A path does not say where its leaf sits (no index, no size): a verifier
//! only needs to know that the signer committed to the leaf, and any leaf
//! that hashes up to a signed root was committed to.
//!
//! [`RootCache`] remembers the roots a node has verified, so a batch of `n`
//! objects costs one verification at each node however many of them pass it.

use serde::{Deserialize, Serialize};

use crate::bytes::{Hash32, NodeKey, RequestId, Signature};
use crate::canonical::{
    Canon, DOMAIN_MERKLE_NODE, DOMAIN_REQUEST_LEAF, DOMAIN_REQUEST_ROOT, DOMAIN_RESPONSE_LEAF, DOMAIN_RESPONSE_ROOT,
};
use crate::crypto::{Signer, Verifier};

/// The most steps a path may have: a batch holds at most 2³² leaves.
pub const MAX_PATH: usize = 32;

/// BLAKE3 of `data`: the hash of bodies, leaves and inner nodes.
pub fn blake3(data: &[u8]) -> Hash32 {
    Hash32(*::blake3::hash(data).as_bytes())
}

/// A leaf's path to its batch's root: the siblings from the leaf up, and for
/// each whether it sits on the left. Empty for a batch of one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawPath")]
pub struct MerklePath {
    /// Bit `i` set: `siblings[i]` is the left input of step `i`. No bit at
    /// or above `siblings.len()` is set.
    sides: u32,
    /// The siblings, from the leaf up (at most [`MAX_PATH`]).
    siblings: Vec<Hash32>,
}

/// A path as decoded, before its checks.
#[derive(Deserialize)]
struct RawPath {
    sides: u32,
    siblings: Vec<Hash32>,
}

/// Why a decoded path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// More steps than any batch can have.
    #[error("merkle path of {0} steps exceeds the limit of {MAX_PATH}")]
    TooLong(usize),
    /// A side bit names a step the path does not have.
    #[error("merkle path of {steps} steps sets a side bit at step {bit} (paths are canonical: unused bits are zero)")]
    StrayBit {
        /// Steps in the path.
        steps: usize,
        /// The lowest stray bit.
        bit: u32,
    },
}

impl TryFrom<RawPath> for MerklePath {
    type Error = PathError;
    fn try_from(r: RawPath) -> Result<Self, PathError> {
        MerklePath::new(r.sides, r.siblings)
    }
}

impl MerklePath {
    /// A path from its parts, checked as a decoder checks it.
    pub fn new(sides: u32, siblings: Vec<Hash32>) -> Result<Self, PathError> {
        if siblings.len() > MAX_PATH {
            return Err(PathError::TooLong(siblings.len()));
        }
        let stray = if siblings.len() >= 32 { 0 } else { sides >> siblings.len() };
        if stray != 0 {
            return Err(PathError::StrayBit {
                steps: siblings.len(),
                bit: siblings.len() as u32 + stray.trailing_zeros(),
            });
        }
        Ok(MerklePath { sides, siblings })
    }

    /// True for a batch of one.
    pub fn is_empty(&self) -> bool {
        self.siblings.is_empty()
    }

    /// Steps from the leaf to the root.
    pub fn len(&self) -> usize {
        self.siblings.len()
    }

    /// The side bits (see the field's docs).
    pub fn sides(&self) -> u32 {
        self.sides
    }

    /// The siblings, from the leaf up.
    pub fn siblings(&self) -> &[Hash32] {
        &self.siblings
    }

    /// The root that `leaf` reaches along this path.
    pub fn root(&self, leaf: Hash32) -> Hash32 {
        let mut acc = leaf;
        for (i, s) in self.siblings.iter().enumerate() {
            acc = if self.sides >> i & 1 == 1 { node(s, &acc) } else { node(&acc, s) };
        }
        acc
    }
}

/// BLAKE3 of the canonical bytes `Canon::new(domain).fixed(parts[0])…`,
/// fed to the hasher as they come (no buffer: leaves and inner nodes are
/// hashed at every hop).
fn hash_canon(domain: &str, parts: &[&[u8]]) -> Hash32 {
    let mut h = ::blake3::Hasher::new();
    h.update(&(domain.len() as u32).to_be_bytes());
    h.update(domain.as_bytes());
    for p in parts {
        h.update(p);
    }
    Hash32(*h.finalize().as_bytes())
}

/// The hash of an inner node over its two children.
pub fn node(left: &Hash32, right: &Hash32) -> Hash32 {
    hash_canon(DOMAIN_MERKLE_NODE, &[&left.0, &right.0])
}

/// The leaf of a request in its requester's batch: its id (which commits to
/// every signed field and, through it, the body's hash).
pub fn request_leaf(id: &RequestId) -> Hash32 {
    hash_canon(DOMAIN_REQUEST_LEAF, &[&id.0])
}

/// The leaf of a response in its server's batch: `H(request id ‖ H(body))`.
pub fn response_leaf(id: &RequestId, body_hash: &Hash32) -> Hash32 {
    hash_canon(DOMAIN_RESPONSE_LEAF, &[&id.0, &body_hash.0])
}

/// What a root's signature says: which kind of batch it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Batch {
    /// Requests, signed by their requester.
    Requests,
    /// Responses, signed by their server.
    Responses,
}

impl Batch {
    /// The canonical bytes the signer signs for a batch with `root`.
    pub fn signing_bytes(self, signer: &NodeKey, root: &Hash32) -> Vec<u8> {
        let domain = match self {
            Batch::Requests => DOMAIN_REQUEST_ROOT,
            Batch::Responses => DOMAIN_RESPONSE_ROOT,
        };
        Canon::new(domain).fixed(&signer.0).fixed(&root.0).take()
    }
}

/// Builds the tree over `leaves` (at least one) and returns its root and
/// each leaf's path, in the leaves' order.
pub fn tree(leaves: &[Hash32]) -> (Hash32, Vec<MerklePath>) {
    assert!(!leaves.is_empty(), "a batch has at least one leaf");
    let mut paths: Vec<MerklePath> = vec![MerklePath::default(); leaves.len()];
    // Each node of the current level, with the leaves under it.
    let mut level: Vec<(Hash32, std::ops::Range<usize>)> =
        leaves.iter().enumerate().map(|(i, h)| (*h, i..i + 1)).collect();
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        let mut it = level.into_iter();
        while let Some((l, lr)) = it.next() {
            match it.next() {
                Some((r, rr)) => {
                    for p in &mut paths[lr.clone()] {
                        p.siblings.push(r);
                    }
                    for p in &mut paths[rr.clone()] {
                        p.sides |= 1 << p.siblings.len();
                        p.siblings.push(l);
                    }
                    next.push((node(&l, &r), lr.start..rr.end));
                }
                None => next.push((l, lr)),
            }
        }
        level = next;
    }
    (level[0].0, paths)
}

/// Signs a batch: the root over `leaves`, one signature, and each leaf's
/// path (empty for a batch of one).
pub fn sign_batch(kind: Batch, leaves: &[Hash32], signer: &impl Signer) -> (Signature, Vec<MerklePath>) {
    let (root, paths) = tree(leaves);
    (signer.sign(&kind.signing_bytes(&signer.public(), &root)), paths)
}

/// Roots a node has verified, so that it verifies each batch once however
/// many of its objects reach it. Only roots of batches of more than one are
/// kept (an object whose path is empty is its batch: its root comes once,
/// and remembering it would cost more than v1 did). Bounded: past
/// [`RootCache::CAPACITY`] it forgets everything and starts again (a
/// forgotten root is verified again, nothing worse).
#[derive(Debug, Default)]
pub struct RootCache {
    seen: std::collections::HashSet<(Batch, NodeKey, Hash32)>,
}

impl RootCache {
    /// Roots remembered at most.
    pub const CAPACITY: usize = 65_536;

    /// True when `signature` by `signer` holds over the batch `root` of
    /// `kind` that `path` leads to, or a signature over that root was
    /// verified before. Only a root whose signature held, of a batch of more
    /// than one (`path` not empty), is remembered.
    pub fn verify(
        &mut self,
        kind: Batch,
        signer: &NodeKey,
        root: &Hash32,
        path: &MerklePath,
        signature: &Signature,
        v: &impl Verifier,
    ) -> bool {
        if path.is_empty() {
            return v.verify(signer, &kind.signing_bytes(signer, root), signature);
        }
        if self.seen.contains(&(kind, *signer, *root)) {
            return true;
        }
        if !v.verify(signer, &kind.signing_bytes(signer, root), signature) {
            return false;
        }
        if self.seen.len() >= Self::CAPACITY {
            self.seen.clear();
        }
        self.seen.insert((kind, *signer, *root));
        true
    }

    /// Roots remembered now.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// True when none is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash32> {
        (0..n).map(|i| blake3(&(i as u64).to_be_bytes())).collect()
    }

    #[test]
    fn every_leaf_reaches_the_root_and_no_other_does() {
        for n in [1usize, 2, 3, 4, 5, 7, 8, 9, 31, 32, 33, 100] {
            let ls = leaves(n);
            let (root, paths) = tree(&ls);
            assert_eq!(paths.len(), n);
            for (l, p) in ls.iter().zip(&paths) {
                assert_eq!(p.root(*l), root, "n = {n}");
                assert!(p.len() <= (usize::BITS - (n - 1).leading_zeros()) as usize);
                // Canonical: what a decoder accepts.
                assert_eq!(MerklePath::new(p.sides(), p.siblings().to_vec()).as_ref(), Ok(p));
            }
            if n > 1 {
                assert_ne!(paths[0].root(ls[1]), root, "a leaf on another's path");
                let mut forged = paths[0].clone();
                forged.siblings[0].0[0] ^= 1;
                assert_ne!(forged.root(ls[0]), root, "a forged sibling");
            }
        }
        assert!(tree(&leaves(1)).1[0].is_empty(), "a batch of one has no path");
        assert_eq!(tree(&leaves(1)).0, leaves(1)[0], "and its root is its leaf");
    }

    #[test]
    fn paths_are_checked_on_decode() {
        assert_eq!(MerklePath::new(0, vec![Hash32([0; 32]); 33]), Err(PathError::TooLong(33)));
        assert_eq!(MerklePath::new(0b100, vec![Hash32([0; 32]); 2]), Err(PathError::StrayBit { steps: 2, bit: 2 }));
        assert!(MerklePath::new(u32::MAX, vec![Hash32([0; 32]); 32]).is_ok());
        assert_eq!(MerklePath::new(1, vec![]), Err(PathError::StrayBit { steps: 0, bit: 0 }));
    }

    #[test]
    fn leaves_hash_their_canonical_bytes() {
        let id = RequestId([7; 32]);
        let h = Hash32([9; 32]);
        assert_eq!(response_leaf(&id, &h), blake3(&Canon::new(DOMAIN_RESPONSE_LEAF).fixed(&id.0).fixed(&h.0).take()));
        assert_eq!(request_leaf(&id), blake3(&Canon::new(DOMAIN_REQUEST_LEAF).fixed(&id.0).take()));
        assert_eq!(node(&h, &h), blake3(&Canon::new(DOMAIN_MERKLE_NODE).fixed(&h.0).fixed(&h.0).take()));
    }

    #[test]
    fn leaf_node_and_root_domains_differ() {
        let id = RequestId([7; 32]);
        let h = Hash32([9; 32]);
        assert_ne!(request_leaf(&id), response_leaf(&id, &h));
        assert_ne!(node(&Hash32(id.0), &h), response_leaf(&id, &h));
        let k = NodeKey([1; 32]);
        assert_ne!(Batch::Requests.signing_bytes(&k, &h), Batch::Responses.signing_bytes(&k, &h));
    }
}
