//! The process-wide tracing subscriber: LOG_LEVEL filter, text or
//! one-JSON-object-per-line on stderr, with request dumps kept out.

use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use super::error::SupervisorError;
use crate::clock::LocalZone;
use crate::settings::{LogFormat, Settings};

/// Installs the subscriber once, first thing after settings are read, with
/// timestamps in `TZ` (UTC when settings noted it as unknown).
pub fn init_logging(settings: &Settings) -> Result<(), SupervisorError> {
    init_logging_with(
        &settings.log_level,
        settings.log_format,
        settings.local_zone(),
    )
}

/// Installs the subscriber from a filter, a format and the zone of its
/// RFC 3339 timestamps (settings already validated the filter; an invalid
/// one falls back to `info`).
pub fn init_logging_with(
    level: &str,
    format: LogFormat,
    zone: LocalZone,
) -> Result<(), SupervisorError> {
    init_logging_into(level, format, zone, std::io::stderr)
}

/// As [`init_logging_with`], writing to `writer`: a test captures what
/// moat logs to prove no secret is in it.
pub fn init_logging_into<W>(
    level: &str,
    format: LogFormat,
    zone: LocalZone,
    writer: W,
) -> Result<(), SupervisorError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::builder()
        .parse(level)
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let most_verbose = filter.max_level_hint();
    // The layer's hint is tracing's global gate, and `try_init` sets the
    // `log` crate's level from it (Pingora and rustls log through `log`).
    // A layer filter without one (a closure) left both at TRACE: each of
    // Pingora's per-request `debug!`/`trace!` lines reached the filters
    // only to be dropped (about 15k instructions an HTTP/1 request), and
    // each of the h2 crate's per-frame `trace_span!`s was created, entered
    // and closed in the registry (about 175k an HTTP/2 request), at
    // `LOG_LEVEL=info` (bench/RESULTS.md, 2026-12-07). A line must pass
    // both filters, so the level filter's hint bounds this one's; what a
    // directive admits (`pingora_core=debug`) still arrives.
    let mut no_dumps = filter_fn(|meta| !dumps_requests(meta.target(), *meta.level()));
    if let Some(hint) = most_verbose {
        no_dumps = no_dumps.with_max_level_hint(hint);
    }
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_timer(zone);
    let layer = match format {
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_filter(filter)
            .with_filter(no_dumps)
            .boxed(),
        LogFormat::Text => fmt
            .with_ansi(false)
            .with_filter(filter)
            .with_filter(no_dumps)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(layer)
        .try_init()
        .map_err(|e| SupervisorError::Logging(e.to_string()))?;
    log_panics();
    Ok(())
}

/// Routes panics into the log as one error event (thread, source location,
/// message), then lets the default hook print its report.
///
/// moat is built with `panic = "unwind"` in every profile, the shipped image
/// included: a panic while serving one request unwinds that connection's
/// tokio task (Pingora spawns one per connection, and one per HTTP/2 stream),
/// so the client sees its connection close and every other request carries
/// on. This hook makes such a panic visible in the same log stream as
/// everything else instead of only as a raw line on stderr.
pub fn log_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string payload)".into());
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current();
        tracing::error!(
            thread = thread.name().unwrap_or("unnamed"),
            location,
            message,
            "a task panicked and ends there (for a request: its connection closes); moat keeps running"
        );
        previous(info);
    }));
}

/// Modules of Pingora whose debug/trace lines print whole request or
/// response heads (`Authorization`, `Cookie`, `Set-Cookie` values) or body
/// bytes. Those lines are dropped at every level; their other debug lines
/// go with them (moat's own logs say what happened to a request).
const DUMPING_MODULES: &[&str] = &[
    // The whole proxy crate: its root logs `Request header: Parts {..}`.
    "pingora_proxy",
    "pingora_core::protocols::http::v1::body",
    "pingora_core::protocols::http::v1::client",
    "pingora_core::protocols::http::v1::server",
    "pingora_core::protocols::http::v2",
    "pingora_core::protocols::http::body_buffer",
];

/// Whether an event from `target` at `level` may carry a request dump.
fn dumps_requests(target: &str, level: tracing::Level) -> bool {
    level >= tracing::Level::DEBUG
        && DUMPING_MODULES.iter().any(|m| {
            target
                .strip_prefix(m)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
}

#[cfg(test)]
mod tests {
    use super::dumps_requests;
    use tracing::Level;

    #[test]
    fn pingora_head_dumps_are_dropped_and_its_warnings_kept() {
        assert!(dumps_requests("pingora_proxy::proxy_h1", Level::DEBUG));
        assert!(dumps_requests(
            "pingora_core::protocols::http::v1::body",
            Level::TRACE
        ));
        assert!(!dumps_requests("pingora_proxy::proxy_h1", Level::WARN));
        assert!(!dumps_requests("pingora_proxyx", Level::DEBUG));
        assert!(!dumps_requests("moat::proxy", Level::TRACE));
    }
}
