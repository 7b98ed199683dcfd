//! Directive strictness, measured against Debian's nginx: a typo'd name, a
//! directive where nginx does not allow it, a second copy of a directive
//! nginx refuses to repeat, a wrong argument count or a flag that is not
//! `on`/`off` fails moat's load exactly when `nginx -t` fails on the same
//! text, and on the same line. Also: every directive the SWAG corpus and
//! defaults use is classified in moat's table.

#[path = "support/conf.rs"]
mod conf_support;
#[path = "support/env.rs"]
mod env;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use moat::conf::{load, parse, Directive};

/// moat's directive table, as the crate embeds it.
const TABLE: &str = include_str!("../src/conf/directives.tsv");

/// One row of the table.
struct Row {
    name: &'static str,
    contexts: Vec<&'static str>,
    args: &'static str,
    block: bool,
    source: &'static str,
    status: &'static str,
}

fn rows() -> Vec<Row> {
    TABLE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let f: Vec<&'static str> = l.split('\t').collect();
            assert_eq!(f.len(), 8, "row {l:?}");
            Row {
                name: f[0],
                contexts: f[1].split(',').collect(),
                args: f[2],
                block: f[3] == "block",
                source: f[5],
                status: f[7],
            }
        })
        .collect()
}

/// Directive names used anywhere in `dirs` (`map`, `types` and `geo` bodies
/// hold values, not directives).
fn used_names(dirs: &[PathBuf]) -> BTreeSet<String> {
    fn walk(ds: &[Directive], out: &mut BTreeSet<String>) {
        for d in ds {
            out.insert(d.name.clone());
            if let Some(b) = &d.block {
                if !matches!(d.name.as_str(), "map" | "types" | "geo" | "split_clients") {
                    walk(b, out);
                }
            }
        }
    }
    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read corpus").flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else if p.to_string_lossy().ends_with(".conf")
                || p.to_string_lossy().ends_with(".conf.sample")
            {
                out.push(p);
            }
        }
    }
    let mut paths = Vec::new();
    for d in dirs {
        files(d, &mut paths);
    }
    let mut names = BTreeSet::new();
    let mut parsed = 0;
    for p in &paths {
        let text = std::fs::read_to_string(p).expect("read");
        if let Ok(tree) = parse(&text, p) {
            parsed += 1;
            walk(&tree, &mut names);
        }
    }
    assert!(parsed >= 371, "parsed {parsed} corpus files");
    names
}

#[test]
fn every_directive_in_the_corpus_and_swag_defaults_is_classified() {
    let corpus = conf_support::corpus_dir();
    let names = used_names(&[
        corpus.join("reverse-proxy-confs"),
        corpus.join("swag-defaults/nginx"),
        corpus.join("swag-defaults/baseimage-overridden"),
    ]);
    let rows = rows();
    let statuses = ["implemented", "cosmetic", "access", "refused"];
    let mut missing = Vec::new();
    for n in &names {
        match rows.iter().find(|r| r.name == n) {
            Some(r) => assert!(statuses.contains(&r.status), "{n}: status {}", r.status),
            None => missing.push(n.clone()),
        }
    }
    assert!(
        names.len() > 90,
        "the corpus uses many directives: {names:?}"
    );
    assert!(missing.is_empty(), "not in the table: {missing:?}");
}

/// Runs `nginx -t` and moat on one tree. Returns `(nginx_ok, nginx_line,
/// nginx_stderr, moat_ok, moat_line, moat_errors)`.
struct Outcome {
    nginx_ok: bool,
    nginx_text: String,
    nginx_line: Option<u32>,
    moat_ok: bool,
    moat_text: String,
    moat_line: Option<u32>,
}

fn run_both(nginx: &Path, body_http: &str, body_server: &str, body_location: &str) -> Outcome {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path().display();
    let text = format!(
        "load_module /usr/share/nginx/modules/ndk_http_module.so;\n\
         load_module /usr/share/nginx/modules/ngx_http_set_misc_module.so;\n\
         pid {d}/nginx.pid;\n\
         error_log stderr;\n\
         events {{}}\n\
         http {{\n\
         client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;\n\
         uwsgi_temp_path {d}/u; scgi_temp_path {d}/s; access_log off;\n\
         {body_http}\n\
         server {{\n\
         listen 127.0.0.1:1;\n\
         {body_server}\n\
         location / {{\n\
         {body_location}\n\
         }}\n\
         }}\n\
         }}\n"
    );
    let conf = dir.path().join("nginx/nginx.conf");
    std::fs::create_dir_all(conf.parent().expect("parent")).expect("mkdir");
    std::fs::write(&conf, &text).expect("write");
    let out = std::process::Command::new(nginx)
        .args(["-t", "-q", "-p"])
        .arg(dir.path())
        .arg("-c")
        .arg(&conf)
        .output()
        .expect("nginx -t runs");
    let nginx_text = String::from_utf8_lossy(&out.stderr).into_owned();
    let marker = format!("{}:", conf.display());
    let nginx_line = nginx_text
        .split(&marker)
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok());
    let (moat_ok, moat_text, moat_line) = match load(dir.path()) {
        Ok(_) => (true, String::new(), None),
        Err(errs) => (
            false,
            errs.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "),
            errs.first().and_then(|e| e.line()),
        ),
    };
    Outcome {
        nginx_ok: out.status.success(),
        nginx_text,
        nginx_line,
        moat_ok,
        moat_text,
        moat_line,
    }
}

/// Where a case goes and what it says.
struct Case {
    at: &'static str,
    text: String,
    /// The directive the case is about (a case is skipped when Debian's
    /// nginx 1.22 does not know it: the table describes nginx 1.28).
    about: String,
}

fn case(at: &'static str, about: &str, text: impl Into<String>) -> Case {
    Case {
        at,
        text: text.into(),
        about: about.to_string(),
    }
}

/// Directives whose rule changed between Debian's nginx 1.22 and the 1.28
/// the table describes, with the reason; their cases are not compared.
const CHANGED_SINCE_1_22: &[(&str, &str)] = &[(
    "http2_push_preload",
    "server push was removed in 1.25.1: the directive is obsolete, accepted with a warning, never duplicate",
)];

/// Names Debian's nginx loads (its core modules and set-misc).
fn debian_has(r: &Row) -> bool {
    matches!(r.source, "nginx" | "set-misc")
}

fn generated_cases(rows: &[Row], corpus_names: &BTreeSet<String>) -> Vec<Case> {
    let known: BTreeSet<&str> = rows.iter().map(|r| r.name).collect();
    let mut cases =
        vec![
        case("location", "dney", "dney all;"),
        case("location", "retrun", "retrun 404;"),
        case("location", "Auth_Basic", "Auth_Basic \"x\";"),
        case(
            "location",
            "proxy_read_timeout",
            "proxy_read_timeout 5s;\nproxy_read_timeout 6s;",
        ),
        case(
            "server",
            "client_max_body_size",
            "client_max_body_size 1m;\nclient_max_body_size 2m;",
        ),
        case(
            "server",
            "proxy_read_timeout",
            "proxy_read_timeout 5s;\nlocation /x { proxy_read_timeout 6s; }",
        ),
        case(
            "location",
            "add_header",
            "add_header X-A a;\nadd_header X-A b;\nproxy_set_header A b;\nproxy_set_header A c;",
        ),
        case("location", "allow", "allow 10.0.0.0/8;\nallow 127.0.0.1;\ndeny all;"),
        case("location", "root", "root /tmp;\nroot /var;"),
        case(
            "location",
            "proxy_pass",
            "proxy_pass http://127.0.0.1:1;\nproxy_pass http://127.0.0.1:2;",
        ),
        case(
            "location",
            "if",
            "if ($http_x) { proxy_pass http://127.0.0.1:1; }\nproxy_pass http://127.0.0.1:2;",
        ),
        case("server", "listen", "listen 127.0.0.1:2;"),
        case("http", "server_name", "server_name x;"),
        case("location", "worker_connections", "worker_connections 5;"),
        case("location", "gzip", "gzip yes;"),
        case("location", "gzip", "gzip On;"),
        case("location", "return", "return;"),
        case("location", "return", "return 200 a b;"),
        case("location", "proxy_buffering", "proxy_buffering off { }"),
        case("server", "location", "location /y;"),
    ];
    // Typos of every directive the corpus uses.
    for n in corpus_names {
        let mut variants = Vec::new();
        let b = n.as_bytes();
        if b.len() > 3 {
            let mut s = b.to_vec();
            s.swap(1, 2);
            variants.push(String::from_utf8(s).expect("ascii"));
            variants.push(n[..n.len() - 1].to_string());
            variants.push(format!("{}{}", n[..1].to_ascii_uppercase(), &n[1..]));
        }
        for v in variants {
            if !known.contains(v.as_str()) {
                cases.push(case("location", &v, format!("{v} x;")));
            }
        }
    }
    let place = |at: &str| match at {
        "http" => "http",
        "server" => "server",
        _ => "location",
    };
    let mut by_name: std::collections::BTreeMap<&str, Vec<&Row>> = Default::default();
    for r in rows.iter().filter(|r| debian_has(r)) {
        by_name.entry(r.name).or_default().push(r);
    }
    for (name, rs) in &by_name {
        let http_family: Vec<&&Row> = rs
            .iter()
            .filter(|r| {
                r.contexts
                    .iter()
                    .any(|c| ["main", "events", "http", "server", "location"].contains(c))
            })
            .collect();
        let Some(r) = http_family.first() else {
            continue;
        };
        if r.block {
            continue;
        }
        // Context: where no row allows it.
        for at in ["http", "server", "location"] {
            if !rs.iter().any(|r| r.contexts.contains(&place(at))) {
                cases.push(case(at, name, format!("{name} on;")));
            }
        }
        let Some(at) = ["location", "server", "http"]
            .into_iter()
            .find(|at| r.contexts.contains(at))
        else {
            continue;
        };
        // Arity: a count the rule does not allow.
        let bad = match r.args {
            "any" => None,
            "flag" => Some(2),
            "1+" => Some(0),
            "2+" => Some(1),
            counts => {
                let ok: Vec<usize> = counts.split(',').map(|n| n.parse().expect("n")).collect();
                (0..=8).find(|n| !ok.contains(n))
            }
        };
        if let Some(n) = bad {
            let args = vec!["on"; n].join(" ");
            cases.push(case(at, name, format!("{name} {args};")));
        }
        // Flags: the value, and the duplicate rule.
        if r.args == "flag" {
            cases.push(case(at, name, format!("{name} on;")));
            cases.push(case(at, name, format!("{name} maybe;")));
            cases.push(case(at, name, format!("{name} on;\n{name} off;")));
        }
    }
    cases
}

#[test]
fn moat_rejects_exactly_what_nginx_rejects_on_the_same_line() {
    let test = "moat_rejects_exactly_what_nginx_rejects_on_the_same_line";
    let Some(nginx) = env::require_program(test, "nginx") else {
        return;
    };
    let corpus = conf_support::corpus_dir();
    let names = used_names(&[corpus.join("reverse-proxy-confs")]);
    let rows = rows();
    let cases = generated_cases(&rows, &names);
    let mut disagreements = Vec::new();
    let (mut compared, mut skipped, mut rejected) = (0, 0, 0);
    for c in &cases {
        let o = match c.at {
            "http" => run_both(&nginx, &c.text, "", ""),
            "server" => run_both(&nginx, "", &c.text, ""),
            _ => run_both(&nginx, "", "", &c.text),
        };
        let unknown_to_debian = o
            .nginx_text
            .contains(&format!("unknown directive \"{}\"", c.about))
            && rows.iter().any(|r| r.name == c.about);
        if unknown_to_debian || CHANGED_SINCE_1_22.iter().any(|(n, _)| *n == c.about) {
            skipped += 1;
            continue;
        }
        compared += 1;
        if !o.nginx_ok {
            rejected += 1;
        }
        if o.nginx_ok != o.moat_ok || (!o.nginx_ok && o.nginx_line != o.moat_line) {
            disagreements.push(format!(
                "{} {{ {} }}\n  nginx: ok={} line={:?} {}\n  moat:  ok={} line={:?} {}",
                c.at,
                c.text.replace('\n', " "),
                o.nginx_ok,
                o.nginx_line,
                o.nginx_text.trim(),
                o.moat_ok,
                o.moat_line,
                o.moat_text
            ));
        }
    }
    eprintln!(
        "{compared} cases compared ({rejected} rejected by nginx), {skipped} skipped (not in nginx 1.22)"
    );
    assert!(compared > 500 && rejected > 300, "{compared} {rejected}");
    assert!(
        disagreements.is_empty(),
        "{} of {compared} cases disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}
