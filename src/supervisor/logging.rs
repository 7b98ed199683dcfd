//! The process-wide tracing subscriber: LOG_LEVEL filter, text or
//! one-JSON-object-per-line on stderr.

use tracing_subscriber::EnvFilter;

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
    let filter = EnvFilter::builder()
        .parse(level)
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_timer(zone);
    let result = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
    result.map_err(|e| SupervisorError::Logging(e.to_string()))?;
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
