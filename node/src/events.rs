//! The node's event stream: what happened to this node's channels and
//! money, for an application that embeds it (as LDK Node's event queue).
//!
//! The event loop emits a [`NodeEvent`] where the thing happens: a channel
//! is tracked once the chain says it is open, a service's reply is signed,
//! a sync pays or brings a late fee, the node cuts a channel, a channel
//! leaves the graph. [`NodeHandle::events`](crate::NodeHandle::events)
//! subscribes; every subscriber sees every event emitted after it
//! subscribed, in order.
//!
//! The buffer is bounded ([`EVENT_BUFFER`] events, shared by all
//! subscribers): the loop never waits for a reader. A subscriber that falls
//! more than that behind loses the oldest events and is told how many
//! ([`EventError::Missed`]); it then goes on with the oldest one kept. What
//! was missed can be read back from the node's state (its status, its
//! channels) and from the metrics, which count everything.
//!
//! Events are notifications, not the record: the node's books are its
//! store and its vouchers.

use por_core::protocol::SeverReason;
use por_core::{Amount, ChannelId, Hash32, NodeKey, RequestId};
use tokio::sync::broadcast;

/// Events kept for the slowest subscriber before it misses some.
pub const EVENT_BUFFER: usize = 1024;

/// Something that happened at this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// A channel open on chain is tracked by the node from now on: requests
    /// may go over it. (Channels the node restores from its store at start
    /// were opened before; they are not announced again.)
    ChannelOpened {
        /// The channel.
        channel: ChannelId,
        /// The node at its other end.
        peer: NodeKey,
        /// This node's deposit, yocto.
        local_deposit: Amount,
        /// The peer's deposit, yocto.
        remote_deposit: Amount,
    },
    /// A channel left the graph (closed cooperatively, or severed by either
    /// end): no request goes over it any more.
    ChannelClosed {
        /// The channel.
        channel: ChannelId,
        /// The transaction that removed it, when known (zero otherwise).
        tx_hash: Hash32,
    },
    /// A paid request reached this node as its server, and the service's
    /// reply was signed and handed to the engine to go upstream.
    RequestServed {
        /// The request.
        request_id: RequestId,
        /// Who asked.
        requester: NodeKey,
        /// The service.
        service: String,
        /// The reply's status (200, 404, 500, 504, or an upstream's).
        status: u16,
    },
    /// This node paid late fees upstream in one sync.
    LateFeePaid {
        /// The channel they went over.
        channel: ChannelId,
        /// The sum, yocto.
        amount: Amount,
    },
    /// This node received late fees from downstream in one sync.
    LateFeeReceived {
        /// The channel they came over.
        channel: ChannelId,
        /// The sum, yocto.
        amount: Amount,
    },
    /// This node cuts a channel (its chain agent sends the severance) and
    /// sends severance notices upstream for the requests in flight on it.
    Severing {
        /// The channel.
        channel: ChannelId,
        /// Why.
        reason: SeverReason,
    },
}

/// Why [`EventStream::next`] gave no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// This subscriber fell behind by more than [`EVENT_BUFFER`] events:
    /// that many of the oldest were dropped for it. The next call goes on
    /// with the oldest event still kept.
    #[error("the subscriber fell behind: {0} events were dropped for it")]
    Missed(u64),
    /// The node has stopped; no event will come.
    #[error("the node has stopped")]
    Stopped,
}

/// The event loop's end of the stream.
#[derive(Clone, Debug)]
pub(crate) struct EventBus {
    tx: broadcast::Sender<NodeEvent>,
}

impl EventBus {
    pub(crate) fn new() -> Self {
        EventBus { tx: broadcast::channel(EVENT_BUFFER).0 }
    }

    /// Emits `ev` to every subscriber (none: dropped).
    pub(crate) fn emit(&self, ev: NodeEvent) {
        let _ = self.tx.send(ev);
    }

    /// A handle's way to subscribe: it does not keep the stream open once
    /// the event loop is gone.
    pub(crate) fn weak(&self) -> WeakBus {
        WeakBus(self.tx.downgrade())
    }

    #[cfg(test)]
    fn subscribe(&self) -> EventStream {
        EventStream { rx: self.tx.subscribe() }
    }
}

/// The handle's end: subscribes while the event loop runs.
#[derive(Clone, Debug)]
pub(crate) struct WeakBus(broadcast::WeakSender<NodeEvent>);

impl WeakBus {
    /// A new subscriber; one that ends at once if the node has stopped.
    pub(crate) fn subscribe(&self) -> EventStream {
        match self.0.upgrade() {
            Some(tx) => EventStream { rx: tx.subscribe() },
            None => EventStream { rx: broadcast::channel(1).1 },
        }
    }
}

/// One subscriber's events ([`NodeHandle::events`](crate::NodeHandle::events)).
#[derive(Debug)]
pub struct EventStream {
    rx: broadcast::Receiver<NodeEvent>,
}

impl EventStream {
    /// The next event, waiting for it.
    pub async fn next(&mut self) -> Result<NodeEvent, EventError> {
        self.rx.recv().await.map_err(|e| match e {
            broadcast::error::RecvError::Lagged(n) => EventError::Missed(n),
            broadcast::error::RecvError::Closed => EventError::Stopped,
        })
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_next(&mut self) -> Result<Option<NodeEvent>, EventError> {
        match self.rx.try_recv() {
            Ok(ev) => Ok(Some(ev)),
            Err(broadcast::error::TryRecvError::Empty) => Ok(None),
            Err(broadcast::error::TryRecvError::Lagged(n)) => Err(EventError::Missed(n)),
            Err(broadcast::error::TryRecvError::Closed) => Err(EventError::Stopped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fee(i: u128) -> NodeEvent {
        NodeEvent::LateFeePaid { channel: ChannelId(1), amount: i }
    }

    #[tokio::test]
    async fn a_subscriber_that_lags_is_told_how_many_it_missed_and_goes_on() {
        let bus = EventBus::new();
        let mut slow = bus.subscribe();
        let mut fast = bus.subscribe();
        let extra = 10u128;
        for i in 0..EVENT_BUFFER as u128 + extra {
            bus.emit(fee(i));
            // The fast one keeps up and sees every event.
            assert_eq!(fast.try_next(), Ok(Some(fee(i))));
        }
        assert_eq!(slow.next().await, Err(EventError::Missed(extra as u64)));
        // Then the oldest kept, in order, up to the last.
        for i in extra..EVENT_BUFFER as u128 + extra {
            assert_eq!(slow.next().await, Ok(fee(i)));
        }
        assert_eq!(slow.try_next(), Ok(None));
        drop(bus);
        assert_eq!(slow.next().await, Err(EventError::Stopped));
    }

    #[test]
    fn events_emitted_before_subscribing_are_not_seen() {
        let bus = EventBus::new();
        bus.emit(fee(1));
        let mut s = bus.subscribe();
        assert_eq!(s.try_next(), Ok(None));
        bus.emit(fee(2));
        assert_eq!(s.try_next(), Ok(Some(fee(2))));
    }
}
