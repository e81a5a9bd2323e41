//! The node's Prometheus metrics: a struct fed by the event loop, registered
//! in a `Registry` the caller passes in (no globals, so several nodes can run
//! in one process). Every metric has help text; amounts are in yocto, times
//! in seconds.
//!
//! Labels: one name per meaning across every family, values snake_case (or
//! numbers), so one PromQL `by (reason)` reads the same everywhere:
//!
//! | label | meaning | values |
//! |---|---|---|
//! | `direction` | a message's direction | `in`, `out` |
//! | `kind` | a wire message's kind | `request`, `ack`, `response`, `notice`, `sync`, `sync_ack` |
//! | `outcome` | how a request of ours ended (or a late payment for it) | `response`, `notice`, `refused`, `late_payment` |
//! | `status` | a service reply's status | `200`, `404`, `500`, `504`, … |
//! | `reason` | why a message was refused or a channel cut | refusal codes ([`por_core::protocol::Refusal::code`]), severance reasons (`missed_syncs`, `overdue`, `max_late`, `withheld_late_fee`, `false_notice`, `manual`) |
//! | `channel` | a channel id | numbers |
//! | `method`, `result` | a chain call and how it ended | contract methods; `ok`, `error` |
//! | `window` | a sliding window of the outcome record | `5m`, `1h`, `24h` |
//! | `server` | a server's node key (at most [`crate::outcomes::MAX_SERVER_SERIES`]) | 64 hex characters |
//!
//! Per-channel series (`channel`) exist while the channel is in the graph:
//! they are removed when it leaves ([`Metrics::remove_channel`]), so a
//! node's series do not grow with every channel it ever had.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// Label: a message kind and its direction.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageLabels {
    /// `in` or `out`.
    pub direction: &'static str,
    /// The wire kind (`request`, `ack`, `response`, `notice`, `sync`, `sync_ack`).
    pub kind: &'static str,
}

/// Label: how a request of ours ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `response`, `notice`, `refused` or `late_payment`.
    pub outcome: String,
}

/// Label: a service reply's status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    /// The status code, as a number.
    pub status: String,
}

/// Label: why something was refused or cut (snake_case codes).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The code.
    pub reason: String,
}

/// A label set of one label, made from its value ([`Metrics::inc`]).
pub trait OneLabel: EncodeLabelSet + Clone + std::hash::Hash + Eq + Send + Sync + std::fmt::Debug + 'static {
    /// The label set whose one value is `value`.
    fn of(value: String) -> Self;
}

impl OneLabel for OutcomeLabel {
    fn of(outcome: String) -> Self {
        OutcomeLabel { outcome }
    }
}

impl OneLabel for StatusLabel {
    fn of(status: String) -> Self {
        StatusLabel { status }
    }
}

impl OneLabel for ReasonLabel {
    fn of(reason: String) -> Self {
        ReasonLabel { reason }
    }
}

/// A severance reason as its snake_case code (its name on the wire and in
/// JSON).
pub fn sever_reason_code(reason: por_core::protocol::SeverReason) -> String {
    match serde_json::to_value(reason) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{reason:?}"),
    }
}

/// Label: a channel.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabel {
    /// The channel id.
    pub channel: u64,
}

type FloatCounter = Counter<f64, AtomicU64>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// The node's metrics.
#[derive(Clone)]
pub struct Metrics {
    /// Requests this node originated.
    pub requests_sent: Counter,
    /// Outcomes of requests this node originated, by outcome.
    pub outcomes: Family<OutcomeLabel, Counter>,
    /// Requests served by a local service, by status.
    pub served: Family<StatusLabel, Counter>,
    /// Messages by direction and kind.
    pub messages: Family<MessageLabels, Counter>,
    /// Incoming messages refused by the engine, by reason (the stable
    /// codes of [`por_core::protocol::Refusal::code`]).
    pub refusals: Family<ReasonLabel, Counter>,
    /// Requests of ours their first hop refused, by its reason's code
    /// (`not_sent` when it gave none: unreachable).
    pub refused_by_first_hop: Family<ReasonLabel, Counter>,
    /// Requests refused below a node that took them, by reason's code: at a
    /// relay, those its next hop refused (the refusal went up); at the
    /// requester, its own that a node past the first hop refused.
    pub refused_below: Family<ReasonLabel, Counter>,
    /// Late fees paid upstream, yocto.
    pub late_fees_paid: FloatCounter,
    /// Late fees received from downstream, yocto.
    pub late_fees_received: FloatCounter,
    /// Downstream deadlines that passed unanswered.
    pub overdue: Counter,
    /// Syncs not receipted by the neighbour.
    pub syncs_missed: Counter,
    /// Channels this node cut, by reason ([`sever_reason_code`]).
    pub severances: Family<ReasonLabel, Counter>,
    /// Severance notices sent upstream.
    pub notices_sent: Counter,
    /// Severance notices received from downstream.
    pub notices_received: Counter,
    /// Connected peers.
    pub peers: Gauge,
    /// Requests the engine tracks.
    pub in_flight: Gauge,
    /// What this node can still spend per channel, yocto.
    pub channel_spendable: Family<ChannelLabel, FloatGauge>,
    /// What this node has received per channel, yocto.
    pub channel_received: Family<ChannelLabel, FloatGauge>,
    /// Time from sending a request to its response, seconds.
    pub response_latency: Histogram,
    /// Time to the response as a fraction of the request's bound.
    pub response_bound_ratio: Histogram,
    /// Requests per paid frame received (one voucher per frame: how much
    /// wire v2's batching saves, DESIGN §2.12).
    pub frame_requests: Histogram,
    /// Every payment this node made on its channels (fees and late fees).
    pub paid: FloatCounter,
    /// Every payment this node received on its channels.
    pub received: FloatCounter,
}

/// Labels of a chain call.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChainCallLabels {
    /// The contract method or view.
    pub method: String,
    /// `ok` or `error`.
    pub result: &'static str,
}

/// Metrics of the node's chain client: calls and their failures.
#[derive(Debug, Clone, Default)]
pub struct ChainMetrics {
    /// Calls by method and result.
    pub calls: Family<ChainCallLabels, Counter>,
    /// Seconds since the chain agent last completed a poll (graph, own
    /// channels, partition check, splits); set at every poll, so it grows
    /// while polls fail.
    pub agent_lag: Gauge<f64, AtomicU64>,
    /// The contract's `graph_version` the agent's copy of the graph reflects.
    pub agent_graph_version: Gauge,
}

impl ChainMetrics {
    /// Registers the chain metrics in `registry` (prefix `por_chain`).
    pub fn new(registry: &mut Registry) -> Self {
        let m = ChainMetrics::default();
        let r = registry.sub_registry_with_prefix("por_chain");
        r.register("calls", "Contract calls and views this node made, by method and result", m.calls.clone());
        r.register_with_unit(
            "agent_lag",
            "Time since the chain agent last completed a poll (it grows while polls fail)",
            Unit::Seconds,
            m.agent_lag.clone(),
        );
        r.register(
            "agent_graph_version",
            "The contract graph_version the chain agent's copy of the graph reflects",
            m.agent_graph_version.clone(),
        );
        m
    }

    /// Counts one call.
    pub fn record(&self, method: &str, ok: bool) {
        self.calls
            .get_or_create(&ChainCallLabels { method: method.to_string(), result: if ok { "ok" } else { "error" } })
            .inc();
    }
}

impl Metrics {
    /// Creates the metrics and registers them under `por_` in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Metrics {
            requests_sent: Counter::default(),
            outcomes: Family::default(),
            served: Family::default(),
            messages: Family::default(),
            refusals: Family::default(),
            refused_by_first_hop: Family::default(),
            refused_below: Family::default(),
            late_fees_paid: FloatCounter::default(),
            late_fees_received: FloatCounter::default(),
            overdue: Counter::default(),
            syncs_missed: Counter::default(),
            severances: Family::default(),
            notices_sent: Counter::default(),
            notices_received: Counter::default(),
            peers: Gauge::default(),
            in_flight: Gauge::default(),
            channel_spendable: Family::default(),
            channel_received: Family::default(),
            response_latency: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            response_bound_ratio: Histogram::new([0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.25, 1.5, 2.0, 4.0]),
            frame_requests: Histogram::new(exponential_buckets(1.0, 2.0, 8)),
            paid: FloatCounter::default(),
            received: FloatCounter::default(),
        };
        let r = registry.sub_registry_with_prefix("por");
        r.register(
            "build",
            "This node's build: the por-node version (always 1)",
            prometheus_client::metrics::info::Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        r.register("requests_sent", "Requests this node originated", m.requests_sent.clone());
        r.register(
            "request_outcomes",
            "Outcomes of requests this node originated (response, notice, refused, late_payment)",
            m.outcomes.clone(),
        );
        r.register("requests_served", "Requests answered by a local service, by status", m.served.clone());
        r.register(
            "frame_requests",
            "Requests per paid frame received from a neighbour (each frame carries one voucher)",
            m.frame_requests.clone(),
        );
        r.register("messages", "PoR messages by direction and kind", m.messages.clone());
        r.register("refusals", "Incoming messages the engine refused, by reason", m.refusals.clone());
        r.register(
            "first_hop_refusals",
            "Requests of this node its first hop refused, by reason",
            m.refused_by_first_hop.clone(),
        );
        r.register(
            "refused_below",
            "Requests refused below a node that took them (relayed ones its next hop refused; its own refused past \
             the first hop), by reason",
            m.refused_below.clone(),
        );
        r.register_with_unit(
            "late_fees_paid",
            "Late fees paid upstream",
            Unit::Other("yocto".into()),
            m.late_fees_paid.clone(),
        );
        r.register_with_unit(
            "late_fees_received",
            "Late fees received from downstream",
            Unit::Other("yocto".into()),
            m.late_fees_received.clone(),
        );
        r.register("overdue_requests", "Downstream deadlines that passed unanswered", m.overdue.clone());
        r.register("syncs_missed", "Syncs the neighbour did not receipt", m.syncs_missed.clone());
        r.register("severances", "Channels this node cut, by reason", m.severances.clone());
        r.register("notices_sent", "Severance notices sent upstream", m.notices_sent.clone());
        r.register("notices_received", "Severance notices received from downstream", m.notices_received.clone());
        r.register("peers", "Connected peers", m.peers.clone());
        r.register("in_flight_requests", "Requests the protocol engine tracks", m.in_flight.clone());
        r.register_with_unit(
            "channel_spendable",
            "What this node can still spend on a channel",
            Unit::Other("yocto".into()),
            m.channel_spendable.clone(),
        );
        r.register_with_unit(
            "channel_received",
            "What this node has received on a channel",
            Unit::Other("yocto".into()),
            m.channel_received.clone(),
        );
        r.register_with_unit(
            "response_latency",
            "Time from sending a request to its verified response",
            Unit::Seconds,
            m.response_latency.clone(),
        );
        r.register(
            "response_bound_ratio",
            "Time to the response as a fraction of the request's bound",
            m.response_bound_ratio.clone(),
        );
        r.register_with_unit(
            "paid",
            "Payments this node made on its channels (fees passed on and paid, late fees)",
            Unit::Other("yocto".into()),
            m.paid.clone(),
        );
        r.register_with_unit(
            "received",
            "Payments this node received on its channels (fees, late fees)",
            Unit::Other("yocto".into()),
            m.received.clone(),
        );
        m
    }

    /// Counts a message.
    pub fn message(&self, direction: &'static str, kind: &'static str) {
        self.messages.get_or_create(&MessageLabels { direction, kind }).inc();
    }

    /// Bumps a counter of a family with one label.
    pub fn inc<L: OneLabel>(family: &Family<L, Counter>, value: impl Into<String>) {
        family.get_or_create(&L::of(value.into())).inc();
    }

    /// Removes the series of `channel` (it left the graph).
    pub fn remove_channel(&self, channel: u64) {
        let l = ChannelLabel { channel };
        self.channel_spendable.remove(&l);
        self.channel_received.remove(&l);
    }
}

/// Labels of the outcome record's window counts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WindowLabels {
    /// `5m`, `1h` or `24h`.
    pub window: &'static str,
    /// `on_time`, `late`, `notice` or `refused`.
    pub outcome: &'static str,
}

/// Labels of a server's series (at most
/// [`crate::outcomes::MAX_SERVER_SERIES`] servers have one).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerWindowLabels {
    /// The server's node key, hex.
    pub server: String,
    /// `5m`, `1h` or `24h`.
    pub window: &'static str,
}

/// The outcome record's metrics ([`crate::outcomes`]), set every few
/// seconds from the record. Bounded: 12 series of window counts, one
/// gauge, and a ratio per window for at most
/// [`crate::outcomes::MAX_SERVER_SERIES`] servers (the most used in the
/// last hour; a server that drops out of them loses its series).
#[derive(Debug, Clone, Default)]
pub struct OutcomeMetrics {
    /// Requests of ours that ended in each window, by outcome, over every server.
    pub window: Family<WindowLabels, Gauge>,
    /// Servers in the record.
    pub servers: Gauge,
    /// Per server and window, the share of its ended requests answered
    /// within their bound.
    pub server_on_time: Family<ServerWindowLabels, FloatGauge>,
}

impl OutcomeMetrics {
    /// Registers them in `registry` (prefix `por_observed`).
    pub fn new(registry: &mut Registry) -> Self {
        let m = OutcomeMetrics::default();
        let r = registry.sub_registry_with_prefix("por_observed");
        r.register(
            "requests",
            "Requests of this node that ended in the window (bucketed by minute, 24h by hour), by outcome",
            m.window.clone(),
        );
        r.register("servers", "Servers in this node's outcome record", m.servers.clone());
        r.register(
            "server_on_time_ratio",
            "Share of a server's ended requests answered within their bound, per window (the most used servers)",
            m.server_on_time.clone(),
        );
        m
    }

    /// Sets them from `view`, with series for the `max_servers` servers
    /// most used in the last hour.
    pub fn set(&self, view: &crate::outcomes::OutcomesView, max_servers: usize) {
        for (window, _) in crate::outcomes::WINDOWS {
            let mut sum = [0u64; 4];
            for c in view.servers.iter().filter_map(|s| s.windows.get(window)) {
                for (i, n) in [c.on_time, c.late, c.notices, c.refused_total()].into_iter().enumerate() {
                    sum[i] += n;
                }
            }
            for (outcome, n) in ["on_time", "late", "notice", "refused"].into_iter().zip(sum) {
                self.window.get_or_create(&WindowLabels { window, outcome }).set(n as i64);
            }
        }
        self.servers.set(view.servers.len() as i64);
        let mut used: Vec<_> = view.servers.iter().collect();
        let hour = |o: &crate::outcomes::Observed| o.windows.get("1h").map_or(0, |c| c.ended());
        used.sort_by(|a, b| hour(b).cmp(&hour(a)).then(a.key.cmp(&b.key)));
        self.server_on_time.clear();
        for s in used.into_iter().take(max_servers) {
            for (window, _) in crate::outcomes::WINDOWS {
                if let Some(r) = s.windows.get(window).and_then(|c| c.on_time_ratio()) {
                    self.server_on_time.get_or_create(&ServerWindowLabels { server: s.key.clone(), window }).set(r);
                }
            }
        }
    }
}

/// Renders `registry` in the Prometheus text format.
pub fn render(registry: &Registry) -> String {
    let mut s = String::new();
    prometheus_client::encoding::text::encode(&mut s, registry).expect("writing to a String cannot fail");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_and_renders_with_help() {
        let mut reg = Registry::default();
        let m = Metrics::new(&mut reg);
        m.message("out", "request");
        Metrics::inc(&m.outcomes, "response");
        m.late_fees_paid.inc_by(1.5e21);
        m.channel_spendable.get_or_create(&ChannelLabel { channel: 7 }).set(1e24);
        let text = render(&reg);
        assert!(text.contains("# HELP por_messages PoR messages by direction and kind"), "{text}");
        assert!(text.contains("por_messages_total{direction=\"out\",kind=\"request\"} 1"), "{text}");
        assert!(text.contains("por_request_outcomes_total{outcome=\"response\"} 1"), "{text}");
        assert!(text.contains("por_late_fees_paid_yocto_total 1.5e21"), "{text}");
        assert!(text.contains("por_channel_spendable_yocto{channel=\"7\"}"), "{text}");
        assert!(text.contains("# TYPE por_paid_yocto counter"), "{text}");
    }

    #[test]
    fn one_label_name_per_meaning_and_snake_case_values() {
        use por_core::protocol::{Refusal, SeverReason};
        let mut reg = Registry::default();
        let m = Metrics::new(&mut reg);
        let chain = ChainMetrics::new(&mut reg);
        let rpc = crate::chain::RpcMetrics::new(&mut reg);
        let observed = OutcomeMetrics::new(&mut reg);
        let dir = tempfile::tempdir().unwrap();
        let mut rec = crate::outcomes::Recorder::open(dir.path(), Some(observed.clone()));
        rec.overdue(por_core::ChannelId(1), 1);
        observed.set(&rec.reader().view(1), 2);
        // Every labelled family, each with a value as the event loop gives it.
        m.message("in", "sync_ack");
        for o in ["response", "notice", "refused", "late_payment"] {
            Metrics::inc(&m.outcomes, o);
        }
        Metrics::inc(&m.served, 504.to_string());
        Metrics::inc(&m.refusals, Refusal::TermsMismatch.code());
        Metrics::inc(&m.refused_by_first_hop, Refusal::Busy.code());
        Metrics::inc(&m.refused_below, Refusal::UnknownChannel.code());
        for r in [
            SeverReason::MissedSyncs,
            SeverReason::Overdue,
            SeverReason::MaxLate,
            SeverReason::WithheldLateFee,
            SeverReason::FalseNotice,
            SeverReason::Manual,
        ] {
            Metrics::inc(&m.severances, sever_reason_code(r));
        }
        m.channel_spendable.get_or_create(&ChannelLabel { channel: 3 }).set(1.0);
        m.channel_received.get_or_create(&ChannelLabel { channel: 3 }).set(1.0);
        chain.record("open_channel", false);
        rpc.calls
            .get_or_create(&crate::chain::RpcLabels { endpoint: "http://127.0.0.1:3030".into(), result: "failed" })
            .inc();
        let text = render(&reg);

        // Each label name means one thing, whichever family carries it.
        let meaning: std::collections::BTreeMap<&str, &[&str]> = [
            ("direction", &["por_messages"][..]),
            ("kind", &["por_messages"][..]),
            ("outcome", &["por_request_outcomes", "por_observed_requests"][..]),
            ("window", &["por_observed_requests", "por_observed_server_on_time_ratio"][..]),
            ("server", &["por_observed_server_on_time_ratio"][..]),
            ("status", &["por_requests_served"][..]),
            ("reason", &["por_refusals", "por_first_hop_refusals", "por_refused_below", "por_severances"][..]),
            ("channel", &["por_channel_spendable_yocto", "por_channel_received_yocto"][..]),
            ("method", &["por_chain_calls"][..]),
            ("result", &["por_chain_calls", "por_chain_rpc_calls"][..]),
            ("endpoint", &["por_chain_rpc_calls", "por_chain_rpc_endpoint_in_use"][..]),
            ("version", &["por_build"][..]),
        ]
        .into();
        let mut seen = std::collections::BTreeSet::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((name, rest)) = line.split_once('{') else { continue };
            let family = name.trim_end_matches("_total").trim_end_matches("_info");
            let labels = rest.split('}').next().unwrap();
            for pair in labels.split(',') {
                let (label, value) = pair.split_once('=').unwrap();
                let value = value.trim_matches('"');
                if label == "le" {
                    continue; // a histogram bucket's bound: Prometheus' own label
                }
                let families = meaning.get(label).unwrap_or_else(|| panic!("{line}: label {label} has no meaning"));
                assert!(families.contains(&family), "{line}: {label} is not one of {families:?}'s labels");
                if !["endpoint", "version", "method"].contains(&label) {
                    assert!(
                        !value.is_empty()
                            && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                        "{line}: {label}={value:?} is not snake_case"
                    );
                }
                seen.insert((label.to_string(), value.to_string()));
            }
        }
        assert!(seen.contains(&("reason".into(), "missed_syncs".into())), "{text}");
        assert!(seen.contains(&("reason".into(), "withheld_late_fee".into())), "{text}");
        assert!(seen.contains(&("reason".into(), "terms_mismatch".into())), "{text}");
        assert!(seen.contains(&("outcome".into(), "late_payment".into())), "{text}");
        assert!(seen.contains(&("status".into(), "504".into())), "{text}");
    }

    #[test]
    fn a_channels_series_go_when_it_is_removed() {
        let mut reg = Registry::default();
        let m = Metrics::new(&mut reg);
        for channel in [3, 4] {
            m.channel_spendable.get_or_create(&ChannelLabel { channel }).set(5.0);
            m.channel_received.get_or_create(&ChannelLabel { channel }).set(6.0);
        }
        m.remove_channel(3);
        let text = render(&reg);
        assert!(!text.contains("channel=\"3\""), "{text}");
        assert!(text.contains("por_channel_spendable_yocto{channel=\"4\"} 5"), "{text}");
        assert!(text.contains("por_channel_received_yocto{channel=\"4\"} 6"), "{text}");
    }

    #[test]
    fn chain_calls_are_counted_by_method_and_result() {
        let mut reg = Registry::default();
        let m = ChainMetrics::new(&mut reg);
        m.record("sever", true);
        m.record("sever", false);
        m.record("sever", true);
        let text = render(&reg);
        assert!(text.contains("por_chain_calls_total{method=\"sever\",result=\"ok\"} 2"), "{text}");
        assert!(text.contains("por_chain_calls_total{method=\"sever\",result=\"error\"} 1"), "{text}");
    }
}
