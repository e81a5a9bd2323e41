//! What the event loop knows about its peers beyond the swarm's own tables:
//! which peer is at the other end of each channel, the address of each
//! connection, the requests sent downstream whose receipt is still out,
//! the bootstrap list, and the DHT provider lookups in flight.

use std::collections::HashMap;

use libp2p::{Multiaddr, PeerId};
use por_behaviours::MessageId;
use por_core::{ChannelId, RequestId};
use tokio::sync::oneshot;

use crate::handle::PeerInfo;

/// Peers, channels' peers and the lookups about them.
pub(super) struct Peers {
    /// The peer of each channel.
    channel_peer: HashMap<ChannelId, PeerId>,
    /// The remote address of a connection to each connected peer.
    endpoints: HashMap<PeerId, Multiaddr>,
    /// Requests sent downstream whose receipt has not come back yet.
    outbound: HashMap<MessageId, (ChannelId, Vec<RequestId>)>,
    /// Addresses this node listens on.
    pub(super) listen: Vec<Multiaddr>,
    /// Peers to bootstrap Kademlia from (again when its table runs low).
    pub(super) bootstrap: Vec<(PeerId, Multiaddr)>,
    /// Provider lookups in flight: providers found so far and who waits.
    provider_queries: HashMap<libp2p::kad::QueryId, (Vec<PeerId>, oneshot::Sender<Vec<PeerId>>)>,
}

impl Peers {
    pub(super) fn new(listen: Vec<Multiaddr>, bootstrap: Vec<(PeerId, Multiaddr)>) -> Self {
        Peers {
            channel_peer: HashMap::new(),
            endpoints: HashMap::new(),
            outbound: HashMap::new(),
            listen,
            bootstrap,
            provider_queries: HashMap::new(),
        }
    }

    /// The peer at the other end of `channel`.
    pub(super) fn of_channel(&self, channel: &ChannelId) -> Option<PeerId> {
        self.channel_peer.get(channel).copied()
    }

    /// The channels with `peer`.
    pub(super) fn channels_of(&self, peer: &PeerId) -> impl Iterator<Item = ChannelId> + '_ {
        let peer = *peer;
        self.channel_peer.iter().filter(move |(_, p)| **p == peer).map(|(c, _)| *c)
    }

    /// `channel`'s peer is `peer`.
    pub(super) fn set_channel_peer(&mut self, channel: ChannelId, peer: PeerId) {
        self.channel_peer.insert(channel, peer);
    }

    /// A connection to `peer` at `addr` is up.
    pub(super) fn connected(&mut self, peer: PeerId, addr: Multiaddr) {
        self.endpoints.insert(peer, addr);
    }

    /// The last connection to `peer` closed.
    pub(super) fn disconnected(&mut self, peer: &PeerId) {
        self.endpoints.remove(peer);
    }

    /// `peers` with the address of our connection to each.
    pub(super) fn with_addresses(&self, mut peers: Vec<PeerInfo>) -> Vec<PeerInfo> {
        for p in &mut peers {
            if let Ok(id) = p.peer_id.parse::<PeerId>()
                && let Some(a) = self.endpoints.get(&id)
            {
                p.addr = a.to_string();
            }
        }
        peers
    }

    /// Requests `requests` (one frame) left on `channel` as outbound
    /// message `id`.
    pub(super) fn sent_request(&mut self, id: MessageId, channel: ChannelId, requests: Vec<RequestId>) {
        self.outbound.insert(id, (channel, requests));
    }

    /// The receipt of outbound message `id` came back (or it failed): the
    /// requests it carried, if it carried any.
    pub(super) fn receipt(&mut self, id: &MessageId) -> Option<(ChannelId, Vec<RequestId>)> {
        self.outbound.remove(id)
    }

    /// A provider lookup started; `reply` gets every provider found.
    pub(super) fn lookup(&mut self, query: libp2p::kad::QueryId, reply: oneshot::Sender<Vec<PeerId>>) {
        self.provider_queries.insert(query, (Vec::new(), reply));
    }

    /// Collects a provider lookup's results; answers when it is over.
    pub(super) fn on_providers(&mut self, query: libp2p::kad::QueryId, providers: Vec<PeerId>, done: bool) {
        if let Some((found, _)) = self.provider_queries.get_mut(&query) {
            for p in providers {
                if !found.contains(&p) {
                    found.push(p);
                }
            }
        }
        if done && let Some((found, reply)) = self.provider_queries.remove(&query) {
            let _ = reply.send(found);
        }
    }
}
