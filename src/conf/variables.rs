//! nginx variables: the `$name` references inside directive arguments,
//! parsed once at load time into a [`Template`], and expanded per request
//! through a [`VarSource`].

use std::borrow::Cow;
use std::collections::HashSet;

use super::ast::Span;
use super::error::ConfError;

/// One variable reference, resolved at load time to what it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Var {
    /// A built-in variable with a fixed name (`$host`, `$uri`, ...).
    Builtin(Builtin),
    /// `$http_<name>`: a request header, held as the header's name
    /// (lower-case, `-` where the variable has `_`).
    Http(String),
    /// `$cookie_<name>`.
    Cookie(String),
    /// `$arg_<name>`: a query argument.
    Arg(String),
    /// `$upstream_http_<name>`: a header of an upstream (or auth subrequest)
    /// response; empty while routing.
    UpstreamHttp(String),
    /// `$sent_http_<name>`: a response header; empty while routing.
    SentHttp(String),
    /// `$1`..`$9` (and `$0`): numbered captures of the last regex match.
    Capture(usize),
    /// A user variable (`set`, `map`, named captures, `auth_request_set`).
    Named(String),
}

/// The built-in variables moat evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub(crate) enum Builtin {
    Host,
    Scheme,
    Https,
    RequestUri,
    Uri,
    Args,
    IsArgs,
    RemoteAddr,
    RealipRemoteAddr,
    RemotePort,
    RealipRemotePort,
    ProxyProtocolAddr,
    ProxyProtocolPort,
    ProxyProtocolServerAddr,
    ProxyProtocolServerPort,
    ServerPort,
    ServerName,
    ServerAddr,
    ServerProtocol,
    RequestMethod,
    Request,
    ProxyAddXForwardedFor,
    ProxyHost,
    ProxyPort,
    DocumentRoot,
    ContentType,
    ContentLength,
    Empty,
    Hostname,
    RequestFilename,
    FastcgiScriptName,
    RemoteUser,
    SslClientVerify,
    SslClientSDn,
    SslClientIDn,
}

fn builtin(name: &str) -> Option<Builtin> {
    use Builtin::*;
    Some(match name {
        "host" => Host,
        "scheme" => Scheme,
        "https" => Https,
        "request_uri" => RequestUri,
        "uri" | "document_uri" => Uri,
        "args" | "query_string" => Args,
        "is_args" => IsArgs,
        "remote_addr" | "binary_remote_addr" => RemoteAddr,
        "realip_remote_addr" => RealipRemoteAddr,
        "remote_port" => RemotePort,
        "realip_remote_port" => RealipRemotePort,
        "proxy_protocol_addr" => ProxyProtocolAddr,
        "proxy_protocol_port" => ProxyProtocolPort,
        "proxy_protocol_server_addr" => ProxyProtocolServerAddr,
        "proxy_protocol_server_port" => ProxyProtocolServerPort,
        "server_port" => ServerPort,
        "server_name" => ServerName,
        "server_addr" => ServerAddr,
        "server_protocol" => ServerProtocol,
        "request_method" => RequestMethod,
        "request" => Request,
        "proxy_add_x_forwarded_for" => ProxyAddXForwardedFor,
        "proxy_host" => ProxyHost,
        "proxy_port" => ProxyPort,
        "document_root" | "realpath_root" => DocumentRoot,
        "content_type" => ContentType,
        "content_length" => ContentLength,
        "hostname" => Hostname,
        "request_filename" => RequestFilename,
        "fastcgi_script_name" => FastcgiScriptName,
        "remote_user" => RemoteUser,
        "ssl_client_verify" => SslClientVerify,
        "ssl_client_s_dn" => SslClientSDn,
        "ssl_client_i_dn" => SslClientIDn,
        // Values moat has no counterpart for while routing: empty, as nginx
        // gives for a connection without them.
        "ssl_early_data"
        | "ssl_server_name"
        | "ssl_protocol"
        | "ssl_cipher"
        | "ssl_session_id"
        | "request_id"
        | "http2"
        | "http3"
        | "upstream_addr"
        | "upstream_status"
        | "status"
        | "request_time"
        | "msec"
        | "time_local"
        | "time_iso8601"
        | "connection"
        | "connection_requests"
        | "bytes_sent"
        | "body_bytes_sent"
        | "request_length"
        | "request_body"
        | "limit_rate"
        | "nginx_version"
        | "pid"
        | "pipe"
        | "fastcgi_path_info"
        | "proxy_internal_body_length"
        | "proxy_internal_chunked"
        | "realpath"
        | "tcpinfo_rtt"
        | "gzip_ratio"
        | "upstream_cache_status"
        | "upstream_response_time"
        | "upstream_connect_time"
        | "upstream_header_time"
        | "connection_upgrade_default" => Empty,
        _ => return None,
    })
}

impl Var {
    /// Resolves a variable name (without `$`). `declared` holds the names of
    /// user variables defined anywhere in the config (nginx's rule: a
    /// variable set anywhere exists everywhere).
    fn resolve(name: &str, declared: &HashSet<String>) -> Option<Var> {
        if let Ok(n) = name.parse::<usize>() {
            return Some(Var::Capture(n));
        }
        if let Some(b) = builtin(name) {
            return Some(Var::Builtin(b));
        }
        if declared.contains(name) {
            return Some(Var::Named(name.to_string()));
        }
        let fam = |p: &str| name.strip_prefix(p).map(|s| s.to_ascii_lowercase());
        if let Some(h) = fam("http_") {
            return Some(Var::Http(h.replace('_', "-")));
        }
        if let Some(c) = name.strip_prefix("cookie_") {
            return Some(Var::Cookie(c.to_string()));
        }
        if let Some(a) = name.strip_prefix("arg_") {
            return Some(Var::Arg(a.to_string()));
        }
        if let Some(h) = fam("upstream_http_") {
            return Some(Var::UpstreamHttp(h));
        }
        if let Some(h) = fam("sent_http_") {
            return Some(Var::SentHttp(h));
        }
        None
    }
}

/// What a [`Template`] reads variables from: the request being evaluated.
pub(crate) trait VarSource {
    /// The value of one variable (empty when unset).
    fn get(&self, var: &Var) -> Cow<'_, str>;
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    /// Literal text.
    Lit(String),
    /// A variable reference.
    Var(Var),
}

/// A directive argument with its variables parsed: `$scheme://$host/x`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Template {
    pub parts: Vec<Part>,
}

impl Template {
    /// Parses `text`; an unknown or malformed variable is an error at `span`.
    pub(crate) fn parse(
        text: &str,
        span: &Span,
        declared: &HashSet<String>,
    ) -> Result<Template, ConfError> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'$' {
                let ch = text[i..].chars().next().expect("index is a char boundary");
                lit.push(ch);
                i += ch.len_utf8();
                continue;
            }
            i += 1;
            let braced = i < b.len() && b[i] == b'{';
            if braced {
                i += 1;
            }
            let start = i;
            if i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            } else {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
            }
            let name = &text[start..i];
            if braced {
                if i >= b.len() || b[i] != b'}' {
                    return Err(ConfError::at(
                        span,
                        format!("the variable name in \"{text}\" is missing its closing \"}}\""),
                    ));
                }
                i += 1;
            }
            if name.is_empty() {
                return Err(ConfError::at(
                    span,
                    format!("invalid variable name in \"{text}\""),
                ));
            }
            let Some(var) = Var::resolve(name, declared) else {
                return Err(ConfError::at(span, format!("unknown \"{name}\" variable")));
            };
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            parts.push(Part::Var(var));
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template { parts })
    }

    /// Splits at the first `ch` written literally, as nginx compiles a
    /// `rewrite` replacement's arguments: only a `?` in the conf text starts
    /// them; one that a capture or variable brings stays in the value.
    pub(crate) fn split_literal(&self, ch: char) -> Option<(Template, Template)> {
        let at = self
            .parts
            .iter()
            .position(|p| matches!(p, Part::Lit(l) if l.contains(ch)))?;
        let Part::Lit(lit) = &self.parts[at] else {
            unreachable!("position found a literal")
        };
        let (before, after) = lit.split_once(ch).expect("the literal holds ch");
        let mut head = self.parts[..at].to_vec();
        if !before.is_empty() {
            head.push(Part::Lit(before.to_string()));
        }
        let mut tail = Vec::new();
        if !after.is_empty() {
            tail.push(Part::Lit(after.to_string()));
        }
        tail.extend_from_slice(&self.parts[at + 1..]);
        Some((Template { parts: head }, Template { parts: tail }))
    }

    /// `true` when the template reads at least one variable.
    pub(crate) fn has_vars(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Var(_)))
    }

    /// The text of a template without variables, borrowed: what a `set`
    /// of a constant stores without rendering it, and what the compiler
    /// checks and precomputes. The parser joins adjacent literal text, so
    /// such a template is one literal part or none.
    pub(crate) fn literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Lit(l)] => Some(l),
            _ => None,
        }
    }

    /// `true` when the template starts with the literal `prefix`.
    pub(crate) fn starts_with_literal(&self, prefix: &str) -> bool {
        matches!(self.parts.first(), Some(Part::Lit(l)) if l.starts_with(prefix))
    }

    /// `true` when the template starts with the given variable.
    pub(crate) fn starts_with_var(&self, var: &Var) -> bool {
        matches!(self.parts.first(), Some(Part::Var(v)) if v == var)
    }

    /// Expands the template for one request.
    pub(crate) fn render(&self, src: &dyn VarSource) -> String {
        self.render_with(|v| src.get(v))
    }

    /// Expands the template for one request at the end of `out`: many
    /// values share one buffer instead of a string each.
    pub(crate) fn render_into(&self, out: &mut String, src: &dyn VarSource) {
        self.write_with(out, |v| src.get(v));
    }

    fn render_with<'s>(&self, mut f: impl FnMut(&Var) -> Cow<'s, str>) -> String {
        // `$host`, `$remote_addr`...: by far the commonest template.
        if let [Part::Var(v)] = self.parts.as_slice() {
            return f(v).into_owned();
        }
        // Sized once for the literals and a typical value per variable,
        // rather than grown a piece at a time.
        let mut out = String::with_capacity(self.size_hint());
        self.write_with(&mut out, f);
        out
    }

    /// The literal bytes plus 32 per variable.
    fn size_hint(&self) -> usize {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Lit(l) => l.len(),
                Part::Var(_) => 32,
            })
            .sum()
    }

    fn write_with<'s>(&self, out: &mut String, mut f: impl FnMut(&Var) -> Cow<'s, str>) {
        for p in &self.parts {
            match p {
                Part::Lit(l) => out.push_str(l),
                Part::Var(v) => out.push_str(&f(v)),
            }
        }
    }
}

/// Names of the named groups in an nginx regex (`(?<name>...)`, `(?P<name>...)`).
pub(crate) fn named_groups(re: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in re.match_indices("(?") {
        let rest = &re[i + 2..];
        let rest = rest.strip_prefix('P').unwrap_or(rest);
        let Some(rest) = rest.strip_prefix('<').or_else(|| rest.strip_prefix('\'')) else {
            continue;
        };
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end > 0 && !rest[..end].starts_with(|c: char| c.is_ascii_digit()) {
            out.push(rest[..end].to_string());
        }
    }
    out
}
