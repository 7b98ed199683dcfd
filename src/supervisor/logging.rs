//! The process-wide tracing subscriber: LOG_LEVEL filter, text or
//! one-JSON-object-per-line on stderr, with request dumps kept out.

use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use super::error::SupervisorError;
use crate::settings::{LogFormat, Settings};

/// Installs the subscriber once, first thing after settings are read.
pub fn init_logging(settings: &Settings) -> Result<(), SupervisorError> {
    init_logging_with(&settings.log_level, settings.log_format)
}

/// Installs the subscriber from a filter and a format (settings already
/// validated the filter; an invalid one falls back to `info`).
pub fn init_logging_with(level: &str, format: LogFormat) -> Result<(), SupervisorError> {
    init_logging_into(level, format, std::io::stderr)
}

/// As [`init_logging_with`], writing to `writer`: a test captures what
/// moat logs to prove no secret is in it.
pub fn init_logging_into<W>(
    level: &str,
    format: LogFormat,
    writer: W,
) -> Result<(), SupervisorError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::builder()
        .parse(level)
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let no_dumps = filter_fn(|meta| !dumps_requests(meta.target(), *meta.level()));
    let fmt = tracing_subscriber::fmt::layer().with_writer(writer);
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
        .map_err(|e| SupervisorError::Logging(e.to_string()))
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
