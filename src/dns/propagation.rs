//! Waits until every authoritative server of a zone serves the expected TXT
//! values. Shared by all providers; `acme` calls [`wait_for_txt`] after
//! `present` and before telling the CA to validate.
//!
//! The servers are the zone's NS, found and resolved through hickory's system
//! resolver, unless [`PropagationOptions::nameservers`] names them (tests,
//! split-horizon setups, `PROPAGATION_NAMESERVERS`). Each is queried
//! directly: without recursion when it is one of the zone's NS, with the
//! recursion-desired bit when it was named, since it may be a resolver.
//! When no authoritative server can be asked (no NS answer, none reachable),
//! the check logs that it cannot verify and waits the expected time instead,
//! as certbot does; a server that answers with other values is waited on up
//! to the hard deadline.
//! A challenge name that is a CNAME (acme-dns, a delegated challenge zone)
//! is followed: a resolver's answer carries the chain, and when the zone's
//! own servers answer with a CNAME, the target's servers are asked instead.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;

use super::transport::exchange;
use super::{DnsError, DnsProvider};

/// The longest the check waits when records are slower than the provider's
/// usual time (or the configured `PROPAGATION`).
pub const MAX_WAIT: Duration = Duration::from_secs(600);

/// How long to wait and where to look.
#[derive(Debug, Clone)]
pub struct PropagationOptions {
    /// The expected time: `PROPAGATION` or the provider's default. Past it the
    /// check logs a warning and keeps waiting up to `max_wait`.
    pub timeout: Duration,
    /// The hard deadline (at least `timeout`); default [`MAX_WAIT`].
    pub max_wait: Duration,
    /// Pause between rounds of queries; default 2 s.
    pub interval: Duration,
    /// How often progress is logged; default 5 s.
    pub progress_every: Duration,
    /// Time allowed for one query; default 3 s.
    pub query_timeout: Duration,
    /// Query these servers instead of the zone's NS. They may be
    /// authoritative servers or resolvers, so queries ask for recursion.
    pub nameservers: Option<Vec<SocketAddr>>,
    /// Find the zone's NS through this DNS server instead of the system
    /// resolver (`/etc/resolv.conf`).
    pub resolver: Option<SocketAddr>,
    /// The port the zone's name servers are queried on; default 53.
    pub nameserver_port: u16,
}

impl PropagationOptions {
    /// Defaults for `provider`, with `configured` (`PROPAGATION`) when set.
    pub fn for_provider(provider: &dyn DnsProvider, configured: Option<Duration>) -> Self {
        Self::with_timeout(configured.unwrap_or_else(|| provider.propagation_default()))
    }

    /// Defaults with an expected time of `timeout`.
    pub fn with_timeout(timeout: Duration) -> Self {
        PropagationOptions {
            timeout,
            max_wait: MAX_WAIT,
            interval: Duration::from_secs(2),
            progress_every: Duration::from_secs(5),
            query_timeout: Duration::from_secs(3),
            nameservers: None,
            resolver: None,
            nameserver_port: 53,
        }
    }
}

/// Returns once every server serves every value in `values` at `fqdn`, with
/// the time it took; errors after the deadline naming what is missing where.
pub async fn wait_for_txt(
    fqdn: &str,
    values: &[String],
    opts: &PropagationOptions,
) -> Result<Duration, DnsError> {
    let name = absolute(fqdn)?;
    let (name, servers, recursion) = match &opts.nameservers {
        // A resolver follows a CNAME itself; its answer carries the chain.
        Some(s) if !s.is_empty() => (name, s.clone(), true),
        _ => {
            let found =
                match authoritative_servers(&name, opts.resolver, opts.nameserver_port).await {
                    Ok(servers) => follow_cname(name.clone(), servers, opts).await,
                    Err(e) => Err(e),
                };
            match found {
                Ok((name, servers)) => (name, servers, false),
                // No authoritative server to ask (no NS answer, a resolver
                // that refuses NS queries): wait as certbot does.
                Err(e) => return wait_unverified(fqdn, &e.to_string(), opts).await,
            }
        }
    };
    let start = Instant::now();
    let hard = opts.max_wait.max(opts.timeout);
    let mut last_progress = start;
    let mut warned = false;
    // Whether any server ever answered (authoritative mode falls back to
    // waiting when none can be reached, e.g. port 53 blocked).
    let mut any_answer = false;
    loop {
        let mut missing = Vec::new();
        for server in &servers {
            match query_txt_with(*server, &name, opts.query_timeout, recursion).await {
                Ok(seen) => {
                    any_answer = true;
                    let absent: Vec<&str> = values
                        .iter()
                        .filter(|v| !seen.contains(v))
                        .map(String::as_str)
                        .collect();
                    if !absent.is_empty() {
                        missing.push(format!("{server}: {}", absent.join(", ")));
                    }
                }
                Err(e) => {
                    // Transport errors already start with the server.
                    let prefix = format!("{server}: ");
                    missing.push(format!(
                        "{server}: {}",
                        e.strip_prefix(&prefix).unwrap_or(&e)
                    ));
                }
            }
        }
        let elapsed = start.elapsed();
        if !recursion && !any_answer && elapsed >= opts.timeout {
            tracing::warn!(%fqdn, servers = servers.len(), secs = elapsed.as_secs(),
                "no authoritative server answered (port 53 blocked?): cannot verify the TXT records; \
                 waited the expected time instead (set PROPAGATION_NAMESERVERS to check elsewhere)");
            return Ok(elapsed);
        }
        if missing.is_empty() {
            tracing::info!(%fqdn, servers = servers.len(), secs = elapsed.as_secs(), "TXT visible on every authoritative server");
            return Ok(elapsed);
        }
        if elapsed >= hard {
            return Err(DnsError::Propagation {
                fqdn: fqdn.trim_end_matches('.').to_owned(),
                missing,
                waited: elapsed,
            });
        }
        if !warned && elapsed >= opts.timeout {
            warned = true;
            tracing::warn!(%fqdn, expected_secs = opts.timeout.as_secs(), max_secs = hard.as_secs(),
                "TXT records are slower than expected; waiting longer");
        }
        if last_progress.elapsed() >= opts.progress_every {
            last_progress = Instant::now();
            tracing::info!(%fqdn, secs = elapsed.as_secs(), ready = servers.len() - missing.len(),
                servers = servers.len(), "waiting for TXT records");
        }
        tokio::time::sleep(opts.interval.min(hard.saturating_sub(elapsed))).await;
    }
}

/// When no authoritative server can be found, moat cannot verify the
/// records: it says so and waits the expected time (`PROPAGATION` or the
/// provider's default), as certbot does, rather than failing the order.
async fn wait_unverified(
    fqdn: &str,
    reason: &str,
    opts: &PropagationOptions,
) -> Result<Duration, DnsError> {
    tracing::warn!(%fqdn, reason, secs = opts.timeout.as_secs(),
        "cannot verify the TXT records (no authoritative server to ask); waiting the expected \
         time instead (set PROPAGATION_NAMESERVERS to check through other servers)");
    tokio::time::sleep(opts.timeout).await;
    Ok(opts.timeout)
}

/// The TXT strings `server` serves at `name` (each record's chunks joined),
/// asked without recursion (an authoritative answer).
pub async fn query_txt(
    server: SocketAddr,
    name: &Name,
    timeout: Duration,
) -> Result<Vec<String>, String> {
    query_txt_with(server, name, timeout, false).await
}

/// [`query_txt`], asking for recursion when `recursion` is set (the server
/// may be a resolver rather than the zone's own).
async fn query_txt_with(
    server: SocketAddr,
    name: &Name,
    timeout: Duration,
    recursion: bool,
) -> Result<Vec<String>, String> {
    Ok(query_txt_answer(server, name, timeout, recursion)
        .await?
        .values)
}

/// What one server answered for TXT at a name.
#[derive(Debug, Default)]
struct TxtAnswer {
    /// The TXT strings at the name, or at the end of its CNAME chain when the
    /// answer carries that too (a resolver's answer).
    values: Vec<String>,
    /// Where the name's CNAME chain leads, when the answer has one.
    cname: Option<Name>,
}

/// Longest CNAME chain followed (in one answer, and across zones).
const MAX_CNAME_HOPS: usize = 8;

async fn query_txt_answer(
    server: SocketAddr,
    name: &Name,
    timeout: Duration,
    recursion: bool,
) -> Result<TxtAnswer, String> {
    let mut m = Message::query();
    m.metadata.id = rand::random();
    m.metadata.op_code = OpCode::Query;
    m.metadata.recursion_desired = recursion;
    m.add_query(Query::query(name.clone(), RecordType::TXT));
    let bytes = m.to_vec().map_err(|e| e.to_string())?;
    let answer = exchange(server, &bytes, m.metadata.id, timeout, false).await?;
    // The names the answer's CNAME records lead to from `name`
    // (`_acme-challenge.example.com` → `<id>.auth.acme-dns.io`).
    let mut names = vec![name.clone()];
    for _ in 0..MAX_CNAME_HOPS {
        let last = names.last().cloned().unwrap_or_else(|| name.clone());
        let next = answer.answers.iter().find_map(|r| match &r.data {
            RData::CNAME(c) if r.name == last => Some(c.0.clone()),
            _ => None,
        });
        match next {
            Some(n) if !names.contains(&n) => names.push(n),
            _ => break,
        }
    }
    let values = answer
        .answers
        .iter()
        .filter(|r| names.iter().any(|n| r.name.eq_case(n) || r.name == *n))
        .filter_map(|r| match &r.data {
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect::<String>(),
            ),
            _ => None,
        })
        .collect();
    Ok(TxtAnswer {
        values,
        cname: (names.len() > 1).then(|| names[names.len() - 1].clone()),
    })
}

/// Where the challenge really lives: when the zone's servers answer `name`
/// with a CNAME out of their zone (acme-dns, a delegated challenge zone),
/// the chain's end and its own authoritative servers; else `name` and
/// `servers`. A server that does not answer leaves things as they are (the
/// polling reports it).
async fn follow_cname(
    name: Name,
    servers: Vec<SocketAddr>,
    opts: &PropagationOptions,
) -> Result<(Name, Vec<SocketAddr>), DnsError> {
    let (mut name, mut servers) = (name, servers);
    for _ in 0..MAX_CNAME_HOPS {
        let Some(first) = servers.first() else {
            break;
        };
        let Ok(answer) = query_txt_answer(*first, &name, opts.query_timeout, false).await else {
            break;
        };
        let Some(target) = answer.cname.filter(|_| answer.values.is_empty()) else {
            break;
        };
        tracing::info!(from = %name, to = %target, "challenge name is a CNAME; checking its target");
        servers = authoritative_servers(&target, opts.resolver, opts.nameserver_port).await?;
        name = target;
    }
    Ok((name, servers))
}

/// The addresses (on `port`) of the NS of the zone holding `name`, looked up
/// through `resolver` or the system resolver: the first suffix (longest
/// first) with NS records is the zone.
pub async fn authoritative_servers(
    name: &Name,
    resolver: Option<SocketAddr>,
    port: u16,
) -> Result<Vec<SocketAddr>, DnsError> {
    let builder = match resolver {
        Some(addr) => TokioResolver::builder_with_config(
            super::servers_config(&[addr]),
            TokioRuntimeProvider::default(),
        ),
        None => TokioResolver::builder_tokio().map_err(|e| DnsError::Lookup {
            message: format!("cannot read the system resolver configuration: {e}"),
        })?,
    };
    let resolver = builder.build().map_err(|e| DnsError::Lookup {
        message: format!("cannot build a resolver: {e}"),
    })?;
    let mut candidate = name.clone();
    while candidate.num_labels() >= 1 {
        if let Ok(lookup) = resolver.lookup(candidate.clone(), RecordType::NS).await {
            let hosts: Vec<Name> = lookup
                .answers()
                .iter()
                .filter(|r| r.name == candidate)
                .filter_map(|r| match &r.data {
                    RData::NS(ns) => Some(ns.0.clone()),
                    _ => None,
                })
                .collect();
            if !hosts.is_empty() {
                let mut addrs = Vec::new();
                for host in &hosts {
                    if let Ok(ips) = resolver.lookup_ip(host.clone()).await {
                        addrs.extend(ips.iter().map(|ip| SocketAddr::new(ip, port)));
                    }
                }
                addrs.sort();
                addrs.dedup();
                if addrs.is_empty() {
                    return Err(DnsError::Lookup {
                        message: format!(
                            "the name servers of {candidate} ({}) have no address",
                            join(&hosts)
                        ),
                    });
                }
                return Ok(addrs);
            }
        }
        candidate = candidate.base_name();
    }
    Err(DnsError::Lookup {
        message: format!("no zone with NS records holds {name}"),
    })
}

fn join(names: &[Name]) -> String {
    names
        .iter()
        .map(Name::to_ascii)
        .collect::<Vec<_>>()
        .join(", ")
}

fn absolute(fqdn: &str) -> Result<Name, DnsError> {
    let mut n = Name::from_ascii(fqdn.trim_end_matches('.')).map_err(|e| DnsError::Lookup {
        message: format!("{fqdn} is not a valid DNS name: {e}"),
    })?;
    n.set_fqdn(true);
    Ok(n)
}
