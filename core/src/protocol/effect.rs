//! What the engine asks its driver to do, and the messages it exchanges.
//!
//! The engine never performs I/O: every handler appends [`Effect`]s to a
//! caller-provided `Vec`, and the driver (the node's event loop, or the
//! simulator) carries them out **in order**.
//!
//! # Ordering rule (durability)
//! A [`Effect::Persist`] must be durable before the driver sends any later
//! [`Wire::Ack`] or [`Wire::SyncAck`].
//!
//! # Flush (DESIGN §2.12)
//! Handlers queue what they have for each neighbour; nothing leaves until
//! the driver calls [`NodeEngine::flush`](crate::protocol::NodeEngine::flush)
//! at the end of its event-loop turn. The flush signs what the turn
//! produced with as few signatures as it can (one voucher per channel for
//! the requests it pays, one root for this node's own requests, one root for
//! its responses, one ack per frame received) and emits the `Send`s. No
//! timer delays anything: a flush emits everything queued. The engine always emits the `Persist`
//! of a received voucher before the ack that acknowledges it, so a crash can
//! never leave an ack out there for a voucher the node lost. Other effects
//! need not wait: a relay forwards at once (DESIGN §2.4), and the node
//! commits vouchers in groups off its event loop. The simulator has no disk
//! and skips persists.

use serde::{Deserialize, Serialize};

use crate::bytes::{Hash32, RequestId};
use crate::message::{Request, Response, SeveranceNotice, SyncAck, SyncMessage};
use crate::voucher::{Ack, Amount, ChannelId, SignedVoucher};

/// A request together with the voucher that pays for it on one edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaidRequest {
    /// The request as the requester signed it.
    pub request: Request,
    /// The cumulative voucher paying this edge's share (`payments[j]`).
    pub voucher: SignedVoucher,
}

/// The paid requests one node sends over one channel in one turn: one
/// cumulative voucher pays for all of them (DESIGN §2.12). The voucher
/// must cover, beyond what the payee held before (and the credit the payer
/// has with it), every request's share; requests it does not cover are
/// refused [`Refusal::Underpaid`] in the frame's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFrame {
    /// The cumulative voucher paying for the frame.
    pub voucher: SignedVoucher,
    /// The requests, each as its requester signed it (with its batch path).
    pub requests: Vec<Request>,
}

/// A message between two neighbours over one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Wire {
    /// A paid request travelling downstream: a frame of one (the same as a
    /// [`Wire::Requests`] with one request, without the list).
    Request(Box<PaidRequest>),
    /// Several paid requests under one voucher, downstream.
    Requests(Box<RequestFrame>),
    /// The payee's acknowledgement of one frame ([`Wire::Request`] or
    /// [`Wire::Requests`]), upstream: one per frame.
    Ack(Ack),
    /// The server's signed response (with its path in the server's batch),
    /// upstream.
    Response(Box<Response>),
    /// A severance notice for one request, upstream, sent at once.
    Notice(SeveranceNotice),
    /// The periodic sync (DESIGN §2.6).
    Sync(Box<SyncMessage>),
    /// The answer to a sync.
    SyncAck(SyncAck),
    /// A request this node or one below it refused or could not carry,
    /// upstream: it ends the request as a response would, and what each hop
    /// was paid for it becomes credit (DESIGN §2.10).
    Refused(RefusedBelow),
}

/// A refusal from below: the request `request_id` will not be answered over
/// this route, because the node at the lower end of `channel` refused it. It travels up hop by hop; each hop
/// ends its leg, books what it was paid as credit with its upstream and
/// passes it on, so nobody is owed or owes anything more for the request but
/// the lateness up to the moment the refusal reached it.
///
/// Not signed: it is evidence for nothing on chain, and the node it came
/// from (the transport authenticates it) is the one giving up its payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedBelow {
    /// The request.
    pub request_id: RequestId,
    /// The refuser's reason.
    pub reason: Refusal,
    /// The channel into the node that refused: one of the route's channels
    /// below the receiver (a receiver blames its own downstream channel
    /// when the named one is not).
    pub channel: ChannelId,
}

impl std::fmt::Display for RefusedBelow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused below channel {}: {}", self.channel, self.reason)
    }
}

impl Wire {
    /// A short name, for traces and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Wire::Request(_) => "request",
            Wire::Requests(_) => "requests",
            Wire::Ack(_) => "ack",
            Wire::Response(_) => "response",
            Wire::Notice(_) => "notice",
            Wire::Sync(_) => "sync",
            Wire::SyncAck(_) => "sync_ack",
            Wire::Refused(_) => "refused",
        }
    }
}

/// A timer the engine wants to be woken by. Timers are never cancelled: a
/// timer that fires when it no longer matters is ignored, so the driver may
/// keep them in a plain priority queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// Time for the next sync on a channel.
    Sync(ChannelId),
    /// A deadline (or a later policy check point) of a request sent downstream.
    Deadline(RequestId),
    /// The last moment to see a received severance notice confirmed on chain.
    ConfirmNotice(RequestId),
}

/// Why the engine cut a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeverReason {
    /// The neighbour was silent for `missed_syncs` sync intervals while
    /// requests to it were in flight.
    MissedSyncs,
    /// A request on it reached the policy's `sever_overdue_after_ms`.
    Overdue,
    /// A request on it reached `max_late_ms`.
    MaxLate,
    /// The neighbour's late payments lag by more than the grace.
    WithheldLateFee,
    /// The neighbour sent a severance notice that never landed on chain.
    FalseNotice,
    /// The local operator (or the driver) asked for it.
    Manual,
}

/// An outcome for a request this node originated, for the local requester
/// (API, SDK, simulator). For one request there is at most one `Acked`, at
/// most one terminal `Response` or `Notice`, and any number of
/// `LatePayment`s before the terminal outcome (and possibly a final one
/// after it, settling the lateness up to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The first hop acknowledged the paid request: from now on the
    /// guarantee holds.
    Acked {
        /// The request.
        request_id: RequestId,
    },
    /// The server's signed response (verified).
    Response {
        /// The request.
        request_id: RequestId,
        /// The response.
        response: Box<Response>,
    },
    /// Proof that an edge of the path was cut (verified signature; the
    /// engine watches the chain for it).
    Notice {
        /// The request.
        request_id: RequestId,
        /// The notice.
        notice: SeveranceNotice,
    },
    /// A node of the route refused the request after the first hop took it
    /// (its next hop refused, or could not be reached): the attempt is
    /// over, and what it paid is credit with the first hop.
    Refused {
        /// The request.
        request_id: RequestId,
        /// The refusal as it came up.
        refused: RefusedBelow,
    },
    /// A late payment for the request arrived.
    LatePayment {
        /// The request.
        request_id: RequestId,
        /// This payment.
        amount: Amount,
        /// All late fees received for it so far.
        total: Amount,
    },
}

/// Things worth a trace line or a metric; the driver may ignore them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    /// A request sent downstream passed its deadline unanswered.
    DeadlinePassed {
        /// The request.
        request_id: RequestId,
        /// The downstream channel.
        channel: ChannelId,
    },
    /// Late fees paid upstream in one sync.
    LateFeesPaid {
        /// The channel.
        channel: ChannelId,
        /// Sum paid.
        amount: Amount,
    },
    /// Late fees received from downstream in one sync.
    LateFeesReceived {
        /// The channel.
        channel: ChannelId,
        /// Sum received.
        amount: Amount,
    },
    /// A late payment was owed but the channel could not cover it.
    CannotPay {
        /// The channel.
        channel: ChannelId,
        /// The amount.
        amount: Amount,
    },
    /// An incoming message was refused.
    Refused {
        /// The channel it came over.
        channel: ChannelId,
        /// Its kind.
        kind: &'static str,
        /// Why.
        reason: Refusal,
    },
}

/// Why an incoming message was refused. Travels on the wire (in the
/// transport's receipt) and names the API's error codes and the refusal
/// metric's label ([`Refusal::code`]); new reasons go at the end, and a peer
/// that does not know one reads it as [`Refusal::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The channel is unknown or closed.
    UnknownChannel,
    /// A request whose route does not run over this channel to this node.
    NotOnRoute,
    /// A signature does not verify.
    BadSignature,
    /// A request could not be priced.
    BadQuote,
    /// The voucher did not pass the ledger check.
    BadVoucher,
    /// The voucher pays less than this edge's share.
    Underpaid,
    /// A request id already in flight here.
    Duplicate,
    /// A message about a request not in flight over this channel.
    UnknownRequest,
    /// A response larger than the request's allowance (dropped, DESIGN §2.3).
    ResponseTooLarge,
    /// A notice about a channel that is not downstream on the route.
    NoticeOffRoute,
    /// A sync's voucher pays less than the late fees it claims.
    SyncShort,
    /// A request from a node that cannot forward it (no channel onwards).
    NoChannelOnwards,
    /// This node cannot pay the next hop.
    CannotForward,
    /// A hop's edge parameters differ from the edge the contract records.
    TermsMismatch,
    /// A hop's channel is not an open edge between its two nodes on chain
    /// (or its cooperative close is proposed: a closing edge carries no new
    /// request).
    UnknownEdge,
    /// The route's `service_ms` differs from the server's registration.
    ServiceMismatch,
    /// The route's server is not a registered node.
    UnknownServer,
    /// The route visits a node or a channel twice.
    RouteLoop,
    /// The route has more hops than this node's `max_hops`.
    RouteTooLong,
    /// The response allowance exceeds the relay lane's frame limit.
    AllowanceTooLarge,
    /// Over one of this node's per-neighbour caps (requests, value or bytes
    /// in flight, late-fee liability); try later or elsewhere.
    Busy,
    /// This node has not loaded the chain's graph yet and cannot check the
    /// route's terms.
    NoTerms,
    /// A sync names one request twice in its overdue list.
    DuplicateClaim,
    /// A notice whose severer is not an end of the channel it names.
    NoticeWrongSeverer,
    /// This node is stopping (DESIGN §2.11): it answers what it already
    /// took but takes no new request; try another route.
    Draining,
    /// A frame of requests with no request in it.
    EmptyFrame,
    /// A reason this build does not know (sent by a newer peer).
    #[serde(other)]
    Other,
}

impl Refusal {
    /// A stable snake_case code: the API's error code and the metric label.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::UnknownChannel => "unknown_channel",
            Refusal::NotOnRoute => "not_on_route",
            Refusal::BadSignature => "bad_signature",
            Refusal::BadQuote => "bad_quote",
            Refusal::BadVoucher => "bad_voucher",
            Refusal::Underpaid => "underpaid",
            Refusal::Duplicate => "duplicate",
            Refusal::UnknownRequest => "unknown_request",
            Refusal::ResponseTooLarge => "response_too_large",
            Refusal::NoticeOffRoute => "notice_off_route",
            Refusal::SyncShort => "sync_short",
            Refusal::NoChannelOnwards => "no_channel_onwards",
            Refusal::CannotForward => "cannot_forward",
            Refusal::TermsMismatch => "terms_mismatch",
            Refusal::UnknownEdge => "unknown_edge",
            Refusal::ServiceMismatch => "service_mismatch",
            Refusal::UnknownServer => "unknown_server",
            Refusal::RouteLoop => "route_loop",
            Refusal::RouteTooLong => "route_too_long",
            Refusal::AllowanceTooLarge => "allowance_too_large",
            Refusal::Busy => "busy",
            Refusal::NoTerms => "no_terms",
            Refusal::DuplicateClaim => "duplicate_claim",
            Refusal::NoticeWrongSeverer => "notice_wrong_severer",
            Refusal::Draining => "draining",
            Refusal::EmptyFrame => "empty_frame",
            Refusal::Other => "other",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::UnknownChannel => "the channel is unknown or closed here",
            Refusal::NotOnRoute => "the route does not run over this channel to this node",
            Refusal::BadSignature => "a signature does not verify",
            Refusal::BadQuote => "the route cannot be priced",
            Refusal::BadVoucher => "the voucher does not pass the ledger check",
            Refusal::Underpaid => "the voucher pays less than this edge's share of the route",
            Refusal::Duplicate => "a request with this id is already in flight here",
            Refusal::UnknownRequest => "no request with this id is in flight over this channel",
            Refusal::ResponseTooLarge => "the response exceeds the request's allowance",
            Refusal::NoticeOffRoute => "the notice names a channel that is not below this node on the route",
            Refusal::SyncShort => "the sync's voucher pays less than the late fees it claims",
            Refusal::NoChannelOnwards => "this node has no open channel to the next hop",
            Refusal::CannotForward => "this node cannot pay the next hop now",
            Refusal::TermsMismatch => "a hop's edge parameters differ from the contract's record of the edge",
            Refusal::UnknownEdge => "a hop's channel is not an open edge between its nodes on chain",
            Refusal::ServiceMismatch => "the route's service_ms differs from the server's registration",
            Refusal::UnknownServer => "the route's server is not a registered node",
            Refusal::RouteLoop => "the route visits a node or a channel twice",
            Refusal::RouteTooLong => "the route has more hops than this node allows",
            Refusal::AllowanceTooLarge => "the response allowance exceeds the relay lane's frame limit",
            Refusal::Busy => "this node is at its limit for this neighbour; try later or elsewhere",
            Refusal::NoTerms => "this node has not loaded the chain's graph yet",
            Refusal::DuplicateClaim => "the sync claims a late fee for one request twice",
            Refusal::NoticeWrongSeverer => "the notice's severer is not an end of the channel it names",
            Refusal::Draining => "this node is stopping and takes no new requests; try another route",
            Refusal::EmptyFrame => "the frame carries no request",
            Refusal::Other => "refused for a reason this node does not know",
        })
    }
}

/// One thing for the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send a message to the neighbour at the other end of `channel`.
    Send {
        /// The channel.
        channel: ChannelId,
        /// The message.
        msg: Wire,
    },
    /// Make a voucher durable before any later ack is sent (see the module
    /// docs). `received` tells whether we are its payee (the best
    /// voucher to close with) or its payer (what we must never sign below).
    Persist {
        /// The channel.
        channel: ChannelId,
        /// The voucher.
        voucher: SignedVoucher,
        /// True for a voucher from the peer, false for one we signed.
        received: bool,
    },
    /// Cut the channel on chain (adversarial close) with the best voucher
    /// held, then call [`NodeEngine::channel_removed`](crate::protocol::NodeEngine::channel_removed)
    /// with the transaction's hash as soon as it is known (before finality):
    /// that sends the notices upstream.
    Sever {
        /// The channel.
        channel: ChannelId,
        /// The best voucher the peer gave us.
        voucher: Option<SignedVoucher>,
        /// Why.
        reason: SeverReason,
    },
    /// Call [`NodeEngine::handle_timer`](crate::protocol::NodeEngine::handle_timer)
    /// with `timer` at `at_ms` (local monotonic clock) or later.
    SetTimer {
        /// When.
        at_ms: u64,
        /// Which.
        timer: Timer,
    },
    /// Hand a paid, acknowledged request to the local service; answer with
    /// [`NodeEngine::respond`](crate::protocol::NodeEngine::respond).
    Serve {
        /// Its id.
        request_id: RequestId,
        /// The request.
        request: Box<Request>,
    },
    /// The neighbour on `channel` refused request `request_id` (the ack of
    /// the frame that carried it says so): call
    /// [`NodeEngine::downstream_refused`](crate::protocol::NodeEngine::downstream_refused)
    /// with `Some(reason)`, as for a refusal in a transport receipt, and
    /// tell the requester if it was ours.
    RefusedByPeer {
        /// The channel.
        channel: ChannelId,
        /// The request.
        request_id: RequestId,
        /// The peer's reason.
        reason: Refusal,
    },
    /// Report to the local requester.
    Deliver(Delivery),
    /// Tell the engine, through `channel_removed`, when `channel` leaves the
    /// on-chain graph (a received notice claims it did).
    WatchChannel {
        /// The channel.
        channel: ChannelId,
    },
    /// For traces and metrics.
    Event(EngineEvent),
}

/// The hash a driver without a chain may use as a severance's transaction
/// hash: SHA-256 of the channel id and the severing node's key.
pub fn offline_tx_hash(channel: ChannelId, severer: &crate::bytes::NodeKey) -> Hash32 {
    let mut b = Vec::with_capacity(40);
    b.extend_from_slice(&channel.0.to_be_bytes());
    b.extend_from_slice(&severer.0);
    crate::bytes::sha256(&b)
}
