//! The proxy driven by real SWAG-style confs: moat's bootstrap lays out
//! /config (nginx.conf, ssl.conf, proxy.conf, default.conf), the test drops
//! proxy-confs in, `conf::load` builds the table, and a reload is a swap.

#[path = "support/proxy.rs"]
mod support;

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use moat::bootstrap::{BootstrapOptions, ConfigLayout};
use moat::conf::RouteTable;
use support::*;

/// A bootstrapped /config in a temp dir whose resolver.conf points at `dns`.
fn config_dir(dns: std::net::SocketAddr) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&resolv, "nameserver 127.0.0.1\n").unwrap();
    let layout = ConfigLayout::new(dir.path());
    moat::bootstrap::prepare(
        &layout,
        &BootstrapOptions {
            resolv_conf: resolv,
            ..BootstrapOptions::default()
        },
    )
    .expect("bootstrap /config");
    std::fs::write(
        layout.resolver_conf(),
        format!("resolver {dns} valid=2s ipv6=off;\n"),
    )
    .unwrap();
    dir
}

fn subdomain_conf(name: &str, upstream: &str, port: u16, extra: &str) -> String {
    format!(
        "server {{
    listen 443 ssl;
    listen [::]:443 ssl;
    server_name {name}.*;
    include /config/nginx/ssl.conf;
    client_max_body_size 1k;
    {extra}
    location / {{
        include /config/nginx/proxy.conf;
        include /config/nginx/resolver.conf;
        set $upstream_app {upstream};
        set $upstream_port {port};
        set $upstream_proto http;
        proxy_pass $upstream_proto://$upstream_app:$upstream_port;
    }}
    location /private {{
        deny all;
    }}
}}
"
    )
}

fn subfolder_conf(folder: &str, upstream: &str, port: u16) -> String {
    format!(
        "location ^~ /{folder}/ {{
    include /config/nginx/proxy.conf;
    include /config/nginx/resolver.conf;
    set $upstream_app {upstream};
    set $upstream_port {port};
    set $upstream_proto http;
    proxy_pass $upstream_proto://$upstream_app:$upstream_port;
}}
"
    )
}

fn load(dir: &Path) -> RouteTable {
    match moat::conf::load(dir) {
        Ok((table, _)) => table,
        Err(errors) => panic!("confs do not load: {errors:?}"),
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    dir: std::path::PathBuf,
    routes: Arc<ArcSwap<RouteTable>>,
    moat: Moat,
    _dns: TestDns,
    a: EchoProcess,
    b: EchoProcess,
}

async fn setup() -> Setup {
    let dns = TestDns::start().await;
    let a = EchoProcess::start("127.0.0.1:0".parse().unwrap(), "a");
    let b = EchoProcess::start("127.0.0.1:0".parse().unwrap(), "b");
    dns.set("app-container", Ipv4Addr::LOCALHOST);
    dns.set("sub-container", Ipv4Addr::LOCALHOST);
    let dir = config_dir(dns.addr);
    let confs = dir.path().join("nginx/proxy-confs");
    std::fs::write(
        confs.join("app.subdomain.conf"),
        subdomain_conf("app", "app-container", a.addr.port(), ""),
    )
    .unwrap();
    std::fs::write(
        confs.join("sub.subfolder.conf"),
        subfolder_conf("sub", "sub-container", b.addr.port()),
    )
    .unwrap();
    std::fs::write(dir.path().join("www/index.html"), "<p>default page</p>").unwrap();
    let routes = Arc::new(ArcSwap::from_pointee(load(dir.path())));
    let moat = start_moat(routes.clone(), None);
    Setup {
        dir: dir.path().to_path_buf(),
        _dir: dir,
        routes,
        moat,
        _dns: dns,
        a,
        b,
    }
}

#[tokio::test]
async fn swag_confs_route_by_subdomain_and_subfolder_with_proxy_conf_headers() {
    let s = setup().await;
    let c = client(&["app.example.test", "example.test"], s.moat.https);
    let r = c
        .get("https://app.example.test/page?q=1")
        .header("X-Forwarded-For", "198.51.100.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let json: serde_json::Value = r.json().await.unwrap();
    assert_eq!(json["name"], "a");
    assert_eq!(json["local_addr"], s.a.addr.to_string());
    assert_eq!(json["target"], "/page?q=1");
    assert_eq!(
        echoed_header(&json, "host").as_deref(),
        Some("app.example.test")
    );
    assert_eq!(
        echoed_header(&json, "x-forwarded-proto").as_deref(),
        Some("https")
    );
    assert_eq!(
        echoed_header(&json, "x-forwarded-for").as_deref(),
        Some("198.51.100.9, 127.0.0.1")
    );
    assert_eq!(
        echoed_header(&json, "x-real-ip").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        echoed_header(&json, "x-forwarded-port").as_deref(),
        Some("443")
    );
    assert_eq!(
        echoed_header(&json, "proxy"),
        None,
        "proxy.conf clears Proxy"
    );

    let json: serde_json::Value = c
        .get("https://example.test/sub/x")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json["name"], "b");
    assert_eq!(json["target"], "/sub/x");
    assert_eq!(json["local_addr"], s.b.addr.to_string());

    // The default server: /config/www.
    let r = c.get("https://example.test/").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "<p>default page</p>");
    // deny all; client_max_body_size 1k.
    assert_eq!(
        c.get("https://app.example.test/private")
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let r = c
        .post("https://app.example.test/upload")
        .body(vec![0u8; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

#[tokio::test]
async fn swag_default_conf_redirects_port_80_but_answers_acme_challenges() {
    let s = setup().await;
    s.moat.tokens.insert("Tk-1", "Tk-1.account-thumbprint");
    let c = client(&["app.example.test"], s.moat.http);
    let port = s.moat.http.port();
    let r = c
        .get(format!("http://app.example.test:{port}/a?b=c"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(r.headers()["location"], "https://app.example.test/a?b=c");
    let r = c
        .get(format!(
            "http://app.example.test:{port}/.well-known/acme-challenge/Tk-1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "Tk-1.account-thumbprint");
}

#[tokio::test]
async fn websocket_through_swag_proxy_conf() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let s = setup().await;
    // Over TLS, as a browser would (http/1.1 ALPN).
    let mut config = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(s.moat.https).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            rustls_pki_types::ServerName::try_from("app.example.test").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    let request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        "wss://app.example.test/ws",
    )
    .unwrap();
    let (mut ws, resp) = tokio_tungstenite::client_async(request, tls)
        .await
        .expect("upgrade");
    assert_eq!(resp.status(), 101);
    ws.send(Message::text("over tls")).await.unwrap();
    let back = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(back, Message::text("over tls"));
}

#[tokio::test]
async fn an_upgrade_the_backend_refuses_is_relayed_as_a_plain_response() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = setup().await;
    // No Sec-WebSocket-Key: moat-echo answers 200 instead of 101. Plain
    // HTTP on port 80 is redirected by default.conf, so this goes through
    // the TLS listener.
    let tcp = tokio::net::TcpStream::connect(s.moat.https).await.unwrap();
    let mut config = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut tcp = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            rustls_pki_types::ServerName::try_from("app.example.test").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    tcp.write_all(
        b"GET /socket HTTP/1.1\r\nHost: app.example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer))
        .await
        .expect("moat closes after a refused upgrade")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let json: serde_json::Value = serde_json::from_str(body.trim()).unwrap_or_else(|e| {
        panic!("not the backend's JSON ({e}): {answer}");
    });
    assert_eq!(json["name"], "a");
    assert_eq!(json["target"], "/socket");
}

#[tokio::test]
async fn conf_reload_under_load_applies_valid_edits_only_with_no_failed_request() {
    let s = setup().await;
    let conf = s.dir.join("nginx/proxy-confs/app.subdomain.conf");
    let port = s.a.addr.port();
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut load = Vec::new();
    for _ in 0..3 {
        let c = client(&["app.example.test"], s.moat.https);
        let (stop, ok, failures) = (stop.clone(), ok.clone(), failures.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match c.get("https://app.example.test/load").send().await {
                    Ok(r) if r.status() == 200 => {
                        r.bytes().await.unwrap();
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => failures
                        .lock()
                        .unwrap()
                        .push(format!("status {}", r.status())),
                    Err(e) => failures.lock().unwrap().push(e.to_string()),
                }
            }
        }));
    }

    let mut applied = 0;
    let mut refused = Vec::new();
    let mut last_valid = 0;
    for edit in 1..=50u32 {
        let text = if edit % 3 == 0 {
            // Broken: an unterminated block.
            format!("server {{\n    listen 443 ssl;\n    server_name app.*;\n    location / {{ add_header X-Conf-Version {edit};\n")
        } else {
            subdomain_conf(
                "app",
                "app-container",
                port,
                &format!("add_header X-Conf-Version {edit} always;"),
            )
        };
        std::fs::write(&conf, text).unwrap();
        match moat::conf::load(&s.dir) {
            Ok((table, _)) => {
                s.routes.store(Arc::new(table));
                applied += 1;
                last_valid = edit;
            }
            Err(errors) => refused.push(errors),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "failed requests during reloads: {failures:?}"
    );
    assert!(
        ok.load(Ordering::Relaxed) > 50,
        "the load loop ran ({} requests)",
        ok.load(Ordering::Relaxed)
    );
    assert_eq!(applied, 34);
    assert_eq!(refused.len(), 16);
    for errors in &refused {
        let text = format!("{}", errors[0]);
        assert!(
            text.contains("app.subdomain.conf:"),
            "broken edit reported with file:line: {text}"
        );
    }
    // The last valid edit is what serves, not the broken one after it.
    let c = client(&["app.example.test"], s.moat.https);
    let r = c.get("https://app.example.test/").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-conf-version"],
        last_valid.to_string().as_str()
    );
}
