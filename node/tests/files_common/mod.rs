//! Helpers for the files tests on top of the shared harness.

use por_core::ChannelId;
use por_core::protocol::ChannelSetup;

use crate::common::{DEPOSIT, Net};

/// The default sync interval of a real node (500 ms). The shared harness
/// syncs every 100 ms, which makes 3 missed syncs a 300 ms stall: a node busy
/// moving megabytes on a loaded test machine gets its channels cut.
pub const SYNC_MS: u64 = 500;

/// Opens channel `id` between nodes `a` and `b`, syncing every [`SYNC_MS`].
pub async fn link(net: &Net, a: usize, b: usize, id: u64, latency_ms: u64) {
    for (x, y) in [(a, b), (b, a)] {
        let setup = ChannelSetup {
            channel: ChannelId(id),
            remote: net.nodes[y].key,
            local_deposit: DEPOSIT,
            remote_deposit: DEPOSIT,
            latency_ms,
            sync_ms: Some(SYNC_MS),
        };
        net.nodes[x].handle.add_channel(setup, net.nodes[y].listen_addrs.clone()).await.unwrap();
    }
}
