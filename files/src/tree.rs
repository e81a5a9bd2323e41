//! Content ids and verified ranges: BLAKE3's own tree cut at [`BLOCK_SIZE`].
//!
//! A file's content id is its plain BLAKE3 hash (what `b3sum` prints). BLAKE3
//! hashes 1 KiB chunks into a binary tree whose left subtrees are always the
//! largest power of two that leaves something on the right; with a block size
//! that is a power of two of chunks, every block boundary is a subtree
//! boundary, so the tree *over blocks* is part of BLAKE3's tree. Its interior
//! nodes ("chaining values", CVs) let a provider prove any run of blocks with
//! about `2·log2(blocks)` hashes, and a fetcher check the blocks against the
//! content id alone before writing or paying for more (the idea of Bao,
//! re-done here with `blake3::hazmat` so ids stay standard BLAKE3 hashes).
//!
//! Authenticating the size: a proof only pins the tree shape along its own
//! path, so a provider could lie about the size and still prove blocks on the
//! left. Verifying the **last** block under a claimed size authenticates the
//! size (any other size changes the last block's length or the right edge of
//! the tree), so a fetcher learns the size from a proven tail first.
//!
//! [`Outboard`] keeps every interior CV of a file (about 64 bytes per block)
//! so a provider proves ranges without reading the data twice.

use std::io::Read;

use blake3::hazmat::{ChainingValue, HasherExt, Mode, merge_subtrees_non_root, merge_subtrees_root};

use super::id::ContentId;

/// log2 of the block size.
pub const BLOCK_LOG: u32 = 18;
/// The verification unit: 256 KiB (256 BLAKE3 chunks). A fetcher checks,
/// writes and resumes per block.
pub const BLOCK_SIZE: u64 = 1 << BLOCK_LOG;
/// Longest proof for any range: two hashes per tree level, 64 levels.
pub const MAX_PROOF: usize = 128;

/// Number of blocks of a file of `size` bytes (an empty file has one empty block).
pub fn block_count(size: u64) -> u64 {
    size.div_ceil(BLOCK_SIZE).max(1)
}

/// Length of block `index` of a file of `size` bytes.
pub fn block_len(size: u64, index: u64) -> u64 {
    let start = index * BLOCK_SIZE;
    size.saturating_sub(start).min(BLOCK_SIZE)
}

/// Byte length of blocks `[first, first + count)`.
pub fn range_len(size: u64, first: u64, count: u64) -> u64 {
    let start = first.saturating_mul(BLOCK_SIZE).min(size);
    let end = (first.saturating_add(count)).saturating_mul(BLOCK_SIZE).min(size);
    end - start
}

/// The chaining value of block `index` holding `data` (for the empty file,
/// which has no chunk, its hash stands in).
pub fn block_cv(index: u64, data: &[u8]) -> ChainingValue {
    if data.is_empty() {
        return *blake3::hash(data).as_bytes();
    }
    let mut h = blake3::Hasher::new();
    h.set_input_offset(index * BLOCK_SIZE);
    h.update(data);
    h.finalize_non_root()
}

/// The size of the left child of a node over `count ≥ 2` blocks.
fn left_count(count: u64) -> u64 {
    debug_assert!(count >= 2);
    1 << (63 - (count - 1).leading_zeros())
}

/// Why a range did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The range is empty or runs past the end of the file.
    #[error("blocks {first}..{end} are not inside a file of {blocks} blocks")]
    OutOfBounds {
        /// First block.
        first: u64,
        /// One past the last block.
        end: u64,
        /// Blocks in the file.
        blocks: u64,
    },
    /// The data has the wrong length for the range.
    #[error("the range should hold {expected} bytes, got {got}")]
    Length {
        /// What the range holds.
        expected: u64,
        /// What came.
        got: u64,
    },
    /// The proof has too few or too many hashes.
    #[error("the proof has the wrong number of hashes")]
    ProofShape,
    /// The data and proof do not hash to the content id.
    #[error("the data does not hash to the content id")]
    Mismatch,
}

/// The interior CVs of a file's block tree, level by level (level 0: one CV
/// per block; each level above merges pairs; the last stored level has two
/// nodes, whose root merge is the content id). A one-block file stores its
/// block's CV only; its id is the plain hash of the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outboard {
    size: u64,
    levels: Vec<Vec<ChainingValue>>,
}

impl Outboard {
    /// Builds the outboard from the block CVs of a file of `size` bytes.
    pub fn from_block_cvs(size: u64, cvs: Vec<ChainingValue>) -> Self {
        debug_assert_eq!(cvs.len() as u64, block_count(size));
        let mut levels = vec![cvs];
        while levels.last().is_some_and(|l| l.len() > 2) {
            let below = levels.last().expect("non-empty");
            let up = below
                .chunks(2)
                .map(|p| if p.len() == 2 { merge_subtrees_non_root(&p[0], &p[1], Mode::Hash) } else { p[0] })
                .collect();
            levels.push(up);
        }
        Outboard { size, levels }
    }

    /// Hashes a whole file from `reader` (`size` bytes), returning its id and
    /// outboard. Fails if the reader yields a different number of bytes.
    pub fn from_reader(mut reader: impl Read, size: u64) -> std::io::Result<(ContentId, Outboard)> {
        let blocks = block_count(size);
        let mut cvs = Vec::with_capacity(blocks as usize);
        let mut buf = vec![0u8; BLOCK_SIZE as usize];
        let mut first_block = Vec::new();
        for i in 0..blocks {
            let len = block_len(size, i) as usize;
            reader.read_exact(&mut buf[..len])?;
            cvs.push(block_cv(i, &buf[..len]));
            if blocks == 1 {
                first_block = buf[..len].to_vec();
            }
        }
        let mut extra = [0u8; 1];
        if reader.read(&mut extra)? != 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "the file grew while being hashed"));
        }
        let ob = Outboard::from_block_cvs(size, cvs);
        let id = match ob.root_id() {
            Some(id) => id,
            None => ContentId(*blake3::hash(&first_block).as_bytes()),
        };
        Ok((id, ob))
    }

    /// The file's size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Number of blocks.
    pub fn blocks(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// The content id of a file of two or more blocks; `None` for one
    /// block (its id is the hash of the data, which the outboard does not hold).
    pub fn root_id(&self) -> Option<ContentId> {
        let top = self.levels.last().expect("at least one level");
        (top.len() == 2).then(|| ContentId(*merge_subtrees_root(&top[0], &top[1], Mode::Hash).as_bytes()))
    }

    /// The CV of the node over blocks `[lo, hi)` (a node of the tree).
    fn cv(&self, lo: u64, hi: u64) -> ChainingValue {
        let count = hi - lo;
        let level = 64 - (count - 1).leading_zeros();
        let level = if count == 1 { 0 } else { level };
        self.levels[level as usize][(lo >> level) as usize]
    }

    /// The proof for blocks `[first, first + count)`: the CVs of the subtrees
    /// next to the range's paths, in pre-order.
    pub fn prove(&self, first: u64, count: u64) -> Result<Vec<ChainingValue>, VerifyError> {
        let n = self.blocks();
        let end = first.checked_add(count).filter(|&e| count > 0 && e <= n);
        let Some(end) = end else {
            return Err(VerifyError::OutOfBounds { first, end: first.saturating_add(count), blocks: n });
        };
        let mut out = Vec::new();
        if n > 1 {
            self.prove_node(0, n, first, end, &mut out);
        }
        Ok(out)
    }

    fn prove_node(&self, lo: u64, hi: u64, a: u64, b: u64, out: &mut Vec<ChainingValue>) {
        if hi <= a || lo >= b {
            out.push(self.cv(lo, hi));
        } else if a <= lo && hi <= b {
        } else {
            let mid = lo + left_count(hi - lo);
            self.prove_node(lo, mid, a, b, out);
            self.prove_node(mid, hi, a, b, out);
        }
    }

    /// Serialises the outboard: `size` (8 bytes LE) then every level.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.levels.iter().map(|l| l.len() * 32).sum::<usize>());
        out.extend_from_slice(&self.size.to_le_bytes());
        for l in &self.levels {
            for cv in l {
                out.extend_from_slice(cv);
            }
        }
        out
    }

    /// Reads what [`Outboard::to_bytes`] wrote; `None` if it is not one.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let size = u64::from_le_bytes(b.get(..8)?.try_into().ok()?);
        let n = block_count(size);
        let mut rest = &b[8..];
        let mut take = |k: u64| -> Option<Vec<ChainingValue>> {
            let bytes = rest.get(..(k as usize).checked_mul(32)?)?;
            rest = &rest[bytes.len()..];
            Some(bytes.chunks_exact(32).map(|c| c.try_into().expect("32 bytes")).collect())
        };
        let mut levels = vec![take(n)?];
        while levels.last()?.len() > 2 {
            let k = levels.last()?.len().div_ceil(2) as u64;
            levels.push(take(k)?);
        }
        if !rest.is_empty() {
            return None;
        }
        Some(Outboard { size, levels })
    }
}

/// Verifies blocks `[first, first + count)` of the file `id` of `size` bytes:
/// `data` is their bytes, `proof` what [`Outboard::prove`] gave. Returns the
/// CVs of the blocks (for later re-checks of the data on disk).
pub fn verify_range(
    id: &ContentId,
    size: u64,
    first: u64,
    count: u64,
    data: &[u8],
    proof: &[ChainingValue],
) -> Result<Vec<ChainingValue>, VerifyError> {
    let n = block_count(size);
    let end = first.checked_add(count).filter(|&e| count > 0 && e <= n);
    let Some(end) = end else {
        return Err(VerifyError::OutOfBounds { first, end: first.saturating_add(count), blocks: n });
    };
    let expected = range_len(size, first, count);
    if data.len() as u64 != expected {
        return Err(VerifyError::Length { expected, got: data.len() as u64 });
    }
    if proof.len() > MAX_PROOF {
        return Err(VerifyError::ProofShape);
    }
    if n == 1 {
        if !proof.is_empty() {
            return Err(VerifyError::ProofShape);
        }
        return if blake3::hash(data).as_bytes() == &id.0 {
            Ok(vec![block_cv(0, data)])
        } else {
            Err(VerifyError::Mismatch)
        };
    }
    let cvs: Vec<ChainingValue> = (first..end)
        .map(|i| {
            let off = ((i - first) * BLOCK_SIZE) as usize;
            let len = block_len(size, i) as usize;
            block_cv(i, &data[off..off + len])
        })
        .collect();
    let mut proof_iter = proof.iter();
    let mut v = Verifier { a: first, b: end, cvs: &cvs, proof: &mut proof_iter };
    let (l, r) = v.children(0, n)?;
    if proof_iter.next().is_some() {
        return Err(VerifyError::ProofShape);
    }
    if merge_subtrees_root(&l, &r, Mode::Hash).as_bytes() == &id.0 { Ok(cvs) } else { Err(VerifyError::Mismatch) }
}

struct Verifier<'a, 'p> {
    a: u64,
    b: u64,
    cvs: &'a [ChainingValue],
    proof: &'a mut std::slice::Iter<'p, ChainingValue>,
}

impl Verifier<'_, '_> {
    fn children(&mut self, lo: u64, hi: u64) -> Result<(ChainingValue, ChainingValue), VerifyError> {
        let mid = lo + left_count(hi - lo);
        Ok((self.node(lo, mid)?, self.node(mid, hi)?))
    }

    fn node(&mut self, lo: u64, hi: u64) -> Result<ChainingValue, VerifyError> {
        if hi <= self.a || lo >= self.b {
            return self.proof.next().copied().ok_or(VerifyError::ProofShape);
        }
        if hi - lo == 1 {
            return Ok(self.cvs[(lo - self.a) as usize]);
        }
        let (l, r) = self.children(lo, hi)?;
        Ok(merge_subtrees_non_root(&l, &r, Mode::Hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn sizes() -> Vec<u64> {
        let b = BLOCK_SIZE;
        vec![0, 1, 1024, b - 1, b, b + 1, 2 * b, 3 * b - 5, 4 * b, 5 * b + 17, 7 * b, 8 * b + 1]
    }

    #[test]
    fn id_is_the_plain_blake3_hash() {
        for size in sizes() {
            let d = data(size as usize);
            let (id, _) = Outboard::from_reader(&d[..], size).unwrap();
            assert_eq!(id.0, *blake3::hash(&d).as_bytes(), "size {size}");
        }
    }

    #[test]
    fn every_range_verifies_and_any_change_fails() {
        for size in sizes() {
            let d = data(size as usize);
            let (id, ob) = Outboard::from_reader(&d[..], size).unwrap();
            let ob = Outboard::from_bytes(&ob.to_bytes()).expect("outboard round trip");
            let n = ob.blocks();
            for first in 0..n {
                for count in 1..=(n - first) {
                    let proof = ob.prove(first, count).unwrap();
                    let s = (first * BLOCK_SIZE).min(size) as usize;
                    let e = ((first + count) * BLOCK_SIZE).min(size) as usize;
                    let cvs = verify_range(&id, size, first, count, &d[s..e], &proof).unwrap();
                    assert_eq!(cvs.len() as u64, count);
                    if e > s {
                        let mut bad = d[s..e].to_vec();
                        bad[(e - s) / 2] ^= 1;
                        assert_eq!(verify_range(&id, size, first, count, &bad, &proof), Err(VerifyError::Mismatch));
                    }
                    if let Some(p) = proof.first() {
                        let mut bad = proof.clone();
                        bad[0] = [p[0] ^ 1; 32];
                        assert_eq!(verify_range(&id, size, first, count, &d[s..e], &bad), Err(VerifyError::Mismatch));
                        let short = &proof[1..];
                        assert!(verify_range(&id, size, first, count, &d[s..e], short).is_err());
                    }
                }
            }
        }
    }

    #[test]
    fn a_lie_about_the_size_fails_on_the_last_block() {
        let size = 5 * BLOCK_SIZE + 17;
        let d = data(size as usize);
        let (id, ob) = Outboard::from_reader(&d[..], size).unwrap();
        let last = ob.blocks() - 1;
        let proof = ob.prove(last, 1).unwrap();
        let tail = &d[(last * BLOCK_SIZE) as usize..];
        assert!(verify_range(&id, size, last, 1, tail, &proof).is_ok());
        for lie in [size - 1, size + 1, 6 * BLOCK_SIZE, 4 * BLOCK_SIZE + 17, 9 * BLOCK_SIZE + 17] {
            let n = block_count(lie);
            let lo = (n - 1) * BLOCK_SIZE;
            let tail = &d[(lo.min(size)) as usize..(lie.min(size)) as usize];
            assert!(verify_range(&id, lie, n - 1, 1, tail, &proof).is_err(), "size {lie} accepted");
        }
    }

    #[test]
    fn out_of_bounds_and_garbage_outboards_are_refused() {
        let size = 3 * BLOCK_SIZE;
        let d = data(size as usize);
        let (id, ob) = Outboard::from_reader(&d[..], size).unwrap();
        assert!(ob.prove(3, 1).is_err());
        assert!(ob.prove(0, 0).is_err());
        assert!(ob.prove(u64::MAX, 2).is_err());
        assert!(verify_range(&id, size, 2, u64::MAX, &[], &[]).is_err());
        assert!(Outboard::from_bytes(&[1, 2, 3]).is_none());
        let mut b = ob.to_bytes();
        b.push(0);
        assert!(Outboard::from_bytes(&b).is_none());
        assert!(Outboard::from_bytes(&b[..b.len() - 33]).is_none());
    }
}
