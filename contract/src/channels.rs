//! Channels: open with confirmation, cooperative close with confirmation,
//! and adversarial close (severance) with a challenge window.
//!
//! Only an `open` (or `close_proposed`) channel is an edge of the graph. A
//! channel's collateral is the two deposits; each direction's best voucher is
//! recorded as `paid_by_a` / `paid_by_b`. At settlement side `x` gets
//! `deposit_x − paid_by_x + paid_to_x` ([`settle_amounts`]). Closed channels
//! stay in storage as tombstones; ids are never reused.

use near_sdk::json_types::U128;
use near_sdk::{AccountId, near, require};
use por_core::settlement::{charge_penalties, record_claims};
use por_core::{EdgeParams, SignedVoucher};

use crate::Contract;
use crate::events::Event;
use crate::nodes::{AdjEntry, NodeStatus};
use crate::partition::{CheckStatus, Store};
use crate::vouchers::{Floor, require_voucher};

/// A channel's lifecycle state.
#[near(serializers = [borsh])]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelState {
    /// Proposed by `a`, waiting for `b` to confirm.
    Proposed,
    /// An edge of the graph.
    Open,
    /// One side proposed a cooperative close: still an edge for the
    /// partition check (the two ends are still bound by it), but shown as
    /// closing in the graph views, so no node routes new requests over it.
    CloseProposed {
        /// True when `a` proposed.
        by_a: bool,
    },
    /// Severed: out of the graph, waiting for the challenge window to end.
    Severed {
        /// True when `a` severed.
        by_a: bool,
        /// When it was severed.
        at_ms: u64,
        /// When `finalize` becomes possible.
        deadline_ms: u64,
    },
    /// Settled (or cancelled). A channel that was severed keeps who cut it
    /// (`Some(by_a)`): an upstream checking a severance notice after the
    /// challenge window must still tell it from a cooperative close.
    Closed {
        /// `Some(true)` when `a` severed it, `Some(false)` when `b` did,
        /// `None` for a cooperative close or a cancelled proposal.
        severed_by_a: Option<bool>,
    },
}

impl ChannelState {
    /// The name views and messages use.
    pub fn name(&self) -> &'static str {
        match self {
            ChannelState::Proposed => "proposed",
            ChannelState::Open => "open",
            ChannelState::CloseProposed { .. } => "close_proposed",
            ChannelState::Severed { .. } => "severed",
            ChannelState::Closed { .. } => "closed",
        }
    }
}

/// A channel as stored.
#[near(serializers = [borsh])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    /// Its id.
    pub id: u64,
    /// The opener.
    pub a: u32,
    /// The peer.
    pub b: u32,
    /// Agreed parameters.
    pub params: EdgeParams,
    /// The opener's deposit.
    pub deposit_a: u128,
    /// The peer's deposit.
    pub deposit_b: u128,
    /// Best voucher recorded with payer `a`.
    pub paid_by_a: u128,
    /// Best voucher recorded with payer `b`.
    pub paid_by_b: u128,
    /// Lifecycle state.
    pub state: ChannelState,
    /// When it was proposed.
    pub proposed_at_ms: u64,
}

pub use por_core::settlement::settle_amounts;

impl Contract {
    fn load_channel(&self, id: u64) -> Channel {
        match self.channels.get(&id) {
            Some(c) => c.clone(),
            None => near_sdk::env::panic_str(&format!("channel {id} does not exist; check the channel id")),
        }
    }

    /// Which side `caller` is on: true for `a`; refuses outsiders.
    fn side_of(&self, ch: &Channel, caller: &AccountId, what: &str) -> bool {
        let ia = self.node_of.get(caller).copied();
        if ia == Some(ch.a) {
            true
        } else if ia == Some(ch.b) {
            false
        } else {
            near_sdk::env::panic_str(&format!(
                "{what}: {caller} is not a side of channel {}; only its two nodes may do this",
                ch.id
            ))
        }
    }

    fn unlink_live(&mut self, ch: &Channel) {
        for n in [ch.a, ch.b] {
            self.rec_mut(n).live.retain(|&c| c != ch.id);
        }
    }

    fn remove_edge(&mut self, ch: &Channel) {
        for n in [ch.a, ch.b] {
            self.adj_mut(n).retain(|e| e.channel != ch.id);
        }
        self.open_edges.remove(&ch.id);
        self.bump_graph();
    }

    /// Credits both sides and closes `ch`; returns the credits.
    fn pay_out(&mut self, ch: &mut Channel) -> (u128, u128) {
        let (ca, cb) = settle_amounts(ch.deposit_a, ch.deposit_b, ch.paid_by_a, ch.paid_by_b);
        let acc_a = self.rec(ch.a).account_id.clone();
        let acc_b = self.rec(ch.b).account_id.clone();
        self.total_deposits -= ch.deposit_a + ch.deposit_b;
        self.credit(&acc_a, ca);
        self.credit(&acc_b, cb);
        let severed_by_a = match ch.state {
            ChannelState::Severed { by_a, .. } => Some(by_a),
            _ => None,
        };
        ch.state = ChannelState::Closed { severed_by_a };
        self.unlink_live(ch);
        (ca, cb)
    }

    /// `open_channel`.
    pub(crate) fn do_open(
        &mut self,
        caller: AccountId,
        peer: AccountId,
        params: EdgeParams,
        deposit: u128,
        now_ms: u64,
    ) -> u64 {
        let a = self.index_of(&caller, "open_channel");
        self.require_can_open(a, "opener");
        let b = self.index_of(&peer, "open_channel (peer)");
        require!(a != b, "open_channel: a channel needs two different nodes; name another node as peer");
        require!(
            self.state(b).status == NodeStatus::Active,
            format!("open_channel: peer {peer} is not active (partitioned or left); it must rejoin first")
        );
        let fee = self.config.channel_storage_fee.0;
        require!(
            deposit >= fee,
            format!(
                "open_channel needs an attached deposit of at least channel_storage_fee {fee} yocto; the rest is your channel deposit (attached {deposit})"
            )
        );
        let id = self.next_channel;
        self.next_channel += 1;
        let deposit_a = deposit - fee;
        self.channels.insert(
            id,
            Channel {
                id,
                a,
                b,
                params,
                deposit_a,
                deposit_b: 0,
                paid_by_a: 0,
                paid_by_b: 0,
                state: ChannelState::Proposed,
                proposed_at_ms: now_ms,
            },
        );
        self.rec_mut(a).live.push(id);
        self.storage_reserve += fee;
        self.total_deposits += deposit_a;
        Event::ChannelProposed {
            channel_id: id,
            a,
            b,
            a_account: caller,
            b_account: peer,
            params,
            deposit_a: U128(deposit_a),
        }
        .emit();
        id
    }

    /// `confirm_channel`.
    pub(crate) fn do_confirm(&mut self, caller: AccountId, id: u64, deposit: u128) {
        self.require_no_check("confirm_channel");
        let mut ch = self.load_channel(id);
        require!(
            ch.state == ChannelState::Proposed,
            format!("confirm_channel: channel {id} is {}, not a proposal; nothing to confirm", ch.state.name())
        );
        require!(
            self.node_of.get(&caller).copied() == Some(ch.b),
            format!("confirm_channel: only the proposed peer {} may confirm channel {id}", self.rec(ch.b).account_id)
        );
        self.require_can_open(ch.b, "confirming peer");
        self.require_can_open(ch.a, "opener");
        ch.deposit_b = deposit;
        ch.state = ChannelState::Open;
        self.adj_mut(ch.a).push(AdjEntry { peer: ch.b, channel: id });
        self.adj_mut(ch.b).push(AdjEntry { peer: ch.a, channel: id });
        self.rec_mut(ch.b).live.push(id);
        self.open_edges.insert(id);
        self.total_deposits += deposit;
        self.bump_graph();
        Event::ChannelOpened {
            channel_id: id,
            a: ch.a,
            b: ch.b,
            deposit_a: U128(ch.deposit_a),
            deposit_b: U128(deposit),
        }
        .emit();
        self.channels.insert(id, ch);
    }

    /// `cancel_proposal`.
    pub(crate) fn do_cancel(&mut self, caller: AccountId, id: u64, now_ms: u64) {
        let mut ch = self.load_channel(id);
        require!(
            ch.state == ChannelState::Proposed,
            format!("cancel_proposal: channel {id} is {}, not a proposal", ch.state.name())
        );
        require!(
            self.node_of.get(&caller).copied() == Some(ch.a),
            format!("cancel_proposal: only the opener {} may cancel channel {id}", self.rec(ch.a).account_id)
        );
        let at = ch.proposed_at_ms.saturating_add(self.config.proposal_timeout_ms);
        require!(
            now_ms >= at,
            format!(
                "cancel_proposal: the peer may still confirm channel {id} until {at} ms (now {now_ms}); retry then"
            )
        );
        let refunded = ch.deposit_a;
        self.total_deposits -= refunded;
        self.credit(&caller, refunded);
        ch.state = ChannelState::Closed { severed_by_a: None };
        self.unlink_live(&ch);
        Event::ProposalCancelled { channel_id: id, refunded: U128(refunded) }.emit();
        self.channels.insert(id, ch);
    }

    /// Records `voucher` (if any) as paid by the side `payer_is_a`, if it
    /// passes `floor` (built from the amount recorded for that direction);
    /// returns the amount recorded afterwards.
    fn record_voucher(
        &self,
        ch: &mut Channel,
        voucher: Option<&SignedVoucher>,
        payer_is_a: bool,
        floor: fn(u128) -> Floor,
    ) -> u128 {
        let (payer, last) = if payer_is_a { (ch.a, ch.paid_by_a) } else { (ch.b, ch.paid_by_b) };
        let Some(sv) = voucher else { return last };
        let key = self.rec(payer).key;
        let c = require_voucher(sv, ch.id, &key, floor(last));
        if payer_is_a {
            ch.paid_by_a = c;
        } else {
            ch.paid_by_b = c;
        }
        c
    }

    /// `propose_close`: the first proposal marks the edge as closing (the
    /// graph version moves, so nodes following the graph stop routing over
    /// it); the proposer may propose again with a better voucher while the
    /// other side has not confirmed, so what it is paid after proposing
    /// (late fees of requests in flight) is not lost.
    pub(crate) fn do_propose_close(&mut self, caller: AccountId, id: u64, voucher: Option<SignedVoucher>) {
        let mut ch = self.load_channel(id);
        let by_a = self.side_of(&ch, &caller, "propose_close");
        match ch.state {
            ChannelState::Open => {}
            ChannelState::CloseProposed { by_a: proposer_is_a } => {
                require!(
                    proposer_is_a == by_a,
                    format!(
                        "propose_close: the other side already proposed closing channel {id}; call confirm_close instead"
                    )
                );
                require!(
                    voucher.is_some(),
                    format!(
                        "propose_close: you already proposed closing channel {id}; propose again only with a better voucher of the other side"
                    )
                );
            }
            _ => near_sdk::env::panic_str(&format!(
                "propose_close: channel {id} is {}; only an open channel can be closed cooperatively",
                ch.state.name()
            )),
        }
        let first = ch.state == ChannelState::Open;
        let paid = self.record_voucher(&mut ch, voucher.as_ref(), !by_a, Floor::Above);
        ch.state = ChannelState::CloseProposed { by_a };
        self.channels.insert(id, ch);
        if first {
            self.bump_graph();
        }
        Event::CloseProposed { channel_id: id, proposer: caller, paid_to_proposer: U128(paid) }.emit();
    }

    /// `confirm_close`: records the best voucher the proposer signed
    /// (`voucher`) and the confirmer's own latest voucher to the proposer
    /// (`own`), each at least what is recorded for its direction, then pays
    /// both sides out.
    pub(crate) fn do_confirm_close(
        &mut self,
        caller: AccountId,
        id: u64,
        voucher: Option<SignedVoucher>,
        own: Option<SignedVoucher>,
    ) {
        self.require_no_check("confirm_close");
        let mut ch = self.load_channel(id);
        let is_a = self.side_of(&ch, &caller, "confirm_close");
        let ChannelState::CloseProposed { by_a } = ch.state else {
            near_sdk::env::panic_str(&format!(
                "confirm_close: channel {id} is {}; the other side must call propose_close first",
                ch.state.name()
            ))
        };
        require!(
            is_a != by_a,
            format!("confirm_close: you proposed closing channel {id}; the other side must confirm it")
        );
        self.record_voucher(&mut ch, voucher.as_ref(), by_a, Floor::AtLeast);
        self.record_voucher(&mut ch, own.as_ref(), is_a, Floor::AtLeast);
        self.remove_edge(&ch);
        let (ca, cb) = self.pay_out(&mut ch);
        self.channels.insert(id, ch);
        Event::ChannelClosed { channel_id: id, credit_a: U128(ca), credit_b: U128(cb) }.emit();
    }

    /// `sever`: the edge leaves the graph, both stakes pay half the penalty,
    /// each side gets a claim on the other, and the partition check starts.
    pub(crate) fn do_sever(
        &mut self,
        caller: AccountId,
        id: u64,
        voucher: Option<SignedVoucher>,
        now_ms: u64,
    ) -> CheckStatus {
        self.require_no_check("sever");
        let mut ch = self.load_channel(id);
        let by_a = self.side_of(&ch, &caller, "sever");
        require!(
            matches!(ch.state, ChannelState::Open | ChannelState::CloseProposed { .. }),
            format!(
                "sever: channel {id} is {}; only an open channel can be severed (or one whose close is proposed)",
                ch.state.name()
            )
        );
        // The best voucher the severer holds may be the one it proposed a
        // close with, already recorded: it is accepted again.
        self.record_voucher(&mut ch, voucher.as_ref(), !by_a, Floor::AtLeast);
        let deadline_ms = now_ms.saturating_add(self.config.challenge_period_ms);
        ch.state = ChannelState::Severed { by_a, at_ms: now_ms, deadline_ms };
        self.remove_edge(&ch);
        let (s, o) = if by_a { (ch.a, ch.b) } else { (ch.b, ch.a) };
        let rules = self.rules();
        let pen = charge_penalties(&mut Store::new(self), &rules, s, o);
        let other = self.rec(o).account_id.clone();
        Event::ChannelSevered {
            channel_id: id,
            severer: caller,
            other,
            penalty_severer: U128(pen.severer),
            penalty_other: U128(pen.other),
            challenge_deadline_ms: deadline_ms,
        }
        .emit();
        record_claims(&mut Store::new(self), &rules, id, s, o, pen, now_ms);
        self.channels.insert(id, ch);
        self.start_check(id, s, o, now_ms)
    }

    /// `submit_voucher`.
    pub(crate) fn do_submit_voucher(&mut self, caller: AccountId, id: u64, voucher: SignedVoucher, now_ms: u64) {
        let mut ch = self.load_channel(id);
        let is_a = self.side_of(&ch, &caller, "submit_voucher");
        let ChannelState::Severed { by_a, deadline_ms, .. } = ch.state else {
            near_sdk::env::panic_str(&format!(
                "submit_voucher: channel {id} is {}; vouchers are submitted only during a severed channel's challenge window",
                ch.state.name()
            ))
        };
        require!(
            is_a != by_a,
            format!("submit_voucher: you severed channel {id}; only the other side may submit a voucher now")
        );
        require!(
            now_ms < deadline_ms,
            format!("submit_voucher: the challenge window of channel {id} ended at {deadline_ms} ms; call finalize")
        );
        let c = self.record_voucher(&mut ch, Some(&voucher), by_a, Floor::Above);
        let payer = self.rec(if by_a { ch.a } else { ch.b }).account_id.clone();
        self.channels.insert(id, ch);
        Event::VoucherSubmitted { channel_id: id, payer, cumulative: U128(c) }.emit();
    }

    /// `finalize`.
    pub(crate) fn do_finalize(&mut self, id: u64, now_ms: u64) {
        let mut ch = self.load_channel(id);
        let ChannelState::Severed { deadline_ms, .. } = ch.state else {
            near_sdk::env::panic_str(&format!(
                "finalize: channel {id} is {}; only a severed channel is finalized",
                ch.state.name()
            ))
        };
        require!(
            now_ms >= deadline_ms,
            format!(
                "finalize: the challenge window of channel {id} lasts until {deadline_ms} ms (now {now_ms}); retry then"
            )
        );
        let (ca, cb) = self.pay_out(&mut ch);
        self.channels.insert(id, ch);
        Event::ChannelFinalized { channel_id: id, credit_a: U128(ca), credit_b: U128(cb) }.emit();
    }
}
