//! Upstream name resolution at request time, with hickory and never getaddrinfo.
//!
//! Pingora's `HttpPeer::new` with a host name calls the blocking system
//! resolver and unwraps; moat resolves first and hands Pingora a
//! `SocketAddr`. One hickory resolver is kept per distinct name-server set
//! (the conf's `resolver` directive, or `/etc/resolv.conf`, or Docker's
//! 127.0.0.11 when that file is missing). Answers are cached no longer than
//! `resolver ... valid=` and never longer than [`MAX_POSITIVE_TTL`], so a
//! container recreated at a new address is reached within that window even
//! though Docker's DNS answers with a 600 s TTL.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_resolver::config::{LookupIpStrategy, ResolverOpts};

use crate::dns::servers_config;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;

use crate::conf::UpstreamOptions;

/// Longest time a positive answer is reused, whatever `valid=` says.
pub const MAX_POSITIVE_TTL: Duration = Duration::from_secs(10);
/// How long "no such name" is remembered.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(1);
/// Upper bound on one resolution, all retries included.
pub const RESOLVE_DEADLINE: Duration = Duration::from_secs(5);
/// Docker's embedded DNS, used when `/etc/resolv.conf` cannot be read.
const DOCKER_DNS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11));

/// Why a host could not be turned into an address.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The name has no A/AAAA record, or the name server failed.
    #[error("cannot resolve {host}: {message}")]
    Failed {
        /// The host name.
        host: String,
        /// The resolver's reason.
        message: String,
    },
    /// The name server did not answer within [`RESOLVE_DEADLINE`].
    #[error("resolving {host} timed out after {deadline:?}")]
    Timeout {
        /// The host name.
        host: String,
        /// How long moat waited.
        deadline: Duration,
    },
}

/// A resolver failure as a person reads it: hickory's own text for "no
/// such name" is a dump of the query (`no record found for Query { name:
/// ..., query_type: AAAA, ... }`), which says nothing about what to fix.
fn in_words(e: &hickory_resolver::net::NetError) -> String {
    if e.is_nx_domain() {
        "no such name (is the container running, and on a network shared with moat?)".into()
    } else if e.is_no_records_found() {
        "the name has no address record".into()
    } else {
        e.to_string()
    }
}

/// Key of one resolver: name servers, cache window and address family.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ResolverKey {
    servers: Vec<SocketAddr>,
    valid: Option<Duration>,
    ipv6: bool,
}

/// Resolvers shared by all requests; cheap to clone.
#[derive(Clone, Default)]
pub struct UpstreamResolver {
    resolvers: Arc<Mutex<HashMap<ResolverKey, TokioResolver>>>,
    /// Name servers to use when a conf has no `resolver` directive; `None`
    /// means read `/etc/resolv.conf`.
    system: Option<Vec<SocketAddr>>,
}

impl UpstreamResolver {
    /// Resolve through `/etc/resolv.conf` when confs name no resolver.
    pub fn new() -> Self {
        Self::default()
    }

    /// Resolve through these name servers when confs name no resolver
    /// (tests, or a supervisor that knows better than resolv.conf).
    pub fn with_system_servers(servers: Vec<SocketAddr>) -> Self {
        Self {
            resolvers: Arc::default(),
            system: Some(servers),
        }
    }

    /// The address to connect to for `host:port` under these options.
    /// IP literals (with or without brackets) skip DNS.
    pub async fn resolve(
        &self,
        host: &str,
        port: u16,
        options: &UpstreamOptions,
    ) -> Result<SocketAddr, ResolveError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        // Boxed: hickory's lookup future is large, and every proxied
        // request's future would otherwise carry (and move) its space.
        Box::pin(self.lookup(host, port, options)).await
    }

    async fn lookup(
        &self,
        host: &str,
        port: u16,
        options: &UpstreamOptions,
    ) -> Result<SocketAddr, ResolveError> {
        let resolver = self.resolver_for(options);
        // A trailing dot makes the name absolute, so search domains and
        // ndots never add lookups for container names.
        let fqdn = if host.ends_with('.') {
            host.to_owned()
        } else {
            format!("{host}.")
        };
        // From ASCII, not through IDNA: container names may hold `_`
        // (Compose's `project_service_1`), which IDNA refuses and DNS allows.
        let name =
            hickory_proto::rr::Name::from_ascii(&fqdn).map_err(|e| ResolveError::Failed {
                host: host.to_owned(),
                message: format!("not a DNS name: {e}"),
            })?;
        let lookup = tokio::time::timeout(RESOLVE_DEADLINE, resolver.lookup_ip(name)).await;
        let answer = match lookup {
            Err(_) => {
                return Err(ResolveError::Timeout {
                    host: host.to_owned(),
                    deadline: RESOLVE_DEADLINE,
                })
            }
            Ok(Err(e)) => {
                return Err(ResolveError::Failed {
                    host: host.to_owned(),
                    message: in_words(&e),
                })
            }
            Ok(Ok(answer)) => answer,
        };
        answer
            .iter()
            .next()
            .map(|ip| SocketAddr::new(ip, port))
            .ok_or_else(|| ResolveError::Failed {
                host: host.to_owned(),
                message: "no address in the answer".into(),
            })
    }

    fn resolver_for(&self, options: &UpstreamOptions) -> TokioResolver {
        let servers = if options.resolver.is_empty() {
            self.system.clone().unwrap_or_default()
        } else {
            options.resolver.to_vec()
        };
        let key = ResolverKey {
            servers,
            valid: options.resolver_valid,
            ipv6: options.resolver_ipv6,
        };
        let mut resolvers = self.resolvers.lock().unwrap_or_else(|e| e.into_inner());
        resolvers
            .entry(key.clone())
            .or_insert_with(|| build(&key))
            .clone()
    }
}

fn build(key: &ResolverKey) -> TokioResolver {
    let (config, mut opts) = if key.servers.is_empty() {
        match hickory_resolver::system_conf::read_system_conf() {
            Ok((config, opts)) => (config, opts),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read /etc/resolv.conf; resolving upstreams through 127.0.0.11");
                (
                    servers_config(&[SocketAddr::new(DOCKER_DNS, 53)]),
                    ResolverOpts::default(),
                )
            }
        }
    } else {
        (servers_config(&key.servers), ResolverOpts::default())
    };
    let positive = key
        .valid
        .map_or(MAX_POSITIVE_TTL, |v| v.min(MAX_POSITIVE_TTL));
    opts.positive_max_ttl = Some(positive);
    opts.negative_max_ttl = Some(NEGATIVE_TTL);
    opts.negative_min_ttl = None;
    opts.timeout = Duration::from_secs(2);
    opts.attempts = 2;
    opts.ip_strategy = if key.ipv6 {
        LookupIpStrategy::Ipv4thenIpv6
    } else {
        LookupIpStrategy::Ipv4Only
    };
    TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(opts)
        .build()
        .expect("a resolver built from an explicit config and the tokio provider always builds")
}
