//! The clients' requests: each one is driven by the core's [`Requester`],
//! the retry policy a node runs, so the scenarios exercise it.
//!
//! The simulator acts on [`Requester::next`]: for [`Next::Route`] it finds a
//! route within [`Requester::wants`] (the route cache when nothing is to be
//! avoided, else the core's `find_routes` with the exclusions) and sends it
//! through the client's engine; for [`Next::Wait`] it pushes a `Wake` event;
//! for [`Next::Done`] it counts the result. What the engine delivers for an
//! attempt and the first hop's refusals (a receipt back to the sender, as the
//! node's transport gives one) go to the attempt's requester, which ignores
//! those of attempts it gave up on. Each attempt is also tracked for the
//! invariant checks ([`Track`]), whatever its requester thinks of it.

use std::io::Write;

use por_core::protocol::{Delivery, Effect, Limits, Refusal};
use por_core::requester::{AttemptResult, Next, OutcomeKind, Refused, RequestFailure, Requester, RetryPolicy};
use por_core::{Attempt, ChannelId, Request, RequestId, Route, RouteHop, Signature};

use super::{Ev, FixedOutcome, Logical, Sim};
use crate::checks::Track;
use crate::crypto::sim_key;
use crate::routes::RouteNeeds;
use crate::stats::{Stats, short};

impl Sim {
    /// A client asks a server: a new requester, driven at once.
    pub(super) fn start_request(
        &mut self,
        from: u32,
        to: u32,
        fixed: bool,
        flood: Option<u32>,
        out: &mut Vec<Effect>,
    ) -> Option<u32> {
        if from == to {
            return None;
        }
        if self.offline(from) {
            self.stats.requests.client_offline += 1;
            return None;
        }
        let w = &self.sc.workload;
        let policy = RetryPolicy {
            // A flood's requests are not retried: the flooder sends the next.
            attempts: if flood.is_some() { 1 } else { w.retries.saturating_add(1) },
            max_cost: None,
            max_bound_ms: Some(w.max_bound_ms),
            timeout_ms: w.request_timeout_ms.unwrap_or(u64::MAX),
            ack_grace_ms: w.ack_grace_ms,
            ..RetryPolicy::default()
        };
        let l = Logical {
            from,
            to,
            fixed,
            flood,
            started_ms: self.now,
            wake_at: None,
            requester: Requester::new(policy, self.now),
        };
        let req = match self.free_reqs.pop() {
            Some(r) => {
                self.reqs[r as usize] = Some(l);
                r
            }
            None => {
                self.reqs.push(Some(l));
                (self.reqs.len() - 1) as u32
            }
        };
        self.stats.requests.started += 1;
        self.stats.requests_by_client_class.entry(self.nodes[from as usize].class.clone()).or_default()[0] += 1;
        self.drive(req, out)
    }

    /// Does what request `req`'s requester asks for now; returns the client
    /// if it sent something (its effects are in `out`).
    pub(super) fn drive(&mut self, req: u32, out: &mut Vec<Effect>) -> Option<u32> {
        let from = self.reqs[req as usize].as_ref()?.from;
        let mut sent = false;
        while let Some(l) = self.reqs[req as usize].as_ref() {
            match l.requester.next(self.now) {
                Next::Route => sent |= self.send_attempt(req, out),
                Next::Wait { until_ms } => {
                    self.set_wake(req, until_ms);
                    break;
                }
                Next::Done => {
                    self.end_request(req);
                    break;
                }
            }
        }
        sent.then_some(from)
    }

    /// A `Wake` for `req` fired.
    pub(super) fn wake(&mut self, req: u32, out: &mut Vec<Effect>) -> Option<u32> {
        let now = self.now;
        let l = self.reqs[req as usize].as_mut()?;
        if l.wake_at == Some(now) {
            l.wake_at = None;
        }
        l.requester.timer(now);
        self.drive(req, out)
    }

    /// After an input that may have changed what `req` wants: a route is
    /// sought in a `Drive` event of this millisecond (after the current
    /// event's effects), a wait gets its `Wake`, the end is counted.
    fn after_input(&mut self, req: u32) {
        let Some(l) = self.reqs[req as usize].as_ref() else { return };
        match l.requester.next(self.now) {
            Next::Route => self.push(self.now, 2, Ev::Drive { req }),
            Next::Wait { until_ms } => self.set_wake(req, until_ms),
            Next::Done => self.end_request(req),
        }
    }

    /// Pushes a `Wake` at `until_ms` unless one is pending for that time
    /// already, or the run ends first.
    fn set_wake(&mut self, req: u32, until_ms: u64) {
        let Some(l) = self.reqs[req as usize].as_mut() else { return };
        if l.wake_at == Some(until_ms) || until_ms > self.sc.duration_ms {
            return;
        }
        l.wake_at = Some(until_ms);
        self.push(until_ms.max(self.now), 1, Ev::Wake { req });
    }

    /// One attempt of `req`: a route within what its requester wants, sent
    /// through the client's engine. Returns whether it was sent.
    fn send_attempt(&mut self, req: u32, out: &mut Vec<Effect>) -> bool {
        let now = self.now;
        let Some(l) = self.reqs[req as usize].as_ref() else { return false };
        let (from, to, flood) = (l.from, l.to, l.flood);
        let w = &self.sc.workload;
        let wants = l.requester.wants();
        let needs = RouteNeeds {
            body_bytes: w.body_bytes,
            max_response_bytes: w.max_response_bytes,
            max_bound_ms: wants.max_bound_ms.unwrap_or(u64::MAX),
            tree: w.routing == "tree",
        };
        let found = if let Some(f) = flood {
            let r = &self.floods[f as usize].route;
            r.channels.iter().all(|c| self.chain.is_open(*c)).then(|| std::rc::Rc::new(r.clone()))
        } else if wants.exclude_channels.is_empty() && wants.exclude_nodes.is_empty() && wants.max_cost.is_none() {
            self.routes.get(self.chain.graph(), self.graph_version, from, to, needs)
        } else {
            self.routes.avoiding(self.chain.graph(), from, to, needs, &wants).map(std::rc::Rc::new)
        };
        let Some(r) = found else {
            self.requester(req).no_route();
            return false;
        };
        let hops = r
            .channels
            .iter()
            .zip(&r.params)
            .zip(&r.nodes[1..])
            .map(|((c, p), n)| RouteHop { channel: *c, node: sim_key(*n), params: *p })
            .collect();
        let mut route = Route { hops, service_ms: self.chain.graph().node(to).map_or(0, |i| i.service_ms) };
        self.nonce += 1;
        let nonce = self.nonce;
        let mut max_response_bytes = w.max_response_bytes;
        let lie = (self.nodes[from as usize].class == "lying_requester").then(|| {
            self.nodes[from as usize].lies += 1;
            let limits = &self.nodes[r.nodes[1] as usize].engine.config().limits;
            lie(self.nodes[from as usize].lies, sim_key(from), &mut route, &mut max_response_bytes, limits)
        });
        let w = &self.sc.workload;
        let mut request = Request {
            requester: sim_key(from),
            nonce,
            route: route.clone(),
            service: String::new(),
            body: vec![0u8; w.body_bytes as usize],
            max_response_bytes,
            budget: 0,
            signature: Signature([0; 64]),
            path: Default::default(),
        };
        let q = match request.quote() {
            Ok(q) => q,
            Err(e) => {
                self.stats.requests.send_failed += 1;
                self.requester(req).not_sent(&route, 0, 0, format!("cannot price the route: {e}"), now);
                return false;
            }
        };
        let (cost, bound_ms) = (q.total(), q.bound_ms());
        request.budget = cost;
        // The engine signs it at the flush, with the turn's other requests.
        let hops = route.hops.len() as u64;
        let cfg = self.nodes[from as usize].engine.config();
        let first_sync = self.nodes[from as usize].engine.channel(r.channels[0]).map_or(0, |c| c.sync_ms);
        let limit = cfg.max_late_ms + hops.saturating_sub(1) * cfg.policy.hop_slack_ms;
        let tol = self.sc.check_tolerance_ms.unwrap_or(cfg.policy.late_fee_grace_ms + first_sync);
        match self.nodes[from as usize].engine.send_request(request, now, out) {
            Ok(id) => {
                let attempt = self.requester(req).attempts().len();
                self.stats.requests.sent += 1;
                if attempt > 0 {
                    self.stats.requests.retries += 1;
                }
                self.nodes[from as usize].sent += 1;
                *self.stats.unacked_by.entry(from).or_default() += cost;
                if lie.is_some() {
                    self.stats.lies[0] += 1;
                }
                let bound_at = now + bound_ms;
                let t = Track {
                    from,
                    to,
                    first_hop: r.nodes[1],
                    req,
                    bound_at,
                    limit_at: bound_at + limit + 1,
                    tol_ms: tol,
                    acked: false,
                    late: 0,
                    cost,
                    lie,
                };
                self.tracks.insert(id, t);
                self.requester(req).sent(id, route, cost, bound_ms, now);
                trace_line!(
                    self,
                    r#"{{"t":{},"ev":"request","from":{},"to":{},"req":"{}","hops":{},"bound_ms":{},"attempt":{}}}"#,
                    now,
                    from,
                    to,
                    short(&id),
                    hops,
                    bound_ms,
                    attempt + 1
                );
                true
            }
            Err(e) => {
                self.stats.requests.send_failed += 1;
                self.requester(req).not_sent(&route, cost, bound_ms, e.to_string(), now);
                false
            }
        }
    }

    fn requester(&mut self, req: u32) -> &mut Requester {
        &mut self.reqs[req as usize].as_mut().expect("a request being driven has its slot").requester
    }

    /// The engine delivered `d` for a request `n` originated: the attempt's
    /// books and checks, then its requester.
    pub(super) fn deliver(&mut self, n: u32, d: Delivery) {
        let (id, req) = match &d {
            Delivery::Acked { request_id } => {
                let Some(t) = self.tracks.get_mut(request_id) else { return };
                let (first, from, cost, req, lied) = (!t.acked, t.from, t.cost, t.req, t.lie.is_some());
                t.acked = true;
                if first {
                    *self.stats.unacked_by.entry(from).or_default() -= cost;
                    *self.stats.spent_by.entry(from).or_default() += cost;
                }
                if lied {
                    let d = format!("node {n}: its first hop acknowledged a lying request");
                    self.stats.violation(self.now, "liar_served", Some(*request_id), d);
                }
                self.stats.requests.acked += 1;
                (*request_id, req)
            }
            Delivery::LatePayment { request_id, amount, total } => {
                self.stats.late_to_requesters += amount;
                *self.stats.late_as_requester_by.entry(n).or_default() += amount;
                let Some(t) = self.tracks.get_mut(request_id) else { return };
                t.late = *total;
                (*request_id, t.req)
            }
            Delivery::Response { request_id, .. } => match self.terminal(n, *request_id, true) {
                Some(req) => (*request_id, req),
                None => return,
            },
            Delivery::Notice { request_id, .. } => match self.terminal(n, *request_id, false) {
                Some(req) => (*request_id, req),
                None => return,
            },
            Delivery::Refused { request_id, refused } => {
                // Refused past the first hop: what the attempt paid is
                // credit with the first hop, not spent.
                let Some(t) = self.tracks.remove(request_id) else { return };
                let of = if t.acked { &mut self.stats.spent_by } else { &mut self.stats.unacked_by };
                *of.entry(t.from).or_default() -= t.cost;
                trace_line!(
                    self,
                    r#"{{"t":{},"ev":"refused_below","node":{},"ch":{},"req":"{}","reason":"{:?}"}}"#,
                    self.now,
                    n,
                    refused.channel.0,
                    short(request_id),
                    refused.reason
                );
                (*request_id, t.req)
            }
        };
        let now = self.now;
        match self.reqs[req as usize].as_mut() {
            // Only the attempt waited for: an abandoned one's outcome (the
            // engine still tracks it after a no-ack) changes nothing.
            Some(l) if l.requester.current() == Some(id) => l.requester.delivery(&d, now),
            _ => return,
        }
        self.after_input(req);
    }

    /// A terminal outcome of an attempt at its requester: check the
    /// guarantee and count it. Returns the attempt's request (slot).
    fn terminal(&mut self, n: u32, id: RequestId, response: bool) -> Option<u32> {
        let Some(t) = self.tracks.remove(&id) else {
            self.stats.violation(self.now, "second_outcome", Some(id), format!("node {n}: a second terminal outcome"));
            return None;
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
            // An outcome means the first hop took the request (its ack was lost).
            *self.stats.unacked_by.entry(t.from).or_default() -= t.cost;
            *self.stats.spent_by.entry(t.from).or_default() += t.cost;
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
            let cfg = self.nodes[t.from as usize].engine.config();
            if let Some(d) = t.late_shortfall(self.now, self.offline(t.first_hop), cfg, "at its outcome") {
                self.stats.violation(self.now, "late_fees", Some(id), d);
            }
            if t.past_limit(self.now) {
                let d = format!("outcome {} ms after the bound, past max_late_ms", self.now - t.bound_at);
                self.stats.violation(self.now, "no_outcome", Some(id), d);
            }
        }
        Some(t.req)
    }

    /// The refusal of a request reached its sender `n` (in the ack of the
    /// frame that carried it): a relay passes the refusal up (returns `n`,
    /// whose turn to end); if the engine agrees the request was ours and
    /// unacknowledged, the attempt ends and its requester hears why.
    pub(super) fn refused(
        &mut self,
        n: u32,
        channel: ChannelId,
        id: RequestId,
        reason: Refusal,
        out: &mut Vec<Effect>,
    ) -> Option<u32> {
        if self.offline(n) {
            return None;
        }
        if !self.nodes[n as usize].engine.downstream_refused(id, channel, Some(reason), self.now, out) {
            return Some(n);
        }
        let t = self.tracks.remove(&id)?;
        if !t.acked {
            *self.stats.unacked_by.entry(n).or_default() -= t.cost;
        }
        match t.lie {
            Some(want) if want == reason => self.stats.lies[1] += 1,
            Some(want) => {
                let d = format!("node {n}: a lie calling for {want:?} was refused with {reason:?}");
                self.stats.violation(self.now, "wrong_refusal", Some(id), d);
            }
            None => {}
        }
        trace_line!(
            self,
            r#"{{"t":{},"ev":"refused","node":{},"ch":{},"req":"{}","reason":"{:?}"}}"#,
            self.now,
            n,
            channel.0,
            short(&id),
            reason
        );
        let now = self.now;
        match self.reqs[t.req as usize].as_mut() {
            Some(l) if l.requester.current() == Some(id) => {
                l.requester.refused(id, Refused::by_peer(reason, format!("request refused: {reason:?}")), now)
            }
            _ => return None,
        }
        self.after_input(t.req);
        None
    }

    /// Request `req` is over: count its result and free its slot.
    fn end_request(&mut self, req: u32) {
        let Some(l) = self.reqs[req as usize].take() else { return };
        self.free_reqs.push(req);
        let result = l.requester.finish();
        let (attempts, what): (&[Attempt], &str) = match &result {
            Ok(o) => (
                &o.attempts,
                match o.kind {
                    OutcomeKind::Response(_) => "response",
                    OutcomeKind::Notice(_) => "notice",
                    OutcomeKind::Pending => "pending",
                },
            ),
            Err(RequestFailure::Failed { tried, .. }) => (tried, "failed"),
            Err(RequestFailure::NoRoute) => (&[], "no_route"),
        };
        tally(&mut self.stats, attempts);
        let kept = l.fixed.then(|| attempts.to_vec());
        let r = &mut self.stats.requests;
        match what {
            "response" => {
                r.outcome_response += 1;
                self.stats.requests_by_client_class.entry(self.nodes[l.from as usize].class.clone()).or_default()[1] +=
                    1;
                if attempts.len() > 1 {
                    r.retry_succeeded += 1;
                }
            }
            "notice" => r.outcome_notice += 1,
            "pending" => r.outcome_pending += 1,
            "failed" => r.failed += 1,
            _ => r.unroutable += 1,
        }
        if self.trace.is_some() {
            let shown: Vec<String> = attempts.iter().map(|a| a.result.to_string()).collect();
            let shown = serde_json::to_string(&shown).expect("strings");
            trace_line!(
                self,
                r#"{{"t":{},"ev":"done","from":{},"to":{},"outcome":"{}","attempts":{}}}"#,
                self.now,
                l.from,
                l.to,
                what,
                shown
            );
        }
        if let Some(attempts) = kept {
            self.fixed.push(FixedOutcome {
                from: l.from,
                to: l.to,
                started_ms: l.started_ms,
                ended_ms: Some(self.now),
                attempts,
                result: Some(result),
            });
        }
    }

    /// The end of the run: requests still running are counted as such.
    pub(super) fn requests_at_end(&mut self) {
        for slot in 0..self.reqs.len() {
            let Some(l) = self.reqs[slot].take() else { continue };
            self.stats.requests.running_at_end += 1;
            tally(&mut self.stats, l.requester.attempts());
            if l.fixed {
                self.fixed.push(FixedOutcome {
                    from: l.from,
                    to: l.to,
                    started_ms: l.started_ms,
                    ended_ms: None,
                    attempts: l.requester.attempts().to_vec(),
                    result: None,
                });
            }
        }
        self.free_reqs.clear();
        self.reqs.clear();
    }
}

/// Makes `route` (and the allowance) lie, the `k`-th lie of a lying
/// requester, in turn: a hop's fee, a hop's latency, the server's service
/// time, an allowance over the first hop's limit, a loop, a route over its
/// `max_hops`. Returns the refusal the first hop must answer with.
fn lie(k: u64, me: por_core::NodeKey, route: &mut Route, allowance: &mut u64, limits: &Limits) -> Refusal {
    let i = (k / 6) as usize % route.hops.len();
    let back = |route: &Route| {
        // Back over the last channel to the node before it (the requester
        // for a one-hop route).
        let last = route.hops.len() - 1;
        let node = if last == 0 { me } else { route.hops[last - 1].node };
        RouteHop { channel: route.hops[last].channel, node, params: route.hops[last].params }
    };
    match k % 6 {
        0 => {
            let p = &mut route.hops[i].params;
            p.base_fee = if p.base_fee > 0 { p.base_fee - 1 } else { 1 };
            Refusal::TermsMismatch
        }
        1 => {
            let p = &mut route.hops[i].params;
            p.latency_ms = if p.latency_ms > 1 { p.latency_ms - 1 } else { 2 };
            Refusal::TermsMismatch
        }
        2 => {
            route.service_ms += 1;
            Refusal::ServiceMismatch
        }
        3 => {
            *allowance = limits.max_response_bytes + 1;
            Refusal::AllowanceTooLarge
        }
        4 => {
            let h = back(route);
            route.hops.push(h);
            Refusal::RouteLoop
        }
        _ => {
            while route.hops.len() <= limits.max_hops {
                let h = back(route);
                route.hops.push(h);
            }
            Refusal::RouteTooLong
        }
    }
}

/// Counts the attempts that ended without an ack or refused by the first hop
/// (the client's own refusals to send are counted as they happen).
fn tally(stats: &mut Stats, attempts: &[Attempt]) {
    for a in attempts {
        match a.result {
            AttemptResult::NoAck => stats.requests.no_ack += 1,
            AttemptResult::Refused(_) if a.request_id != RequestId([0; 32]) => stats.requests.refused += 1,
            _ => {}
        }
    }
}
