//! What travels inside a paid request to the `files` service, and inside its
//! reply: plain data, CBOR, bounded before it is decoded.

use std::ops::Range;

use blake3::hazmat::ChainingValue;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteArray;

use super::id::ContentId;
use super::tree::{BLOCK_SIZE, MAX_PROOF};

/// The service name providers serve under.
pub const SERVICE: &str = "files";
/// Largest request body: an id and two numbers.
pub const MAX_REQUEST_BODY: usize = 256;
/// Most blocks one request may ask for (1 MiB of data).
pub const MAX_BLOCKS_PER_REQUEST: u32 = 4;

/// A request to the `files` service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileRequest {
    /// Blocks `[first, first + count)` of `id` with their proof.
    Range {
        /// The file.
        id: ContentId,
        /// First block.
        first: u64,
        /// Blocks wanted, at most [`MAX_BLOCKS_PER_REQUEST`].
        count: u32,
    },
    /// The file's size and its last block with the proof (which
    /// authenticates the size).
    Tail {
        /// The file.
        id: ContentId,
    },
}

impl FileRequest {
    /// CBOR bytes.
    pub fn encode(&self) -> Vec<u8> {
        cbor4ii::serde::to_vec(Vec::new(), self).expect("encoding to a Vec cannot fail")
    }

    /// Reads a request body; refuses oversized or malformed ones.
    pub fn decode(b: &[u8]) -> Result<Self, String> {
        if b.len() > MAX_REQUEST_BODY {
            return Err(format!("a files request is at most {MAX_REQUEST_BODY} bytes, got {}", b.len()));
        }
        cbor4ii::serde::from_slice(b).map_err(|e| format!("malformed files request: {e}"))
    }
}

/// A provider's answer: blocks of a file and their proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeReply {
    /// The file's size as the provider claims it (checked by the proof of
    /// the tail).
    pub size: u64,
    /// First block.
    pub first: u64,
    /// Blocks in `data`.
    pub count: u32,
    /// The blocks' bytes.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
    /// The proof (see [`super::tree::Outboard::prove`]).
    pub proof: Vec<ByteArray<32>>,
}

/// A [`RangeReply`] read in place: its data borrows the reply's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RangeReplyRef<'a> {
    /// See [`RangeReply::size`].
    pub size: u64,
    /// See [`RangeReply::first`].
    pub first: u64,
    /// See [`RangeReply::count`].
    pub count: u32,
    /// The blocks' bytes, inside the reply's bytes.
    pub data: &'a [u8],
    /// See [`RangeReply::proof`].
    pub proof: Vec<ByteArray<32>>,
}

impl RangeReply {
    /// CBOR bytes.
    pub fn encode(&self) -> Vec<u8> {
        cbor4ii::serde::to_vec(Vec::new(), self).expect("encoding to a Vec cannot fail")
    }

    /// The CBOR of a reply whose `data_len` bytes of data are left zero,
    /// and where they are: the caller reads the blocks straight into that
    /// range instead of copying them in. Once filled, byte for byte what
    /// [`RangeReply::encode`] gives.
    pub fn encode_in_place(
        size: u64,
        first: u64,
        count: u32,
        data_len: usize,
        proof: &[ChainingValue],
    ) -> (Vec<u8>, Range<usize>) {
        let mut b = Vec::with_capacity(data_len + proof.len() * 34 + 64);
        cbor_head(&mut b, 5, 5);
        for (key, v) in [("size", size), ("first", first), ("count", count.into())] {
            cbor_text(&mut b, key);
            cbor_head(&mut b, 0, v);
        }
        cbor_text(&mut b, "data");
        cbor_head(&mut b, 2, data_len as u64);
        let at = b.len()..b.len() + data_len;
        b.resize(at.end, 0);
        cbor_text(&mut b, "proof");
        cbor_head(&mut b, 4, proof.len() as u64);
        for cv in proof {
            cbor_head(&mut b, 2, 32);
            b.extend_from_slice(cv);
        }
        (b, at)
    }

    /// Reads a reply of at most `count` blocks; refuses oversized or
    /// malformed ones before trusting anything in them.
    pub fn decode(b: &[u8], count: u32) -> Result<Self, String> {
        let r = Self::decode_ref(b, count)?;
        Ok(RangeReply { size: r.size, first: r.first, count: r.count, data: r.data.to_vec(), proof: r.proof })
    }

    /// [`RangeReply::decode`] without copying the data out of `b`.
    pub fn decode_ref(b: &[u8], count: u32) -> Result<RangeReplyRef<'_>, String> {
        let max = max_reply_bytes(count);
        if b.len() > max {
            return Err(format!("a reply for {count} blocks is at most {max} bytes, got {}", b.len()));
        }
        let r: RangeReplyRef<'_> = cbor4ii::serde::from_slice(b).map_err(|e| format!("malformed range reply: {e}"))?;
        if r.proof.len() > MAX_PROOF {
            return Err(format!("a proof has at most {MAX_PROOF} hashes, got {}", r.proof.len()));
        }
        Ok(r)
    }

    /// The proof as chaining values.
    pub fn proof_cvs(&self) -> Vec<ChainingValue> {
        proof_cvs(&self.proof)
    }
}

impl RangeReplyRef<'_> {
    /// The proof as chaining values.
    pub fn proof_cvs(&self) -> Vec<ChainingValue> {
        proof_cvs(&self.proof)
    }
}

fn proof_cvs(proof: &[ByteArray<32>]) -> Vec<ChainingValue> {
    proof.iter().map(|b| b.into_array()).collect()
}

/// A CBOR item's head: major type and argument, in the shortest form (as
/// cbor4ii writes it).
fn cbor_head(b: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..24 => b.push(m | n as u8),
        24..=0xff => b.extend_from_slice(&[m | 24, n as u8]),
        0x100..=0xffff => {
            b.push(m | 25);
            b.extend_from_slice(&(n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            b.push(m | 26);
            b.extend_from_slice(&(n as u32).to_be_bytes());
        }
        _ => {
            b.push(m | 27);
            b.extend_from_slice(&n.to_be_bytes());
        }
    }
}

fn cbor_text(b: &mut Vec<u8>, s: &str) {
    cbor_head(b, 3, s.len() as u64);
    b.extend_from_slice(s.as_bytes());
}

/// Largest [`RangeReply`] encoding for `count` blocks.
pub fn max_reply_bytes(count: u32) -> usize {
    count as usize * BLOCK_SIZE as usize + MAX_PROOF * 34 + 64
}

/// The response allowance a request for `count` blocks declares: the reply
/// inside the node's `Reply` envelope. The envelope encodes its body as a
/// CBOR array of integers (up to two bytes per byte), hence the factor two.
pub fn response_allowance(count: u32) -> u64 {
    2 * max_reply_bytes(count) as u64 + 128
}

#[cfg(test)]
mod tests {
    use super::*;
    use por_node::service::Reply;

    #[test]
    fn round_trips_and_bounds() {
        let r = FileRequest::Range { id: ContentId([7; 32]), first: u64::MAX, count: u32::MAX };
        assert!(r.encode().len() <= MAX_REQUEST_BODY);
        assert_eq!(FileRequest::decode(&r.encode()).unwrap(), r);
        assert!(FileRequest::decode(&[0xff; 300]).is_err());
        assert!(FileRequest::decode(&[0x01, 0x02]).is_err());
        let reply = RangeReply {
            size: 1 << 40,
            first: 3,
            count: MAX_BLOCKS_PER_REQUEST,
            data: vec![0xee; (MAX_BLOCKS_PER_REQUEST as u64 * BLOCK_SIZE) as usize],
            proof: vec![ByteArray::new([0xff; 32]); MAX_PROOF],
        };
        let b = reply.encode();
        assert!(b.len() <= max_reply_bytes(MAX_BLOCKS_PER_REQUEST));
        assert_eq!(RangeReply::decode(&b, MAX_BLOCKS_PER_REQUEST).unwrap(), reply);
        assert!(RangeReply::decode(&b, 1).is_err());
        let env = Reply::ok(b.clone()).encode();
        assert!(env.len() as u64 <= response_allowance(MAX_BLOCKS_PER_REQUEST));
        assert!(
            (response_allowance(MAX_BLOCKS_PER_REQUEST) as usize) < por_behaviours::protocol::MAX_RELAY_MESSAGE - 4096,
            "a full range must fit one relay message"
        );
    }

    #[test]
    fn a_reply_encoded_in_place_is_the_same_bytes() {
        for (size, first, count, len, proof_len) in [
            (0u64, 0u64, 1u32, 0usize, 0usize),
            (23, 23, 1, 23, 1),
            (1 << 40, u64::MAX, MAX_BLOCKS_PER_REQUEST, 300, 24),
            (70_000, 255, 4, 65_536, MAX_PROOF),
            (u64::MAX, 1 << 33, u32::MAX, 1 << 20, 2),
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
            let proof: Vec<ChainingValue> = (0..proof_len).map(|i| [i as u8; 32]).collect();
            let (mut b, at) = RangeReply::encode_in_place(size, first, count, len, &proof);
            assert!(b[at.clone()].iter().all(|&x| x == 0));
            b[at].copy_from_slice(&data);
            let r = RangeReply { size, first, count, data, proof: proof.iter().map(|c| ByteArray::new(*c)).collect() };
            assert_eq!(b, r.encode(), "size {size} first {first} count {count} len {len}");
            let v = RangeReply::decode_ref(&b, MAX_BLOCKS_PER_REQUEST.max(count)).unwrap();
            assert_eq!((v.size, v.first, v.count, v.data, v.proof_cvs()), (size, first, count, &r.data[..], proof));
            // The data is read in place, not copied.
            let inside = b.as_ptr_range();
            assert!(len == 0 || inside.contains(&v.data.as_ptr()));
        }
    }
}
