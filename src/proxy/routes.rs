//! Where the proxy gets its routing decisions from.

use arc_swap::ArcSwap;

use crate::conf::{Action, AuthOutcome, Decision, HeaderRules, Listen, RequestInfo, RouteTable};

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
    /// Whether connections to the confs' `conf_port` (its IPv6 sockets when
    /// `ipv6`) begin with a PROXY protocol header, per the current confs.
    /// Asked once per connection.
    fn proxy_protocol(&self, conf_port: u16, ipv6: bool) -> bool {
        self.listens()
            .iter()
            .any(|l| l.port == conf_port && l.ipv6 == ipv6 && l.proxy_protocol)
    }
    /// `underscores_in_headers` / `ignore_invalid_headers` of the server a
    /// request to `conf_port` naming `host` goes to, read before anything
    /// else looks at the head; nginx's defaults unless a source knows better.
    fn header_rules(&self, _conf_port: u16, _host: Option<&str>) -> HeaderRules {
        HeaderRules::default()
    }
    /// Whether some server may ask for client certificates (asked when a
    /// TLS connection starts).
    fn wants_client_certificates(&self) -> bool {
        false
    }
    /// Whether the handshake on `conf_port` with this SNI asks the client
    /// for a certificate (`ssl_verify_client` on the server it picks), and
    /// the CA names the request carries.
    fn client_certificate_request(
        &self,
        _conf_port: u16,
        _sni: Option<&str>,
    ) -> Option<&'static [rustls::DistinguishedName]> {
        None
    }
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

    fn proxy_protocol(&self, conf_port: u16, ipv6: bool) -> bool {
        self.load().proxy_protocol(conf_port, ipv6)
    }

    fn header_rules(&self, conf_port: u16, host: Option<&str>) -> HeaderRules {
        self.load().header_rules(conf_port, host)
    }

    fn wants_client_certificates(&self) -> bool {
        self.load().wants_client_certificates()
    }

    fn client_certificate_request(
        &self,
        conf_port: u16,
        sni: Option<&str>,
    ) -> Option<&'static [rustls::DistinguishedName]> {
        self.load().client_certificate_request(conf_port, sni)
    }
}
