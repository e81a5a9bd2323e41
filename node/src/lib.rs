//! The PoR node. Filled by the devnet issue (#4: the chain client) and the node
//! issue (#5: swarm, relay, API, CLI); until then it holds nothing.
