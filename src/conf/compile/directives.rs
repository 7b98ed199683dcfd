//! Applies one simple (non-block, non-script) directive to the level being
//! built, turning every argument into a typed value.

use std::sync::Arc;

use super::level::{
    AccessRule, AddHeader, ErrorPage, ErrorStatus, Handler, Level, OwnArrays, PassUrl, SetHeader,
    TryFile, TryFiles, TryLast,
};
use super::limits;
use super::values::{self, Network};
use super::Compiler;
use crate::conf::ast::{Arg, Directive};
use crate::conf::error::ConfError;
use crate::conf::include::map_path;
use crate::conf::variables::Template;

fn nargs(d: &Directive, min: usize, max: usize) -> Result<(), ConfError> {
    if d.args.len() < min || d.args.len() > max {
        let want = if min == max {
            format!("{min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(ConfError::at(
            &d.span,
            format!(
                "invalid number of arguments in \"{}\": expected {want}, found {}",
                d.name,
                d.args.len()
            ),
        ));
    }
    Ok(())
}

fn typed<T>(arg: &Arg, r: Result<T, String>) -> Result<T, ConfError> {
    r.map_err(|m| ConfError::at(&arg.span, m))
}

/// Validates a header name: an HTTP token.
fn header_name(arg: &Arg) -> Result<String, ConfError> {
    let ok = !arg.value.is_empty()
        && arg
            .value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if ok {
        Ok(arg.value.clone())
    } else {
        Err(ConfError::at(
            &arg.span,
            format!("invalid header name \"{}\"", arg.value),
        ))
    }
}

/// `error_page code ... [=[response]] uri`, checked as nginx checks it.
fn error_page(c: &Compiler<'_>, d: &Directive) -> Result<ErrorPage, ConfError> {
    let (target, rest) = d.args.split_last().expect("nargs checked");
    let mut status = ErrorStatus::Keep;
    let mut codes = Vec::new();
    for (i, arg) in rest.iter().enumerate() {
        if let Some(code) = arg.value.strip_prefix('=') {
            if i + 1 != rest.len() {
                return Err(ConfError::at(
                    &arg.span,
                    format!("invalid value \"{}\"", arg.value),
                ));
            }
            status = if code.is_empty() {
                ErrorStatus::FromTarget
            } else {
                match code.parse::<u16>() {
                    Ok(n) if n <= 999 && !code.starts_with('+') => ErrorStatus::Set(n),
                    _ => {
                        return Err(ConfError::at(
                            &arg.span,
                            format!("invalid value \"{}\"", arg.value),
                        ))
                    }
                }
            };
            continue;
        }
        let code = arg
            .value
            .parse::<u16>()
            .ok()
            .filter(|_| arg.value.bytes().all(|b| b.is_ascii_digit()));
        match code {
            Some(n) if (300..=599).contains(&n) && n != 499 => codes.push(n),
            Some(_) => {
                return Err(ConfError::at(
                    &arg.span,
                    format!("value \"{}\" must be between 300 and 599", arg.value),
                ))
            }
            None => {
                return Err(ConfError::at(
                    &arg.span,
                    format!("invalid value \"{}\"", arg.value),
                ))
            }
        }
    }
    if codes.is_empty() {
        return Err(ConfError::at(
            &d.span,
            "invalid number of arguments in \"error_page\"".to_string(),
        ));
    }
    let target = Template::parse(&target.value, &target.span, &c.declared)?;
    Ok(ErrorPage {
        codes,
        status,
        target,
    })
}

/// `try_files`, checked as nginx checks it: a trailing `/` on a name
/// (not the last) makes it a directory test, a last argument `=N` must be
/// a code up to 999.
fn try_files(c: &Compiler<'_>, d: &Directive) -> Result<TryFiles, ConfError> {
    let (last, names) = d.args.split_last().expect("nargs checked");
    let tries = names
        .iter()
        .map(|arg| {
            let (text, dir) = match arg.value.strip_suffix('/') {
                Some(stripped) => (stripped, true),
                None => (arg.value.as_str(), false),
            };
            Ok(TryFile {
                name: Template::parse(text, &arg.span, &c.declared)?,
                dir,
            })
        })
        .collect::<Result<Vec<_>, ConfError>>()?;
    let last = match last.value.strip_prefix('=') {
        Some(code) => match code.parse::<u16>() {
            Ok(n) if n <= 999 && code.bytes().all(|b| b.is_ascii_digit()) => TryLast::Code(n),
            _ => {
                return Err(ConfError::at(
                    &last.span,
                    format!("invalid code \"{}\"", last.value),
                ))
            }
        },
        None => TryLast::Uri(Template::parse(&last.value, &last.span, &c.declared)?),
    };
    Ok(TryFiles { tries, last })
}

/// Where the directive sits, for `proxy_pass` URI rules.
#[derive(Debug, Clone, Default)]
pub(crate) struct LocationInfo {
    /// The prefix or exact path of the enclosing location, if it has one.
    pub prefix: Option<String>,
    /// Inside a regex location, a named location or an `if`: a static URI
    /// part is not allowed.
    pub no_uri_part: bool,
}

impl Compiler<'_> {
    /// Applies a handled simple directive.
    pub(crate) fn apply(
        &mut self,
        level: &mut Level,
        own: &mut OwnArrays,
        d: &Directive,
        loc: &LocationInfo,
    ) -> Result<(), ConfError> {
        let a = &d.args;
        let tpl = |c: &Compiler<'_>, arg: &Arg| Template::parse(&arg.value, &arg.span, &c.declared);
        match d.name.as_str() {
            "proxy_set_header" | "grpc_set_header" => {
                nargs(d, 2, 2)?;
                let h = SetHeader {
                    name: header_name(&a[0])?,
                    value: tpl(self, &a[1])?,
                };
                if d.name == "proxy_set_header" {
                    own.proxy_headers.push(h);
                } else {
                    own.grpc_headers.push(h);
                }
            }
            "add_header" => {
                nargs(d, 2, 3)?;
                let always = match a.get(2).map(|x| x.value.as_str()) {
                    None => false,
                    Some("always") => true,
                    Some(o) => {
                        return Err(ConfError::at(
                            &a[2].span,
                            format!("invalid parameter \"{o}\", expected \"always\""),
                        ))
                    }
                };
                own.add_headers.push(AddHeader {
                    name: header_name(&a[0])?,
                    value: tpl(self, &a[1])?,
                    always,
                });
            }
            "proxy_hide_header" => {
                nargs(d, 1, 1)?;
                own.hide_headers
                    .push(header_name(&a[0])?.to_ascii_lowercase());
            }
            "proxy_pass_header" => {
                nargs(d, 1, 1)?;
                own.pass_headers
                    .push(header_name(&a[0])?.to_ascii_lowercase());
            }
            "proxy_redirect" => {
                nargs(d, 1, 2)?;
                match (a[0].value.as_str(), a.len()) {
                    ("off", 1) => own.redirect_off = true,
                    ("default", 1) => own.redirect_default = true,
                    (_, 2) => own.redirects.push((tpl(self, &a[0])?, tpl(self, &a[1])?)),
                    _ => {
                        return Err(ConfError::at(
                            &a[0].span,
                            "\"proxy_redirect\" expects off, default, or FROM TO",
                        ))
                    }
                }
            }
            "proxy_cookie_path" => {
                nargs(d, 1, 2)?;
                match (a[0].value.as_str(), a.len()) {
                    ("off", 1) => own.cookie_off = true,
                    (_, 2) => own
                        .cookie_paths
                        .push((tpl(self, &a[0])?, tpl(self, &a[1])?)),
                    _ => {
                        return Err(ConfError::at(
                            &a[0].span,
                            "\"proxy_cookie_path\" expects off or FROM TO",
                        ))
                    }
                }
            }
            "sub_filter" => {
                nargs(d, 2, 2)?;
                if a[0].value.is_empty() {
                    return Err(ConfError::at(
                        &a[0].span,
                        "\"sub_filter\" needs a non-empty string to match",
                    ));
                }
                own.sub_filters
                    .push((a[0].value.to_ascii_lowercase(), tpl(self, &a[1])?));
            }
            "sub_filter_types" => {
                nargs(d, 1, 64)?;
                let mut types = vec!["text/html".to_string()];
                for t in a {
                    let t = t.value.to_ascii_lowercase();
                    if !types.contains(&t) {
                        types.push(t);
                    }
                }
                level.sub_filter.types = Arc::new(types);
            }
            "sub_filter_once" => {
                nargs(d, 1, 1)?;
                level.sub_filter.once = typed(&a[0], values::flag(&a[0].value))?;
            }
            "sub_filter_last_modified" => {
                nargs(d, 1, 1)?;
                level.sub_filter.last_modified = typed(&a[0], values::flag(&a[0].value))?;
            }
            "proxy_pass_request_headers" => {
                nargs(d, 1, 1)?;
                level.pass_request_headers = typed(&a[0], values::flag(&a[0].value))?;
            }
            "proxy_pass_request_body" => {
                nargs(d, 1, 1)?;
                level.pass_request_body = typed(&a[0], values::flag(&a[0].value))?;
            }
            "proxy_request_buffering" => {
                nargs(d, 1, 1)?;
                level.request_buffering = typed(&a[0], values::flag(&a[0].value))?;
            }
            "client_max_body_size" => {
                nargs(d, 1, 1)?;
                level.max_body = typed(&a[0], values::size(&a[0].value))?;
            }
            "proxy_connect_timeout" | "grpc_connect_timeout" => {
                nargs(d, 1, 1)?;
                level.connect_timeout = typed(&a[0], values::duration(&a[0].value))?;
            }
            "proxy_read_timeout" | "grpc_read_timeout" => {
                nargs(d, 1, 1)?;
                level.read_timeout = typed(&a[0], values::duration(&a[0].value))?;
            }
            "proxy_send_timeout" | "grpc_send_timeout" => {
                nargs(d, 1, 1)?;
                level.send_timeout = typed(&a[0], values::duration(&a[0].value))?;
            }
            "proxy_http_version" => {
                nargs(d, 1, 1)?;
                level.http11 = match a[0].value.as_str() {
                    "1.1" => true,
                    "1.0" => false,
                    o => {
                        return Err(ConfError::at(
                            &a[0].span,
                            format!("invalid value \"{o}\", expected 1.0 or 1.1"),
                        ))
                    }
                };
            }
            "underscores_in_headers" => {
                nargs(d, 1, 1)?;
                level.header_rules.underscores = typed(&a[0], values::flag(&a[0].value))?;
            }
            "ignore_invalid_headers" => {
                nargs(d, 1, 1)?;
                level.header_rules.ignore_invalid = typed(&a[0], values::flag(&a[0].value))?;
            }
            "proxy_ssl_verify" | "grpc_ssl_verify" => {
                nargs(d, 1, 1)?;
                level.ssl_verify = typed(&a[0], values::flag(&a[0].value))?;
            }
            "proxy_ssl_server_name" | "grpc_ssl_server_name" => {
                nargs(d, 1, 1)?;
                level.ssl_server_name = typed(&a[0], values::flag(&a[0].value))?;
            }
            "resolver" => level.resolver = Arc::new(self.resolver(d)?),
            "resolver_timeout" => {
                nargs(d, 1, 1)?;
                typed(&a[0], values::duration(&a[0].value))?;
            }
            "allow" | "deny" => {
                nargs(d, 1, 1)?;
                if a[0].value == "unix:" {
                    return Ok(());
                }
                let net: Option<Network> = typed(&a[0], values::network(&a[0].value))?;
                own.access.push(AccessRule {
                    allow: d.name == "allow",
                    net,
                });
            }
            "set_real_ip_from" => {
                nargs(d, 1, 1)?;
                // moat listens on TCP only: a `unix:` peer never connects.
                if a[0].value == "unix:" {
                    return Ok(());
                }
                match typed(&a[0], values::network(&a[0].value))? {
                    Some(net) => own.realip_from.push(net),
                    None => {
                        return Err(ConfError::at(
                            &a[0].span,
                            "invalid parameter \"all\" in \"set_real_ip_from\"",
                        ))
                    }
                }
            }
            "real_ip_header" => {
                nargs(d, 1, 1)?;
                level.realip_header = Arc::from(a[0].value.as_str());
            }
            "real_ip_recursive" => {
                nargs(d, 1, 1)?;
                level.realip_recursive = match a[0].value.as_str() {
                    "on" => true,
                    "off" => false,
                    o => {
                        return Err(ConfError::at(
                            &a[0].span,
                            format!("invalid value \"{o}\" in \"real_ip_recursive\", it must be \"on\" or \"off\""),
                        ))
                    }
                };
            }
            "internal" => {
                nargs(d, 0, 0)?;
                level.internal = true;
            }
            "auth_basic" => {
                nargs(d, 1, 1)?;
                level.auth_basic_realm = Some((a[0].value != "off").then(|| a[0].value.clone()));
            }
            "auth_basic_user_file" => {
                nargs(d, 1, 1)?;
                level.auth_basic_file = Some(self.htpasswd(&a[0])?);
            }
            "auth_request" => {
                nargs(d, 1, 1)?;
                level.auth_request = Some((a[0].value != "off").then(|| a[0].value.clone()));
            }
            "auth_request_set" => {
                nargs(d, 2, 2)?;
                let Some(name) = a[0].value.strip_prefix('$').filter(|n| !n.is_empty()) else {
                    return Err(ConfError::at(
                        &a[0].span,
                        format!("invalid variable name \"{}\"", a[0].value),
                    ));
                };
                own.auth_request_set
                    .push((name.to_string(), tpl(self, &a[1])?));
            }
            "error_page" => {
                nargs(d, 2, usize::MAX)?;
                own.error_pages.push(error_page(self, d)?);
            }
            "satisfy" => {
                nargs(d, 1, 1)?;
                level.satisfy_any = match a[0].value.as_str() {
                    "any" => true,
                    "all" => false,
                    o => {
                        return Err(ConfError::at(
                            &a[0].span,
                            format!(
                            "invalid value \"{o}\" in \"satisfy\", it must be \"all\" or \"any\""
                        ),
                        ))
                    }
                };
            }
            "root" => {
                nargs(d, 1, 1)?;
                level.root = Some(a[0].value.clone());
                level.alias = None;
            }
            "alias" => {
                nargs(d, 1, 1)?;
                if loc.prefix.is_none() && !loc.no_uri_part {
                    return Err(ConfError::at(
                        &d.span,
                        "\"alias\" directive is not allowed here",
                    ));
                }
                level.alias = Some(Arc::new(super::level::Alias {
                    value: tpl(self, &a[0])?,
                    prefix: loc.prefix.clone(),
                }));
                level.root = None;
            }
            "index" => {
                nargs(d, 1, 64)?;
                own.index.extend(a.iter().map(|x| x.value.clone()));
            }
            "try_files" => {
                nargs(d, 2, usize::MAX)?;
                level.try_files = Some(Arc::new(try_files(self, d)?));
            }
            "ssl_certificate" => {
                nargs(d, 1, 1)?;
                level.ssl_certificate = Some(map_path(self.config_dir, &a[0].value));
            }
            "ssl_certificate_key" => {
                nargs(d, 1, 1)?;
                level.ssl_certificate_key = Some(map_path(self.config_dir, &a[0].value));
            }
            "ssl_verify_client" => {
                nargs(d, 1, 1)?;
                level.client_verify.mode = typed(
                    &a[0],
                    crate::conf::client_cert::VerifyMode::parse(&a[0].value),
                )?;
            }
            "ssl_client_certificate" => {
                nargs(d, 1, 1)?;
                level.client_verify.client_certificate =
                    Some(map_path(self.config_dir, &a[0].value));
            }
            "ssl_trusted_certificate" => {
                nargs(d, 1, 1)?;
                level.client_verify.trusted_certificate =
                    Some(map_path(self.config_dir, &a[0].value));
            }
            "ssl_verify_depth" => {
                nargs(d, 1, 1)?;
                let depth = a[0].value.parse::<u32>().map_err(|_| {
                    ConfError::at(&a[0].span, format!("invalid value \"{}\"", a[0].value))
                })?;
                level.client_verify.depth = Some(depth);
            }
            "proxy_pass" | "grpc_pass" => {
                nargs(d, 1, 1)?;
                let url = self.pass_url(d, loc)?;
                level.handler = Some(if d.name == "proxy_pass" {
                    Handler::Proxy(Arc::new(url))
                } else {
                    Handler::Grpc(Arc::new(url))
                });
            }
            "limit_req_zone" | "limit_conn_zone" => {} // see `declare_zones`
            "limit_req" => self.limit_req(&mut own.limits, d)?,
            "limit_conn" => self.limit_conn(&mut own.limits, d)?,
            "limit_req_status" => level.limits.req_status = limits::status(&a[0])?,
            "limit_conn_status" => level.limits.conn_status = limits::status(&a[0])?,
            "limit_req_dry_run" => {
                level.limits.req_dry_run = typed(&a[0], values::flag(&a[0].value))?;
            }
            "limit_conn_dry_run" => {
                level.limits.conn_dry_run = typed(&a[0], values::flag(&a[0].value))?;
            }
            "fastcgi_pass" => {
                nargs(d, 1, 1)?;
                level.handler = Some(Handler::FastCgi);
            }
            other => {
                return Err(ConfError::at(
                    &d.span,
                    format!("moat bug: directive \"{other}\" is marked handled but has no handler"),
                ))
            }
        }
        Ok(())
    }

    fn resolver(&self, d: &Directive) -> Result<super::level::ResolverConf, ConfError> {
        let mut r = super::level::ResolverConf {
            ipv6: true,
            ..Default::default()
        };
        let mut servers = Vec::new();
        for a in &d.args {
            if let Some(v) = a.value.strip_prefix("valid=") {
                r.valid = Some(typed(a, values::duration(v))?);
            } else if let Some(v) = a.value.strip_prefix("ipv6=") {
                r.ipv6 = typed(a, values::flag(v))?;
            } else if a.value.starts_with("ipv4=") || a.value.starts_with("status_zone=") {
            } else {
                servers.push(typed(a, resolver_addr(&a.value))?);
            }
        }
        r.servers = servers.into();
        if r.servers.is_empty() {
            return Err(ConfError::at(
                &d.span,
                "\"resolver\" needs at least one address",
            ));
        }
        Ok(r)
    }

    fn pass_url(&self, d: &Directive, loc: &LocationInfo) -> Result<PassUrl, ConfError> {
        let arg = &d.args[0];
        let url = Template::parse(&arg.value, &arg.span, &self.declared)?;
        let schemes: &[&str] = if d.name == "grpc_pass" {
            &["grpc://", "grpcs://"]
        } else {
            &["http://", "https://"]
        };
        if let Some(text) = url.literal() {
            let Some(rest) = schemes.iter().find_map(|s| text.strip_prefix(s)) else {
                return Err(ConfError::at(
                    &arg.span,
                    format!(
                        "invalid URL prefix in \"{text}\", expected {}",
                        schemes.join(" or ")
                    ),
                ));
            };
            let (authority, uri) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            if authority.is_empty() {
                return Err(ConfError::at(&arg.span, format!("no host in \"{text}\"")));
            }
            if !uri.is_empty() {
                if d.name == "grpc_pass" {
                    return Err(ConfError::at(
                        &arg.span,
                        "\"grpc_pass\" URL cannot have a URI part",
                    ));
                }
                if loc.no_uri_part {
                    return Err(ConfError::at(
                        &arg.span,
                        "\"proxy_pass\" cannot have URI part in location given by regular expression, or inside named location, or inside \"if\" statement",
                    ));
                }
            }
        } else if let Some(crate::conf::variables::Part::Lit(l)) = url.parts.first() {
            let plausible = schemes
                .iter()
                .any(|s| s.starts_with(l.as_str()) || l.starts_with(s));
            if !plausible {
                return Err(ConfError::at(
                    &arg.span,
                    format!(
                        "invalid URL prefix in \"{}\", expected {}",
                        arg.value,
                        schemes.join(" or ")
                    ),
                ));
            }
        }
        Ok(PassUrl {
            written: arg.value.clone(),
            url,
            location_prefix: loc.prefix.clone(),
        })
    }
}

fn resolver_addr(s: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(sa) = s.parse() {
        return Ok(sa);
    }
    if let Ok(ip) = s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        return Ok(std::net::SocketAddr::new(ip, 53));
    }
    Err(format!(
        "invalid resolver address \"{s}\", expected an IP address or IP:PORT"
    ))
}
