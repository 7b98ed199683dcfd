//! A fake Cloudflare API v4 on loopback: token verify, `user`, zones by name,
//! TXT records created, listed and deleted by id, with Cloudflare's envelope
//! (`success`, `errors[{code,message}]`, `result`) and error codes.
//!
//! Include next to `fake_http.rs`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::fake_http::{self, Request, Response};

/// A record the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfRecord {
    /// Record id.
    pub id: String,
    /// Zone id.
    pub zone_id: String,
    /// Full name.
    pub name: String,
    /// TXT content.
    pub content: String,
    /// TTL.
    pub ttl: u64,
}

#[derive(Debug, Default)]
struct State {
    records: Vec<CfRecord>,
    next: u64,
    calls: Vec<String>,
}

/// The fake's account.
#[derive(Debug, Clone)]
pub struct CfAccount {
    /// A valid API token.
    pub token: String,
    /// A valid email + Global API Key.
    pub email: String,
    /// The Global API Key.
    pub key: String,
    /// Zones: (id, name).
    pub zones: Vec<(String, String)>,
}

impl Default for CfAccount {
    fn default() -> Self {
        CfAccount {
            token: "cf-token-abcdefghijklmnopqrstuvwxyz0123456".into(),
            email: "admin@example.test".into(),
            key: "cf-global-key-0123456789".into(),
            zones: vec![("zone-123".into(), "example.test".into())],
        }
    }
}

/// A running fake.
pub struct FakeCloudflare {
    /// Base URL to put in `dns_cloudflare_endpoint`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

fn fail(status: u16, code: i64, message: &str) -> Response {
    Response::json(
        status,
        &json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null}),
    )
}

fn ok(result: Value) -> Response {
    Response::json(
        200,
        &json!({"success": true, "errors": [], "messages": [], "result": result}),
    )
}

impl FakeCloudflare {
    /// Starts the fake for `account`.
    pub async fn start(account: CfAccount) -> FakeCloudflare {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let addr = fake_http::serve(move |req| {
            let (st, acc) = (st.clone(), account.clone());
            async move { handle(&st, &acc, req) }
        })
        .await;
        FakeCloudflare {
            endpoint: format!("http://{addr}/client/v4/"),
            state,
        }
    }

    /// Records held now.
    pub fn records(&self) -> Vec<CfRecord> {
        self.state.lock().unwrap().records.clone()
    }

    /// `METHOD path` of every authenticated call.
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }
}

fn handle(st: &Mutex<State>, acc: &CfAccount, req: Request) -> Response {
    let token_ok = req.header("authorization") == Some(&format!("Bearer {}", acc.token));
    let key_ok = req.header("x-auth-email") == Some(acc.email.as_str())
        && req.header("x-auth-key") == Some(acc.key.as_str());
    let path = req.path.trim_start_matches("/client/v4/").to_owned();
    if path == "user/tokens/verify" {
        return if token_ok {
            ok(json!({"id": "tok-1", "status": "active"}))
        } else {
            fail(401, 1000, "Invalid API Token")
        };
    }
    if !token_ok && !key_ok {
        return if req.header("authorization").is_some() {
            fail(403, 9109, "Invalid access token")
        } else {
            fail(403, 9103, "Unknown X-Auth-Key or X-Auth-Email")
        };
    }
    st.lock()
        .unwrap()
        .calls
        .push(format!("{} {path}", req.method));
    let parts: Vec<&str> = path.split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["user"]) => ok(json!({"id": "user-1", "email": acc.email})),
        ("GET", ["zones"]) => {
            let name = req.param("name").unwrap_or_default();
            let zones: Vec<Value> = acc
                .zones
                .iter()
                .filter(|(_, n)| n == name)
                .map(|(id, n)| json!({"id": id, "name": n, "status": "active"}))
                .collect();
            ok(json!(zones))
        }
        (_, ["zones", zone, ..]) if !acc.zones.iter().any(|(id, _)| id == zone) => fail(
            404,
            7003,
            "Could not route to /zones/..., perhaps your object identifier is invalid?",
        ),
        ("POST", ["zones", zone, "dns_records"]) => {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            if body["type"] != "TXT" {
                return fail(400, 1004, "DNS Validation Error");
            }
            let (name, content) = (
                body["name"].as_str().unwrap_or_default().to_owned(),
                body["content"].as_str().unwrap_or_default().to_owned(),
            );
            let mut s = st.lock().unwrap();
            if s.records
                .iter()
                .any(|r| r.name == name && r.content == content)
            {
                return fail(400, 81058, "An identical record already exists.");
            }
            s.next += 1;
            let rec = CfRecord {
                id: format!("rec{:030}", s.next),
                zone_id: (*zone).to_owned(),
                name,
                content,
                ttl: body["ttl"].as_u64().unwrap_or(1),
            };
            s.records.push(rec.clone());
            ok(
                json!({"id": rec.id, "type": "TXT", "name": rec.name, "content": rec.content, "ttl": rec.ttl}),
            )
        }
        ("GET", ["zones", zone, "dns_records"]) => {
            let name = req.param("name").unwrap_or_default();
            let recs: Vec<Value> = st
                .lock()
                .unwrap()
                .records
                .iter()
                .filter(|r| r.zone_id == *zone && r.name == name)
                .map(|r| json!({"id": r.id, "type": "TXT", "name": r.name, "content": r.content, "ttl": r.ttl}))
                .collect();
            ok(json!(recs))
        }
        ("DELETE", ["zones", _zone, "dns_records", id]) => {
            let mut s = st.lock().unwrap();
            match s.records.iter().position(|r| r.id == *id) {
                Some(i) => {
                    s.records.remove(i);
                    ok(json!({"id": id}))
                }
                None => fail(404, 81044, "Record does not exist."),
            }
        }
        _ => fail(400, 7000, "No route for that URI"),
    }
}
