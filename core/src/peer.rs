//! The correspondence between a node key and its libp2p `PeerId`.
//!
//! libp2p derives the `PeerId` of an ed25519 key as the *identity* multihash
//! of the key's protobuf encoding: `0x00 0x24 | 0x08 0x01 0x12 0x20 | key`
//! (multihash code 0 = identity, length 36; protobuf field 1 = KeyType
//! Ed25519, field 2 = 32 bytes of key). Its text form is base58btc. Doing it
//! here keeps the core free of libp2p while the node checks (in its tests)
//! that both agree.

use crate::bytes::NodeKey;

const PREFIX: [u8; 6] = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];

/// Why a `PeerId` is not the id of an ed25519 node key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerIdError {
    /// Not base58btc.
    #[error("peer id {0:?} is not base58")]
    NotBase58(String),
    /// A valid multihash of something other than an inlined ed25519 key (for
    /// example an RSA or secp256k1 identity, which PoR does not use).
    #[error("peer id {0:?} does not embed an ed25519 key; PoR node keys are ed25519")]
    NotEd25519(String),
}

impl NodeKey {
    /// The binary `PeerId` (multihash) of this key.
    pub fn peer_id_bytes(&self) -> [u8; 38] {
        let mut out = [0u8; 38];
        out[..6].copy_from_slice(&PREFIX);
        out[6..].copy_from_slice(&self.0);
        out
    }

    /// The `PeerId` in libp2p's text form (base58btc, starts with `12D3KooW`).
    pub fn peer_id(&self) -> String {
        bs58::encode(self.peer_id_bytes()).into_string()
    }

    /// The node key inside a binary `PeerId`.
    pub fn from_peer_id_bytes(b: &[u8]) -> Option<NodeKey> {
        if b.len() != 38 || b[..6] != PREFIX {
            return None;
        }
        NodeKey::try_from(&b[6..]).ok()
    }

    /// The node key inside a `PeerId` in text form.
    pub fn from_peer_id(s: &str) -> Result<NodeKey, PeerIdError> {
        let b = bs58::decode(s).into_vec().map_err(|_| PeerIdError::NotBase58(s.chars().take(80).collect()))?;
        NodeKey::from_peer_id_bytes(&b).ok_or_else(|| PeerIdError::NotEd25519(s.chars().take(80).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_libp2p_prefix() {
        let k = NodeKey([9; 32]);
        let id = k.peer_id();
        assert!(id.starts_with("12D3KooW"), "{id}");
        assert_eq!(NodeKey::from_peer_id(&id).unwrap(), k);
        assert!(matches!(NodeKey::from_peer_id("0OIl"), Err(PeerIdError::NotBase58(_))));
        // A sha256 multihash (RSA-style peer id) is refused.
        let rsa = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N";
        assert!(matches!(NodeKey::from_peer_id(rsa), Err(PeerIdError::NotEd25519(_))));
    }
}
