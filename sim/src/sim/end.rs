//! The end of a run: the invariant checks of attempts still open, the
//! channels' books, and the requests still running.

use por_core::{Amount, ChannelId, RequestId};

use super::Sim;
use crate::checks::{Track, overdrawn};

impl Sim {
    /// End-of-run checks: open acknowledged attempts must still be within
    /// `max_late_ms` of their bound and be paid for their lateness; no channel
    /// may show more money than its deposits. Requests still running are
    /// counted.
    pub fn finish(&mut self) {
        let mut open: Vec<(RequestId, Track)> = self.tracks.drain().collect();
        self.by_nonce.clear();
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
            let cfg = self.nodes[t.from as usize].engine.config();
            if let Some(d) = t.late_shortfall(self.now, cfg, "at the end of the run") {
                self.stats.violation(self.now, "late_fees", Some(*id), d);
            }
            if t.past_limit(self.now) {
                let d = format!("no response or notice {} ms after the bound", self.now - t.bound_at);
                self.stats.violation(self.now, "no_outcome", Some(*id), d);
            }
        }
        let mut in_flight: Amount = 0;
        for (i, ch) in self.chans.iter().enumerate() {
            let c = ChannelId(i as u64);
            let Some((_, _, deposit)) = self.chain.deposits.get(i).copied().flatten() else { continue };
            let bal = |x: u32| self.nodes[x as usize].engine.ledger(c).map_or(0, |l| l.balance());
            let sum = bal(ch.a) + bal(ch.b);
            let dep = 2 * deposit;
            if let Some(d) = overdrawn(i as u64, sum, dep) {
                self.stats.violation(self.now, "money", None, d);
            }
            in_flight += dep - sum.min(dep);
        }
        self.stats.money_in_flight = in_flight;
        self.requests_at_end();
    }
}
