//! A fake DigitalOcean API v2 on loopback: `account`, `domains/<name>`,
//! TXT records created, listed and deleted by numeric id, with
//! DigitalOcean's error shape (`{"id": "...", "message": "..."}`).
//!
//! Include next to `fake_http.rs`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::fake_http::{self, Request, Response};

/// A record the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoRecord {
    /// Numeric id.
    pub id: u64,
    /// The domain (zone).
    pub domain: String,
    /// Name relative to the domain (`@` for the apex).
    pub name: String,
    /// TXT data.
    pub data: String,
    /// TTL.
    pub ttl: u64,
}

#[derive(Debug, Default)]
struct State {
    records: Vec<DoRecord>,
    next: u64,
}

/// A running fake.
pub struct FakeDigitalOcean {
    /// Base URL for `dns_digitalocean_endpoint`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

fn fail(status: u16, id: &str, message: &str) -> Response {
    Response::json(status, &json!({"id": id, "message": message}))
}

impl FakeDigitalOcean {
    /// Starts the fake: `token` is valid, `domains` are the account's.
    pub async fn start(token: &str, domains: &[&str]) -> FakeDigitalOcean {
        Self::start_publishing(token, domains, None).await
    }

    /// [`FakeDigitalOcean::start`], also serving its TXT records through
    /// the challtestsrv whose management address is `challtest`.
    pub async fn start_publishing(
        token: &str,
        domains: &[&str],
        challtest: Option<std::net::SocketAddr>,
    ) -> FakeDigitalOcean {
        let state = Arc::new(Mutex::new(State::default()));
        let (st, st2) = (state.clone(), state.clone());
        let token = token.to_owned();
        let domains: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
        let addr = fake_http::serve_publishing(
            challtest,
            move |req| handle(&st, &token, &domains, req),
            move || {
                let s = st2.lock().unwrap();
                s.records
                    .iter()
                    .map(|r| (fake_http::absolute(&r.name, &r.domain), r.data.clone()))
                    .collect()
            },
        )
        .await;
        FakeDigitalOcean {
            endpoint: format!("http://{addr}/v2/"),
            state,
        }
    }

    /// Records held now.
    pub fn records(&self) -> Vec<DoRecord> {
        self.state.lock().unwrap().records.clone()
    }
}

fn handle(st: &Mutex<State>, token: &str, domains: &[String], req: Request) -> Response {
    if req.header("authorization") != Some(&format!("Bearer {token}")) {
        return fail(401, "unauthorized", "Unable to authenticate you");
    }
    let path = req.path.trim_start_matches("/v2/").to_owned();
    let parts: Vec<&str> = path.split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["account"]) => Response::json(
            200,
            &json!({"account": {"email": "me@example.test", "status": "active"}}),
        ),
        (_, ["domains", domain, ..]) if !domains.iter().any(|d| d == domain) => fail(
            404,
            "not_found",
            "The resource you were accessing could not be found.",
        ),
        ("GET", ["domains", domain]) => {
            Response::json(200, &json!({"domain": {"name": domain, "ttl": 1800}}))
        }
        ("POST", ["domains", domain, "records"]) => {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            if body["type"] != "TXT" || body["name"].as_str().unwrap_or("").ends_with(domain) {
                return fail(
                    422,
                    "unprocessable_entity",
                    "Name must be relative to the domain",
                );
            }
            let mut s = st.lock().unwrap();
            s.next += 1;
            let rec = DoRecord {
                id: 3_000_000_000 + s.next,
                domain: (*domain).to_owned(),
                name: body["name"].as_str().unwrap_or_default().to_owned(),
                data: body["data"].as_str().unwrap_or_default().to_owned(),
                ttl: body["ttl"].as_u64().unwrap_or(1800),
            };
            s.records.push(rec.clone());
            Response::json(
                201,
                &json!({"domain_record": {"id": rec.id, "type": "TXT", "name": rec.name, "data": rec.data, "ttl": rec.ttl}}),
            )
        }
        ("GET", ["domains", domain, "records"]) => {
            // DigitalOcean filters by the full name.
            let name = req.param("name").unwrap_or_default().to_owned();
            let recs: Vec<Value> = st
                .lock()
                .unwrap()
                .records
                .iter()
                .filter(|r| r.domain == *domain && format!("{}.{}", r.name, r.domain) == name)
                .map(|r| json!({"id": r.id, "type": "TXT", "name": r.name, "data": r.data}))
                .collect();
            Response::json(200, &json!({"domain_records": recs}))
        }
        ("DELETE", ["domains", _domain, "records", id]) => {
            let mut s = st.lock().unwrap();
            match s.records.iter().position(|r| r.id.to_string() == *id) {
                Some(i) => {
                    s.records.remove(i);
                    Response::text(204, "")
                }
                None => fail(
                    404,
                    "not_found",
                    "The resource you were accessing could not be found.",
                ),
            }
        }
        _ => fail(404, "not_found", "no route"),
    }
}
