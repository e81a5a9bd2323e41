//! The paper's §5 timelines, replayed with real ed25519 keys through a small
//! fixed-latency harness (each message takes exactly its edge's promised
//! latency; the chain sees a severance at once).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use super::*;
use crate::bytes::{Hash32, NodeKey, RequestId, Signature};
use crate::cost::EdgeParams;
use crate::crypto::{Ed25519Verifier, NodeSigner, Signer};
use crate::message::{Overdue, Request, Route, RouteHop, SeveranceNotice, SyncMessage};
use crate::voucher::{Amount, ChannelId};

type Engine = NodeEngine<NodeSigner, Ed25519Verifier>;

#[derive(Debug)]
enum Ev {
    Msg {
        to: usize,
        channel: ChannelId,
        msg: Wire,
    },
    Timer {
        node: usize,
        timer: Timer,
    },
    Respond {
        node: usize,
        id: RequestId,
    },
    Removed {
        node: usize,
        channel: ChannelId,
    },
    /// The transport's receipt of a refused request, back at its sender.
    Receipt {
        node: usize,
        channel: ChannelId,
        id: RequestId,
        reason: Refusal,
    },
}

struct Net {
    nodes: Vec<Engine>,
    chans: BTreeMap<ChannelId, (usize, usize, u64)>,
    queue: BinaryHeap<Reverse<(u64, u64, u64, usize)>>,
    evs: Vec<Option<Ev>>,
    seq: u64,
    now: u64,
    offline: BTreeSet<usize>,
    /// Nodes down for a while, `(from, until)`: a restart that keeps its
    /// state. Messages to them are lost; their timers and services wait.
    paused: BTreeMap<usize, (u64, u64)>,
    slow_ms: BTreeMap<usize, u64>,
    service_ms: u64,
    deliveries: Vec<(u64, usize, Delivery)>,
    severed: Vec<(u64, usize, ChannelId, SeverReason)>,
    removed: BTreeSet<ChannelId>,
    watchers: BTreeMap<ChannelId, BTreeSet<usize>>,
    late_paid: BTreeMap<usize, Amount>,
    late_received: BTreeMap<usize, Amount>,
    /// Late fees by node and channel: (paid, received).
    late_on: BTreeMap<(usize, ChannelId), (Amount, Amount)>,
    /// How long the chain takes to confirm a severance: the severer learns
    /// the hash at once (its notices leave then), the other end and the
    /// watchers hear of the removal this much later.
    finality_ms: u64,
    /// When each severed channel's removal is final on chain.
    final_at: BTreeMap<ChannelId, u64>,
    /// What each node's store holds: the best vouchers per channel and
    /// direction (`true`: received) and the requests in flight.
    stores: BTreeMap<usize, restart::Stored>,
    /// Refusals: when, by whom, of what kind, why.
    refusals: Vec<(u64, usize, &'static str, Refusal)>,
    /// Messages to lose: the next one of this kind sent by this node.
    lose: Vec<(usize, &'static str)>,
    /// Messages lost so far, by sender and kind.
    lost: Vec<(u64, usize, &'static str)>,
    /// The messages lost, in order (for tests to hand over altered).
    caught: Vec<Wire>,
    /// Whether a refused request's receipt goes back to its sender (as the
    /// node's transport does); off, tests hand it over themselves.
    receipts: bool,
    /// Requests of theirs whose receipt said refused: when, whose, which.
    refused_receipts: Vec<(u64, usize, RequestId)>,
}

const FEE: Amount = 1_000;

fn edge(l: u64) -> EdgeParams {
    EdgeParams { latency_ms: l, base_fee: FEE, byte_fee: 1 }
}

impl Net {
    /// Alex(0)–Alice(1) 100, Alice–Bob(2) 200, Bob–Carol(3) 100, Bob–Eve(4) 100,
    /// Eve–Dave(5) 100; channels 1..=5 in that order.
    fn paper(configs: impl Fn(usize) -> ProtocolConfig) -> Net {
        let mut net = Net {
            nodes: (0..6)
                .map(|i| Engine::new(configs(i), NodeSigner::from_seed([i as u8 + 1; 32]), Ed25519Verifier))
                .collect(),
            chans: BTreeMap::new(),
            queue: BinaryHeap::new(),
            evs: Vec::new(),
            seq: 0,
            now: 0,
            offline: BTreeSet::new(),
            paused: BTreeMap::new(),
            slow_ms: BTreeMap::new(),
            service_ms: 0,
            deliveries: Vec::new(),
            severed: Vec::new(),
            removed: BTreeSet::new(),
            watchers: BTreeMap::new(),
            late_paid: BTreeMap::new(),
            late_received: BTreeMap::new(),
            late_on: BTreeMap::new(),
            finality_ms: 0,
            final_at: BTreeMap::new(),
            stores: BTreeMap::new(),
            refusals: Vec::new(),
            lose: Vec::new(),
            lost: Vec::new(),
            caught: Vec::new(),
            receipts: false,
            refused_receipts: Vec::new(),
        };
        for (c, (a, b, l)) in [(0, 1, 100), (1, 2, 200), (2, 3, 100), (2, 4, 100), (4, 5, 100)].into_iter().enumerate()
        {
            net.open(ChannelId(c as u64 + 1), a, b, l);
        }
        net
    }

    fn open(&mut self, channel: ChannelId, a: usize, b: usize, l: u64) {
        self.chans.insert(channel, (a, b, l));
        for (x, y) in [(a, b), (b, a)] {
            let setup = ChannelSetup {
                channel,
                remote: self.nodes[y].key(),
                local_deposit: 10_000_000_000,
                remote_deposit: 10_000_000_000,
                latency_ms: l,
                sync_ms: Some(if channel == ChannelId(2) { 1000 } else { 500 }),
            };
            let mut out = Vec::new();
            self.nodes[x].open_channel(setup, 0, &mut out);
            self.apply(x, out);
        }
    }

    fn key(&self, n: usize) -> NodeKey {
        self.nodes[n].key()
    }

    /// The chain's view of the graph (edges open, every node serving in
    /// `service_ms`), given to every engine as its terms.
    fn publish_terms(&mut self) {
        let mut t = StaticTerms::default();
        for (c, (a, b, l)) in &self.chans {
            if !self.removed.contains(c) {
                t.add_edge(*c, self.key(*a), self.key(*b), edge(*l));
            }
        }
        for n in 0..self.nodes.len() {
            t.set_service(self.key(n), self.service_ms);
        }
        let t: std::sync::Arc<dyn TermsView> = std::sync::Arc::new(t);
        for e in &mut self.nodes {
            e.set_terms(t.clone());
        }
    }

    /// Messages before timers on the same millisecond (see `hop_slack_ms`).
    fn at(&mut self, t: u64, ev: Ev) {
        self.seq += 1;
        let class = matches!(ev, Ev::Timer { .. }) as u64;
        self.evs.push(Some(ev));
        self.queue.push(Reverse((t, class, self.seq, self.evs.len() - 1)));
    }

    fn request(&mut self, path: &[usize], nonce: u64) -> RequestId {
        self.publish_terms();
        let req = self.build(path, nonce, |_| {});
        let mut out = Vec::new();
        let id = self.nodes[path[0]].send_request(req, self.now, &mut out).unwrap();
        self.apply(path[0], out);
        id
    }

    /// A request along `path` priced from the chain's terms, changed by
    /// `tweak` before the requester signs it (a lying requester's lies).
    fn build(&self, path: &[usize], nonce: u64, tweak: impl FnOnce(&mut Request)) -> Request {
        let hops = path
            .windows(2)
            .map(|w| {
                let (c, (_, _, l)) = self
                    .chans
                    .iter()
                    .find(|(_, (a, b, _))| (*a, *b) == (w[0], w[1]) || (*a, *b) == (w[1], w[0]))
                    .unwrap();
                RouteHop { channel: *c, node: self.key(w[1]), params: edge(*l) }
            })
            .collect();
        let route = Route { hops, service_ms: self.service_ms };
        let mut req = Request {
            requester: self.key(path[0]),
            nonce,
            route,
            service: "echo".into(),
            body: b"hi".to_vec(),
            max_response_bytes: 64,
            budget: 0,
            signature: Signature([0; 64]),
            path: Default::default(),
        };
        tweak(&mut req);
        req.budget = req.quote().map(|q| q.total()).unwrap_or(0);
        let signer = NodeSigner::from_seed([path[0] as u8 + 1; 32]);
        req.sign(&signer)
    }

    /// Carries out `out`, after node `n`'s flush (the end of its turn).
    fn apply(&mut self, n: usize, mut out: Vec<Effect>) {
        self.nodes[n].flush(self.now, &mut out);
        for e in out {
            match e {
                Effect::Send { channel, msg } => {
                    let kind = match &msg {
                        Wire::Sync(s) if !s.notices.is_empty() => "notice sync",
                        Wire::Sync(s) if s.voucher.is_some() => "paying sync",
                        m => m.kind(),
                    };
                    if let Some(i) = self.lose.iter().position(|&(m, k)| m == n && k == kind) {
                        self.lose.remove(i);
                        self.lost.push((self.now, n, kind));
                        self.caught.push(msg);
                        continue;
                    }
                    let (a, b, l) = self.chans[&channel];
                    let to = if a == n { b } else { a };
                    self.at(self.now + l, Ev::Msg { to, channel, msg });
                }
                Effect::SetTimer { at_ms, timer } => self.at(at_ms, Ev::Timer { node: n, timer }),
                Effect::Serve { request, .. } => {
                    let extra = self.slow_ms.get(&n).copied().unwrap_or(0);
                    self.at(self.now + request.route.service_ms + extra, Ev::Respond { node: n, id: request.id() });
                }
                Effect::Sever { channel, reason, .. } => {
                    self.severed.push((self.now, n, channel, reason));
                    self.removed.insert(channel);
                    let fin = self.now + self.finality_ms;
                    self.final_at.insert(channel, fin);
                    let tx = offline_tx_hash(channel, &self.key(n));
                    let mut o = Vec::new();
                    self.nodes[n].channel_removed(channel, tx, self.now, &mut o);
                    self.apply(n, o);
                    let (a, b, _) = self.chans[&channel];
                    let mut tell: BTreeSet<usize> = self.watchers.get(&channel).cloned().unwrap_or_default();
                    tell.insert(if a == n { b } else { a });
                    for m in tell {
                        self.at(fin, Ev::Removed { node: m, channel });
                    }
                }
                Effect::WatchChannel { channel } => {
                    if self.removed.contains(&channel) {
                        let fin = self.final_at.get(&channel).copied().unwrap_or(0).max(self.now);
                        self.at(fin, Ev::Removed { node: n, channel });
                    } else {
                        self.watchers.entry(channel).or_default().insert(n);
                    }
                }
                Effect::Deliver(d) => self.deliveries.push((self.now, n, d)),
                // The refusal came in the frame's ack, which took the edge's
                // latency already.
                Effect::RefusedByPeer { channel, request_id, reason } if self.receipts => {
                    self.at(self.now, Ev::Receipt { node: n, channel, id: request_id, reason })
                }
                Effect::RefusedByPeer { .. } => {}
                Effect::Event(EngineEvent::LateFeesPaid { channel, amount }) => {
                    *self.late_paid.entry(n).or_default() += amount;
                    self.late_on.entry((n, channel)).or_default().0 += amount;
                }
                Effect::Event(EngineEvent::LateFeesReceived { channel, amount }) => {
                    *self.late_received.entry(n).or_default() += amount;
                    self.late_on.entry((n, channel)).or_default().1 += amount;
                }
                Effect::Event(EngineEvent::Refused { kind, reason, .. }) => {
                    self.refusals.push((self.now, n, kind, reason))
                }
                Effect::Persist { channel, voucher, received } => {
                    let best = self
                        .stores
                        .entry(n)
                        .or_default()
                        .vouchers
                        .entry((channel, received))
                        .or_insert(voucher.clone());
                    if voucher.voucher.cumulative > best.voucher.cumulative {
                        *best = voucher;
                    }
                }
                Effect::Event(_) => {}
            }
        }
        let changed = self.nodes[n].take_changed_requests();
        let store = self.stores.entry(n).or_default();
        for (id, e) in changed {
            match e {
                Some(e) => store.requests.insert(id, e),
                None => store.requests.remove(&id),
            };
        }
    }

    fn run_until(&mut self, t_end: u64) {
        while let Some(Reverse((t, _, _, i))) = self.queue.peek().copied() {
            if t > t_end {
                break;
            }
            self.queue.pop();
            self.now = t;
            let Some(ev) = self.evs[i].take() else { continue };
            let n = match &ev {
                Ev::Msg { to, .. } => *to,
                Ev::Timer { node, .. }
                | Ev::Respond { node, .. }
                | Ev::Removed { node, .. }
                | Ev::Receipt { node, .. } => *node,
            };
            if self.offline.contains(&n) {
                continue;
            }
            if let Some(&(from, until)) = self.paused.get(&n)
                && (from..until).contains(&t)
            {
                if !matches!(ev, Ev::Msg { .. }) {
                    self.evs[i] = Some(ev);
                    self.seq += 1;
                    self.queue.push(Reverse((until, 1, self.seq, i)));
                }
                continue;
            }
            let mut out = Vec::new();
            match ev {
                Ev::Msg { channel, msg, .. } => self.nodes[n].handle_message(channel, msg, t, &mut out),
                Ev::Receipt { channel, id, reason, .. } => {
                    if self.nodes[n].downstream_refused(id, channel, Some(reason), t, &mut out) {
                        self.refused_receipts.push((t, n, id));
                    }
                }
                Ev::Timer { timer, .. } => self.nodes[n].handle_timer(timer, t, &mut out),
                Ev::Respond { id, .. } => {
                    // Fails when the channel upstream was cut meanwhile.
                    let _ = self.nodes[n].respond(id, b"pong".to_vec(), t, &mut out);
                }
                Ev::Removed { channel, .. } => {
                    self.nodes[n].channel_removed(channel, offline_tx_hash(channel, &NodeKey([0; 32])), t, &mut out)
                }
            }
            self.apply(n, out);
        }
        self.now = t_end;
    }

    fn outcome(&self, node: usize) -> Vec<(u64, &Delivery)> {
        self.deliveries.iter().filter(|(_, n, _)| *n == node).map(|(t, _, d)| (*t, d)).collect()
    }

    fn late_total(&self, node: usize) -> Amount {
        self.outcome(node)
            .iter()
            .filter_map(|(_, d)| match d {
                Delivery::LatePayment { amount, .. } => Some(*amount),
                _ => None,
            })
            .sum()
    }

    fn terminal(&self, node: usize) -> Vec<(u64, &'static str)> {
        self.outcome(node)
            .iter()
            .filter_map(|(t, d)| match d {
                Delivery::Response { .. } => Some((*t, "response")),
                Delivery::Notice { .. } => Some((*t, "notice")),
                Delivery::Refused { .. } => Some((*t, "refused")),
                _ => None,
            })
            .collect()
    }

    /// Node `n`'s books of `channel`, as its engine keeps them.
    fn books(&self, n: usize, channel: ChannelId) -> Books {
        let c = self.nodes[n].channel(channel).expect("a channel of the node");
        let (late_paid, late_received) = self.late_on.get(&(n, channel)).copied().unwrap_or_default();
        Books {
            paid: c.ledger.paid(),
            received: c.ledger.received(),
            late_paid,
            late_received,
            credit: c.credit,
            credit_out: c.credit_out,
        }
    }

    /// Whether any channel between two of `honest` was cut.
    fn honest_cut(&self, honest: &[usize]) -> Vec<(u64, usize, ChannelId, SeverReason)> {
        self.severed
            .iter()
            .filter(|(_, _, c, _)| {
                let (a, b, _) = self.chans[c];
                honest.contains(&a) && honest.contains(&b)
            })
            .copied()
            .collect()
    }

    /// Balance of `n` over all its channels (deposit + received − paid).
    fn balance(&self, n: usize) -> Amount {
        self.nodes[n].channels().map(|(_, c)| c.ledger.balance()).sum()
    }
}

/// One node's books of one channel: what its ledger says it paid and
/// received in all (requests and late fees), the late fees among them, and
/// the credit either way (DESIGN §2.10).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Books {
    paid: Amount,
    received: Amount,
    late_paid: Amount,
    late_received: Amount,
    credit: Amount,
    credit_out: Amount,
}

/// The late-fee rate of the tests: 1 yocto per ms.
fn cfg(policy: FailurePolicy) -> ProtocolConfig {
    ProtocolConfig { late_fee_per_sec: 1000, max_late_ms: 20_000, sync_when_idle: false, policy, ..Default::default() }
}

fn fee(bytes: u128) -> Amount {
    FEE + bytes
}

/// §5.1: Alex → Carol via Alice and Bob; bound 800, Alice forwards with 600,
/// Bob with 200; the response arrives at 800; each relay keeps its edge's fee.
#[test]
fn happy_path_800ms_and_fees_split() {
    let mut net = Net::paper(|_| cfg(FailurePolicy::default()));
    let before: Vec<Amount> = (0..4).map(|n| net.balance(n)).collect();
    let id = net.request(&[0, 1, 2, 3], 1);
    net.run_until(150);
    assert_eq!(net.nodes[1].entry(&id).unwrap().down.as_ref().unwrap().deadline_ms, 100 + 600);
    net.run_until(350);
    assert_eq!(net.nodes[2].entry(&id).unwrap().down.as_ref().unwrap().deadline_ms, 300 + 200);
    net.run_until(5_000);
    assert_eq!(net.terminal(0), vec![(800, "response")]);
    assert!(net.outcome(0).iter().any(|(t, d)| matches!(d, Delivery::Acked { .. }) && *t == 200));
    assert_eq!(net.late_total(0), 0);
    assert!(net.late_paid.is_empty(), "nobody pays a late fee");
    let bytes = 2 + 64;
    let after: Vec<Amount> = (0..4).map(|n| net.balance(n)).collect();
    assert_eq!(before[0] - after[0], 3 * fee(bytes), "Alex pays the whole route");
    for n in 1..4 {
        assert_eq!(after[n] - before[n], fee(bytes), "node {n} keeps exactly its edge's fee");
    }
    assert_eq!(net.nodes.iter().map(|e| e.in_flight()).sum::<usize>(), 0, "every node forgot the request");
}

/// §5.2: Eve offline; Bob severs Bob–Eve at his deadline (700) and the notice
/// reaches Alex by his bound (1000); nobody pays a late fee.
#[test]
fn offline_hop_severed_at_once_notice_before_bound() {
    let mut net = Net::paper(|n| {
        let mut p = FailurePolicy::default();
        if n == 2 {
            p.sever_overdue_after_ms = Some(0);
        }
        cfg(p)
    });
    net.offline.insert(4);
    net.request(&[0, 1, 2, 4, 5], 1);
    net.run_until(3_000);
    assert_eq!(net.severed, vec![(700, 2, ChannelId(4), SeverReason::Overdue)]);
    let t = net.terminal(0);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].1, "notice");
    assert!(t[0].0 <= 1000, "notice at {} after the bound", t[0].0);
    assert_eq!(net.late_total(0), 0);
    assert!(net.late_paid.is_empty());
}

/// §5.3: Bob waits; late fees flow at every sync (Alice pays Alex out of
/// pocket first), match the formula, and stop with the notice when Bob finally
/// severs at `max_late_ms`; Alice is whole.
#[test]
fn waiting_relay_streams_late_fees_then_notice() {
    let mut net = Net::paper(|_| {
        let mut c = cfg(FailurePolicy { missed_syncs: 0, ..Default::default() });
        c.max_late_ms = 900;
        c
    });
    net.offline.insert(4);
    net.request(&[0, 1, 2, 4, 5], 1);
    net.run_until(1_550);
    // Alice's deadline for Bob is 900, Alex's bound 1000. Rate: 1 yocto/ms.
    // Bob syncs with Alice every 1000 ms from 300 on; at 1300 he owes her for
    // 400 ms past his estimate of her deadline (300 + 200 + 400 = 900).
    assert_eq!(net.late_received.get(&1), Some(&400), "Bob's 1300 sync reached Alice at 1500");
    assert_eq!(net.late_paid[&1], 100, "Alice paid Alex out of pocket");
    // Alice syncs with Alex every 500 ms from 100 on (600, 1100, ...); her
    // estimate of Alex's deadline is 100 + 100 + 800 = 1000.
    assert_eq!(net.late_total(0), 100, "Alex got 100 ms of lateness from Alice's 1100 sync");
    net.run_until(20_000);
    // Bob's deadline for Eve is 700: max_late 900 → he severs at 1600.
    assert_eq!(net.severed, vec![(1600, 2, ChannelId(4), SeverReason::MaxLate)]);
    let t = net.terminal(0);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0], (1900, "notice"), "the notice crosses 200 + 100 ms");
    // Alex was late 900 ms when the notice arrived: he is paid exactly that.
    assert_eq!(net.late_total(0), 900);
    // Alice pays Alex for lateness up to 1900 on Alex's count; Bob pays
    // Alice up to 1800 on his estimate of her deadline (900): 900 as well.
    assert_eq!(net.late_paid[&1], 900);
    assert_eq!(net.late_received[&1], 900, "Alice is whole");
    assert_eq!(net.late_paid[&2], 900, "Bob pays out of pocket: Eve is offline");
    assert!(!net.late_received.contains_key(&2));
}

/// A slow server: late fees start at the server, flow up, and every relay
/// receives at least what it pays.
#[test]
fn slow_server_pays_and_relays_are_whole() {
    let mut net =
        Net::paper(|_| cfg(FailurePolicy { missed_syncs: 0, late_fee_grace_ms: 1_500, ..Default::default() }));
    net.slow_ms.insert(3, 2_000);
    net.request(&[0, 1, 2, 3], 1);
    net.run_until(20_000);
    let t = net.terminal(0);
    assert_eq!(t, vec![(2_800, "response")], "service 2000 ms late");
    assert!(net.severed.is_empty(), "{:?}", net.severed);
    assert_eq!(net.late_total(0), 2_000, "Alex is paid for exactly his 2000 ms of lateness");
    for relay in [1, 2] {
        assert!(net.late_received[&relay] >= net.late_paid[&relay], "relay {relay} is whole");
    }
    assert_eq!(net.late_paid[&3], 2_000, "Carol pays for her lateness");
    assert_eq!(net.nodes.iter().map(|e| e.in_flight()).sum::<usize>(), 0);
}

/// §5.4/issue #6 scenario 4: a server that withholds its late fee is cut by
/// policy once the grace passes, and the notice goes upstream.
#[test]
fn withheld_late_fee_gets_the_edge_cut() {
    let mut net = Net::paper(|n| {
        let mut c = cfg(FailurePolicy { missed_syncs: 0, late_fee_grace_ms: 1_000, ..Default::default() });
        c.faults.withhold_late_fees = n == 3;
        c
    });
    net.slow_ms.insert(3, 10_000);
    net.request(&[0, 1, 2, 3], 1);
    net.run_until(30_000);
    assert_eq!(net.severed.len(), 1);
    let (t, who, ch, why) = net.severed[0];
    assert_eq!((who, ch, why), (2, ChannelId(3), SeverReason::WithheldLateFee));
    assert!((1_500..=2_500).contains(&t), "cut at {t}");
    assert_eq!(net.terminal(0)[0].1, "notice");
    assert!(net.late_received[&1] >= net.late_paid[&1], "Alice is whole");
}

/// A relay answering its deadline with a notice that names a channel off
/// the route, then going quiet: the notice proves nothing, and silence
/// would give it the offline grace to pay. Its upstream refuses the notice
/// and cuts it at once (before, it was only refused, and Alice waited for
/// Bob's late fees that never came, unpaid meanwhile).
#[test]
fn a_misaddressed_notice_gets_its_sender_cut_at_once() {
    let mut net = Net::paper(|n| {
        let mut c = cfg(FailurePolicy { missed_syncs: 3, offline_grace_ms: 30_000, ..Default::default() });
        c.faults.misaddressed_notices = n == 2;
        c
    });
    net.offline.insert(4);
    net.request(&[0, 1, 2, 4, 5], 1);
    net.run_until(30_000);
    // Bob's misaddressed notice at his deadline (700) reaches Alice at 900.
    assert_eq!(net.severed[0], (900, 1, ChannelId(2), SeverReason::FalseNotice));
    assert_eq!(net.terminal(0).len(), 1, "Alex got exactly one terminal outcome");
    assert_eq!(net.terminal(0)[0].1, "notice", "Alice's own notice");
    assert!(!net.severed.iter().any(|s| s.1 == 0), "Alex did not cut honest Alice: {:?}", net.severed);
}

#[test]
fn refusals_underpaid_and_forged() {
    let mut net = Net::paper(|_| cfg(FailurePolicy::default()));
    net.publish_terms();
    // A request whose voucher pays less than the route asks.
    let hop = RouteHop { channel: ChannelId(1), node: net.key(1), params: edge(100) };
    let route = Route {
        hops: vec![hop, RouteHop { channel: ChannelId(2), node: net.key(2), params: edge(200) }],
        service_ms: 0,
    };
    let alex = NodeSigner::from_seed([1; 32]);
    let req = Request {
        requester: net.key(0),
        nonce: 9,
        route,
        service: "echo".into(),
        body: vec![],
        max_response_bytes: 0,
        budget: 0,
        signature: Signature([0; 64]),
        path: Default::default(),
    }
    .sign(&alex);
    let mut ledger = net.nodes[0].ledger(ChannelId(1)).unwrap().clone();
    let cheap = ledger.pay(FEE, &alex).unwrap();
    let mut out = Vec::new();
    net.nodes[1].handle_message(
        ChannelId(1),
        Wire::Request(Box::new(PaidRequest { request: req.clone(), voucher: cheap })),
        0,
        &mut out,
    );
    // Refused, yet the valid voucher is kept and its amount is credit.
    assert!(
        matches!(
            out[..],
            [
                Effect::Persist { received: true, .. },
                Effect::Event(EngineEvent::Refused { reason: Refusal::Underpaid, .. })
            ]
        ),
        "{out:?}"
    );
    assert_eq!(net.nodes[1].channel(ChannelId(1)).unwrap().credit, FEE);
    // Tampered request: signature fails.
    let mut bad = req.clone();
    bad.nonce = 10;
    let v = ledger.pay(10 * FEE, &alex).unwrap();
    out.clear();
    net.nodes[1].handle_message(
        ChannelId(1),
        Wire::Request(Box::new(PaidRequest { request: bad, voucher: v })),
        0,
        &mut out,
    );
    assert!(
        matches!(
            out[..],
            [
                Effect::Persist { received: true, .. },
                Effect::Event(EngineEvent::Refused { reason: Refusal::BadSignature, .. })
            ]
        ),
        "{out:?}"
    );
    assert_eq!(net.nodes[1].channel(ChannelId(1)).unwrap().credit, 11 * FEE, "cumulative: both refusals");
    // A request arriving over the wrong channel.
    out.clear();
    let v = ledger.pay(10 * FEE, &alex).unwrap();
    net.nodes[3].handle_message(
        ChannelId(3),
        Wire::Request(Box::new(PaidRequest { request: req.clone(), voucher: v })),
        0,
        &mut out,
    );
    assert!(matches!(out[..], [Effect::Event(EngineEvent::Refused { reason: Refusal::NotOnRoute, .. })]), "{out:?}");
    // On the route, but paid with a voucher of another channel.
    out.clear();
    let v = ledger.pay(10 * FEE, &alex).unwrap();
    net.nodes[2].handle_message(
        ChannelId(2),
        Wire::Request(Box::new(PaidRequest { request: req, voucher: v })),
        0,
        &mut out,
    );
    assert!(matches!(out[..], [Effect::Event(EngineEvent::Refused { reason: Refusal::BadVoucher, .. })]), "{out:?}");
}

#[test]
fn oversized_response_is_dropped_by_the_first_hop() {
    let mut net = Net::paper(|_| cfg(FailurePolicy::default()));
    let id = net.request(&[0, 1, 2, 3], 1);
    net.run_until(400);
    // Carol (the server) got it; a forged oversized response from Carol's key.
    let carol = NodeSigner::from_seed([4; 32]);
    let big = crate::message::Response::create(id, vec![0; 65], &carol);
    let mut out = Vec::new();
    net.nodes[2].handle_message(ChannelId(3), Wire::Response(Box::new(big)), 400, &mut out);
    net.nodes[2].flush(400, &mut out);
    assert!(
        matches!(out[..], [Effect::Event(EngineEvent::Refused { reason: Refusal::ResponseTooLarge, .. })]),
        "{out:?}"
    );
    // A response signed by someone else than the server.
    let bob = NodeSigner::from_seed([3; 32]);
    let mut forged = crate::message::Response::create(id, vec![1], &bob);
    forged.server = carol.public();
    out.clear();
    net.nodes[2].handle_message(ChannelId(3), Wire::Response(Box::new(forged)), 400, &mut out);
    net.nodes[2].flush(400, &mut out);
    assert!(matches!(out[..], [Effect::Event(EngineEvent::Refused { reason: Refusal::BadSignature, .. })]), "{out:?}");
    let _ = Hash32([0; 32]);
    let _ = Signer::public(&carol);
}

/// The allocation-free hop terms agree with the full quote at every position.
#[test]
fn hop_terms_match_the_quote() {
    let net = Net::paper(|_| cfg(FailurePolicy::default()));
    let hops: Vec<RouteHop> = [(1, 1, 100), (2, 2, 200), (4, 4, 100), (5, 5, 100)]
        .iter()
        .map(|&(c, n, l)| RouteHop { channel: ChannelId(c), node: net.key(n), params: edge(l) })
        .collect();
    let req = Request {
        requester: net.key(0),
        nonce: 1,
        route: Route { hops, service_ms: 7 },
        service: String::new(),
        body: vec![1; 33],
        max_response_bytes: 100,
        budget: 0,
        signature: Signature([0; 64]),
        path: Default::default(),
    };
    let q = req.quote().unwrap();
    for pos in 1..=4 {
        let t = super::node::hop_terms(&req, pos).unwrap();
        assert_eq!(t.due, q.payments[pos - 1], "pos {pos}");
        assert_eq!(t.pay_next, q.payments.get(pos).copied().unwrap_or(0), "pos {pos}");
        assert_eq!(t.budget_ms, q.budgets_ms.get(pos).copied().unwrap_or(7), "pos {pos}");
    }
}

mod books;
mod hostile;
mod lost;
mod refused_below;
mod restart;
