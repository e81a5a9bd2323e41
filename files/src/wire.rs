//! What travels inside a paid request to the `files` service, and inside its
//! reply: plain data, CBOR, bounded before it is decoded.

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

impl RangeReply {
    /// CBOR bytes.
    pub fn encode(&self) -> Vec<u8> {
        cbor4ii::serde::to_vec(Vec::new(), self).expect("encoding to a Vec cannot fail")
    }

    /// Reads a reply of at most `count` blocks; refuses oversized or
    /// malformed ones before trusting anything in them.
    pub fn decode(b: &[u8], count: u32) -> Result<Self, String> {
        let max = max_reply_bytes(count);
        if b.len() > max {
            return Err(format!("a reply for {count} blocks is at most {max} bytes, got {}", b.len()));
        }
        let r: RangeReply = cbor4ii::serde::from_slice(b).map_err(|e| format!("malformed range reply: {e}"))?;
        if r.proof.len() > MAX_PROOF {
            return Err(format!("a proof has at most {MAX_PROOF} hashes, got {}", r.proof.len()));
        }
        Ok(r)
    }

    /// The proof as chaining values.
    pub fn proof_cvs(&self) -> Vec<ChainingValue> {
        self.proof.iter().map(|b| b.into_array()).collect()
    }
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
        let env = Reply::ok(b).encode();
        assert!(env.len() as u64 <= response_allowance(MAX_BLOCKS_PER_REQUEST));
        assert!(
            (response_allowance(MAX_BLOCKS_PER_REQUEST) as usize) < por_behaviours::protocol::MAX_RELAY_MESSAGE - 4096,
            "a full range must fit one relay message"
        );
    }
}
