//! The event loop's link to the chain agent: the jobs the engine's effects
//! create (severances, watches), queued to the agent once it has attached
//! itself, with a backlog for what does not fit its queue.

use std::collections::VecDeque;

use tokio::sync::mpsc;
use tracing::{error, warn};

use crate::handle::ChainJob;

/// The agent's queue, once attached, and what waits for room in it.
#[derive(Default)]
pub(super) struct ChainLink {
    /// The chain agent's queue, once attached.
    jobs: Option<mpsc::Sender<ChainJob>>,
    /// Jobs that did not fit the agent's queue; offered again at the next
    /// maintenance tick.
    backlog: VecDeque<ChainJob>,
}

impl ChainLink {
    /// From now on, jobs go to `jobs`.
    pub(super) fn attach(&mut self, jobs: mpsc::Sender<ChainJob>) {
        self.jobs = Some(jobs);
    }

    /// Queues `job`, behind any backlog.
    pub(super) fn job(&mut self, job: ChainJob) {
        if !self.backlog.is_empty() {
            self.backlog.push_back(job);
        } else if let Some(job) = self.offer(job) {
            warn!("the chain agent's queue is full; the job waits for the next tick");
            self.backlog.push_back(job);
        }
    }

    /// Offers the backlog to the agent again, in order.
    pub(super) fn retry_backlog(&mut self) {
        while let Some(job) = self.backlog.pop_front() {
            if let Some(job) = self.offer(job) {
                self.backlog.push_front(job);
                break;
            }
        }
    }

    /// Queues a job for the chain agent; gives it back when the queue is full.
    fn offer(&mut self, job: ChainJob) -> Option<ChainJob> {
        let Some(tx) = &self.jobs else {
            if let ChainJob::Sever { channel, reason, .. } = &job {
                error!(%channel, ?reason, "severance needed but this node has no chain client configured");
            }
            return None;
        };
        match tx.try_send(job) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Full(job)) => Some(job),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                error!("the chain agent has stopped; severances and notices cannot be confirmed");
                self.jobs = None;
                None
            }
        }
    }
}
