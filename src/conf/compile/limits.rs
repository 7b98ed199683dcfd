//! `limit_req_zone` / `limit_req` and `limit_conn_zone` / `limit_conn`
//! (ngx_http_limit_req_module, ngx_http_limit_conn_module): zones are
//! declared at http level, rules at http, server and location level. The
//! rules are an array (a level with its own `limit_req` replaces the
//! inherited ones; the same for `limit_conn`); statuses and dry-run flags
//! are inherited scalars.

use std::sync::Arc;

use super::values;
use super::Compiler;
use crate::conf::ast::{Arg, Directive};
use crate::conf::decision::{LimitZone, ZoneKind};
use crate::conf::error::ConfError;
use crate::conf::variables::Template;

/// nginx refuses a zone smaller than 8 pages (`zone "..." is too small`).
const MIN_ZONE: u64 = 8 * 4096;

/// A declared zone and its key.
#[derive(Debug)]
pub(crate) struct ZoneDecl {
    /// The zone as the proxy's limiter sees it.
    pub zone: Arc<LimitZone>,
    /// The key.
    pub key: Template,
    /// The key is exactly `$binary_remote_addr`: 4 or 16 bytes.
    pub binary_remote: bool,
}

/// One `limit_req zone=NAME [burst=N] [nodelay | delay=N]`.
#[derive(Debug, Clone)]
pub(crate) struct ReqRule {
    /// The zone.
    pub zone: Arc<ZoneDecl>,
    /// Milli-requests.
    pub burst: u64,
    /// Milli-requests not delayed.
    pub delay: u64,
}

/// One `limit_conn NAME N`.
#[derive(Debug, Clone)]
pub(crate) struct ConnRule {
    /// The zone.
    pub zone: Arc<ZoneDecl>,
    /// Requests in flight allowed per key.
    pub max: u32,
}

/// The limit settings in effect at one level.
#[derive(Debug, Clone)]
pub(crate) struct LimitsConf {
    pub req: Arc<Vec<ReqRule>>,
    pub req_status: u16,
    pub req_dry_run: bool,
    pub conn: Arc<Vec<ConnRule>>,
    pub conn_status: u16,
    pub conn_dry_run: bool,
}

impl Default for LimitsConf {
    /// nginx's defaults: no rules, 503, no dry run.
    fn default() -> Self {
        LimitsConf {
            req: Arc::default(),
            req_status: 503,
            req_dry_run: false,
            conn: Arc::default(),
            conn_status: 503,
            conn_dry_run: false,
        }
    }
}

/// The rules written at one level, before they replace the inherited ones.
#[derive(Debug, Default)]
pub(crate) struct OwnLimits {
    pub req: Vec<ReqRule>,
    pub conn: Vec<ConnRule>,
}

impl LimitsConf {
    /// nginx's merge: an own array replaces the inherited one.
    pub(crate) fn merge(&mut self, own: OwnLimits) {
        if !own.req.is_empty() {
            self.req = Arc::new(own.req);
        }
        if !own.conn.is_empty() {
            self.conn = Arc::new(own.conn);
        }
    }
}

fn err(arg: &Arg, message: String) -> ConfError {
    ConfError::at(&arg.span, message)
}

/// nginx's `ngx_atoi` for a positive count.
fn positive(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse::<u64>().ok())
        .flatten()
        .filter(|n| *n > 0)
}

/// `zone=NAME:SIZE`.
fn zone_arg(arg: &Arg) -> Result<(String, u64), ConfError> {
    let v = &arg.value;
    let rest = &v["zone=".len()..];
    let Some((name, size)) = rest.split_once(':') else {
        return Err(err(arg, format!("invalid zone size \"{v}\"")));
    };
    let size = values::size(size).map_err(|_| err(arg, format!("invalid zone size \"{v}\"")))?;
    if size < MIN_ZONE {
        return Err(err(arg, format!("zone \"{v}\" is too small")));
    }
    Ok((name.to_string(), size))
}

/// `rate=Nr/s`, `rate=Nr/m` (or a bare number: per second).
fn rate_arg(arg: &Arg) -> Result<u64, ConfError> {
    let v = &arg.value["rate=".len()..];
    let (num, scale) = if let Some(n) = v.strip_suffix("r/s") {
        (n, 1)
    } else if let Some(n) = v.strip_suffix("r/m") {
        (n, 60)
    } else {
        (v, 1)
    };
    positive(num)
        .map(|r| r * 1000 / scale)
        .ok_or_else(|| err(arg, format!("invalid rate \"{}\"", arg.value)))
}

impl Compiler<'_> {
    /// Declares the zones of an http block, wherever they are written in
    /// it (nginx binds zones by name, in any order).
    pub(crate) fn declare_zones(&mut self, block: &[Directive]) {
        for d in block {
            if d.name == "limit_req_zone" || d.name == "limit_conn_zone" {
                let r = self.zone(d);
                self.record(r);
            }
        }
    }

    fn zone(&mut self, d: &Directive) -> Result<(), ConfError> {
        let req = d.name == "limit_req_zone";
        let Some(key_arg) = d.args.first() else {
            return Ok(()); // the argument count is checked with the others
        };
        let key = Template::parse(&key_arg.value, &key_arg.span, &self.declared)?;
        let mut zone = None;
        let mut rate = 1000;
        for a in &d.args[1..] {
            if a.value.starts_with("zone=") {
                zone = Some(zone_arg(a)?);
            } else if req && a.value.starts_with("rate=") {
                rate = rate_arg(a)?;
            } else {
                return Err(err(a, format!("invalid parameter \"{}\"", a.value)));
            }
        }
        let Some((name, size)) = zone else {
            return Err(ConfError::at(
                &d.span,
                format!("\"{}\" must have \"zone\" parameter", d.name),
            ));
        };
        if let Some(old) = self.zones.get(&name) {
            let same_kind = matches!(old.zone.kind, ZoneKind::Requests { .. }) == req;
            return Err(ConfError::at(
                &d.span,
                if same_kind {
                    format!(
                        "{} \"{name}\" is already bound to key \"{}\"",
                        d.name, old.zone.key
                    )
                } else {
                    format!(
                        "the shared memory zone \"{name}\" is already declared for a different use"
                    )
                },
            ));
        }
        let kind = if req {
            ZoneKind::Requests { rate }
        } else {
            ZoneKind::Connections
        };
        let decl = ZoneDecl {
            zone: Arc::new(LimitZone {
                name: name.clone(),
                size,
                key: key_arg.value.clone(),
                kind,
            }),
            binary_remote: key_arg.value == "$binary_remote_addr",
            key,
        };
        self.zones.insert(name, Arc::new(decl));
        Ok(())
    }

    /// The declared zone `name` of the right kind, or nginx's error.
    fn zone_ref(&self, at: &Arg, name: &str, req: bool) -> Result<Arc<ZoneDecl>, ConfError> {
        match self.zones.get(name) {
            Some(z) if matches!(z.zone.kind, ZoneKind::Requests { .. }) == req => Ok(z.clone()),
            Some(_) => Err(err(
                at,
                format!(
                    "the shared memory zone \"{name}\" is already declared for a different use"
                ),
            )),
            None => Err(err(at, format!("zero size shared memory zone \"{name}\""))),
        }
    }

    /// `limit_req zone=NAME [burst=N] [nodelay | delay=N]`.
    pub(crate) fn limit_req(&self, own: &mut OwnLimits, d: &Directive) -> Result<(), ConfError> {
        let mut zone = None;
        let (mut burst, mut delay) = (0, 0);
        for a in &d.args {
            let v = a.value.as_str();
            if let Some(name) = v.strip_prefix("zone=") {
                zone = Some(self.zone_ref(a, name, true)?);
            } else if let Some(n) = v.strip_prefix("burst=") {
                burst = positive(n)
                    .ok_or_else(|| err(a, format!("invalid burst value \"{v}\"")))?
                    * 1000;
            } else if let Some(n) = v.strip_prefix("delay=") {
                delay = positive(n)
                    .ok_or_else(|| err(a, format!("invalid delay value \"{v}\"")))?
                    * 1000;
            } else if v == "nodelay" {
                delay = u64::MAX;
            } else {
                return Err(err(a, format!("invalid parameter \"{v}\"")));
            }
        }
        let Some(zone) = zone else {
            return Err(ConfError::at(
                &d.span,
                "\"limit_req\" must have \"zone\" parameter",
            ));
        };
        if own.req.iter().any(|r| Arc::ptr_eq(&r.zone, &zone)) {
            return Err(ConfError::at(
                &d.span,
                "\"limit_req\" directive is duplicate",
            ));
        }
        own.req.push(ReqRule { zone, burst, delay });
        Ok(())
    }

    /// `limit_conn NAME N`.
    pub(crate) fn limit_conn(&self, own: &mut OwnLimits, d: &Directive) -> Result<(), ConfError> {
        let [name, n] = &d.args[..] else {
            return Ok(()); // the argument count is checked with the others
        };
        let zone = self.zone_ref(name, &name.value, false)?;
        let max = positive(&n.value)
            .ok_or_else(|| err(n, format!("invalid number of connections \"{}\"", n.value)))?;
        if max > 65535 {
            return Err(err(n, "connection limit must be less 65536".to_string()));
        }
        if own.conn.iter().any(|r| Arc::ptr_eq(&r.zone, &zone)) {
            return Err(ConfError::at(
                &d.span,
                "\"limit_conn\" directive is duplicate",
            ));
        }
        own.conn.push(ConnRule {
            zone,
            max: max as u32,
        });
        Ok(())
    }
}

/// `limit_req_status` / `limit_conn_status`: 400 to 599.
pub(crate) fn status(arg: &Arg) -> Result<u16, ConfError> {
    positive(&arg.value)
        .filter(|n| (400..=599).contains(n))
        .map(|n| n as u16)
        .ok_or_else(|| err(arg, "value must be between 400 and 599".to_string()))
}
