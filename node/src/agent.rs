//! The chain agent: the node's hands on the contract.
//!
//! One task per node, beside the event loop, holding the signed chain client.
//! It
//! - follows the graph ([`GraphFollower`]) and publishes it for routing
//!   ([`NodeHandle::set_graph`]);
//! - reads this node's channels whenever the graph moves, and
//!   - starts tracking every channel that is open on chain
//!     ([`NodeHandle::add_channel`]), with the deposits the chain records;
//!   - confirms proposals made to this node, when the operator allows it
//!     ([`AgentConfig::accept_deposit`]; found by reading new channel ids,
//!     since a proposal is not among the peer's channels before it confirms);
//!   - confirms a cooperative close the peer proposed, with the best voucher
//!     the peer gave us;
//!   - answers a severance by the peer with our best voucher during the
//!     challenge window, and finalizes severed channels whose window passed;
//!   - tells the engine that a channel left the graph
//!     ([`NodeHandle::channel_removed`]), including one the engine still
//!     holds that the chain closed while the node was down (reconciled on
//!     every poll);
//! - follows the contract's late-fee terms on every poll
//!   ([`NodeHandle::set_late_terms`]), and a change the owner submitted at
//!   the moment it takes effect;
//! - keeps the node's chain history ([`crate::history`]): every new graph
//!   is diffed with the last, and so are the pending splits;
//! - follows the splits the contract recorded ([`splits`]): reconnects into
//!   the larger side when one leaves this node stranded on the smaller
//!   ([`ReconnectPolicy`]), and settles those it is part of once their
//!   reconnection window has passed;
//! - carries out the engine's jobs ([`ChainJob`]): a severance is sent at once
//!   with the best voucher held, its transaction hash goes back to the engine
//!   as soon as it is signed (the engine then sends the notices upstream,
//!   without waiting for finality), and the partition check it
//!   started is driven to its end; a watched channel (named by a severance
//!   notice we received) is reported gone as soon as the graph no longer has
//!   it.
//!
//! Chain calls that fail are logged and retried at the next poll; a severance
//! that fails because the channel is no longer open is reported as done.
//! What to sever and when is the engine's policy, not the agent's.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use near_primitives::types::AccountId;
use por_core::protocol::ChannelSetup;
use por_core::{Amount, ChannelId, Hash32, NodeIdx, SignedVoucher};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::chain::{ChainClient, ChainError, ChannelState, ChannelView, GraphFollower, PorContract};
use crate::handle::{ChainJob, NodeHandle};
use crate::routes::NetworkGraph;

mod history;
pub mod splits;

pub use splits::ReconnectPolicy;

/// Channel ids read per poll when looking for proposals.
const SCAN_PER_POLL: u64 = 64;
/// How far below the newest open edge the proposal scan starts.
const SCAN_BACK: u64 = 256;

/// Jobs the agent queues before the event loop must wait.
pub const JOB_QUEUE: usize = 1024;

/// The agent's settings. Every field's doc ends with its default.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// How often to poll `graph_version`. Default 1 s.
    pub poll: Duration,
    /// Confirm channel proposals made to this node, attaching this deposit.
    /// Default none (proposals wait for `por channel confirm`).
    pub accept_deposit: Option<Amount>,
    /// `continue_partition_check` calls made after a severance before the
    /// agent leaves the rest to the next poll. Default 20.
    pub partition_calls: u32,
    /// What to do when a split leaves this node on the smaller side.
    /// Default: reconnect ([`ReconnectPolicy::default`]).
    pub reconnect: ReconnectPolicy,
    /// Call `settle` for the splits this node is part of (an end of the
    /// severed channel, or stranded by it) once their window has passed.
    /// Default on.
    pub settle_splits: bool,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            poll: Duration::from_secs(1),
            accept_deposit: None,
            partition_calls: 20,
            reconnect: ReconnectPolicy::default(),
            settle_splits: true,
        }
    }
}

/// Starts the agent for the node behind `handle`, registered as `account`.
pub async fn spawn<C: ChainClient + 'static>(
    contract: PorContract<C>,
    account: AccountId,
    handle: NodeHandle,
    config: AgentConfig,
) -> Result<tokio::task::JoinHandle<()>, crate::Stopped> {
    let (tx, jobs) = mpsc::channel(JOB_QUEUE);
    handle.attach_chain(tx).await?;
    let agent = Agent {
        contract,
        account,
        handle,
        config,
        follower: GraphFollower::new(),
        tracked: BTreeSet::new(),
        removed: BTreeSet::new(),
        watched: BTreeSet::new(),
        severing: BTreeMap::new(),
        scan_from: None,
        late_terms: None,
        split_watch: splits::SplitWatches::new(),
        proposed: BTreeMap::new(),
        own_terms: splits::OwnTerms::default(),
        late_terms_due: None,
    };
    Ok(tokio::spawn(agent.run(jobs)))
}

struct Agent<C> {
    contract: PorContract<C>,
    account: AccountId,
    handle: NodeHandle,
    config: AgentConfig,
    follower: GraphFollower,
    /// Channels handed to the engine.
    tracked: BTreeSet<u64>,
    /// Channels reported gone to the engine.
    removed: BTreeSet<u64>,
    /// Channels named by notices we received, to confirm.
    watched: BTreeSet<u64>,
    /// The next channel id to look at for proposals made to us (ids are
    /// assigned from 1 upwards and never reused).
    scan_from: Option<u64>,
    /// Severances not yet on chain (retried each poll).
    severing: BTreeMap<u64, Option<SignedVoucher>>,
    /// The contract's late-fee terms last handed to the engine.
    late_terms: Option<(Amount, u64)>,
    /// What the agent did about each pending split it is stranded by.
    split_watch: splits::SplitWatches,
    /// Its reconnection proposals not known to be confirmed or gone, with
    /// the chain time each was made.
    proposed: BTreeMap<u64, u64>,
    /// Deposit and parameters of this node's channels, for proposals.
    own_terms: splits::OwnTerms,
    /// Terms of a submitted config and when they take effect, with the
    /// timer that hands them to the engine then.
    late_terms_due: Option<(LateTermsAt, tokio::task::JoinHandle<()>)>,
}

/// Late-fee terms (`late_fee_per_sec`, `max_late_ms`) and the block time
/// (ms) they take effect at.
type LateTermsAt = ((Amount, u64), u64);

impl<C: ChainClient> Agent<C> {
    async fn run(mut self, mut jobs: mpsc::Receiver<ChainJob>) {
        let mut tick = tokio::time::interval(self.config.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The agent's lag (metric) counts from its start until a first poll.
        let mut last_poll = std::time::Instant::now();
        loop {
            tokio::select! {
                biased;
                job = jobs.recv() => match job {
                    None => return,
                    Some(j) => self.on_job(j).await,
                },
                _ = tick.tick() => {
                    match self.poll().await {
                        Ok(()) => last_poll = std::time::Instant::now(),
                        Err(e) => warn!("chain poll failed (retrying at the next one): {e}"),
                    }
                    if let Some(m) = self.contract.metrics() {
                        m.agent_lag.set(last_poll.elapsed().as_secs_f64());
                        m.agent_graph_version.set(self.follower.version().unwrap_or(0) as i64);
                    }
                    if self.handle.tx.is_closed() {
                        return;
                    }
                }
            }
        }
    }

    async fn on_job(&mut self, job: ChainJob) {
        match job {
            ChainJob::Sever { channel, voucher, reason } => {
                info!(%channel, ?reason, "severing on chain");
                self.severing.insert(channel.0, voucher);
                self.sever(channel.0).await;
            }
            ChainJob::Watch { channel } => {
                self.watched.insert(channel.0);
                // Confirm at once if it is already gone.
                if let Some(v) = self.follower.version()
                    && self.follower.graph().edge(channel).is_none()
                    && self.contract.graph_version().await.ok() == Some(v)
                {
                    self.confirm_watched().await;
                }
            }
        }
    }

    /// Severs channel `id` on chain. The engine hears of it as soon as the
    /// transaction is signed, so the notices go upstream at once, not at
    /// finality (DESIGN §2.7); a transaction the contract refuses while the
    /// channel is still open (a partition check pending, say) is sent again
    /// at the next poll.
    async fn sever(&mut self, id: u64) {
        let Some(voucher) = self.severing.get(&id).cloned() else { return };
        let (tell, signed) = tokio::sync::oneshot::channel::<near_primitives::hash::CryptoHash>();
        let announce = !self.removed.contains(&id);
        let handle = self.handle.clone();
        let announced = async move {
            match signed.await {
                Ok(hash) if announce => handle.channel_removed(ChannelId(id), Hash32(hash.0)).await.is_ok(),
                _ => false,
            }
        };
        let (result, announced) = tokio::join!(self.contract.sever_announced(id, voucher.as_ref(), tell), announced);
        if announced {
            self.removed.insert(id);
        }
        match result {
            Ok(s) => {
                info!(channel = id, tx = %s.tx_hash, "severed");
                self.severing.remove(&id);
                self.report_removed(id, Hash32(s.tx_hash.0)).await;
                if s.check.is_pending() {
                    self.drive_partition_check().await;
                }
            }
            Err(ChainError::TxFailed { message, .. }) => {
                // Refused: most likely the channel is not open any more (the
                // peer severed or closed it first). Ask the chain.
                match self.contract.channel(id).await {
                    Ok(Some(c)) if matches!(c.state, ChannelState::Open | ChannelState::CloseProposed) => {
                        warn!(channel = id, "sever refused while the channel is open: {message}; retrying later")
                    }
                    Ok(_) => {
                        debug!(channel = id, "sever refused, the channel is not open any more: {message}");
                        self.severing.remove(&id);
                        self.report_removed(id, Hash32([0; 32])).await;
                    }
                    Err(e) => warn!(channel = id, "sever refused ({message}) and the channel cannot be read: {e}"),
                }
            }
            Err(e) => warn!(channel = id, "sever not sent (retrying at the next poll): {e}"),
        }
    }

    async fn drive_partition_check(&self) {
        match self.contract.finish_partition_check(self.config.partition_calls).await {
            Ok(Some(s)) if s.is_pending() => debug!(?s, "partition check still pending; continued at the next poll"),
            Ok(s) => debug!(?s, "partition check done"),
            Err(e) => warn!("continue_partition_check failed: {e}"),
        }
    }

    async fn report_removed(&mut self, id: u64, tx: Hash32) {
        if self.removed.insert(id) {
            let _ = self.handle.channel_removed(ChannelId(id), tx).await;
        }
    }

    async fn poll(&mut self) -> Result<(), ChainError> {
        let retry: Vec<u64> = self.severing.keys().copied().collect();
        for id in retry {
            self.sever(id).await;
        }
        let changed = self.follower.refresh(&self.contract).await?;
        if changed {
            self.handle.set_graph(NetworkGraph::from_follower(&self.follower));
            self.record_history().await;
        }
        // Our channels are read on every poll, not only when the graph moved:
        // proposals, closes and challenge windows do not change the graph.
        self.own_channels().await?;
        if self.config.accept_deposit.is_some() {
            self.scan_proposals().await?;
        }
        self.confirm_watched().await;
        self.follow_config().await?;
        if self.contract.partition_check().await?.is_some() {
            self.drive_partition_check().await;
        }
        self.follow_splits().await
    }

    /// Reads the contract's config and hands the engine its late-fee terms
    /// when they changed (the node started with the values of its start).
    /// A change the owner submitted takes effect at a block time the
    /// contract names (`pending_config`): the engine gets the new terms at
    /// that moment, by a timer set from the chain's clock, not at the next
    /// poll after it; a submission replaced meanwhile cancels its timer.
    async fn follow_config(&mut self) -> Result<(), ChainError> {
        let c = self.contract.config().await?;
        let terms = (c.late_fee_per_sec, c.max_late_ms);
        if self.late_terms != Some(terms) {
            self.late_terms = Some(terms);
            let _ = self.handle.set_late_terms(terms.0, terms.1).await;
        }
        // A contract without the view (older) changes its config at once.
        let next = self.contract.pending_config().await.unwrap_or(None).and_then(|p| {
            let t = (p.config.late_fee_per_sec, p.config.max_late_ms);
            (t != terms).then_some((t, p.effective_ms))
        });
        if self.late_terms_due.as_ref().map(|(k, _)| *k) != next {
            if let Some((_, timer)) = self.late_terms_due.take() {
                timer.abort();
            }
            if let Some((t, at_ms)) = next {
                let now_ms = self.contract.chain().status().await?.time_ms;
                let wait = Duration::from_millis(at_ms.saturating_sub(now_ms));
                let handle = self.handle.clone();
                let timer = tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let _ = handle.set_late_terms(t.0, t.1).await;
                });
                self.late_terms_due = Some(((t, at_ms), timer));
            }
        }
        Ok(())
    }

    fn my_index(&self) -> Option<NodeIdx> {
        self.follower.index_of(&self.account)
    }

    async fn own_channels(&mut self) -> Result<(), ChainError> {
        let Some(me) = self.my_index() else {
            debug!(account = %self.account, "not registered yet; no channels to follow");
            return Ok(());
        };
        let channels = self.contract.channels_of(&self.account).await?;
        self.reconcile(&channels).await?;
        let mut now_ms = None;
        for c in channels {
            let mine_is_a = c.a == me;
            let peer = if mine_is_a { c.b } else { c.a };
            match c.state {
                ChannelState::Proposed => {}
                ChannelState::Open => self.track(&c, mine_is_a, peer).await,
                ChannelState::CloseProposed => {
                    self.track(&c, mine_is_a, peer).await;
                    if c.close_proposer.as_ref() != Some(&self.account) {
                        self.confirm_close(&c).await;
                    }
                }
                ChannelState::Severed => {
                    self.report_removed(c.channel_id, Hash32([0; 32])).await;
                    if c.severer.as_ref() != Some(&self.account) {
                        self.answer_severance(&c, mine_is_a).await;
                    }
                    if now_ms.is_none() {
                        now_ms = self.contract.chain().status().await.ok().map(|s| s.time_ms);
                    }
                    if let (Some(now), Some(end)) = (now_ms, c.challenge_deadline_ms)
                        && now > end
                    {
                        match self.contract.finalize(c.channel_id).await {
                            Ok(_) => info!(channel = c.channel_id, "finalized"),
                            Err(e) => debug!(channel = c.channel_id, "finalize: {e}"),
                        }
                    }
                }
                ChannelState::Closed => self.report_removed(c.channel_id, Hash32([0; 32])).await,
            }
        }
        Ok(())
    }

    /// Channels the engine holds that the chain no longer lists among ours
    /// (a channel leaves that list once it is closed or its severance is
    /// finalized, for instance while this node was down): each is read on
    /// its own, and one that is not open any more leaves the engine's books
    /// at once.
    async fn reconcile(&mut self, live: &[ChannelView]) -> Result<(), ChainError> {
        let Ok(status) = self.handle.status().await else { return Ok(()) };
        let listed: BTreeSet<u64> = live.iter().map(|c| c.channel_id).collect();
        for (id, ..) in status.channels {
            if listed.contains(&id.0) || self.removed.contains(&id.0) {
                continue;
            }
            let gone = match self.contract.channel(id.0).await? {
                None => true,
                Some(c) => matches!(c.state, ChannelState::Severed | ChannelState::Closed),
            };
            if gone {
                info!(channel = id.0, "the chain has this channel closed: it leaves the books");
                self.report_removed(id.0, Hash32([0; 32])).await;
            }
        }
        Ok(())
    }

    /// Proposals made to us are not among our channels until we confirm
    /// them, so new channel ids are read one by one (at most
    /// [`SCAN_PER_POLL`] per poll). The scan starts [`SCAN_BACK`] ids below
    /// the newest open edge: an older proposal still pending when the node
    /// starts is confirmed by hand (`por channel confirm`).
    async fn scan_proposals(&mut self) -> Result<(), ChainError> {
        let Some(me) = self.my_index() else { return Ok(()) };
        let from = *self.scan_from.get_or_insert_with(|| {
            let newest = self.follower.graph().edges().map(|e| e.channel.0).max().unwrap_or(0);
            newest.saturating_sub(SCAN_BACK).max(1)
        });
        let mut id = from;
        while id < from + SCAN_PER_POLL {
            let Some(c) = self.contract.channel(id).await? else { break };
            if c.state == ChannelState::Proposed && c.b == me {
                self.maybe_accept(&c).await;
            }
            id += 1;
        }
        self.scan_from = Some(id);
        Ok(())
    }

    async fn track(&mut self, c: &ChannelView, mine_is_a: bool, peer: NodeIdx) {
        if self.tracked.contains(&c.channel_id) {
            return;
        }
        let Some(remote) = self.follower.node(peer).map(|n| n.node_key) else { return };
        let (local_deposit, remote_deposit) =
            if mine_is_a { (c.deposit_a, c.deposit_b) } else { (c.deposit_b, c.deposit_a) };
        self.own_terms.deposit = self.own_terms.deposit.max(local_deposit);
        self.own_terms.params = Some(c.params);
        let setup = ChannelSetup {
            channel: ChannelId(c.channel_id),
            remote,
            local_deposit,
            remote_deposit,
            latency_ms: c.params.latency_ms,
            sync_ms: None,
        };
        match self.handle.add_channel(setup, Vec::new()).await {
            Ok(()) => {
                info!(channel = c.channel_id, peer = %remote.peer_id(), "channel open on chain; tracking it");
                self.tracked.insert(c.channel_id);
            }
            Err(e) => warn!(channel = c.channel_id, "cannot track the channel: {e}"),
        }
    }

    async fn maybe_accept(&self, c: &ChannelView) {
        let Some(deposit) = self.config.accept_deposit else { return };
        match self.contract.confirm_channel(c.channel_id, deposit).await {
            Ok(_) => info!(channel = c.channel_id, proposer = %c.a_account, "confirmed a channel proposed to us"),
            Err(e) => warn!(channel = c.channel_id, "cannot confirm the proposal: {e}"),
        }
    }

    async fn confirm_close(&self, c: &ChannelView) {
        let Ok(best) = self.handle.best_voucher(ChannelId(c.channel_id)).await else { return };
        // Our own latest voucher too: the close pays the proposer what we
        // paid it after it proposed (DESIGN §2.8).
        let own = self.handle.own_voucher(ChannelId(c.channel_id)).await.ok().flatten();
        match self.contract.confirm_close_with_own(c.channel_id, best.as_ref(), own.as_ref()).await {
            Ok(_) => info!(channel = c.channel_id, "confirmed the peer's cooperative close"),
            Err(e) => warn!(channel = c.channel_id, "cannot confirm the close: {e}"),
        }
    }

    /// The peer severed: make sure the chain has the best voucher it gave us.
    async fn answer_severance(&self, c: &ChannelView, mine_is_a: bool) {
        let recorded = if mine_is_a { c.paid_by_b } else { c.paid_by_a };
        let Ok(Some(best)) = self.handle.best_voucher(ChannelId(c.channel_id)).await else { return };
        if best.voucher.cumulative <= recorded {
            return;
        }
        match self.contract.submit_voucher(c.channel_id, &best).await {
            Ok(_) => info!(channel = c.channel_id, amount = best.voucher.cumulative, "submitted our best voucher"),
            Err(e) => debug!(channel = c.channel_id, "submit_voucher: {e}"),
        }
    }

    async fn confirm_watched(&mut self) {
        let gone: Vec<u64> =
            self.watched.iter().copied().filter(|c| self.follower.graph().edge(ChannelId(*c)).is_none()).collect();
        for id in gone {
            // Only once the chain says so: a channel we never saw open may be
            // missing from an old copy of the graph.
            let severed = match self.contract.channel(id).await {
                Ok(Some(c))
                    if matches!(c.state, ChannelState::Proposed | ChannelState::Open | ChannelState::CloseProposed) =>
                {
                    continue;
                }
                Ok(None) => continue,
                // Closed without a severer: a cooperative close, which no
                // notice can name (DESIGN §2.7).
                Ok(Some(c)) => c.severer.is_some() || c.state == ChannelState::Severed,
                Err(e) => {
                    debug!(channel = id, "cannot read a watched channel: {e}");
                    continue;
                }
            };
            self.watched.remove(&id);
            if severed {
                let _ = self.handle.channel_removed(ChannelId(id), Hash32([0; 32])).await;
            } else {
                let _ = self.handle.notice_refuted(ChannelId(id)).await;
            }
        }
    }
}
