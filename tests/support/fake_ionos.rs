//! A fake IONOS Hosting DNS API v1 on loopback, from IONOS's API reference:
//! `X-API-Key: <prefix>.<secret>`, `GET zones`, `GET zones/<id>` (with
//! `recordName` and `recordType` filters, answering the zone and its
//! `records`), records created as a list (`POST zones/<id>/records`,
//! answered with the created records) and deleted by id; errors as a list
//! of `{"code", "message"}`. Keeps every request.
//!
//! Include next to `fake_http.rs`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::fake_http::{self, Request, Response};

/// A record the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoRecord {
    /// Id (a UUID at IONOS).
    pub id: String,
    /// Zone id.
    pub zone_id: String,
    /// Full name.
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
    records: Vec<IoRecord>,
    next: u64,
    log: Vec<(String, String)>,
}

/// A running fake.
pub struct FakeIonos {
    /// Serves the fake's TXT records through challtestsrv once told where.
    pub publisher: Arc<fake_http::Publisher>,
    /// Host URL for `dns_ionos_endpoint` (the API is under `/dns/v1/`).
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

fn fail(status: u16, code: &str, message: &str) -> Response {
    Response::json(status, &json!([{"code": code, "message": message}]))
}

impl FakeIonos {
    /// Starts the fake: `api_key` (`prefix.secret`) is valid; `zones` are (id, name).
    pub async fn start(api_key: &str, zones: &[(&str, &str)]) -> FakeIonos {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let key = api_key.to_owned();
        let zones: Vec<(String, String)> = zones
            .iter()
            .map(|(i, n)| (i.to_string(), n.to_string()))
            .collect();
        let publisher = Arc::new(fake_http::Publisher::default());
        let pubr = publisher.clone();
        let addr = fake_http::serve(move |req| {
            let publisher = pubr.clone();
            let (st, key, zones) = (st.clone(), key.clone(), zones.clone());
            async move {
                let resp = handle(&st, &key, &zones, req);
                let txt = {
                    let s = st.lock().unwrap();
                    s.records
                        .iter()
                        .filter(|r| r.kind == "TXT")
                        .map(|r| {
                            (
                                format!("{}.", r.name),
                                r.content.trim_matches('"').to_owned(),
                            )
                        })
                        .collect()
                };
                publisher.sync(txt).await;
                resp
            }
        })
        .await;
        FakeIonos {
            publisher,
            endpoint: format!("http://{addr}"),
            state,
        }
    }

    /// Records held now.
    pub fn records(&self) -> Vec<IoRecord> {
        self.state.lock().unwrap().records.clone()
    }

    /// Every request, as (method, path below `/dns/v1/` with query).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().log.clone()
    }

    /// Forgets the requests so far.
    pub fn clear_requests(&self) {
        self.state.lock().unwrap().log.clear();
    }

    /// Adds a TXT record as if made elsewhere.
    pub fn seed(&self, zone_id: &str, name: &str, content: &str) -> String {
        let mut s = self.state.lock().unwrap();
        s.next += 1;
        let id = format!("22af3414-abbe-9e11-5df5-{:012}", s.next);
        s.records.push(IoRecord {
            id: id.clone(),
            zone_id: zone_id.into(),
            name: name.into(),
            kind: "TXT".into(),
            content: content.into(),
            ttl: 3600,
        });
        id
    }
}

fn json_record(r: &IoRecord) -> Value {
    json!({"id": r.id, "name": r.name, "rootName": "", "type": r.kind, "content": format!("\"{}\"", r.content), "ttl": r.ttl, "prio": 0, "disabled": false})
}

fn handle(st: &Mutex<State>, key: &str, zones: &[(String, String)], req: Request) -> Response {
    let path = req.path.trim_start_matches("/dns/v1/").to_owned();
    let logged = if req.raw_query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{}", req.raw_query)
    };
    st.lock().unwrap().log.push((req.method.clone(), logged));
    if req.header("x-api-key") != Some(key) {
        return fail(
            401,
            "UNAUTHORIZED",
            "The customer is not authorized to do this operation.",
        );
    }
    let parts: Vec<&str> = path.split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["zones"]) => Response::json(
            200,
            &Value::Array(
                zones
                    .iter()
                    .map(|(i, n)| json!({"id": i, "name": n, "type": "NATIVE"}))
                    .collect(),
            ),
        ),
        (_, ["zones", z, ..]) if !zones.iter().any(|(i, _)| i == z) => {
            fail(404, "NOT_FOUND", "Zone not found")
        }
        ("GET", ["zones", z]) => {
            let records: Vec<Value> = st
                .lock()
                .unwrap()
                .records
                .iter()
                .filter(|r| {
                    r.zone_id == *z
                        && req.param("recordName").is_none_or(|n| n == r.name)
                        && req.param("recordType").is_none_or(|t| t == r.kind)
                })
                .map(json_record)
                .collect();
            Response::json(200, &json!({"id": z, "records": records}))
        }
        ("POST", ["zones", z, "records"]) => {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let mut s = st.lock().unwrap();
            let mut out = Vec::new();
            for item in body.as_array().into_iter().flatten() {
                s.next += 1;
                let rec = IoRecord {
                    id: format!("22af3414-abbe-9e11-5df5-{:012}", s.next),
                    zone_id: z.to_string(),
                    name: item["name"].as_str().unwrap_or_default().into(),
                    kind: item["type"].as_str().unwrap_or_default().into(),
                    content: item["content"].as_str().unwrap_or_default().into(),
                    ttl: item["ttl"].as_u64().unwrap_or(3600),
                };
                out.push(json_record(&rec));
                s.records.push(rec);
            }
            Response::json(201, &Value::Array(out))
        }
        ("DELETE", ["zones", z, "records", id]) => {
            let mut s = st.lock().unwrap();
            match s
                .records
                .iter()
                .position(|r| r.zone_id == *z && r.id == *id)
            {
                Some(i) => {
                    s.records.remove(i);
                    Response::text(200, "")
                }
                None => fail(404, "NOT_FOUND", "Record not found"),
            }
        }
        _ => fail(404, "NOT_FOUND", "not found"),
    }
}
