//! A fake Vultr API v2 (DNS) on loopback, from Vultr's API reference:
//! `Authorization: Bearer <key>`, `GET domains` and
//! `GET domains/<domain>/records` with cursor pagination (`per_page`,
//! `cursor`, `meta.links.next`), records created with POST (answered
//! `{"record": {...}}`, 201) and deleted by id (204); errors as
//! `{"error": ..., "status": ...}`. Keeps every request. Pages hold at most
//! `max_page` items so tests reach the second page.
//!
//! Include next to `fake_http.rs`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::fake_http::{self, Request, Response};

/// A record the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VuRecord {
    /// Id (a UUID at Vultr).
    pub id: String,
    /// The domain.
    pub domain: String,
    /// Type.
    pub kind: String,
    /// Name relative to the domain (empty for the apex).
    pub name: String,
    /// Data as sent.
    pub data: String,
    /// TTL.
    pub ttl: u64,
}

#[derive(Debug, Default)]
struct State {
    records: Vec<VuRecord>,
    /// TXT names changed since the last publish.
    publish: Vec<(String, Vec<String>)>,
    next: u64,
    log: Vec<(String, String)>,
}

/// A running fake.
pub struct FakeVultr {
    /// Base URL for `dns_vultr_endpoint`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

fn fail(status: u16, error: &str) -> Response {
    Response::json(status, &json!({"error": error, "status": status}))
}

fn page(req: &Request, key: &str, items: Vec<Value>, max_page: usize) -> Response {
    let size = req
        .param("per_page")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(100)
        .min(max_page);
    let start: usize = req
        .param("cursor")
        .and_then(|c| c.strip_prefix("after-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let data: Vec<Value> = items.iter().skip(start).take(size).cloned().collect();
    let next = if start + size < items.len() {
        format!("after-{}", start + size)
    } else {
        String::new()
    };
    Response::json(
        200,
        &json!({key: data, "meta": {"total": items.len(), "links": {"next": next, "prev": ""}}}),
    )
}

impl FakeVultr {
    /// Starts the fake: `token` is valid, `domains` are the account's.
    pub async fn start(token: &str, domains: &[&str], max_page: usize) -> FakeVultr {
        Self::start_publishing(token, domains, max_page, None).await
    }

    /// [`FakeVultr::start`], also serving its TXT records through the
    /// challtestsrv whose management address is `challtest`.
    pub async fn start_publishing(
        token: &str,
        domains: &[&str],
        max_page: usize,
        challtest: Option<std::net::SocketAddr>,
    ) -> FakeVultr {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let token = token.to_owned();
        let domains: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
        let addr = fake_http::serve(move |req| {
            let (st, token, domains) = (st.clone(), token.clone(), domains.clone());
            async move {
                let resp = handle(&st, &token, &domains, max_page, req);
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
        FakeVultr {
            endpoint: format!("http://{addr}/v2"),
            state,
        }
    }

    /// Records held now.
    pub fn records(&self) -> Vec<VuRecord> {
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
    pub fn seed(&self, domain: &str, name: &str, data: &str) -> String {
        let mut s = self.state.lock().unwrap();
        s.next += 1;
        let id = format!("cb676a46-66fd-4dfb-b839-{:012}", s.next);
        s.records.push(VuRecord {
            id: id.clone(),
            domain: domain.into(),
            kind: "TXT".into(),
            name: name.into(),
            data: data.into(),
            ttl: 300,
        });
        id
    }
}

/// Queues the TXT values now at `name` in `domain` for challtestsrv.
fn queue_publish(s: &mut State, domain: &str, name: &str) {
    let host = if name.is_empty() {
        format!("{domain}.")
    } else {
        format!("{name}.{domain}.")
    };
    let values = s
        .records
        .iter()
        .filter(|r| r.domain == domain && r.name == name && r.kind == "TXT")
        .map(|r| r.data.trim_matches('"').to_owned())
        .collect();
    s.publish.push((host, values));
}

fn handle(
    st: &Mutex<State>,
    token: &str,
    domains: &[String],
    max_page: usize,
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
        return fail(401, "Invalid API token.");
    }
    let parts: Vec<&str> = path.split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["domains"]) => {
            let items = domains
                .iter()
                .map(|d| json!({"domain": d, "date_created": "2026-01-01T00:00:00+00:00", "dns_sec": "disabled"}))
                .collect();
            page(&req, "domains", items, max_page)
        }
        (_, ["domains", d, ..]) if !domains.iter().any(|x| x == d) => fail(404, "Not found"),
        ("GET", ["domains", d, "records"]) => {
            let items = st
                .lock()
                .unwrap()
                .records
                .iter()
                .filter(|r| r.domain == *d)
                .map(|r| json!({"id": r.id, "type": r.kind, "name": r.name, "data": r.data, "priority": 0, "ttl": r.ttl}))
                .collect();
            page(&req, "records", items, max_page)
        }
        ("POST", ["domains", d, "records"]) => {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let name = body["name"].as_str().unwrap_or_default();
            if name.ends_with(d) {
                return fail(400, "name must be relative to the domain");
            }
            let mut s = st.lock().unwrap();
            s.next += 1;
            let rec = VuRecord {
                id: format!("cb676a46-66fd-4dfb-b839-{:012}", s.next),
                domain: d.to_string(),
                kind: body["type"].as_str().unwrap_or_default().into(),
                name: name.into(),
                data: body["data"].as_str().unwrap_or_default().into(),
                ttl: body["ttl"].as_u64().unwrap_or(0),
            };
            s.records.push(rec.clone());
            queue_publish(&mut s, d, &rec.name);
            Response::json(
                201,
                &json!({"record": {"id": rec.id, "type": rec.kind, "name": rec.name, "data": rec.data, "priority": 0, "ttl": rec.ttl}}),
            )
        }
        ("DELETE", ["domains", d, "records", id]) => {
            let mut s = st.lock().unwrap();
            match s.records.iter().position(|r| r.domain == *d && r.id == *id) {
                Some(i) => {
                    let gone = s.records.remove(i);
                    queue_publish(&mut s, d, &gone.name);
                    Response::text(204, "")
                }
                None => fail(404, "Not found"),
            }
        }
        _ => fail(404, "Not found"),
    }
}
