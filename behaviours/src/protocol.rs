//! Protocol names and their size limits.

use libp2p::StreamProtocol;

/// The relay lane: paid requests, acks, responses, severance notices
/// ([`crate::lanes`]).
pub const RELAY_PROTOCOL: StreamProtocol = StreamProtocol::new("/por/relay/2.0.0");
/// The sync lane: the heartbeat between neighbours, syncs and their acks.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/por/sync/2.0.0");
/// Kademlia under PoR's own name, so PoR nodes do not mix with IPFS's DHT.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/por/kad/1.0.0");

/// Largest body a relay message may carry: a request's body, or a response
/// within the largest allowance a node accepts (the engine's
/// `Limits::max_response_bytes` may not exceed it; the node refuses to
/// start otherwise).
pub const MAX_RELAY_BODY: usize = 4 * 1024 * 1024;
/// Largest relay message: a body of up to [`MAX_RELAY_BODY`] plus its
/// envelope (signatures, voucher, route).
pub const MAX_RELAY_MESSAGE: usize = MAX_RELAY_BODY + 64 * 1024;
/// Largest sync message: a voucher, up to a few thousand overdue entries and notices.
pub const MAX_SYNC_MESSAGE: usize = 1024 * 1024;
/// Largest frame body on the relay lane: one largest message with room to
/// spare; smaller messages share frames up to it.
pub const MAX_RELAY_FRAME: usize = MAX_RELAY_MESSAGE + 64 * 1024;
/// Largest frame body on the sync lane.
pub const MAX_SYNC_FRAME: usize = MAX_SYNC_MESSAGE + 64 * 1024;
