//! [`ContentId`]: the BLAKE3 hash of a file's bytes, shown as 64 hex digits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A file's content id: its BLAKE3 hash (`b3sum` prints the same digits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentId(pub [u8; 32]);

/// A content id given as text is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a content id: expected 64 hex digits (as `por files add` prints)")]
pub struct BadId(pub String);

impl ContentId {
    /// The id as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The Kademlia key under which providers of this id are announced.
    pub fn provider_key(&self) -> Vec<u8> {
        let mut k = b"/por/files/".to_vec();
        k.extend_from_slice(&self.0);
        k
    }
}

impl FromStr for ContentId {
    type Err = BadId;

    fn from_str(s: &str) -> Result<Self, BadId> {
        let s = s.trim();
        let mut out = [0u8; 32];
        if s.len() != 64 || hex::decode_to_slice(s, &mut out).is_err() {
            return Err(BadId(s.chars().take(80).collect()));
        }
        Ok(ContentId(out))
    }
}

impl fmt::Display for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentId({})", &self.to_hex()[..16])
    }
}

impl Serialize for ContentId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() { s.serialize_str(&self.to_hex()) } else { s.serialize_bytes(&self.0) }
    }
}

impl<'de> Deserialize<'de> for ContentId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            let b = serde_bytes::ByteBuf::deserialize(d)?;
            let a: [u8; 32] =
                b.as_slice().try_into().map_err(|_| serde::de::Error::custom("a content id is 32 bytes"))?;
            Ok(ContentId(a))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_binary_round_trip() {
        let id = ContentId([0xab; 32]);
        assert_eq!(id.to_hex().parse::<ContentId>().unwrap(), id);
        assert!("xyz".parse::<ContentId>().is_err());
        assert!("ab".repeat(33).parse::<ContentId>().is_err());
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<ContentId>(&json).unwrap(), id);
        let cbor = cbor4ii::serde::to_vec(Vec::new(), &id).unwrap();
        assert_eq!(cbor.len(), 34);
        assert_eq!(cbor4ii::serde::from_slice::<ContentId>(&cbor).unwrap(), id);
    }
}
