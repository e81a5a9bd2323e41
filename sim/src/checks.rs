//! The invariant checks of a run (DESIGN §1): every acknowledged request
//! ends in exactly one terminal outcome (response or notice); while it is
//! late its requester has been paid late fees for the lateness (less a
//! tolerance, see `Scenario::check_tolerance_ms`); it is resolved within
//! `max_late_ms` of its bound; money is conserved on chain and no channel
//! shows more money than its deposits. Each violation is reported with the
//! virtual time and the request or channel that broke it.

use std::io::Write;

use por_core::protocol::late_fee;
use por_core::{Amount, ChannelId, RequestId};

use crate::report::Violation;
use crate::sim::{Ev, Sim, short};

/// What the simulator remembers of a request for the invariant checks.
pub(crate) struct Track {
    pub(crate) from: u32,
    pub(crate) to: u32,
    pub(crate) bound_at: u64,
    pub(crate) limit_at: u64,
    pub(crate) tol_ms: u64,
    pub(crate) acked: bool,
    pub(crate) late: Amount,
    pub(crate) attempt: u32,
}

impl Sim {
    /// A terminal outcome at the requester: check the guarantee, count it,
    /// retry after a notice.
    pub(crate) fn terminal(&mut self, n: u32, id: RequestId, response: bool) {
        let Some(t) = self.tracks.remove(&id) else {
            return self.violation("second_outcome", Some(id), format!("node {n}: a second terminal outcome"));
        };
        let late = self.now > t.bound_at;
        let r = &mut self.stats.requests;
        match (response, late) {
            (true, false) => r.response_in_bound += 1,
            (true, true) => r.response_late += 1,
            (false, false) => r.notice_in_bound += 1,
            (false, true) => r.notice_late += 1,
        }
        if !t.acked {
            r.unacked_resolved += 1;
        }
        let class = self.nodes[t.to as usize].class.clone();
        self.stats.outcomes_by_class.entry(class).or_default()[if response { 0 } else { 1 }] += 1;
        trace_line!(
            self,
            r#"{{"t":{},"ev":"{}","node":{},"req":"{}","late_ms":{},"late_fees":"{}"}}"#,
            self.now,
            if response { "response" } else { "notice" },
            n,
            short(&id),
            self.now.saturating_sub(t.bound_at),
            t.late
        );
        if t.acked {
            self.check_late(&t, id, "at its outcome");
            if self.now > t.limit_at {
                let d = format!("outcome {} ms after the bound, past max_late_ms", self.now - t.bound_at);
                self.violation("no_outcome", Some(id), d);
            }
        }
        if !response && t.attempt < self.sc.workload.retries {
            self.push(self.now, 2, Ev::Retry { from: t.from, to: t.to, attempt: t.attempt + 1 });
        } else if response && t.attempt > 0 {
            self.stats.requests.retry_succeeded += 1;
        }
    }

    /// Late fees received must cover the lateness so far, less the requester's
    /// own tolerance (grace plus one sync).
    pub(crate) fn check_late(&mut self, t: &Track, id: RequestId, when: &str) {
        let cfg = self.nodes[t.from as usize].engine.config();
        let lateness = self.now.saturating_sub(t.bound_at + t.tol_ms);
        let need = late_fee(cfg.late_fee_per_sec, lateness, cfg.max_late_ms);
        if t.late < need {
            let d = format!("{when}: {} ms late, late fees {} < {}", self.now - t.bound_at, t.late, need);
            self.violation("late_fees", Some(id), d);
        }
    }

    pub(crate) fn violation(&mut self, kind: &str, id: Option<RequestId>, detail: String) {
        self.stats.violation_count += 1;
        if self.stats.violations.len() < 100 {
            self.stats.violations.push(Violation {
                t: self.now,
                kind: kind.into(),
                request: id.map(|i| short(&i)),
                detail,
            });
        }
    }

    /// End-of-run checks: open acknowledged requests must still be within
    /// `max_late_ms` of their bound and be paid for their lateness; no channel
    /// may show more money than its deposits.
    pub fn finish(&mut self) {
        let mut open: Vec<(RequestId, Track)> = self.tracks.drain().collect();
        open.sort_by_key(|(id, _)| *id);
        for (id, t) in &open {
            let r = &mut self.stats.requests;
            if !t.acked {
                r.unacked_open += 1;
                continue;
            }
            if self.now > t.bound_at {
                r.open_late += 1;
                let class = self.nodes[t.to as usize].class.clone();
                self.stats.outcomes_by_class.entry(class).or_default()[2] += 1;
            } else {
                r.open_in_bound += 1;
            }
            if self.offline(t.from) {
                continue;
            }
            self.check_late(t, *id, "at the end of the run");
            if self.now > t.limit_at {
                let d = format!("no response or notice {} ms after the bound", self.now - t.bound_at);
                self.violation("no_outcome", Some(*id), d);
            }
        }
        let mut in_flight: Amount = 0;
        for (i, ch) in self.chans.iter().enumerate() {
            let c = ChannelId(i as u64);
            if !self.chain.is_open(c) {
                continue;
            }
            let bal = |x: u32| self.nodes[x as usize].engine.ledger(c).map_or(0, |l| l.balance());
            let sum = bal(ch.a) + bal(ch.b);
            let dep = 2 * self.sc.topology.deposit;
            if sum > dep {
                self.stats.violation_count += 1;
                self.stats.violations.push(Violation {
                    t: self.now,
                    kind: "money".into(),
                    request: None,
                    detail: format!("channel {i}: balances {sum} exceed deposits {dep}"),
                });
            }
            in_flight += dep - sum.min(dep);
        }
        self.stats.money_in_flight = in_flight;
    }
}
