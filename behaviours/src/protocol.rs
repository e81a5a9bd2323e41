//! Protocol names and their size limits.

use libp2p::StreamProtocol;

/// The paid relay protocol: a request with its voucher, answered by an ack.
pub const RELAY_PROTOCOL: StreamProtocol = StreamProtocol::new("/por/relay/1.0.0");
/// The heartbeat between neighbours: syncs and their acks.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/por/sync/1.0.0");
/// Kademlia under PoR's own name, so PoR nodes do not mix with IPFS's DHT.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/por/kad/1.0.0");

/// Largest relay message: a request body of up to 4 MiB plus its envelope.
pub const MAX_RELAY_MESSAGE: usize = 4 * 1024 * 1024 + 64 * 1024;
/// Largest sync message: a voucher, up to a few thousand overdue entries and notices.
pub const MAX_SYNC_MESSAGE: usize = 1024 * 1024;
