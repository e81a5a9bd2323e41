//! The discrete-event loop: virtual time, one seeded RNG, one
//! [`NodeEngine`] per node, and the chain.
//!
//! Events are ordered by (time, class, sequence): at one millisecond,
//! messages and chain news come before timers, and timers before new
//! requests, so runs are reproducible and a notice arriving on the very
//! millisecond of a policy check wins (see `FailurePolicy::hop_slack_ms`).
//! Each directed channel delivers in order (one connection per peer pair);
//! an honest edge never takes longer than its promised latency.
//!
//! Every request a client makes is driven by the core's
//! [`por_core::Requester`], the retry policy the node runs (see
//! `requests.rs`); building a run from a scenario is in `setup.rs`, the
//! end-of-run checks are in `end.rs`.

mod end;
mod requests;
mod setup;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Write;

use por_core::protocol::{
    ChannelSetup, Effect, EngineEvent, NodeEngine, ProtocolConfig, Refusal, SeverReason, Timer, Wire, offline_tx_hash,
};
use por_core::requester::{Attempt, Outcome, RequestFailure, Requester};
use por_core::{Amount, ChannelId, EdgeParams, Hash32, RequestId};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::chain::Chain;
use crate::checks::Track;
use crate::crypto::{SimSigner, SimVerifier, sim_key};
use crate::routes::{CachedRoute, RouteCache};
use crate::scenario::{Scenario, ScenarioError};
use crate::stats::Stats;
pub use crate::stats::short;
use crate::topology::{self, Built};

/// A simulated node: the real engine plus the behaviour the scenario gave it.
pub struct SimNode {
    /// The protocol engine (the node's own code).
    pub engine: NodeEngine<SimSigner, SimVerifier>,
    /// Name.
    pub name: String,
    /// Behaviour class (`"honest"`, `"offline"`, `"puppet"`, …).
    pub class: String,
    /// Offline from this time on.
    pub offline_from: Option<u64>,
    /// Extra delay when answering.
    pub slow_ms: u64,
    /// Money at the start (stake plus deposits).
    pub initial: Amount,
    /// Requests originated, relayed and served.
    pub sent: u64,
    /// Requests served.
    pub served: u64,
    /// Lies told (a lying requester's attempts).
    pub lies: u64,
}

/// A flooder's stream of requests, all over one channel to the relay it
/// floods.
pub(crate) struct Flood {
    pub(crate) from: u32,
    pub(crate) route: CachedRoute,
    /// Requests still to send.
    left: u64,
    /// Gap between two requests, ms.
    every_ms: f64,
    /// The next request's time (fractional).
    clock: f64,
}

/// The events due at one millisecond, by class (messages and chain news,
/// timers, new requests), each in insertion order.
#[derive(Default)]
struct Bucket {
    q: [VecDeque<u32>; 3],
}

pub(crate) struct Chan {
    pub(crate) a: u32,
    pub(crate) b: u32,
    /// Promised latency (the rest of the edge's terms is the chain's: this
    /// array is read for every message, so it stays small).
    latency_ms: u64,
    /// Last delivery time per direction (a→b, b→a), for in-order delivery.
    last: [u64; 2],
}

#[derive(Debug)]
pub(crate) enum Ev {
    Msg {
        to: u32,
        channel: ChannelId,
        msg: Wire,
    },
    Timer {
        node: u32,
        timer: Timer,
    },
    Respond {
        node: u32,
        id: RequestId,
    },
    Removed {
        node: u32,
        channel: ChannelId,
        tx: Hash32,
    },
    Arrival,
    /// The next request of flood `i`.
    Flood {
        i: u32,
    },
    Fixed {
        from: u32,
        to: u32,
    },
    /// A `close_dodge` node closes `channel` cooperatively with its peer.
    CoopClose {
        node: u32,
        channel: ChannelId,
    },
    /// `channel`, named by notices `node` received, left the graph by a
    /// cooperative close: the notices were lies.
    Refuted {
        node: u32,
        channel: ChannelId,
    },
    /// A split's reconnection window ended: settle it.
    Settle {
        channel: u64,
    },
    /// A node stranded on the small side of the split of `channel` opens a
    /// channel into the side of `large_end`.
    Reconnect {
        node: u32,
        large_end: u32,
    },
    /// A requester's input changed what it wants: act on it.
    Drive {
        req: u32,
    },
    /// A requester's wait may have ended.
    Wake {
        req: u32,
    },
    /// A request its next hop refused (the ack of the frame that carried it
    /// said so), at its sender.
    Receipt {
        to: u32,
        channel: ChannelId,
        id: RequestId,
        reason: Refusal,
    },
}

/// One request a client makes, over as many attempts as its requester
/// allows (the simulator's side of [`Requester`]).
pub(crate) struct Logical {
    pub(crate) from: u32,
    pub(crate) to: u32,
    /// One of the scenario's fixed requests (its outcome is kept).
    pub(crate) fixed: bool,
    /// Part of this flood (its route is the flood's).
    pub(crate) flood: Option<u32>,
    pub(crate) started_ms: u64,
    /// The time of the `Wake` last pushed for it, if it has not fired.
    pub(crate) wake_at: Option<u64>,
    pub(crate) requester: Requester,
}

/// What became of one of the scenario's fixed requests (`workload.fixed`),
/// for tests and traces.
#[derive(Debug, Clone)]
pub struct FixedOutcome {
    /// The client.
    pub from: u32,
    /// The server.
    pub to: u32,
    /// When it started.
    pub started_ms: u64,
    /// When it ended (`None`: still running at the end of the run).
    pub ended_ms: Option<u64>,
    /// Its attempts, in order.
    pub attempts: Vec<Attempt>,
    /// The requester's result (`None`: still running).
    pub result: Option<Result<Outcome, RequestFailure>>,
}

/// A run in progress.
pub struct Sim {
    /// The scenario.
    pub sc: Scenario,
    /// Virtual time.
    pub now: u64,
    queue: BTreeMap<u64, Bucket>,
    spare: Vec<Bucket>,
    pending: u64,
    slab: Vec<Option<Ev>>,
    free: Vec<u32>,
    seq: u64,
    /// The nodes.
    pub nodes: Vec<SimNode>,
    /// Each node's `offline_from` (`u64::MAX`: never), dense: it is read
    /// for every event.
    offline_at: Vec<u64>,
    pub(crate) chans: Vec<Chan>,
    /// The chain.
    pub chain: Chain,
    graph_version: u64,
    rng: ChaCha8Rng,
    routes: RouteCache,
    pub(crate) tracks: HashMap<RequestId, Track, BuildHasherDefault<IdHasher>>,
    /// Requests being driven, by slot (`None`: a free slot, in `free_reqs`).
    reqs: Vec<Option<Logical>>,
    free_reqs: Vec<u32>,
    /// The outcomes of the scenario's fixed requests, in the order they
    /// ended (those still running at the end last).
    pub fixed: Vec<FixedOutcome>,
    pub(crate) floods: Vec<Flood>,
    watchers: HashMap<ChannelId, Vec<u32>>,
    clients: Vec<u32>,
    servers: Vec<u32>,
    generated: u64,
    arrival_clock: f64,
    nonce: u64,
    /// Counters for the summary.
    pub stats: Stats,
    pub(crate) trace: Option<Box<dyn Write>>,
    buf: Vec<Effect>,
}

impl Sim {
    pub(crate) fn push(&mut self, at: u64, class: u8, ev: Ev) {
        self.seq += 1;
        self.pending += 1;
        let slot = match self.free.pop() {
            Some(s) => {
                self.slab[s as usize] = Some(ev);
                s
            }
            None => {
                self.slab.push(Some(ev));
                (self.slab.len() - 1) as u32
            }
        };
        let spare = &mut self.spare;
        self.queue.entry(at).or_insert_with(|| spare.pop().unwrap_or_default()).q[class as usize].push_back(slot);
    }

    /// The next event in (time, class, insertion) order, if any at or
    /// before `end`.
    fn pop(&mut self, end: u64) -> Option<(u64, u32)> {
        let mut e = self.queue.first_entry()?;
        let t = *e.key();
        if t > end {
            return None;
        }
        let b = e.get_mut();
        let slot = b.q.iter_mut().find_map(|q| q.pop_front()).expect("empty buckets are removed");
        if b.q.iter().all(|q| q.is_empty()) {
            let b = e.remove();
            self.spare.push(b);
        }
        self.pending -= 1;
        Some((t, slot))
    }

    pub(crate) fn offline(&self, n: u32) -> bool {
        self.now >= self.offline_at[n as usize]
    }

    /// Runs to the end of the scenario; returns the number of events.
    pub fn run(&mut self) -> u64 {
        let end = self.sc.duration_ms;
        while let Some((t, slot)) = self.pop(end) {
            self.now = t;
            let ev = self.slab[slot as usize].take().expect("every slot holds one event");
            self.free.push(slot);
            self.stats.events += 1;
            self.dispatch(ev);
        }
        self.now = end;
        self.stats.events
    }

    fn dispatch(&mut self, ev: Ev) {
        let now = self.now;
        let mut out = std::mem::take(&mut self.buf);
        let node = match ev {
            Ev::Msg { to, channel, msg } => {
                if self.offline(to) {
                    self.stats.dropped_offline += 1;
                    None
                } else {
                    self.trace_msg("recv", to, channel, &msg);
                    self.nodes[to as usize].engine.handle_message(channel, msg, now, &mut out);
                    Some(to)
                }
            }
            Ev::Timer { node, timer } => {
                if self.offline(node) {
                    None
                } else {
                    self.nodes[node as usize].engine.handle_timer(timer, now, &mut out);
                    Some(node)
                }
            }
            Ev::Respond { node, id } => {
                if self.offline(node) {
                    None
                } else {
                    let body = vec![0u8; self.sc.workload.response_bytes as usize];
                    if self.nodes[node as usize].engine.respond(id, body, now, &mut out).is_ok() {
                        self.nodes[node as usize].served += 1;
                    }
                    Some(node)
                }
            }
            Ev::CoopClose { node, channel } => {
                self.coop_close(node, channel);
                None
            }
            Ev::Refuted { node, channel } => {
                if self.offline(node) {
                    None
                } else {
                    self.nodes[node as usize].engine.notice_refuted(channel, now, &mut out);
                    Some(node)
                }
            }
            Ev::Removed { node, channel, tx } => {
                if self.offline(node) {
                    None
                } else {
                    self.nodes[node as usize].engine.channel_removed(channel, tx, now, &mut out);
                    Some(node)
                }
            }
            Ev::Arrival => {
                self.generated += 1;
                let from = self.clients[self.rng.gen_range(0..self.clients.len())];
                let mut to = self.servers[self.rng.gen_range(0..self.servers.len())];
                if to == from && self.servers.len() > 1 {
                    to = self.servers
                        [(self.servers.iter().position(|s| *s == to).unwrap_or(0) + 1) % self.servers.len()];
                }
                if self.generated < self.sc.workload.requests {
                    // Poisson arrivals on a fractional clock (gaps are often
                    // below a millisecond).
                    let u: f64 = self.rng.gen_range(f64::MIN_POSITIVE..1.0);
                    self.arrival_clock += -u.ln() / self.sc.workload.rate_per_sec.max(1e-9) * 1000.0;
                    let at = (self.arrival_clock as u64).max(now);
                    self.push(at, 2, Ev::Arrival);
                }
                self.start_request(from, to, false, None, &mut out)
            }
            Ev::Flood { i } => {
                let f = &mut self.floods[i as usize];
                f.left -= 1;
                f.clock += f.every_ms;
                let (from, to, next) = (f.from, f.route.nodes[1], f.clock as u64);
                if f.left > 0 {
                    self.push(next.max(now), 2, Ev::Flood { i });
                }
                self.start_request(from, to, false, Some(i), &mut out)
            }
            Ev::Fixed { from, to } => self.start_request(from, to, true, None, &mut out),
            Ev::Drive { req } => self.drive(req, &mut out),
            Ev::Settle { channel } => {
                self.settle_split(channel);
                None
            }
            Ev::Reconnect { node, large_end } => {
                self.reconnect(node, large_end);
                None
            }
            Ev::Wake { req } => self.wake(req, &mut out),
            Ev::Receipt { to, channel, id, reason } => self.refused(to, channel, id, reason, &mut out),
        };
        if let Some(n) = node {
            self.apply(n, &mut out);
        }
        out.clear();
        self.buf = out;
    }

    /// Ends node `n`'s turn: its flush (which signs and sends what the
    /// turn queued), then its effects.
    fn apply(&mut self, n: u32, out: &mut Vec<Effect>) {
        self.nodes[n as usize].engine.flush(self.now, out);
        let mut effects: Vec<Effect> = std::mem::take(out);
        for e in effects.drain(..) {
            match e {
                Effect::Send { channel, msg } => self.send(n, channel, msg),
                Effect::Persist { .. } => {}
                Effect::SetTimer { at_ms, timer } => self.push(at_ms.max(self.now), 1, Ev::Timer { node: n, timer }),
                Effect::Serve { request_id: id, request } => {
                    let extra = self.nodes[n as usize].slow_ms;
                    self.push(self.now + request.route.service_ms + extra, 0, Ev::Respond { node: n, id });
                }
                Effect::Sever { channel, reason, .. } => self.sever(n, channel, reason),
                Effect::WatchChannel { channel } => {
                    if self.chain.is_open(channel) {
                        self.watchers.entry(channel).or_default().push(n);
                    } else if self.chain.closed_cooperatively(channel) {
                        self.push(self.now, 0, Ev::Refuted { node: n, channel });
                    } else {
                        let tx = offline_tx_hash(channel, &sim_key(u32::MAX));
                        self.push(self.now, 0, Ev::Removed { node: n, channel, tx });
                    }
                }
                Effect::Deliver(d) => self.deliver(n, d),
                // The ack carrying it took the edge's latency already.
                Effect::RefusedByPeer { channel, request_id, reason } => {
                    self.push(self.now, 0, Ev::Receipt { to: n, channel, id: request_id, reason })
                }
                Effect::Event(ev) => self.engine_event(n, ev),
            }
        }
        *out = effects;
    }

    fn send(&mut self, from: u32, channel: ChannelId, msg: Wire) {
        self.stats.messages += 1;
        let loss = self.sc.network.loss;
        if loss > 0.0 && self.rng.gen_bool(loss.min(1.0)) {
            self.stats.lost += 1;
            self.trace_msg("lost", from, channel, &msg);
            return;
        }
        let min_frac = self.sc.network.min_frac.clamp(0.0, 1.0);
        let ch = &self.chans[channel.0 as usize];
        let (to, dir) = if ch.a == from { (ch.b, 0) } else { (ch.a, 1) };
        let promised = ch.latency_ms;
        let lo = (promised as f64 * min_frac) as u64;
        let lat = if lo >= promised { promised } else { self.rng.gen_range(lo..=promised) };
        let ch = &mut self.chans[channel.0 as usize];
        let at = (self.now + lat).max(ch.last[dir]);
        ch.last[dir] = at;
        self.trace_msg("send", from, channel, &msg);
        self.push(at, 0, Ev::Msg { to, channel, msg });
    }

    fn sever(&mut self, n: u32, channel: ChannelId, reason: SeverReason) {
        let ch = &self.chans[channel.0 as usize];
        let (a, b) = (ch.a, ch.b);
        let tx = offline_tx_hash(channel, &sim_key(n));
        if !self.chain.is_open(channel) {
            // The other end cut it first (the news has not reached this node
            // yet): this transaction fails on chain; the channel is gone.
            self.stats.sever_failed += 1;
            let mut more = Vec::new();
            self.nodes[n as usize].engine.channel_removed(channel, tx, self.now, &mut more);
            self.apply(n, &mut more);
            return;
        }
        let recv = |x: u32| self.nodes[x as usize].engine.ledger(channel).map_or(0, |l| l.received());
        let (ra, rb) = (recv(a), recv(b));
        *self.stats.severances.entry(format!("{reason:?}")).or_default() += 1;
        self.stats.severances_total += 1;
        trace_line!(
            self,
            r#"{{"t":{},"ev":"sever","by":{},"ch":{},"a":{},"b":{},"reason":"{:?}"}}"#,
            self.now,
            n,
            channel.0,
            a,
            b,
            reason
        );
        match self.chain.sever(channel, n, ra, rb, self.now) {
            Err(e) => self.stats.violation(self.now, "money", None, e),
            Ok(o) => {
                self.graph_version += 1;
                if let Some(split) = o.split {
                    trace_line!(
                        self,
                        r#"{{"t":{},"ev":"split","ch":{},"nodes":{},"settle_at":{}}}"#,
                        self.now,
                        channel.0,
                        split.nodes.len(),
                        split.deadline_ms
                    );
                    self.push(split.deadline_ms, 0, Ev::Settle { channel: channel.0 });
                    // Honest nodes that are online learn of the split when
                    // the severance becomes visible and reconnect before the
                    // window ends (the node agent's policy).
                    let large_end =
                        if split.nodes.binary_search(&split.severer).is_ok() { split.other } else { split.severer };
                    let at = (self.now + self.sc.chain.visible_after_ms).min(split.deadline_ms.saturating_sub(1));
                    for &m in &split.nodes {
                        if self.nodes[m as usize].class == "honest" && !self.offline(m) {
                            self.push(at.max(self.now), 0, Ev::Reconnect { node: m, large_end });
                        }
                    }
                }
            }
        }
        self.check_chain_money();
        let mut more = Vec::new();
        self.nodes[n as usize].engine.channel_removed(channel, tx, self.now, &mut more);
        self.apply(n, &mut more);
        let other = if a == n { b } else { a };
        let vis = self.now + self.sc.chain.visible_after_ms;
        self.push(vis, 0, Ev::Removed { node: other, channel, tx });
        for w in self.watchers.remove(&channel).unwrap_or_default() {
            self.push(vis, 0, Ev::Removed { node: w, channel, tx });
        }
    }

    /// `n` closes `channel` cooperatively (its peer confirms at once, as an
    /// agent does): no penalty, no partition check. Both ends drop the
    /// channel; nodes watching it for a notice learn it was no severance.
    fn coop_close(&mut self, n: u32, channel: ChannelId) {
        if !self.chain.is_open(channel) {
            return;
        }
        let ch = &self.chans[channel.0 as usize];
        let (a, b) = (ch.a, ch.b);
        let recv = |x: u32| self.nodes[x as usize].engine.ledger(channel).map_or(0, |l| l.received());
        let (ra, rb) = (recv(a), recv(b));
        self.stats.cooperative_closes += 1;
        trace_line!(self, r#"{{"t":{},"ev":"coop_close","by":{},"ch":{}}}"#, self.now, n, channel.0);
        if let Err(e) = self.chain.close(channel, ra, rb) {
            self.stats.violation(self.now, "money", None, e);
        }
        self.graph_version += 1;
        self.check_chain_money();
        let tx = Hash32([0; 32]);
        let vis = self.now + self.sc.chain.visible_after_ms;
        for end in [a, b] {
            self.push(if end == n { self.now } else { vis }, 0, Ev::Removed { node: end, channel, tx });
        }
        for w in self.watchers.remove(&channel).unwrap_or_default() {
            self.push(vis, 0, Ev::Refuted { node: w, channel });
        }
    }

    /// Settles the split of `channel` (its window is over), as anyone may
    /// on chain.
    pub(crate) fn settle_split(&mut self, channel: u64) {
        self.settle_split_at(channel, self.now);
    }

    /// Settles the split of `channel` at chain time `at` (the run's clock
    /// does not move).
    pub(crate) fn settle_split_at(&mut self, channel: u64, at: u64) {
        match self.chain.settle(channel, at) {
            Err(e) => self.stats.violation(at, "chain", None, e),
            Ok(None) => {
                self.stats.splits_resolved += 1;
                trace_line!(self, r#"{{"t":{},"ev":"split_resolved","ch":{}}}"#, at, channel);
            }
            Ok(Some(p)) => {
                self.graph_version += 1;
                trace_line!(
                    self,
                    r#"{{"t":{},"ev":"partition","ch":{},"nodes":{},"stake":"{}","slashed":"{}","reimbursed":"{}","calls":{}}}"#,
                    at,
                    channel,
                    p.nodes.len(),
                    p.stake,
                    p.slashed,
                    p.reimbursed,
                    p.calls
                );
                self.stats.partitions.push(p);
            }
        }
        self.check_chain_money();
    }

    /// `n` opens a channel (on chain, no deposit) to an honest online node
    /// of `large_end`'s component, unless it is offline, partitioned or
    /// already joined to it. The channel carries no traffic: it only keeps
    /// `n` out of a settlement it does not deserve.
    fn reconnect(&mut self, n: u32, large_end: u32) {
        if self.offline(n) || self.chain.partitioned(n) {
            return;
        }
        let g = self.chain.settlement_graph();
        let mut seen = vec![false; g.node_count()];
        let mut todo = vec![large_end];
        seen[large_end as usize] = true;
        let mut peers = Vec::new();
        while let Some(u) = todo.pop() {
            if u == n {
                return; // already joined
            }
            if self.nodes[u as usize].class == "honest" && !self.offline(u) && !self.chain.partitioned(u) {
                peers.push(u);
            }
            for a in g.adjacent(u) {
                if !seen[a.to as usize] {
                    seen[a.to as usize] = true;
                    todo.push(a.to);
                }
            }
        }
        // The other end of the cut if it is an honest online node, else the
        // first such node of its side (no draw from the run's RNG, so a
        // reconnection does not reshuffle the rest of the run).
        let Some(&peer) = peers.iter().find(|&&p| p == large_end).or_else(|| peers.iter().min()) else {
            return;
        };
        let id = self.chain.reconnect(n, peer, EdgeParams::default());
        self.stats.reconnections += 1;
        trace_line!(self, r#"{{"t":{},"ev":"reconnect","node":{},"peer":{},"ch":{}}}"#, self.now, n, peer, id.0);
    }

    fn check_chain_money(&mut self) {
        if self.chain.held() != self.chain.total {
            let d = format!("chain holds {} of {}", self.chain.held(), self.chain.total);
            self.stats.violation(self.now, "money", None, d);
        }
    }

    fn engine_event(&mut self, n: u32, ev: EngineEvent) {
        match ev {
            EngineEvent::LateFeesPaid { amount, channel } => {
                self.stats.late_paid += amount;
                *self.stats.late_paid_by.entry(n).or_default() += amount;
                *self.stats.late_series.entry(self.now / 1000).or_default() += amount;
                trace_line!(
                    self,
                    r#"{{"t":{},"ev":"late_payment","from":{},"ch":{},"amount":"{}"}}"#,
                    self.now,
                    n,
                    channel.0,
                    amount
                );
            }
            EngineEvent::LateFeesReceived { amount, .. } => {
                *self.stats.late_received_by.entry(n).or_default() += amount
            }
            EngineEvent::DeadlinePassed { request_id, channel } => {
                self.stats.deadlines_passed += 1;
                if self.nodes[n as usize].class == "close_dodge" && self.chain.is_open(channel) {
                    self.push(self.now, 0, Ev::CoopClose { node: n, channel });
                }
                trace_line!(
                    self,
                    r#"{{"t":{},"ev":"deadline","node":{},"ch":{},"req":"{}"}}"#,
                    self.now,
                    n,
                    channel.0,
                    short(&request_id)
                );
            }
            EngineEvent::CannotPay { .. } => self.stats.cannot_pay += 1,
            EngineEvent::Refused { reason, kind, channel } => {
                let reason = format!("{reason:?}");
                if kind == "request" {
                    let ch = &self.chans[channel.0 as usize];
                    let sender = if ch.a == n { ch.b } else { ch.a };
                    let class = &self.nodes[sender as usize].class;
                    *self.stats.refused_to.entry(class.clone()).or_default().entry(reason.clone()).or_default() += 1;
                }
                *self.stats.refused.entry(reason).or_default() += 1
            }
        }
    }

    /// Money a node holds now: stake, chain balance, and its own view of its
    /// open channels.
    pub fn wealth(&self, n: u32) -> Amount {
        let i = n as usize;
        let chans: Amount = self.nodes[i]
            .engine
            .channels()
            .filter(|(c, _)| self.chain.is_open(**c))
            .map(|(_, s)| s.ledger.balance())
            .sum();
        self.chain.stake(n) + self.chain.balance(n) + chans
    }

    /// Route computations (exact calls, trees).
    pub fn routing_work(&self) -> (u64, u64) {
        (self.routes.exact_calls, self.routes.trees_built)
    }

    /// Requests sent per node role, for the summary.
    pub fn roles(&self) -> BTreeMap<u32, &'static str> {
        let mut m = BTreeMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let role = if n.sent > 0 {
                "client"
            } else if n.served > 0 {
                "server"
            } else {
                "relay"
            };
            m.insert(i as u32, role);
        }
        m
    }

    fn trace_msg(&mut self, what: &str, node: u32, channel: ChannelId, msg: &Wire) {
        if self.trace.is_none() {
            return;
        }
        let req = match msg {
            Wire::Request(p) => short(&p.request.id()),
            Wire::Requests(f) => f.requests.first().map(|r| short(&r.id())).unwrap_or_default(),
            Wire::Ack(a) => a.accepted.first().map(short).unwrap_or_default(),
            Wire::Response(r) => short(&r.request_id),
            Wire::Notice(n) => short(&n.request_id),
            Wire::Refused(r) => short(&r.request_id),
            Wire::Sync(_) | Wire::SyncAck(_) => String::new(),
        };
        trace_line!(
            self,
            r#"{{"t":{},"ev":"{}","node":{},"ch":{},"kind":"{}","req":"{}"}}"#,
            self.now,
            what,
            node,
            channel.0,
            msg.kind(),
            req
        );
    }

    /// Flushes the trace.
    pub fn flush_trace(&mut self) -> std::io::Result<()> {
        match self.trace.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

/// Hashes a request id by its first eight bytes: ids are SHA-256 digests,
/// already uniform, so SipHash would only cost time. (Never iterated in an
/// order that reaches the output.)
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8).take(1) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(b);
        }
    }
}
