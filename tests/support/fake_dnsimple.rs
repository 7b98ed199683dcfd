//! A fake DNSimple API v2 on loopback, from DNSimple's API reference:
//! `Authorization: Bearer <token>`, `GET whoami` (an account token's
//! account, or `null` for a user token, whose `GET accounts` lists them),
//! `GET <account>/zones/<zone>`, records listed (`name`, `type` filters),
//! created (201, `{"data": {...}}`) and deleted by id (204); errors as
//! `{"message": ...}`. Keeps every request.
//!
//! Include next to `fake_http.rs`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::fake_http::{self, Request, Response};

/// A record the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsRecord {
    /// Numeric id.
    pub id: u64,
    /// Account id.
    pub account: u64,
    /// Zone name.
    pub zone: String,
    /// Name relative to the zone (empty for the apex).
    pub name: String,
    /// Type.
    pub kind: String,
    /// Content.
    pub content: String,
    /// TTL.
    pub ttl: u64,
}

#[derive(Debug, Default)]
struct State {
    records: Vec<DsRecord>,
    next: u64,
    log: Vec<(String, String)>,
}

/// A running fake.
pub struct FakeDnsimple {
    /// Serves the fake's TXT records through challtestsrv once told where.
    pub publisher: Arc<fake_http::Publisher>,
    /// Base URL for `dns_dnsimple_endpoint`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

fn fail(status: u16, message: &str) -> Response {
    Response::json(status, &json!({ "message": message }))
}

impl FakeDnsimple {
    /// Starts the fake: `token` is valid; `account_token` says whether
    /// `whoami` names the account (else it is a user token); `zones` are
    /// (account id, zone).
    pub async fn start(token: &str, account_token: bool, zones: &[(u64, &str)]) -> FakeDnsimple {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let token = token.to_owned();
        let zones: Vec<(u64, String)> = zones.iter().map(|(a, z)| (*a, z.to_string())).collect();
        let publisher = Arc::new(fake_http::Publisher::default());
        let pubr = publisher.clone();
        let addr = fake_http::serve(move |req| {
            let publisher = pubr.clone();
            let (st, token, zones) = (st.clone(), token.clone(), zones.clone());
            async move {
                let resp = handle(&st, &token, account_token, &zones, req);
                let txt = {
                    let s = st.lock().unwrap();
                    s.records
                        .iter()
                        .filter(|r| r.kind == "TXT")
                        .map(|r| (fake_http::absolute(&r.name, &r.zone), r.content.clone()))
                        .collect()
                };
                publisher.sync(txt).await;
                resp
            }
        })
        .await;
        FakeDnsimple {
            publisher,
            endpoint: format!("http://{addr}/v2"),
            state,
        }
    }

    /// Records held now.
    pub fn records(&self) -> Vec<DsRecord> {
        self.state.lock().unwrap().records.clone()
    }

    /// Every request, as (method, path below `/v2/` with query).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().log.clone()
    }

    /// Forgets the requests so far.
    pub fn clear_requests(&self) {
        self.state.lock().unwrap().log.clear();
    }

    /// Adds a TXT record as if made elsewhere.
    pub fn seed(&self, account: u64, zone: &str, name: &str, content: &str) -> u64 {
        let mut s = self.state.lock().unwrap();
        s.next += 1;
        let id = 1_000 + s.next;
        s.records.push(DsRecord {
            id,
            account,
            zone: zone.into(),
            name: name.into(),
            kind: "TXT".into(),
            content: content.into(),
            ttl: 3600,
        });
        id
    }
}

fn json_record(r: &DsRecord) -> Value {
    json!({"id": r.id, "zone_id": r.zone, "name": r.name, "type": r.kind, "content": r.content, "ttl": r.ttl})
}

fn handle(
    st: &Mutex<State>,
    token: &str,
    account_token: bool,
    zones: &[(u64, String)],
    req: Request,
) -> Response {
    let path = req.path.trim_start_matches("/v2/").to_owned();
    let logged = if req.raw_query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{}", req.raw_query)
    };
    st.lock().unwrap().log.push((req.method.clone(), logged));
    if req.header("authorization") != Some(&format!("Bearer {token}")) {
        return fail(401, "Authentication failed");
    }
    let mut accounts: Vec<u64> = zones.iter().map(|(a, _)| *a).collect();
    accounts.sort();
    accounts.dedup();
    let parts: Vec<&str> = path.split('/').collect();
    let known = |a: &str, z: &str| zones.iter().any(|(x, y)| x.to_string() == a && y == z);
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["whoami"]) => {
            let account = if account_token {
                json!({"id": accounts[0], "email": "owner@example.test"})
            } else {
                Value::Null
            };
            Response::json(
                200,
                &json!({"data": {"user": {"id": 7}, "account": account}}),
            )
        }
        ("GET", ["accounts"]) => Response::json(
            200,
            &json!({"data": accounts.iter().map(|a| json!({"id": a})).collect::<Vec<_>>()}),
        ),
        (_, [a, "zones", z, ..]) if !known(a, z) => fail(404, &format!("Zone `{z}` not found")),
        ("GET", [_a, "zones", z]) => Response::json(200, &json!({"data": {"name": z}})),
        ("GET", [a, "zones", z, "records"]) => {
            let data: Vec<Value> = st
                .lock()
                .unwrap()
                .records
                .iter()
                .filter(|r| {
                    r.account.to_string() == *a
                        && r.zone == *z
                        && req.param("name").is_none_or(|n| n == r.name)
                        && req.param("type").is_none_or(|t| t == r.kind)
                })
                .map(json_record)
                .collect();
            Response::json(
                200,
                &json!({"data": data, "pagination": {"current_page": 1, "total_pages": 1}}),
            )
        }
        ("POST", [a, "zones", z, "records"]) => {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let mut s = st.lock().unwrap();
            s.next += 1;
            let rec = DsRecord {
                id: 1_000 + s.next,
                account: a.parse().unwrap(),
                zone: z.to_string(),
                name: body["name"].as_str().unwrap_or_default().into(),
                kind: body["type"].as_str().unwrap_or_default().into(),
                content: body["content"].as_str().unwrap_or_default().into(),
                ttl: body["ttl"].as_u64().unwrap_or(3600),
            };
            s.records.push(rec.clone());
            Response::json(201, &json!({ "data": json_record(&rec) }))
        }
        ("DELETE", [a, "zones", z, "records", id]) => {
            let mut s = st.lock().unwrap();
            match s.records.iter().position(|r| {
                r.account.to_string() == *a && r.zone == *z && r.id.to_string() == *id
            }) {
                Some(i) => {
                    s.records.remove(i);
                    Response::text(204, "")
                }
                None => fail(404, "Record not found"),
            }
        }
        _ => fail(404, "not found"),
    }
}
