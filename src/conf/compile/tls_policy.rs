//! `ssl_protocols` and `ssl_ciphers` against moat's TLS policy (rustls:
//! TLS 1.2 and 1.3, AEAD suites with forward secrecy only). moat has one
//! policy for every server, so a conf that asks for less than it offers
//! (only TLS 1.3, or fewer TLS 1.2 suites) cannot be honoured and is
//! refused rather than silently served with more; one that asks for more
//! (TLS 1.0, CBC suites) gets the policy, which is stricter, and is listed
//! as having no effect.

use crate::conf::ast::Directive;
use crate::conf::error::ConfError;

/// The TLS 1.2 suites moat offers, in OpenSSL's names (what `ssl_ciphers` lists).
const TLS12_SUITES: &[&str] = &[
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
];

/// nginx's own default `ssl_ciphers`, which includes every suite above.
const NGINX_DEFAULT_CIPHERS: &str = "HIGH:!aNULL:!MD5";

/// An error when `d` restricts TLS below moat's policy.
pub(crate) fn check(d: &Directive) -> Result<(), ConfError> {
    match d.name.as_str() {
        "ssl_protocols" => {
            let has = |p: &str| d.args.iter().any(|a| a.value == p);
            if has("TLSv1.2") && has("TLSv1.3") {
                return Ok(());
            }
            Err(ConfError::at(
                &d.span,
                "\"ssl_protocols\" is narrower than moat's TLS policy (TLSv1.2 and TLSv1.3 for every server) and moat cannot honour it: list both TLSv1.2 and TLSv1.3, or remove the directive",
            ))
        }
        "ssl_ciphers" => {
            let Some(v) = d.args.first().map(|a| a.value.as_str()) else {
                return Ok(());
            };
            if v == NGINX_DEFAULT_CIPHERS {
                return Ok(());
            }
            let listed: Vec<&str> = v.split(':').collect();
            let missing: Vec<&str> = TLS12_SUITES
                .iter()
                .copied()
                .filter(|s| !listed.contains(s))
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            Err(ConfError::at(
                &d.args[0].span,
                format!(
                    "\"ssl_ciphers\" leaves out suites moat always offers ({}) and moat cannot honour a narrower list: include them, or remove the directive",
                    missing.join(", ")
                ),
            ))
        }
        _ => Ok(()),
    }
}
