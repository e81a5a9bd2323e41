//! The node's Prometheus metrics: a struct fed by the event loop, registered
//! in a `Registry` the caller passes in (no globals, so several nodes can run
//! in one process). Every metric has help text; amounts are in yocto, times
//! in seconds.

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

/// Label: one value.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// The value.
    pub kind: String,
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
    pub outcomes: Family<KindLabel, Counter>,
    /// Requests served by a local service, by status.
    pub served: Family<KindLabel, Counter>,
    /// Messages by direction and kind.
    pub messages: Family<MessageLabels, Counter>,
    /// Incoming messages refused by the engine, by reason (the stable
    /// codes of [`por_core::protocol::Refusal::code`]).
    pub refusals: Family<KindLabel, Counter>,
    /// Requests of ours their first hop refused, by its reason's code
    /// (`not_sent` when it gave none: unreachable).
    pub refused_by_first_hop: Family<KindLabel, Counter>,
    /// Requests refused below a node that took them, by reason's code: at a
    /// relay, those its next hop refused (the refusal went up); at the
    /// requester, its own that a node past the first hop refused.
    pub refused_below: Family<KindLabel, Counter>,
    /// Late fees paid upstream, yocto.
    pub late_fees_paid: FloatCounter,
    /// Late fees received from downstream, yocto.
    pub late_fees_received: FloatCounter,
    /// Downstream deadlines that passed unanswered.
    pub overdue: Counter,
    /// Syncs not receipted by the neighbour.
    pub syncs_missed: Counter,
    /// Channels this node cut, by reason.
    pub severances: Family<KindLabel, Counter>,
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
}

impl ChainMetrics {
    /// Registers the chain metrics in `registry` (prefix `por_chain`).
    pub fn new(registry: &mut Registry) -> Self {
        let m = ChainMetrics::default();
        registry.sub_registry_with_prefix("por_chain").register(
            "calls",
            "Contract calls and views this node made, by method and result",
            m.calls.clone(),
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
            "Outcomes of requests this node originated (response, notice)",
            m.outcomes.clone(),
        );
        r.register("requests_served", "Requests answered by a local service, by status", m.served.clone());
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

    /// Bumps a labelled counter.
    pub fn inc(family: &Family<KindLabel, Counter>, kind: impl Into<String>) {
        family.get_or_create(&KindLabel { kind: kind.into() }).inc();
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
        assert!(text.contains("por_request_outcomes_total{kind=\"response\"} 1"), "{text}");
        assert!(text.contains("por_late_fees_paid_yocto_total 1.5e21"), "{text}");
        assert!(text.contains("por_channel_spendable_yocto{channel=\"7\"}"), "{text}");
        assert!(text.contains("# TYPE por_paid_yocto counter"), "{text}");
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
