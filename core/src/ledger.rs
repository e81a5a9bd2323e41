//! One node's view of one channel: the best voucher of each direction
//! (DESIGN §2.4).
//!
//! Accepting a voucher is split in two so that the node can make it durable in
//! between: [`ChannelLedger::check`] verifies without changing anything and says
//! how much is new; the node writes the voucher to disk; then
//! [`ChannelLedger::commit`] records it and only then may an ack leave.

use serde::{Deserialize, Serialize};

use crate::bytes::NodeKey;
use crate::crypto::{Signer, Verifier};
use crate::voucher::{Amount, ChannelId, SignedVoucher, Voucher};

/// Why a voucher was refused or could not be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// The payer's signature does not verify: the voucher is forged or damaged.
    #[error("voucher signature does not verify against the payer's key")]
    BadSignature,
    /// The voucher is for another contract deployment.
    #[error("voucher is for contract {got:?}, this channel lives in {expected:?}")]
    WrongContract {
        /// Our contract.
        expected: String,
        /// The voucher's.
        got: String,
    },
    /// The voucher is for another channel.
    #[error("voucher is for channel {got}, expected {expected}")]
    WrongChannel {
        /// Our channel.
        expected: ChannelId,
        /// The voucher's.
        got: ChannelId,
    },
    /// The voucher's payer is not the other side of this channel.
    #[error("voucher is paid by {got}, but only the peer {expected} pays us on this channel")]
    WrongDirection {
        /// The peer.
        expected: NodeKey,
        /// The voucher's payer.
        got: NodeKey,
    },
    /// The voucher does not exceed the best one held: a replay or a stale update.
    #[error("voucher for {got} yocto does not exceed the {last} yocto already held")]
    NotIncreasing {
        /// Best cumulative amount held.
        last: Amount,
        /// The voucher's.
        got: Amount,
    },
    /// The payer cannot cover the voucher: cumulative exceeds its deposit
    /// plus everything it has received.
    #[error("voucher for {cumulative} yocto exceeds what the payer can cover ({limit} yocto)")]
    Insolvent {
        /// The voucher's (or the requested) cumulative amount.
        cumulative: Amount,
        /// Deposit plus received.
        limit: Amount,
    },
    /// An amount overflowed `u128`.
    #[error("amount overflows u128 yocto")]
    Overflow,
}

/// Both directions of one channel as one side sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelLedger {
    /// The contract account the channel lives in.
    pub contract: String,
    /// The channel.
    pub channel: ChannelId,
    /// Our node key.
    pub local: NodeKey,
    /// The peer's node key.
    pub remote: NodeKey,
    /// Our deposit.
    #[serde(with = "crate::bytes::amount_serde")]
    pub local_deposit: Amount,
    /// The peer's deposit.
    #[serde(with = "crate::bytes::amount_serde")]
    pub remote_deposit: Amount,
    sent: Option<SignedVoucher>,
    received: Option<SignedVoucher>,
    /// What we have paid beyond `sent` in this turn, not signed yet
    /// ([`ChannelLedger::pay_later`]): the cumulative amount the next
    /// voucher will carry. Never stored: the engine signs it at its flush,
    /// before the turn ends.
    #[serde(skip)]
    pending: Option<Amount>,
}

impl ChannelLedger {
    /// A fresh channel with nothing paid either way.
    pub fn new(
        contract: String,
        channel: ChannelId,
        local: NodeKey,
        remote: NodeKey,
        local_deposit: Amount,
        remote_deposit: Amount,
    ) -> Self {
        ChannelLedger {
            contract,
            channel,
            local,
            remote,
            local_deposit,
            remote_deposit,
            sent: None,
            received: None,
            pending: None,
        }
    }

    /// Everything we have paid the peer (what [`ChannelLedger::pay_later`]
    /// recorded and no voucher carries yet included).
    pub fn paid(&self) -> Amount {
        self.pending.unwrap_or_else(|| self.sent.as_ref().map_or(0, |v| v.voucher.cumulative))
    }

    /// Everything the peer has paid us (the best voucher we hold).
    pub fn received(&self) -> Amount {
        self.received.as_ref().map_or(0, |v| v.voucher.cumulative)
    }

    /// The best voucher we hold from the peer: what we submit when closing.
    pub fn best_received(&self) -> Option<&SignedVoucher> {
        self.received.as_ref()
    }

    /// The last voucher we signed (not counting what
    /// [`ChannelLedger::pay_later`] recorded since).
    pub fn last_sent(&self) -> Option<&SignedVoucher> {
        self.sent.as_ref()
    }

    /// What we can still pay: deposit + received − paid.
    pub fn spendable(&self) -> Amount {
        self.local_deposit.saturating_add(self.received()).saturating_sub(self.paid())
    }

    /// Our balance if the channel closed now: the same as `spendable`.
    pub fn balance(&self) -> Amount {
        self.spendable()
    }

    /// The voucher paying `amount` more than we have paid so far, unsigned.
    /// Refused when we could not cover it.
    pub fn prepare_payment(&self, amount: Amount) -> Result<Voucher, LedgerError> {
        let cumulative = self.paid().checked_add(amount).ok_or(LedgerError::Overflow)?;
        let limit = self.local_deposit.checked_add(self.received()).ok_or(LedgerError::Overflow)?;
        if cumulative > limit {
            return Err(LedgerError::Insolvent { cumulative, limit });
        }
        Ok(Voucher { contract: self.contract.clone(), channel: self.channel, payer: self.local, cumulative })
    }

    /// Signs and records a payment of `amount`. The caller persists the
    /// returned voucher before sending it.
    pub fn pay(&mut self, amount: Amount, signer: &impl Signer) -> Result<SignedVoucher, LedgerError> {
        let v = self.prepare_payment(amount)?.sign(signer);
        self.sent = Some(v.clone());
        self.pending = None;
        Ok(v)
    }

    /// Records a payment of `amount` that the next voucher will carry,
    /// without signing one: the requests of one turn over this channel go
    /// under one voucher, signed by [`ChannelLedger::sign_pending`].
    /// Refused, with nothing changed, when we could not cover it.
    pub fn pay_later(&mut self, amount: Amount) -> Result<(), LedgerError> {
        let v = self.prepare_payment(amount)?;
        self.pending = Some(v.cumulative);
        Ok(())
    }

    /// Whether [`ChannelLedger::pay_later`] recorded payments no voucher
    /// carries yet.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Signs one voucher for everything [`ChannelLedger::pay_later`]
    /// recorded; `None` when nothing is pending. The caller persists it
    /// before sending it.
    pub fn sign_pending(&mut self, signer: &impl Signer) -> Option<SignedVoucher> {
        let cumulative = self.pending.take()?;
        let v = Voucher { contract: self.contract.clone(), channel: self.channel, payer: self.local, cumulative }
            .sign(signer);
        self.sent = Some(v.clone());
        Some(v)
    }

    /// Checks an incoming voucher without changing anything; returns how much
    /// it pays beyond the best one held.
    pub fn check(&self, v: &SignedVoucher, verifier: &impl Verifier) -> Result<Amount, LedgerError> {
        let vo = &v.voucher;
        if vo.contract != self.contract {
            return Err(LedgerError::WrongContract { expected: self.contract.clone(), got: vo.contract.clone() });
        }
        if vo.channel != self.channel {
            return Err(LedgerError::WrongChannel { expected: self.channel, got: vo.channel });
        }
        if vo.payer != self.remote {
            return Err(LedgerError::WrongDirection { expected: self.remote, got: vo.payer });
        }
        let last = self.received();
        if vo.cumulative <= last {
            return Err(LedgerError::NotIncreasing { last, got: vo.cumulative });
        }
        let limit = self.remote_deposit.checked_add(self.paid()).ok_or(LedgerError::Overflow)?;
        if vo.cumulative > limit {
            return Err(LedgerError::Insolvent { cumulative: vo.cumulative, limit });
        }
        if !v.verify(verifier) {
            return Err(LedgerError::BadSignature);
        }
        Ok(vo.cumulative - last)
    }

    /// Records a voucher that passed [`check`](Self::check) and is on disk.
    /// Re-checks monotonicity so that a stale commit cannot lower the best
    /// voucher.
    pub fn commit(&mut self, v: SignedVoucher) -> Result<(), LedgerError> {
        let last = self.received();
        if v.voucher.cumulative <= last {
            return Err(LedgerError::NotIncreasing { last, got: v.voucher.cumulative });
        }
        self.received = Some(v);
        Ok(())
    }

    /// Puts back the vouchers a node kept on disk, after a restart. Each must
    /// belong to this channel and direction; the received one is not
    /// re-verified (the node verified it before storing it).
    pub fn restore(&mut self, sent: Option<SignedVoucher>, received: Option<SignedVoucher>) -> Result<(), LedgerError> {
        for (v, payer) in [(&sent, self.local), (&received, self.remote)] {
            let Some(v) = v else { continue };
            if v.voucher.contract != self.contract {
                return Err(LedgerError::WrongContract {
                    expected: self.contract.clone(),
                    got: v.voucher.contract.clone(),
                });
            }
            if v.voucher.channel != self.channel {
                return Err(LedgerError::WrongChannel { expected: self.channel, got: v.voucher.channel });
            }
            if v.voucher.payer != payer {
                return Err(LedgerError::WrongDirection { expected: payer, got: v.voucher.payer });
            }
        }
        if sent.as_ref().is_some_and(|v| v.voucher.cumulative > self.paid()) {
            self.sent = sent;
        }
        if received.as_ref().is_some_and(|v| v.voucher.cumulative > self.received()) {
            self.received = received;
        }
        Ok(())
    }

    /// [`check`](Self::check) then [`commit`](Self::commit), for callers
    /// without durable state (the simulator, tests).
    pub fn accept(&mut self, v: SignedVoucher, verifier: &impl Verifier) -> Result<Amount, LedgerError> {
        let delta = self.check(&v, verifier)?;
        self.commit(v)?;
        Ok(delta)
    }
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;
    use crate::crypto::{Ed25519Verifier, NodeSigner};

    fn pair() -> (NodeSigner, NodeSigner, ChannelLedger, ChannelLedger) {
        let a = NodeSigner::from_seed([1; 32]);
        let b = NodeSigner::from_seed([2; 32]);
        let la = ChannelLedger::new("por.test".into(), ChannelId(7), a.public(), b.public(), 100, 50);
        let lb = ChannelLedger::new("por.test".into(), ChannelId(7), b.public(), a.public(), 50, 100);
        (a, b, la, lb)
    }

    #[test]
    fn pay_and_accept_both_ways() {
        let (a, b, mut la, mut lb) = pair();
        let v = la.pay(30, &a).unwrap();
        assert_eq!(lb.accept(v, &Ed25519Verifier).unwrap(), 30);
        let v = la.pay(20, &a).unwrap();
        assert_eq!(lb.accept(v, &Ed25519Verifier).unwrap(), 20);
        assert_eq!(lb.received(), 50);
        // b now can spend its deposit plus what it received.
        let v = lb.pay(100, &b).unwrap();
        assert_eq!(la.accept(v, &Ed25519Verifier).unwrap(), 100);
        assert_eq!(la.balance(), 100 - 50 + 100);
        assert_eq!(lb.balance(), 50 + 50 - 100);
        assert_eq!(la.balance() + lb.balance(), 150, "money is conserved");
    }

    #[test]
    fn refusals() {
        let (a, b, mut la, mut lb) = pair();
        let v1 = la.pay(10, &a).unwrap();
        lb.accept(v1.clone(), &Ed25519Verifier).unwrap();
        assert_eq!(lb.check(&v1, &Ed25519Verifier), Err(LedgerError::NotIncreasing { last: 10, got: 10 }));

        let mut forged = la.prepare_payment(5).unwrap().sign(&a);
        forged.voucher.cumulative = 90;
        assert_eq!(lb.check(&forged, &Ed25519Verifier), Err(LedgerError::BadSignature));

        let mut other_channel = la.clone();
        other_channel.channel = ChannelId(8);
        let v = other_channel.prepare_payment(5).unwrap().sign(&a);
        assert_eq!(
            lb.check(&v, &Ed25519Verifier),
            Err(LedgerError::WrongChannel { expected: ChannelId(7), got: ChannelId(8) })
        );

        let mut other_contract = la.clone();
        other_contract.contract = "evil.test".into();
        let v = other_contract.prepare_payment(5).unwrap().sign(&a);
        assert!(matches!(lb.check(&v, &Ed25519Verifier), Err(LedgerError::WrongContract { .. })));

        // b's own voucher replayed back to b: wrong direction.
        let own = lb.prepare_payment(5).unwrap().sign(&b);
        assert!(matches!(lb.check(&own, &Ed25519Verifier), Err(LedgerError::WrongDirection { .. })));

        // a cannot pay beyond its deposit (100) plus what it received (0).
        assert_eq!(la.prepare_payment(91), Err(LedgerError::Insolvent { cumulative: 101, limit: 100 }));
        // and b refuses an insolvent voucher signed anyway.
        let big =
            Voucher { contract: "por.test".into(), channel: ChannelId(7), payer: a.public(), cumulative: 101 }.sign(&a);
        assert_eq!(lb.check(&big, &Ed25519Verifier), Err(LedgerError::Insolvent { cumulative: 101, limit: 100 }));
    }

    #[test]
    fn restore_after_restart() {
        let (a, b, mut la, mut lb) = pair();
        let paid = la.pay(30, &a).unwrap();
        lb.accept(paid.clone(), &Ed25519Verifier).unwrap();
        let mut fresh_a = ChannelLedger::new("por.test".into(), ChannelId(7), a.public(), b.public(), 100, 50);
        fresh_a.restore(Some(paid.clone()), None).unwrap();
        assert_eq!(fresh_a.paid(), 30, "never signs below what it already paid");
        assert_eq!(fresh_a.pay(5, &a).unwrap().voucher.cumulative, 35);
        let mut fresh_b = ChannelLedger::new("por.test".into(), ChannelId(7), b.public(), a.public(), 50, 100);
        assert!(matches!(fresh_b.restore(Some(paid.clone()), None), Err(LedgerError::WrongDirection { .. })));
        fresh_b.restore(None, Some(paid)).unwrap();
        assert_eq!(fresh_b.received(), lb.received());
    }

    #[test]
    fn check_does_not_mutate_and_commit_is_monotone() {
        let (a, _b, mut la, mut lb) = pair();
        let v1 = la.pay(10, &a).unwrap();
        let v2 = la.pay(10, &a).unwrap();
        assert_eq!(lb.check(&v2, &Ed25519Verifier), Ok(20));
        assert_eq!(lb.received(), 0);
        lb.commit(v2).unwrap();
        assert_eq!(lb.commit(v1), Err(LedgerError::NotIncreasing { last: 20, got: 10 }));
        assert_eq!(lb.received(), 20);
    }
}
