//! fail2ban filters, read from `/config/fail2ban/filter.d/<name>.conf`
//! (then `.local`, and their `[INCLUDES]`), or moat's built-in ones for the
//! stock filters a SWAG volume relies on without holding them.
//!
//! A filter's `failregex` lines are Python regexes with fail2ban's tags;
//! they are turned into Rust regexes once, at start, and matched against
//! the lines moat writes, with the date removed as fail2ban removes it
//! (` [error] 12#12: *3 ...` and `192.0.2.7 - - [] "GET / HTTP/1.1" ...`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use regex::{Regex, RegexSet};

use super::builtin_filters;
use super::config_file::{interpolate, ConfigFile};
use super::error::BansError;

/// fail2ban's `<HOST>`: an IPv4 address (optionally `::ffff:`-mapped), an
/// IPv6 address, or a name; moat bans only what parses as an address.
const HOST: &str = r"\[?(?:::f{4,6}:)?(?P<host>[0-9A-Fa-f:.]*[0-9A-Fa-f]|[\w\-.^_]*\w)\]?";
/// fail2ban's `<ADDR>`: an address only.
const ADDR: &str = r"\[?(?:::f{4,6}:)?(?P<host>[0-9A-Fa-f:.]*[0-9A-Fa-f])\]?";

/// A compiled filter.
#[derive(Debug, Clone)]
pub struct Filter {
    fail: Vec<Regex>,
    /// The same as one set: one pass of a lazy DFA tells whether any
    /// `failregex` matches, so a line that fails none (nearly all lines)
    /// never runs the slower capturing engine.
    any_fail: RegexSet,
    ignore: Vec<Regex>,
    /// Where it came from (a file, or `built-in`).
    pub origin: String,
}

impl Filter {
    /// The address a failure line names, unless `ignoreregex` matches.
    pub fn failure(&self, line: &str) -> Option<IpAddr> {
        if !self.any_fail.is_match(line) || self.ignore.iter().any(|r| r.is_match(line)) {
            return None;
        }
        self.fail.iter().find_map(|r| {
            let host = r.captures(line)?.name("host")?.as_str();
            host.parse::<IpAddr>().ok().map(|a| a.to_canonical())
        })
    }
}

/// Loads filter `name` from `dir` (falling back to the built-ins), with
/// the jail's `[key=value]` options over the filter's own values.
pub fn load(
    dir: &Path,
    name: &str,
    options: &BTreeMap<String, String>,
) -> Result<Filter, BansError> {
    let mut conf = ConfigFile::default();
    let origin = read_with_includes(dir, name, &mut conf, 0)?;
    let mut tags: BTreeMap<String, String> = BTreeMap::new();
    for section in ["Init", "Definition"] {
        for (k, v) in conf.keys(section) {
            let value = conf.get(section, &k).unwrap_or(v);
            tags.insert(k, value);
        }
    }
    for (k, v) in options {
        tags.insert(k.clone(), v.clone());
    }
    let origin_path = PathBuf::from(&origin);
    if tags.get("prefregex").is_some_and(|p| !p.trim().is_empty()) {
        return Err(unsupported(
            &origin_path,
            "prefregex is not supported by moat",
        ));
    }
    if tags
        .get("maxlines")
        .is_some_and(|m| m.trim().parse::<u32>().unwrap_or(1) > 1)
    {
        return Err(unsupported(
            &origin_path,
            "multi-line filters (maxlines) are not supported by moat",
        ));
    }
    let compile = |key: &str| -> Result<Vec<Regex>, BansError> {
        let Some(text) = tags.get(key) else {
            return Ok(Vec::new());
        };
        let text = interpolate(text, &|n| tags.get(n).cloned());
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|line| {
                let rust = translate(&substitute_tags(line, &tags));
                Regex::new(&rust).map_err(|e| {
                    unsupported(
                        &origin_path,
                        &format!("{key} {line:?} is not a regex moat can run: {e}"),
                    )
                })
            })
            .collect()
    };
    let fail = compile("failregex")?;
    if fail.is_empty() {
        return Err(unsupported(&origin_path, "no failregex"));
    }
    let any_fail = RegexSet::new(fail.iter().map(Regex::as_str)).map_err(|e| {
        unsupported(
            &origin_path,
            &format!("failregex cannot be run as one set: {e}"),
        )
    })?;
    Ok(Filter {
        ignore: compile("ignoreregex")?,
        fail,
        any_fail,
        origin,
    })
}

fn unsupported(file: &Path, message: &str) -> BansError {
    BansError::Filter {
        file: file.to_path_buf(),
        message: message.to_owned(),
    }
}

/// Merges `name`'s `before` includes, itself (`.conf` then `.local`),
/// then its `after` includes; returns where it was found.
fn read_with_includes(
    dir: &Path,
    name: &str,
    conf: &mut ConfigFile,
    depth: u8,
) -> Result<String, BansError> {
    let stem = name.trim_end_matches(".conf").trim_end_matches(".local");
    let mut own = ConfigFile::default();
    let mut origin = None;
    for ext in ["conf", "local"] {
        let path = dir.join(format!("{stem}.{ext}"));
        if super::config_file::merge_file(&mut own, &path)? {
            origin.get_or_insert_with(|| path.display().to_string());
        }
    }
    let origin = match origin {
        Some(o) => o,
        None => {
            let text = builtin_filters::get(stem).ok_or_else(|| BansError::Read {
                file: dir.join(format!("{stem}.conf")),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such filter (and moat has no built-in one by that name)",
                ),
            })?;
            own.merge(Path::new(&format!("built-in {stem}")), text)?;
            format!("built-in {stem}")
        }
    };
    let includes = |key: &str| -> Vec<String> {
        own.get("INCLUDES", key)
            .map(|v| v.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    };
    if depth > 4 {
        return Err(unsupported(Path::new(&origin), "includes nested too deep"));
    }
    for before in includes("before") {
        read_with_includes(dir, &before, conf, depth + 1)?;
    }
    // Re-parse our own file on top, so its keys win over the includes'.
    for ext in ["conf", "local"] {
        super::config_file::merge_file(conf, &dir.join(format!("{stem}.{ext}")))?;
    }
    if origin.starts_with("built-in") {
        if let Some(text) = builtin_filters::get(stem) {
            conf.merge(Path::new(&origin), text)?;
        }
    }
    for after in includes("after") {
        read_with_includes(dir, &after, conf, depth + 1)?;
    }
    Ok(origin)
}

/// fail2ban's tag substitution: `<name>` becomes the value of `name` from
/// the filter's `[Init]`/`[Definition]`, innermost first, until nothing
/// changes (`<mdre-<mode>>` → `<mdre-normal>` → its value).
fn substitute_tags(line: &str, tags: &BTreeMap<String, String>) -> String {
    let mut text = line.to_owned();
    for _ in 0..20 {
        let mut changed = false;
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(open) = rest.find('<') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let end = after
                .find(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_' || c == '/'))
                .unwrap_or(after.len());
            let name = &after[..end];
            let closes = after[end..].starts_with('>');
            match tags.get(name) {
                Some(value) if closes && !name.is_empty() => {
                    out.push_str(value);
                    rest = &after[end + 1..];
                    changed = true;
                }
                _ => {
                    out.push('<');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        text = out;
        if !changed {
            break;
        }
    }
    text
}

/// fail2ban's address tags and custom groups to Rust regex syntax: the
/// first `<HOST>`/`<ADDR>`/`<IP4>`/`<IP6>` captures `host`, later ones
/// only match; `<F-NAME>...</F-NAME>` become plain groups.
fn translate(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 64);
    let mut rest = line;
    let mut captured = false;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let tag = after.find('>').map(|e| &after[..=e]);
        let host_like = |pattern: &str, captured: &mut bool| {
            if *captured {
                pattern.replace("(?P<host>", "(?:")
            } else {
                *captured = true;
                pattern.to_owned()
            }
        };
        let replacement = match tag {
            Some("<HOST>") => Some(host_like(HOST, &mut captured)),
            Some("<ADDR>") | Some("<IP4>") | Some("<IP6>") => Some(host_like(ADDR, &mut captured)),
            Some(t)
                if t.starts_with("<F-")
                    && t[3..t.len() - 1].chars().all(|c| {
                        c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-'
                    }) =>
            {
                Some("(?:".to_owned())
            }
            Some(t) if t.starts_with("</F-") => Some(")".to_owned()),
            _ => None,
        };
        match (replacement, tag) {
            (Some(r), Some(t)) => {
                out.push_str(&r);
                rest = &after[t.len()..];
            }
            _ => {
                out.push('<');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin(name: &str) -> Filter {
        let none = tempfile::tempdir().unwrap();
        load(none.path(), name, &BTreeMap::new()).unwrap()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn built_in_http_auth_reads_nginx_s_auth_basic_lines() {
        let f = builtin("nginx-http-auth");
        assert_eq!(
            f.failure(" [error] 7#7: *3 user \"bob\": password mismatch, client: 192.0.2.7, server: example.com, request: \"GET / HTTP/1.1\", host: \"example.com\""),
            ip("192.0.2.7")
        );
        assert_eq!(
            f.failure(" [error] 7#7: *4 user \"eve\" was not found in \"/config/nginx/.htpasswd\", client: 2001:db8::5, server: _, request: \"GET /x HTTP/2.0\", host: \"a\""),
            ip("2001:db8::5")
        );
        assert_eq!(f.failure(" [error] 7#7: *5 access forbidden by rule, client: 192.0.2.7, server: _, request: \"GET / HTTP/1.1\", host: \"a\""), None);
    }

    #[test]
    fn built_in_botsearch_reads_404s_for_scanner_paths() {
        let f = builtin("nginx-botsearch");
        assert_eq!(
            f.failure("198.51.100.4 - - [] \"GET /wp-login.php HTTP/1.1\" 404 153 \"-\" \"curl\""),
            ip("198.51.100.4")
        );
        assert_eq!(
            f.failure(
                "198.51.100.4 - - [] \"GET /phpMyAdmin/index.php HTTP/1.1\" 404 1 \"-\" \"-\""
            ),
            ip("198.51.100.4")
        );
        assert_eq!(
            f.failure("198.51.100.4 - - [] \"GET /wp-login.php HTTP/1.1\" 200 1 \"-\" \"-\""),
            None
        );
        assert_eq!(
            f.failure("198.51.100.4 - - [] \"GET /index.html HTTP/1.1\" 404 1 \"-\" \"-\""),
            None
        );
    }

    #[test]
    fn swag_s_own_filters_from_the_volume() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/corpus/swag-defaults/fail2ban/filter.d");
        let dir = dir.as_path();
        let none = BTreeMap::new();
        let deny = load(dir, "nginx-deny", &none).unwrap();
        assert_eq!(
            deny.failure(" [error] 9#9: *1 access forbidden by rule, client: 203.0.113.9, server: _, request: \"GET /.git/config HTTP/1.1\", host: \"h\""),
            ip("203.0.113.9")
        );
        let unauthorized = load(dir, "nginx-unauthorized", &none).unwrap();
        assert_eq!(
            unauthorized
                .failure("203.0.113.9 - - [] \"GET /admin HTTP/1.1\" 401 179 \"-\" \"curl/8\""),
            ip("203.0.113.9")
        );
        assert_eq!(
            unauthorized
                .failure("203.0.113.9 - - [] \"GET /admin HTTP/1.1\" 403 179 \"-\" \"curl/8\""),
            None
        );
        let bots = load(dir, "nginx-badbots", &none).unwrap();
        assert_eq!(
            bots.failure("203.0.113.9 - - [] \"GET / HTTP/1.1\" 200 1 \"-\" \"EmailCollector\""),
            ip("203.0.113.9")
        );
        assert_eq!(
            bots.failure("203.0.113.9 - - [] \"GET / HTTP/1.1\" 200 1 \"-\" \"Mozilla/5.0\""),
            None
        );
    }

    #[test]
    fn nested_tags_and_options_resolve() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mine.conf"),
            "[INCLUDES]\nbefore = common.conf\n[Definition]\nmode = normal\nre-normal = ^<HOST> hit <word>$\nre-loud = ^<HOST> HIT\nfailregex = <re-<mode>>\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("common.conf"), "[Init]\nword = (?:a|b)\n").unwrap();
        let normal = load(dir.path(), "mine", &BTreeMap::new()).unwrap();
        assert_eq!(normal.failure("192.0.2.1 hit b"), ip("192.0.2.1"));
        assert_eq!(normal.failure("192.0.2.1 hit c"), None);
        let loud = load(
            dir.path(),
            "mine",
            &BTreeMap::from([("mode".into(), "loud".into())]),
        )
        .unwrap();
        assert_eq!(loud.failure("192.0.2.1 HIT"), ip("192.0.2.1"));
    }

    #[test]
    fn a_regex_moat_cannot_run_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("bad.conf"),
            "[Definition]\nfailregex = ^(?P<x>a)(?P=x) <HOST>\n",
        )
        .unwrap();
        let err = load(dir.path(), "bad", &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad.conf") && err.contains("failregex"),
            "{err}"
        );
    }
}
