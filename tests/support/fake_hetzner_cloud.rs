//! A fake Hetzner Cloud API (DNS zones and rrsets) on loopback, from
//! Hetzner's API reference: `Authorization: Bearer <token>`, `GET zones`,
//! `GET zones/<name>`, and per rrset (`zones/<zone>/rrsets/<name>/<type>`)
//! the actions `add_records` (creating the rrset, adding values) and
//! `remove_records` (removing exactly those values; the rrset goes with its
//! last), each answered with a running action that `GET actions/<id>`
//! reports as success on the next look; errors as
//! `{"error": {"code", "message"}}`. Keeps every request.
//!
//! Include next to `fake_http.rs`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::fake_http::{self, Request, Response};

/// An rrset the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HcSet {
    /// Zone name.
    pub zone: String,
    /// Name relative to the zone (`@` for the apex).
    pub name: String,
    /// Type.
    pub kind: String,
    /// TTL.
    pub ttl: u64,
    /// Values as sent (TXT quoted).
    pub values: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    sets: Vec<HcSet>,
    actions: HashMap<u64, u32>,
    next: u64,
    log: Vec<(String, String)>,
}

/// A running fake.
pub struct FakeHetznerCloud {
    /// Serves the fake's TXT records through challtestsrv once told where.
    pub publisher: Arc<fake_http::Publisher>,
    /// Base URL for `dns_hetzner_cloud_endpoint`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

fn fail(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

fn action(id: u64, command: &str, status: &str) -> Value {
    json!({"action": {"id": id, "command": command, "status": status, "progress": 0, "error": null}})
}

impl FakeHetznerCloud {
    /// Starts the fake: `token` is valid, `zones` are the project's.
    pub async fn start(token: &str, zones: &[&str]) -> FakeHetznerCloud {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let token = token.to_owned();
        let zones: Vec<String> = zones.iter().map(|z| z.to_string()).collect();
        let publisher = Arc::new(fake_http::Publisher::default());
        let pubr = publisher.clone();
        let addr = fake_http::serve(move |req| {
            let publisher = pubr.clone();
            let (st, token, zones) = (st.clone(), token.clone(), zones.clone());
            async move {
                let resp = handle(&st, &token, &zones, req);
                let txt = {
                    let s = st.lock().unwrap();
                    s.sets
                        .iter()
                        .filter(|x| x.kind == "TXT")
                        .flat_map(|x| {
                            x.values.iter().map(move |v| {
                                (
                                    fake_http::absolute(&x.name, &x.zone),
                                    v.trim_matches('"').to_owned(),
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
        FakeHetznerCloud {
            publisher,
            endpoint: format!("http://{addr}/v1"),
            state,
        }
    }

    /// Rrsets held now.
    pub fn sets(&self) -> Vec<HcSet> {
        self.state.lock().unwrap().sets.clone()
    }

    /// Every request, as (method, path below `/v1/` with query).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().log.clone()
    }

    /// Forgets the requests so far.
    pub fn clear_requests(&self) {
        self.state.lock().unwrap().log.clear();
    }

    /// Adds an rrset as if made elsewhere.
    pub fn seed(&self, zone: &str, name: &str, values: &[&str]) {
        self.state.lock().unwrap().sets.push(HcSet {
            zone: zone.into(),
            name: name.into(),
            kind: "TXT".into(),
            ttl: 3600,
            values: values.iter().map(|v| v.to_string()).collect(),
        });
    }
}

fn handle(st: &Mutex<State>, token: &str, zones: &[String], req: Request) -> Response {
    let path = req.path.trim_start_matches("/v1/").to_owned();
    let logged = if req.raw_query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{}", req.raw_query)
    };
    st.lock().unwrap().log.push((req.method.clone(), logged));
    if req.header("authorization") != Some(&format!("Bearer {token}")) {
        return fail(401, "unauthorized", "unable to authenticate");
    }
    let parts: Vec<&str> = path.split('/').collect();
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let values: Vec<String> = body["records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["value"].as_str().map(str::to_owned))
        .collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["zones"]) => Response::json(
            200,
            &json!({"zones": zones.iter().enumerate().map(|(i, z)| json!({"id": i + 1, "name": z})).collect::<Vec<_>>()}),
        ),
        ("GET", ["actions", id]) => {
            let mut s = st.lock().unwrap();
            let id: u64 = id.parse().unwrap_or(0);
            match s.actions.get_mut(&id) {
                Some(n) => {
                    *n += 1;
                    Response::json(200, &action(id, "rrset", "success"))
                }
                None => fail(404, "not_found", "action not found"),
            }
        }
        (_, ["zones", z, ..]) if !zones.iter().any(|x| x == z) => {
            fail(404, "not_found", "zone not found")
        }
        ("GET", ["zones", z]) => Response::json(200, &json!({"zone": {"id": 1, "name": z}})),
        ("POST", ["zones", z, "rrsets", name, kind, "actions", command]) => {
            if values.iter().any(|v| !v.starts_with('"')) {
                return fail(422, "invalid_input", "TXT values must be quoted");
            }
            let mut s = st.lock().unwrap();
            let at = s
                .sets
                .iter()
                .position(|x| x.zone == *z && x.name == *name && x.kind == *kind);
            match (*command, at) {
                ("add_records", Some(i)) => {
                    for v in values {
                        if !s.sets[i].values.contains(&v) {
                            s.sets[i].values.push(v);
                        }
                    }
                }
                ("add_records", None) => {
                    let set = HcSet {
                        zone: z.to_string(),
                        name: name.to_string(),
                        kind: kind.to_string(),
                        ttl: body["ttl"].as_u64().unwrap_or(3600),
                        values,
                    };
                    s.sets.push(set);
                }
                ("remove_records", Some(i)) => {
                    s.sets[i].values.retain(|v| !values.contains(v));
                    if s.sets[i].values.is_empty() {
                        s.sets.remove(i);
                    }
                }
                ("remove_records", None) => return fail(404, "not_found", "rrset not found"),
                _ => return fail(404, "not_found", "unknown action"),
            }
            s.next += 1;
            let id = s.next;
            s.actions.insert(id, 0);
            Response::json(201, &action(id, command, "running"))
        }
        _ => fail(404, "not_found", "not found"),
    }
}
