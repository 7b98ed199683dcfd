//! A container's `swag_*` labels, read and checked: what to publish, or why
//! not. Pure: the Docker facts come in as [`ContainerFacts`].
//!
//! The label names and meanings are those of linuxserver's swag-auto-proxy
//! mod, so a compose file written for SWAG works unchanged. Values are
//! checked before they reach a conf: a label can add directives only
//! through `swag_server_custom_directive` (trusted input, like a conf the
//! user writes) and `swag_location_custom_directive` (no blocks).

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::error::LabelError;

/// What Docker says about one running container, as discovery needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerFacts {
    /// The container's name, without Docker's leading `/`.
    pub name: String,
    /// Every label.
    pub labels: BTreeMap<String, String>,
    /// Exposed container ports (TCP), any order.
    pub exposed_ports: Vec<u16>,
    /// The networks it is on, with its address on each (when it has one).
    pub networks: Vec<(String, Option<IpAddr>)>,
}

/// Which auth snippets the generated conf switches on (`swag_auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `authelia-server.conf` and `authelia-location.conf`.
    Authelia,
    /// `authentik-server.conf` and `authentik-location.conf`.
    Authentik,
    /// `ldap-server.conf` and `ldap-location.conf` (and the older lines).
    Ldap,
    /// `tinyauth-server.conf` and `tinyauth-location.conf`.
    Tinyauth,
    /// `auth_basic` with `/config/nginx/.htpasswd`.
    Http,
}

impl Auth {
    /// The label value naming it.
    pub fn name(self) -> &'static str {
        match self {
            Auth::Authelia => "authelia",
            Auth::Authentik => "authentik",
            Auth::Ldap => "ldap",
            Auth::Tinyauth => "tinyauth",
            Auth::Http => "http",
        }
    }

    fn parse(value: &str) -> Option<Auth> {
        [
            Auth::Authelia,
            Auth::Authentik,
            Auth::Ldap,
            Auth::Tinyauth,
            Auth::Http,
        ]
        .into_iter()
        .find(|a| a.name() == value)
    }
}

/// One container to publish, its labels checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    /// The container's name: the generated file is `auto-proxy-<name>.subdomain.conf`.
    pub container: String,
    /// `$upstream_app`: `swag_address`, else the container's name.
    pub address: String,
    /// `swag_port`, when given.
    pub port: Option<u16>,
    /// The lowest exposed port, the template's port when `swag_port` is unset.
    pub exposed_port: Option<u16>,
    /// `swag_proto`, when given (`http` or `https`).
    pub proto: Option<&'static str>,
    /// `server_name`: `swag_url`, else `<name>.*`.
    pub server_name: String,
    /// `swag_auth`.
    pub auth: Option<Auth>,
    /// `swag_auth_bypass`: subfolders served without the auth.
    pub auth_bypass: Vec<String>,
    /// `swag_server_custom_directive`, as given.
    pub server_directive: Option<String>,
    /// `swag_location_custom_directive`, as given.
    pub location_directive: Option<String>,
    /// `swag_preset_conf`: the sample to start from instead of `<name>`.
    pub preset: Option<String>,
}

/// Every label discovery reads, in the order the generated header lists them.
pub const LABELS: &[&str] = &[
    "swag",
    "swag_address",
    "swag_port",
    "swag_proto",
    "swag_url",
    "swag_auth",
    "swag_auth_bypass",
    "swag_server_custom_directive",
    "swag_location_custom_directive",
    "swag_preset_conf",
];

impl Publication {
    /// Reads `facts`' labels; `address` is what `$upstream_app` becomes
    /// when `swag_address` is unset (the container's name, or its address
    /// on a shared network without names: see `super::address`).
    pub fn from_labels(facts: &ContainerFacts, address: String) -> Result<Publication, LabelError> {
        let refuse = |label: &'static str, value: &str, why: &str| LabelError {
            container: facts.name.clone(),
            label,
            value: value.to_owned(),
            why: why.to_owned(),
        };
        if !is_token(&facts.name, |c| {
            c.is_ascii_alphanumeric() || "_.-".contains(c)
        }) {
            return Err(refuse("name", &facts.name, "not a Docker container name"));
        }
        let get = |label: &str| {
            facts
                .labels
                .get(label)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
        };
        let address = match get("swag_address") {
            None => address,
            Some(v) if is_host(v) => v.to_owned(),
            Some(v) => return Err(refuse("swag_address", v, "not a host name or IP address")),
        };
        let port = match get("swag_port") {
            None => None,
            Some(v) => match v.parse::<u16>() {
                Ok(p) if p > 0 => Some(p),
                _ => return Err(refuse("swag_port", v, "not a port number (1-65535)")),
            },
        };
        let proto = match get("swag_proto") {
            None => None,
            Some("http") => Some("http"),
            Some("https") => Some("https"),
            Some(v) => return Err(refuse("swag_proto", v, "not http or https")),
        };
        let server_name = match get("swag_url") {
            None => format!("{}.*", facts.name),
            Some(v) if is_token(v, |c| c.is_ascii_alphanumeric() || "*._-".contains(c)) => {
                v.to_owned()
            }
            Some(v) => {
                return Err(refuse(
                    "swag_url",
                    v,
                    "not one server name (letters, digits, `.`, `-`, `_`, `*`; no spaces, braces, quotes or `;`)",
                ))
            }
        };
        let auth = match get("swag_auth") {
            None => None,
            Some(v) => Some(Auth::parse(v).ok_or_else(|| {
                refuse(
                    "swag_auth",
                    v,
                    "not one of authelia, authentik, ldap, tinyauth, http",
                )
            })?),
        };
        let mut auth_bypass = Vec::new();
        if let Some(v) = get("swag_auth_bypass") {
            for folder in v.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                let ok = folder.starts_with('/')
                    && is_token(folder, |c| c.is_ascii_alphanumeric() || "/._~-".contains(c));
                if !ok {
                    return Err(refuse(
                        "swag_auth_bypass",
                        v,
                        "each entry must be a path such as /api (letters, digits, `/._~-`)",
                    ));
                }
                auth_bypass.push(folder.trim_end_matches('/').to_owned());
            }
        }
        let server_directive = get("swag_server_custom_directive").map(str::to_owned);
        let location_directive = match get("swag_location_custom_directive") {
            None => None,
            Some(v) if v.contains(['{', '}']) => {
                return Err(refuse(
                    "swag_location_custom_directive",
                    v,
                    "a location directive cannot open or close a block",
                ))
            }
            Some(v) => Some(v.to_owned()),
        };
        let preset = match get("swag_preset_conf") {
            None => None,
            Some(v)
                if is_token(v, |c| c.is_ascii_alphanumeric() || "_.-".contains(c))
                    && !v.contains("..") =>
            {
                Some(v.to_owned())
            }
            Some(v) => {
                return Err(refuse(
                    "swag_preset_conf",
                    v,
                    "not a sample name such as radarr",
                ))
            }
        };
        Ok(Publication {
            container: facts.name.clone(),
            address,
            port,
            exposed_port: facts.exposed_ports.iter().copied().min(),
            proto,
            server_name,
            auth,
            auth_bypass,
            server_directive,
            location_directive,
            preset,
        })
    }
}

fn is_token(s: &str, allowed: impl Fn(char) -> bool) -> bool {
    !s.is_empty() && s.len() <= 253 && s.chars().all(allowed)
}

fn is_host(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok() || is_token(s, |c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(labels: &[(&str, &str)]) -> ContainerFacts {
        ContainerFacts {
            name: "radarr".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            exposed_ports: vec![8080, 7878],
            networks: vec![],
        }
    }

    #[test]
    fn defaults_follow_swag_auto_proxy() {
        let p = Publication::from_labels(&facts(&[("swag", "enable")]), "radarr".into()).unwrap();
        assert_eq!(p.server_name, "radarr.*");
        assert_eq!(p.address, "radarr");
        assert_eq!((p.port, p.exposed_port, p.proto), (None, Some(7878), None));
        assert!(p.auth.is_none() && p.auth_bypass.is_empty() && p.preset.is_none());
    }

    #[test]
    fn every_label_is_read() {
        let p = Publication::from_labels(
            &facts(&[
                ("swag_address", "10.0.0.5"),
                ("swag_port", "9000"),
                ("swag_proto", "https"),
                ("swag_url", "films.example.com"),
                ("swag_auth", "authelia"),
                ("swag_auth_bypass", "/api,/feed/"),
                ("swag_server_custom_directive", "client_max_body_size 10m;"),
                ("swag_location_custom_directive", "proxy_buffering off;"),
                ("swag_preset_conf", "radarr"),
            ]),
            "radarr".into(),
        )
        .unwrap();
        assert_eq!(p.address, "10.0.0.5");
        assert_eq!((p.port, p.proto), (Some(9000), Some("https")));
        assert_eq!(p.server_name, "films.example.com");
        assert_eq!(p.auth, Some(Auth::Authelia));
        assert_eq!(p.auth_bypass, ["/api", "/feed"]);
        assert_eq!(p.preset.as_deref(), Some("radarr"));
        assert_eq!(
            p.location_directive.as_deref(),
            Some("proxy_buffering off;")
        );
    }

    #[test]
    fn values_that_would_change_the_conf_structure_are_refused() {
        for (label, value) in [
            ("swag_url", "a b.example.com"),
            ("swag_url", "x.example.com;"),
            ("swag_url", "x{.example.com"),
            ("swag_url", "\"x\""),
            ("swag_address", "app; return 200"),
            ("swag_port", "0"),
            ("swag_port", "70000"),
            ("swag_proto", "grpc"),
            ("swag_auth", "magic"),
            ("swag_auth_bypass", "api"),
            ("swag_auth_bypass", "/api {"),
            ("swag_location_custom_directive", "} location /x {"),
            ("swag_preset_conf", "../../etc/passwd"),
        ] {
            let e =
                Publication::from_labels(&facts(&[(label, value)]), "radarr".into()).unwrap_err();
            assert_eq!(e.label, label, "{label}={value}");
            assert_eq!(e.container, "radarr");
            assert!(e.to_string().contains("radarr"), "{e}");
        }
    }
}
