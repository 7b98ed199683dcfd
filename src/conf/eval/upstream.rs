//! Builds the [`ProxyTarget`] for `proxy_pass`/`grpc_pass`: the URL with
//! nginx's URI rules, the upstream headers (the level's compiled plan with
//! this request's values), and the response rewriting rules in effect.

use super::context::Eval;
use super::uri::escape;
use crate::conf::compile::level::{PassUrl, Redirect};
use crate::conf::decision::{BodyFilter, ProxyTarget, UpstreamOptions};
use crate::conf::upstream_headers::UpstreamHeaders;

/// A parsed upstream URL, borrowing the rendered text.
struct Url<'t> {
    /// Lower-case (copied only when the conf wrote it otherwise).
    scheme: std::borrow::Cow<'t, str>,
    host: &'t str,
    port: u16,
    explicit_port: bool,
    /// The URI part, empty when absent.
    uri: &'t str,
}

fn parse_url(text: &str, grpc: bool) -> Result<Url<'_>, String> {
    let (scheme, rest) = text
        .split_once("://")
        .ok_or_else(|| format!("invalid URL \"{text}\": no scheme"))?;
    let scheme = if scheme.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(scheme.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(scheme)
    };
    let default_port = match (&*scheme, grpc) {
        ("http", false) | ("grpc", true) => 80,
        ("https", false) | ("grpcs", true) => 443,
        _ => return Err(format!("invalid URL prefix in \"{text}\"")),
    };
    let (authority, uri) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (host, port) = if authority.starts_with('[') {
        let end = authority
            .find(']')
            .ok_or_else(|| format!("invalid host in \"{text}\""))?;
        (&authority[..=end], authority[end + 1..].strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("no host in upstream \"{text}\""));
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("invalid port in upstream \"{text}\""))?,
        None => default_port,
    };
    Ok(Url {
        scheme,
        host,
        port,
        explicit_port: port != default_port,
        uri,
    })
}

impl Eval<'_> {
    /// The target for the current location's `proxy_pass` (`grpc: false`)
    /// or `grpc_pass`; `Err` with nginx's 500 reason for an invalid URL.
    pub(crate) fn target(&mut self, pass: &PassUrl, grpc: bool) -> Result<ProxyTarget, String> {
        let text = pass.url.render(self);
        let url = parse_url(&text, grpc)?;
        let mut port_text = String::with_capacity(5);
        crate::cidr::push_u64(&mut port_text, u64::from(url.port));
        self.proxy_host = if url.explicit_port {
            concat(&[url.host, ":", &port_text])
        } else {
            url.host.to_string()
        };
        self.proxy_port = port_text;
        let host_header = self.proxy_host.as_str();
        let args = if self.args.is_empty() {
            String::new()
        } else {
            format!("?{}", self.args)
        };
        let path_and_query = if pass.url.has_vars() && !url.uri.is_empty() {
            // With variables and a URI part: exactly that URI.
            url.uri.to_string()
        } else if url.uri.is_empty() {
            if self.uri_changed {
                format!("{}{args}", escape(&self.uri))
            } else {
                self.req.uri.clone()
            }
        } else if !self.location_valid {
            // `rewrite ... break` here: nginx ignores the URI part and sends
            // the rewritten URI (checked against Debian's nginx 1.22).
            format!("{}{args}", escape(&self.uri))
        } else {
            // Static URI part: replace the matched location's prefix (after
            // `rewrite ... last`, the prefix of the location found again).
            let cut = match &pass.location_prefix {
                Some(p) if self.uri.starts_with(p.as_str()) => p.len(),
                _ => 0,
            };
            format!("{}{}{args}", url.uri, escape(&self.uri[cut..]))
        };
        let path_and_query = if path_and_query.is_empty() {
            "/".to_string()
        } else {
            path_and_query
        };
        let level = self.level.clone();
        let plan = if grpc {
            &level.grpc_headers
        } else {
            &level.proxy_headers
        };
        let headers =
            UpstreamHeaders::expand(plan, self, &self.proxy_host, level.pass_request_headers);
        let redirects = match &level.redirect {
            Redirect::Off => vec![],
            Redirect::Default => match (&pass.url.literal(), &pass.location_prefix) {
                (Some(_), loc) => {
                    if url.uri.is_empty() {
                        vec![(
                            concat(&[&url.scheme, "://", host_header, "/"]),
                            "/".to_string(),
                        )]
                    } else {
                        vec![(
                            concat(&[&url.scheme, "://", host_header, url.uri]),
                            loc.clone().unwrap_or_else(|| "/".into()),
                        )]
                    }
                }
                (None, _) => vec![],
            },
            Redirect::Rules(rules) => rules
                .iter()
                .map(|(f, t)| (f.render(self), t.render(self)))
                .collect(),
        };
        let cookie_paths = level
            .cookie_paths
            .iter()
            .map(|(f, t)| (f.render(self), t.render(self)))
            .collect();
        let sub = &level.sub_filter;
        let body_filter = (!sub.rules.is_empty()).then(|| BodyFilter {
            rules: sub
                .rules
                .iter()
                .map(|(f, t)| (f.clone(), t.render(self)))
                .collect(),
            types: sub.types.to_vec(),
            once: sub.once,
            keep_last_modified: sub.last_modified,
        });
        Ok(ProxyTarget {
            url: concat(&[&url.scheme, "://", host_header, &path_and_query]),
            scheme: url.scheme.into_owned(),
            host: url
                .host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: url.port,
            path_and_query,
            method: (self.method() != self.req.method).then(|| self.method().to_string()),
            headers,
            hide_headers: level.hidden.clone(),
            redirects,
            cookie_paths,
            body_filter,
            options: UpstreamOptions {
                connect_timeout: level.connect_timeout,
                read_timeout: level.read_timeout,
                send_timeout: level.send_timeout,
                http11: level.http11 || grpc,
                resolver: level.resolver.servers.clone(),
                resolver_valid: level.resolver.valid,
                resolver_ipv6: level.resolver.ipv6,
                ssl_verify: level.ssl_verify,
                ssl_server_name: level.ssl_server_name,
            },
        })
    }
}

/// The parts joined, with one allocation: this runs per request, where
/// `format!`'s machinery costs several times the copy.
fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}
