//! The end of a run: the invariant checks of attempts still open, the
//! channels' books, the requests still running, and each node's books with
//! the economic invariants.

use por_core::{Amount, ChannelId, RequestId};

use super::Sim;
use crate::checks::{Track, attacker_gain, honest_loss, overdrawn, relay_loss};
use crate::stats::NodeBooks;

impl Sim {
    /// End-of-run checks: open acknowledged attempts must still be within
    /// `max_late_ms` of their bound and be paid for their lateness; no channel
    /// may show more money than its deposits. Requests still running are
    /// counted.
    pub fn finish(&mut self) {
        // Splits whose window outlasts the run are settled as the chain
        // would once it ends (nobody reconnects after the run).
        let pending: Vec<(u64, u64)> = self.chain.pending_splits().map(|s| (s.channel, s.deadline_ms)).collect();
        for (channel, deadline) in pending {
            self.settle_split_at(channel, self.now.max(deadline));
        }
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
            let cfg = self.nodes[t.from as usize].engine.config();
            if let Some(d) = t.late_shortfall(self.now, self.offline(t.first_hop), cfg, "at the end of the run") {
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
            let Some(d) = self.chain.deposits.get(i).copied().flatten() else { continue };
            let bal = |x: u32| self.nodes[x as usize].engine.ledger(c).map_or(0, |l| l.balance());
            let sum = bal(ch.a) + bal(ch.b);
            let dep = d.dep_a + d.dep_b;
            if let Some(d) = overdrawn(i as u64, sum, dep) {
                self.stats.violation(self.now, "money", None, d);
            }
            in_flight += dep - sum.min(dep);
        }
        self.stats.money_in_flight = in_flight;
        self.requests_at_end();
        self.books();
    }

    /// Each node's books (see [`NodeBooks`]) and the economic invariants.
    fn books(&mut self) {
        let roles = self.roles();
        let n = self.nodes.len();
        // Who touched whom: the two ends of a channel that was cut.
        let mut neighbours = vec![Vec::new(); n];
        for (a, b) in self.chain.severed_pairs() {
            neighbours[a as usize].push(b);
            neighbours[b as usize].push(a);
        }
        let s = &self.stats;
        let mut books = Vec::with_capacity(n);
        for (i, node) in self.nodes.iter().enumerate() {
            let k = i as u32;
            let (mut held, mut out) = (0, 0);
            for (_, st) in node.engine.channels().filter(|(c, _)| self.chain.is_open(**c)) {
                held += st.credit;
                out += st.credit_out;
            }
            let net = (self.wealth(k) + out) as i128 - held as i128 - node.initial as i128;
            let get = |m: &std::collections::BTreeMap<u32, Amount>| m.get(&k).copied().unwrap_or(0);
            let (spent, unacked, late_in, late_out) =
                (get(&s.spent_by), get(&s.unacked_by), get(&s.late_received_by), get(&s.late_paid_by));
            let cb = self.chain.books[i];
            let earned = net + (spent + unacked) as i128 - late_in as i128
                + late_out as i128
                + (cb.cut_penalties + cb.cut_against + cb.slashed) as i128
                - cb.reimbursed as i128;
            let loss = -(net + spent as i128);
            let beyond = (loss - cb.cut_penalties as i128 - late_out.saturating_sub(late_in) as i128).max(0);
            books.push(NodeBooks {
                node: k,
                name: node.name.clone(),
                class: node.class.clone(),
                role: roles[&k].to_string(),
                net,
                spent,
                unacked,
                earned,
                late_in,
                late_out,
                late_as_requester: get(&s.late_as_requester_by),
                cut_penalties: cb.cut_penalties,
                cut_against: cb.cut_against,
                slashed: cb.slashed,
                reimbursed: cb.reimbursed,
                credit_held: held,
                credit_out: out,
                partitioned: self.chain.partitioned(k),
                loss,
                beyond,
                neighbours: std::mem::take(&mut neighbours[i]),
            });
        }
        for b in &books {
            if let Some(d) = honest_loss(b) {
                self.stats.econ_violation("honest_loss", &b.name, d);
            }
            if let Some(d) = relay_loss(b) {
                self.stats.econ_violation("relay_loss", &b.name, d);
            }
            let honest: Vec<&NodeBooks> =
                b.neighbours.iter().map(|x| &books[*x as usize]).filter(|h| h.class == "honest").collect();
            if let Some(d) = attacker_gain(b, &honest) {
                self.stats.econ_violation("attacker_gain", &b.name, d);
            }
        }
        self.stats.books = books;
    }
}
