//! The composed libp2p behaviour of a PoR node and the domain events it
//! emits.
//!
//! PoR's own traffic is one-way messages between neighbours on two *lanes*
//! ([`crate::lanes`]), each a long-lived stream per neighbour and direction
//! carrying frames of messages and, the other way, frames of their
//! transport [`Receipt`]s: the relay lane (`/por/relay/2.0.0`: paid
//! requests, acks, responses, severance notices) and the sync lane
//! (`/por/sync/2.0.0`: the heartbeat). Protocol-level answers (an ack for a
//! paid request, a sync ack) are messages of their own; a receipt only
//! says that the node took the message or why it refused it, and a lane's
//! timeout only ever covers one message waiting for its receipt.
//!
//! Around them: Kademlia under PoR's own protocol name in server mode,
//! identify (which feeds Kademlia the listen addresses of peers that dialed
//! us: Kademlia cannot learn them otherwise), AutoNAT, ping, and connection
//! limits.
//!
//! # Reachability
//! Identify tells every peer the node's listen addresses and its *external*
//! addresses, and Kademlia announces the external ones in the records it
//! sends. An external address is either given by the operator (the node
//! calls [`Swarm::add_external_address`]) or confirmed by AutoNAT (v1): the
//! addresses peers say they observe us at are only candidates until a peer
//! dials back to one of them on request; only then does the swarm take it
//! as external ([`NetEvent::Reachability`] reports the change). AutoNAT
//! serves such dial-backs for other nodes too, and by default neither asks
//! nor dials back to private or loopback addresses
//! ([`NetConfig::autonat_only_global_ips`]), so a node on loopback or behind
//! NAT without forwarding never has a confirmed address.
//! Channel neighbours have reserved slots ([`Behaviour::reserve_slot`]): they
//! are not counted against the limit on connections in all, so strangers
//! cannot crowd them out (the per-peer limit still holds for them). The DHT's
//! store bounds what each remote peer can make it hold ([`crate::store`]).
//!
//! # Policy left out
//! This crate decides nothing about PoR: it does not pay, verify, ack or cut.
//! A missed receipt surfaces as [`NetEvent::Failed`]; whether that is a missed
//! sync that should lead to a severance is the node's call (DESIGN §2.7).

use std::time::Duration;

use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::identity::Keypair;
use libp2p::kad;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{Multiaddr, PeerId, Swarm, SwarmBuilder, autonat, identify, noise, ping, tcp, yamux};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use crate::frame::MAX_RECEIPT;
use crate::lanes::{LaneConfig, Lanes};
pub use crate::lanes::{MessageId, ReplyTo};
use crate::protocol::{
    KAD_PROTOCOL, MAX_RELAY_FRAME, MAX_RELAY_MESSAGE, MAX_SYNC_FRAME, MAX_SYNC_MESSAGE, RELAY_PROTOCOL, SYNC_PROTOCOL,
};
use crate::store::{ProviderStore, StoreLimits};

/// The transport-level answer to one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Receipt {
    /// The message was decoded and handed to the node.
    Accepted,
    /// The node refused it: a typed reason (the API's error code on the
    /// sender's side) and a detail for its logs, at most
    /// [`MAX_REFUSAL_DETAIL`] bytes.
    Refused {
        /// Why, as the engine says.
        reason: por_core::protocol::Refusal,
        /// What exactly, for people.
        detail: String,
    },
}

/// Longest refusal detail a receipt carries (longer ones are cut).
pub const MAX_REFUSAL_DETAIL: usize = 1024;

impl Receipt {
    /// A refusal with `detail` cut to [`MAX_REFUSAL_DETAIL`] bytes (on a
    /// character boundary), so the receipt always fits its frame.
    pub fn refused(reason: por_core::protocol::Refusal, detail: impl Into<String>) -> Self {
        let mut detail = detail.into();
        if detail.len() > MAX_REFUSAL_DETAIL {
            let mut end = MAX_REFUSAL_DETAIL;
            while !detail.is_char_boundary(end) {
                end -= 1;
            }
            detail.truncate(end);
        }
        Receipt::Refused { reason, detail }
    }
}

/// Which protocol a message travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// `/por/relay/2.0.0`.
    Relay,
    /// `/por/sync/2.0.0`.
    Sync,
}

impl std::fmt::Display for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Lane::Relay => "relay",
            Lane::Sync => "sync",
        })
    }
}

/// Network settings. Every field's default is given in its doc.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// How long a relay message may take to be delivered and receipted.
    /// Default 30 s.
    pub relay_timeout: Duration,
    /// How long a sync may take to be delivered and receipted; a sync that
    /// takes longer counts as missed. Default 5 s.
    pub sync_timeout: Duration,
    /// Messages queued to one neighbour on one lane and not yet written
    /// (a slow reader's backlog) beyond which further sends are refused at
    /// once with `Busy`. Default 1024.
    pub max_queued_messages: usize,
    /// Bytes queued to one neighbour on one lane beyond which further sends
    /// are refused with `Busy` (a message finding the queue empty is taken
    /// whatever its size). Default 32 MiB.
    pub max_queued_bytes: usize,
    /// Messages read from one neighbour's stream and not yet receipted by
    /// the node beyond which the stream is not read (the neighbour is held
    /// back by flow control). Default 1024.
    pub max_inbound_messages: usize,
    /// Bytes read from one neighbour's stream and not yet receipted beyond
    /// which the stream is not read. Default 32 MiB.
    pub max_inbound_bytes: usize,
    /// How long an idle connection stays open. Channel neighbours sync every
    /// few hundred ms, so only non-neighbours go idle. Default 120 s.
    pub idle_connection_timeout: Duration,
    /// Established connections in all, channel neighbours' not counted
    /// (they have reserved slots). Default 512.
    pub max_connections: u32,
    /// Established connections per peer. Default 2.
    pub max_connections_per_peer: u32,
    /// Connections being set up at once, in and out each. Default 64.
    pub max_pending: u32,
    /// Kademlia routing table size below which the node bootstraps again.
    /// Default 8.
    pub rebootstrap_below: usize,
    /// Agent version sent by identify. Default `por/<crate version>`.
    pub agent_version: String,
    /// Bounds of the DHT's provider store (see [`StoreLimits`]).
    pub store: StoreLimits,
    /// AutoNAT asks only peers at public IPs to dial back, and dials back
    /// only to public IPs. Turn it off on a private network whose nodes
    /// reach each other at private addresses (a LAN, a cluster). Default
    /// true.
    pub autonat_only_global_ips: bool,
    /// How long after start AutoNAT first asks a peer to dial back.
    /// Default 15 s.
    pub autonat_boot_delay: Duration,
    /// How often AutoNAT asks again while the node's reachability is not
    /// settled. Default 90 s.
    pub autonat_retry_interval: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            relay_timeout: Duration::from_secs(30),
            sync_timeout: Duration::from_secs(5),
            max_queued_messages: 1024,
            max_queued_bytes: 32 << 20,
            max_inbound_messages: 1024,
            max_inbound_bytes: 32 << 20,
            idle_connection_timeout: Duration::from_secs(120),
            max_connections: 512,
            max_connections_per_peer: 2,
            max_pending: 64,
            rebootstrap_below: 8,
            agent_version: concat!("por/", env!("CARGO_PKG_VERSION")).to_string(),
            store: StoreLimits::default(),
            autonat_only_global_ips: true,
            autonat_boot_delay: Duration::from_secs(15),
            autonat_retry_interval: Duration::from_secs(90),
        }
    }
}

pub use composed::{Behaviour, BehaviourEvent};

mod composed {
    // The derive generates `BehaviourEvent` with one undocumented variant per
    // field: `Relay`, `Sync`, `Kad`, `Identify`, `Autonat`, `Ping` (and the limits').
    #![allow(missing_docs)]
    use super::*;

    /// The composed behaviour. `M` is the node's message type (the core's
    /// wire enum).
    #[derive(NetworkBehaviour)]
    pub struct Behaviour<M>
    where
        M: Serialize + DeserializeOwned + Send + 'static,
    {
        /// Connections in all and pending; channel neighbours bypass it.
        pub(super) limits: connection_limits::Behaviour,
        /// Connections per peer, for everyone.
        pub(super) per_peer: connection_limits::Behaviour,
        /// The relay lane.
        pub relay: Lanes<M>,
        /// The sync lane.
        pub sync: Lanes<M>,
        /// Peer discovery.
        pub kad: kad::Behaviour<ProviderStore>,
        pub(super) identify: identify::Behaviour,
        /// Confirms observed addresses before they are used (see the
        /// module docs, "Reachability").
        pub(super) autonat: autonat::Behaviour,
        pub(super) ping: ping::Behaviour,
    }
}

/// What the network tells the node.
#[derive(Debug)]
pub enum NetEvent<M> {
    /// A message from a peer; answer with [`Behaviour::receipt`].
    Inbound {
        /// The sender.
        peer: PeerId,
        /// Its lane.
        lane: Lane,
        /// The message.
        msg: M,
        /// Where the receipt goes.
        reply: ReplyTo,
    },
    /// A message we sent was receipted by the peer, or refused `Busy` at
    /// once by this node because the queue to the peer is full (see
    /// [`NetConfig::max_queued_messages`]).
    Delivered {
        /// The receiver.
        peer: PeerId,
        /// Its lane.
        lane: Lane,
        /// The id [`Behaviour::send`] returned.
        id: MessageId,
        /// The receipt.
        receipt: Receipt,
    },
    /// A message we sent was not receipted: it exceeded the message limit,
    /// the peer could not be reached, did not receipt it in time, or its
    /// stream or connection broke.
    Failed {
        /// The receiver.
        peer: PeerId,
        /// Its lane.
        lane: Lane,
        /// The id [`Behaviour::send`] returned.
        id: MessageId,
        /// What happened.
        error: String,
        /// The message certainly never reached the peer (it was too large,
        /// the peer could not be dialed, or no stream could be opened);
        /// otherwise it may have.
        undelivered: bool,
    },
    /// A peer's stream broke a rule (a frame or message too large, a
    /// malformed frame or message) and was dropped, or broke.
    InboundFailed {
        /// The sender.
        peer: PeerId,
        /// Its lane.
        lane: Lane,
        /// What happened.
        error: String,
    },
    /// Identify told us who a peer is.
    Identified {
        /// The peer.
        peer: PeerId,
        /// Its agent version.
        agent: String,
        /// Whether it speaks PoR's relay protocol.
        speaks_por: bool,
    },
    /// A ping round trip.
    Ping {
        /// The peer.
        peer: PeerId,
        /// Round-trip time, or `None` when the ping failed.
        rtt: Option<Duration>,
    },
    /// AutoNAT's view of the node's reachability changed.
    Reachability {
        /// The address a peer dialed back to, when the node is public;
        /// `None` when it is private (no dial-back succeeded) or unknown.
        public: Option<Multiaddr>,
        /// AutoNAT's status, for the log (`public`, `private`, `unknown`).
        status: &'static str,
    },
    /// Kademlia's routing table changed size; the node may re-bootstrap.
    RoutingTable {
        /// Peers in the table now.
        peers: usize,
    },
    /// Progress of a [`Behaviour::get_providers`] query: providers found
    /// so far (new ones only), and whether the query is over.
    Providers {
        /// The id [`Behaviour::get_providers`] returned.
        query: kad::QueryId,
        /// Providers found in this step.
        providers: Vec<PeerId>,
        /// The query is over; no more events for it.
        done: bool,
    },
    /// A [`Behaviour::start_providing`] announcement finished.
    Providing {
        /// The id [`Behaviour::start_providing`] returned.
        query: kad::QueryId,
        /// `Err` when no peer took the record (the record is still kept locally
        /// and Kademlia republishes it).
        result: Result<(), String>,
    },
}

impl<M> Behaviour<M>
where
    M: Serialize + DeserializeOwned + Send + 'static,
{
    /// Builds the behaviour for `key`.
    pub fn new(key: &Keypair, cfg: &NetConfig) -> Self {
        let peer_id = key.public().to_peer_id();
        let lane = |lane, protocol, max_message, max_frame, timeout| {
            Lanes::new(LaneConfig {
                lane,
                protocol,
                max_message,
                max_frame,
                timeout,
                max_queued_messages: cfg.max_queued_messages,
                max_queued_bytes: cfg.max_queued_bytes,
                max_inbound_messages: cfg.max_inbound_messages,
                max_inbound_bytes: cfg.max_inbound_bytes,
            })
        };
        let mut kad_cfg = kad::Config::new(KAD_PROTOCOL);
        kad_cfg.set_query_timeout(Duration::from_secs(30));
        let mut kad = kad::Behaviour::with_config(peer_id, ProviderStore::new(peer_id, &cfg.store), kad_cfg);
        kad.set_mode(Some(kad::Mode::Server));
        let limits = ConnectionLimits::default()
            .with_max_established(Some(cfg.max_connections))
            .with_max_pending_incoming(Some(cfg.max_pending))
            .with_max_pending_outgoing(Some(cfg.max_pending));
        let per_peer = ConnectionLimits::default().with_max_established_per_peer(Some(cfg.max_connections_per_peer));
        Behaviour {
            limits: connection_limits::Behaviour::new(limits),
            per_peer: connection_limits::Behaviour::new(per_peer),
            relay: lane(Lane::Relay, RELAY_PROTOCOL, MAX_RELAY_MESSAGE, MAX_RELAY_FRAME, cfg.relay_timeout),
            sync: lane(Lane::Sync, SYNC_PROTOCOL, MAX_SYNC_MESSAGE, MAX_SYNC_FRAME, cfg.sync_timeout),
            kad,
            identify: identify::Behaviour::new(
                identify::Config::new("/por/1.0.0".into(), key.public()).with_agent_version(cfg.agent_version.clone()),
            ),
            autonat: autonat::Behaviour::new(
                peer_id,
                autonat::Config {
                    only_global_ips: cfg.autonat_only_global_ips,
                    boot_delay: cfg.autonat_boot_delay,
                    retry_interval: cfg.autonat_retry_interval,
                    ..autonat::Config::default()
                },
            ),
            ping: ping::Behaviour::new(ping::Config::new()),
        }
    }

    /// Sends `msg` to `peer` on `lane` (dialing it if needed, with any
    /// address a behaviour knows). It leaves at the next
    /// [`Behaviour::flush`] (or swarm poll, see [`Behaviour::hold_frames`])
    /// together with everything else for `peer` on `lane`, as one frame.
    pub fn send(&mut self, peer: &PeerId, lane: Lane, msg: M) -> MessageId {
        match lane {
            Lane::Relay => self.relay.send(peer, &msg),
            Lane::Sync => self.sync.send(peer, &msg),
        }
    }

    /// Answers an inbound message. `false` when the sender is gone.
    pub fn receipt(&mut self, lane: Lane, reply: ReplyTo, receipt: Receipt) -> bool {
        match lane {
            Lane::Relay => self.relay.receipt(reply, receipt),
            Lane::Sync => self.sync.receipt(reply, receipt),
        }
    }

    /// With `hold` on, messages and receipts leave only at
    /// [`Behaviour::flush`] (a node calls it at the end of each event-loop
    /// turn); off (the default), whenever the swarm polls the behaviour.
    pub fn hold_frames(&mut self, hold: bool) {
        self.relay.hold_frames(hold);
        self.sync.hold_frames(hold);
    }

    /// Sends what is queued: per neighbour and lane, one frame.
    pub fn flush(&mut self) {
        self.relay.flush();
        self.sync.flush();
    }

    /// Gives `peer` (a channel neighbour) a reserved slot: its connections
    /// are not counted against, nor refused by, the limit on connections in
    /// all.
    pub fn reserve_slot(&mut self, peer: &PeerId) {
        self.limits.bypass_peer_id(peer);
    }

    /// Takes `peer`'s reserved slot back (no channel with it any more).
    pub fn release_slot(&mut self, peer: &PeerId) {
        self.limits.remove_peer_id(peer);
    }

    /// Adds a known address of a peer (a bootstrap peer, a channel peer).
    pub fn add_address(&mut self, peer: &PeerId, addr: Multiaddr) {
        self.kad.add_address(peer, addr);
    }

    /// Starts a Kademlia bootstrap; `false` when no peer is known yet.
    pub fn bootstrap(&mut self) -> bool {
        self.kad.bootstrap().is_ok()
    }

    /// Looks `peer` up in the DHT; the addresses found are added to the
    /// routing table, so a later dial by peer id can use them.
    pub fn find_peer(&mut self, peer: PeerId) {
        self.kad.get_closest_peers(peer);
    }

    /// Announces in the DHT that this node provides `key` (a provider
    /// record; Kademlia republishes it). Fails only when the local record
    /// store is full.
    pub fn start_providing(&mut self, key: Vec<u8>) -> Result<kad::QueryId, String> {
        self.kad.start_providing(kad::RecordKey::new(&key)).map_err(|e| e.to_string())
    }

    /// Looks up the providers of `key`; results come as [`NetEvent::Providers`].
    pub fn get_providers(&mut self, key: Vec<u8>) -> kad::QueryId {
        self.kad.get_providers(kad::RecordKey::new(&key))
    }

    /// The addresses Kademlia's routing table holds for `peer` (what the
    /// peer announced, or what we were told of it); empty if it is not in
    /// the table.
    pub fn known_addresses(&mut self, peer: &PeerId) -> Vec<Multiaddr> {
        let mut out = Vec::new();
        for bucket in self.kad.kbuckets() {
            for e in bucket.iter() {
                if e.node.key.preimage() == peer {
                    out.extend(e.node.value.iter().cloned());
                }
            }
        }
        out
    }

    /// Peers in Kademlia's routing table.
    pub fn routing_table_size(&mut self) -> usize {
        self.kad.kbuckets().map(|b| b.num_entries()).sum()
    }

    /// Turns a raw behaviour event into a domain event, doing the glue on
    /// the way (identify feeds Kademlia the peer's listen addresses).
    pub fn on_event(&mut self, ev: BehaviourEvent<M>) -> Option<NetEvent<M>> {
        match ev {
            BehaviourEvent::Relay(e) | BehaviourEvent::Sync(e) => Some(e),
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                let speaks_por = info.protocols.contains(&RELAY_PROTOCOL);
                if info.protocols.contains(&KAD_PROTOCOL) {
                    for a in info.listen_addrs {
                        self.kad.add_address(&peer_id, a);
                    }
                }
                Some(NetEvent::Identified { peer: peer_id, agent: info.agent_version, speaks_por })
            }
            BehaviourEvent::Kad(kad::Event::RoutingUpdated { .. }) => {
                Some(NetEvent::RoutingTable { peers: self.routing_table_size() })
            }
            BehaviourEvent::Ping(ping::Event { peer, result, .. }) => Some(NetEvent::Ping { peer, rtt: result.ok() }),
            BehaviourEvent::Autonat(autonat::Event::StatusChanged { new, .. }) => Some(match new {
                autonat::NatStatus::Public(a) => NetEvent::Reachability { public: Some(a), status: "public" },
                autonat::NatStatus::Private => NetEvent::Reachability { public: None, status: "private" },
                autonat::NatStatus::Unknown => NetEvent::Reachability { public: None, status: "unknown" },
            }),
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::GetClosestPeers(Ok(found)),
                ..
            }) => {
                for p in found.peers {
                    for a in p.addrs {
                        self.kad.add_address(&p.peer_id, a);
                    }
                }
                None
            }
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::GetProviders(r),
                step,
                ..
            }) => {
                let providers = match r {
                    Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) => providers.into_iter().collect(),
                    Ok(kad::GetProvidersOk::FinishedWithNoAdditionalRecord { .. }) | Err(_) => Vec::new(),
                };
                Some(NetEvent::Providers { query: id, providers, done: step.last })
            }
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::StartProviding(r),
                ..
            }) => Some(NetEvent::Providing { query: id, result: r.map(|_| ()).map_err(|e| e.to_string()) }),
            _ => None,
        }
    }
}

/// Why a swarm could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The TCP transport or noise could not be set up.
    #[error("cannot set up the TCP/noise/yamux transport: {0}")]
    Transport(String),
}

/// Builds a TCP + noise + yamux swarm (tokio) for `key`.
pub fn build_swarm<M>(key: Keypair, cfg: &NetConfig) -> Result<Swarm<Behaviour<M>>, BuildError>
where
    M: Serialize + DeserializeOwned + Send + 'static,
{
    let cfg2 = cfg.clone();
    Ok(SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| BuildError::Transport(e.to_string()))?
        .with_dns()
        .map_err(|e| BuildError::Transport(e.to_string()))?
        .with_behaviour(move |key| Behaviour::new(key, &cfg2))
        .map_err(|e| BuildError::Transport(e.to_string()))?
        // Lazy negotiation: a new lane stream's protocol proposal and its
        // first frame leave together, so opening a stream costs no extra
        // round trip (with plain V1 the opener waits for the protocol's echo).
        // A peer that does not speak the protocol then shows up as a broken
        // stream.
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(cfg.idle_connection_timeout)
                .with_substream_upgrade_protocol_override(libp2p::core::upgrade::Version::V1Lazy)
        })
        .build())
}
