//! error.log as nginx writes it, so fail2ban keeps working on a SWAG
//! volume: the same server blocks run in Debian's nginx and in the moat
//! binary, clients from two loopback addresses fail basic auth in each way
//! and hit `deny` rules, and the two error logs must hold the same lines
//! (timestamps, PIDs and serials aside). Debian's fail2ban is then the
//! oracle for the format: `fail2ban-regex` with its stock `nginx-http-auth`
//! filter and SWAG's `nginx-deny` filter must match every such line of
//! moat's error.log, and SWAG's `nginx-unauthorized` filter every 401 in
//! its access.log.

#[path = "support/echo.rs"]
mod echo;
#[path = "support/env.rs"]
mod env;
#[path = "support/foundation.rs"]
mod foundation;
#[path = "support/nginx_wire.rs"]
mod nginx_wire;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use foundation::{free_port, moat_bin, moat_command, temp_config, Running};
use nginx_wire::{ask, moat_http_port, nginx_conf, start_nginx};

/// `LISTEN`, `USERS` and `ECHO` are filled in per side.
const SERVERS: &str = r#"
server {
    listen LISTEN;
    server_name logs.test;
    location /basic {
        auth_basic "Restricted";
        auth_basic_user_file USERS;
        proxy_pass http://ECHO;
    }
    location /denied {
        deny 127.0.0.5;
        allow all;
        proxy_pass http://ECHO;
    }
    location /any {
        satisfy any;
        deny all;
        auth_basic "Restricted";
        auth_basic_user_file USERS;
        proxy_pass http://ECHO;
    }
}
"#;

/// Client address, path, extra request headers.
type Probe<'a> = (Ipv4Addr, &'a str, Vec<(&'a str, &'a str)>);

/// alice:secret.
const HTPASSWD: &str = "alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n";

fn basic(user_pass: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    )
}

/// The lines of an nginx error log from `*N ` on, request events only.
fn events(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(": *").map(|(_, rest)| rest))
        .map(|rest| rest.split_once(' ').map_or("", |(_, m)| m).to_string())
        .collect()
}

/// `fail2ban-regex`'s matched count for `log` against `filter`.
fn fail2ban_matches(bin: &Path, log: &Path, filter: &Path) -> usize {
    let out = std::process::Command::new(bin)
        .arg(log)
        .arg(filter)
        .output()
        .expect("fail2ban-regex");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            let rest = l.strip_prefix("Lines: ")?;
            let (_, matched) = rest.split_once(" ignored, ")?;
            matched.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("fail2ban-regex said:\n{text}"))
}

#[test]
fn error_log_matches_nginx_and_fail2ban_reads_it() {
    let test = "error_log_matches_nginx_and_fail2ban_reads_it";
    let Some(nginx_bin) = env::require_program(test, "nginx") else {
        return;
    };
    let Some(regex_bin) = env::require_program(test, "fail2ban-regex") else {
        return;
    };
    let upstream = echo::Echo::start(&["--listen", "127.0.0.1:0"], &[]);
    let echo_addr = upstream.addr();
    let fill = |listen: &str, users: &Path| {
        SERVERS
            .replace("LISTEN", listen)
            .replace("USERS", &users.display().to_string())
            .replace("ECHO", &echo_addr.to_string())
    };

    let ntmp = tempfile::tempdir().unwrap();
    let nroot = ntmp.path();
    for d in ["nginx", "log", "tmp"] {
        std::fs::create_dir_all(nroot.join(d)).unwrap();
    }
    let nport = free_port();
    std::fs::write(nroot.join("nginx/.htpasswd"), HTPASSWD).unwrap();
    let nerror = nroot.join("log/error.log");
    std::fs::write(
        nroot.join("nginx/nginx.conf"),
        nginx_conf(
            nroot,
            &format!("{} error", nerror.display()),
            &fill(
                &format!("127.0.0.1:{nport}"),
                &nroot.join("nginx/.htpasswd"),
            ),
        ),
    )
    .unwrap();
    let _nginx = start_nginx(&nginx_bin, nroot, nport);

    let mtmp = temp_config();
    let mroot = mtmp.path();
    std::fs::create_dir_all(mroot.join("nginx/proxy-confs")).unwrap();
    std::fs::write(mroot.join("nginx/.htpasswd"), HTPASSWD).unwrap();
    std::fs::write(
        mroot.join("nginx/proxy-confs/logs.subdomain.conf"),
        fill("80", Path::new("/config/nginx/.htpasswd")),
    )
    .unwrap();
    let cmd = moat_command(moat_bin(), mroot, &[]);
    let mport = moat_http_port(&cmd);
    let moat = Running::spawn(cmd);
    moat.wait_for(&["proxy listening"], Duration::from_secs(20));
    moat.wait_for(&["configuration reloaded"], Duration::from_secs(20));

    let a = Ipv4Addr::new(127, 0, 0, 5);
    let b = Ipv4Addr::new(127, 0, 0, 6);
    let good = basic("alice:secret");
    let wrong = basic("alice:nope");
    let nobody = basic("bob:x");
    let quoted = basic("ev\"il\":pw");
    let auth = "Authorization";
    #[rustfmt::skip]
    let probes: Vec<Probe> = vec![
        (a, "/basic", vec![]),
        (a, "/basic", vec![(auth, &wrong)]),
        (a, "/basic", vec![(auth, &nobody)]),
        (b, "/basic", vec![(auth, &good)]),
        (b, "/basic", vec![(auth, &wrong)]),
        (a, "/denied", vec![]),
        (b, "/denied", vec![]),
        (a, "/any", vec![(auth, &wrong)]),
        (b, "/any", vec![(auth, &good)]),
    ];
    let nginx_at = SocketAddr::from(([127, 0, 0, 1], nport));
    let moat_at = SocketAddr::from(([127, 0, 0, 1], mport));
    for (from, path, headers) in &probes {
        let (ns, _) = ask(*from, nginx_at, "logs.test", path, headers);
        let (ms, _) = ask(*from, moat_at, "logs.test", path, headers);
        assert_eq!(ns, ms, "{from} {path} {headers:?}");
    }
    // A user name with a quote, which would end the quoted name early in
    // fail2ban's pattern: nginx writes it raw, moat escapes it. (A name
    // cannot hold the `:` a forged `client:` field needs.)
    let (ms, _) = ask(a, moat_at, "logs.test", "/basic", &[(auth, &quoted)]);
    assert_eq!(ms, 401);

    // Both name the user file as their conf does; the trees differ.
    let nginx_events: Vec<String> = events(&nerror)
        .into_iter()
        .map(|e| e.replace(&nroot.display().to_string(), "/config"))
        .collect();
    let merror = mroot.join("log/nginx/error.log");
    let expected = nginx_events.len() + 1;
    assert!(
        foundation::wait_until(Duration::from_secs(10), || events(&merror).len()
            >= expected),
        "moat's error.log:\n{}",
        std::fs::read_to_string(&merror).unwrap_or_default()
    );
    let moat_events = events(&merror);
    assert_eq!(
        moat_events[..nginx_events.len()],
        nginx_events[..],
        "moat:\n{moat_events:#?}\nnginx:\n{nginx_events:#?}"
    );
    assert!(
        moat_events[nginx_events.len()].starts_with("user \"ev\\x22il\\x22\" was not found"),
        "{moat_events:#?}"
    );
    // The probes produce each kind of line.
    for kind in [
        "password mismatch",
        "was not found in",
        "access forbidden by rule",
    ] {
        assert!(
            nginx_events.iter().any(|e| e.contains(kind)),
            "{kind}: {nginx_events:#?}"
        );
    }

    // fail2ban reads moat's files as it reads nginx's.
    let swag_filters =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/swag-defaults/fail2ban/filter.d");
    let auth_lines = moat_events
        .iter()
        .filter(|e| e.contains("password mismatch") || e.contains("was not found"))
        .count();
    assert_eq!(
        fail2ban_matches(
            &regex_bin,
            &merror,
            Path::new("/etc/fail2ban/filter.d/nginx-http-auth.conf")
        ),
        auth_lines
    );
    let denials = moat_events
        .iter()
        .filter(|e| e.contains("access forbidden by rule"))
        .count();
    assert_eq!(
        fail2ban_matches(&regex_bin, &merror, &swag_filters.join("nginx-deny.conf")),
        denials
    );
    let maccess = mroot.join("log/nginx/access.log");
    let unauthorized = probes.len() - 3; // every basic/any probe without good credentials
    assert!(
        foundation::wait_until(Duration::from_secs(10), || {
            std::fs::read_to_string(&maccess)
                .unwrap_or_default()
                .matches("\" 401 ")
                .count()
                >= unauthorized
        }),
        "{}",
        std::fs::read_to_string(&maccess).unwrap_or_default()
    );
    assert_eq!(
        fail2ban_matches(
            &regex_bin,
            &maccess,
            &swag_filters.join("nginx-unauthorized.conf")
        ),
        unauthorized
    );
    drop(moat);
}

/// `LISTEN`, `USERS`, `ECHO` and `ACCESS` are filled in per side.
const USER_SERVERS: &str = r#"
server {
    listen LISTEN;
    server_name user.test;
    ACCESS
    location /basic {
        auth_basic "Restricted";
        auth_basic_user_file USERS;
        set $u "u=$remote_user";
        proxy_set_header X-User $remote_user;
        proxy_set_header X-Set $u;
        add_header X-User $remote_user always;
        proxy_pass http://ECHO;
    }
    location /open {
        set $u "u=$remote_user";
        proxy_set_header X-User $remote_user;
        proxy_set_header X-Set $u;
        add_header X-User $remote_user always;
        proxy_pass http://ECHO;
    }
    location /return {
        return 200 "[$remote_user]";
    }
}
"#;

/// The value of response header `name` in a raw response, `<none>` if absent.
fn response_header(raw: &str, name: &str) -> String {
    let head = raw.split_once("\r\n\r\n").map_or(raw, |(h, _)| h);
    head.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map_or("<none>".into(), |(_, v)| v.trim().to_string())
}

/// The `$remote_user` field of each line of an access log in nginx's
/// combined format (`$remote_addr - $remote_user [$time_local] ...`).
fn logged_users(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(" [").map(|(head, _)| head))
        .filter_map(|head| head.split_once(" - ").map(|(_, user)| user.to_string()))
        .collect()
}

/// `$remote_user` is the user of any `Basic` `Authorization` header, as
/// nginx finds it (with or without `auth_basic`, right password or not,
/// every quirk of nginx's base64), in `proxy_set_header`, `set`,
/// `add_header`, `return` and the access log alike.
#[test]
fn remote_user_is_the_basic_user_as_nginx_finds_it() {
    let test = "remote_user_is_the_basic_user_as_nginx_finds_it";
    let Some(nginx_bin) = env::require_program(test, "nginx") else {
        return;
    };
    let upstream = echo::Echo::start(&["--listen", "127.0.0.1:0"], &[]);
    let echo_addr = upstream.addr();
    let fill = |listen: &str, users: &Path, access: &str| {
        USER_SERVERS
            .replace("LISTEN", listen)
            .replace("USERS", &users.display().to_string())
            .replace("ECHO", &echo_addr.to_string())
            .replace("ACCESS", access)
    };

    let ntmp = tempfile::tempdir().unwrap();
    let nroot = ntmp.path();
    for d in ["nginx", "log", "tmp"] {
        std::fs::create_dir_all(nroot.join(d)).unwrap();
    }
    let nport = free_port();
    std::fs::write(nroot.join("nginx/.htpasswd"), HTPASSWD).unwrap();
    let naccess = nroot.join("log/access.log");
    std::fs::write(
        nroot.join("nginx/nginx.conf"),
        nginx_conf(
            nroot,
            &format!("{} crit", nroot.join("log/error.log").display()),
            &fill(
                &format!("127.0.0.1:{nport}"),
                &nroot.join("nginx/.htpasswd"),
                &format!("access_log {};", naccess.display()),
            ),
        ),
    )
    .unwrap();
    let _nginx = start_nginx(&nginx_bin, nroot, nport);

    let mtmp = temp_config();
    let mroot = mtmp.path();
    std::fs::create_dir_all(mroot.join("nginx/proxy-confs")).unwrap();
    std::fs::write(mroot.join("nginx/.htpasswd"), HTPASSWD).unwrap();
    std::fs::write(
        mroot.join("nginx/proxy-confs/user.subdomain.conf"),
        fill("80", Path::new("/config/nginx/.htpasswd"), ""),
    )
    .unwrap();
    let cmd = moat_command(moat_bin(), mroot, &[]);
    let mport = moat_http_port(&cmd);
    let moat = Running::spawn(cmd);
    moat.wait_for(&["proxy listening"], Duration::from_secs(20));
    moat.wait_for(&["configuration reloaded"], Duration::from_secs(20));

    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let values: Vec<String> = vec![
        basic("alice:secret"),
        basic("alice:nope"),
        basic("bob:x"),
        format!("basic {}", b64("alice:secret")),
        format!("BASIC   {}", b64("alice:secret")),
        "Basic YWxpY2U6cHc".into(),         // alice:pw, unpadded
        "Basic YWxpY2U6cHd".into(),         // stray low bits
        "Basic YWxpY2U6cHc=garbage".into(), // nginx stops at the first '='
        "Basic YWxpY2U6c".into(),           // a lone trailing sextet
        "Basic YWxpY2U6cHc!".into(),
        "Basic -_".into(),
        basic(":pw"),
        basic("al:"),
        basic("alicepw"),
        format!("Bearer {}", b64("alice:secret")),
        "Basic".into(),
        basic("al ice:p:w"),
        basic("\u{e5}lice:pw"),
        basic("a\"b:x"),
    ];
    let nginx_at = SocketAddr::from(([127, 0, 0, 1], nport));
    let moat_at = SocketAddr::from(([127, 0, 0, 1], mport));
    let from = Ipv4Addr::LOCALHOST;
    let mut asked = 0;
    for path in ["/basic", "/open", "/return"] {
        let mut with: Vec<Option<&str>> = values.iter().map(|v| Some(v.as_str())).collect();
        with.push(None);
        for value in with {
            let headers: Vec<(&str, &str)> =
                value.map(|v| ("Authorization", v)).into_iter().collect();
            let n = nginx_wire::ask_raw(from, nginx_at, "user.test", path, &headers);
            let m = nginx_wire::ask_raw(from, moat_at, "user.test", path, &headers);
            asked += 1;
            let status = |raw: &str| raw.split(' ').nth(1).unwrap_or_default().to_string();
            assert_eq!(
                status(&m),
                status(&n),
                "{path} {value:?}\nmoat: {m}\nnginx: {n}"
            );
            assert_eq!(
                response_header(&m, "x-user"),
                response_header(&n, "x-user"),
                "add_header: {path} {value:?}"
            );
            let body = |raw: &str| raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
            if path == "/return" {
                assert_eq!(body(&m), body(&n), "return: {value:?}");
                continue;
            }
            let json = |raw: &str| -> Option<serde_json::Value> {
                let b = body(raw)?;
                serde_json::from_str(&b[b.find('{')?..=b.rfind('}')?]).ok()
            };
            let (nj, mj) = (json(&n), json(&m));
            for name in ["x-user", "x-set"] {
                assert_eq!(
                    nginx_wire::header(&mj, name),
                    nginx_wire::header(&nj, name),
                    "upstream {name}: {path} {value:?}"
                );
            }
        }
    }
    // The probes show the user both where it authenticates and where no
    // auth_basic applies.
    let (_, seen) = ask(
        from,
        moat_at,
        "user.test",
        "/open",
        &[("Authorization", &values[2])],
    );
    assert_eq!(nginx_wire::header(&seen, "x-user"), "bob");
    assert_eq!(nginx_wire::header(&seen, "x-set"), "u=bob");
    asked += 1;
    let (_, seen) = ask(
        from,
        nginx_at,
        "user.test",
        "/open",
        &[("Authorization", &values[2])],
    );
    assert_eq!(nginx_wire::header(&seen, "x-user"), "bob");

    // A user name carrying a line break (the name ends at the first `:`):
    // nginx copies it raw into the upstream request, a line of the
    // client's choosing; moat never lets it split a header.
    let forged = basic("a\r\nX-Injected: 1:pw");
    let (status, seen) = ask(
        from,
        moat_at,
        "user.test",
        "/open",
        &[("Authorization", &forged)],
    );
    asked += 1;
    assert_eq!(
        nginx_wire::header(&seen, "x-injected"),
        "<none>",
        "{status} {seen:?}"
    );
    eprintln!("moat answered a user name with CRLF: {status}");

    // The access logs name the same users, escaped the same way.
    let maccess = mroot.join("log/nginx/access.log");
    assert!(
        foundation::wait_until(Duration::from_secs(10), || logged_users(&maccess).len()
            >= asked),
        "{}",
        std::fs::read_to_string(&maccess).unwrap_or_default()
    );
    let moat_users = logged_users(&maccess);
    let nginx_users = logged_users(&naccess);
    // moat's last line is the CRLF probe nginx never got.
    assert_eq!(moat_users.len(), nginx_users.len() + 1);
    assert_eq!(moat_users[..nginx_users.len()], nginx_users[..]);
    assert_eq!(moat_users[nginx_users.len()], "a\\x0D\\x0AX-Injected");
    for user in ["alice", "bob", "al", "al ice", "\\xC3\\xA5lice", "a\\x22b"] {
        assert!(
            moat_users.iter().any(|u| u == user),
            "{user}: {moat_users:?}"
        );
    }
    drop(moat);
}
