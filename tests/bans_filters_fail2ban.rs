//! moat runs fail2ban's filters itself, translated to Rust regexes; Debian's
//! fail2ban is the oracle. The same access.log and error.log lines (with
//! their dates, as the files hold them) go through `fail2ban-regex` with
//! each filter a SWAG volume uses (SWAG's three from the corpus, the stock
//! `nginx-http-auth` and `nginx-botsearch` from /etc/fail2ban), and through
//! moat's compiled filter with the date removed as fail2ban removes it:
//! both must match exactly the same lines. moat's built-in versions of the
//! two stock filters are held to Debian's on the same lines.

#[path = "support/env.rs"]
mod env;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

const ACCESS: &[&str] = &[
    r#"192.0.2.7 - - [04/Dec/2026:10:00:00 +0000] "GET /wp-login.php HTTP/1.1" 404 153 "-" "curl/8.5""#,
    r#"192.0.2.8 - - [04/Dec/2026:10:00:01 +0000] "GET /index.html HTTP/1.1" 404 153 "-" "curl/8.5""#,
    r#"192.0.2.9 - - [04/Dec/2026:10:00:02 +0000] "POST /phpMyAdmin/index.php HTTP/1.1" 404 9 "-" "-""#,
    r#"192.0.2.10 - - [04/Dec/2026:10:00:03 +0000] "GET /roundcube/ HTTP/2.0" 404 9 "-" "Mozilla/5.0""#,
    r#"192.0.2.11 - - [04/Dec/2026:10:00:04 +0000] "GET /wp-login.php HTTP/1.1" 200 9 "-" "Mozilla/5.0""#,
    r#"192.0.2.12 - alice [04/Dec/2026:10:00:05 +0000] "GET /admin HTTP/1.1" 401 179 "-" "Mozilla/5.0""#,
    r#"192.0.2.13 - - [04/Dec/2026:10:00:06 +0000] "HEAD / HTTP/1.1" 401 0 "-" "-""#,
    r#"192.0.2.14 - - [04/Dec/2026:10:00:07 +0000] "DELETE /x HTTP/1.1" 401 0 "-" "-""#,
    r#"192.0.2.15 - - [04/Dec/2026:10:00:08 +0000] "GET / HTTP/1.1" 403 0 "-" "-""#,
    r#"192.0.2.16 - - [04/Dec/2026:10:00:09 +0000] "GET / HTTP/1.1" 200 612 "-" "EmailCollector""#,
    r#"192.0.2.17 - - [04/Dec/2026:10:00:10 +0000] "GET / HTTP/1.1" 200 612 "-" "Atomic_Email_Hunter/4.0""#,
    r#"192.0.2.18 - - [04/Dec/2026:10:00:11 +0000] "GET / HTTP/1.1" 200 612 "-" "Mozilla/5.0 EmailCollector""#,
    r#"192.0.2.19 - - [04/Dec/2026:10:00:12 +0000] "GET / HTTP/1.1" 200 612 "-" "sogou music spider""#,
    r#"2001:db8::7 - - [04/Dec/2026:10:00:13 +0000] "GET /cgi-bin/luci HTTP/1.1" 404 9 "-" "-""#,
    r#"2001:db8::8 - - [04/Dec/2026:10:00:14 +0000] "GET /api HTTP/1.1" 401 9 "-" "-""#,
];

const ERRORS: &[&str] = &[
    r#"2026/12/04 10:00:00 [error] 12#12: *1 user "alice": password mismatch, client: 198.51.100.1, server: example.com, request: "GET /basic HTTP/1.1", host: "example.com""#,
    r#"2026/12/04 10:00:01 [error] 12#12: *2 user "bob" was not found in "/config/nginx/.htpasswd", client: 198.51.100.2, server: _, request: "GET /basic HTTP/2.0", host: "a.example.com""#,
    r#"2026/12/04 10:00:02 [error] 12#12: *3 access forbidden by rule, client: 198.51.100.3, server: _, request: "GET /.git/config HTTP/1.1", host: "example.com""#,
    r#"2026/12/04 10:00:03 [error] 12#12: *4 access forbidden by rule, client: 2001:db8::3, server: x, request: "POST /admin HTTP/1.1", host: "example.com", referrer: "https://example.com/""#,
    r#"2026/12/04 10:00:04 [error] 12#12: *5 connect() failed (111: Connection refused) while connecting to upstream, client: 198.51.100.5, server: _, request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:9/", host: "example.com""#,
    r#"2026/12/04 10:00:05 [error] 12#12: *6 limiting requests, excess: 0.600 by zone "one", client: 198.51.100.6, server: _, request: "GET / HTTP/1.1", host: "example.com""#,
    r#"2026/12/04 10:00:06 [error] 12#12: *7 user "ev\x22il": password mismatch, client: 198.51.100.7, server: _, request: "GET /basic HTTP/1.1", host: "example.com""#,
];

/// The lines `fail2ban-regex` reports as matched.
fn fail2ban_matched(bin: &Path, lines: &[&str], filter: &Path) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("x.log");
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let out = std::process::Command::new(bin)
        .arg("--print-all-matched")
        .arg(&log)
        .arg(filter)
        .output()
        .expect("fail2ban-regex runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let section = text
        .split_once("|- Matched line(s):")
        .map(|(_, rest)| rest.split("`-").next().unwrap_or(""))
        .unwrap_or("");
    assert!(
        text.contains("Lines: "),
        "fail2ban-regex {}:\n{text}\n{}",
        filter.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    section
        .lines()
        .filter_map(|l| l.strip_prefix("|  "))
        .map(str::to_owned)
        .collect()
}

/// The line as moat's filters see it: the date fail2ban would cut out, cut.
fn without_date(line: &str) -> String {
    if line.as_bytes().get(4) == Some(&b'/') {
        // error.log: `YYYY/MM/DD HH:MM:SS [error] ...` → ` [error] ...`
        line[19..].to_owned()
    } else {
        let (head, rest) = line.split_once(" [").unwrap();
        let (_, tail) = rest.split_once("] ").unwrap();
        format!("{head} [] {tail}")
    }
}

/// The lines moat's filter matches, each with the address it names.
fn moat_matched(filter: &moat::bans::Filter, lines: &[&str]) -> Vec<String> {
    lines
        .iter()
        .filter(|line| {
            let found = filter.failure(&without_date(line));
            if let Some(ip) = found {
                let named = line.split_once("client: ").map_or_else(
                    || line.split(' ').next().unwrap(),
                    |(_, r)| r.split(',').next().unwrap(),
                );
                assert_eq!(ip, named.parse::<IpAddr>().unwrap(), "{line}");
            }
            found.is_some()
        })
        .map(|l| l.to_string())
        .collect()
}

fn corpus_filters() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/swag-defaults/fail2ban/filter.d")
}

#[test]
fn moat_s_filters_match_the_lines_fail2ban_matches() {
    let test = "moat_s_filters_match_the_lines_fail2ban_matches";
    let Some(bin) = env::require_program(test, "fail2ban-regex") else {
        return;
    };
    let stock = Path::new("/etc/fail2ban/filter.d");
    let swag = corpus_filters();
    let none = BTreeMap::new();
    let no_files = tempfile::tempdir().unwrap();
    let mut all: Vec<&str> = ACCESS.to_vec();
    all.extend_from_slice(ERRORS);
    let mut checked = 0;
    // (filter as fail2ban reads it, the folder moat reads it from)
    let cases: [(PathBuf, &Path, &str); 7] = [
        (swag.join("nginx-deny.conf"), &swag, "nginx-deny"),
        (
            swag.join("nginx-unauthorized.conf"),
            &swag,
            "nginx-unauthorized",
        ),
        (swag.join("nginx-badbots.conf"), &swag, "nginx-badbots"),
        (stock.join("nginx-http-auth.conf"), stock, "nginx-http-auth"),
        (stock.join("nginx-botsearch.conf"), stock, "nginx-botsearch"),
        // moat's built-ins, for a volume without the stock files.
        (
            stock.join("nginx-http-auth.conf"),
            no_files.path(),
            "nginx-http-auth",
        ),
        (
            stock.join("nginx-botsearch.conf"),
            no_files.path(),
            "nginx-botsearch",
        ),
    ];
    for (oracle, dir, name) in cases {
        let theirs = fail2ban_matched(&bin, &all, &oracle);
        let filter = moat::bans::load_filter(dir, name, &none)
            .unwrap_or_else(|e| panic!("{name} from {}: {e}", dir.display()));
        let ours = moat_matched(&filter, &all);
        assert_eq!(ours, theirs, "{name} ({})", filter.origin);
        assert!(!theirs.is_empty(), "{name}: the lines must exercise it");
        checked += 1;
    }
    assert_eq!(checked, 7);
}
