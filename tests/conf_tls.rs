//! What the proxy reads besides `decide`: sockets to listen on, the
//! certificate per server for SNI, and the route summary for `moat routes`.

#[path = "support/conf.rs"]
mod conf_support;

use std::path::Path;

use conf_support::{activate, swag_layout, write_conf};
use moat::conf::{load, Listen};

const TWO_CERTS: &str = r#"
server {
    listen 443 ssl;
    server_name own.example.com *.own.example.com;
    ssl_certificate /config/etc/letsencrypt/live/own.example.com/fullchain.pem;
    ssl_certificate_key /config/etc/letsencrypt/live/own.example.com/privkey.pem;
    location / { proxy_pass http://own:80; }
}
server {
    listen 8448 ssl;
    server_name matrix.*;
    include /config/nginx/ssl.conf;
    location / { proxy_pass http://synapse:8008; }
}
"#;

#[test]
fn certificate_is_picked_by_sni_with_server_name_priority() {
    let cfg = swag_layout();
    write_conf(cfg.path(), "own.subdomain.conf", TWO_CERTS);
    let (t, _) = load(cfg.path()).unwrap_or_else(|e| panic!("{e:?}"));
    let own = cfg.path().join("etc/letsencrypt/live/own.example.com");
    let swag = cfg.path().join("keys");
    let pick = |port, sni| {
        t.tls_certificate_for(port, sni)
            .map(|(c, k)| (c.to_path_buf(), k.to_path_buf()))
    };
    assert_eq!(
        pick(443, Some("own.example.com")),
        Some((own.join("fullchain.pem"), own.join("privkey.pem")))
    );
    assert_eq!(
        pick(443, Some("a.own.example.com")),
        Some((own.join("fullchain.pem"), own.join("privkey.pem")))
    );
    assert_eq!(
        pick(443, Some("other.example.com")),
        Some((swag.join("cert.crt"), swag.join("cert.key")))
    );
    assert_eq!(
        pick(443, None),
        Some((swag.join("cert.crt"), swag.join("cert.key")))
    );
    assert_eq!(
        pick(8448, Some("matrix.example.com")),
        Some((swag.join("cert.crt"), swag.join("cert.key")))
    );
    assert_eq!(pick(9999, Some("own.example.com")), None);
    let all = t.tls_certificates();
    assert_eq!(all.len(), 3, "default 443 server, own, matrix: {all:#?}");
    assert!(all
        .iter()
        .any(|c| c.ports == [8448] && c.names == ["matrix.*"]));
}

#[test]
fn server_without_certificate_uses_the_default_servers_like_nginx() {
    let cfg = swag_layout();
    activate(cfg.path(), "dnsdist.subdomain");
    let (t, _) = load(cfg.path()).unwrap_or_else(|e| panic!("{e:?}"));
    let (c, _) = t
        .tls_certificate_for(443, Some("dnsdist.example.com"))
        .expect("a certificate");
    assert_eq!(c, cfg.path().join("keys/cert.crt"));
    assert_eq!(t.tls_certificates().len(), 1);
}

#[test]
fn listens_merge_all_servers_sockets() {
    let cfg = swag_layout();
    activate(cfg.path(), "synapse.subdomain");
    activate(cfg.path(), "synclounge.subdomain");
    let (t, _) = load(cfg.path()).unwrap_or_else(|e| panic!("{e:?}"));
    let l = |port, ipv6, ssl| Listen {
        addr: None,
        port,
        ipv6,
        ssl,
        proxy_protocol: false,
    };
    assert_eq!(
        t.listens(),
        [
            l(80, false, false),
            l(80, true, false),
            l(443, false, true),
            l(443, true, true),
            l(8448, false, true),
            l(8448, true, true)
        ]
    );
}

#[test]
fn describe_lists_servers_and_locations_with_their_sources() {
    let cfg = swag_layout();
    activate(cfg.path(), "nextcloud.subfolder");
    let (t, _) = load(cfg.path()).unwrap_or_else(|e| panic!("{e:?}"));
    let servers = t.describe();
    assert_eq!(servers.len(), 2);
    let https = &servers[1];
    assert_eq!(https.names, ["_"]);
    assert_eq!(https.default_for, [443]);
    let nc = cfg
        .path()
        .join("nginx/proxy-confs/nextcloud.subfolder.conf");
    let matches: Vec<(&Path, &str, &str)> = https
        .locations
        .iter()
        .map(|l| (l.file.as_path(), l.r#match.as_str(), l.action.as_str()))
        .collect();
    assert_eq!(
        matches[..2],
        [
            (nc.as_path(), "^~ /.well-known", "return"),
            (nc.as_path(), "^~ /nextcloud/", "proxy")
        ]
    );
    assert_eq!(https.locations[0].locations.len(), 2, "nested = locations");
    assert_eq!(
        https.locations[1].upstream.as_deref(),
        Some("$upstream_proto://$upstream_app:$upstream_port")
    );
    let json = serde_json::to_value(&servers).expect("serializable");
    assert_eq!(json[1]["locations"][1]["line"], 28);
}
