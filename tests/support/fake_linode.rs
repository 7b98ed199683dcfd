//! A fake Linode API v4 on loopback: bearer token, `GET domains` and
//! `GET domains/<id>/records` paginated (`page`, `page_size`, answering
//! `data`, `page`, `pages`, `results`), records created and deleted by
//! numeric id, Linode's error shape (`{"errors": [{"reason": ...}]}`).
//! Keeps every request it received. Pages hold at most `max_page` items so
//! tests reach the second page without hundreds of domains.
//!
//! Include next to `fake_http.rs`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::fake_http::{self, Request, Response};

/// A record the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LnRecord {
    /// Numeric id.
    pub id: u64,
    /// The domain's id.
    pub domain_id: u64,
    /// Record type.
    pub kind: String,
    /// Name relative to the domain (empty for the apex).
    pub name: String,
    /// Target (the TXT value).
    pub target: String,
    /// TTL.
    pub ttl_sec: u64,
}

#[derive(Debug, Default)]
struct State {
    records: Vec<LnRecord>,
    next: u64,
    log: Vec<(String, String)>,
}

/// A running fake.
pub struct FakeLinode {
    /// Base URL for `dns_linode_endpoint`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

fn fail(status: u16, reason: &str) -> Response {
    Response::json(status, &json!({"errors": [{"reason": reason}]}))
}

fn page(req: &Request, items: Vec<Value>, max_page: usize) -> Response {
    let size = req
        .param("page_size")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(100)
        .min(max_page);
    let n: usize = req.param("page").and_then(|s| s.parse().ok()).unwrap_or(1);
    let pages = items.len().div_ceil(size).max(1);
    let data: Vec<Value> = items
        .iter()
        .skip((n - 1) * size)
        .take(size)
        .cloned()
        .collect();
    Response::json(
        200,
        &json!({"data": data, "page": n, "pages": pages, "results": items.len()}),
    )
}

impl FakeLinode {
    /// Starts the fake: `token` is valid, `domains` are (id, name).
    pub async fn start(token: &str, domains: &[(u64, &str)], max_page: usize) -> FakeLinode {
        Self::start_publishing(token, domains, max_page, None).await
    }

    /// [`FakeLinode::start`], also serving its TXT records through the
    /// challtestsrv whose management address is `challtest`.
    pub async fn start_publishing(
        token: &str,
        domains: &[(u64, &str)],
        max_page: usize,
        challtest: Option<std::net::SocketAddr>,
    ) -> FakeLinode {
        let state = Arc::new(Mutex::new(State::default()));
        let (st, st2) = (state.clone(), state.clone());
        let token = token.to_owned();
        let domains: Vec<(u64, String)> =
            domains.iter().map(|(i, d)| (*i, d.to_string())).collect();
        let names = domains.clone();
        let addr = fake_http::serve_publishing(
            challtest,
            move |req| handle(&st, &token, &domains, max_page, req),
            move || {
                let s = st2.lock().unwrap();
                s.records
                    .iter()
                    .filter(|r| r.kind == "TXT")
                    .filter_map(|r| {
                        let domain = &names.iter().find(|(id, _)| *id == r.domain_id)?.1;
                        Some((fake_http::absolute(&r.name, domain), r.target.clone()))
                    })
                    .collect()
            },
        )
        .await;
        FakeLinode {
            endpoint: format!("http://{addr}/v4"),
            state,
        }
    }

    /// Records held now.
    pub fn records(&self) -> Vec<LnRecord> {
        self.state.lock().unwrap().records.clone()
    }

    /// Every request received, as (method, path below `/v4/` with query).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().log.clone()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        self.state.lock().unwrap().log.clear();
    }

    /// Adds a TXT record as if made elsewhere.
    pub fn seed(&self, domain_id: u64, name: &str, target: &str) -> u64 {
        let mut s = self.state.lock().unwrap();
        s.next += 1;
        let id = 20_000_000 + s.next;
        s.records.push(LnRecord {
            id,
            domain_id,
            kind: "TXT".into(),
            name: name.into(),
            target: target.into(),
            ttl_sec: 300,
        });
        id
    }
}

fn handle(
    st: &Mutex<State>,
    token: &str,
    domains: &[(u64, String)],
    max_page: usize,
    req: Request,
) -> Response {
    let path = req.path.trim_start_matches("/v4/").to_owned();
    let logged = if req.raw_query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{}", req.raw_query)
    };
    st.lock().unwrap().log.push((req.method.clone(), logged));
    if req.header("authorization") != Some(&format!("Bearer {token}")) {
        return fail(401, "Invalid Token");
    }
    let parts: Vec<&str> = path.split('/').collect();
    let known = |id: &str| domains.iter().any(|(i, _)| i.to_string() == id);
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["domains"]) => {
            let items = domains
                .iter()
                .map(|(id, d)| json!({"id": id, "domain": d, "type": "master", "status": "active"}))
                .collect();
            page(&req, items, max_page)
        }
        (_, ["domains", id, ..]) if !known(id) => fail(404, "Not found"),
        ("GET", ["domains", id, "records"]) => {
            let items = st
                .lock()
                .unwrap()
                .records
                .iter()
                .filter(|r| r.domain_id.to_string() == *id)
                .map(|r| json!({"id": r.id, "type": r.kind, "name": r.name, "target": r.target, "ttl_sec": r.ttl_sec}))
                .collect();
            page(&req, items, max_page)
        }
        ("POST", ["domains", id, "records"]) => {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let name = body["name"].as_str().unwrap_or_default();
            let zone = &domains
                .iter()
                .find(|(i, _)| i.to_string() == *id)
                .unwrap()
                .1;
            if name.ends_with(zone.as_str()) {
                return fail(400, "name must be relative to the domain");
            }
            let mut s = st.lock().unwrap();
            s.next += 1;
            let rec = LnRecord {
                id: 20_000_000 + s.next,
                domain_id: id.parse().unwrap(),
                kind: body["type"].as_str().unwrap_or_default().into(),
                name: name.into(),
                target: body["target"].as_str().unwrap_or_default().into(),
                ttl_sec: body["ttl_sec"].as_u64().unwrap_or(0),
            };
            s.records.push(rec.clone());
            Response::json(
                200,
                &json!({"id": rec.id, "type": rec.kind, "name": rec.name, "target": rec.target, "ttl_sec": rec.ttl_sec}),
            )
        }
        ("DELETE", ["domains", _id, "records", rid]) => {
            let mut s = st.lock().unwrap();
            match s.records.iter().position(|r| r.id.to_string() == *rid) {
                Some(i) => {
                    s.records.remove(i);
                    Response::json(200, &json!({}))
                }
                None => fail(404, "Not found"),
            }
        }
        _ => fail(404, "Not found"),
    }
}
