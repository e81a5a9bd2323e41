//! The record of outcomes: how the servers and edges this node used kept
//! their promises, from the node's own evidence.
//!
//! Every request this node originates ends in evidence (DESIGN §2.4): the
//! server's signed response, within its bound or late, a severance notice,
//! or a refusal with its reason. The event loop tells this record when a
//! request leaves ([`Recorder::sent`]: its server, the channels of its
//! route, its bound) and how it ended ([`Recorder::delivered`],
//! [`Recorder::first_hop_refused`]); a downstream deadline that passed
//! unanswered on a channel (any request sent down it, ours or relayed)
//! counts against that edge ([`Recorder::overdue`]).
//!
//! What is counted where:
//!
//! | outcome | server (last hop) | edges |
//! |---|---|---|
//! | response within the bound | `on_time` | `on_time` on every channel of the route |
//! | response after the bound | `late`, `late_ms_total` / `late_ms_max` (by how much) | the same on every channel |
//! | severance notice | `notices` | `notices` on the severed channel |
//! | refusal (first hop or below) | `refused[reason]` | `refused[reason]` on the channel into the refuser |
//! | a downstream deadline passed | | `overdue` on that channel |
//!
//! Counts are kept over sliding windows as buckets: one a minute for the
//! last hour (the `5m` and `1h` windows sum the current minute and the 4 or
//! 59 before it) and one an hour for the last day (`24h`: the current hour
//! and the 23 before it), plus totals since the record began (`all`).
//!
//! Bounded: at most [`MAX_KEYS`] servers and [`MAX_KEYS`] edges (the one
//! used least recently goes when a new one comes), at most [`MAX_PENDING`]
//! requests awaiting their outcome (the oldest is forgotten, uncounted),
//! reasons from the engine's finite set. The record is written atomically
//! (temporary file, fsync, rename) to [`FILE`] in the data directory every
//! [`SAVE_EVERY`] while it changed, and when the node stops; it is read back
//! at start. Requests in flight at a stop are not counted after it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use por_core::protocol::Delivery;
use por_core::{ChannelId, NodeKey, RequestId, Route};
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::metrics::OutcomeMetrics;

/// The record's file in the data directory.
pub const FILE: &str = "outcomes.json";
/// Servers (and, apart, edges) the record keeps.
pub const MAX_KEYS: usize = 128;
/// Requests awaiting their outcome the record remembers.
pub const MAX_PENDING: usize = 4096;
/// How often a changed record is written.
pub const SAVE_EVERY: Duration = Duration::from_secs(30);
/// Servers with a series of their own in the metrics (most used in the last
/// hour first).
pub const MAX_SERVER_SERIES: usize = 16;
/// The largest record file read back (a bigger one is not this node's).
const MAX_FILE_BYTES: u64 = 32 << 20;

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 3_600_000;
const MINUTES_KEPT: u64 = 60;
const HOURS_KEPT: u64 = 24;

/// The windows reported, with their lengths.
pub const WINDOWS: [(&str, u64); 3] = [("5m", 5 * MINUTE_MS), ("1h", HOUR_MS), ("24h", 24 * HOUR_MS)];

/// Outcomes counted over one window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Responses within their bound.
    pub on_time: u64,
    /// Responses after their bound.
    pub late: u64,
    /// Sum of the late responses' lateness (time past the bound), ms.
    pub late_ms_total: u64,
    /// The largest lateness, ms.
    pub late_ms_max: u64,
    /// Severance notices.
    pub notices: u64,
    /// Refusals by reason (the engine's refusal codes; `not_sent` when the
    /// first hop could not be reached).
    pub refused: BTreeMap<String, u64>,
    /// Downstream deadlines that passed unanswered (edges only).
    pub overdue: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.on_time += o.on_time;
        self.late += o.late;
        self.late_ms_total += o.late_ms_total;
        self.late_ms_max = self.late_ms_max.max(o.late_ms_max);
        self.notices += o.notices;
        for (k, v) in &o.refused {
            *self.refused.entry(k.clone()).or_default() += v;
        }
        self.overdue += o.overdue;
    }

    /// Refusals of every reason.
    pub fn refused_total(&self) -> u64 {
        self.refused.values().sum()
    }

    /// Requests that ended (on time, late, notice, refused).
    pub fn ended(&self) -> u64 {
        self.on_time + self.late + self.notices + self.refused_total()
    }

    /// The share of ended requests answered within their bound (none when
    /// none ended).
    pub fn on_time_ratio(&self) -> Option<f64> {
        let n = self.ended();
        (n > 0).then(|| self.on_time as f64 / n as f64)
    }
}

/// One key's counts: minute buckets for the last hour, hour buckets for the
/// last day, totals.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Series {
    minutes: VecDeque<(u64, Counts)>,
    hours: VecDeque<(u64, Counts)>,
    all: Counts,
    last_ms: u64,
}

impl Series {
    fn record(&mut self, now: u64, f: impl Fn(&mut Counts)) {
        for (buckets, size, kept) in
            [(&mut self.minutes, MINUTE_MS, MINUTES_KEPT), (&mut self.hours, HOUR_MS, HOURS_KEPT)]
        {
            let idx = now / size;
            if buckets.back().is_none_or(|(i, _)| *i != idx) {
                buckets.push_back((idx, Counts::default()));
            }
            if let Some((_, c)) = buckets.back_mut() {
                f(c);
            }
            while buckets.front().is_some_and(|(i, _)| *i + kept <= idx) || buckets.len() as u64 > kept {
                buckets.pop_front();
            }
        }
        f(&mut self.all);
        self.last_ms = self.last_ms.max(now);
    }

    /// The counts of the last `window_ms` (bucketed, see the module doc).
    fn window(&self, now: u64, window_ms: u64) -> Counts {
        let (buckets, size) = if window_ms <= HOUR_MS { (&self.minutes, MINUTE_MS) } else { (&self.hours, HOUR_MS) };
        let newest = now / size;
        let n = (window_ms / size).max(1);
        let mut c = Counts::default();
        for (i, b) in buckets {
            if *i <= newest && *i + n > newest {
                c.add(b);
            }
        }
        c
    }
}

/// A request awaiting its outcome.
#[derive(Debug, Clone)]
struct Pending {
    server: NodeKey,
    channels: Vec<u64>,
    sent_ms: u64,
    bound_ms: u64,
}

/// The record itself (what the file holds, and the requests in flight).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    /// By server key (hex).
    servers: BTreeMap<String, Series>,
    /// By channel id.
    edges: BTreeMap<u64, Series>,
    #[serde(skip)]
    pending: HashMap<RequestId, Pending>,
    #[serde(skip)]
    order: VecDeque<RequestId>,
}

fn series<K: Ord + Clone>(map: &mut BTreeMap<K, Series>, key: K) -> &mut Series {
    if !map.contains_key(&key)
        && map.len() >= MAX_KEYS
        && let Some(old) = map.iter().min_by_key(|(_, s)| s.last_ms).map(|(k, _)| k.clone())
    {
        map.remove(&old);
    }
    map.entry(key).or_default()
}

impl Record {
    fn server(&mut self, key: &NodeKey, now: u64, f: impl Fn(&mut Counts)) {
        series(&mut self.servers, key.to_hex()).record(now, f);
    }

    fn edge(&mut self, channel: u64, now: u64, f: impl Fn(&mut Counts)) {
        series(&mut self.edges, channel).record(now, f);
    }

    fn refused(&mut self, p: &Pending, channel: u64, reason: &str, now: u64) {
        let bump = |c: &mut Counts| *c.refused.entry(reason.to_string()).or_default() += 1;
        self.server(&p.server, now, bump);
        self.edge(channel, now, bump);
    }
}

/// Counts of one server or edge per window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Observed {
    /// The server's key (hex) or the channel id, as text.
    pub key: String,
    /// Counts of the last 5 minutes, hour and day, and since the record began.
    #[schema(value_type = Object)]
    pub windows: BTreeMap<String, Counts>,
    /// When this key last had an outcome, ms since the Unix epoch.
    pub last_ms: u64,
}

/// The record as the API shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutcomesView {
    /// Servers, most responses within bound in the last hour first.
    pub servers: Vec<Observed>,
    /// Edges (channels) by id.
    pub edges: Vec<Observed>,
    /// Requests sent and not yet ended.
    pub pending: usize,
}

fn observed(key: String, s: &Series, now: u64) -> Observed {
    let mut windows: BTreeMap<String, Counts> =
        WINDOWS.iter().map(|(name, ms)| (name.to_string(), s.window(now, *ms))).collect();
    windows.insert("all".into(), s.all.clone());
    Observed { key, windows, last_ms: s.last_ms }
}

/// The API's (and the handle's) end: reads the record.
#[derive(Clone, Debug, Default)]
pub struct Reader(Arc<Mutex<Record>>);

impl Reader {
    /// The record as of `now` (ms since the Unix epoch).
    pub fn view(&self, now: u64) -> OutcomesView {
        let r = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut servers: Vec<Observed> = r.servers.iter().map(|(k, s)| observed(k.clone(), s, now)).collect();
        let on_time = |o: &Observed| o.windows.get("1h").map_or(0, |c| c.on_time);
        servers.sort_by(|a, b| on_time(b).cmp(&on_time(a)).then(a.key.cmp(&b.key)));
        let edges = r.edges.iter().map(|(k, s)| observed(k.to_string(), s, now)).collect();
        OutcomesView { servers, edges, pending: r.pending.len() }
    }
}

/// The event loop's end: records outcomes, keeps the metrics, saves.
pub struct Recorder {
    record: Arc<Mutex<Record>>,
    path: PathBuf,
    metrics: Option<OutcomeMetrics>,
    dirty: bool,
    saved_ms: u64,
    writing: Arc<AtomicBool>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Recorder {
    /// The record kept in `data_dir` (read back if there is one; a file
    /// that cannot be read is set aside with a warning and the record
    /// starts empty), its metrics in `metrics`.
    pub fn open(data_dir: &Path, metrics: Option<OutcomeMetrics>) -> Self {
        let path = data_dir.join(FILE);
        let record = match load(&path) {
            Ok(r) => r,
            Err(e) => {
                warn!(file = %path.display(), "the outcome record cannot be read, starting a new one: {e}");
                let _ = std::fs::rename(&path, path.with_extension("json.bad"));
                Record::default()
            }
        };
        Recorder {
            record: Arc::new(Mutex::new(record)),
            path,
            metrics,
            dirty: false,
            saved_ms: now_ms(),
            writing: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Its reader.
    pub fn reader(&self) -> Reader {
        Reader(self.record.clone())
    }

    fn with(&mut self, f: impl FnOnce(&mut Record)) {
        f(&mut self.record.lock().unwrap_or_else(|e| e.into_inner()));
        self.dirty = true;
    }

    /// Request `id` left along `route`; its bound is `bound_ms`.
    pub fn sent(&mut self, id: RequestId, route: &Route, bound_ms: u64, now: u64) {
        let Some(server) = route.server() else { return };
        let p = Pending {
            server: *server,
            channels: route.hops.iter().map(|h| h.channel.0).collect(),
            sent_ms: now,
            bound_ms,
        };
        let mut r = self.record.lock().unwrap_or_else(|e| e.into_inner());
        if r.order.len() >= MAX_PENDING
            && let Some(old) = r.order.pop_front()
        {
            r.pending.remove(&old);
        }
        r.order.push_back(id);
        r.pending.insert(id, p);
    }

    fn take(&mut self, id: &RequestId) -> Option<Pending> {
        let mut r = self.record.lock().unwrap_or_else(|e| e.into_inner());
        let p = r.pending.remove(id)?;
        r.order.retain(|x| x != id);
        Some(p)
    }

    /// An outcome of one of our requests (the first terminal one counts).
    pub fn delivered(&mut self, d: &Delivery, now: u64) {
        let id = match d {
            Delivery::Response { request_id, .. }
            | Delivery::Notice { request_id, .. }
            | Delivery::Refused { request_id, .. } => request_id,
            Delivery::Acked { .. } | Delivery::LatePayment { .. } => return,
        };
        let Some(p) = self.take(id) else { return };
        self.with(|r| match d {
            Delivery::Response { .. } => {
                let late = now.saturating_sub(p.sent_ms).saturating_sub(p.bound_ms);
                let bump = |c: &mut Counts| {
                    if late == 0 {
                        c.on_time += 1;
                    } else {
                        c.late += 1;
                        c.late_ms_total += late;
                        c.late_ms_max = c.late_ms_max.max(late);
                    }
                };
                r.server(&p.server, now, bump);
                for ch in &p.channels {
                    r.edge(*ch, now, bump);
                }
            }
            Delivery::Notice { notice, .. } => {
                r.server(&p.server, now, |c| c.notices += 1);
                r.edge(notice.channel.0, now, |c| c.notices += 1);
            }
            Delivery::Refused { refused, .. } => r.refused(&p, refused.channel.0, refused.reason.code(), now),
            Delivery::Acked { .. } | Delivery::LatePayment { .. } => {}
        });
    }

    /// Request `id` of ours was refused by its first hop, over `channel`,
    /// for `reason` (a refusal code, `not_sent` when unreachable).
    pub fn first_hop_refused(&mut self, id: RequestId, channel: ChannelId, reason: &str, now: u64) {
        let Some(p) = self.take(&id) else { return };
        self.with(|r| r.refused(&p, channel.0, reason, now));
    }

    /// A downstream deadline passed unanswered on `channel`.
    pub fn overdue(&mut self, channel: ChannelId, now: u64) {
        self.with(|r| r.edge(channel.0, now, |c| c.overdue += 1));
    }

    /// Housekeeping (the event loop's, every few seconds): the metrics, and
    /// the file when the record changed and [`SAVE_EVERY`] passed (written
    /// off the loop).
    pub fn tick(&mut self, now: u64) {
        if let Some(m) = &self.metrics {
            m.set(&self.reader().view(now), MAX_SERVER_SERIES);
        }
        if !self.dirty || now.saturating_sub(self.saved_ms) < SAVE_EVERY.as_millis() as u64 {
            return;
        }
        if self.writing.swap(true, Ordering::AcqRel) {
            return; // the last write is still going: next tick
        }
        let bytes = self.bytes();
        let (path, writing) = (self.path.clone(), self.writing.clone());
        self.dirty = false;
        self.saved_ms = now;
        let write = move || {
            if let Err(e) = write_atomically(&path, &bytes) {
                warn!(file = %path.display(), "cannot save the outcome record: {e}");
            }
            writing.store(false, Ordering::Release);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(write)),
            Err(_) => write(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let r = self.record.lock().unwrap_or_else(|e| e.into_inner());
        serde_json::to_vec(&*r).expect("the record serializes")
    }

    /// Writes the record now (the node is stopping).
    pub fn save(&mut self) -> std::io::Result<()> {
        while self.writing.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(5));
        }
        write_atomically(&self.path, &self.bytes())?;
        self.dirty = false;
        Ok(())
    }
}

fn load(path: &Path) -> Result<Record, String> {
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Record::default()),
        Err(e) => return Err(e.to_string()),
    };
    if len > MAX_FILE_BYTES {
        return Err(format!("{len} bytes, more than the {MAX_FILE_BYTES} a record can have"));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut r: Record = serde_json::from_slice(&bytes).map_err(|e| format!("not a record: {e}"))?;
    if r.servers.len() > MAX_KEYS || r.edges.len() > MAX_KEYS {
        return Err(format!("more than {MAX_KEYS} servers or edges"));
    }
    for s in r.servers.values_mut().chain(r.edges.values_mut()) {
        s.minutes.truncate(MINUTES_KEPT as usize);
        s.hours.truncate(HOURS_KEPT as usize);
    }
    Ok(r)
}

/// Writes `bytes` to `path` so that a crash leaves the old file or the new
/// one, never a mix: a temporary file beside it, fsynced, renamed over it,
/// and the directory fsynced.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use por_core::protocol::{Refusal, RefusedBelow};
    use por_core::{EdgeParams, Hash32, NodeSigner, Response, RouteHop, SeveranceNotice, Signature, Signer};

    use super::*;

    fn key(i: u8) -> NodeKey {
        NodeSigner::from_seed([i; 32]).public()
    }

    fn route(channels: &[u64], server: u8) -> Route {
        let params = EdgeParams { latency_ms: 10, base_fee: 1, byte_fee: 0 };
        let n = channels.len();
        let hops = channels
            .iter()
            .enumerate()
            .map(|(i, c)| RouteHop {
                channel: ChannelId(*c),
                node: if i + 1 == n { key(server) } else { key(50 + i as u8) },
                params,
            })
            .collect();
        Route { hops, service_ms: 100 }
    }

    fn id(i: u32) -> RequestId {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&i.to_le_bytes());
        RequestId(b)
    }

    fn response(i: u32) -> Delivery {
        let r = Response {
            request_id: id(i),
            body: Vec::new(),
            server: key(9),
            signature: Signature([0; 64]),
            path: Default::default(),
        };
        Delivery::Response { request_id: id(i), response: Box::new(r) }
    }

    fn counts(v: &OutcomesView, servers: bool, k: &str, w: &str) -> Counts {
        let list = if servers { &v.servers } else { &v.edges };
        list.iter().find(|o| o.key == k).unwrap_or_else(|| panic!("{k} not in {v:?}")).windows[w].clone()
    }

    #[test]
    fn a_known_mix_is_counted_exactly_per_server_edge_and_window_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut rec = Recorder::open(dir.path(), None);
        let t0 = 10 * HOUR_MS;
        // 5 on time, 3 late (by 50, 200, 1000 ms), 2 notices on channel 2,
        // 1 refused below (busy, channel 2), 1 refused by the first hop, all
        // to server 9 over channels 1 -> 2. A second server gets 1 on time.
        let bound = 500;
        let r = route(&[1, 2], 9);
        for i in 0..12 {
            rec.sent(id(i), &r, bound, t0);
        }
        for i in 0..5 {
            rec.delivered(&response(i), t0 + bound);
        }
        for (i, late) in [(5, 50), (6, 200), (7, 1000)] {
            rec.delivered(&response(i), t0 + bound + late);
        }
        // A second response to an ended request is not counted again.
        rec.delivered(&response(0), t0 + 5 * bound);
        for i in 8..10 {
            let notice = SeveranceNotice {
                request_id: id(i),
                channel: ChannelId(2),
                tx_hash: Hash32([0; 32]),
                severer: key(50),
                signature: Signature([0; 64]),
            };
            rec.delivered(&Delivery::Notice { request_id: id(i), notice }, t0 + 100);
        }
        let refused = RefusedBelow { request_id: id(10), reason: Refusal::Busy, channel: ChannelId(2) };
        rec.delivered(&Delivery::Refused { request_id: id(10), refused }, t0 + 10);
        rec.first_hop_refused(id(11), ChannelId(1), "not_sent", t0 + 10);
        rec.sent(id(20), &route(&[3], 7), bound, t0);
        rec.delivered(&response(20), t0 + 1);
        rec.overdue(ChannelId(2), t0 + 20);
        // Acks and late payments are no outcomes; unknown requests neither.
        rec.delivered(&Delivery::Acked { request_id: id(30) }, t0);
        rec.delivered(&response(31), t0);

        let now = t0 + 2000;
        let v = rec.reader().view(now);
        let s = counts(&v, true, &key(9).to_hex(), "5m");
        assert_eq!((s.on_time, s.late, s.late_ms_total, s.late_ms_max, s.notices), (5, 3, 1250, 1000, 2));
        assert_eq!(s.refused, BTreeMap::from([("busy".into(), 1), ("not_sent".into(), 1)]));
        assert_eq!(s.ended(), 12);
        assert_eq!(s.overdue, 0);
        let e1 = counts(&v, false, "1", "5m");
        assert_eq!((e1.on_time, e1.late, e1.notices, e1.overdue), (5, 3, 0, 0));
        assert_eq!(e1.refused, BTreeMap::from([("not_sent".into(), 1)]));
        let e2 = counts(&v, false, "2", "5m");
        assert_eq!((e2.on_time, e2.late, e2.notices, e2.overdue), (5, 3, 2, 1));
        assert_eq!(e2.refused, BTreeMap::from([("busy".into(), 1)]));
        // Ranked by responses within bound: server 9 (5) before server 7 (1).
        assert_eq!(v.servers[0].key, key(9).to_hex());
        assert_eq!(v.servers[1].key, key(7).to_hex());
        assert_eq!(v.pending, 0);

        // Windows slide: 10 minutes later the 5-minute window is empty, the
        // hour and the day still hold everything.
        let later = rec.reader().view(t0 + 10 * MINUTE_MS);
        assert_eq!(counts(&later, true, &key(9).to_hex(), "5m").ended(), 0);
        assert_eq!(counts(&later, true, &key(9).to_hex(), "1h").ended(), 12);
        assert_eq!(counts(&later, true, &key(9).to_hex(), "24h").ended(), 12);
        // Two hours on, only the day; 25 hours on, only the totals.
        let h2 = rec.reader().view(t0 + 2 * HOUR_MS);
        assert_eq!(counts(&h2, true, &key(9).to_hex(), "1h").ended(), 0);
        assert_eq!(counts(&h2, true, &key(9).to_hex(), "24h").ended(), 12);
        let d1 = rec.reader().view(t0 + 25 * HOUR_MS);
        assert_eq!(counts(&d1, true, &key(9).to_hex(), "24h").ended(), 0);
        assert_eq!(counts(&d1, true, &key(9).to_hex(), "all").ended(), 12);

        // Saved and read back: the same view.
        rec.save().unwrap();
        let again = Recorder::open(dir.path(), None);
        assert_eq!(again.reader().view(now), rec.reader().view(now));
    }

    #[test]
    fn keys_and_pending_requests_stay_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut rec = Recorder::open(dir.path(), None);
        for i in 0..(MAX_KEYS as u64 + 10) {
            rec.overdue(ChannelId(i), 1000 + i);
        }
        let v = rec.reader().view(2000);
        assert_eq!(v.edges.len(), MAX_KEYS);
        // The least recently used went first.
        assert!(!v.edges.iter().any(|o| o.key == "0"));
        for i in 0..(MAX_PENDING as u32 + 5) {
            rec.sent(id(i), &route(&[1], 9), 10, 0);
        }
        assert_eq!(rec.reader().view(0).pending, MAX_PENDING);
        // The oldest was forgotten: its response counts nothing.
        rec.delivered(&response(0), 1);
        assert!(rec.reader().view(1).servers.is_empty());
        rec.delivered(&response(MAX_PENDING as u32), 1);
        assert_eq!(counts(&rec.reader().view(1), true, &key(9).to_hex(), "all").on_time, 1);
    }

    #[test]
    fn a_corrupt_or_oversized_file_is_set_aside_and_the_record_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), b"{not json").unwrap();
        let rec = Recorder::open(dir.path(), None);
        assert!(rec.reader().view(0).edges.is_empty());
        assert!(dir.path().join("outcomes.json.bad").exists());
        assert!(load(&dir.path().join(FILE)).unwrap().edges.is_empty());
    }
}
