//! The network's history as the chain tells it: a bounded local log of what
//! changed in the contract's graph, so an operator sees who was cut and why
//! without reading contract logs.
//!
//! The chain agent ([`crate::agent`]) feeds it. The contract's views give
//! state, not events, so the log is made by diffing: every time the graph's
//! version moves, the new graph ([`Snapshot`]: nodes with stake and status,
//! open edges with their ends and closing flag) is compared with the last
//! one, and an edge that left is read once (`channel`) to say how: severed
//! (and by whom) or closed cooperatively (and who proposed it). The pending
//! splits the agent reads on every poll are diffed the same way. The
//! contract's NEP-297 events (`contract/src/events.rs`) are not read: the
//! RPC client reads views and sends transactions, it has no log query, and
//! the views are enough for every kind below.
//!
//! | kind | when |
//! |---|---|
//! | `node_joined` | a node registered |
//! | `node_left` | a node left (`leave`) |
//! | `node_partitioned` / `node_rejoined` | a node's status became partitioned / active again |
//! | `stake_slashed` | a node's stake went down while it stayed registered (`amount`: how much) |
//! | `channel_opened` | an edge appeared |
//! | `close_proposed` | an edge became closing (`by`: who proposed, when known) |
//! | `channel_closed` | an edge left, closed cooperatively (`by`: who proposed) |
//! | `channel_severed` | an edge left, severed (`by`: the severer) |
//! | `channel_gone` | an edge left and the chain could not say how (read failed) |
//! | `partition_found` | the contract recorded a split (`by`: severer; `amount`: the small side's stake; `nodes`) |
//! | `partition_settled` | a recorded split is no longer pending (settled, or reconnected in time) |
//!
//! Times are this node's clock when it saw the change (`at_ms`) and the
//! graph version it saw it at. A change that happened while the node was
//! down is seen at its next start: the last snapshot is kept with the log.
//! The log keeps the newest [`MAX_EVENTS`] events; it is written atomically
//! to [`FILE`] in the data directory whenever it changes.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::chain::{GraphFollower, NodeStatus, SplitView};
use crate::outcomes::{now_ms, write_atomically};

/// The log's file in the data directory.
pub const FILE: &str = "history.json";
/// Events the log keeps (the oldest go first).
pub const MAX_EVENTS: usize = 1000;
/// The largest log file read back.
const MAX_FILE_BYTES: u64 = 64 << 20;

/// One change of the network, as seen on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChainEvent {
    /// Its number in this node's log (from 1, never reused).
    pub seq: u64,
    /// When this node saw it, ms since the Unix epoch.
    pub at_ms: u64,
    /// The contract's `graph_version` it was seen at.
    pub graph_version: u64,
    /// What happened (see the module doc).
    pub kind: String,
    /// The channel, for channel and partition events.
    pub channel: Option<u64>,
    /// The accounts concerned (a channel's two ends, a node).
    pub nodes: Vec<String>,
    /// Who did it: the severer, the close's proposer.
    pub by: Option<String>,
    /// Yocto, as a decimal string: the stake slashed, a split's small side's stake.
    pub amount: Option<String>,
}

/// A node as a snapshot keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapNode {
    /// Stake, yocto, decimal.
    pub stake: String,
    /// `active`, `partitioned` or `left`.
    pub status: String,
}

/// An edge as a snapshot keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapEdge {
    /// Opener account.
    pub a: String,
    /// Peer account.
    pub b: String,
    /// A cooperative close was proposed.
    pub closing: bool,
}

/// The graph as the log compares it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The contract's `graph_version`.
    pub version: u64,
    /// By account.
    pub nodes: BTreeMap<String, SnapNode>,
    /// By channel id.
    pub edges: BTreeMap<u64, SnapEdge>,
}

fn status_name(s: NodeStatus) -> &'static str {
    match s {
        NodeStatus::Active => "active",
        NodeStatus::Partitioned => "partitioned",
        NodeStatus::Left => "left",
    }
}

impl Snapshot {
    /// What `f` holds now.
    pub fn of(f: &GraphFollower) -> Snapshot {
        let mut nodes = BTreeMap::new();
        let mut account = Vec::new();
        for i in 0..f.graph().node_count() {
            let Some(n) = f.node(i as por_core::NodeIdx) else { break };
            account.push(n.account_id.to_string());
            nodes.insert(
                n.account_id.to_string(),
                SnapNode { stake: n.stake.to_string(), status: status_name(n.status).into() },
            );
        }
        let name = |i: por_core::NodeIdx| account.get(i as usize).cloned().unwrap_or_else(|| format!("#{i}"));
        let edges = f
            .graph()
            .edges()
            .map(|e| (e.channel.0, SnapEdge { a: name(e.a), b: name(e.b), closing: f.graph().is_closing(e.channel) }))
            .collect();
        Snapshot { version: f.version().unwrap_or(0), nodes, edges }
    }
}

/// How an edge that left the graph ended, as the chain's `channel` view says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// Severed by this account.
    Severed(String),
    /// Closed cooperatively (proposed by this account, when known).
    Closed(Option<String>),
}

/// A pending split as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SplitSeen {
    severer: String,
    other: String,
    nodes: u32,
    stake: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    events: VecDeque<ChainEvent>,
    next_seq: u64,
    last: Option<Snapshot>,
    splits: BTreeMap<u64, SplitSeen>,
}

/// The log, shared by the chain agent (which writes it) and the API.
#[derive(Clone, Debug)]
pub struct HistoryLog {
    state: Arc<Mutex<State>>,
    path: Option<PathBuf>,
}

impl Default for HistoryLog {
    /// A log kept in memory only.
    fn default() -> Self {
        HistoryLog { state: Arc::default(), path: None }
    }
}

impl HistoryLog {
    /// The log kept in `data_dir` (read back if there is one; one that
    /// cannot be read is set aside with a warning and the log starts anew).
    pub fn open(data_dir: &Path) -> Self {
        let path = data_dir.join(FILE);
        let state = match load(&path) {
            Ok(s) => s,
            Err(e) => {
                warn!(file = %path.display(), "the chain history cannot be read, starting a new one: {e}");
                let _ = std::fs::rename(&path, path.with_extension("json.bad"));
                State::default()
            }
        };
        HistoryLog { state: Arc::new(Mutex::new(state)), path: Some(path) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The newest `limit` events, oldest first.
    pub fn events(&self, limit: usize) -> Vec<ChainEvent> {
        let s = self.lock();
        s.events.iter().skip(s.events.len().saturating_sub(limit)).cloned().collect()
    }

    /// Edges of the last snapshot that `next` no longer has: the caller
    /// reads how each ended and passes it to [`HistoryLog::observe`].
    pub fn removed_in(&self, next: &Snapshot) -> Vec<u64> {
        let s = self.lock();
        s.last
            .as_ref()
            .map_or(Vec::new(), |l| l.edges.keys().filter(|c| !next.edges.contains_key(c)).copied().collect())
    }

    /// The last snapshot's edge `channel`, if it had it.
    pub fn last_edge(&self, channel: u64) -> Option<SnapEdge> {
        self.lock().last.as_ref().and_then(|l| l.edges.get(&channel).cloned())
    }

    /// The graph moved to `next`; `how` says how removed edges ended (an
    /// edge missing there is `channel_gone`). The first snapshot ever is
    /// the baseline: it makes no event.
    pub fn observe(&self, next: Snapshot, how: &BTreeMap<u64, Removal>, close_proposer: &BTreeMap<u64, String>) {
        let mut s = self.lock();
        let Some(last) = s.last.take() else {
            s.last = Some(next);
            drop(s);
            self.save();
            return;
        };
        let v = next.version;
        let before = s.next_seq;
        for (acct, n) in &next.nodes {
            let who = vec![acct.clone()];
            let Some(old) = last.nodes.get(acct) else {
                push(&mut s, v, "node_joined", None, who, None, None);
                continue;
            };
            if old.status != n.status {
                let kind = match n.status.as_str() {
                    "left" => "node_left",
                    "partitioned" => "node_partitioned",
                    _ => "node_rejoined",
                };
                push(&mut s, v, kind, None, who.clone(), None, None);
            }
            let (was, now) = (old.stake.parse::<u128>().unwrap_or(0), n.stake.parse::<u128>().unwrap_or(0));
            if now < was && n.status != "left" {
                push(&mut s, v, "stake_slashed", None, who, None, Some((was - now).to_string()));
            }
        }
        for (ch, e) in &next.edges {
            let ends = vec![e.a.clone(), e.b.clone()];
            match last.edges.get(ch) {
                None => push(&mut s, v, "channel_opened", Some(*ch), ends, None, None),
                Some(old) if e.closing && !old.closing => {
                    push(&mut s, v, "close_proposed", Some(*ch), ends, close_proposer.get(ch).cloned(), None)
                }
                Some(_) => {}
            }
        }
        for (ch, e) in &last.edges {
            if next.edges.contains_key(ch) {
                continue;
            }
            let (kind, by) = match how.get(ch) {
                Some(Removal::Severed(by)) => ("channel_severed", Some(by.clone())),
                Some(Removal::Closed(by)) => ("channel_closed", by.clone()),
                None => ("channel_gone", None),
            };
            push(&mut s, v, kind, Some(*ch), vec![e.a.clone(), e.b.clone()], by, None);
        }
        s.last = Some(next);
        let changed = s.next_seq != before;
        drop(s);
        if changed {
            self.save();
        }
    }

    /// The contract's pending splits now (`splits`, read by the agent);
    /// `version` is the graph version it holds.
    pub fn observe_splits(&self, splits: &[SplitView], version: u64) {
        let mut s = self.lock();
        let now: BTreeMap<u64, SplitSeen> = splits
            .iter()
            .map(|p| {
                let seen = SplitSeen {
                    severer: p.severer.to_string(),
                    other: p.other.to_string(),
                    nodes: p.nodes,
                    stake: p.stake.to_string(),
                };
                (p.channel_id, seen)
            })
            .collect();
        let mut changed = false;
        for (ch, p) in &now {
            if !s.splits.contains_key(ch) {
                let nodes = vec![p.severer.clone(), p.other.clone()];
                push(
                    &mut s,
                    version,
                    "partition_found",
                    Some(*ch),
                    nodes,
                    Some(p.severer.clone()),
                    Some(p.stake.clone()),
                );
                changed = true;
            }
        }
        let gone: Vec<(u64, SplitSeen)> =
            s.splits.iter().filter(|(c, _)| !now.contains_key(c)).map(|(c, p)| (*c, p.clone())).collect();
        for (ch, p) in gone {
            push(&mut s, version, "partition_settled", Some(ch), vec![p.severer, p.other], None, Some(p.stake));
            changed = true;
        }
        s.splits = now;
        drop(s);
        if changed {
            self.save();
        }
    }

    fn save(&self) {
        let Some(path) = &self.path else { return };
        let bytes = serde_json::to_vec(&*self.lock()).expect("the log serializes");
        if let Err(e) = write_atomically(path, &bytes) {
            warn!(file = %path.display(), "cannot save the chain history: {e}");
        }
    }
}

fn push(
    s: &mut State,
    version: u64,
    kind: &str,
    channel: Option<u64>,
    nodes: Vec<String>,
    by: Option<String>,
    amount: Option<String>,
) {
    s.next_seq += 1;
    let e = ChainEvent {
        seq: s.next_seq,
        at_ms: now_ms(),
        graph_version: version,
        kind: kind.to_string(),
        channel,
        nodes,
        by,
        amount,
    };
    tracing::info!(kind = %e.kind, channel = ?e.channel, nodes = ?e.nodes, by = ?e.by, "chain history");
    s.events.push_back(e);
    while s.events.len() > MAX_EVENTS {
        s.events.pop_front();
    }
}

fn load(path: &Path) -> Result<State, String> {
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
        Err(e) => return Err(e.to_string()),
    };
    if len > MAX_FILE_BYTES {
        return Err(format!("{len} bytes, more than the {MAX_FILE_BYTES} a log can have"));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut s: State = serde_json::from_slice(&bytes).map_err(|e| format!("not a history: {e}"))?;
    while s.events.len() > MAX_EVENTS {
        s.events.pop_front();
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(version: u64, nodes: &[(&str, u128, &str)], edges: &[(u64, &str, &str, bool)]) -> Snapshot {
        Snapshot {
            version,
            nodes: nodes
                .iter()
                .map(|(a, s, st)| (a.to_string(), SnapNode { stake: s.to_string(), status: st.to_string() }))
                .collect(),
            edges: edges
                .iter()
                .map(|(c, a, b, cl)| (*c, SnapEdge { a: a.to_string(), b: b.to_string(), closing: *cl }))
                .collect(),
        }
    }

    /// An event as the tests compare it: kind, channel, by, amount.
    type Seen = (String, Option<u64>, Option<String>, Option<String>);

    fn kinds(log: &HistoryLog) -> Vec<Seen> {
        log.events(100).into_iter().map(|e| (e.kind, e.channel, e.by, e.amount)).collect()
    }

    #[test]
    fn graph_changes_become_events_and_the_log_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::open(dir.path());
        let (none, np): (BTreeMap<u64, Removal>, BTreeMap<u64, String>) = (BTreeMap::new(), BTreeMap::new());
        log.observe(snap(1, &[("a", 10, "active"), ("b", 10, "active")], &[(1, "a", "b", false)]), &none, &np);
        assert!(log.events(10).is_empty(), "the first snapshot is the baseline");
        let next = snap(
            2,
            &[("a", 10, "active"), ("b", 10, "active"), ("c", 10, "active")],
            &[(1, "a", "b", true), (2, "b", "c", false), (3, "a", "c", false)],
        );
        log.observe(next, &none, &BTreeMap::from([(1, "a".to_string())]));
        let cut =
            snap(3, &[("a", 10, "active"), ("b", 10, "active"), ("c", 7, "partitioned")], &[(3, "a", "c", false)]);
        assert_eq!(log.removed_in(&cut), vec![1, 2]);
        let how = BTreeMap::from([(1, Removal::Closed(Some("a".into()))), (2, Removal::Severed("b".into()))]);
        log.observe(cut, &how, &np);
        let gone = snap(4, &[("a", 10, "active"), ("b", 10, "left"), ("c", 7, "partitioned")], &[]);
        log.observe(gone, &none, &np);
        let want = vec![
            ("node_joined".into(), None, None, None),
            ("close_proposed".into(), Some(1), Some("a".into()), None),
            ("channel_opened".into(), Some(2), None, None),
            ("channel_opened".into(), Some(3), None, None),
            ("node_partitioned".into(), None, None, None),
            ("stake_slashed".into(), None, None, Some("3".into())),
            ("channel_closed".into(), Some(1), Some("a".into()), None),
            ("channel_severed".into(), Some(2), Some("b".into()), None),
            ("node_left".into(), None, None, None),
            ("channel_gone".into(), Some(3), None, None),
        ];
        assert_eq!(kinds(&log), want);
        let seqs: Vec<u64> = log.events(100).iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
        // Read back after a restart: the same events, and the diff goes on
        // from the last snapshot (nothing new for the same graph).
        let again = HistoryLog::open(dir.path());
        assert_eq!(kinds(&again), want);
        again.observe(snap(4, &[("a", 10, "active"), ("b", 10, "left"), ("c", 7, "partitioned")], &[]), &none, &np);
        assert_eq!(again.events(100).len(), 10);
        assert_eq!(again.events(2).iter().map(|e| e.seq).collect::<Vec<_>>(), vec![9, 10]);
    }

    #[test]
    fn splits_found_and_settled_and_the_log_is_bounded() {
        let log = HistoryLog::default();
        let split = SplitView {
            channel_id: 4,
            severer: "b.test".parse().unwrap(),
            other: "e.test".parse().unwrap(),
            severed_at_ms: 0,
            settle_after_ms: 10,
            slash_bps: 100,
            nodes: 1,
            stake: 5,
        };
        log.observe_splits(std::slice::from_ref(&split), 7);
        log.observe_splits(std::slice::from_ref(&split), 7);
        log.observe_splits(&[], 8);
        assert_eq!(
            kinds(&log),
            vec![
                ("partition_found".into(), Some(4), Some("b.test".into()), Some("5".into())),
                ("partition_settled".into(), Some(4), None, Some("5".into())),
            ]
        );
        let (none, np): (BTreeMap<u64, Removal>, BTreeMap<u64, String>) = (BTreeMap::new(), BTreeMap::new());
        log.observe(snap(1, &[], &[]), &none, &np);
        for i in 0..(MAX_EVENTS as u64 + 50) {
            log.observe(
                snap(i + 2, &[], &[(i, "a", "b", false)]),
                &BTreeMap::from([(i.wrapping_sub(1), Removal::Severed("a".into()))]),
                &np,
            );
        }
        let all = log.events(usize::MAX);
        assert_eq!(all.len(), MAX_EVENTS);
        assert_eq!(all.last().unwrap().seq, 2 + 2 * (MAX_EVENTS as u64 + 50) - 1);
    }
}
