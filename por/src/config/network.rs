//! Network presets: what `[node].network` (or `por init --network`) fills in
//! when the configuration does not say otherwise: the PoR contract, the
//! NEAR JSON-RPC endpoints (several, used with failover) and the bootstrap
//! peers.
//!
//! - `devnet`: the local network `por testnet` (`make testnet`) starts with
//!   its default ports: the devnet's RPC on `127.0.0.1:3030`, the contract on
//!   `por.devnet`, and its node 0 as the bootstrap peer on
//!   `127.0.0.1:4101`, whose key `por testnet` derives from
//!   [`DEVNET_BOOTSTRAP_SEED`] so that its peer id is known in advance.
//! - `testnet`: NEAR testnet's public RPC endpoints. The PoR contract account
//!   and the bootstrap peers are **placeholders** until the network's
//!   operators publish them (docs/TESTNET.md): [`TESTNET_CONTRACT`] is not a
//!   deployed contract of the project, and the bootstrap list is empty.
//!   `por init` and a node with a chain account refuse the placeholder
//!   contract; an empty bootstrap list is a warning.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The devnet RPC port `por testnet` listens on by default.
pub const DEVNET_RPC_PORT: u16 = 3030;
/// The libp2p port of `por testnet`'s node 0 (node `i` listens on this + `i`).
pub const DEVNET_P2P_PORT: u16 = 4101;
/// The PoR contract's account on the devnet (`por_devnet::genesis::CONTRACT_ACCOUNT`).
pub const DEVNET_CONTRACT: &str = "por.devnet";
/// The node-key seed of `por testnet`'s node 0, the devnet's bootstrap peer.
/// A devnet key, public by design: never use it on a real network.
pub const DEVNET_BOOTSTRAP_SEED: [u8; 32] = [0xb0; 32];

/// PLACEHOLDER: the PoR contract account of the public testnet, until one is
/// published. Override it with `[chain].contract`.
pub const TESTNET_CONTRACT: &str = "por-contract.testnet";
/// NEAR testnet's public JSON-RPC endpoints, in order of preference. Public
/// endpoints rate-limit: a long-running node should put its provider's
/// endpoint first in `[chain].rpc`.
pub const TESTNET_RPC: [&str; 2] = ["https://rpc.testnet.near.org", "https://test.rpc.fastnear.com"];

/// A network the node knows the settings of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// The local devnet of `por testnet`.
    Devnet,
    /// The public NEAR testnet.
    Testnet,
}

/// A network name that is not one of the presets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown network {0:?}: the presets are devnet and testnet")]
pub struct UnknownNetwork(pub String);

impl FromStr for Network {
    type Err = UnknownNetwork;
    fn from_str(s: &str) -> Result<Network, UnknownNetwork> {
        match s {
            "devnet" => Ok(Network::Devnet),
            "testnet" => Ok(Network::Testnet),
            other => Err(UnknownNetwork(other.to_string())),
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Network::Devnet => "devnet",
            Network::Testnet => "testnet",
        })
    }
}

/// What a network preset fills in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    /// `[chain].contract`.
    pub contract: String,
    /// `[chain].rpc`, in order of preference.
    pub rpc: Vec<String>,
    /// `[node].bootstrap`.
    pub bootstrap: Vec<String>,
    /// Whether `contract` and `bootstrap` are placeholders (not yet published).
    pub placeholder: bool,
}

/// The peer id of the devnet's bootstrap node (from [`DEVNET_BOOTSTRAP_SEED`]).
pub fn devnet_bootstrap_peer() -> String {
    use por_core::Signer;
    por_core::NodeSigner::from_seed(DEVNET_BOOTSTRAP_SEED).public().peer_id()
}

impl Network {
    /// The preset's settings.
    pub fn preset(self) -> Preset {
        match self {
            Network::Devnet => Preset {
                contract: DEVNET_CONTRACT.into(),
                rpc: vec![format!("http://127.0.0.1:{DEVNET_RPC_PORT}")],
                bootstrap: vec![format!("/ip4/127.0.0.1/tcp/{DEVNET_P2P_PORT}/p2p/{}", devnet_bootstrap_peer())],
                placeholder: false,
            },
            Network::Testnet => Preset {
                contract: TESTNET_CONTRACT.into(),
                rpc: TESTNET_RPC.iter().map(|s| s.to_string()).collect(),
                bootstrap: Vec::new(),
                placeholder: true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_unknown_ones_are_named() {
        assert_eq!("devnet".parse::<Network>().unwrap(), Network::Devnet);
        assert_eq!("testnet".parse::<Network>().unwrap(), Network::Testnet);
        let e = "mainnet".parse::<Network>().unwrap_err().to_string();
        assert!(e.contains("\"mainnet\"") && e.contains("devnet and testnet"), "{e}");
        assert_eq!(Network::Testnet.to_string(), "testnet");
    }

    #[test]
    fn presets_are_valid_settings() {
        for n in [Network::Devnet, Network::Testnet] {
            let p = n.preset();
            por_node::chain::RpcEndpoints::parse(&p.rpc).unwrap();
            for b in &p.bootstrap {
                crate::config::parse_bootstrap(b).unwrap();
            }
            assert!(p.contract.parse::<near_primitives::types::AccountId>().is_ok());
        }
        assert!(Network::Devnet.preset().bootstrap[0].ends_with(&devnet_bootstrap_peer()));
    }
}
