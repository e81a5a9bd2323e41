//! The agent's part in the chain history ([`crate::history`]): every new
//! graph is handed to the log, with how each edge that left it ended, read
//! once from the contract's `channel` view.

use std::collections::BTreeMap;

use super::Agent;
use crate::chain::{ChainClient, ChannelState};
use crate::history::{Removal, Snapshot};

impl<C: ChainClient> Agent<C> {
    /// The graph moved: diff it into the node's chain history.
    pub(super) async fn record_history(&mut self) {
        let log = self.handle.history();
        let next = Snapshot::of(&self.follower);
        let mut how = BTreeMap::new();
        for id in log.removed_in(&next) {
            match self.contract.channel(id).await {
                Ok(Some(c)) => {
                    let r = match (c.severer, c.state) {
                        (Some(by), _) => Removal::Severed(by.to_string()),
                        (None, ChannelState::Severed) => Removal::Severed(String::new()),
                        (None, _) => Removal::Closed(c.close_proposer.map(|a| a.to_string())),
                    };
                    how.insert(id, r);
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(channel = id, "cannot read how a channel left the graph: {e}"),
            }
        }
        // Who proposed each close that is new in this graph.
        let mut proposers = BTreeMap::new();
        for (id, e) in &next.edges {
            if e.closing
                && log.last_edge(*id).is_some_and(|old| !old.closing)
                && let Ok(Some(c)) = self.contract.channel(*id).await
                && let Some(p) = c.close_proposer
            {
                proposers.insert(*id, p.to_string());
            }
        }
        log.observe(next, &how, &proposers);
    }
}
