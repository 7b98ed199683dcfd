//! `auth_request` over real sockets through the moat binary: the auth
//! server is asked first over pooled keep-alive connections, with a `GET`
//! and never the body; only its 2xx lets a request reach the app, with the
//! identity it returned; a slow or absent auth server is a 500 and the app
//! never sees the request. The recording servers below say what reached
//! them. (`tests/auth_nginx.rs` compares SWAG's own snippets with nginx.)

#[path = "support/env.rs"]
mod env;
#[path = "support/foundation.rs"]
mod foundation;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use foundation::{moat_bin, moat_command, stop_gracefully, temp_config, Running};

/// One request as a recording server received it.
#[derive(Debug, Clone)]
struct Seen {
    /// Which accepted connection carried it (0, 1, ...).
    conn: usize,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Handler = dyn Fn(&Seen) -> (u16, Vec<(&'static str, String)>) + Send + Sync;

/// An HTTP/1.1 server with keep-alive that records every request.
struct Recorder {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    fn start(handler: Arc<Handler>) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let conns = Arc::new(AtomicUsize::new(0));
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let conn = conns.fetch_add(1, Ordering::SeqCst);
                let (record, handler) = (record.clone(), handler.clone());
                std::thread::spawn(move || serve(stream, conn, &record, &*handler));
            }
        });
        Recorder { port, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, conn: usize, record: &Mutex<Vec<Seen>>, handler: &Handler) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or_default().to_string(),
            parts.next().unwrap_or_default().to_string(),
        );
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_string(), v.trim().to_string()));
            }
        }
        let mut seen = Seen {
            conn,
            method,
            target,
            headers,
            body: Vec::new(),
        };
        let len: usize = seen
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        seen.body = vec![0; len];
        if reader.read_exact(&mut seen.body).is_err() {
            return;
        }
        record.lock().unwrap().push(seen.clone());
        let (status, extra) = handler(&seen);
        let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\n");
        for (n, v) in extra {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\nok");
        if writer.write_all(head.as_bytes()).is_err() {
            return;
        }
    }
}

/// Lets the auth server's slow path go once the test has its answer.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    cond: Condvar,
}

impl Gate {
    fn wait(&self) {
        let open = self.open.lock().unwrap();
        let _ = self
            .cond
            .wait_timeout_while(open, Duration::from_secs(30), |o| !*o);
    }
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cond.notify_all();
    }
}

/// What curl got: status, `Location`, body.
fn curl(curl: &std::path::Path, https: u16, args: &[&str], path: &str) -> (u16, String, String) {
    let out = std::process::Command::new(curl)
        .args(["-sk", "--max-time", "20", "-o", "-", "-D", "/dev/stderr"])
        .args(["--resolve", &format!("app.example.test:{https}:127.0.0.1")])
        .args(args)
        .arg(format!("https://app.example.test:{https}{path}"))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stderr).into_owned();
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let location = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("location:")
                .then(|| l[9..].trim().to_string())
        })
        .unwrap_or_default();
    (
        status,
        location,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn auth_request_asks_first_pools_connections_and_fails_closed() {
    let Some(curl_bin) = env::require_program(
        "auth_request_asks_first_pools_connections_and_fails_closed",
        "curl",
    ) else {
        return;
    };
    let gate = Arc::new(Gate::default());
    let slow = gate.clone();
    let auth = Recorder::start(Arc::new(move |req: &Seen| {
        if req
            .header("x-original-url")
            .is_some_and(|u| u.contains("/slow"))
        {
            slow.wait();
        }
        if req
            .header("cookie")
            .is_some_and(|c| c.contains("session=good"))
        {
            (200, vec![("Remote-User", "alice".to_string())])
        } else {
            (401, vec![])
        }
    }));
    let app = Recorder::start(Arc::new(|_: &Seen| (200, vec![])));
    // A port nothing listens on: the auth server is down.
    let down = foundation::free_port();
    let tmp = temp_config();
    let https = foundation::free_port();
    let conf = format!(
        r#"server {{
    listen 443 ssl;
    server_name app.*;
    include /config/nginx/ssl.conf;
    location = /auth {{
        internal;
        proxy_pass http://127.0.0.1:{auth}/verify;
        proxy_http_version 1.1;
        proxy_read_timeout 1s;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
        proxy_set_header X-Original-Method $request_method;
    }}
    location = /auth-down {{
        internal;
        proxy_pass http://127.0.0.1:{down};
    }}
    location / {{
        auth_request /auth;
        auth_request_set $user $upstream_http_remote_user;
        proxy_set_header Remote-User $user;
        error_page 401 = @signin;
        proxy_pass http://127.0.0.1:{app};
    }}
    location /down/ {{
        auth_request /auth-down;
        proxy_pass http://127.0.0.1:{app};
    }}
    location @signin {{
        return 302 https://login.example.test/?rd=$scheme://$http_host$request_uri;
    }}
}}
"#,
        auth = auth.port,
        app = app.port,
    );
    let confs = tmp.path().join("nginx/proxy-confs");
    std::fs::create_dir_all(&confs).unwrap();
    std::fs::write(confs.join("app.subdomain.conf"), conf).unwrap();
    let mut moat = Running::spawn(moat_command(
        moat_bin(),
        tmp.path(),
        &[("HTTPS_PORT", &https.to_string())],
    ));
    moat.wait_for(&["proxy listening", "tls=true"], Duration::from_secs(20));
    let get = |args: &[&str], path: &str| curl(&curl_bin, https, args, path);

    // No session: the sign-in redirect; the app never sees it.
    let (status, location, _) = get(&[], "/private?x=1");
    assert_eq!(status, 302);
    assert_eq!(
        location,
        format!("https://login.example.test/?rd=https://app.example.test:{https}/private?x=1")
    );
    assert_eq!(auth.seen().len(), 1);
    assert!(app.seen().is_empty(), "{:?}", app.seen());

    // A session, a spoofed identity and a body: the auth server gets a GET
    // without the body, the app the body and the auth server's identity.
    let (status, _, body) = get(
        &[
            "-b",
            "session=good",
            "-H",
            "Remote-User: mallory",
            "--data-binary",
            "hello",
        ],
        "/private",
    );
    assert_eq!((status, body.as_str()), (200, "ok"));
    let asked = auth.seen().last().cloned().unwrap();
    assert_eq!(asked.method, "GET");
    assert_eq!(asked.target, "/verify");
    assert!(asked.body.is_empty());
    assert_eq!(asked.header("content-length"), None);
    assert_eq!(asked.header("x-original-method"), Some("POST"));
    assert_eq!(
        asked.header("x-original-url"),
        Some(format!("https://app.example.test:{https}/private").as_str())
    );
    let reached = app.seen();
    assert_eq!(reached.len(), 1);
    assert_eq!(reached[0].method, "POST");
    assert_eq!(reached[0].body, b"hello");
    assert_eq!(reached[0].header("remote-user"), Some("alice"));

    // HTTP/2 clients go through the same steps.
    let (status, _, _) = get(&["--http2", "-b", "session=good"], "/h2");
    assert_eq!(status, 200);
    assert_eq!(app.seen().last().unwrap().target, "/h2");

    // Keep-alive: further requests reuse the pooled auth connection.
    let before = auth.seen().len();
    for i in 0..5 {
        let (status, _, _) = get(&["-b", "session=good"], &format!("/again/{i}"));
        assert_eq!(status, 200);
    }
    let seen = auth.seen();
    let conns: std::collections::BTreeSet<usize> = seen[before..].iter().map(|s| s.conn).collect();
    assert_eq!(seen.len() - before, 5);
    assert!(
        conns.len() < 5,
        "every subrequest opened a connection: {conns:?}"
    );

    // The internal auth location is not reachable from outside.
    let asked = auth.seen().len();
    let (status, _, _) = get(&["-b", "session=good"], "/auth");
    assert_eq!(status, 404);
    assert_eq!(auth.seen().len(), asked);

    // An auth server that does not answer within proxy_read_timeout, and
    // one that is down: 500, and the app sees neither request.
    let reached = app.seen().len();
    let started = Instant::now();
    let (status, _, _) = get(&["-b", "session=good"], "/slow");
    assert_eq!(status, 500);
    assert!(started.elapsed() < Duration::from_secs(15));
    gate.open();
    let (status, _, _) = get(&["-b", "session=good"], "/down/x");
    assert_eq!(status, 500);
    assert_eq!(app.seen().len(), reached, "{:?}", app.seen());
    assert!(
        moat.log().contains("auth subrequest failed"),
        "{}",
        moat.log()
    );
    stop_gracefully(&mut moat);
}
