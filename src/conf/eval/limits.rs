//! nginx's pre-access phase for limits: the `limit_req` / `limit_conn`
//! rules of the request's level, with their keys evaluated (after realip,
//! so `$binary_remote_addr` is the client's). The counting itself is
//! `crate::limits`'s.

use std::net::IpAddr;

use super::context::Eval;
use crate::conf::compile::limits::ZoneDecl;
use crate::conf::decision::{ConnLimit, ReqLimit, RequestLimits};
use crate::conf::variables::VarSource;

/// nginx skips (and logs) a `limit_req` key longer than this.
const MAX_REQ_KEY: usize = 65535;
/// ... and a `limit_conn` key longer than this.
const MAX_CONN_KEY: usize = 255;

impl Eval<'_> {
    /// The limits in effect for the request; keys that are empty (or too
    /// long) are not limited, as in nginx.
    pub(crate) fn limits(&self) -> RequestLimits {
        let conf = &self.level.limits;
        let key = |z: &ZoneDecl, max: usize| {
            let k = self.limit_key(z);
            (!k.is_empty() && k.len() <= max).then_some(k)
        };
        RequestLimits {
            req: conf
                .req
                .iter()
                .filter_map(|r| {
                    Some(ReqLimit {
                        zone: r.zone.zone.clone(),
                        key: key(&r.zone, MAX_REQ_KEY)?,
                        burst: r.burst,
                        delay: r.delay,
                    })
                })
                .collect(),
            req_status: conf.req_status,
            req_dry_run: conf.req_dry_run,
            conn: conf
                .conn
                .iter()
                .filter_map(|r| {
                    Some(ConnLimit {
                        zone: r.zone.zone.clone(),
                        key: key(&r.zone, MAX_CONN_KEY)?,
                        max: r.max,
                    })
                })
                .collect(),
            conn_status: conf.conn_status,
            conn_dry_run: conf.conn_dry_run,
        }
    }

    fn limit_key(&self, zone: &ZoneDecl) -> Vec<u8> {
        if zone.binary_remote {
            return match self.remote_ip() {
                IpAddr::V4(a) => a.octets().to_vec(),
                IpAddr::V6(a) => a.octets().to_vec(),
            };
        }
        zone.key.render(self as &dyn VarSource).into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::conf::{load_str, RequestInfo, RouteTable, ZoneKind};

    const HTTP: &str = r#"
limit_req_zone $binary_remote_addr zone=ip:1m rate=1r/m;
limit_req_zone $http_x_key zone=keyed:64k rate=10r/s;
limit_conn_zone $binary_remote_addr zone=conn:1m;
server {
    listen 80;
    set_real_ip_from 10.0.0.1;
    limit_req zone=ip burst=2 nodelay;
    limit_req_status 429;
    location / { return 200; }
    location /inherit/ { proxy_pass http://127.0.0.1:9; }
    location /own/ {
        limit_req zone=keyed delay=3 burst=5;
        limit_conn conn 4;
        proxy_pass http://127.0.0.1:9;
    }
}
"#;

    fn table(http: &str) -> Result<RouteTable, String> {
        let src = format!("events {{}}\nhttp {{\n{http}\n}}\n");
        load_str(Path::new("/nonexistent"), Path::new("nginx.conf"), &src)
            .map(|(t, _)| t)
            .map_err(|e| {
                e.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
    }

    fn req(uri: &str, from: &str, headers: &[(&str, &str)]) -> RequestInfo {
        RequestInfo {
            method: "GET".into(),
            tls: false,
            server_port: 80,
            host: Some("x".into()),
            sni: None,
            uri: uri.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            remote: format!("{from}:5000").parse().unwrap(),
            proxy_protocol: None,
            client_certs: None,
        }
    }

    #[test]
    fn rules_inherit_by_level_and_keys_are_evaluated_after_realip() {
        let t = table(HTTP).unwrap();
        // `return` answers in the rewrite phase, before any limit.
        assert!(t.decide(&req("/", "1.2.3.4", &[])).limits.is_empty());
        let d = t.decide(&req("/inherit/", "10.0.0.1", &[("X-Real-IP", "5.6.7.8")]));
        assert_eq!(d.limits.req.len(), 1);
        assert_eq!(d.limits.req[0].key, vec![5, 6, 7, 8]);
        assert_eq!(d.limits.req[0].burst, 2000);
        assert_eq!(d.limits.req[0].delay, u64::MAX);
        assert_eq!(d.limits.req_status, 429);
        assert_eq!(d.limits.req[0].zone.kind, ZoneKind::Requests { rate: 16 });
        assert_eq!(d.limits.req[0].zone.size, 1 << 20);
        // A level with its own limit_req replaces the inherited one; an
        // empty key is not limited.
        let d = t.decide(&req("/own/", "1.2.3.4", &[]));
        assert!(d.limits.req.is_empty());
        assert_eq!(d.limits.conn.len(), 1);
        assert_eq!(d.limits.conn[0].max, 4);
        let d = t.decide(&req("/own/", "1.2.3.4", &[("X-Key", "k")]));
        assert_eq!(d.limits.req[0].key, b"k".to_vec());
        assert_eq!((d.limits.req[0].burst, d.limits.req[0].delay), (5000, 3000));
        assert_eq!(
            d.limits.req[0].zone.kind,
            ZoneKind::Requests { rate: 10000 }
        );
    }

    #[test]
    fn nginx_load_errors() {
        let bad = [
            ("limit_req_zone $binary_remote_addr zone=a:1k rate=1r/s;", "too small"),
            ("limit_req_zone $binary_remote_addr zone=a rate=1r/s;", "invalid zone size"),
            ("limit_req_zone $binary_remote_addr zone=a:1m rate=0r/s;", "invalid rate"),
            ("limit_req_zone $binary_remote_addr rate=1r/s;", "must have \"zone\""),
            ("server { limit_req zone=nope; }", "zero size shared memory zone \"nope\""),
            (
                "limit_req_zone $binary_remote_addr zone=a:1m rate=1r/s;\nserver { limit_req zone=a; limit_req zone=a burst=2; }",
                "is duplicate",
            ),
            (
                "limit_req_zone $binary_remote_addr zone=a:1m rate=1r/s;\nserver { limit_req zone=a burst=0; }",
                "invalid burst",
            ),
            (
                "limit_conn_zone $binary_remote_addr zone=a:1m;\nserver { limit_req zone=a; }",
                "different use",
            ),
            (
                "limit_conn_zone $binary_remote_addr zone=c:1m;\nserver { limit_conn c 0; }",
                "invalid number of connections",
            ),
            (
                "limit_req_zone $binary_remote_addr zone=a:1m rate=1r/s;\nserver { limit_req_status 200; }",
                "between 400 and 599",
            ),
        ];
        for (conf, want) in bad {
            let e = table(conf).expect_err(conf);
            assert!(e.contains(want), "{conf}: {e}");
        }
        // Several limit_req and limit_conn at one level, zones in any order.
        table(
            "server { limit_req zone=a; limit_req zone=b burst=1 nodelay; limit_conn c 1; limit_conn d 2; }\n\
             limit_req_zone $binary_remote_addr zone=a:1m rate=1r/s;\n\
             limit_req_zone $uri zone=b:32k rate=60r/m;\n\
             limit_conn_zone $binary_remote_addr zone=c:1m;\n\
             limit_conn_zone $host zone=d:1m;",
        )
        .unwrap();
    }
}
