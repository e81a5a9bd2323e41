//! Where routes to providers come from.

use std::collections::HashMap;

use por_core::{NodeKey, Route};
use tracing::debug;

use por_node::handle::NodeHandle;

/// Where routes to a provider come from. The node plugs in its view of the
/// chain's channel graph ([`NodeHandle::routes_to`]); tests use [`FixedRoutes`].
pub trait RouteSource: Send + Sync + 'static {
    /// Routes from this node to `to` for requests of `body_bytes` with a
    /// response allowance of `max_response_bytes`, best first; empty when
    /// none is known.
    fn routes(&self, to: &NodeKey, body_bytes: u64, max_response_bytes: u64) -> Vec<Route>;
}

/// Routes given up front, per provider.
#[derive(Debug, Clone, Default)]
pub struct FixedRoutes {
    routes: HashMap<NodeKey, Vec<Route>>,
}

impl FixedRoutes {
    /// No routes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a route to the route's server.
    pub fn with(mut self, route: Route) -> Self {
        if let Some(s) = route.server().copied() {
            self.routes.entry(s).or_default().push(route);
        }
        self
    }
}

impl RouteSource for FixedRoutes {
    fn routes(&self, to: &NodeKey, _: u64, _: u64) -> Vec<Route> {
        self.routes.get(to).cloned().unwrap_or_default()
    }
}

/// Routes over the channel graph the node last read from the chain.
impl RouteSource for NodeHandle {
    fn routes(&self, to: &NodeKey, body_bytes: u64, max_response_bytes: u64) -> Vec<Route> {
        match self.routes_to(to, body_bytes, max_response_bytes, &por_node::routes::RouteLimits::default(), 3) {
            Ok(rs) => rs.into_iter().map(|r| r.route).collect(),
            Err(e) => {
                debug!(to = %to.peer_id(), "no route: {e}");
                Vec::new()
            }
        }
    }
}
