//! A fake GoDaddy Domains API v1 on loopback, from GoDaddy's API reference:
//! `Authorization: sso-key <key>:<secret>`, `GET domains`, `GET
//! domains/<domain>`, and a name's records of one type at
//! `domains/<domain>/records/<type>/<name>`: GET lists them, PUT replaces
//! them all (a non-empty list, TTL at least 600), DELETE removes them all;
//! GoDaddy's error shape (`{"code", "message"}`). Keeps every request.
//!
//! Include next to `fake_http.rs`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::fake_http::{self, Request, Response};

/// The records of one name and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GdName {
    /// The domain.
    pub domain: String,
    /// Type.
    pub kind: String,
    /// Name relative to the domain (`@` for the apex).
    pub name: String,
    /// (data, ttl) of each record.
    pub records: Vec<(String, u64)>,
}

#[derive(Debug, Default)]
struct State {
    names: Vec<GdName>,
    log: Vec<(String, String)>,
}

/// A running fake.
pub struct FakeGodaddy {
    /// Serves the fake's TXT records through challtestsrv once told where.
    pub publisher: Arc<fake_http::Publisher>,
    /// Base URL for `dns_godaddy_endpoint`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

fn fail(status: u16, code: &str, message: &str) -> Response {
    Response::json(status, &json!({"code": code, "message": message}))
}

impl FakeGodaddy {
    /// Starts the fake: `key`:`secret` is valid, `domains` are the account's.
    pub async fn start(key: &str, secret: &str, domains: &[&str]) -> FakeGodaddy {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let auth = format!("sso-key {key}:{secret}");
        let domains: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
        let publisher = Arc::new(fake_http::Publisher::default());
        let pubr = publisher.clone();
        let addr = fake_http::serve(move |req| {
            let publisher = pubr.clone();
            let (st, auth, domains) = (st.clone(), auth.clone(), domains.clone());
            async move {
                let resp = handle(&st, &auth, &domains, req);
                let txt = {
                    let s = st.lock().unwrap();
                    s.names
                        .iter()
                        .filter(|n| n.kind == "TXT")
                        .flat_map(|n| {
                            n.records.iter().map(move |(d, _)| {
                                (
                                    fake_http::absolute(&n.name, &n.domain),
                                    d.trim_matches('"').to_owned(),
                                )
                            })
                        })
                        .collect()
                };
                publisher.sync(txt).await;
                resp
            }
        })
        .await;
        FakeGodaddy {
            publisher,
            endpoint: format!("http://{addr}/v1"),
            state,
        }
    }

    /// Names with records now.
    pub fn names(&self) -> Vec<GdName> {
        self.state.lock().unwrap().names.clone()
    }

    /// Every request, as (method, path below `/v1/` with query).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().log.clone()
    }

    /// Forgets the requests so far.
    pub fn clear_requests(&self) {
        self.state.lock().unwrap().log.clear();
    }

    /// Adds TXT records as if made elsewhere.
    pub fn seed(&self, domain: &str, name: &str, data: &[&str]) {
        self.state.lock().unwrap().names.push(GdName {
            domain: domain.into(),
            kind: "TXT".into(),
            name: name.into(),
            records: data.iter().map(|d| (d.to_string(), 3600)).collect(),
        });
    }
}

fn handle(st: &Mutex<State>, auth: &str, domains: &[String], req: Request) -> Response {
    let path = req.path.trim_start_matches("/v1/").to_owned();
    let logged = if req.raw_query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{}", req.raw_query)
    };
    st.lock().unwrap().log.push((req.method.clone(), logged));
    if req.header("authorization") != Some(auth) {
        return fail(
            401,
            "UNABLE_TO_AUTHENTICATE",
            "Unable to authenticate request",
        );
    }
    let parts: Vec<&str> = path.split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["domains"]) => Response::json(
            200,
            &Value::Array(
                domains
                    .iter()
                    .map(|d| json!({"domain": d, "status": "ACTIVE"}))
                    .collect(),
            ),
        ),
        (_, ["domains", d, ..]) if !domains.iter().any(|x| x == d) => fail(
            404,
            "NOT_FOUND",
            "The given domain is not registered, or does not have a zone file",
        ),
        ("GET", ["domains", d]) => Response::json(200, &json!({"domain": d, "status": "ACTIVE"})),
        (method, ["domains", d, "records", kind, name]) => {
            let mut s = st.lock().unwrap();
            let at = s
                .names
                .iter()
                .position(|x| x.domain == *d && x.kind == *kind && x.name == *name);
            match (method, at) {
                ("GET", Some(i)) => Response::json(
                    200,
                    &Value::Array(
                        s.names[i]
                            .records
                            .iter()
                            .map(|(data, ttl)| json!({"data": data, "name": name, "ttl": ttl, "type": kind}))
                            .collect(),
                    ),
                ),
                ("GET", None) => Response::json(200, &json!([])),
                ("DELETE", Some(i)) => {
                    s.names.remove(i);
                    Response::text(204, "")
                }
                ("DELETE", None) => fail(404, "NOT_FOUND", "No records found"),
                ("PUT", at) => {
                    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
                    let records: Vec<(String, u64)> = body
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|r| (r["data"].as_str().unwrap_or_default().to_owned(), r["ttl"].as_u64().unwrap_or(0)))
                        .collect();
                    if records.is_empty() || records.iter().any(|(_, t)| *t < 600) {
                        return fail(422, "INVALID_BODY", "Request body doesn't fulfill schema");
                    }
                    let entry = GdName {
                        domain: d.to_string(),
                        kind: kind.to_string(),
                        name: name.to_string(),
                        records,
                    };
                    match at {
                        Some(i) => s.names[i] = entry,
                        None => s.names.push(entry),
                    }
                    Response::text(200, "")
                }
                _ => fail(405, "METHOD_NOT_ALLOWED", "method not allowed"),
            }
        }
        _ => fail(404, "NOT_FOUND", "not found"),
    }
}
