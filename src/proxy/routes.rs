//! Where the proxy gets its routing decisions from.

use arc_swap::ArcSwap;

use crate::conf::{Decision, Listen, RequestInfo, RouteTable};

/// The current routing snapshot. Production passes
/// `Arc<ArcSwap<RouteTable>>` (a reload swaps the table; each request
/// decides once against the snapshot it started with); tests may pass any
/// decision function.
pub trait RouteSource: Send + Sync + 'static {
    /// The decision for one request, from the current snapshot.
    fn decide(&self, req: &RequestInfo) -> Decision;
    /// The sockets the current confs ask for (read once at start).
    fn listens(&self) -> Vec<Listen>;
}

impl RouteSource for ArcSwap<RouteTable> {
    fn decide(&self, req: &RequestInfo) -> Decision {
        self.load().decide(req)
    }

    fn listens(&self) -> Vec<Listen> {
        self.load().listens().to_vec()
    }
}
