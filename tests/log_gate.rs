//! Pingora and rustls log through the `log` crate. moat's subscriber gates
//! those macros at the most verbose level its filter admits, so a request
//! does not pay for the debug lines `LOG_LEVEL` drops, while the lines a
//! directive admits still arrive. The subscriber is process-wide, so this
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
}
