//! Per-channel series live as long as the channel is in the graph: the
//! event loop removes them when the chain reports the channel gone, and
//! does not bring them back.

use std::time::Duration;

use por_core::protocol::ChannelSetup;
use por_core::{ChannelId, Hash32};
use por_node::metrics::render;
use por_node::{NodeConfig, start};
use prometheus_client::registry::Registry;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_channels_series_are_removed() {
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut reg = Registry::default();
    let a = start(NodeConfig::new(dirs.0.path()), [1; 32], &mut reg).await.unwrap();
    let b = start(NodeConfig::new(dirs.1.path()), [2; 32], &mut Registry::default()).await.unwrap();
    for id in [1, 2] {
        for (x, y) in [(&a, &b), (&b, &a)] {
            let setup = ChannelSetup {
                channel: ChannelId(id),
                remote: y.key,
                local_deposit: 1_000,
                remote_deposit: 1_000,
                latency_ms: 10,
                sync_ms: Some(100),
            };
            x.handle.add_channel(setup, y.listen_addrs.clone()).await.unwrap();
        }
    }
    // A round trip through the loop: the gauges are set after each turn.
    a.handle.status().await.unwrap();
    let text = render(&reg);
    for id in [1, 2] {
        assert!(text.contains(&format!("por_channel_spendable_yocto{{channel=\"{id}\"}} 1000")), "{text}");
        assert!(text.contains(&format!("por_channel_received_yocto{{channel=\"{id}\"}} 0")), "{text}");
    }

    a.handle.channel_removed(ChannelId(1), Hash32([1; 32])).await.unwrap();
    // Syncs on channel 2 go on and the gauges are set again, many times.
    tokio::time::sleep(Duration::from_millis(400)).await;
    a.handle.status().await.unwrap();
    let text = render(&reg);
    assert!(!text.contains("channel=\"1\""), "channel 1's series are still there:\n{text}");
    assert!(text.contains("por_channel_spendable_yocto{channel=\"2\"} 1000"), "{text}");
    assert!(text.contains("por_channel_received_yocto{channel=\"2\"} 0"), "{text}");
}
