//! Where the proxy gets its routing decisions from.

use arc_swap::ArcSwap;

use crate::conf::{Action, AuthOutcome, Decision, Listen, RequestInfo, RouteTable};

/// The current routing snapshot. Production passes
/// `Arc<ArcSwap<RouteTable>>` (a reload swaps the table; each request
/// decides once against the snapshot it started with); tests may pass any
/// decision function.
pub trait RouteSource: Send + Sync + 'static {
    /// The decision for one request, from the current snapshot.
    fn decide(&self, req: &RequestInfo) -> Decision;
    /// The decision once the auth server answered the subrequest an
    /// [`Action::Authenticate`] decision asked for. The default (for
    /// sources without `auth_request`) refuses with 500.
    fn decide_after_auth(&self, req: &RequestInfo, _auth: &AuthOutcome) -> Decision {
        let mut decision = self.decide(req);
        decision.action = Action::Return {
            status: 500,
            location: None,
            body: None,
        };
        decision
    }
    /// The sockets the current confs ask for (read once at start).
    fn listens(&self) -> Vec<Listen>;
}

impl RouteSource for ArcSwap<RouteTable> {
    fn decide(&self, req: &RequestInfo) -> Decision {
        self.load().decide(req)
    }

    fn decide_after_auth(&self, req: &RequestInfo, auth: &AuthOutcome) -> Decision {
        self.load().decide_after_auth(req, auth)
    }

    fn listens(&self) -> Vec<Listen> {
        self.load().listens().to_vec()
    }
}
