//! The per-node protocol engine (DESIGN §2.3–§2.7), sans-IO.
//!
//! [`NodeEngine`] is one node's state machine: it pays and forwards requests,
//! acknowledges, relays signed responses, tracks deadlines on the node's own
//! clock, streams late fees in periodic syncs, applies the failure policy and
//! sends severance notices. It reads no clock and draws no randomness: every
//! input carries `now` (the node's monotonic clock in ms), every output is an
//! [`Effect`] appended to a caller-provided `Vec` and carried out by the
//! driver in order (see [`effect`] for the durability rule).
//!
//! The node (issue #6) drives it over libp2p and the chain; the simulator
//! (`por-sim`) drives the very same code with virtual time.
//!
//! # Re-sending (lossy links)
//!
//! Any message may be lost. The engine recovers every loss with bounded
//! repeats that the receiver handles idempotently, and never sends anything
//! extra while nothing is lost:
//! - **Request, ack.** The node that sent a request keeps a copy until the
//!   leg ends. With no ack within the edge's round trip plus
//!   [`Resend::margin_ms`] (checked at the channel's sync tick) it sends the
//!   copy again; the downstream may be counting its budget from that copy, so
//!   the late fees it owes start from the copy's deadline
//!   ([`inflight::DownLeg::owed_from_ms`]).
//! - **Response, notice.** The node that sent an answer upstream keeps it for
//!   as long as a repeat can help ([`inflight::UpLeg::keep_until_ms`]), off
//!   its channel's books (no sync tick looks at it). An upstream still without
//!   an answer at its deadline sends the request again (then at its sync
//!   ticks, one round trip apart); the downstream, holding the request
//!   already, acknowledges again and, if the copy left after the answer
//!   should have arrived, repeats the answer and owes the lateness until the
//!   repeat arrives (the lost message was its own).
//! - **Late-fee claims and notices in syncs.** Repeated in every sync until
//!   the peer's [`SyncAck`](crate::message::SyncAck) for a sync that carried
//!   them; a request's entry stays until its claims are confirmed. Vouchers
//!   are cumulative, so a later voucher pays for a lost one; what it pays
//!   beyond the requests and claims it came with is the channel's credit
//!   ([`ChannelState::credit`]), from which a repeated request or claim with
//!   an older voucher is paid.
//!
//! Each is bounded by [`Resend::max_resends`]; `0` turns the rule off. Both
//! ends of a channel must run it (the node and the simulator run this code).
//! What is left: a message lost again and again past the late-fee grace
//! (at 1 % loss about one hop in 10⁵–10⁶), and policies that cut at the
//! deadline (`sever_overdue_after_ms = Some(0)`), which leave no time to
//! repeat anything.
//!
//! Files by role:
//! - [`config`]: late-fee terms, sync, failure policy, fault injection;
//! - [`effect`]: wire messages, effects, timers, deliveries;
//! - [`channel`]: per-channel state, and its books of the requests in flight
//!   each way (`ChannelMap`: the engine's channels);
//! - [`inflight`]: what a request in flight holds, its legs and their late
//!   accounting (`Requests`: the engine's table of them);
//! - `node`: the engine itself, whose fields are private to it and its
//!   handlers below; requests, acks, responses;
//!   - `node/notice`: notices received, confirmed on chain, passed upstream
//!     (`NoticeWatch`: requests whose notice awaits the chain);
//!   - `node/resend`: the re-send rule (`KeptAnswers`: answers kept after
//!     their request ended);
//!   - `node/sync`: syncs, timers, policy, severance;
//!   - `node/refused`: a request the first hop refused outright;
//!   - `node/restore`: channels back after a restart.

pub mod channel;
pub mod config;
pub mod effect;
pub mod inflight;
mod node;
pub mod terms;
#[cfg(all(test, feature = "native"))]
mod tests;

pub use channel::{ChannelSetup, ChannelState, IdSet};
pub use config::{FailurePolicy, FaultInjection, ProtocolConfig, Resend, late_fee};
pub use effect::{
    Delivery, Effect, EngineEvent, PaidRequest, Refusal, RefusedBelow, RequestFrame, SeverReason, Timer, Wire,
    offline_tx_hash,
};
pub use node::{NodeEngine, RequestError, RespondError};
pub use terms::{EdgeTerms, Limits, StaticTerms, TermsView, check_route};
