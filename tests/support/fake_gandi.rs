//! A fake Gandi LiveDNS v5 API on loopback, from Gandi's API reference:
//! `Authorization: Bearer <PAT>` or the legacy `Apikey <key>`, `GET domains`,
//! `GET domains/<fqdn>`, and rrsets at `domains/<fqdn>/records/<name>/<type>`
//! read with GET, replaced with PUT (`rrset_ttl`, `rrset_values`), removed
//! with DELETE; Gandi's error shape (`{"code", "message", "cause"}`).
//! Values are kept as sent (TXT values quoted). Keeps every request.
//!
//! Include next to `fake_http.rs`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::fake_http::{self, Request, Response};

/// An rrset the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GdSet {
    /// The domain.
    pub domain: String,
    /// Name relative to the domain (`@` for the apex).
    pub name: String,
    /// Type.
    pub kind: String,
    /// TTL.
    pub ttl: u64,
    /// Values as sent.
    pub values: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    sets: Vec<GdSet>,
    /// TXT names changed since the last publish.
    publish: Vec<(String, Vec<String>)>,
    log: Vec<(String, String)>,
}

/// A running fake.
pub struct FakeGandi {
    /// Base URL for `dns_gandi_endpoint`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

fn fail(status: u16, cause: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"code": status, "message": message, "object": "HTTP", "cause": cause}),
    )
}

impl FakeGandi {
    /// Starts the fake: `authorization` is the one accepted header value
    /// (`Bearer ...` or `Apikey ...`); `domains` are the account's.
    pub async fn start(authorization: &str, domains: &[&str]) -> FakeGandi {
        Self::start_publishing(authorization, domains, None).await
    }

    /// [`FakeGandi::start`], also serving its TXT rrsets through the
    /// challtestsrv whose management address is `challtest`.
    pub async fn start_publishing(
        authorization: &str,
        domains: &[&str],
        challtest: Option<std::net::SocketAddr>,
    ) -> FakeGandi {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let auth = authorization.to_owned();
        let domains: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
        let addr = fake_http::serve(move |req| {
            let (st, auth, domains) = (st.clone(), auth.clone(), domains.clone());
            async move {
                let resp = handle(&st, &auth, &domains, req);
                let pending = std::mem::take(&mut st.lock().unwrap().publish);
                if let Some(mgmt) = challtest {
                    for (host, values) in pending {
                        fake_http::challtest_publish(mgmt, &host, &values).await;
                    }
                }
                resp
            }
        })
        .await;
        FakeGandi {
            endpoint: format!("http://{addr}/v5/livedns"),
            state,
        }
    }

    /// Rrsets held now.
    pub fn sets(&self) -> Vec<GdSet> {
        self.state.lock().unwrap().sets.clone()
    }

    /// Every request, as (method, path below `/v5/livedns/` with query).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().log.clone()
    }

    /// Forgets the requests so far.
    pub fn clear_requests(&self) {
        self.state.lock().unwrap().log.clear();
    }

    /// Adds an rrset as if made elsewhere.
    pub fn seed(&self, domain: &str, name: &str, values: &[&str]) {
        self.state.lock().unwrap().sets.push(GdSet {
            domain: domain.into(),
            name: name.into(),
            kind: "TXT".into(),
            ttl: 1800,
            values: values.iter().map(|v| v.to_string()).collect(),
        });
    }
}

fn handle(st: &Mutex<State>, auth: &str, domains: &[String], req: Request) -> Response {
    let path = req.path.trim_start_matches("/v5/livedns/").to_owned();
    let logged = if req.raw_query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{}", req.raw_query)
    };
    st.lock().unwrap().log.push((req.method.clone(), logged));
    if req.header("authorization") != Some(auth) {
        return fail(
            401,
            "Unauthorized",
            "The server could not verify that you authorized to access the document you requested.",
        );
    }
    let parts: Vec<&str> = path.split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["domains"]) => Response::json(
            200,
            &Value::Array(domains.iter().map(|d| json!({"fqdn": d})).collect()),
        ),
        (_, ["domains", d, ..]) if !domains.iter().any(|x| x == d) => {
            fail(404, "Not Found", "The resource could not be found.")
        }
        ("GET", ["domains", d]) => {
            Response::json(200, &json!({"fqdn": d, "automatic_snapshots": true}))
        }
        (method, ["domains", d, "records", name, kind]) => {
            let mut s = st.lock().unwrap();
            if *kind == "TXT" && matches!(method, "PUT" | "DELETE") {
                let host = if *name == "@" {
                    format!("{d}.")
                } else {
                    format!("{name}.{d}.")
                };
                let values = serde_json::from_slice::<Value>(&req.body)
                    .ok()
                    .filter(|_| method == "PUT")
                    .map(|b| {
                        b["rrset_values"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|v| v.as_str().map(|v| v.trim_matches('"').to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                s.publish.push((host, values));
            }
            let at = s
                .sets
                .iter()
                .position(|x| x.domain == *d && x.name == *name && x.kind == *kind);
            match (method, at) {
                ("GET", Some(i)) => {
                    let x = &s.sets[i];
                    Response::json(
                        200,
                        &json!({"rrset_name": x.name, "rrset_type": x.kind, "rrset_ttl": x.ttl, "rrset_values": x.values}),
                    )
                }
                ("GET" | "DELETE", None) => fail(404, "Not Found", "Can't find the DNS record"),
                ("DELETE", Some(i)) => {
                    s.sets.remove(i);
                    Response::text(204, "")
                }
                ("PUT", at) => {
                    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
                    let ttl = body["rrset_ttl"].as_u64().unwrap_or(10800);
                    if ttl < 300 {
                        return fail(400, "Bad Request", "rrset_ttl: must be >= 300");
                    }
                    let set = GdSet {
                        domain: d.to_string(),
                        name: name.to_string(),
                        kind: kind.to_string(),
                        ttl,
                        values: body["rrset_values"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect(),
                    };
                    match at {
                        Some(i) => s.sets[i] = set,
                        None => s.sets.push(set),
                    }
                    Response::json(201, &json!({"message": "DNS Record Created"}))
                }
                _ => fail(405, "Method Not Allowed", "method not allowed"),
            }
        }
        _ => fail(404, "Not Found", "The resource could not be found."),
    }
}
