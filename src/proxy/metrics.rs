//! Request counters and upstream latency, kept by the proxy and rendered in
//! Prometheus' text format (version 0.0.4) by the metrics endpoint.
//!
//! Why a hand-written registry: the proxy needs two families (requests by
//! server and status, upstream latency by server); a registry crate would
//! add a dependency tree for what is a map of counters. Recording takes one
//! short `parking_lot` lock (never held across an await); rendering copies
//! the maps under the same lock and formats outside it.
//!
//! The `server` label is the server block that answered, named by its first
//! `server_name` (or its file and line for a catch-all `_`), so the label
//! set stays as small as the confs.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::conf::ServerRef;

/// Upper bounds of the upstream latency buckets, in seconds (`+Inf` implied).
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Label for requests no server block took (a refused request head).
pub const NO_SERVER: &str = "-";

/// One latency histogram: cumulative counts are computed when rendering.
#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Observations per bucket (not cumulative); the last slot is `+Inf`.
    buckets: [u64; LATENCY_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        let slot = LATENCY_BUCKETS
            .iter()
            .position(|le| seconds <= *le)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[slot] += 1;
        self.sum += seconds;
        self.count += 1;
    }
}

/// One server block's counters.
#[derive(Debug, Clone, Default)]
struct ServerCounters {
    /// Status → requests answered.
    by_status: BTreeMap<u16, u64>,
    /// Upstream response time, once the block has forwarded a request.
    upstream: Option<Histogram>,
    /// The status of the latest request, and its upstream time.
    last: (u16, Option<Duration>),
}

/// One upstream address's answers (the status page's upstream health).
#[derive(Debug, Clone, Default)]
struct UpstreamCounters {
    /// `host:port` as the conf names it (the first name seen for the address).
    name: String,
    requests: u64,
    failed: u64,
    /// The status of the latest request, and its upstream time.
    last: (u16, Option<Duration>),
    /// Sum and count of upstream times, for the mean.
    sum: Duration,
    timed: u64,
}

/// Everything the proxy counts per request, under one lock.
#[derive(Debug, Clone, Default)]
struct Counters {
    /// Server label → its counters; sorted, as the text format is rendered.
    servers: BTreeMap<String, ServerCounters>,
    /// Upstream address → its counters.
    upstreams: BTreeMap<SocketAddr, UpstreamCounters>,
}

/// Where a forwarded request went: the address connected to and the
/// upstream as the conf names it.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamPeer<'a> {
    /// The resolved address.
    pub addr: SocketAddr,
    /// The host as written (a container name, or an IP literal).
    pub host: &'a str,
    /// The port.
    pub port: u16,
}

/// One upstream address's health as the status page shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UpstreamHealth {
    /// The address connected to (`172.20.0.5:80`).
    pub address: String,
    /// The upstream as the conf names it (`radarr:7878`).
    pub name: String,
    /// Requests forwarded there.
    pub requests: u64,
    /// Of those, answered 5xx (including connections it refused).
    pub failed: u64,
    /// The latest request's status.
    pub last_status: u16,
    /// The latest request's upstream time (none when it did not answer).
    pub last_upstream_ms: Option<f64>,
    /// Mean upstream time over the requests it answered.
    pub mean_upstream_ms: Option<f64>,
}

/// One server block's traffic as the status page shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ServerHealth {
    /// The server label (first `server_name`, or `file:line`).
    pub server: String,
    /// Requests answered.
    pub requests: u64,
    /// Of those, answered 5xx.
    pub failed: u64,
    /// The latest request's status.
    pub last_status: u16,
    /// The latest forwarded request's upstream time, in milliseconds.
    pub last_upstream_ms: Option<f64>,
    /// Mean upstream time over every forwarded request, in milliseconds.
    pub mean_upstream_ms: Option<f64>,
}

/// One request moat or its upstream failed (5xx), as logged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    /// When, seconds since the epoch.
    pub at: i64,
    /// The status sent (0: nothing could be sent).
    pub status: u16,
    /// The conf `file:line` that routed it, or `-`.
    pub conf: String,
    /// The upstream URL, or `-`.
    pub upstream: String,
    /// The cause in words.
    pub cause: String,
}

/// How many failures the status page keeps.
pub const RECENT_FAILURES: usize = 20;

/// The proxy's counters. Cheap to clone; all clones count into the same maps.
#[derive(Debug, Clone, Default)]
pub struct ProxyMetrics {
    /// Per server block and per upstream address.
    counters: Arc<Mutex<Counters>>,
    /// Access log lines dropped because the writer fell behind.
    access_log_dropped: Arc<AtomicU64>,
    /// The latest failures, newest last, at most [`RECENT_FAILURES`].
    failures: Arc<Mutex<std::collections::VecDeque<Failure>>>,
}

impl ProxyMetrics {
    /// Empty counters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one answered request; `upstream` is the time from choosing
    /// the upstream to its response header, when the request was forwarded,
    /// and `peer` where it was forwarded to.
    pub fn record(
        &self,
        server: &str,
        status: u16,
        upstream: Option<Duration>,
        peer: Option<UpstreamPeer<'_>>,
    ) {
        let mut all = self.counters.lock();
        if let Some(peer) = peer {
            // Allocates only the first time an address is seen.
            let u = all
                .upstreams
                .entry(peer.addr)
                .or_insert_with(|| UpstreamCounters {
                    name: format!("{}:{}", peer.host, peer.port),
                    ..UpstreamCounters::default()
                });
            u.requests += 1;
            u.failed += u64::from(status >= 500);
            u.last = (status, upstream);
            if let Some(elapsed) = upstream {
                u.sum += elapsed;
                u.timed += 1;
            }
        }
        let servers = &mut all.servers;
        // Allocates only the first time a server block is seen.
        let counters = match servers.get_mut(server) {
            Some(c) => c,
            None => servers.entry(server.to_owned()).or_default(),
        };
        *counters.by_status.entry(status).or_insert(0) += 1;
        counters.last = (status, upstream);
        if let Some(elapsed) = upstream {
            counters
                .upstream
                .get_or_insert_with(Histogram::default)
                .observe(elapsed.as_secs_f64());
        }
    }

    /// Keeps `failure` among the recent ones (only 5xx come here: off the
    /// path of requests that succeed).
    pub fn record_failure(&self, failure: Failure) {
        let mut failures = self.failures.lock();
        if failures.len() == RECENT_FAILURES {
            failures.pop_front();
        }
        failures.push_back(failure);
    }

    /// The latest failures, newest first.
    pub fn recent_failures(&self) -> Vec<Failure> {
        self.failures.lock().iter().rev().cloned().collect()
    }

    /// Every upstream address forwarded to so far, by address.
    pub fn upstream_health(&self) -> Vec<UpstreamHealth> {
        let upstreams = self.counters.lock().upstreams.clone();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        upstreams
            .into_iter()
            .map(|(addr, u)| UpstreamHealth {
                address: addr.to_string(),
                name: u.name,
                requests: u.requests,
                failed: u.failed,
                last_status: u.last.0,
                last_upstream_ms: u.last.1.map(ms),
                mean_upstream_ms: (u.timed > 0).then(|| ms(u.sum) / u.timed as f64),
            })
            .collect()
    }

    /// Every server block's traffic so far, by label.
    pub fn server_health(&self) -> Vec<ServerHealth> {
        let servers = self.counters.lock().servers.clone();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        servers
            .into_iter()
            .map(|(server, c)| ServerHealth {
                requests: c.by_status.values().sum(),
                failed: c.by_status.range(500..).map(|(_, n)| n).sum(),
                last_status: c.last.0,
                last_upstream_ms: c.last.1.map(ms),
                mean_upstream_ms: c
                    .upstream
                    .as_ref()
                    .filter(|h| h.count > 0)
                    .map(|h| h.sum * 1000.0 / h.count as f64),
                server,
            })
            .collect()
    }

    /// Counts one access log line that could not be queued.
    pub fn access_log_dropped(&self) {
        self.access_log_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests counted for `server` with `status` (for tests and `moat` tools).
    pub fn requests(&self, server: &str, status: u16) -> u64 {
        let all = self.counters.lock();
        all.servers
            .get(server)
            .and_then(|c| c.by_status.get(&status))
            .copied()
            .unwrap_or(0)
    }

    /// Appends the proxy's families in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        // Copy under the lock, format outside it.
        let servers = self.counters.lock().servers.clone();

        out.push_str(
            "# HELP moat_http_requests_total Requests answered, by server block and status.\n",
        );
        out.push_str("# TYPE moat_http_requests_total counter\n");
        for (server, counters) in &servers {
            for (status, n) in &counters.by_status {
                let _ = writeln!(
                    out,
                    "moat_http_requests_total{{server=\"{}\",status=\"{status}\"}} {n}",
                    escape_label(server)
                );
            }
        }
        out.push_str("# HELP moat_upstream_response_seconds Time from choosing the upstream to its response header, by server block.\n");
        out.push_str("# TYPE moat_upstream_response_seconds histogram\n");
        for (server, h) in servers
            .iter()
            .filter_map(|(s, c)| c.upstream.as_ref().map(|h| (s, h)))
        {
            let server = escape_label(server);
            let mut cumulative = 0;
            for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
                cumulative += h.buckets[i];
                let _ = writeln!(
                    out,
                    "moat_upstream_response_seconds_bucket{{server=\"{server}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "moat_upstream_response_seconds_bucket{{server=\"{server}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "moat_upstream_response_seconds_sum{{server=\"{server}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "moat_upstream_response_seconds_count{{server=\"{server}\"}} {}",
                h.count
            );
        }
        out.push_str("# HELP moat_access_log_dropped_total Access log lines dropped because the log writer fell behind.\n");
        out.push_str("# TYPE moat_access_log_dropped_total counter\n");
        let _ = writeln!(
            out,
            "moat_access_log_dropped_total {}",
            self.access_log_dropped.load(Ordering::Relaxed)
        );
    }
}

/// The `server` label for a server block: its first `server_name` that is
/// not the catch-all `_`, else `file:line`.
pub fn server_label(server: &ServerRef) -> Cow<'_, str> {
    match server.names.iter().find(|n| !n.is_empty() && *n != "_") {
        Some(name) => Cow::Borrowed(name.as_str()),
        None => {
            let file = server
                .file
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            Cow::Owned(format!("{file}:{}", server.line))
        }
    }
}

/// Escapes a label value as the text format requires (`\`, `"`, newline).
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_server_and_status() {
        let m = ProxyMetrics::new();
        let app = Some(UpstreamPeer {
            addr: "172.20.0.5:8080".parse().unwrap(),
            host: "app",
            port: 8080,
        });
        m.record("app.*", 200, Some(Duration::from_millis(3)), app);
        m.record("app.*", 200, Some(Duration::from_millis(700)), app);
        m.record("app.*", 502, None, app);
        m.record("app.*", 404, None, None);
        m.record("default.conf:1", 301, None, None);
        assert_eq!(m.requests("app.*", 200), 2);
        let upstreams = m.upstream_health();
        assert_eq!(upstreams.len(), 1, "{upstreams:?}");
        let u = &upstreams[0];
        assert_eq!(
            (u.address.as_str(), u.name.as_str()),
            ("172.20.0.5:8080", "app:8080")
        );
        assert_eq!((u.requests, u.failed, u.last_status), (3, 1, 502));
        assert_eq!(u.last_upstream_ms, None);
        assert!((u.mean_upstream_ms.unwrap() - 351.5).abs() < 1e-6, "{u:?}");
        assert_eq!(m.requests("app.*", 404), 1);
        assert_eq!(m.requests("app.*", 502), 1);
        let mut text = String::new();
        m.render(&mut text);
        assert!(text.contains("moat_http_requests_total{server=\"app.*\",status=\"200\"} 2\n"));
        assert!(
            text.contains("moat_http_requests_total{server=\"default.conf:1\",status=\"301\"} 1\n")
        );
        // 3 ms is in the 5 ms bucket, 700 ms first counted at 1 s.
        assert!(text
            .contains("moat_upstream_response_seconds_bucket{server=\"app.*\",le=\"0.005\"} 1\n"));
        assert!(
            text.contains("moat_upstream_response_seconds_bucket{server=\"app.*\",le=\"0.5\"} 1\n")
        );
        assert!(
            text.contains("moat_upstream_response_seconds_bucket{server=\"app.*\",le=\"1\"} 2\n")
        );
        assert!(text
            .contains("moat_upstream_response_seconds_bucket{server=\"app.*\",le=\"+Inf\"} 2\n"));
        assert!(text.contains("moat_upstream_response_seconds_count{server=\"app.*\"} 2\n"));
        // A server that never forwarded has no histogram.
        assert!(!text.contains("moat_upstream_response_seconds_count{server=\"default.conf:1\"}"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn catch_all_servers_are_named_by_file_and_line() {
        let named = ServerRef {
            file: "/config/nginx/proxy-confs/app.subdomain.conf".into(),
            line: 3,
            names: vec!["app.*".into()],
        };
        let catch_all = ServerRef {
            file: "/config/nginx/site-confs/default.conf".into(),
            line: 10,
            names: vec!["_".into()],
        };
        assert_eq!(server_label(&named), "app.*");
        assert_eq!(server_label(&catch_all), "default.conf:10");
    }
}
