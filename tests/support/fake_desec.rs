//! A fake deSEC API v1 on loopback, from deSEC's documentation:
//! `Authorization: Token <token>`, `GET domains/` (with `owns_qname`), one
//! rrset at `GET domains/<name>/rrsets/<subname or @>/<type>/`, and the bulk
//! `PUT domains/<name>/rrsets/` that creates, replaces, or (with
//! `"records": []`) deletes the rrsets it lists; TTLs below 3600 refused as
//! deSEC does; errors as `{"detail": ...}`. Keeps every request.
//!
//! Include next to `fake_http.rs`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::fake_http::{self, Request, Response};

/// An rrset the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsSet {
    /// The domain.
    pub domain: String,
    /// Subname (empty for the apex).
    pub subname: String,
    /// Type.
    pub kind: String,
    /// TTL.
    pub ttl: u64,
    /// Records as sent.
    pub records: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    sets: Vec<DsSet>,
    /// TXT names changed since the last publish.
    publish: Vec<(String, Vec<String>)>,
    log: Vec<(String, String)>,
}

/// A running fake.
pub struct FakeDesec {
    /// Base URL for `dns_desec_endpoint`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

fn fail(status: u16, detail: &str) -> Response {
    Response::json(status, &json!({ "detail": detail }))
}

impl FakeDesec {
    /// Starts the fake: `token` is valid, `domains` are the account's.
    pub async fn start(token: &str, domains: &[&str]) -> FakeDesec {
        Self::start_publishing(token, domains, None).await
    }

    /// [`FakeDesec::start`], also serving its TXT rrsets through the
    /// challtestsrv whose management address is `challtest`.
    pub async fn start_publishing(
        token: &str,
        domains: &[&str],
        challtest: Option<std::net::SocketAddr>,
    ) -> FakeDesec {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let token = token.to_owned();
        let domains: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
        let addr = fake_http::serve(move |req| {
            let (st, token, domains) = (st.clone(), token.clone(), domains.clone());
            async move {
                let resp = handle(&st, &token, &domains, req);
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
        FakeDesec {
            endpoint: format!("http://{addr}/api/v1/"),
            state,
        }
    }

    /// Rrsets held now.
    pub fn sets(&self) -> Vec<DsSet> {
        self.state.lock().unwrap().sets.clone()
    }

    /// Every request, as (method, path below `/api/v1/` with query).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().log.clone()
    }

    /// Forgets the requests so far.
    pub fn clear_requests(&self) {
        self.state.lock().unwrap().log.clear();
    }

    /// Adds an rrset as if made elsewhere.
    pub fn seed(&self, domain: &str, subname: &str, records: &[&str]) {
        self.state.lock().unwrap().sets.push(DsSet {
            domain: domain.into(),
            subname: subname.into(),
            kind: "TXT".into(),
            ttl: 7200,
            records: records.iter().map(|v| v.to_string()).collect(),
        });
    }
}

fn handle(st: &Mutex<State>, token: &str, domains: &[String], req: Request) -> Response {
    let path = req.path.trim_start_matches("/api/v1/").to_owned();
    let logged = if req.raw_query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{}", req.raw_query)
    };
    st.lock().unwrap().log.push((req.method.clone(), logged));
    if req.header("authorization") != Some(&format!("Token {token}")) {
        return fail(401, "Invalid token.");
    }
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["domains"]) => {
            let owns = req.param("owns_qname");
            let list: Vec<Value> = domains
                .iter()
                .filter(|d| match owns {
                    Some(q) => q == d.as_str() || q.ends_with(&format!(".{d}")),
                    None => true,
                })
                .map(|d| json!({"name": d, "minimum_ttl": 3600}))
                .collect();
            Response::json(200, &Value::Array(list))
        }
        (_, ["domains", d, ..]) if !domains.iter().any(|x| x == d) => fail(404, "Not found."),
        ("GET", ["domains", d, "rrsets", sub, kind]) => {
            let sub = if *sub == "@" { "" } else { sub };
            let s = st.lock().unwrap();
            match s
                .sets
                .iter()
                .find(|x| x.domain == *d && x.subname == sub && x.kind == *kind)
            {
                Some(x) => Response::json(
                    200,
                    &json!({"subname": x.subname, "type": x.kind, "ttl": x.ttl, "records": x.records}),
                ),
                None => fail(404, "Not found."),
            }
        }
        ("PUT", ["domains", d, "rrsets"]) => {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let Some(list) = body.as_array() else {
                return fail(400, "bulk requests take a list");
            };
            let mut s = st.lock().unwrap();
            for item in list {
                let set = DsSet {
                    domain: d.to_string(),
                    subname: item["subname"].as_str().unwrap_or_default().into(),
                    kind: item["type"].as_str().unwrap_or_default().into(),
                    ttl: item["ttl"].as_u64().unwrap_or(0),
                    records: item["records"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                };
                if set.ttl < 3600 {
                    return Response::json(
                        400,
                        &json!([{"ttl": ["Ensure this value is greater than or equal to 3600."]}]),
                    );
                }
                if set.records.iter().any(|r| !r.starts_with('"')) {
                    return Response::json(
                        400,
                        &json!([{"records": ["TXT records must be quoted"]}]),
                    );
                }
                if set.kind == "TXT" {
                    let host = if set.subname.is_empty() {
                        format!("{d}.")
                    } else {
                        format!("{}.{d}.", set.subname)
                    };
                    let values = set
                        .records
                        .iter()
                        .map(|r| r.trim_matches('"').to_owned())
                        .collect();
                    s.publish.push((host, values));
                }
                let at = s.sets.iter().position(|x| {
                    x.domain == set.domain && x.subname == set.subname && x.kind == set.kind
                });
                match (at, set.records.is_empty()) {
                    (Some(i), true) => {
                        s.sets.remove(i);
                    }
                    (Some(i), false) => s.sets[i] = set,
                    (None, false) => s.sets.push(set),
                    (None, true) => {}
                }
            }
            Response::json(200, &body)
        }
        _ => fail(404, "Not found."),
    }
}
