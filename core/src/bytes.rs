//! Fixed-size byte strings: node keys, signatures, hashes and request ids.
//!
//! On human-readable formats (JSON for the HTTP API and the contract) they are
//! lower-case hex strings; on binary formats (CBOR on the wire, borsh in the
//! contract's storage) they are raw bytes whose length is checked on decode.

use core::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Decoding a fixed-size byte string failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BytesError {
    /// The input was not hexadecimal.
    #[error("not a hex string: {0}")]
    NotHex(String),
    /// The input had the wrong number of bytes.
    #[error("expected {expected} bytes, got {got}")]
    WrongLength {
        /// Bytes the type holds.
        expected: usize,
        /// Bytes the input held.
        got: usize,
    },
}

macro_rules! fixed_bytes {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "borsh", derive(borsh::BorshSerialize, borsh::BorshDeserialize))]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Number of bytes.
            pub const LEN: usize = $len;

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Parses lower- or upper-case hex of exactly `LEN` bytes.
            pub fn from_hex(s: &str) -> Result<Self, BytesError> {
                let v = hex::decode(s).map_err(|_| BytesError::NotHex(truncate(s)))?;
                Self::try_from(v.as_slice())
            }

            /// Lower-case hex.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl TryFrom<&[u8]> for $name {
            type Error = BytesError;
            fn try_from(v: &[u8]) -> Result<Self, BytesError> {
                let arr: [u8; $len] = v.try_into().map_err(|_| BytesError::WrongLength {
                    expected: $len,
                    got: v.len(),
                })?;
                Ok(Self(arr))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl core::str::FromStr for $name {
            type Err = BytesError;
            fn from_str(s: &str) -> Result<Self, BytesError> {
                Self::from_hex(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&self.to_hex())
                } else {
                    s.serialize_bytes(&self.0)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "{} bytes as a byte string or hex", $len)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        $name::from_hex(v).map_err(E::custom)
                    }
                    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<$name, E> {
                        $name::try_from(v).map_err(E::custom)
                    }
                    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<$name, A::Error> {
                        let mut out = [0u8; $len];
                        for (i, slot) in out.iter_mut().enumerate() {
                            *slot = seq
                                .next_element()?
                                .ok_or_else(|| de::Error::invalid_length(i, &self))?;
                        }
                        if seq.next_element::<u8>()?.is_some() {
                            return Err(de::Error::invalid_length($len + 1, &self));
                        }
                        Ok($name(out))
                    }
                }
                if d.is_human_readable() {
                    d.deserialize_str(V)
                } else {
                    d.deserialize_bytes(V)
                }
            }
        }
    };
}

fn truncate(s: &str) -> String {
    if s.len() > 80 {
        let mut end = 80;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s.to_string()
    }
}

fixed_bytes!(
    /// An ed25519 public key: a node's identity (its libp2p `PeerId` is derived
    /// from it, see [`crate::peer`]).
    #[derive(PartialOrd, Ord)]
    NodeKey,
    32
);
fixed_bytes!(
    /// An ed25519 signature.
    #[derive(PartialOrd, Ord)]
    Signature,
    64
);
fixed_bytes!(
    /// A SHA-256 digest (also the shape of a NEAR transaction hash).
    #[derive(PartialOrd, Ord)]
    Hash32,
    32
);
fixed_bytes!(
    /// A request id: the SHA-256 of the request's signed bytes. Ordered
    /// by its bytes, like the other byte types.
    RequestId,
    32
);

// The engine keeps request ids in ordered sets that every request and sync
// updates. The same order as the bytes' (big-endian words compare like the
// bytes), without a call to `memcmp` per comparison.
impl Ord for RequestId {
    #[inline]
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        let word = |b: &[u8; 32], i: usize| u64::from_be_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        (0..4)
            .map(|i| word(&self.0, i).cmp(&word(&other.0, i)))
            .find(|o| o.is_ne())
            .unwrap_or(core::cmp::Ordering::Equal)
    }
}

impl PartialOrd for RequestId {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Hash32 {
    use sha2::Digest;
    Hash32(sha2::Sha256::digest(data).into())
}

/// Serde for `u128` amounts: a decimal string on human-readable formats (JSON
/// numbers lose precision past 2^53, and NEAR's JSON uses strings too), the
/// native integer on binary formats.
pub mod amount_serde {
    use serde::{Deserialize, Deserializer, Serializer, de};

    /// Serialises an amount.
    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() { s.serialize_str(&v.to_string()) } else { s.serialize_u128(*v) }
    }

    /// Deserialises an amount; on human-readable formats a string or a number.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        if d.is_human_readable() {
            #[derive(Deserialize)]
            #[serde(untagged)]
            enum Either {
                S(String),
                N(u128),
            }
            match Either::deserialize(d)? {
                Either::S(s) => s.parse().map_err(|_| de::Error::custom(format!("not an amount in yocto: {s:?}"))),
                Either::N(n) => Ok(n),
            }
        } else {
            u128::deserialize(d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_roundtrip_and_errors() {
        let k = NodeKey([7; 32]);
        assert_eq!(NodeKey::from_hex(&k.to_hex()).unwrap(), k);
        assert_eq!(NodeKey::from_hex("abcd"), Err(BytesError::WrongLength { expected: 32, got: 2 }));
        assert!(matches!(NodeKey::from_hex("zz"), Err(BytesError::NotHex(_))));
    }

    #[test]
    fn json_is_hex_cbor_is_bytes() {
        let s = Signature([1; 64]);
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(j, format!("\"{}\"", "01".repeat(64)));
        assert_eq!(serde_json::from_str::<Signature>(&j).unwrap(), s);
        let mut buf = Vec::new();
        cbor4ii::serde::to_writer(&mut buf, &s).unwrap();
        assert_eq!(buf.len(), 2 + 64, "a CBOR byte string header and the bytes");
        assert_eq!(cbor4ii::serde::from_slice::<Signature>(&buf).unwrap(), s);
        let short = {
            let mut b = Vec::new();
            cbor4ii::serde::to_writer(&mut b, &serde_bytes_like(&[1u8; 63])).unwrap();
            b
        };
        assert!(cbor4ii::serde::from_slice::<Signature>(&short).is_err());
    }

    #[test]
    fn request_ids_order_like_their_bytes() {
        let mut ids: Vec<[u8; 32]> = (0u8..64).map(|i| sha256(&[i]).0).collect();
        // Ids that differ only in a late byte, or in one byte's high bit.
        let mut a = [0u8; 32];
        a[31] = 1;
        let mut b = [0u8; 32];
        b[7] = 0x80;
        ids.extend([a, b, [0; 32], [0xff; 32]]);
        for x in &ids {
            for y in &ids {
                assert_eq!(RequestId(*x).cmp(&RequestId(*y)), x.cmp(y));
                assert_eq!(RequestId(*x).partial_cmp(&RequestId(*y)), Some(x.cmp(y)));
            }
        }
    }

    struct BytesOnly<'a>(&'a [u8]);
    impl Serialize for BytesOnly<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }
    fn serde_bytes_like(b: &[u8]) -> BytesOnly<'_> {
        BytesOnly(b)
    }
}
