//! A fake Porkbun API v3 on loopback: every call a POST whose JSON body
//! carries `apikey` and `secretapikey`; `ping`, `dns/retrieve/<domain>`,
//! `dns/create/<domain>`, `dns/delete/<domain>/<id>`, with Porkbun's answer
//! shape (`{"status": "SUCCESS" | "ERROR", ...}`, errors as HTTP 400). Keeps
//! every request it received.
//!
//! Include next to `fake_http.rs`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::fake_http::{self, Request, Response};

/// A record the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbRecord {
    /// Id (Porkbun sends it as a string).
    pub id: String,
    /// The domain.
    pub domain: String,
    /// The full name (`_acme-challenge.sub.example.test`).
    pub name: String,
    /// Record type.
    pub kind: String,
    /// Content.
    pub content: String,
    /// TTL as sent.
    pub ttl: String,
}

#[derive(Debug, Default)]
struct State {
    records: Vec<PbRecord>,
    next: u64,
    log: Vec<(String, String)>,
}

/// A running fake.
pub struct FakePorkbun {
    /// Base URL for `dns_porkbun_endpoint`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

fn fail(message: &str) -> Response {
    Response::json(400, &json!({"status": "ERROR", "message": message}))
}

impl FakePorkbun {
    /// Starts the fake: `key`/`secret` are valid, `domains` are the account's.
    pub async fn start(key: &str, secret: &str, domains: &[&str]) -> FakePorkbun {
        Self::start_publishing(key, secret, domains, None).await
    }

    /// [`FakePorkbun::start`], also serving its TXT records through the
    /// challtestsrv whose management address is `challtest`.
    pub async fn start_publishing(
        key: &str,
        secret: &str,
        domains: &[&str],
        challtest: Option<std::net::SocketAddr>,
    ) -> FakePorkbun {
        let state = Arc::new(Mutex::new(State::default()));
        let (st, st2) = (state.clone(), state.clone());
        let creds = (key.to_owned(), secret.to_owned());
        let domains: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
        let addr = fake_http::serve_publishing(
            challtest,
            move |req| handle(&st, &creds, &domains, req),
            move || {
                let s = st2.lock().unwrap();
                s.records
                    .iter()
                    .filter(|r| r.kind == "TXT")
                    .map(|r| (fake_http::absolute(&r.name, &r.domain), r.content.clone()))
                    .collect()
            },
        )
        .await;
        FakePorkbun {
            endpoint: format!("http://{addr}/api/json/v3"),
            state,
        }
    }

    /// Records held now.
    pub fn records(&self) -> Vec<PbRecord> {
        self.state.lock().unwrap().records.clone()
    }

    /// Every request received, as (method, path below `/api/json/v3/`).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().log.clone()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        self.state.lock().unwrap().log.clear();
    }

    /// Adds a record as if made elsewhere (the owner's own TXT records).
    pub fn seed(&self, domain: &str, name: &str, content: &str) -> String {
        let mut s = self.state.lock().unwrap();
        s.next += 1;
        let id = (400_000_000 + s.next).to_string();
        s.records.push(PbRecord {
            id: id.clone(),
            domain: domain.to_owned(),
            name: name.to_owned(),
            kind: "TXT".to_owned(),
            content: content.to_owned(),
            ttl: "600".to_owned(),
        });
        id
    }
}

fn handle(
    st: &Mutex<State>,
    creds: &(String, String),
    domains: &[String],
    req: Request,
) -> Response {
    let path = req.path.trim_start_matches("/api/json/v3/").to_owned();
    st.lock()
        .unwrap()
        .log
        .push((req.method.clone(), path.clone()));
    if req.method != "POST" {
        return Response::text(405, "Method Not Allowed");
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    if body["apikey"].as_str() != Some(creds.0.as_str())
        || body["secretapikey"].as_str() != Some(creds.1.as_str())
    {
        return fail("Invalid API key. (002)");
    }
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["ping"] => Response::json(200, &json!({"status": "SUCCESS", "yourIp": "127.0.0.1"})),
        ["dns", _, domain, ..] if !domains.iter().any(|d| d == domain) => fail("Invalid domain."),
        ["dns", "retrieve", domain] => {
            let recs: Vec<Value> = st
                .lock()
                .unwrap()
                .records
                .iter()
                .filter(|r| r.domain == *domain)
                .map(|r| {
                    json!({"id": r.id, "name": r.name, "type": r.kind, "content": r.content, "ttl": r.ttl, "prio": "0", "notes": ""})
                })
                .collect();
            Response::json(200, &json!({"status": "SUCCESS", "records": recs}))
        }
        ["dns", "create", domain] => {
            let name = body["name"].as_str().unwrap_or_default();
            if name.ends_with(domain) {
                return fail("Name must be the subdomain only.");
            }
            let mut s = st.lock().unwrap();
            s.next += 1;
            let rec = PbRecord {
                id: (400_000_000 + s.next).to_string(),
                domain: (*domain).to_owned(),
                name: if name.is_empty() {
                    (*domain).to_owned()
                } else {
                    format!("{name}.{domain}")
                },
                kind: body["type"].as_str().unwrap_or_default().to_owned(),
                content: body["content"].as_str().unwrap_or_default().to_owned(),
                ttl: body["ttl"].as_str().unwrap_or("600").to_owned(),
            };
            s.records.push(rec.clone());
            // Porkbun answers the new id as a number.
            Response::json(
                200,
                &json!({"status": "SUCCESS", "id": rec.id.parse::<u64>().unwrap()}),
            )
        }
        ["dns", "delete", _domain, id] => {
            let mut s = st.lock().unwrap();
            match s.records.iter().position(|r| r.id == *id) {
                Some(i) => {
                    s.records.remove(i);
                    Response::json(200, &json!({"status": "SUCCESS"}))
                }
                None => fail("Invalid record ID."),
            }
        }
        _ => fail("Invalid command."),
    }
}
