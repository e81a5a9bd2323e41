//! The event loop: one task owns the swarm, the protocol engine and the
//! store; everything else talks to it through a [`NodeHandle`].
//!
//! The loop runs in *turns*: it waits for one input, then takes every other
//! input already ready (at most `TURN_INPUTS`), each dispatched by a flat
//! `select!` in this order: commands (shutdown first), finished group
//! commits and service calls, due timers, housekeeping, then network
//! events. At the end of the turn (`EventLoop::end_turn`) what the turn
//! made leaves: the group commit starts, and the messages for each
//! neighbour go out as one frame per lane (`por_behaviours::lanes`). No
//! timer delays a frame. Slow work (service handlers, chain transactions)
//! is spawned and its result comes back on a bounded channel.
//!
//! The loop's state is grouped by role, each in its own file: the
//! requester side (`requester`: our requests and who waits for them), the
//! server side (`server`: services and their handlers), the chain link
//! (`chain_link`: jobs for the chain agent), the peers (`peers`:
//! channels' peers, connections, receipts, lookups) and the network
//! events (`net`: messages in and out). What they share (the
//! swarm, the engine, the group commit, timers, metrics) is the loop's own.
//!
//! Effects of the engine are carried out in the order the engine gives them,
//! except that vouchers go to the group commit ([`crate::committer`]) and
//! acks and sync acks wait there until the vouchers written before them are
//! on disk: no ack ever leaves for a voucher that is not durable, and nothing
//! else waits for the disk (a relay forwards at once, DESIGN §2.4).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};
use por_behaviours::{Behaviour, NetConfig, build_swarm};
use por_core::protocol::inflight::Entry;
use por_core::protocol::{ChannelSetup, Effect, EngineEvent, NodeEngine, ProtocolConfig, SeverReason, Timer, Wire};
use por_core::{ChannelId, Ed25519Verifier, NodeKey, NodeSigner, Signer};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use prometheus_client::registry::Registry;

use crate::committer::{Committed, Committer};
use crate::events::{EventBus, NodeEvent};
use crate::handle::{ChainJob, Command, NodeHandle, PeerInfo, Status};
use crate::metrics::{ChannelLabel, Metrics};
use crate::routes::NetworkGraph;
use crate::store::{Store, StoreError, StoredChannel};
use chain_link::ChainLink;
use peers::Peers;
use requester::RequesterSide;
use server::ServerSide;

mod chain_link;
mod net;
mod peers;
mod requester;
mod server;

/// What travels between two nodes: an engine message and the channel it
/// belongs to (two nodes may share several channels).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The channel.
    pub channel: ChannelId,
    /// The message.
    pub msg: Wire,
}

/// The node's settings. Every field's doc ends with its default.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where the channel store lives. No default: required.
    pub data_dir: PathBuf,
    /// Addresses to listen on. Default `/ip4/127.0.0.1/tcp/0`.
    pub listen: Vec<Multiaddr>,
    /// Peers to bootstrap Kademlia from. Default none.
    pub bootstrap: Vec<(PeerId, Multiaddr)>,
    /// Addresses this node is reachable at from outside (a public IP, a
    /// port forwarded through NAT or a container's published port): told to
    /// every peer by identify and put in Kademlia's records as they are,
    /// without confirmation. Default none (only addresses that libp2p's
    /// AutoNAT confirms are announced).
    pub external_addresses: Vec<Multiaddr>,
    /// libp2p settings. Default [`NetConfig::default`].
    pub net: NetConfig,
    /// The protocol engine's settings. Default [`ProtocolConfig::default`].
    pub protocol: ProtocolConfig,
    /// How long a service handler may take before the node answers 504.
    /// Default 30 s.
    pub service_timeout: Duration,
    /// A file the node rewrites with a backup of its channels after every
    /// commit that changed a voucher or a credit
    /// ([`crate::backup::ChannelBackup`]). Default none.
    pub channel_backup: Option<PathBuf>,
}

impl NodeConfig {
    /// Defaults with the store under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        NodeConfig {
            data_dir: data_dir.into(),
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("valid multiaddr")],
            bootstrap: Vec::new(),
            external_addresses: Vec::new(),
            net: NetConfig::default(),
            protocol: ProtocolConfig::default(),
            service_timeout: Duration::from_secs(30),
            channel_backup: None,
        }
    }
}

/// The node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    /// The channel store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The swarm could not be built.
    #[error(transparent)]
    Swarm(#[from] por_behaviours::BuildError),
    /// A channel on disk does not fit its stored vouchers.
    #[error("channel {0} on disk cannot be restored: {1}")]
    Restore(ChannelId, String),
    /// A listen address was refused.
    #[error("cannot listen on {0}: {1}")]
    Listen(Multiaddr, String),
    /// A setting cannot work.
    #[error("{0}")]
    Config(String),
}

/// A started node.
pub struct RunningNode {
    /// The handle.
    pub handle: NodeHandle,
    /// Its peer id.
    pub peer_id: PeerId,
    /// Its node key.
    pub key: NodeKey,
    /// The addresses it listens on, once bound.
    pub listen_addrs: Vec<Multiaddr>,
    /// The event loop's task.
    pub task: tokio::task::JoinHandle<()>,
}

const COMMAND_QUEUE: usize = 256;

/// Starts a node with the node key whose secret seed is `seed`; its metrics
/// (and libp2p's) go into `registry`.
pub async fn start(config: NodeConfig, seed: [u8; 32], registry: &mut Registry) -> Result<RunningNode, StartError> {
    let allowance = config.protocol.limits.max_response_bytes;
    if allowance > por_behaviours::protocol::MAX_RELAY_BODY as u64 {
        return Err(StartError::Config(format!(
            "protocol.limits.max_response_bytes = {allowance} exceeds the relay lane's largest body ({} bytes): \
             responses that large could not be carried",
            por_behaviours::protocol::MAX_RELAY_BODY
        )));
    }
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| StartError::DataDir(config.data_dir.display().to_string(), e))?;
    let store = Arc::new(Store::open(&config.data_dir.join("channels.redb"))?);
    let stored = store.load()?;
    let requests = store.load_requests()?;
    let signed =
        crate::sentlog::SentLog::read_best(&config.data_dir, &NodeSigner::from_seed(seed).public(), &Ed25519Verifier);
    let sent_log = crate::sentlog::SentLog::open(&config.data_dir)
        .map_err(|e| StartError::DataDir(config.data_dir.display().to_string(), e))?;
    let keypair = libp2p::identity::Keypair::ed25519_from_bytes(seed).expect("32 bytes are a valid ed25519 seed");
    let mut swarm = build_swarm::<Envelope>(keypair, &config.net)?;
    // Messages leave at the end of each turn of the loop, not as made.
    swarm.behaviour_mut().hold_frames(true);
    for addr in &config.listen {
        swarm.listen_on(addr.clone()).map_err(|e| StartError::Listen(addr.clone(), e.to_string()))?;
    }
    let mut listen_addrs = Vec::new();
    while listen_addrs.len() < config.listen.len() {
        match swarm.select_next_some().await {
            SwarmEvent::NewListenAddr { address, .. } => listen_addrs.push(address),
            SwarmEvent::ListenerError { error, .. } => {
                return Err(StartError::Listen(config.listen[0].clone(), error.to_string()));
            }
            _ => {}
        }
    }
    for addr in &config.external_addresses {
        swarm.add_external_address(addr.clone());
    }
    if config.external_addresses.is_empty() {
        warn!(
            "no public address: none is configured ([node].external_addresses), and peers reach this node only on \
             connections it opens until AutoNAT confirms an address they observe it at"
        );
    } else {
        info!(external = ?config.external_addresses, "announcing the configured external addresses");
    }
    for (peer, addr) in &config.bootstrap {
        swarm.behaviour_mut().add_address(peer, addr.clone());
    }
    if !config.bootstrap.is_empty() {
        swarm.behaviour_mut().bootstrap();
    }
    let mut protocol = config.protocol.clone();
    if !protocol.emit_persists {
        warn!("protocol.emit_persists = false is for disk-less simulators; a node always persists its vouchers");
        protocol.emit_persists = true;
    }
    let signer = NodeSigner::from_seed(seed);
    let key = signer.public();
    let peer_id = *swarm.local_peer_id();
    let (tx, commands) = mpsc::channel(COMMAND_QUEUE);
    let graph: crate::handle::SharedGraph = Default::default();
    let events = EventBus::new();
    let weak_events = events.weak();
    let outcomes =
        crate::outcomes::Recorder::open(&config.data_dir, Some(crate::metrics::OutcomeMetrics::new(registry)));
    let seen = (outcomes.reader(), crate::history::HistoryLog::open(&config.data_dir));
    let trusts_terms = protocol.limits.trust_route_terms;
    let ev = EventLoop {
        swarm,
        engine: NodeEngine::new(protocol, signer, Ed25519Verifier),
        sent_log,
        commit: Committer::with_backup(store, config.channel_backup.clone().map(|p| (p, key))),
        commands,
        timers: BinaryHeap::new(),
        start: Instant::now(),
        epoch_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        cumulative: HashMap::new(),
        gauges_stale: false,
        metrics: Metrics::new(registry),
        p2p_metrics: libp2p::metrics::Metrics::new(registry),
        requester: RequesterSide::new(),
        server: ServerSide::new(config.service_timeout),
        chain: ChainLink::default(),
        peers: Peers::new(listen_addrs.clone(), config.bootstrap.clone()),
        graph: graph.clone(),
        terms_seen: None,
        // A node told to trust the routes' terms (no chain) has nothing to
        // wait for.
        terms_wait: (!trusts_terms).then(|| net::TermsWait::new(Instant::now() + net::TERMS_WAIT)),
        events,
        outcomes,
    };
    let mut ev = ev;
    ev.restore(stored, requests, signed)?;
    let task = tokio::spawn(ev.run());
    let handle = NodeHandle { tx, key, graph, events: weak_events, seen };
    Ok(RunningNode { handle, peer_id, key, listen_addrs, task })
}

/// The loop's state: what every role shares, then one part per role.
struct EventLoop {
    swarm: Swarm<Behaviour<Envelope>>,
    engine: NodeEngine<NodeSigner, Ed25519Verifier>,
    commit: Committer,
    /// Every voucher this node signs, logged before it leaves
    /// ([`crate::sentlog`]).
    sent_log: crate::sentlog::SentLog,
    commands: mpsc::Receiver<Command>,
    timers: BinaryHeap<Reverse<(u64, Timer)>>,
    /// When the loop started, and the engine's clock then: milliseconds
    /// since the Unix epoch, so that the times in the requests kept on disk
    /// mean the same after a restart (DESIGN §2.11). The clock runs on
    /// `start` (monotonic) from there.
    start: Instant,
    epoch_ms: u64,
    /// The last cumulative voucher persisted per channel and direction
    /// (`true`: received), to count payments in the metrics.
    cumulative: HashMap<(ChannelId, bool), u128>,
    /// Channel balances changed since the gauges were last set.
    gauges_stale: bool,
    metrics: Metrics,
    p2p_metrics: libp2p::metrics::Metrics,
    /// Requests this node originates.
    requester: RequesterSide,
    /// Services this node serves.
    server: ServerSide,
    /// Jobs for the chain agent.
    chain: ChainLink,
    /// Channels' peers, connections, receipts, lookups.
    peers: Peers,
    /// The graph the handle publishes (the chain agent's snapshot): the
    /// engine checks every route's terms against it.
    graph: crate::handle::SharedGraph,
    /// The snapshot the engine has now.
    terms_seen: Option<Arc<NetworkGraph>>,
    /// Paid requests held until the chain's graph is read, just after the
    /// start ([`net::TermsWait`]); `None` once it is, or the wait is over.
    terms_wait: Option<net::TermsWait>,
    /// The event stream's sending end ([`crate::events`]).
    events: EventBus,
    /// The record of outcomes ([`crate::outcomes`]).
    outcomes: crate::outcomes::Recorder,
}

/// Inputs one turn of the loop handles at most before it sends what they
/// made (a bound so that a flood of ready inputs cannot hold frames back).
const TURN_INPUTS: usize = 64;

/// What [`EventLoop::next_input`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    /// Handled one input.
    Handled,
    /// None was ready (only when not waiting).
    NoneReady,
    /// The node is stopping.
    Stop,
}

/// How often the loop does its housekeeping (re-bootstrap, chain backlog).
const MAINTENANCE: Duration = Duration::from_secs(5);
/// Re-bootstrap Kademlia when its routing table holds fewer peers than this.
const LOW_ROUTING_TABLE: usize = 3;

impl EventLoop {
    fn now(&self) -> u64 {
        self.epoch_ms.saturating_add(self.start.elapsed().as_millis() as u64)
    }

    async fn run(mut self) {
        let mut maintenance = tokio::time::interval(MAINTENANCE);
        maintenance.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // What `restore` queued leaves now.
        self.end_turn();
        loop {
            // A turn: wait for one input, take every other one already
            // ready (at most TURN_INPUTS in all), then send what they made.
            if self.next_input(&mut maintenance, true).await == Input::Stop {
                return;
            }
            for _ in 1..TURN_INPUTS {
                match self.next_input(&mut maintenance, false).await {
                    Input::Stop => return,
                    Input::NoneReady => break,
                    Input::Handled => {}
                }
            }
            self.end_turn();
        }
    }

    /// Handles one input: commands (shutdown first), finished group commits
    /// and service calls, due timers, housekeeping, then network events.
    /// With `wait` off, returns [`Input::NoneReady`] at once when none is
    /// ready.
    async fn next_input(&mut self, maintenance: &mut tokio::time::Interval, wait: bool) -> Input {
        let next_timer = self.timers.peek().map(|Reverse((at, _))| *at);
        let sleep = async {
            match next_timer {
                Some(at) => {
                    let after = Duration::from_millis(at.saturating_sub(self.epoch_ms));
                    tokio::time::sleep_until((self.start + after).into()).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            cmd = self.commands.recv() => match cmd {
                None | Some(Command::Shutdown) => {
                    self.end_turn();
                    self.commit.flush().await;
                    if let Err(e) = self.outcomes.save() {
                        warn!("cannot save the record of outcomes: {e}");
                    }
                    return Input::Stop;
                }
                Some(c) => self.on_command(c),
            },
            Some(c) = self.commit.done.recv() => self.on_committed(c),
            Some(served) = self.server.done.recv() => self.on_served(served),
            _ = sleep => self.on_timers(),
            _ = maintenance.tick() => self.on_maintenance(),
            ev = self.swarm.select_next_some() => self.on_swarm(ev),
            _ = tokio::time::sleep(net::TERMS_POLL), if self.terms_wait.is_some() => self.check_terms_wait(),
            _ = std::future::ready(()), if !wait => return Input::NoneReady,
        }
        Input::Handled
    }

    /// The end of a turn: what the turn's inputs made leaves. The group
    /// commit starts writing the turn's vouchers and requests, and the
    /// lanes send what was queued as one frame per neighbour and lane
    /// (acks held behind the commit leave in the turn their commit ends).
    fn end_turn(&mut self) {
        // The engine's flush step first: it signs what the turn queued (one
        // voucher per channel for the requests it pays, one root for our
        // requests, one for our responses, one ack per frame received) and
        // emits the sends, which the lanes then carry in this turn's frames.
        if self.terms_wait.is_some() {
            self.check_terms_wait();
        }
        let mut out = Vec::new();
        self.engine.flush(self.now(), &mut out);
        self.apply(out);
        self.changes_to_commit();
        self.commit.kick();
        if self.gauges_stale {
            self.update_gauges();
        }
        self.swarm.behaviour_mut().flush();
    }

    /// A group commit finished: the acks it held may leave.
    fn on_committed(&mut self, c: Committed) {
        let now = self.now();
        let released = self.commit.on_done(c);
        self.sent_log.committed(self.commit.durable());
        if let Err(e) = self.sent_log.maybe_rotate(self.commit.next_seq()) {
            warn!("cannot rotate the sent log: {e}");
        }
        for (channel, msg) in released {
            if let Wire::Response(r) = &msg {
                self.engine.answer_left(r.request_id, channel, now);
            }
            self.send(channel, msg);
        }
    }

    fn on_command(&mut self, c: Command) {
        let now = self.now();
        let mut out = Vec::new();
        match c {
            Command::AddChannel { setup, addrs, reply } => {
                let r = self.add_channel(setup, addrs, now, &mut out);
                self.apply(out);
                let _ = reply.send(r);
            }
            Command::Serve { name, service, reply } => {
                self.server.add(name, service);
                let _ = reply.send(());
            }
            Command::Request { route, service, body, max_response_bytes, reply } => {
                let r = self.send_request(route, service, body, max_response_bytes, now, &mut out);
                self.apply(out);
                let _ = reply.send(r);
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::PeerAddresses { peer, reply } => {
                let _ = reply.send(self.swarm.behaviour_mut().known_addresses(&peer));
            }
            Command::Peers { reply } => {
                let peers = self
                    .swarm
                    .connected_peers()
                    .map(|p| PeerInfo { peer_id: p.to_string(), addr: String::new() })
                    .collect::<Vec<_>>();
                let _ = reply.send(self.peers.with_addresses(peers));
            }
            Command::AttachChain { jobs } => self.chain.attach(jobs),
            Command::ChannelRemoved { channel, tx_hash } => {
                // Once per channel of ours (the agent may report it again).
                let ours = self.engine.channel(channel).is_some_and(|c| !c.removed);
                self.engine.channel_removed(channel, tx_hash, now, &mut out);
                self.apply(out);
                if ours {
                    self.metrics.remove_channel(channel.0);
                    self.events.emit(NodeEvent::ChannelClosed { channel, tx_hash });
                }
                // The peer keeps its reserved slot while another channel
                // with it is open.
                if let Some(peer) = self.peers.of_channel(&channel) {
                    let open = self.peers.channels_of(&peer).any(|c| self.engine.channel(c).is_some_and(|s| !s.closed));
                    if !open {
                        self.swarm.behaviour_mut().release_slot(&peer);
                    }
                }
            }
            Command::NoticeRefuted { channel } => {
                warn!(%channel, "a notice named a channel that was closed cooperatively: cutting who sent it");
                self.engine.notice_refuted(channel, now, &mut out);
                self.apply(out);
            }
            Command::LateTerms { late_fee_per_sec, max_late_ms } => {
                if self.engine.set_late_terms(late_fee_per_sec, max_late_ms) {
                    info!(late_fee_per_sec, max_late_ms, "the contract's late-fee terms changed");
                }
            }
            Command::Refusal { request, reply } => {
                let _ = reply.send(self.requester.refusal(&request));
            }
            Command::BestVoucher { channel, reply } => {
                let _ = reply.send(self.engine.ledger(channel).and_then(|l| l.best_received().cloned()));
            }
            Command::OwnVoucher { channel, reply } => {
                let _ = reply.send(self.engine.ledger(channel).and_then(|l| l.last_sent().cloned()));
            }
            Command::Sever { channel, reply } => {
                let open = self.engine.channel(channel).is_some_and(|c| !c.closed);
                self.engine.sever(channel, SeverReason::Manual, &mut out);
                self.apply(out);
                let _ = reply.send(open);
            }
            Command::Provide { key, reply } => {
                let _ = reply.send(self.swarm.behaviour_mut().start_providing(key).map(|_| ()));
            }
            Command::FindProviders { key, reply } => {
                let query = self.swarm.behaviour_mut().get_providers(key);
                self.peers.lookup(query, reply);
            }
            Command::Drain { reply } => {
                info!(in_flight = self.engine.in_flight(), "draining: refusing new requests, finishing the rest");
                self.engine.drain(now, &mut out);
                self.apply(out);
                let _ = reply.send(self.engine.in_flight());
            }
            Command::Backup { reply } => {
                let b = crate::backup::ChannelBackup::from_store(self.commit.store(), self.engine.key());
                let _ = reply.send(b.map_err(|e| e.to_string()));
            }
            Command::Shutdown => {}
        }
    }

    /// Housekeeping: re-bootstrap when the routing table runs low, and hand
    /// the chain agent what did not fit its queue.
    fn on_maintenance(&mut self) {
        if !self.peers.bootstrap.is_empty() && self.swarm.behaviour_mut().routing_table_size() < LOW_ROUTING_TABLE {
            for (peer, addr) in &self.peers.bootstrap {
                self.swarm.behaviour_mut().add_address(peer, addr.clone());
            }
            if self.swarm.behaviour_mut().bootstrap() {
                debug!("routing table low; bootstrapping again");
            }
        }
        self.forget_ended_waiters();
        self.chain.retry_backlog();
        self.outcomes.tick(self.now());
    }

    /// Brings back the channels kept on disk (after a restart).
    fn restore(
        &mut self,
        stored: BTreeMap<ChannelId, StoredChannel>,
        requests: Vec<Entry>,
        mut signed: BTreeMap<ChannelId, por_core::SignedVoucher>,
    ) -> Result<(), StartError> {
        let now = self.now();
        let mut out = Vec::new();
        for (id, mut st) in stored {
            // A voucher signed and sent but not committed before a kill: the
            // peer holds it, so our next ones must go above it.
            if let Some(v) = signed.remove(&id)
                && st.sent.as_ref().is_none_or(|s| v.voucher.cumulative > s.voucher.cumulative)
            {
                info!(channel = %id, cumulative = %v.voucher.cumulative, "a signed voucher the store had not kept, from the sent log");
                st.sent = Some(v);
            }
            let Some(setup) = st.setup else {
                warn!(channel = %id, "vouchers on disk for a channel without its setup; skipped");
                continue;
            };
            let peer = PeerId::from_bytes(&setup.remote.peer_id_bytes()).expect("an ed25519 key is a valid peer id");
            self.peers.set_channel_peer(id, peer);
            self.swarm.behaviour_mut().reserve_slot(&peer);
            // Payments before the restart are not counted again.
            for (v, received) in [(&st.sent, false), (&st.received, true)] {
                if let Some(v) = v {
                    self.cumulative.insert((id, received), v.voucher.cumulative);
                }
            }
            self.engine
                .restore_channel(setup, st.sent, st.received, now, &mut out)
                .map_err(|e| StartError::Restore(id, e.to_string()))?;
            if let Some((credit, credit_out)) = st.credit {
                self.engine.restore_credit(id, credit, credit_out);
            }
        }
        // The requests in flight before the restart: the node answers,
        // re-asks and pays late fees for them as if it had never stopped.
        let (mut back, mut dropped) = (0usize, Vec::new());
        for entry in requests {
            let id = entry.id;
            if self.engine.restore_request(entry, now, &mut out) {
                back += 1;
            } else {
                dropped.push(id);
            }
        }
        if back > 0 || !dropped.is_empty() {
            info!(restored = back, dropped = dropped.len(), "requests in flight before the restart");
        }
        for id in dropped {
            // Over channels that are gone: nothing is left to do for them.
            self.commit.write_request(id, None);
        }
        self.apply(out);
        Ok(())
    }

    fn add_channel(
        &mut self,
        setup: ChannelSetup,
        addrs: Vec<Multiaddr>,
        now: u64,
        out: &mut Vec<Effect>,
    ) -> Result<(), String> {
        let peer = PeerId::from_bytes(&setup.remote.peer_id_bytes()).map_err(|e| e.to_string())?;
        if addrs.is_empty() && !self.swarm.is_connected(&peer) {
            // Known only by its key (a channel read from the chain): find
            // its addresses in the DHT before the first message needs them.
            self.swarm.behaviour_mut().find_peer(peer);
        }
        for a in addrs {
            self.swarm.behaviour_mut().add_address(&peer, a);
        }
        if let Some(known) = self.engine.ledger(setup.channel) {
            // Known already (restored from disk, or told twice): keep its
            // vouchers; only the addresses were new.
            return if known.remote == setup.remote {
                Ok(())
            } else {
                Err(format!("channel {} is already open with another peer", setup.channel))
            };
        }
        self.commit.store().put_channel(&setup).map_err(|e| e.to_string())?;
        self.peers.set_channel_peer(setup.channel, peer);
        self.swarm.behaviour_mut().reserve_slot(&peer);
        let opened = NodeEvent::ChannelOpened {
            channel: setup.channel,
            peer: setup.remote,
            local_deposit: setup.local_deposit,
            remote_deposit: setup.remote_deposit,
        };
        self.engine.open_channel(setup, now, out);
        self.events.emit(opened);
        Ok(())
    }

    fn status(&mut self) -> Status {
        let channels = self
            .engine
            .channels()
            .filter(|(_, c)| !c.closed)
            .map(|(id, c)| (*id, c.ledger.remote, c.ledger.spendable(), c.ledger.received()))
            .collect();
        Status {
            key: self.engine.key(),
            peer_id: self.swarm.local_peer_id().to_string(),
            listen: self.peers.listen.iter().map(|a| a.to_string()).collect(),
            external: self.swarm.external_addresses().map(|a| a.to_string()).collect(),
            peers: self.swarm.connected_peers().count(),
            channels,
            in_flight: self.engine.in_flight(),
            late_terms: self.engine.late_terms(),
            draining: self.engine.draining(),
        }
    }

    fn on_timers(&mut self) {
        let now = self.now();
        let mut out = Vec::new();
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, t))) = self.timers.pop() else { break };
            self.engine.handle_timer(t, now, &mut out);
        }
        self.apply(out);
    }

    /// Gives the engine the graph last published, if it changed.
    fn refresh_terms(&mut self) {
        let now = self.graph.read().unwrap_or_else(|e| e.into_inner()).clone();
        let changed = match (&now, &self.terms_seen) {
            (Some(a), Some(b)) => !Arc::ptr_eq(a, b),
            (Some(_), None) => true,
            _ => false,
        };
        if changed && let Some(g) = now {
            self.engine.set_terms(g.clone());
            self.terms_seen = Some(g);
        }
    }

    /// Carries out a batch of effects (see the module docs for the order).
    /// The requests and credits the engine changed go into the next commit.
    fn changes_to_commit(&mut self) {
        for (id, entry) in self.engine.take_changed_requests() {
            self.commit.write_request(id, entry);
        }
        for (channel, credit, credit_out) in self.engine.take_changed_credits() {
            self.commit.write_credit(channel, (credit, credit_out));
        }
    }

    fn apply(&mut self, out: Vec<Effect>) {
        // The requests and credits the engine changed go into the commit
        // before any ack of this batch is gated: an ack waits for them.
        self.changes_to_commit();
        for e in out {
            match e {
                Effect::Persist { channel, voucher, received } => {
                    // Logged before anything of this batch is sent (the lanes
                    // write only at the end of the turn, after this call).
                    if !received && let Err(e) = self.sent_log.append(&voucher) {
                        warn!(%channel, "cannot log a signed voucher: {e}");
                    }
                    let last = self.cumulative.insert((channel, received), voucher.voucher.cumulative).unwrap_or(0);
                    let delta = voucher.voucher.cumulative.saturating_sub(last) as f64;
                    if received { &self.metrics.received } else { &self.metrics.paid }.inc_by(delta);
                    self.commit.write(channel, received, voucher);
                }
                Effect::Send { channel, msg } => {
                    let response = match &msg {
                        Wire::Response(r) => Some(r.request_id),
                        _ => None,
                    };
                    match self.commit.gate(channel, msg) {
                        Some((channel, msg)) => self.send(channel, msg),
                        // A response held behind its ack (the disk is slow or
                        // full) has not left: the lateness it owes goes on.
                        None => {
                            if let Some(id) = response {
                                self.engine.answer_held(id, channel);
                            }
                        }
                    }
                }
                Effect::SetTimer { at_ms, timer } => self.timers.push(Reverse((at_ms, timer))),
                Effect::Serve { request_id, request } => self.serve(request_id, *request),
                Effect::Deliver(d) => self.deliver(d),
                Effect::RefusedByPeer { channel, request_id, reason } => {
                    self.downstream_refused(request_id, channel, por_core::Refused::by_peer(reason, reason.to_string()))
                }
                Effect::Sever { channel, voucher, reason } => {
                    Metrics::inc(&self.metrics.severances, crate::metrics::sever_reason_code(reason));
                    self.events.emit(NodeEvent::Severing { channel, reason });
                    self.chain.job(ChainJob::Sever { channel, voucher, reason });
                }
                Effect::WatchChannel { channel } => {
                    debug!(%channel, "watching the chain for a severance");
                    self.chain.job(ChainJob::Watch { channel });
                }
                Effect::Event(ev) => self.on_engine_event(ev),
            }
        }
        self.gauges_stale = true;
    }

    fn on_engine_event(&mut self, ev: EngineEvent) {
        match ev {
            EngineEvent::DeadlinePassed { channel, .. } => {
                self.metrics.overdue.inc();
                self.outcomes.overdue(channel, self.now());
            }
            EngineEvent::LateFeesPaid { channel, amount } => {
                self.metrics.late_fees_paid.inc_by(amount as f64);
                self.events.emit(NodeEvent::LateFeePaid { channel, amount });
            }
            EngineEvent::LateFeesReceived { channel, amount } => {
                self.metrics.late_fees_received.inc_by(amount as f64);
                self.events.emit(NodeEvent::LateFeeReceived { channel, amount });
            }
            EngineEvent::Refused { channel, kind, reason } => {
                Metrics::inc(&self.metrics.refusals, reason.code());
                debug!(%channel, kind, ?reason, "refused");
            }
            EngineEvent::CannotPay { channel, amount } => warn!(%channel, amount, "cannot pay a late fee"),
        }
    }

    fn update_gauges(&mut self) {
        self.gauges_stale = false;
        self.metrics.in_flight.set(self.engine.in_flight() as i64);
        // A channel that left the graph has no series any more.
        for (id, c) in self.engine.channels().filter(|(_, c)| !c.removed) {
            let l = ChannelLabel { channel: id.0 };
            self.metrics.channel_spendable.get_or_create(&l).set(c.ledger.spendable() as f64);
            self.metrics.channel_received.get_or_create(&l).set(c.ledger.received() as f64);
        }
    }
}
