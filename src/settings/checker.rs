//! Collects every problem with the environment instead of stopping at the
//! first, plus the parsing helpers the conversion shares.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::domain::{split_list, DomainName};
use super::error::SettingsError;
use super::raw::{moat_normalise, swag_normalise};

/// Collects every problem instead of stopping at the first.
#[derive(Default)]
pub(super) struct Checker {
    pub(super) errors: Vec<SettingsError>,
    pub(super) notes: Vec<String>,
}

impl Checker {
    pub(super) fn invalid(
        &mut self,
        var: &'static str,
        value: &str,
        problem: impl Into<String>,
        allowed: impl Into<String>,
    ) {
        self.errors.push(SettingsError::Invalid {
            var,
            value: value.to_string(),
            problem: problem.into(),
            allowed: allowed.into(),
        });
    }

    /// SWAG's boolean: on only for exactly `true`. `false` and empty are off;
    /// anything else is off too (as in SWAG) but noted, never silent.
    pub(super) fn swag_bool(&mut self, var: &'static str, raw: Option<&str>) -> bool {
        let value = swag_normalise(raw);
        match value.as_str() {
            "true" => true,
            "" | "false" => false,
            other => {
                self.notes.push(format!(
                    "{var}={other:?} is treated as false: only `true` turns it on (as in SWAG)"
                ));
                false
            }
        }
    }

    pub(super) fn number<T: std::str::FromStr>(
        &mut self,
        var: &'static str,
        raw: Option<&str>,
        allowed: &str,
    ) -> Option<T> {
        let value = moat_normalise(raw);
        if value.is_empty() {
            return None;
        }
        match value.parse::<T>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.invalid(var, &value, "not a number in range", allowed);
                None
            }
        }
    }

    pub(super) fn port(&mut self, var: &'static str, raw: Option<&str>, default: u16) -> u16 {
        match self.number::<u16>(var, raw, "a port number from 1 to 65535") {
            Some(0) => {
                self.invalid(
                    var,
                    "0",
                    "port 0 cannot be listened on",
                    "a port number from 1 to 65535",
                );
                default
            }
            Some(p) => p,
            None => default,
        }
    }

    /// A comma (or space) list of `IP`, `IP:port` or `[IPv6]:port`; a bare
    /// address gets `default_port`. Host names are refused: they would need
    /// the very DNS lookup these servers replace.
    pub(super) fn socket_addr_list(
        &mut self,
        var: &'static str,
        raw: Option<&str>,
        default_port: u16,
    ) -> Vec<SocketAddr> {
        const ALLOWED: &str =
            "comma-separated IP addresses with an optional port, e.g. 10.0.0.53 or 127.0.0.1:5353 or [::1]:5353";
        let value = moat_normalise(raw);
        let mut out = Vec::new();
        for entry in split_list(&value) {
            let addr = entry.parse::<SocketAddr>().ok().or_else(|| {
                entry
                    .parse::<IpAddr>()
                    .ok()
                    .map(|ip| SocketAddr::new(ip, default_port))
            });
            match addr {
                Some(a) if a.port() != 0 => out.push(a),
                Some(_) => self.invalid(var, &value, format!("{entry:?}: port 0"), ALLOWED),
                None => self.invalid(
                    var,
                    &value,
                    format!("{entry:?} is not an IP address (with an optional :port)"),
                    ALLOWED,
                ),
            }
        }
        out
    }

    pub(super) fn domain_list(
        &mut self,
        var: &'static str,
        value: &str,
        f: impl Fn(&str) -> (String, bool),
    ) -> Vec<DomainName> {
        let mut out = Vec::new();
        for entry in split_list(value) {
            let (name, wildcard_ok) = f(entry);
            match DomainName::parse(&name, wildcard_ok) {
                Ok(d) => out.push(d),
                Err(why) => self.invalid(
                    var,
                    value,
                    format!("{name:?}: {why}"),
                    if wildcard_ok {
                        "comma-separated domain names, `*.` allowed as the first label"
                    } else {
                        "comma-separated labels (a-z, 0-9, '-') or the word `wildcard`"
                    },
                ),
            }
        }
        out
    }
}

/// `5` (seconds), `5s`, `500ms`.
pub(super) fn parse_duration(text: &str) -> Option<Duration> {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.trim().parse::<u64>().ok().map(Duration::from_millis);
    }
    let secs = text.strip_suffix('s').unwrap_or(text).trim();
    secs.parse::<u64>().ok().map(Duration::from_secs)
}
