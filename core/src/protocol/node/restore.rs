//! Restarting a node: channels come back with the vouchers it kept on disk.

use crate::crypto::{Signer, Verifier};
use crate::ledger::LedgerError;
use crate::protocol::channel::ChannelSetup;
use crate::protocol::effect::Effect;
use crate::voucher::SignedVoucher;

use super::NodeEngine;

impl<S: Signer, V: Verifier> NodeEngine<S, V> {
    /// Opens a channel again after a restart, with the last voucher this node
    /// signed on it (so it never signs a lower amount) and the best one it
    /// received (what it can claim on chain). Requests that were in flight
    /// before the restart are not restored: their upstream sees the node as
    /// silent and its failure policy applies.
    pub fn restore_channel(
        &mut self,
        setup: ChannelSetup,
        sent: Option<SignedVoucher>,
        received: Option<SignedVoucher>,
        now: u64,
        out: &mut Vec<Effect>,
    ) -> Result<(), LedgerError> {
        let channel = setup.channel;
        self.open_channel(setup, now, out);
        let st = self.channels.get_mut(&channel).expect("just opened");
        st.ledger.restore(sent, received)
    }
}
