//! The counters of a run and the violations found, as plain data: the
//! event loop ([`crate::sim`]) fills them, the summary ([`crate::report`])
//! prints them. This module imports neither.

use std::collections::BTreeMap;

use por_core::{Amount, RequestId};
use serde::Serialize;

use crate::chain::PartitionReport;

/// Requests by outcome. A *request* is what a client asked for (an arrival
/// or a fixed request), driven by the core's [`Requester`]
/// (`por_core::requester`); an *attempt* is one try of it over one route,
/// with its own request id. The outcome counts (`response_in_bound` to
/// `unacked_resolved`) are per attempt: they are what the engine delivered
/// for each id, which the invariants check. `outcome_*`, `failed`,
/// `unroutable` and `running_at_end` are per request.
///
/// [`Requester`]: por_core::Requester
#[derive(Debug, Clone, Default, Serialize)]
pub struct RequestCounts {
    /// Requests started (at an online client).
    pub started: u64,
    /// Attempts sent (first attempts and retries).
    pub sent: u64,
    /// Attempts acknowledged by the first hop.
    pub acked: u64,
    /// Attempts answered by a response within the bound.
    pub response_in_bound: u64,
    /// Attempts answered by a response after the bound (late fees were owed).
    pub response_late: u64,
    /// Attempts ended by a severance notice within the bound.
    pub notice_in_bound: u64,
    /// Attempts ended by a notice after the bound.
    pub notice_late: u64,
    /// Attempts still open at the end, within the bound.
    pub open_in_bound: u64,
    /// Attempts still open at the end, past the bound (outcome 3: late fees).
    pub open_late: u64,
    /// Attempts never acknowledged and still open (no guarantee applies).
    pub unacked_open: u64,
    /// Attempts resolved without an ack having arrived.
    pub unacked_resolved: u64,
    /// Attempts sent after an earlier attempt of the same request failed
    /// (a notice, a refusal, no ack).
    pub retries: u64,
    /// Requests answered by an attempt other than their first.
    pub retry_succeeded: u64,
    /// Attempts the requester gave up on: no ack within the first hop's
    /// round trip plus `workload.ack_grace_ms`.
    pub no_ack: u64,
    /// Attempts the first hop refused (its receipt said why).
    pub refused: u64,
    /// Attempts the client could not send (it cannot pay on the first
    /// channel, or price the route).
    pub send_failed: u64,
    /// Requests that ended with a response.
    pub outcome_response: u64,
    /// Requests that ended with a notice (no attempt left did better).
    pub outcome_notice: u64,
    /// Requests that ended pending (acknowledged, unanswered at
    /// `workload.request_timeout_ms`).
    pub outcome_pending: u64,
    /// Requests whose every attempt failed before an ack (or no route was
    /// left for a retry and no notice came).
    pub failed: u64,
    /// Requests with no route within the bound for their first attempt.
    pub unroutable: u64,
    /// Requests still running at the end.
    pub running_at_end: u64,
    /// Requests not started: the client was offline.
    pub client_offline: u64,
}

/// One broken invariant, with the event that broke it.
#[derive(Debug, Clone, Serialize)]
pub struct Violation {
    /// Virtual time.
    pub t: u64,
    /// `"late_fees"`, `"no_outcome"`, `"second_outcome"` or `"money"`.
    pub kind: String,
    /// The request, if one is concerned.
    pub request: Option<String>,
    /// What happened.
    pub detail: String,
}

/// Counters of a run.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Events processed.
    pub events: u64,
    /// Messages sent.
    pub messages: u64,
    /// Messages lost.
    pub lost: u64,
    /// Messages to offline nodes.
    pub dropped_offline: u64,
    /// Requests.
    pub requests: RequestCounts,
    /// Deadlines that passed unanswered (all hops).
    pub deadlines_passed: u64,
    /// Late fees paid, all nodes.
    pub late_paid: Amount,
    /// Late fees received by requesters.
    pub late_to_requesters: Amount,
    /// Late fees paid per node.
    pub late_paid_by: BTreeMap<u32, Amount>,
    /// Late fees received per node.
    pub late_received_by: BTreeMap<u32, Amount>,
    /// Late fees received by node, as the requester of the late request
    /// (part of `late_received_by`).
    pub late_as_requester_by: BTreeMap<u32, Amount>,
    /// Late fees paid per second of virtual time.
    pub late_series: BTreeMap<u64, Amount>,
    /// Severances by reason.
    pub severances: BTreeMap<String, u64>,
    /// Severances in all.
    pub severances_total: u64,
    /// Severances that failed on chain (the other end cut first).
    pub sever_failed: u64,
    /// Cooperative closes (by `close_dodge` nodes).
    pub cooperative_closes: u64,
    /// Partitions.
    pub partitions: Vec<PartitionReport>,
    /// Channels opened on chain by nodes stranded on the small side of a
    /// recorded split, into the larger side (the node agent's reconnect).
    pub reconnections: u64,
    /// Splits that were settled with nobody partitioned (the ends had
    /// reconnected, or the sides had become equal).
    pub splits_resolved: u64,
    /// Refused messages by reason.
    pub refused: BTreeMap<String, u64>,
    /// Late payments a node could not cover.
    pub cannot_pay: u64,
    /// Money in flight at the end (vouchers sent but not received).
    pub money_in_flight: Amount,
    /// The first 100 violations.
    pub violations: Vec<Violation>,
    /// All violations.
    pub violation_count: u64,
    /// Outcomes (response, notice, open past the bound) by the class of the
    /// server asked.
    pub outcomes_by_class: BTreeMap<String, [u64; 3]>,
    /// Requests started and requests answered by a response, by the class
    /// of the client.
    pub requests_by_client_class: BTreeMap<String, [u64; 2]>,
    /// Requests refused, by the class of the neighbour that sent them and
    /// the reason.
    pub refused_to: BTreeMap<String, BTreeMap<String, u64>>,
    /// Attempts a lying requester sent with a lie, and how many of them its
    /// first hop refused with the reason the lie calls for.
    pub lies: [u64; 2],
    /// Per client: what it paid for its attempts the first hop
    /// acknowledged (counted at the ack).
    pub spent_by: BTreeMap<u32, Amount>,
    /// Per client: what it paid for attempts neither acknowledged nor
    /// refused yet (counted at the send, moved at the ack or the refusal).
    pub unacked_by: BTreeMap<u32, Amount>,
    /// Each node's books at the end of the run.
    pub books: Vec<NodeBooks>,
    /// The first 100 broken economic invariants.
    pub econ_violations: Vec<EconViolation>,
    /// All broken economic invariants, by kind.
    pub econ_by_kind: BTreeMap<String, u64>,
}

/// One node's money over a run, split by where it came from and went
/// (DESIGN §2.3, §2.6, §2.8). Credit from refused requests (§2.10) counts
/// as the payer's money on open channels, where the payer's next request
/// spends it. The identity the split keeps:
/// `net = earned − spent − unacked + late_in − late_out − cut_penalties −
/// cut_against − slashed + reimbursed`; `earned` is what is left of it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeBooks {
    /// Node index.
    pub node: u32,
    /// Name.
    pub name: String,
    /// Behaviour class.
    pub class: String,
    /// `"client"`, `"server"` or `"relay"`.
    pub role: String,
    /// Money at the end less money at the start (stake, chain balance and
    /// channel books; credit counted as the payer's).
    #[serde(serialize_with = "decimal")]
    pub net: i128,
    /// Fees paid for its own attempts that the first hop acknowledged (the
    /// service it bought).
    #[serde(with = "por_core::bytes::amount_serde")]
    pub spent: Amount,
    /// Fees paid for its own attempts that were neither acknowledged nor
    /// refused (a first hop that kept the voucher and stayed silent).
    #[serde(with = "por_core::bytes::amount_serde")]
    pub unacked: Amount,
    /// Fees earned as relay and server: the rest of `net`.
    #[serde(serialize_with = "decimal")]
    pub earned: i128,
    /// Late fees received.
    #[serde(with = "por_core::bytes::amount_serde")]
    pub late_in: Amount,
    /// Late fees paid.
    #[serde(with = "por_core::bytes::amount_serde")]
    pub late_out: Amount,
    /// Of `late_in`, what it received as the requester of late requests:
    /// compensation for its own lateness, not earnings.
    #[serde(with = "por_core::bytes::amount_serde")]
    pub late_as_requester: Amount,
    /// Half penalties of the cuts it made.
    #[serde(with = "por_core::bytes::amount_serde")]
    pub cut_penalties: Amount,
    /// Half penalties of cuts its neighbours made.
    #[serde(with = "por_core::bytes::amount_serde")]
    pub cut_against: Amount,
    /// Stake slashed in partitions.
    #[serde(with = "por_core::bytes::amount_serde")]
    pub slashed: Amount,
    /// Half penalties paid back to it.
    #[serde(with = "por_core::bytes::amount_serde")]
    pub reimbursed: Amount,
    /// Credit it holds for its neighbours (their refused requests' pay) on
    /// open channels.
    #[serde(with = "por_core::bytes::amount_serde")]
    pub credit_held: Amount,
    /// Credit its neighbours hold for it on open channels.
    #[serde(with = "por_core::bytes::amount_serde")]
    pub credit_out: Amount,
    /// Ended on the small side of a partition.
    pub partitioned: bool,
    /// What it lost beyond the service it bought: `−(net + spent)`.
    #[serde(serialize_with = "decimal")]
    pub loss: i128,
    /// What it lost beyond what the protocol prices in: `loss` less the half
    /// penalties of its own cuts and the late fees it paid beyond those it
    /// received (never below zero).
    #[serde(serialize_with = "decimal")]
    pub beyond: i128,
    /// The other ends of its channels that were cut (not printed).
    #[serde(skip)]
    pub neighbours: Vec<u32>,
}

/// One broken economic invariant (see `checks`).
#[derive(Debug, Clone, Serialize)]
pub struct EconViolation {
    /// `"honest_loss"`, `"relay_loss"` or `"attacker_gain"`.
    pub kind: String,
    /// The node concerned.
    pub node: String,
    /// What happened.
    pub detail: String,
}

fn decimal<S: serde::Serializer>(v: &i128, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl Stats {
    /// Records a broken economic invariant (the first 100 are kept, all
    /// are counted).
    pub fn econ_violation(&mut self, kind: &str, node: &str, detail: String) {
        *self.econ_by_kind.entry(kind.into()).or_default() += 1;
        if self.econ_violations.len() < 100 {
            self.econ_violations.push(EconViolation { kind: kind.into(), node: node.into(), detail });
        }
    }

    /// Records a broken invariant (the first 100 are kept, all are counted).
    pub fn violation(&mut self, t: u64, kind: &str, id: Option<RequestId>, detail: String) {
        self.violation_count += 1;
        if self.violations.len() < 100 {
            self.violations.push(Violation { t, kind: kind.into(), request: id.map(|i| short(&i)), detail });
        }
    }
}

/// The first 8 bytes of a request id, in hex.
pub fn short(id: &RequestId) -> String {
    id.0[..8].iter().map(|x| format!("{x:02x}")).collect()
}
