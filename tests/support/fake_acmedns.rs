//! A fake acme-dns server API on loopback, from joohoi/acme-dns's README:
//! `POST /update` with `X-Api-User` / `X-Api-Key` and `{"subdomain", "txt"}`
//! (the subdomain must be the user's, the value 43 characters), answered
//! `{"txt": ...}`; the two most recent values of each subdomain are kept, as
//! acme-dns does; `GET /health` answers 200. Keeps every request.
//!
//! Include next to `fake_http.rs`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::fake_http::{self, Request, Response};

#[derive(Debug, Default)]
struct State {
    values: HashMap<String, Vec<String>>,
    log: Vec<(String, String)>,
}

/// A running fake.
pub struct FakeAcmeDns {
    /// Base URL for `dns_acmedns_api_url`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

impl FakeAcmeDns {
    /// Starts the fake with accounts (username, password, subdomain).
    pub async fn start(accounts: &[(&str, &str, &str)]) -> FakeAcmeDns {
        Self::start_publishing(accounts, "", None).await
    }

    /// [`FakeAcmeDns::start`], also serving each subdomain's values as
    /// `<subdomain>.<zone>` through the challtestsrv whose management address
    /// is `challtest` (acme-dns is the authoritative server of its zone).
    pub async fn start_publishing(
        accounts: &[(&str, &str, &str)],
        zone: &str,
        challtest: Option<std::net::SocketAddr>,
    ) -> FakeAcmeDns {
        let state = Arc::new(Mutex::new(State::default()));
        let (st, st2) = (state.clone(), state.clone());
        let accounts: Vec<(String, String, String)> = accounts
            .iter()
            .map(|(u, p, s)| (u.to_string(), p.to_string(), s.to_string()))
            .collect();
        let zone = zone.trim_end_matches('.').to_owned();
        let addr = fake_http::serve_publishing(
            challtest,
            move |req| handle(&st, &accounts, req),
            move || {
                let s = st2.lock().unwrap();
                s.values
                    .iter()
                    .flat_map(|(sub, values)| {
                        let host = format!("{sub}.{zone}.");
                        values.iter().map(move |v| (host.clone(), v.clone()))
                    })
                    .collect()
            },
        )
        .await;
        FakeAcmeDns {
            endpoint: format!("http://{addr}/"),
            state,
        }
    }

    /// The values a subdomain serves now, oldest first.
    pub fn values(&self, subdomain: &str) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .values
            .get(subdomain)
            .cloned()
            .unwrap_or_default()
    }

    /// Every request, as (method, path, X-Api-User).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().log.clone()
    }
}

fn handle(st: &Mutex<State>, accounts: &[(String, String, String)], req: Request) -> Response {
    st.lock()
        .unwrap()
        .log
        .push((req.method.clone(), req.path.clone()));
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/health") => Response::text(200, ""),
        ("POST", "/update") => {
            let user = req.header("x-api-user").unwrap_or_default();
            let key = req.header("x-api-key").unwrap_or_default();
            let Some((_, _, sub)) = accounts.iter().find(|(u, p, _)| u == user && p == key) else {
                return Response::json(401, &json!({"error": "forbidden"}));
            };
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            if body["subdomain"].as_str() != Some(sub.as_str()) {
                return Response::json(401, &json!({"error": "forbidden"}));
            }
            let txt = body["txt"].as_str().unwrap_or_default();
            if txt.len() != 43 {
                return Response::json(400, &json!({"error": "bad_txt"}));
            }
            let mut s = st.lock().unwrap();
            let values = s.values.entry(sub.clone()).or_default();
            values.push(txt.to_owned());
            if values.len() > 2 {
                values.remove(0);
            }
            Response::json(200, &json!({ "txt": txt }))
        }
        _ => Response::text(404, "404 page not found"),
    }
}
