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
    let swag_filters = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|p| p.join("shared/corpus/swag-defaults/fail2ban/filter.d"))
        .find(|p| p.is_dir())
        .expect("the corpus's fail2ban filters");
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
