//! A fake Hetzner DNS Console API on loopback: zones by name (404 when
//! there is none, as the real API answers), TXT records created, listed by
//! zone and deleted by id, authenticated by `Auth-API-Token`.
//!
//! Include next to `fake_http.rs`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::fake_http::{self, Request, Response};

/// A record the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HzRecord {
    /// Record id.
    pub id: String,
    /// Zone id.
    pub zone_id: String,
    /// Name relative to the zone.
    pub name: String,
    /// TXT value.
    pub value: String,
    /// TTL.
    pub ttl: u64,
}

#[derive(Debug, Default)]
struct State {
    records: Vec<HzRecord>,
    next: u64,
}

/// A running fake.
pub struct FakeHetzner {
    /// Base URL for `dns_hetzner_endpoint`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

fn fail(status: u16, message: &str) -> Response {
    Response::json(
        status,
        &json!({"error": {"message": message, "code": status}}),
    )
}

impl FakeHetzner {
    /// Starts the fake: `token` is valid, `zones` are (id, name).
    pub async fn start(token: &str, zones: &[(&str, &str)]) -> FakeHetzner {
        Self::start_publishing(token, zones, None).await
    }

    /// [`FakeHetzner::start`], also serving its TXT records through the
    /// challtestsrv whose management address is `challtest`.
    pub async fn start_publishing(
        token: &str,
        zones: &[(&str, &str)],
        challtest: Option<std::net::SocketAddr>,
    ) -> FakeHetzner {
        let state = Arc::new(Mutex::new(State::default()));
        let (st, st2) = (state.clone(), state.clone());
        let token = token.to_owned();
        let zones: Vec<(String, String)> = zones
            .iter()
            .map(|(i, n)| (i.to_string(), n.to_string()))
            .collect();
        let names = zones.clone();
        let addr = fake_http::serve_publishing(
            challtest,
            move |req| handle(&st, &token, &zones, req),
            move || {
                let s = st2.lock().unwrap();
                s.records
                    .iter()
                    .filter_map(|r| {
                        let zone = &names.iter().find(|(id, _)| *id == r.zone_id)?.1;
                        Some((
                            fake_http::absolute(&r.name, zone),
                            r.value.trim_matches('"').to_owned(),
                        ))
                    })
                    .collect()
            },
        )
        .await;
        FakeHetzner {
            endpoint: format!("http://{addr}/api/v1/"),
            state,
        }
    }

    /// Records held now.
    pub fn records(&self) -> Vec<HzRecord> {
        self.state.lock().unwrap().records.clone()
    }
}

fn handle(st: &Mutex<State>, token: &str, zones: &[(String, String)], req: Request) -> Response {
    if req.header("auth-api-token") != Some(token) {
        return Response::json(
            401,
            &json!({"message": "Invalid authentication credentials"}),
        );
    }
    let path = req.path.trim_start_matches("/api/v1/").to_owned();
    let parts: Vec<&str> = path.split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["zones"]) => {
            let listed: Vec<Value> = zones
                .iter()
                .filter(|(_, n)| req.param("name").is_none_or(|want| want == n))
                .map(|(id, n)| json!({"id": id, "name": n}))
                .collect();
            if listed.is_empty() {
                return fail(404, "zone not found");
            }
            let total = listed.len();
            Response::json(
                200,
                &json!({"zones": listed, "meta": {"pagination": {"total_entries": total}}}),
            )
        }
        ("POST", ["records"]) => {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let zone_id = body["zone_id"].as_str().unwrap_or_default().to_owned();
            if !zones.iter().any(|(id, _)| *id == zone_id) || body["type"] != "TXT" {
                return fail(422, "invalid zone or type");
            }
            let mut s = st.lock().unwrap();
            s.next += 1;
            let rec = HzRecord {
                id: format!("rec-{}", s.next),
                zone_id,
                name: body["name"].as_str().unwrap_or_default().to_owned(),
                value: body["value"].as_str().unwrap_or_default().to_owned(),
                ttl: body["ttl"].as_u64().unwrap_or(86400),
            };
            s.records.push(rec.clone());
            Response::json(
                200,
                &json!({"record": {"id": rec.id, "zone_id": rec.zone_id, "type": "TXT", "name": rec.name, "value": rec.value, "ttl": rec.ttl}}),
            )
        }
        ("GET", ["records"]) => {
            let zone_id = req.param("zone_id").unwrap_or_default();
            let recs: Vec<Value> = st
                .lock()
                .unwrap()
                .records
                .iter()
                .filter(|r| r.zone_id == zone_id)
                .map(|r| json!({"id": r.id, "type": "TXT", "name": r.name, "value": r.value}))
                .collect();
            Response::json(200, &json!({"records": recs}))
        }
        ("DELETE", ["records", id]) => {
            let mut s = st.lock().unwrap();
            match s.records.iter().position(|r| r.id == *id) {
                Some(i) => {
                    s.records.remove(i);
                    Response::json(200, &json!({}))
                }
                None => fail(404, "record not found"),
            }
        }
        _ => fail(404, "no route"),
    }
}
