//! METRICS_ADDR, ACCESS_LOG and STATUS_PAGE_AUTH: where moat reports what
//! it serves, and who may read the status page.

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
    pub(super) status_page_auth: Option<std::path::PathBuf>,
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
    let auth_text = moat_normalise(raw.status_page_auth.as_deref());
    let status_page_auth = if auth_text.is_empty() {
        None
    } else if !auth_text.starts_with('/') {
        c.invalid(
            vars::STATUS_PAGE_AUTH,
            &auth_text,
            "not an absolute path",
            "the path of an htpasswd file such as /config/nginx/.htpasswd",
        );
        None
    } else {
        Some(std::path::PathBuf::from(auth_text))
    };
    Observability {
        metrics_addr,
        access_log,
        status_page_auth,
    }
}
