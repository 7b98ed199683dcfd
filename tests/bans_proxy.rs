//! SWAG's fail2ban jails running inside the moat binary, over real loopback
//! sockets: SWAG's own jail.local and filter.d (copied from the corpus, as
//! an existing SWAG volume holds them) with a jail.d override, clients
//! bound to different 127.0.0.x addresses, a trusted hop sending
//! X-Forwarded-For, and PROXY protocol v1/v2 clients. A recording upstream
//! shows that nothing from a banned client reached the app.
//!
//! - a banned peer's new connections are closed before TLS (and on the
//!   plain port before any answer); a request on a connection it opened
//!   before the ban gets 403; another address is served;
//! - a banned realip client behind a trusted hop (X-Forwarded-For, PROXY
//!   protocol) gets 403 while the hop and other clients are served; an
//!   `ignoreip` address is never banned;
//! - bans expire (`bantime`), survive a restart (the state file), and
//!   `moat bans` lists, bans and unbans through the running instance;
//!   `/metrics` counts them;
//! - a jail moat cannot run is reported once at start; `DISABLE_F2B=true`
//!   turns the jails off.

#[path = "support/conf.rs"]
mod conf;
#[path = "support/foundation.rs"]
mod foundation;
#[path = "support/recorder.rs"]
mod recorder;
#[path = "support/proxy.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use foundation::{
    command_env, free_port, moat_bin, moat_command, stop_gracefully, temp_config, wait_until,
    Running,
};
use recorder::Recorder;

/// How long a ban may take to show (the filters run on their own thread).
const BAN_WAIT: Duration = Duration::from_secs(10);

/// The jail.d override: a short ban for the 401 jail (expiry is tested),
/// three tries; a jail that reads a log moat does not write.
const OVERRIDE: &str = "[nginx-unauthorized]\nmaxretry = 3\nbantime = 6\n\n[sshd-like]\nenabled = true\nfilter = sshd\nlogpath = /var/log/auth.log\n";

/// `UPSTREAM`, `PP` (the PROXY protocol port).
const CONF: &str = r#"
server {
    listen 443 ssl;
    server_name bans.test;
    include /config/nginx/ssl.conf;
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    location / {
        proxy_pass http://UPSTREAM;
    }
    location /private {
        return 401;
    }
    location /denied {
        deny all;
    }
    location /basic {
        auth_basic "Restricted";
        auth_basic_user_file /config/nginx/.htpasswd;
        proxy_pass http://UPSTREAM;
    }
    location ~ \.php$ {
        return 404;
    }
}
server {
    listen PP proxy_protocol;
    server_name bans.test;
    set_real_ip_from 127.0.0.1;
    real_ip_header proxy_protocol;
    location / {
        proxy_pass http://UPSTREAM;
    }
    location /private {
        return 401;
    }
}
"#;

struct Instance {
    moat: Running,
    http: u16,
    https: u16,
    pp: u16,
    metrics: String,
}

fn write_volume(root: &Path, upstream: SocketAddr, pp: u16) {
    let corpus = conf::corpus_dir().join("swag-defaults/fail2ban");
    let f2b = root.join("fail2ban");
    std::fs::create_dir_all(f2b.join("filter.d")).unwrap();
    std::fs::create_dir_all(f2b.join("jail.d")).unwrap();
    std::fs::copy(corpus.join("jail.local"), f2b.join("jail.local")).unwrap();
    for entry in std::fs::read_dir(corpus.join("filter.d")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), f2b.join("filter.d").join(entry.file_name())).unwrap();
    }
    std::fs::write(f2b.join("jail.d/test.local"), OVERRIDE).unwrap();
    std::fs::create_dir_all(root.join("nginx/proxy-confs")).unwrap();
    // alice:secret
    std::fs::write(
        root.join("nginx/.htpasswd"),
        "alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n",
    )
    .unwrap();
    std::fs::write(
        root.join("nginx/proxy-confs/bans.subdomain.conf"),
        CONF.replace("UPSTREAM", &upstream.to_string())
            .replace("PP", &pp.to_string()),
    )
    .unwrap();
}

fn start(root: &Path, pp: u16, envs: &[(&str, &str)]) -> Instance {
    let mut all = vec![("DISABLE_F2B", "false")];
    all.extend_from_slice(envs);
    let cmd = moat_command(moat_bin(), root, &all);
    let env = |name: &str| command_env(&cmd, name);
    let (http, https, metrics) = (
        env("HTTP_PORT").parse().unwrap(),
        env("HTTPS_PORT").parse().unwrap(),
        env("METRICS_ADDR"),
    );
    let moat = Running::spawn(cmd);
    moat.wait_for(&["metrics endpoint listening"], Duration::from_secs(20));
    moat.wait_for_lines(&["proxy listening"], 4, Duration::from_secs(20));
    Instance {
        moat,
        http,
        https,
        pp,
        metrics,
    }
}

fn connect(from: Ipv4Addr, port: u16) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    sock.connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)).into(),
        Duration::from_secs(5),
    )
    .unwrap();
    let tcp: TcpStream = sock.into();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp
}

/// One keep-alive TLS connection from one client address.
struct Client(rustls::StreamOwned<rustls::ClientConnection, TcpStream>);

impl Client {
    /// `None` when the connection is closed before the handshake completes.
    fn open(from: Ipv4Addr, port: u16) -> Option<Client> {
        let tcp = connect(from, port);
        let name = rustls_pki_types::ServerName::try_from("bans.test").unwrap();
        let conn = rustls::ClientConnection::new(support::raw_tls_config(), name).unwrap();
        let mut s = rustls::StreamOwned::new(conn, tcp);
        while s.conn.is_handshaking() {
            if s.conn.complete_io(&mut s.sock).is_err() {
                return None;
            }
        }
        Some(Client(s))
    }

    /// The status of `GET path` (with `extra` header lines); `None` when
    /// the connection closed without an answer.
    fn get(&mut self, path: &str, extra: &str) -> Option<u16> {
        let req = format!("GET {path} HTTP/1.1\r\nHost: bans.test\r\n{extra}\r\n");
        self.0.write_all(req.as_bytes()).ok()?;
        self.0.flush().ok()?;
        read_response(&mut self.0)
    }
}

/// Reads one response (its head and a Content-Length body); its status.
fn read_response(s: &mut impl Read) -> Option<u16> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let status = head.get(9..12)?.parse().ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    Some(status)
}

/// One request on a new TLS connection; `None`: closed before an answer.
fn once(from: Ipv4Addr, port: u16, path: &str, extra: &str) -> Option<u16> {
    Client::open(from, port)?.get(path, extra)
}

/// One request on a new plain connection to the port-80 listener.
fn plain(from: Ipv4Addr, port: u16) -> Option<u16> {
    let mut tcp = connect(from, port);
    let _ = tcp.write_all(b"GET / HTTP/1.1\r\nHost: bans.test\r\nConnection: close\r\n\r\n");
    read_response(&mut tcp)
}

/// A request behind a PROXY protocol header (v1 or v2) naming `src`.
fn via_proxy_protocol(port: u16, v2: bool, src: Ipv4Addr, path: &str) -> Option<u16> {
    let mut tcp = connect(Ipv4Addr::LOCALHOST, port);
    let header = if v2 {
        let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
        h.extend_from_slice(&[0x21, 0x11, 0x00, 12]);
        h.extend_from_slice(&src.octets());
        h.extend_from_slice(&[203, 0, 113, 1]);
        h.extend_from_slice(&40000u16.to_be_bytes());
        h.extend_from_slice(&80u16.to_be_bytes());
        h
    } else {
        format!("PROXY TCP4 {src} 203.0.113.1 40000 80\r\n").into_bytes()
    };
    tcp.write_all(&header).ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: bans.test\r\nConnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes()).ok()?;
    read_response(&mut tcp)
}

fn ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, n)
}

fn xff(addr: &str) -> String {
    format!("X-Forwarded-For: {addr}\r\n")
}

fn moat_bans(metrics: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(moat_bin())
        .env_clear()
        .env("METRICS_ADDR", metrics)
        .arg("bans")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// The whole answer (head and body) to `GET path` on the metrics endpoint.
fn metrics_get(metrics: &str, path: &str) -> String {
    let mut tcp = TcpStream::connect(metrics).unwrap();
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn swag_jails_ban_peers_and_realip_clients_and_nothing_reaches_the_app() {
    let up = Recorder::start();
    let tmp = temp_config();
    let root = tmp.path();
    let pp = free_port();
    write_volume(root, up.addr, pp);
    let i = start(root, pp, &[]);
    let log = i.moat.log();
    let running = log
        .lines()
        .find(|l| l.contains("fail2ban: jails running in moat"))
        .unwrap_or_else(|| panic!("no jails line:\n{log}"));
    for jail in [
        "nginx-http-auth",
        "nginx-badbots",
        "nginx-botsearch",
        "nginx-deny",
        "nginx-unauthorized",
    ] {
        assert!(running.contains(jail), "{jail} does not run: {running}");
    }
    assert!(!running.contains("sshd-like"), "{running}");
    assert_eq!(
        i.moat.count_lines(&["jail not run", "sshd-like"]),
        1,
        "the jail moat cannot run is reported once:\n{log}"
    );

    // A peer: a connection opened before the ban, three 401s on it.
    let (banned, other) = (ip(20), ip(21));
    let mut early = Client::open(banned, i.https).expect("served before the ban");
    for _ in 0..3 {
        assert_eq!(early.get("/private", ""), Some(401));
    }
    assert!(
        wait_until(BAN_WAIT, || once(banned, i.https, "/", "").is_none()),
        "127.0.0.20 was never banned:\n{}",
        i.moat.log()
    );
    assert_eq!(plain(banned, i.http), None, "closed on the plain port too");
    assert_eq!(
        early.get("/after-ban", ""),
        Some(403),
        "the connection opened before the ban"
    );
    assert_eq!(once(other, i.https, "/other", ""), Some(200));
    assert_eq!(plain(other, i.http), Some(301));

    // Behind the trusted hop (127.0.0.1, never banned itself).
    let hop = Ipv4Addr::LOCALHOST;
    let lan = "10.1.2.3";
    for _ in 0..6 {
        assert_eq!(once(hop, i.https, "/private", &xff(lan)), Some(401));
    }
    for _ in 0..3 {
        assert_eq!(
            once(hop, i.https, "/private", &xff("203.0.113.9")),
            Some(401)
        );
    }
    // Polls until the ban is in force (a poll before it may reach the
    // app); the request after it must not.
    assert!(
        wait_until(BAN_WAIT, || {
            once(hop, i.https, "/xff-poll", &xff("203.0.113.9")) == Some(403)
        }),
        "203.0.113.9 behind the hop was never banned:\n{}",
        i.moat.log()
    );
    assert_eq!(
        once(hop, i.https, "/xff-banned", &xff("203.0.113.9")),
        Some(403)
    );
    // The 10.1.2.3 lines came first on the same filter thread: they were
    // looked at, and ignoreip (SWAG's LAN ranges) kept it unbanned.
    assert_eq!(once(hop, i.https, "/lan", &xff(lan)), Some(200));
    assert_eq!(
        once(hop, i.https, "/xff-other", &xff("203.0.113.10")),
        Some(200)
    );
    assert_eq!(once(hop, i.https, "/hop", ""), Some(200));

    // PROXY protocol: banned by v2 lines, refused under v1 as well.
    let pp_client = Ipv4Addr::new(198, 51, 100, 7);
    for _ in 0..3 {
        assert_eq!(
            via_proxy_protocol(i.pp, true, pp_client, "/private"),
            Some(401)
        );
    }
    assert!(
        wait_until(BAN_WAIT, || {
            via_proxy_protocol(i.pp, true, pp_client, "/pp-poll") == Some(403)
        }),
        "198.51.100.7 behind PROXY protocol was never banned:\n{}",
        i.moat.log()
    );
    assert_eq!(
        via_proxy_protocol(i.pp, false, pp_client, "/pp-banned"),
        Some(403),
        "refused under v1 too"
    );
    assert_eq!(
        via_proxy_protocol(i.pp, true, Ipv4Addr::new(198, 51, 100, 8), "/pp-other"),
        Some(200)
    );

    for path in ["/after-ban", "/xff-banned", "/pp-banned"] {
        assert!(!up.saw(path), "{path} reached the app");
    }
    for path in ["/other", "/lan", "/xff-other", "/hop", "/pp-other"] {
        assert!(up.saw(path), "{path} did not reach the app");
    }

    // bantime = 6 for this jail: the peer is served again.
    assert!(
        wait_until(Duration::from_secs(20), || once(
            banned, i.https, "/expired", ""
        ) == Some(200)),
        "the ban never expired"
    );
    let metrics = metrics_get(&i.metrics, "/metrics");
    assert!(
        metrics.contains("moat_bans_issued_total{jail=\"nginx-unauthorized\"} 3"),
        "{metrics}"
    );
    assert!(metrics.contains("moat_bans_refused_total "), "{metrics}");
}

#[test]
fn bans_survive_a_restart_and_moat_bans_changes_them() {
    let up = Recorder::start();
    let tmp = temp_config();
    let root = tmp.path();
    let pp = free_port();
    write_volume(root, up.addr, pp);
    let mut i = start(root, pp, &[]);
    // nginx-deny: SWAG's filter over error.log's "access forbidden by
    // rule", maxretry 5 from [DEFAULT], bantime 600.
    let denied = ip(22);
    for _ in 0..5 {
        assert_eq!(once(denied, i.https, "/denied", ""), Some(403));
    }
    assert!(
        wait_until(BAN_WAIT, || once(denied, i.https, "/", "").is_none()),
        "never banned by nginx-deny:\n{}",
        i.moat.log()
    );
    stop_gracefully(&mut i.moat);

    let mut i = start(root, pp, &[]);
    assert_eq!(
        once(denied, i.https, "/", ""),
        None,
        "banned after a restart"
    );
    assert_eq!(once(ip(23), i.https, "/", ""), Some(200));
    let (code, listed) = moat_bans(&i.metrics, &[]);
    assert_eq!(code, 0, "{listed}");
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("127.0.0.22 ") && l.contains("nginx-deny")),
        "{listed}"
    );

    let (code, out) = moat_bans(&i.metrics, &["unban", "127.0.0.22"]);
    assert_eq!(
        (code, out.trim()),
        (0, "unbanned 127.0.0.22 (1 ban(s) lifted)")
    );
    assert_eq!(once(denied, i.https, "/unbanned", ""), Some(200));
    assert!(up.saw("/unbanned"));

    let (code, out) = moat_bans(&i.metrics, &["ban", "127.0.0.24", "--seconds", "600"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("banned 127.0.0.24 (manual) until 20"),
        "{out}"
    );
    assert_eq!(once(ip(24), i.https, "/", ""), None);
    let (_, listed) = moat_bans(&i.metrics, &["list"]);
    assert!(
        listed.contains("127.0.0.24") && listed.contains("manual"),
        "{listed}"
    );
    assert!(!listed.contains("127.0.0.22"), "{listed}");
    let (code, out) = moat_bans(&i.metrics, &["ban", "not-an-address"]);
    assert_ne!(code, 0, "{out}");
    let metrics = metrics_get(&i.metrics, "/metrics");
    assert!(
        metrics.contains("moat_bans_active{jail=\"manual\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("moat_bans_active{jail=\"nginx-deny\"} 0"),
        "{metrics}"
    );
    stop_gracefully(&mut i.moat);
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("fail2ban/moat-bans.json")).unwrap())
            .unwrap();
    let saved_bans: Vec<&str> = saved["bans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["addr"].as_str().unwrap())
        .collect();
    assert_eq!(saved_bans, ["127.0.0.24"], "{saved}");
}

#[test]
fn disable_f2b_turns_the_jails_off() {
    let up = Recorder::start();
    let tmp = temp_config();
    let root = tmp.path();
    let pp = free_port();
    write_volume(root, up.addr, pp);
    let i = start(root, pp, &[("DISABLE_F2B", "true")]);
    assert!(i.moat.log().contains("fail2ban: off (DISABLE_F2B=true)"));
    let client = ip(25);
    for _ in 0..6 {
        assert_eq!(once(client, i.https, "/private", ""), Some(401));
    }
    assert_eq!(once(client, i.https, "/still-served", ""), Some(200));
    assert!(up.saw("/still-served"));
    let (code, out) = moat_bans(&i.metrics, &[]);
    assert_ne!(code, 0);
    assert!(out.contains("DISABLE_F2B"), "{out}");
}

/// A jail.local moat cannot read leaves the sites served without bans (as
/// SWAG's nginx goes on when its fail2ban cannot start), and says so where
/// a monitor looks: `/health` is degraded (still 200) and names the file.
#[test]
fn a_broken_jail_file_serves_without_bans_and_health_says_degraded() {
    let up = Recorder::start();
    let tmp = temp_config();
    let root = tmp.path();
    let pp = free_port();
    write_volume(root, up.addr, pp);
    std::fs::write(
        root.join("fail2ban/jail.local"),
        "maxretry = 3\n[nginx-http-auth]\nenabled = true\n",
    )
    .unwrap();
    let i = start(root, pp, &[]);
    assert!(
        i.moat.log().contains("fail2ban: the jails cannot be read"),
        "{}",
        i.moat.log()
    );
    let answer = metrics_get(&i.metrics, "/health");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("degraded: fail2ban: the jails cannot be read")
            && answer.contains("jail.local:1"),
        "{answer}"
    );
    let client = ip(26);
    for _ in 0..6 {
        assert_eq!(once(client, i.https, "/private", ""), Some(401));
    }
    assert_eq!(once(client, i.https, "/still-served", ""), Some(200));
    assert!(up.saw("/still-served"));
}

#[test]
fn auth_failures_bad_bots_and_bot_searches_are_banned_by_their_jails() {
    use base64::Engine;
    let up = Recorder::start();
    let tmp = temp_config();
    let root = tmp.path();
    let pp = free_port();
    write_volume(root, up.addr, pp);
    // Read after test.local: this jail's 401s would ban first otherwise.
    std::fs::write(
        root.join("fail2ban/jail.d/zz.local"),
        "[nginx-unauthorized]\nenabled = false\n",
    )
    .unwrap();
    let i = start(root, pp, &[]);
    let auth = |user_pass: &str| {
        format!(
            "Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    };
    assert_eq!(
        once(ip(33), i.https, "/basic", &auth("alice:secret")),
        Some(200)
    );
    // nginx-http-auth (error.log, maxretry 5): a wrong password and an
    // unknown user.
    let (guesser, bot, searcher) = (ip(30), ip(31), ip(32));
    for n in 0..5 {
        let who = if n % 2 == 0 {
            "alice:wrong"
        } else {
            "mallory:x"
        };
        assert_eq!(once(guesser, i.https, "/basic", &auth(who)), Some(401));
    }
    // nginx-badbots (access.log, maxretry 2): a User-Agent from its list.
    for _ in 0..2 {
        assert_eq!(
            once(bot, i.https, "/crawl", "User-Agent: EmailCollector\r\n"),
            Some(200)
        );
    }
    // nginx-botsearch (access.log, maxretry 5): 404s on WordPress paths.
    for _ in 0..5 {
        assert_eq!(once(searcher, i.https, "/wp-login.php", ""), Some(404));
    }
    for (who, jail) in [
        (guesser, "nginx-http-auth"),
        (bot, "nginx-badbots"),
        (searcher, "nginx-botsearch"),
    ] {
        assert!(
            wait_until(BAN_WAIT, || once(who, i.https, "/", "").is_none()),
            "{who} was never banned by {jail}:\n{}",
            i.moat.log()
        );
        let (_, listed) = moat_bans(&i.metrics, &[]);
        assert!(
            listed
                .lines()
                .any(|l| l.starts_with(&format!("{who} ")) && l.contains(jail)),
            "{who} {jail}: {listed}"
        );
    }
    assert_eq!(
        once(ip(33), i.https, "/basic", &auth("alice:secret")),
        Some(200)
    );
}
