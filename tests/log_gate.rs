//! Pingora and rustls log through the `log` crate, the h2 crate through
//! tracing's spans. moat's subscriber gates both at the most verbose level
//! its filter admits, so a request does not pay for the debug lines and
//! trace spans `LOG_LEVEL` drops, while the lines a directive admits still
//! arrive. The subscriber is process-wide, so this
//! file holds one test.

#[path = "support/log_capture.rs"]
mod log_capture;

use std::sync::{Arc, Mutex};

use log_capture::Capture;

#[test]
fn log_macros_stop_at_the_most_verbose_level_the_filter_admits() {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = buf.clone();
    moat::supervisor::init_logging_into(
        "info,pingora_core::connectors=debug",
        moat::settings::LogFormat::Text,
        moat::clock::LocalZone::utc(),
        move || Capture(sink.clone()),
    )
    .expect("the first subscriber of this process");

    // The directive admits debug for one module: the gate is debug, not
    // trace (the bridge's default) and not info (which would lose it).
    assert_eq!(log::max_level(), log::LevelFilter::Debug);
    log::debug!(target: "pingora_core::connectors::l4", "admitted-debug-line");
    log::debug!(target: "pingora_core::server", "filtered-debug-line");
    log::info!(target: "pingora_core::server", "admitted-info-line");
    let out = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
    assert!(out.contains("admitted-debug-line"), "{out}");
    assert!(out.contains("admitted-info-line"), "{out}");
    assert!(!out.contains("filtered-debug-line"), "{out}");
    // tracing's own gate is the same level: a trace span (h2 makes several
    // per frame) is disabled at its call site, a debug one is not.
    assert_eq!(
        tracing::level_filters::LevelFilter::current(),
        tracing::level_filters::LevelFilter::DEBUG
    );
    assert!(tracing::trace_span!(target: "h2::proto", "frame").is_disabled());
    assert!(!tracing::debug_span!(target: "pingora_core::connectors", "connect").is_disabled());
}
