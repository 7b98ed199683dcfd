//! METRICS_ADDR and ACCESS_LOG: where moat reports what it serves.

use std::net::SocketAddr;

use super::checker::Checker;
use super::kinds::AccessLogTargets;
use super::model::default_metrics_addr;
use super::raw::{moat_normalise, RawEnv};
use super::vars;

/// The metrics endpoint and the access log targets.
pub(super) struct Observability {
    pub(super) metrics_addr: Option<SocketAddr>,
    pub(super) access_log: AccessLogTargets,
}

pub(super) fn observability(c: &mut Checker, raw: &RawEnv) -> Observability {
    let addr_text = moat_normalise(raw.metrics_addr.as_deref()).to_lowercase();
    let metrics_addr = match addr_text.as_str() {
        "" => Some(default_metrics_addr()),
        "off" | "false" => None,
        text => match text.parse::<SocketAddr>() {
            Ok(addr) if addr.port() != 0 => Some(addr),
            _ => {
                c.invalid(
                    vars::METRICS_ADDR,
                    text,
                    "not an IP:port address",
                    "IP:port such as 127.0.0.1:9113 or [::1]:9113, or off",
                );
                Some(default_metrics_addr())
            }
        },
    };
    let log_text = moat_normalise(raw.access_log.as_deref()).to_lowercase();
    let access_log = if log_text.is_empty() {
        AccessLogTargets::from_name("on").expect("`on` is a known value")
    } else {
        AccessLogTargets::from_name(&log_text).unwrap_or_else(|| {
            c.invalid(
                vars::ACCESS_LOG,
                &log_text,
                "unknown access log target",
                AccessLogTargets::NAMES.join(", "),
            );
            AccessLogTargets::from_name("on").expect("`on` is a known value")
        })
    };
    Observability {
        metrics_addr,
        access_log,
    }
}
