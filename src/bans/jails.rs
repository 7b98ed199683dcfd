//! The jails of `/config/fail2ban/jail.local` (and `jail.conf`,
//! `jail.d/*.conf`, `jail.d/*.local`, in fail2ban's order), with fail2ban's
//! defaults under `[DEFAULT]` and each jail's own keys over them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::addr::own_addresses;
use super::config_file::{merge_file, ConfigFile};
use super::error::BansError;
use crate::cidr::Cidr;

/// fail2ban's own `jail.conf` defaults for the keys moat reads (jails are
/// off unless they say `enabled = true`).
const FAIL2BAN_DEFAULTS: &str =
    "[DEFAULT]\nenabled = false\nmaxretry = 5\nfindtime = 10m\nbantime = 10m\nignoreself = true\n";

/// SWAG's default jails, for a /config without `fail2ban/jail.local`: the
/// five nginx jails SWAG enables, with its LAN exemptions and timings.
const SWAG_JAILS: &str = "[DEFAULT]\nignoreip = 10.0.0.0/8 192.168.0.0/16 172.16.0.0/12\nbantime = 600\nfindtime = 600\nmaxretry = 5\n\
[nginx-http-auth]\nenabled = true\nlogpath = /config/log/nginx/error.log\n\
[nginx-badbots]\nenabled = true\nlogpath = /config/log/nginx/access.log\nmaxretry = 2\n\
[nginx-botsearch]\nenabled = true\nlogpath = /config/log/nginx/access.log\n\
[nginx-deny]\nenabled = true\nlogpath = /config/log/nginx/error.log\n\
[nginx-unauthorized]\nenabled = true\nlogpath = /config/log/nginx/access.log\n";

/// Which of moat's lines a jail's filter is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    /// The access.log line (`combined`).
    Access,
    /// The error.log lines.
    Error,
    /// No `logpath`: both.
    Both,
}

/// How long a ban lasts.
#[derive(Debug, Clone, PartialEq)]
pub struct BanLength {
    /// `bantime` in seconds; `None` is `-1` (forever).
    pub base: Option<u64>,
    /// `bantime.increment = true`: longer bans for repeat offenders.
    pub increment: Option<Increment>,
}

/// fail2ban's `bantime.*` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Increment {
    /// `bantime.factor` (default 1).
    pub factor: f64,
    /// `bantime.multipliers`; empty means fail2ban's default formula
    /// `bantime * 2^count * factor`.
    pub multipliers: Vec<f64>,
    /// `bantime.maxtime`, the cap.
    pub maxtime: Option<u64>,
    /// `bantime.overalljails`: count bans from every jail.
    pub overall: bool,
}

impl BanLength {
    /// The length of a ban given `previous` bans of the same address;
    /// `None` is forever.
    pub fn for_count(&self, previous: u32) -> Option<u64> {
        let base = self.base?;
        let Some(inc) = &self.increment else {
            return Some(base);
        };
        let scaled = if inc.multipliers.is_empty() {
            base as f64 * f64::from(1u32 << previous.min(20)) * inc.factor
        } else {
            let m = inc.multipliers[(previous as usize).min(inc.multipliers.len() - 1)];
            base as f64 * m * inc.factor
        };
        let secs = scaled.max(1.0) as u64;
        Some(inc.maxtime.map_or(secs, |cap| secs.min(cap)))
    }
}

/// One jail moat enforces.
#[derive(Debug, Clone)]
pub struct Jail {
    /// The section name (`nginx-http-auth`).
    pub name: String,
    /// The filter's name and its `[key=value]` options.
    pub filter: (String, BTreeMap<String, String>),
    /// Which lines the filter reads.
    pub source: LogSource,
    /// `maxretry`.
    pub maxretry: u32,
    /// `findtime` in seconds.
    pub findtime: u64,
    /// `bantime` and its increments.
    pub ban: BanLength,
    /// `ignoreip`, plus the host's own addresses with `ignoreself`.
    pub ignore: Vec<Cidr>,
}

/// The jails read from a /config.
#[derive(Debug, Clone, Default)]
pub struct JailSet {
    /// Enabled jails moat can run.
    pub jails: Vec<Jail>,
    /// Enabled jails moat cannot run, with why (reported once at start).
    pub skipped: Vec<(String, String)>,
    /// The files read, in order (empty: SWAG's defaults were used).
    pub files: Vec<PathBuf>,
}

/// Reads the jails under `dir` (`/config/fail2ban`); SWAG's defaults when
/// the folder has no jail file at all.
pub fn load(dir: &Path) -> Result<JailSet, BansError> {
    let mut conf = ConfigFile::default();
    conf.merge(Path::new("(fail2ban defaults)"), FAIL2BAN_DEFAULTS)?;
    let mut files = Vec::new();
    for path in jail_files(dir) {
        if merge_file(&mut conf, &path)? {
            files.push(path);
        }
    }
    if files.is_empty() {
        conf.merge(Path::new("(SWAG's default jail.local)"), SWAG_JAILS)?;
    }
    let last_file = files
        .last()
        .cloned()
        .unwrap_or_else(|| dir.join("jail.local"));
    let mut set = JailSet {
        files,
        ..JailSet::default()
    };
    let own = own_addresses();
    for name in conf.sections().map(str::to_owned).collect::<Vec<_>>() {
        let setting = |key: &str, message: &str| BansError::Setting {
            file: last_file.clone(),
            jail: name.clone(),
            key: key.to_owned(),
            value: conf.get(&name, key).unwrap_or_default(),
            message: message.to_owned(),
        };
        let enabled = conf.get(&name, "enabled").unwrap_or_default();
        match parse_bool(&enabled) {
            Some(true) => {}
            Some(false) => continue,
            None => return Err(setting("enabled", "expected true or false")),
        }
        let number = |key: &str| -> Result<u64, BansError> {
            let text = conf.get(&name, key).unwrap_or_default();
            parse_time(&text)
                .filter(|t| *t >= 0)
                .map(|t| t as u64)
                .ok_or_else(|| setting(key, "expected a time such as 600, 10m or 1h"))
        };
        let maxretry = conf
            .get(&name, "maxretry")
            .unwrap_or_default()
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| setting("maxretry", "expected a positive whole number"))?;
        let findtime = number("findtime")?;
        let bantime = parse_time(&conf.get(&name, "bantime").unwrap_or_default())
            .ok_or_else(|| setting("bantime", "expected a time such as 600, 10m, 1h or -1"))?;
        let increment = match conf.get(&name, "bantime.increment") {
            Some(v) if parse_bool(&v) == Some(true) => Some(Increment {
                factor: match conf.get(&name, "bantime.factor") {
                    Some(f) => f
                        .trim()
                        .parse()
                        .ok()
                        .filter(|f: &f64| *f > 0.0)
                        .ok_or_else(|| setting("bantime.factor", "expected a positive number"))?,
                    None => 1.0,
                },
                multipliers: match conf.get(&name, "bantime.multipliers") {
                    Some(m) => m
                        .split_whitespace()
                        .map(|x| x.parse::<f64>().ok().filter(|x| *x > 0.0))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            setting("bantime.multipliers", "expected positive numbers")
                        })?,
                    None => Vec::new(),
                },
                maxtime: match conf.get(&name, "bantime.maxtime") {
                    Some(_) => Some(number("bantime.maxtime")?),
                    None => None,
                },
                overall: conf
                    .get(&name, "bantime.overalljails")
                    .and_then(|v| parse_bool(&v))
                    .unwrap_or(false),
            }),
            _ => None,
        };
        let source = match conf.get(&name, "logpath") {
            None => LogSource::Both,
            Some(p) if p.contains("error.log") || p.contains("nginx_error_log") => LogSource::Error,
            Some(p) if p.contains("access.log") || p.contains("nginx_access_log") => {
                LogSource::Access
            }
            Some(p) => {
                set.skipped.push((
                    name.clone(),
                    format!("it reads {p}, a log moat does not write (moat matches its own access.log and error.log lines)"),
                ));
                continue;
            }
        };
        if let Some(backend) = conf.get(&name, "backend") {
            if backend.trim() == "systemd" {
                set.skipped.push((
                    name.clone(),
                    "backend = systemd (no journal in moat)".into(),
                ));
                continue;
            }
        }
        let mut ignore = Vec::new();
        for entry in conf
            .get(&name, "ignoreip")
            .unwrap_or_default()
            .split([' ', ',', '\n', '\t'])
            .filter(|e| !e.is_empty())
        {
            match Cidr::parse(entry.trim_matches(['[', ']'])) {
                Some(c) => ignore.push(c),
                None => {
                    tracing::warn!(jail = %name, entry, "fail2ban: ignoreip entry is not an address or CIDR; moat does not resolve names there, ignoring it")
                }
            }
        }
        if conf
            .get(&name, "ignoreself")
            .and_then(|v| parse_bool(&v))
            .unwrap_or(true)
        {
            ignore.extend(own.iter().copied());
        }
        set.jails.push(Jail {
            filter: parse_filter_ref(&conf.get(&name, "filter").unwrap_or_else(|| name.clone())),
            name: name.clone(),
            source,
            maxretry,
            findtime,
            ban: BanLength {
                base: (bantime >= 0).then_some(bantime as u64),
                increment,
            },
            ignore,
        });
    }
    Ok(set)
}

/// fail2ban's read order: jail.conf, jail.d/*.conf, jail.local,
/// jail.d/*.local (each folder sorted).
fn jail_files(dir: &Path) -> Vec<PathBuf> {
    let listed = |ext: &str| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("jail.d"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == ext))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let mut out = vec![dir.join("jail.conf")];
    out.extend(listed("conf"));
    out.push(dir.join("jail.local"));
    out.extend(listed("local"));
    out
}

/// `nginx-http-auth[mode=aggressive, x=y]` → name and options.
fn parse_filter_ref(text: &str) -> (String, BTreeMap<String, String>) {
    let text = text.trim();
    let Some((name, rest)) = text.split_once('[') else {
        return (text.to_owned(), BTreeMap::new());
    };
    let options = rest
        .trim_end_matches(']')
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches(['"', '\'']).to_owned(),
            )
        })
        .collect();
    (name.trim().to_owned(), options)
}

/// configparser's booleans.
fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// fail2ban's time values: seconds, or a sum of `<n><unit>` parts
/// (`1h 30m`, `1d12h`, `2w`, `1mo`, `1y`), `-1` for forever.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim().to_ascii_lowercase();
    if let Ok(n) = text.parse::<i64>() {
        return Some(n);
    }
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let mut total = 0f64;
    let mut rest = body.trim_start();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..digits].parse().ok()?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let scale = match unit {
            "" | "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "m" | "mm" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hh" | "hour" | "hours" => 3600.0,
            "d" | "dd" | "day" | "days" => 86_400.0,
            "w" | "ww" | "week" | "weeks" => 604_800.0,
            "mo" | "mon" | "month" | "months" => 365.25 * 86_400.0 / 12.0,
            "y" | "yy" | "year" | "years" => 365.25 * 86_400.0,
            _ => return None,
        };
        total += n * scale;
        rest = rest[unit_len..]
            .trim_start()
            .trim_start_matches('+')
            .trim_start();
    }
    let secs = total.round() as i64;
    Some(if negative { -secs } else { secs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_fail2ban_reads_them() {
        assert_eq!(parse_time("600"), Some(600));
        assert_eq!(parse_time("10m"), Some(600));
        assert_eq!(parse_time("1h 30m"), Some(5400));
        assert_eq!(parse_time("1d12h"), Some(129_600));
        assert_eq!(parse_time("-1"), Some(-1));
        assert_eq!(parse_time("2w"), Some(1_209_600));
        assert_eq!(parse_time("6 months"), Some(15_778_800));
        assert_eq!(parse_time("ten"), None);
        assert_eq!(parse_time(""), None);
    }

    #[test]
    fn increments_double_and_stop_at_the_cap() {
        let mut len = BanLength {
            base: Some(600),
            increment: Some(Increment {
                factor: 1.0,
                multipliers: vec![],
                maxtime: Some(3000),
                overall: false,
            }),
        };
        assert_eq!(len.for_count(0), Some(600));
        assert_eq!(len.for_count(1), Some(1200));
        assert_eq!(len.for_count(3), Some(3000));
        len.increment.as_mut().unwrap().multipliers = vec![1.0, 5.0];
        assert_eq!(len.for_count(4), Some(3000));
        len.increment.as_mut().unwrap().maxtime = None;
        assert_eq!(len.for_count(4), Some(3000));
        assert_eq!(len.for_count(0), Some(600));
        len.base = None;
        assert_eq!(len.for_count(2), None);
    }

    #[test]
    fn filter_references_carry_their_options() {
        let (name, opts) = parse_filter_ref("nginx-http-auth[mode=aggressive, x='y']");
        assert_eq!(name, "nginx-http-auth");
        assert_eq!(opts.get("mode").map(String::as_str), Some("aggressive"));
        assert_eq!(opts.get("x").map(String::as_str), Some("y"));
    }

    fn swag_volume() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/swag-defaults/fail2ban")
    }

    #[test]
    fn swag_s_jail_local_gives_its_five_jails() {
        let set = load(&swag_volume()).unwrap();
        let names: Vec<&str> = set.jails.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "nginx-http-auth",
                "nginx-badbots",
                "nginx-botsearch",
                "nginx-deny",
                "nginx-unauthorized"
            ]
        );
        let bots = &set.jails[1];
        assert_eq!(
            (bots.maxretry, bots.findtime, bots.ban.base),
            (2, 600, Some(600))
        );
        assert_eq!(bots.source, LogSource::Access);
        assert_eq!(set.jails[0].source, LogSource::Error);
        assert_eq!(set.jails[0].maxretry, 5);
        let lan: std::net::IpAddr = "172.20.1.1".parse().unwrap();
        let outside: std::net::IpAddr = "203.0.113.1".parse().unwrap();
        assert!(set
            .jails
            .iter()
            .all(|j| j.ignore.iter().any(|c| c.contains(lan))));
        assert!(!set.jails[0].ignore.iter().any(|c| c.contains(outside)));
        assert!(set.skipped.is_empty(), "{:?}", set.skipped);
        assert_eq!(set.files, [swag_volume().join("jail.local")]);
    }

    #[test]
    fn no_jail_file_means_swag_s_defaults_and_jail_d_refines() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap().jails.len(), 5);
        std::fs::create_dir(dir.path().join("jail.d")).unwrap();
        std::fs::write(
            dir.path().join("jail.local"),
            "[DEFAULT]\nbantime = 1h\nignoreself = false\n[nginx-deny]\nenabled = true\n[sshd]\nenabled = true\nlogpath = /var/log/auth.log\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("jail.d/x.local"),
            "[nginx-deny]\nbantime = -1\nmaxretry = 1\n",
        )
        .unwrap();
        let set = load(dir.path()).unwrap();
        assert_eq!(set.jails.len(), 1);
        let deny = &set.jails[0];
        assert_eq!(
            (deny.maxretry, deny.ban.base, deny.findtime),
            (1, None, 600)
        );
        assert!(deny.ignore.is_empty());
        assert_eq!(set.skipped.len(), 1);
        assert!(set.skipped[0].1.contains("/var/log/auth.log"));
    }

    #[test]
    fn a_bad_value_names_file_jail_and_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("jail.local"),
            "[nginx-deny]\nenabled = true\nmaxretry = lots\n",
        )
        .unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("jail.local: [nginx-deny] maxretry = \"lots\""),
            "{err}"
        );
    }
}
