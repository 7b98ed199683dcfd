//! A fake OVH API (`/1.0`) on loopback, from OVH's API documentation:
//! `GET /auth/time` (unsigned; the fake's clock runs `skew` seconds ahead,
//! so a client that ignores it is refused), and every other call signed with
//! `X-Ovh-Application`, `X-Ovh-Consumer`, `X-Ovh-Timestamp` and
//! `X-Ovh-Signature` = `$1$` + hex SHA-1 of
//! `AS+CK+METHOD+URL+BODY+TIMESTAMP`, verified here independently; zones
//! listed by `GET /domain/zone`, records created, listed
//! (`?fieldType=&subDomain=`), read and deleted by id, `POST .../refresh`
//! counted. OVH's error shape (`{"errorCode", "message"}`). Keeps every
//! request.
//!
//! Include next to `fake_http.rs`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use super::fake_http::{self, Request, Response};

/// A record the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvhRecord {
    /// Numeric id.
    pub id: u64,
    /// The zone.
    pub zone: String,
    /// Type.
    pub field_type: String,
    /// Name relative to the zone (empty for the apex).
    pub sub_domain: String,
    /// Target as sent.
    pub target: String,
    /// TTL.
    pub ttl: u64,
}

/// The keys the fake accepts.
#[derive(Debug, Clone)]
pub struct OvhKeys {
    /// Application key.
    pub application_key: String,
    /// Application secret.
    pub application_secret: String,
    /// Consumer key.
    pub consumer_key: String,
}

#[derive(Debug, Default)]
struct State {
    records: Vec<OvhRecord>,
    refreshes: u32,
    next: u64,
    log: Vec<(String, String)>,
}

/// A running fake.
pub struct FakeOvh {
    /// Serves the fake's TXT records through challtestsrv once told where.
    pub publisher: Arc<fake_http::Publisher>,
    /// Base URL for `dns_ovh_endpoint`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

fn fail(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"errorCode": code, "httpCode": status.to_string(), "message": message}),
    )
}

impl FakeOvh {
    /// Starts the fake with `keys`, `zones`, and a clock `skew` seconds ahead.
    pub async fn start(keys: OvhKeys, zones: &[&str], skew: i64) -> FakeOvh {
        Self::start_at(keys, zones, skew, std::net::Ipv4Addr::LOCALHOST.into()).await
    }

    /// [`FakeOvh::start`] listening on `ip` (a test-created Docker
    /// network's gateway, for moat in a container).
    pub async fn start_at(
        keys: OvhKeys,
        zones: &[&str],
        skew: i64,
        ip: std::net::IpAddr,
    ) -> FakeOvh {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let keys = Arc::new(keys);
        let zones: Vec<String> = zones.iter().map(|z| z.to_string()).collect();
        let publisher = Arc::new(fake_http::Publisher::default());
        let pubr = publisher.clone();
        let addr = fake_http::serve_at(ip, move |req| {
            let publisher = pubr.clone();
            let (st, keys, zones) = (st.clone(), keys.clone(), zones.clone());
            async move {
                let resp = handle(&st, &keys, &zones, skew, req);
                let txt = {
                    let s = st.lock().unwrap();
                    s.records
                        .iter()
                        .filter(|r| r.field_type == "TXT")
                        .map(|r| {
                            (
                                fake_http::absolute(&r.sub_domain, &r.zone),
                                r.target.trim_matches('"').to_owned(),
                            )
                        })
                        .collect()
                };
                publisher.sync(txt).await;
                resp
            }
        })
        .await;
        FakeOvh {
            publisher,
            endpoint: format!("http://{addr}/1.0"),
            state,
        }
    }

    /// Records held now.
    pub fn records(&self) -> Vec<OvhRecord> {
        self.state.lock().unwrap().records.clone()
    }

    /// How many zone refreshes were asked for.
    pub fn refreshes(&self) -> u32 {
        self.state.lock().unwrap().refreshes
    }

    /// Every request, as (method, path below `/1.0/` with query).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().log.clone()
    }

    /// Forgets the requests so far.
    pub fn clear_requests(&self) {
        self.state.lock().unwrap().log.clear();
    }

    /// Adds a TXT record as if made elsewhere.
    pub fn seed(&self, zone: &str, sub_domain: &str, target: &str) -> u64 {
        let mut s = self.state.lock().unwrap();
        s.next += 1;
        let id = 5_000_000 + s.next;
        s.records.push(OvhRecord {
            id,
            zone: zone.into(),
            field_type: "TXT".into(),
            sub_domain: sub_domain.into(),
            target: target.into(),
            ttl: 60,
        });
        id
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn check_signature(keys: &OvhKeys, skew: i64, req: &Request) -> Result<(), Response> {
    if req.header("x-ovh-application") != Some(keys.application_key.as_str()) {
        return Err(fail(403, "INVALID_KEY", "Invalid application key"));
    }
    if req.header("x-ovh-consumer") != Some(keys.consumer_key.as_str()) {
        return Err(fail(
            403,
            "INVALID_CREDENTIAL",
            "This credential does not exist",
        ));
    }
    let ts: i64 = req
        .header("x-ovh-timestamp")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    if (ts - (now() + skew)).abs() > 30 {
        return Err(fail(400, "QUERY_TIME_OUT", "Query out of time"));
    }
    let query = if req.raw_query.is_empty() {
        String::new()
    } else {
        format!("?{}", req.raw_query)
    };
    let url = format!(
        "http://{}{}{query}",
        req.header("host").unwrap_or_default(),
        req.path
    );
    let text = format!(
        "{}+{}+{}+{url}+{}+{ts}",
        keys.application_secret,
        keys.consumer_key,
        req.method,
        String::from_utf8_lossy(&req.body)
    );
    let want = format!("$1${}", hex::encode(Sha1::digest(text.as_bytes())));
    if req.header("x-ovh-signature") != Some(want.as_str()) {
        return Err(fail(400, "INVALID_SIGNATURE", "Invalid signature"));
    }
    Ok(())
}

fn handle(
    st: &Mutex<State>,
    keys: &OvhKeys,
    zones: &[String],
    skew: i64,
    req: Request,
) -> Response {
    let path = req.path.trim_start_matches("/1.0/").to_owned();
    let logged = if req.raw_query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{}", req.raw_query)
    };
    st.lock().unwrap().log.push((req.method.clone(), logged));
    if req.method == "GET" && path == "auth/time" {
        return Response::text(200, &(now() + skew).to_string());
    }
    if let Err(resp) = check_signature(keys, skew, &req) {
        return resp;
    }
    let parts: Vec<&str> = path.split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["domain", "zone"]) => Response::json(200, &json!(zones)),
        (_, ["domain", "zone", z, ..]) if !zones.iter().any(|x| x == z) => {
            fail(404, "", "This service does not exist")
        }
        ("POST", ["domain", "zone", _z, "refresh"]) => {
            st.lock().unwrap().refreshes += 1;
            Response::json(200, &Value::Null)
        }
        ("GET", ["domain", "zone", z, "record"]) => {
            let ids: Vec<u64> = st
                .lock()
                .unwrap()
                .records
                .iter()
                .filter(|r| {
                    r.zone == *z
                        && req.param("fieldType").is_none_or(|t| t == r.field_type)
                        && req.param("subDomain").is_none_or(|s| s == r.sub_domain)
                })
                .map(|r| r.id)
                .collect();
            Response::json(200, &json!(ids))
        }
        ("POST", ["domain", "zone", z, "record"]) => {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let mut s = st.lock().unwrap();
            s.next += 1;
            let rec = OvhRecord {
                id: 5_000_000 + s.next,
                zone: z.to_string(),
                field_type: body["fieldType"].as_str().unwrap_or_default().into(),
                sub_domain: body["subDomain"].as_str().unwrap_or_default().into(),
                target: body["target"].as_str().unwrap_or_default().into(),
                ttl: body["ttl"].as_u64().unwrap_or(0),
            };
            s.records.push(rec.clone());
            Response::json(
                200,
                &json!({"id": rec.id, "zone": rec.zone, "fieldType": rec.field_type, "subDomain": rec.sub_domain, "target": rec.target, "ttl": rec.ttl}),
            )
        }
        ("GET", ["domain", "zone", z, "record", id]) => {
            let s = st.lock().unwrap();
            match s
                .records
                .iter()
                .find(|r| r.zone == *z && r.id.to_string() == *id)
            {
                Some(r) => Response::json(
                    200,
                    &json!({"id": r.id, "zone": r.zone, "fieldType": r.field_type, "subDomain": r.sub_domain, "target": format!("\"{}\"", r.target), "ttl": r.ttl}),
                ),
                None => fail(404, "", "This service does not exist"),
            }
        }
        ("DELETE", ["domain", "zone", z, "record", id]) => {
            let mut s = st.lock().unwrap();
            match s
                .records
                .iter()
                .position(|r| r.zone == *z && r.id.to_string() == *id)
            {
                Some(i) => {
                    s.records.remove(i);
                    Response::json(200, &Value::Null)
                }
                None => fail(404, "", "This service does not exist"),
            }
        }
        _ => fail(404, "", "Got an invalid (or empty) URL"),
    }
}
