//! The providers of one fetch: finding them and their routes, the tail
//! that authenticates the size, and skipping the silent ones.

use std::time::{Duration, Instant};

use blake3::hazmat::ChainingValue;
use por_core::{Amount, NodeKey, Route};
use tracing::debug;

use super::super::wire::{FileRequest, response_allowance};
use super::{BUSY_PAUSE, Blocks, Event, Fetch, FetchError, Outcome, Want};

/// Where a provider stands in this fetch.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum PState {
    Active,
    Skipped { until: Instant },
    Dropped(String),
}

/// A provider of this fetch and the route kept to it.
pub(super) struct Provider {
    pub(super) key: NodeKey,
    pub(super) route: Route,
    pub(super) cost: Amount,
    pub(super) bound_ms: u64,
    pub(super) in_flight: usize,
    pub(super) state: PState,
    pub(super) served: u64,
    pub(super) last_problem: Option<String>,
    /// Times it was skipped.
    pub(super) skips: u32,
}

impl Fetch<'_> {
    /// Asks the DHT (and the caller's list) for providers; keeps those with a
    /// route. Returns how many are new.
    pub(super) async fn discover(&mut self) -> Result<usize, FetchError> {
        self.last_discovery = Some(Instant::now());
        let mut keys: Vec<NodeKey> = self.opts.providers.clone();
        match tokio::time::timeout(self.opts.discover_timeout, self.ctx.node.find_providers(self.id.provider_key()))
            .await
        {
            Ok(Ok(peers)) => keys.extend(peers.iter().filter_map(|p| NodeKey::from_peer_id_bytes(&p.to_bytes()))),
            Ok(Err(_)) => return Err(FetchError::Stopped),
            Err(_) => debug!(id = %self.id, "provider lookup timed out"),
        }
        let allowance = response_allowance(self.bpr());
        let body = FileRequest::Range { id: self.id, first: u64::MAX, count: u32::MAX }.encode().len() as u64;
        let mut new = 0;
        let mut unroutable = 0;
        for key in keys {
            if key == self.ctx.key || self.known.contains(&key) {
                continue;
            }
            let best = self
                .ctx
                .routes
                .routes(&key, body, allowance)
                .into_iter()
                .filter(|r| r.server() == Some(&key))
                .filter_map(|r| r.quote(body, allowance).ok().map(|q| (q.total(), q.bound_ms(), r)))
                .min_by_key(|(cost, bound, _)| (*cost, *bound));
            let Some((cost, bound_ms, route)) = best else {
                unroutable += 1;
                continue;
            };
            self.known.insert(key);
            self.providers.push(Provider {
                key,
                route,
                cost,
                bound_ms,
                in_flight: 0,
                state: PState::Active,
                served: 0,
                last_problem: None,
                skips: 0,
            });
            new += 1;
        }
        if self.providers.is_empty() {
            return Err(if unroutable > 0 {
                FetchError::NoRoute(unroutable)
            } else {
                FetchError::NoProviders(self.id)
            });
        }
        Ok(new)
    }

    /// Gets the authenticated size and the last block from the cheapest
    /// provider that proves it.
    pub(super) async fn fetch_tail(&mut self) -> Result<(u64, u64, Blocks, Vec<ChainingValue>), FetchError> {
        loop {
            self.unskip();
            let pick = (0..self.providers.len())
                .filter(|&i| self.providers[i].state == PState::Active)
                .min_by_key(|&i| (self.providers[i].cost, self.providers[i].bound_ms));
            let Some(i) = pick else {
                self.stuck(1).await?;
                continue;
            };
            if self.spent + self.providers[i].cost > self.opts.max_price {
                return Err(FetchError::PriceLimit { spent: self.spent, limit: self.opts.max_price, remaining: 1 });
            }
            let req = self.send(i, Want::Tail);
            loop {
                match self.rx.recv().await {
                    Some(Event::Slow(r)) if r == req => {}
                    Some(Event::Slow(_)) => {}
                    Some(Event::Done(r, out)) if r == req => {
                        self.requests.remove(&r);
                        self.providers[i].in_flight -= 1;
                        match out {
                            Outcome::Verified { size, first, data, cvs } => {
                                self.providers[i].served += 1;
                                return Ok((size, first, data, cvs));
                            }
                            Outcome::Bad(w) | Outcome::Refused(w) => self.providers[i].state = PState::Dropped(w),
                            Outcome::Silent(w) => self.skip(i, w),
                            Outcome::Busy(w) => self.pause(i, w),
                        }
                        break;
                    }
                    Some(Event::Done(..)) => {}
                    None => return Err(FetchError::Stopped),
                }
            }
        }
    }

    /// Nothing could be sent: wait for a skipped provider, look for new ones,
    /// or give up with the reason.
    pub(super) async fn stuck(&mut self, remaining: u64) -> Result<(), FetchError> {
        let usable: Vec<&Provider> = self.providers.iter().filter(|p| !matches!(p.state, PState::Dropped(_))).collect();
        if usable.iter().any(|p| p.state == PState::Active) {
            // Active providers exist but none was affordable.
            return Err(FetchError::PriceLimit { spent: self.spent, limit: self.opts.max_price, remaining });
        }
        let wake = usable
            .iter()
            .filter_map(|p| match p.state {
                PState::Skipped { until, .. } => Some(until),
                _ => None,
            })
            .min();
        let rediscover = self.last_discovery.is_none_or(|t| t.elapsed() >= Duration::from_secs(2));
        if rediscover {
            let before = self.providers.len();
            let _ = self.discover().await;
            if self.providers.len() > before {
                return Ok(());
            }
        }
        if let Some(until) = wake {
            tokio::time::sleep_until(until.into()).await;
            self.unskip();
            return Ok(());
        }
        Err(FetchError::NoneLeft {
            id: self.id,
            reasons: self
                .providers
                .iter()
                .map(|p| {
                    let why = match &p.state {
                        PState::Dropped(w) => w.clone(),
                        _ => p.last_problem.clone().unwrap_or_default(),
                    };
                    format!("{}: {why}", p.key.peer_id())
                })
                .collect(),
        })
    }

    pub(super) fn unskip(&mut self) {
        let now = Instant::now();
        for p in &mut self.providers {
            if let PState::Skipped { until, .. } = p.state
                && until <= now
            {
                p.state = PState::Active;
            }
        }
    }

    /// Sends provider `i` nothing for [`BUSY_PAUSE`]: its route is busy.
    /// Not a skip: the pause does not grow and does not count as one.
    pub(super) fn pause(&mut self, i: usize, why: String) {
        let p = &mut self.providers[i];
        debug!(provider = %p.key.peer_id(), "busy, paused: {why}");
        p.last_problem = Some(why);
        if p.state == PState::Active {
            p.state = PState::Skipped { until: Instant::now() + BUSY_PAUSE };
        }
    }

    /// Skips provider `i` for a while. Only a failure after the provider
    /// was given another chance doubles the pause (the requests that were
    /// in flight when it went silent count once), up to 16 times.
    pub(super) fn skip(&mut self, i: usize, why: String) {
        let p = &mut self.providers[i];
        p.last_problem = Some(why);
        let times = match p.state {
            PState::Dropped(_) | PState::Skipped { .. } => return,
            PState::Active => p.skips + 1,
        };
        p.skips = times;
        let d = self.opts.skip_for * 2u32.pow(times.saturating_sub(1).min(4));
        debug!(provider = %p.key.peer_id(), times, pause = ?d, "skipped: {}", p.last_problem.as_deref().unwrap_or(""));
        p.state = PState::Skipped { until: Instant::now() + d };
    }
}
