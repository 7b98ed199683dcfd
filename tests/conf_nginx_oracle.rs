//! nginx as the oracle: the same requests go to real nginx (running a
//! SWAG-layout tree with most of the corpus activated) and to moat's
//! `conf::load` + `RouteTable::decide`; the upstream each one reaches (name,
//! port, scheme, method, path and query) or the redirect/status it gets must
//! agree. Every mismatch is reported, not only the first.
//!
//! The harness (nginx, stub DNS, `moat-echo` on one loopback address per
//! upstream name) is checked on its own first, so a failure there is never
//! mistaken for a moat bug. See `tests/support/oracle.rs` for how the trees
//! are built and which files are left out and why.
//!
//! Besides the corpus, the oracle activates its own conf
//! (`oracle::PARITY_SAMPLE`) for classes the corpus never exercises, each
//! with a floor on probes compared per run (`oracle::PARITY_CLASSES`):
//! `internal` (internal locations refused from outside, reached by `rewrite`
//! with `last`, without flag and at server level, and nginx's
//! `auto_redirect`), `escape` (`rewrite ... break` URIs with a decoded `?`,
//! `%`, space, `#` or `"` re-escaped for `proxy_pass`) and `bytes` (`%FF` and
//! other non-UTF-8 bytes). Adding them found a difference nobody had
//! listed: nginx answers `/hidden` with 404 (internal) and `/auto` with
//! `301 -> /auto/` when `location /auto/` proxies (`auto_redirect`), where
//! moat proxied through `location /`:
//! `GET https://parity.example.test/hidden  nginx: status 404  moat: proxy
//! GET http://parity-app:8080/hidden`.
//!
//! Two more classes in the same conf: `access` (`allow`/`deny` in plain,
//! regex and rewriting locations, each probe sent from every client
//! 127.0.0.1..=9; floors on probes nginx denied with 403 and proxied) and
//! `last` (`rewrite ... last` re-entering location matching, chained, into
//! an `internal` location, and two loops nginx ends with 500 after ten
//! cycles; floors on 500s and proxied). Corpus probes are sent from
//! 127.0.0.2..=9 in turn. First run: 0 differ; it shows moat keeps nginx's
//! phase order (a location's `rewrite ... last` runs before its
//! `allow`/`deny`, so `/acl-to-hidden/` reaches `/hidden/` from any client).
//! A deliberately broken build whose IPv4 `allow`/`deny` networks matched
//! one prefix bit short (2026-12-04, `src/conf/compile/values.rs`,
//! `self.prefix.saturating_sub(1)`) made both the decision and the wire
//! comparisons fail with 11 of 5,619 probes, e.g.:
//! `oracle-parity.subdomain.conf.sample: GET
//! https://parity.example.test/acl-allow/x from 127.0.0.2` / `nginx: status
//! 403` / `moat:  proxy GET http://parity-app:8080/acl-allow/x Host:
//! ["parity.example.test"]`, and `/acl-deny/y from 127.0.0.4`: nginx
//! proxied, moat 403.
//!
//! The class `fallback` (same conf): `error_page` into an `internal` or a
//! named location (`=`, `=code`, without `=`, after `deny`) and
//! `try_files` falling back to a named or `internal` location, with `GET`
//! and `POST`. Over the wire moat agreed at once; the in-process and
//! explain comparisons did not, e.g. `GET
//! https://parity.example.test/ep-code/` / `nginx: status 202` / `moat:
//! proxy GET http://parity-app:8080/hidden/with-code`, and `POST
//! /ep-ret/x`: nginx proxied `GET` (an `error_page` redirect makes a
//! `POST` a `GET`), moat's decision said `POST`: the oracle read the
//! decision's method and `status_override` wrongly, and `moat explain`
//! printed neither (it now reports the status an `error_page` imposes and
//! `upstream_method`).
//!
//! The wire class `body` sends `POST` bodies (Content-Length, or chunked
//! in two chunks) and compares the framing headers and the body (length
//! and SHA-256, which `moat-echo` now reports as `body_sha256`) each
//! upstream got, for every proxied probe. Both kinds agree, framing
//! included: nginx reads a chunked body whole (`proxy_request_buffering
//! on`) and sends `Content-Length`, and so does moat (`engine/body.rs`).
//! Until moat owned the body path this was a tolerated difference (moat
//! streamed it chunked); it is now a mismatch like any other.
//!
//! The wire class `static` (`oracle::static_probes`): SWAG's default
//! server serving the files of `oracle::STATIC_FILES` under both trees'
//! `www/s/`, every spelling of their paths (`static_paths.rs`, shared with
//! `static_files_nginx`), with GET, HEAD and POST, over HTTP/1.1 and h2; a
//! served file is compared by its contents (`Outcome::File`). Its first
//! run found an h2 bug: a HEAD answered locally (`HEAD /s/.htpasswd`, 403)
//! reached h2 clients as `RST_STREAM(CANCEL)` after the headers (`moat
//! answered nothing: h2: body: stream error received: stream no longer
//! needed`): Pingora sends an h2 response header without END_STREAM, and
//! `respond::send` now ends the stream. Left out on purpose: an existing
//! `.php` file, which nginx hands to FastCGI (502 without php-fpm) and moat
//! refuses with 503.
//!
//! The probes also go through the running moat binary on the same tree
//! (`moat_over_the_wire_answers_like_nginx`), and what each upstream
//! received is compared with what nginx sent, plus wire-only classes
//! (`oracle::WIRE_CLASSES`: header names with `_`, absolute-form targets,
//! malformed header lines). Its first run found two bugs the decision
//! comparison could not see (container names with `_` did not resolve; two
//! `proxy_set_header Host` lines gave 500). A deliberately broken build
//! that forwards `_` headers (2026-12-03, `head_checks.rs`) made it fail
//! with 40 of 5,433 probes, e.g.:
//! `underscore:actual-server.subdomain.conf.sample: GET
//! https://ACTUAL-SERVER.EXAMPLE.TEST/Upper/Case?Q=1 [X_Under_Score: 1]
//! [X-Normal: 2]` / `nginx sent: [..., "x-real-ip: 127.0.0.1"]` /
//! `moat sent: [..., "x-real-ip: 127.0.0.1", "x_under_score: 1"]`.
//!
//! Two protocol classes run in the same test (`PROTOCOL_CLASSES`):
//! `http2` sends every third probe HTTP/2 can carry as written (and every
//! `underscore`, `body` and parity probe) over h2 with ALPN, `:authority`
//! for Host, to nginx (`listen ... http2`) and to moat, and compares what
//! the upstream got as for HTTP/1.1 (both proxy HTTP/1.1 upstream); and
//! `websocket` sends, for every file, a proxied `GET` as an RFC 6455
//! upgrade and compares the 101 and the upgrade request the upstream saw
//! (`moat-echo` reports it in `X-Echo-Request`), its `Connection` and
//! `Upgrade` headers, and that a text frame relays both ways and a close
//! comes back. The header list is compared in order (see
//! [`wire_headers`] for the documented differences). Comparing the order
//! found that moat sent names where its header map's edits left them
//! (kept client headers first, a removal moving the last name into the
//! hole); it now sends the conf's order as nginx does
//! (`src/proxy/headers.rs`, `order_as_target`), e.g. before the fix:
//! `websocket:actual-server.subdomain.conf.sample: upgrade GET
//! https://ACTUAL-SERVER.EXAMPLE.TEST/Upper/Case?Q=1 from 127.0.0.3` /
//! `nginx sent: ["connection: upgrade", "upgrade: websocket"]` / `moat
//! sent: ["upgrade: websocket", "connection: upgrade"]`. A deliberately
//! broken build that skips that reordering (2026-12-04,
//! `order_as_target` returning at once) made both classes fail, 156 h2
//! and 726 upgrade lines among 1,526 differing probes, e.g.
//! `adminmongo.subdomain.conf.sample: h2 GET
//! https://adminmongo.example.test/ [X-Dup: one] [x-dup: two] ...` /
//! `order differs: nginx sent: ["host: adminmongo.example.test",
//! "x-forwarded-for: 10.9.9.9, 127.0.0.7", ...]` / `moat sent: ["x-dup:
//! one", "x-dup: two", "host: adminmongo.example.test", "accept-encoding:
//! gzip", ...]`, and `websocket:actual-server.subdomain.conf.sample:
//! upgrade GET ...` / `moat sent: ["sec-websocket-version: 13",
//! "sec-websocket-key: ...", "host: actual-server.example.test", ...]`.

#[path = "support/echo.rs"]
mod echo;
#[path = "support/env.rs"]
mod env;
#[path = "support/foundation.rs"]
mod foundation;
#[path = "support/oracle.rs"]
mod oracle;
#[path = "support/oracle_conf.rs"]
mod oracle_conf;
#[path = "support/oracle_h2ws.rs"]
mod oracle_h2ws;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::OnceLock;

use oracle::{Chosen, Outcome, Probe, Trees};

/// A header list as the echo reported it, in order.
type Headers = Vec<(String, String)>;

/// Everything one oracle run produced; shared by the tests in this file.
struct Run {
    chosen: Vec<Chosen>,
    left: Vec<(String, String)>,
    probes: Vec<Probe>,
    nginx: Vec<Outcome>,
    /// For proxied probes, the headers the upstream got from nginx.
    nginx_headers: Vec<Vec<(String, String)>>,
    trees: Trees,
    echo_conflicts: Vec<String>,
    nginx_errors: Vec<String>,
    /// Loopback address of each upstream name, reversed (for the echo).
    apps_by_ip: BTreeMap<Ipv4Addr, String>,
    /// The oracle's certificate, for TLS clients.
    cert: String,
    /// The `http2` class: (index into `probes`, nginx's answer over h2,
    /// the headers its upstream got).
    h2: Vec<(usize, Outcome, Headers)>,
    /// The `websocket` class: each upgrade probe and nginx's answer.
    ws: Vec<(Probe, oracle_h2ws::WsAnswer)>,
    _tmp: tempfile::TempDir,
}

static RUN: OnceLock<Option<Run>> = OnceLock::new();

/// Probes where moat is known to differ from nginx: (file, probe as
/// printed without its extra headers, what nginx does). Each is a conf bug filed with the lead; the
/// test fails when one starts to match, so the entry gets removed with the
/// fix. Nothing else may differ.
const KNOWN_CONF_BUGS: &[(&str, &str, &str)] = &[];

/// Runs the oracle once per test binary; `None` when nginx or the corpus is
/// missing locally (a loud SKIP; under CI=true a panic).
fn oracle_run(test: &str) -> Option<&'static Run> {
    RUN.get_or_init(|| build_run(test)).as_ref()
}

fn build_run(test: &str) -> Option<Run> {
    let nginx_bin = env::require_program(test, "nginx")?;
    let Some(corpus) = oracle::corpus_dir() else {
        assert!(!env::in_ci(), "{test}: corpus not found (set MOAT_CORPUS)");
        eprintln!("\n*** SKIP {test}: corpus not found (set MOAT_CORPUS) ***\n");
        return None;
    };
    let (mut chosen, left) = oracle::choose(&corpus);
    chosen.push(oracle::parity_chosen());

    // One loopback address per upstream name; moat-echo listens on each
    // (address, port) with the file's scheme.
    let apps: BTreeSet<&str> = chosen
        .iter()
        .flat_map(|c| c.upstreams.iter().map(|u| u.app.as_str()))
        .collect();
    let ip_of: BTreeMap<String, Ipv4Addr> = apps
        .iter()
        .enumerate()
        .map(|(i, a)| (a.to_string(), oracle::app_ip(i)))
        .collect();
    let mut listeners: BTreeMap<(Ipv4Addr, u16), String> = BTreeMap::new();
    let mut echo_conflicts = Vec::new();
    for c in &chosen {
        for u in &c.upstreams {
            let key = (ip_of[&u.app], u.port);
            match listeners.get(&key) {
                Some(p) if *p != u.proto => echo_conflicts.push(format!(
                    "{}: {}:{} wanted as {} and {}",
                    c.sample, u.app, u.port, p, u.proto
                )),
                Some(_) => {}
                None => {
                    listeners.insert(key, u.proto.clone());
                }
            }
        }
    }
    let mut args: Vec<String> = Vec::new();
    for ((ip, port), proto) in &listeners {
        let flag = if proto == "https" {
            "--tls-listen"
        } else {
            "--listen"
        };
        args.push(flag.into());
        args.push(format!("{ip}:{port}"));
    }
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    eprintln!(
        "oracle: {} files, {} echo listeners",
        chosen.len(),
        listeners.len()
    );
    let echo = echo::Echo::start(&arg_refs, &[("ECHO_NAME", "oracle-upstream")]);
    // Leak it: the run lives as long as the test binary.
    std::mem::forget(echo);

    let dns_names: BTreeMap<String, Ipv4Addr> = ip_of
        .iter()
        .map(|(a, ip)| (a.to_ascii_lowercase(), *ip))
        .collect();
    let dns = oracle::DnsStub::start(dns_names);
    let dns_addr = dns.addr;
    std::mem::forget(dns);

    let (cert, key) = oracle::test_cert(&chosen);
    let tmp = tempfile::tempdir().expect("temp dir");
    let trees = oracle::write_trees(tmp.path(), &corpus, &chosen, dns_addr, &cert, &key);
    let nginx = oracle::Nginx::start(&nginx_bin, &trees.nginx, trees.ports[&443])
        .unwrap_or_else(|e| panic!("{test}: {e}"));

    eprintln!("oracle: nginx up on 127.0.0.1:{}", trees.ports[&443]);
    let mut probes: Vec<Probe> = chosen.iter().flat_map(oracle::probes_for).collect();
    probes.extend(oracle::default_server_probes());
    probes.extend(oracle::parity_probes());
    // Corpus probes come from clients 127.0.0.2..=9 in turn, so their
    // `allow`/`deny` and `$remote_addr` see more than one client.
    for (i, p) in probes.iter_mut().enumerate() {
        if oracle::parity_class(p).is_none() {
            p.client = 2 + (i % 8) as u8;
        }
    }
    let wire_only = oracle::wire_probes(&probes);
    probes.extend(wire_only);
    eprintln!("oracle: sending {} probes", probes.len());
    let apps_by_ip: BTreeMap<Ipv4Addr, String> =
        ip_of.iter().map(|(a, ip)| (*ip, a.clone())).collect();
    let client = oracle::client_config(&cert);
    let (answers, nginx_headers): (Vec<Outcome>, Vec<_>) = probes
        .iter()
        .map(|p| oracle::ask_nginx(p, &trees.ports, &apps_by_ip, &client))
        .unzip();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime for the h2 client");
    let h2_client = oracle_h2ws::h2_config(&client);
    let h2 = h2_sample(&probes)
        .into_iter()
        .map(|i| {
            let (o, h) =
                oracle_h2ws::ask_h2(&rt, &probes[i], &trees.ports, &apps_by_ip, &h2_client);
            (i, o, h)
        })
        .collect();
    let ws = ws_probes(&probes, &answers)
        .into_iter()
        .map(|p| {
            let a = oracle_h2ws::ask_ws(&p, &trees.ports, &apps_by_ip, &client);
            (p, a)
        })
        .collect();
    let errors = std::fs::read_to_string(&nginx.error_log).unwrap_or_default();
    let nginx_errors: Vec<String> = errors
        .lines()
        .filter(|l| l.contains("[crit]") || l.contains("[emerg]") || l.contains("[alert]"))
        .map(str::to_string)
        .collect();
    drop(nginx);
    Some(Run {
        chosen,
        left,
        probes,
        nginx: answers,
        nginx_headers,
        trees,
        echo_conflicts,
        nginx_errors,
        apps_by_ip,
        cert,
        h2,
        ws,
        _tmp: tmp,
    })
}

/// The `http2` class: every third probe that HTTP/2 can carry as it is
/// (see [`oracle_h2ws::h2_eligible`]), and every eligible probe of the
/// `underscore`, `body`, `static` and parity classes.
fn h2_sample(probes: &[Probe]) -> Vec<usize> {
    probes
        .iter()
        .enumerate()
        .filter(|(_, p)| oracle_h2ws::h2_eligible(p))
        .filter(|(i, p)| {
            i % 3 == 0
                || matches!(
                    oracle::wire_class(p),
                    Some("underscore" | "body" | "static")
                )
                || oracle::parity_class(p).is_some()
        })
        .map(|(i, _)| i)
        .collect()
}

/// The `websocket` class: for every file with a proxied HTTPS `GET`
/// probe, that probe's path sent as an upgrade (SWAG's proxy.conf passes
/// `Upgrade: $http_upgrade` and `Connection: $connection_upgrade`), and
/// the same for the first proxied plain-HTTP `GET` of a file.
fn ws_probes(probes: &[Probe], nginx: &[Outcome]) -> Vec<Probe> {
    let mut seen = BTreeSet::new();
    probes
        .iter()
        .zip(nginx)
        .filter(|(p, o)| {
            matches!(o, Outcome::Proxied { .. })
                && p.method == "GET"
                && p.headers.is_empty()
                && p.body.is_empty()
                && p.target.starts_with('/')
                && oracle::wire_class(p).is_none()
        })
        .filter(|(p, _)| seen.insert((p.file.clone(), p.tls)))
        .map(|(p, _)| Probe {
            file: format!("websocket:{}", p.file),
            ..p.clone()
        })
        .collect()
}

#[test]
fn nginx_oracle_harness_reaches_every_upstream() {
    let Some(run) = oracle_run("nginx_oracle_harness_reaches_every_upstream") else {
        return;
    };
    eprintln!(
        "oracle: {} files active ({} subdomain, {} subfolder), {} left out, {} probes",
        run.chosen.len(),
        run.chosen.iter().filter(|c| !c.subfolder).count(),
        run.chosen.iter().filter(|c| c.subfolder).count(),
        run.left.len(),
        run.probes.len()
    );
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for o in &run.nginx {
        let k = match o {
            Outcome::Proxied { .. } => "proxied".to_string(),
            Outcome::Redirect { status, .. } => format!("redirect {status}"),
            Outcome::Status(s) => format!("status {s}"),
            Outcome::File(_) => "static file".to_string(),
            Outcome::Failed(_) => "failed".to_string(),
        };
        *kinds.entry(k).or_default() += 1;
    }
    eprintln!("oracle: nginx outcomes {kinds:?}");
    if let Some(path) = std::env::var_os("MOAT_ORACLE_REPORT") {
        let text: String = run
            .probes
            .iter()
            .zip(&run.nginx)
            .map(|(p, o)| format!("{}: {p}\n    nginx: {o}\n", p.file))
            .collect();
        std::fs::write(&path, text).expect("write MOAT_ORACLE_REPORT");
    }
    for (f, why) in &run.left {
        eprintln!("  left out {f}: {why}");
    }
    for c in &run.echo_conflicts {
        eprintln!("  echo conflict {c}");
    }
    let sub = run.chosen.iter().filter(|c| c.subfolder).count();
    assert!(
        run.chosen.len() >= 50,
        "only {} files active",
        run.chosen.len()
    );
    assert!(
        sub >= 15 && run.chosen.len() - sub >= 15,
        "too few of one kind"
    );
    assert!(run.probes.len() >= 200, "only {} probes", run.probes.len());

    let mut problems: Vec<String> = run
        .nginx_errors
        .iter()
        .map(|l| format!("nginx error log: {l}"))
        .collect();
    for (p, o) in run.probes.iter().zip(&run.nginx) {
        match o {
            Outcome::Failed(e) => problems.push(format!("{}: {p}: {e}", p.file)),
            Outcome::Status(s @ (502 | 504)) => problems.push(format!(
                "{}: {p}: nginx answered {s}: upstream unreachable",
                p.file
            )),
            Outcome::Proxied { app, .. } if app.starts_with('?') => {
                problems.push(format!("{}: {p}: reached unknown upstream {app}", p.file))
            }
            _ => {}
        }
    }
    // Every file's traffic reaches at least one of its own upstreams.
    for c in run.chosen.iter().filter(|c| !c.upstreams.is_empty()) {
        let own: BTreeSet<&str> = c.upstreams.iter().map(|u| u.app.as_str()).collect();
        let reached = run.probes.iter().zip(&run.nginx).any(|(p, o)| {
            p.file == c.sample
                && matches!(o, Outcome::Proxied { app, .. } if own.contains(app.as_str()))
        });
        if !reached {
            problems.push(format!(
                "{}: no probe reached its upstreams {own:?}",
                c.sample
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} harness problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn moat_routes_every_probe_like_nginx() {
    let Some(run) = oracle_run("moat_routes_every_probe_like_nginx") else {
        return;
    };
    let table = match moat::conf::load(&run.trees.moat) {
        Ok((table, _report)) => table,
        Err(errors) => {
            let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            panic!(
                "moat cannot load the oracle tree ({} errors):\n{}",
                lines.len(),
                lines.join("\n")
            );
        }
    };
    let mut mismatches = Vec::new();
    let mut known_seen = BTreeSet::new();
    let mut by_file: BTreeMap<&str, usize> = BTreeMap::new();
    let mut per_class: BTreeMap<&str, usize> = BTreeMap::new();
    for (p, want) in run.probes.iter().zip(&run.nginx) {
        if oracle::wire_class(p).is_some() {
            continue; // what the edge does first: the wire test's
        }
        let class = oracle::parity_class(p);
        if let Outcome::Failed(why) = want {
            if class.is_some() {
                // The classes' probes are the oracle's own: nginx must answer each.
                mismatches.push(format!(
                    "{}: {p}\n    nginx answered nothing: {why}",
                    p.file
                ));
            }
            continue; // reported by the harness test
        }
        if let Some(c) = class {
            *per_class.entry(c).or_default() += 1;
        }
        let got = oracle::moat_outcome(&table, p, &run.trees.ports);
        let shown = p.to_string();
        let known = KNOWN_CONF_BUGS.iter().position(|(f, probe, _)| {
            *f == p.file && (*probe == shown || shown.starts_with(&format!("{probe} [")))
        });
        if &got != want {
            if let Some(k) = known {
                known_seen.insert(k);
                eprintln!(
                    "known conf bug {}: {shown}: nginx {want}, moat {got}",
                    p.file
                );
                continue;
            }
            *by_file.entry(p.file.as_str()).or_default() += 1;
            mismatches.push(format!(
                "{}: {shown}\n    nginx: {want}\n    moat:  {got}",
                p.file
            ));
        }
    }
    for (k, (f, probe, why)) in KNOWN_CONF_BUGS.iter().enumerate() {
        if !known_seen.contains(&k) {
            mismatches.push(format!(
                "{f}: {probe}: listed in KNOWN_CONF_BUGS ({why}) but now agrees with nginx \
                 or is no longer probed: remove the entry"
            ));
        }
    }
    // The classes must reach the branches they exist for: `deny` (403)
    // and `allow` (proxied) for `access`, nginx's 500 for a `last` loop.
    let answered = |class: &str, want: fn(&Outcome) -> bool| {
        run.probes
            .iter()
            .zip(&run.nginx)
            .filter(|(p, o)| oracle::parity_class(p) == Some(class) && want(o))
            .count()
    };
    for (class, what, n, floor) in [
        (
            "access",
            "403",
            answered("access", |o| *o == Outcome::Status(403)),
            20,
        ),
        (
            "access",
            "proxied",
            answered("access", |o| matches!(o, Outcome::Proxied { .. })),
            15,
        ),
        (
            "last",
            "500",
            answered("last", |o| *o == Outcome::Status(500)),
            27,
        ),
        (
            "last",
            "proxied",
            answered("last", |o| matches!(o, Outcome::Proxied { .. })),
            40,
        ),
    ] {
        eprintln!("oracle: class {class}: nginx answered {what} {n} times (floor {floor})");
        if n < floor {
            mismatches.push(format!(
                "class {class}: nginx answered {what} only {n} times, floor {floor}"
            ));
        }
    }
    for (class, floor) in oracle::PARITY_CLASSES {
        let n = per_class.get(class).copied().unwrap_or(0);
        eprintln!("oracle: class {class}: {n} probes compared (floor {floor})");
        if n < *floor {
            mismatches.push(format!(
                "class {class}: only {n} probes compared with nginx, floor {floor}"
            ));
        }
    }
    eprintln!(
        "oracle: {} probes over {} files, {} mismatches in {} files",
        run.probes.len(),
        run.chosen.len(),
        mismatches.len(),
        by_file.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {} probes differ from nginx:\n{}",
        mismatches.len(),
        run.probes.len(),
        mismatches.join("\n")
    );
}

/// The header list as compared: body framing is the proxy's job, not the
/// route table's, and `$server_port` on the nginx side is the oracle's
/// loopback port, mapped back to the original one.
fn comparable_headers(list: &[(String, String)], ports: &BTreeMap<u16, u16>) -> Vec<String> {
    list.iter()
        .filter(|(n, _)| {
            !n.eq_ignore_ascii_case("content-length")
                && !n.eq_ignore_ascii_case("transfer-encoding")
                && n != oracle::BODY_LEN
        })
        .map(|(n, v)| {
            let v = if n.eq_ignore_ascii_case("x-forwarded-port") {
                ports
                    .iter()
                    .find(|(_, p)| p.to_string() == *v)
                    .map(|(orig, _)| orig.to_string())
                    .unwrap_or_else(|| v.clone())
            } else {
                v.clone()
            };
            format!("{n}: {v}")
        })
        .collect()
}

#[test]
fn moat_sends_upstream_the_headers_nginx_sends() {
    let Some(run) = oracle_run("moat_sends_upstream_the_headers_nginx_sends") else {
        return;
    };
    let table = match moat::conf::load(&run.trees.moat) {
        Ok((table, _)) => table,
        Err(e) => panic!("moat cannot load the oracle tree: {e:?}"),
    };
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for ((p, want), nginx_headers) in run.probes.iter().zip(&run.nginx).zip(&run.nginx_headers) {
        if !matches!(want, Outcome::Proxied { .. }) || oracle::wire_class(p).is_some() {
            continue;
        }
        let info = oracle::request_info(p);
        let d = table.decide(&info);
        let moat_headers = match &d.action {
            moat::conf::Action::Proxy(t) | moat::conf::Action::Grpc(t) => {
                t.headers.list(&info.headers)
            }
            _ => continue, // a routing mismatch, reported by the routing test
        };
        compared += 1;
        assert!(
            nginx_headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("host")),
            "{p}: the echo reported no Host header: the harness lost the header list"
        );
        let want = comparable_headers(nginx_headers, &run.trees.ports);
        let got = comparable_headers(&moat_headers, &run.trees.ports);
        if want != got {
            mismatches.push(format!(
                "{}: {p}\n    nginx: {want:?}\n    moat:  {got:?}",
                p.file
            ));
        }
    }
    eprintln!(
        "oracle: upstream headers compared for {compared} proxied probes, {} differ",
        mismatches.len()
    );
    assert!(compared >= 200, "only {compared} proxied probes compared");
    assert!(
        mismatches.is_empty(),
        "{} proxied probes send other headers than nginx:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// What `moat explain --json` (the binary, as a user runs it) says about
/// `p`, in the oracle's terms (as [`oracle::moat_outcome`] maps a decision).
fn explain_outcome(config: &std::path::Path, p: &Probe, ports: &BTreeMap<u16, u16>) -> Outcome {
    let scheme = if p.tls { "https" } else { "http" };
    let port = match (p.tls, p.port) {
        (true, 443) | (false, 80) => String::new(),
        (_, x) => format!(":{x}"),
    };
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_moat"));
    cmd.env_clear()
        .args(["explain", "--json", "--config"])
        .arg(config)
        .args(["--method", &p.method, "--remote-addr"])
        // The probe's own client (the access class sends from 127.0.0.2..=9).
        .arg(format!("127.0.0.{}", p.client));
    // The same header list the in-process probe and nginx get (Host without
    // a port, as the probe sends it).
    for (n, v) in p.wire_headers() {
        cmd.arg("-H").arg(format!("{n}: {v}"));
    }
    cmd.arg(format!("{scheme}://{}{port}{}", p.host, p.target));
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) => return Outcome::Failed(format!("moat explain: {e}")),
    };
    if !out.status.success() {
        return Outcome::Failed(format!(
            "moat explain exited {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let v: serde_json::Value = match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(e) => return Outcome::Failed(format!("moat explain printed no JSON: {e}")),
    };
    let status = v["status"].as_u64().map(|s| s as u16);
    match v["action"].as_str().unwrap_or_default() {
        // An `error_page` status imposed on the upstream's answer.
        "proxy" | "grpc" if status.is_some() => Outcome::Status(status.unwrap_or_default()),
        "proxy" | "grpc" => {
            let url = v["upstream"].as_str().unwrap_or_default();
            let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
            let split = rest.find(['/', '?']).unwrap_or(rest.len());
            let (authority, target) = rest.split_at(split);
            let tls = matches!(scheme, "https" | "grpcs");
            let (app, port) = match authority.rsplit_once(':') {
                Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_string(), p.parse().unwrap()),
                _ => (authority.to_string(), if tls { 443 } else { 80 }),
            };
            let host = oracle::host_values(&v["upstream_headers"]);
            Outcome::Proxied {
                app,
                port,
                tls,
                method: v["upstream_method"]
                    .as_str()
                    .map_or_else(|| p.method.clone(), str::to_string),
                target: if target.is_empty() {
                    "/".into()
                } else {
                    target.into()
                },
                host,
            }
        }
        "return" => match (status, v["location_header"].as_str()) {
            (Some(s), Some(l)) if (300..400).contains(&s) => Outcome::Redirect {
                status: s,
                location: oracle::normalize_location(l, p, ports),
            },
            (Some(s), _) => Outcome::Status(s),
            _ => Outcome::Failed("return without a status".into()),
        },
        // The parity conf has no static content: its 404s are `internal`
        // locations refusing an external request, which explain calls `deny`.
        "static" if oracle::parity_class(p).is_some() => Outcome::Failed(format!(
            "explain says static {status:?} where an internal location refuses (expected deny 404)"
        )),
        // No /config/www in the oracle tree: a static answer is nginx's 404.
        "static" => Outcome::Status(status.unwrap_or(404)),
        // An internal location refusing an external request is `deny`,
        // never an auth step or something unsupported (issue 18 1c).
        action @ ("auth" | "unsupported")
            if oracle::parity_class(p) == Some("internal") && status == Some(404) =>
        {
            Outcome::Failed(format!(
                "explain says {action} 404 where an internal location refuses (expected deny 404)"
            ))
        }
        "deny" | "auth" | "unsupported" => Outcome::Status(status.unwrap_or(0)),
        other => Outcome::Failed(format!("unknown action {other:?}")),
    }
}

#[test]
fn moat_explain_binary_answers_like_nginx() {
    let Some(run) = oracle_run("moat_explain_binary_answers_like_nginx") else {
        return;
    };
    let mut compared = 0;
    let mut files = BTreeSet::new();
    let mut mismatches = Vec::new();
    // Every twentieth probe (each call loads the whole tree): the same
    // engine answers all of them in-process in
    // moat_routes_every_probe_like_nginx; this proves the CLI users run
    // prints those answers, over at least the 200 requests and 50 files.
    // Plus every probe of the oracle's `internal` class (the CLI must call
    // an internal location reached from outside `deny` 404) and of its
    // `fallback` class (an `error_page` status and method over a proxy).
    let picked = run
        .probes
        .iter()
        .zip(&run.nginx)
        .enumerate()
        .filter(|(_, (p, _))| oracle::wire_class(p).is_none())
        .filter(|(i, (p, _))| {
            i % 20 == 0 || matches!(oracle::parity_class(p), Some("internal" | "fallback"))
        })
        .map(|(_, pw)| pw);
    for (p, want) in picked {
        if matches!(want, Outcome::Failed(_)) {
            continue;
        }
        let shown = p.to_string();
        if KNOWN_CONF_BUGS.iter().any(|(f, probe, _)| {
            *f == p.file && (*probe == shown || shown.starts_with(&format!("{probe} [")))
        }) {
            continue;
        }
        let got = explain_outcome(&run.trees.moat, p, &run.trees.ports);
        compared += 1;
        files.insert(p.file.clone());
        if &got != want {
            mismatches.push(format!(
                "{}: {shown}\n    nginx: {want}\n    moat explain: {got}",
                p.file
            ));
        }
    }
    eprintln!(
        "moat explain: {compared} probes across {} files compared with nginx",
        files.len()
    );
    assert!(
        compared >= 200 && files.len() >= 50,
        "too few probes: {compared} over {} files",
        files.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {compared} differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// Header lines as the wire comparison sees them: [`comparable_headers`],
/// names lower-cased, in the order they were sent. Deliberate
/// differences, documented in `src/proxy/headers.rs`, normalised here:
/// moat keeps upstream connections alive, so SWAG's `Connection: close` is
/// not sent (the `websocket` class compares `Connection: upgrade` on its
/// own); of two `Host` values (a sample's `proxy_set_header Host` beside
/// proxy.conf's) moat sends only the last, where nginx sends a request
/// with two; a name the conf sets twice with others between (freshrss's
/// second `X-Forwarded-Port`, qbittorrent's `X-Forwarded-Host`) goes out
/// with its values together at the name's first place, where nginx sends
/// each value at its own line's place (a header map cannot interleave
/// names); and over HTTP/2 nginx rebuilds `Cookie` from the client's
/// cookie fields after all other headers, where moat keeps it where the
/// client sent it (`h2` moves it last on both sides).
fn wire_headers(list: &[(String, String)], ports: &BTreeMap<u16, u16>, h2: bool) -> Vec<String> {
    let mut lines: Vec<(String, usize, String)> = comparable_headers(list, ports)
        .into_iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let (n, v) = line.split_once(": ").unwrap_or((&line, ""));
            let n = n.to_ascii_lowercase();
            (n != "connection").then(|| (n, i, v.to_string()))
        })
        .collect();
    if let Some(last) = lines.iter().rposition(|(n, _, _)| n == "host") {
        let keep = lines[last].1;
        lines.retain(|(n, i, _)| n != "host" || *i == keep);
    }
    // Each name at its first place (a stable sort keeps values in order).
    let mut first: BTreeMap<String, usize> = BTreeMap::new();
    for (n, i, _) in &lines {
        first.entry(n.clone()).or_insert(*i);
    }
    lines.sort_by_key(|(n, _, _)| (h2 && n == "cookie", first[n]));
    lines
        .into_iter()
        .map(|(n, _, v)| format!("{n}: {v}"))
        .collect()
}

/// The framing headers (`Content-Length`, `Transfer-Encoding`) and the body
/// length the upstream read.
fn framing(list: &[(String, String)]) -> Vec<String> {
    list.iter()
        .filter(|(n, _)| {
            n.eq_ignore_ascii_case("content-length")
                || n.eq_ignore_ascii_case("transfer-encoding")
                || n == oracle::BODY_LEN
        })
        .map(|(n, v)| format!("{}: {v}", n.to_ascii_lowercase()))
        .collect()
}

/// nginx's outcome as moat is meant to reproduce it over the wire: of two
/// Host values, the last (see [`wire_headers`]).
fn one_host(want: &Outcome) -> Outcome {
    let mut want = want.clone();
    if let Outcome::Proxied { host, .. } = &mut want {
        if host.len() > 1 {
            host.drain(..host.len() - 1);
        }
    }
    want
}

/// The oracle's probes through the running moat binary on the same tree:
/// what each upstream received (request line, headers, TLS) or the answer
/// the client got must be what nginx produced, not only the decision.
#[test]
fn moat_over_the_wire_answers_like_nginx() {
    let test = "moat_over_the_wire_answers_like_nginx";
    let Some(run) = oracle_run(test) else {
        return;
    };
    let https = foundation::free_port();
    let http = foundation::free_port();
    let mut moat = foundation::Running::spawn(foundation::moat_command(
        foundation::moat_bin(),
        &run.trees.moat,
        &[
            ("HTTPS_PORT", &https.to_string()),
            ("HTTP_PORT", &http.to_string()),
        ],
    ));
    moat.wait_for(
        &["proxy listening", "tls=true"],
        std::time::Duration::from_secs(30),
    );
    // moat's first start adds its welcome page to the tree's www/; nginx's
    // copy holds only the `static` class's files under www/s/, so
    // default.conf's `try_files` for a missing file ends in the PHP
    // location's 404 there (a root index.html would answer it instead).
    std::fs::remove_dir_all(run.trees.moat.join("www")).expect("moat's www/");
    oracle::write_static_www(&run.trees.moat);
    // The confs' ports as moat serves them: 443/80 on HTTPS_PORT/HTTP_PORT,
    // any other `listen` port as written.
    let ports: BTreeMap<u16, u16> = run
        .trees
        .ports
        .keys()
        .map(|&p| {
            (
                p,
                match p {
                    443 => https,
                    80 => http,
                    other => other,
                },
            )
        })
        .collect();
    let client = oracle::client_config(&run.cert);
    let mut mismatches = Vec::new();
    let mut compared = 0;
    let mut tally: BTreeMap<Verdict, usize> = BTreeMap::new();
    let mut per_class: BTreeMap<&str, usize> = BTreeMap::new();
    // Proxied chunked bodies, whose framing (nginx: Content-Length) was
    // compared like every other.
    let mut chunked = 0;
    for ((p, want), nginx_headers) in run.probes.iter().zip(&run.nginx).zip(&run.nginx_headers) {
        // Probes on a conf's own port (synapse's 8448) go to the port as
        // written, which moat binds itself.
        if matches!(want, Outcome::Failed(_)) {
            continue;
        }
        if !matches!(p.port, 80 | 443) {
            *per_class.entry("other port").or_default() += 1;
        }
        let (got, moat_headers) = oracle::ask_nginx(p, &ports, &run.apps_by_ip, &client);
        compared += 1;
        if let Some(c) = oracle::parity_class(p).or_else(|| oracle::wire_class(p)) {
            *per_class.entry(c).or_default() += 1;
        }
        let sides = Sides {
            want,
            got: &got,
            nginx_headers,
            moat_headers: &moat_headers,
        };
        let v = compare_wire(p, "", &sides, &run.trees.ports, &ports, &mut mismatches);
        if p.chunked && v == Verdict::Proxied {
            chunked += 1;
        }
        *tally.entry(v).or_default() += 1;
    }
    let proxied = tally.get(&Verdict::Proxied).copied().unwrap_or(0);
    compare_h2_class(run, &ports, &client, &mut per_class, &mut mismatches);
    compare_ws_class(run, &ports, &client, &mut per_class, &mut mismatches);
    // The first failure moat logged per conf file, to show the cause.
    let mut seen_confs = BTreeSet::new();
    let failures: Vec<String> = moat
        .log()
        .lines()
        .filter(|l| l.contains("request failed"))
        .filter(|l| {
            let conf = l.split(" conf=").nth(1).and_then(|c| c.split(' ').next());
            seen_confs.insert(conf.unwrap_or("").to_string())
        })
        .take(20)
        .map(str::to_owned)
        .collect();
    foundation::stop_gracefully(&mut moat);
    for (class, floor) in oracle::PARITY_CLASSES
        .iter()
        .chain(oracle::WIRE_CLASSES)
        .chain(PROTOCOL_CLASSES)
    {
        let n = per_class.get(class).copied().unwrap_or(0);
        eprintln!("oracle wire: class {class}: {n} probes (floor {floor})");
        if n < *floor {
            mismatches.push(format!(
                "class {class}: only {n} probes over the wire, floor {floor}"
            ));
        }
    }
    let other_ports = per_class.get("other port").copied().unwrap_or(0);
    eprintln!("oracle wire: {other_ports} probes on a conf's own port");
    if run.trees.ports.keys().any(|p| !matches!(p, 80 | 443)) && other_ports == 0 {
        mismatches.push("a conf listens on its own port, but no probe went there".into());
    }
    eprintln!(
        "oracle wire: {compared} probes through the running moat, {proxied} proxied ({chunked} of them chunked bodies, framed as nginx frames them), {} deliberately refused, {} differ",
        tally.get(&Verdict::Deliberate).copied().unwrap_or(0),
        mismatches.len()
    );
    assert!(
        compared >= 1000 && proxied >= 200,
        "too few: {compared} compared, {proxied} proxied"
    );
    assert!(
        mismatches.is_empty(),
        "{} of {compared} probes differ from nginx over the wire:\n{}\nmoat's first failures:\n{}",
        mismatches.len(),
        mismatches.join("\n"),
        failures.join("\n")
    );
}

/// What one wire comparison found (besides the mismatches it pushed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    /// Both answered the same without proxying.
    Answered,
    /// Both proxied; the upstream's view was compared.
    Proxied,
    /// moat refuses what nginx forwards (see [`compare_wire`]).
    Deliberate,
    /// A mismatch (pushed).
    Differs,
}

/// One probe's answers from both sides: the outcome, and for a proxied
/// one the headers (with [`oracle::BODY_LEN`]) the upstream received.
struct Sides<'a> {
    want: &'a Outcome,
    got: &'a Outcome,
    nginx_headers: &'a [(String, String)],
    moat_headers: &'a [(String, String)],
}

/// Compares what nginx and moat did with `p` over the wire; every
/// difference goes into `mismatches`, prefixed with `label` (the protocol
/// when it is not HTTP/1.1). `nginx_ports`/`moat_ports` map the confs'
/// ports to each side's.
fn compare_wire(
    p: &Probe,
    label: &str,
    s: &Sides,
    nginx_ports: &BTreeMap<u16, u16>,
    moat_ports: &BTreeMap<u16, u16>,
    mismatches: &mut Vec<String>,
) -> Verdict {
    let before = mismatches.len();
    if let Outcome::Failed(why) = s.got {
        mismatches.push(format!(
            "{}: {label}{p}\n    moat answered nothing: {why}",
            p.file
        ));
        return Verdict::Differs;
    }
    // Deliberate: a rewrite that leaves the URI without its leading
    // slash (sonarrtorss.subfolder's `rewrite /sonarrtorss(.*) $1`
    // on `/sonarrtorssx`) is forwarded by nginx as `GET x`; moat
    // refuses to send what is not a request target (500).
    if matches!(s.want, Outcome::Proxied { target, .. } if !target.starts_with('/'))
        && *s.got == Outcome::Status(500)
    {
        return Verdict::Deliberate;
    }
    if *s.got != one_host(s.want) {
        mismatches.push(format!(
            "{}: {label}{p}\n    nginx: {}\n    moat:  {}",
            p.file, s.want, s.got
        ));
        return Verdict::Differs;
    }
    if !matches!(s.want, Outcome::Proxied { .. }) {
        return Verdict::Answered;
    }
    let h2 = label.starts_with("h2");
    let (w, g) = (
        wire_headers(s.nginx_headers, nginx_ports, h2),
        wire_headers(s.moat_headers, moat_ports, h2),
    );
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    if sorted(&w) != sorted(&g) {
        mismatches.push(format!(
            "{}: {label}{p}\n    nginx sent: {w:?}\n    moat sent:  {g:?}",
            p.file
        ));
    } else if w != g {
        mismatches.push(format!(
            "{}: {label}{p}\n    order differs: nginx sent: {w:?}\n    moat sent:  {g:?}",
            p.file
        ));
    }
    // The body and its framing as the upstream got them.
    let (w, g) = (framing(s.nginx_headers), framing(s.moat_headers));
    // The harness itself: the body nginx passed on is the one sent.
    let sent = format!(
        "{}: {} sha256 {}",
        oracle::BODY_LEN,
        p.body.len(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&p.body))
    );
    if w.last() != Some(&sent) {
        mismatches.push(format!(
            "{}: {label}{p}\n    the upstream got {w:?} from nginx, not {sent:?}",
            p.file
        ));
    }
    // A chunked body included: nginx reads it whole
    // (`proxy_request_buffering on`) and sends it with `Content-Length`,
    // and so does moat (`engine/body.rs`).
    if w != g {
        mismatches.push(format!(
            "{}: {label}{p}\n    nginx framed: {w:?}\n    moat framed:  {g:?}",
            p.file
        ));
    }
    if mismatches.len() > before {
        Verdict::Differs
    } else {
        Verdict::Proxied
    }
}

/// The protocol classes the wire test adds, with their floors on probes
/// compared: `http2` (a sample of the probes over h2, see [`h2_sample`])
/// and `websocket` (an upgrade per file, see [`ws_probes`]; the floor
/// counts upgrades both sides completed and relayed a frame through).
const PROTOCOL_CLASSES: &[(&str, usize)] = &[("http2", 1500), ("websocket", 250)];

/// The `http2` class through the running moat: the same probes nginx
/// answered over h2, compared as over HTTP/1.1 (nginx and moat both
/// proxy HTTP/1.1 upstream; `Host`, `$host` and `$http_host` come from
/// `:authority`).
fn compare_h2_class(
    run: &Run,
    ports: &BTreeMap<u16, u16>,
    client: &std::sync::Arc<rustls::ClientConfig>,
    per_class: &mut BTreeMap<&str, usize>,
    mismatches: &mut Vec<String>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime for the h2 client");
    let h2_client = oracle_h2ws::h2_config(client);
    for (i, want, nginx_headers) in &run.h2 {
        let p = &run.probes[*i];
        if let Outcome::Failed(why) = want {
            mismatches.push(format!(
                "{}: h2 {p}\n    nginx answered nothing: {why}",
                p.file
            ));
            continue;
        }
        let (got, moat_headers) = oracle_h2ws::ask_h2(&rt, p, ports, &run.apps_by_ip, &h2_client);
        let sides = Sides {
            want,
            got: &got,
            nginx_headers,
            moat_headers: &moat_headers,
        };
        compare_wire(p, "h2 ", &sides, &run.trees.ports, ports, mismatches);
        *per_class.entry("http2").or_default() += 1;
    }
}

/// The `websocket` class through the running moat: the 101 (or whatever
/// answered instead), the upgrade request as the upstream saw it, with
/// its `Connection` and `Upgrade` headers (which the HTTP/1.1 comparison
/// leaves out), and a frame relayed both ways.
fn compare_ws_class(
    run: &Run,
    ports: &BTreeMap<u16, u16>,
    client: &std::sync::Arc<rustls::ClientConfig>,
    per_class: &mut BTreeMap<&str, usize>,
    mismatches: &mut Vec<String>,
) {
    for (p, want) in &run.ws {
        if let Outcome::Failed(why) = &want.outcome {
            mismatches.push(format!(
                "{}: {p}\n    nginx answered nothing: {why}",
                p.file
            ));
            continue;
        }
        let got = oracle_h2ws::ask_ws(p, ports, &run.apps_by_ip, client);
        let sides = Sides {
            want: &want.outcome,
            got: &got.outcome,
            nginx_headers: &want.headers,
            moat_headers: &got.headers,
        };
        compare_wire(p, "upgrade ", &sides, &run.trees.ports, ports, mismatches);
        let upgrade = |h: &[(String, String)]| -> Vec<String> {
            h.iter()
                .filter(|(n, _)| {
                    n.eq_ignore_ascii_case("connection") || n.eq_ignore_ascii_case("upgrade")
                })
                .map(|(n, v)| format!("{}: {v}", n.to_ascii_lowercase()))
                .collect()
        };
        let (w, g) = (upgrade(&want.headers), upgrade(&got.headers));
        if w != g {
            mismatches.push(format!(
                "{}: upgrade {p}\n    nginx sent: {w:?}\n    moat sent:  {g:?}",
                p.file
            ));
        }
        if want.relay.is_ok() != got.relay.is_ok() {
            mismatches.push(format!(
                "{}: upgrade {p}\n    nginx relay: {:?}\n    moat relay:  {:?}",
                p.file, want.relay, got.relay
            ));
        }
        if want.relay.is_ok() && got.relay.is_ok() {
            *per_class.entry("websocket").or_default() += 1;
        }
    }
}
