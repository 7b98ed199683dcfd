//! limit_req / limit_conn against Debian's nginx, over the wire: the same
//! zones and server block run in nginx and in the moat binary, in front of
//! one recording upstream; the same request sequence (from several
//! loopback client addresses, and forwarded clients behind a trusted
//! realip hop) must give the same accept/reject pattern,
//! and no rejected request may reach the upstream.
//!
//! Rates are slow (`1r/m`) wherever the pattern must not depend on timing:
//! nothing drains during the test, so the counts are exact on a loaded
//! machine. The one delay scenario (`30r/m`, `delay=1`) asserts only that
//! the delayed request took over a second (of two) and the others did not.

#[path = "support/env.rs"]
mod env;
#[path = "support/foundation.rs"]
mod foundation;
#[path = "support/nginx_wire.rs"]
mod nginx_wire;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use foundation::{free_port, moat_bin, moat_command, temp_config, Running};
use nginx_wire::{moat_http_port, nginx_conf, start_nginx};

/// http-level zones, then the server; `LISTEN` and `UP` are filled in per side.
const CONF: &str = r#"
limit_req_zone $binary_remote_addr zone=plain:1m rate=1r/m;
limit_req_zone $binary_remote_addr zone=burst:1m rate=1r/m;
limit_req_zone $binary_remote_addr zone=status:1m rate=1r/m;
limit_req_zone $binary_remote_addr zone=dry:1m rate=1r/m;
limit_req_zone $binary_remote_addr zone=narrow:1m rate=1r/m;
limit_req_zone $server_name zone=wide:1m rate=1r/m;
limit_req_zone $binary_remote_addr zone=srv:1m rate=1r/m;
limit_req_zone $binary_remote_addr zone=own:1m rate=1r/m;
limit_req_zone $http_x_key zone=keyed:1m rate=1r/m;
limit_req_zone $binary_remote_addr zone=slow:1m rate=30r/m;
limit_req_zone $binary_remote_addr zone=realip:1m rate=1r/m;
limit_conn_zone $binary_remote_addr zone=conn:1m;
server {
    listen LISTEN;
    server_name limits.test;
    limit_req zone=srv burst=1 nodelay;
    location /plain/ {
        limit_req zone=plain;
        proxy_pass http://UP;
    }
    location /burst/ {
        limit_req zone=burst burst=2 nodelay;
        proxy_pass http://UP;
    }
    location /status/ {
        limit_req zone=status nodelay;
        limit_req_status 429;
        proxy_pass http://UP;
    }
    location /dry/ {
        limit_req zone=dry;
        limit_req_dry_run on;
        proxy_pass http://UP;
    }
    location /both/ {
        limit_req zone=narrow burst=1 nodelay;
        limit_req zone=wide burst=2 nodelay;
        proxy_pass http://UP;
    }
    location /inherit/ {
        proxy_pass http://UP;
    }
    location /own/ {
        limit_req zone=own burst=3 nodelay;
        proxy_pass http://UP;
    }
    location /keyed/ {
        limit_req zone=keyed nodelay;
        proxy_pass http://UP;
    }
    location /realip/ {
        set_real_ip_from 127.0.0.2;
        real_ip_header X-Forwarded-For;
        limit_req zone=realip nodelay;
        proxy_pass http://UP;
    }
    location /answered/ {
        limit_req zone=plain;
        return 204;
    }
    location /slow/ {
        limit_req zone=slow burst=3 delay=1;
        proxy_pass http://UP;
    }
    location /hold/ {
        limit_req zone=burst burst=100 nodelay;
        limit_req zone=srv burst=100 nodelay;
        limit_conn conn 2;
        proxy_pass http://UP;
    }
}
"#;

/// The recording upstream: answers 200 to each request (one per
/// connection), after waiting for [`Upstream::release`] when the path
/// starts with `/hold/`; remembers every request target it saw.
struct Upstream {
    addr: SocketAddr,
    seen: Arc<(Mutex<Vec<String>>, Condvar)>,
    gate: Arc<(Mutex<bool>, Condvar)>,
}

impl Upstream {
    fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<(Mutex<Vec<String>>, Condvar)> = Arc::default();
        let gate: Arc<(Mutex<bool>, Condvar)> = Arc::default();
        let (s, g) = (seen.clone(), gate.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (s, g) = (s.clone(), g.clone());
                std::thread::spawn(move || serve(conn, &s, &g));
            }
        });
        Upstream { addr, seen, gate }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.0.lock().unwrap().clone()
    }

    /// Waits until `n` requests whose target starts with `prefix` arrived.
    fn wait_seen(&self, prefix: &str, n: usize) -> bool {
        let (lock, cv) = &*self.seen;
        let guard = lock.lock().unwrap();
        let (_g, timeout) = cv
            .wait_timeout_while(guard, Duration::from_secs(15), |v| {
                v.iter().filter(|t| t.starts_with(prefix)).count() < n
            })
            .unwrap();
        !timeout.timed_out()
    }

    fn release(&self) {
        *self.gate.0.lock().unwrap() = true;
        self.gate.1.notify_all();
    }
}

fn serve(conn: TcpStream, seen: &(Mutex<Vec<String>>, Condvar), gate: &(Mutex<bool>, Condvar)) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let target = line.split(' ').nth(1).unwrap_or_default().to_string();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
    }
    {
        seen.0.lock().unwrap().push(target.clone());
        seen.1.notify_all();
    }
    if target.starts_with("/hold/") {
        let released = gate.0.lock().unwrap();
        let _open = gate
            .1
            .wait_timeout_while(released, Duration::from_secs(30), |r| !*r)
            .unwrap();
    }
    let mut conn = conn;
    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
}

/// One request from `from`; returns the status and how long it took.
fn ask(from: Ipv4Addr, to: SocketAddr, path: &str, extra: &str) -> (u16, Duration) {
    let started = Instant::now();
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    sock.connect_timeout(&to.into(), Duration::from_secs(5))
        .unwrap();
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: limits.test\r\n{extra}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status from {to} for {path}: {text:?}"));
    (status, started.elapsed())
}

struct Side {
    name: &'static str,
    at: SocketAddr,
}

const A: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const B: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
const C: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);

/// The timing-free sequence: (client, path, extra header) in order.
fn sequence() -> Vec<(Ipv4Addr, &'static str, &'static str)> {
    let mut s = Vec::new();
    for client in [A, B] {
        for _ in 0..3 {
            s.push((client, "/plain/", ""));
        }
    }
    for client in [A, B, C] {
        for _ in 0..5 {
            s.push((client, "/burst/", ""));
        }
    }
    for _ in 0..3 {
        s.push((A, "/status/", ""));
    }
    for _ in 0..4 {
        s.push((A, "/dry/", ""));
    }
    for client in [A, A, A, B, B, C] {
        s.push((client, "/both/", ""));
    }
    for _ in 0..3 {
        s.push((C, "/inherit/", ""));
    }
    for _ in 0..5 {
        s.push((C, "/own/", ""));
    }
    for extra in [
        "",
        "",
        "",
        "X-Key: one\r\n",
        "X-Key: one\r\n",
        "X-Key: two\r\n",
    ] {
        s.push((A, "/keyed/", extra));
    }
    for _ in 0..3 {
        s.push((B, "/answered/", ""));
    }
    // Behind a trusted proxy, each forwarded client has its own state;
    // an untrusted peer's header changes nothing.
    for (client, extra) in [
        (A, "X-Forwarded-For: 198.51.100.1\r\n"),
        (A, "X-Forwarded-For: 198.51.100.1\r\n"),
        (A, "X-Forwarded-For: 198.51.100.2\r\n"),
        (A, "X-Forwarded-For: 198.51.100.2\r\n"),
        (B, "X-Forwarded-For: 198.51.100.3\r\n"),
        (B, "X-Forwarded-For: 198.51.100.4\r\n"),
    ] {
        s.push((client, "/realip/", extra));
    }
    s
}

/// Runs the sequence against one side: the statuses, in order.
fn run_sequence(side: &Side, up: &Upstream) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (client, path, extra)) in sequence().into_iter().enumerate() {
        let target = format!("{path}?id={}-{i}", side.name);
        let (status, _) = ask(client, side.at, &target, extra);
        let reached = up.seen().contains(&target);
        out.push(format!("{client} {path} {extra:?} -> {status}"));
        // What was refused never reached the upstream; what was proxied did.
        let proxied = status == 200;
        assert_eq!(
            reached, proxied,
            "{}: {target} answered {status}, reached upstream: {reached}",
            side.name
        );
    }
    out
}

/// limit_conn: two requests from A held open upstream, a third from A is
/// refused without reaching it, one from B passes; once released, A is
/// served again.
fn run_conn(side: &Side, up: &Upstream) -> Vec<String> {
    let at = side.at;
    let prefix = format!("/hold/?id={}", side.name);
    let held: Vec<_> = (0..2)
        .map(|i| {
            let path = format!("{prefix}-a{i}");
            std::thread::spawn(move || ask(A, at, &path, "").0)
        })
        .collect();
    assert!(
        up.wait_seen(&prefix, 2),
        "{}: held requests never arrived",
        side.name
    );
    let third = format!("{prefix}-a2");
    let (refused, _) = ask(A, at, &third, "");
    let other = {
        let path = format!("{prefix}-b0");
        std::thread::spawn(move || ask(B, at, &path, "").0)
    };
    let other_arrived = up.wait_seen(&prefix, 3);
    up.release();
    let mut out: Vec<String> = held
        .into_iter()
        .map(|h| format!("held -> {}", h.join().unwrap()))
        .collect();
    out.push(format!("third from A -> {refused}"));
    out.push(format!(
        "other client -> {} (arrived while held: {other_arrived})",
        other.join().unwrap()
    ));
    out.push(format!(
        "A after release -> {}",
        ask(A, at, &format!("{prefix}-a3"), "").0
    ));
    assert!(
        !up.seen().contains(&third),
        "{}: the refused request reached the upstream",
        side.name
    );
    *up.gate.0.lock().unwrap() = false;
    out
}

/// `burst=3 delay=1` at 30r/m: the first two go at once, the third waits
/// for its excess above 1 to drain (about two seconds).
fn run_delay(side: &Side) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..3 {
        let (status, took) = ask(A, side.at, &format!("/slow/?id={}-{i}", side.name), "");
        let delayed = took >= Duration::from_millis(1000);
        out.push(format!("{i} -> {status} delayed={delayed}"));
        eprintln!("{}: /slow/ {i} -> {status} in {took:?}", side.name);
    }
    out
}

#[test]
fn limits_match_nginx() {
    let test = "limits_match_nginx";
    let Some(nginx_bin) = env::require_program(test, "nginx") else {
        return;
    };
    let up = Upstream::start();

    let ntmp = tempfile::tempdir().unwrap();
    let nroot = ntmp.path();
    for d in ["nginx", "tmp"] {
        std::fs::create_dir_all(nroot.join(d)).unwrap();
    }
    let nport = free_port();
    let nconf = CONF
        .replace("LISTEN", &format!("127.0.0.1:{nport}"))
        .replace("UP", &up.addr.to_string());
    std::fs::write(
        nroot.join("nginx/nginx.conf"),
        nginx_conf(
            nroot,
            &format!("{} error", nroot.join("error.log").display()),
            &nconf,
        ),
    )
    .unwrap();
    let _nginx = start_nginx(&nginx_bin, nroot, nport);

    let mtmp = temp_config();
    let mroot = mtmp.path();
    std::fs::create_dir_all(mroot.join("nginx/proxy-confs")).unwrap();
    std::fs::write(
        mroot.join("nginx/proxy-confs/limits.subdomain.conf"),
        CONF.replace("LISTEN", "80")
            .replace("UP", &up.addr.to_string()),
    )
    .unwrap();
    let cmd = moat_command(moat_bin(), mroot, &[]);
    let mport = moat_http_port(&cmd);
    let moat = Running::spawn(cmd);
    moat.wait_for(&["proxy listening"], Duration::from_secs(20));
    moat.wait_for(&["configuration reloaded"], Duration::from_secs(20));

    let nginx = Side {
        name: "nginx",
        at: SocketAddr::from(([127, 0, 0, 1], nport)),
    };
    let moat_side = Side {
        name: "moat",
        at: SocketAddr::from(([127, 0, 0, 1], mport)),
    };
    let mut report = Vec::new();
    for (what, n, m) in [
        (
            "sequence",
            run_sequence(&nginx, &up),
            run_sequence(&moat_side, &up),
        ),
        (
            "limit_conn",
            run_conn(&nginx, &up),
            run_conn(&moat_side, &up),
        ),
        ("delay", run_delay(&nginx), run_delay(&moat_side)),
    ] {
        for (i, (a, b)) in n.iter().zip(&m).enumerate() {
            if a != b {
                report.push(format!("{what} #{i}: nginx {a} / moat {b}"));
            }
        }
        assert_eq!(n.len(), m.len());
        eprintln!("{what}:\n  {}", n.join("\n  "));
    }
    assert!(
        report.is_empty(),
        "moat differs from nginx:\n{}\nmoat log:\n{}",
        report.join("\n"),
        moat.log()
    );

    // error.log: every refusal (and dry run) in nginx's words, so SWAG's
    // fail2ban filters and a user's own read moat's lines as nginx's.
    let limiting = |file: &std::path::Path| -> Vec<String> {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| l.contains("limiting "))
            .map(|l| {
                // Drop the time, pid and serial: "... [error] 1#1: *7 limiting ..."
                let level = &l[l.find('[').unwrap_or(0)..];
                let (head, rest) = level.split_once(": *").unwrap_or((level, ""));
                let level = head.split(']').next().unwrap_or("");
                let line = rest.split_once(' ').map_or(rest, |(_, r)| r);
                // Each side's request ids name it (`?id=nginx-4`, `?id=moat-4`).
                let line = line
                    .replace("?id=nginx-", "?id=")
                    .replace("?id=moat-", "?id=");
                format!("{level}] {line}")
            })
            .collect();
        lines.sort();
        lines
    };
    let nlines = limiting(&nroot.join("error.log"));
    assert!(
        nlines.iter().any(|l| l.contains("dry run"))
            && nlines.iter().any(|l| l.contains("limiting connections")),
        "nginx logged no dry run or limit_conn line: {nlines:#?}"
    );
    let merr = mroot.join("log/nginx/error.log");
    foundation::wait_until(Duration::from_secs(20), || {
        limiting(&merr).len() >= nlines.len()
    });
    let mlines = limiting(&merr);
    assert_eq!(
        nlines, mlines,
        "error.log's limit lines differ (left nginx, right moat)"
    );
    eprintln!("error.log limit lines alike: {}", nlines.len());

    // A reload that keeps a zone's name, size and rate keeps its state (as
    // nginx keeps a shared zone); one that changes its size starts afresh.
    let conf_file = mroot.join("nginx/proxy-confs/limits.subdomain.conf");
    let mconf = std::fs::read_to_string(&conf_file).unwrap();
    let reloads = moat.count_lines(&["configuration reloaded"]);
    std::fs::write(&conf_file, format!("{mconf}\n# edited\n")).unwrap();
    moat.wait_for_lines(
        &["configuration reloaded"],
        reloads + 1,
        Duration::from_secs(20),
    );
    let (kept, _) = ask(A, moat_side.at, "/plain/?id=reload-kept", "");
    assert_eq!(kept, 503, "an unchanged zone lost its state on reload");
    std::fs::write(&conf_file, mconf.replace("zone=plain:1m", "zone=plain:2m")).unwrap();
    moat.wait_for_lines(
        &["configuration reloaded"],
        reloads + 2,
        Duration::from_secs(20),
    );
    let (fresh, _) = ask(A, moat_side.at, "/plain/?id=reload-fresh", "");
    assert_eq!(fresh, 200, "a resized zone kept its old state");
}
