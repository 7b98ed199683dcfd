//! A fake netcup CCP DNS API on loopback, from netcup's API documentation:
//! one endpoint taking `{"action", "param"}` POSTs; `login` (customer
//! number, API key, API password → `apisessionid`), `logout`,
//! `infoDnsZone`, `infoDnsRecords`, `updateDnsRecords` (records without an
//! id are added, with `deleterecord` removed; the answer lists the zone's
//! records), every answer `{"status", "statuscode", "shortmessage",
//! "responsedata"}`. Each call must carry the customer number, API key and a
//! live session id. Keeps every action.
//!
//! Include next to `fake_http.rs`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::fake_http::{self, Request, Response};

/// A record the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NcRecord {
    /// Id (a number as a string).
    pub id: String,
    /// Zone.
    pub zone: String,
    /// Host name relative to the zone (`@` for the apex).
    pub hostname: String,
    /// Type.
    pub kind: String,
    /// Destination (the TXT value).
    pub destination: String,
}

#[derive(Debug, Default)]
struct State {
    records: Vec<NcRecord>,
    sessions: Vec<String>,
    next: u64,
    log: Vec<String>,
}

/// A running fake.
pub struct FakeNetcup {
    /// Serves the fake's TXT records through challtestsrv once told where.
    pub publisher: Arc<fake_http::Publisher>,
    /// URL for `dns_netcup_endpoint`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

/// What the fake accepts: (customer number, API key, API password).
pub type NcCredentials = (String, String, String);

fn answer(status: &str, code: u64, message: &str, data: Value) -> Response {
    Response::json(
        200,
        &json!({"serverrequestid": "x", "clientrequestid": "", "action": "", "status": status,
                "statuscode": code, "shortmessage": message, "longmessage": "", "responsedata": data}),
    )
}

fn rec_json(r: &NcRecord) -> Value {
    json!({"id": r.id, "hostname": r.hostname, "type": r.kind, "priority": "0", "destination": r.destination, "deleterecord": false, "state": "yes"})
}

impl FakeNetcup {
    /// Starts the fake accepting `creds` for `zones`.
    pub async fn start(creds: NcCredentials, zones: &[&str]) -> FakeNetcup {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let creds = Arc::new(creds);
        let zones: Vec<String> = zones.iter().map(|z| z.to_string()).collect();
        let publisher = Arc::new(fake_http::Publisher::default());
        let pubr = publisher.clone();
        let addr = fake_http::serve(move |req| {
            let publisher = pubr.clone();
            let (st, creds, zones) = (st.clone(), creds.clone(), zones.clone());
            async move {
                let resp = handle(&st, &creds, &zones, req);
                let txt = {
                    let s = st.lock().unwrap();
                    s.records
                        .iter()
                        .filter(|r| r.kind == "TXT")
                        .map(|r| {
                            (
                                fake_http::absolute(&r.hostname, &r.zone),
                                r.destination.trim_matches('"').to_owned(),
                            )
                        })
                        .collect()
                };
                publisher.sync(txt).await;
                resp
            }
        })
        .await;
        FakeNetcup {
            publisher,
            endpoint: format!("http://{addr}/run/webservice/servers/endpoint.php?JSON"),
            state,
        }
    }

    /// Records held now.
    pub fn records(&self) -> Vec<NcRecord> {
        self.state.lock().unwrap().records.clone()
    }

    /// Every action, in order.
    pub fn actions(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    /// Forgets the actions so far.
    pub fn clear(&self) {
        self.state.lock().unwrap().log.clear();
    }

    /// Sessions still open.
    pub fn open_sessions(&self) -> usize {
        self.state.lock().unwrap().sessions.len()
    }

    /// Adds a TXT record as if made elsewhere.
    pub fn seed(&self, zone: &str, hostname: &str, destination: &str) -> String {
        let mut s = self.state.lock().unwrap();
        s.next += 1;
        let id = (40_000 + s.next).to_string();
        s.records.push(NcRecord {
            id: id.clone(),
            zone: zone.into(),
            hostname: hostname.into(),
            kind: "TXT".into(),
            destination: destination.into(),
        });
        id
    }
}

fn handle(st: &Mutex<State>, creds: &NcCredentials, zones: &[String], req: Request) -> Response {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let action = body["action"].as_str().unwrap_or_default().to_owned();
    let p = &body["param"];
    let mut s = st.lock().unwrap();
    s.log.push(action.clone());
    if req.method != "POST"
        || p["customernumber"].as_str() != Some(creds.0.as_str())
        || p["apikey"].as_str() != Some(creds.1.as_str())
    {
        return answer("error", 4013, "Validation Error.", json!(""));
    }
    if action == "login" {
        if p["apipassword"].as_str() != Some(creds.2.as_str()) {
            return answer("error", 4001, "Login failed.", json!(""));
        }
        s.next += 1;
        let session = format!("session-{}", s.next);
        s.sessions.push(session.clone());
        return answer(
            "success",
            2000,
            "Login successful",
            json!({"apisessionid": session}),
        );
    }
    let session = p["apisessionid"].as_str().unwrap_or_default().to_owned();
    if !s.sessions.contains(&session) {
        return answer(
            "error",
            4001,
            "The session id is not in a valid format.",
            json!(""),
        );
    }
    let zone = p["domainname"].as_str().unwrap_or_default().to_owned();
    let known = zones.contains(&zone);
    match action.as_str() {
        "logout" => {
            s.sessions.retain(|x| *x != session);
            answer("success", 2000, "Logout successful", json!(""))
        }
        "infoDnsZone" if known => answer(
            "success",
            2000,
            "DNS zone found",
            json!({"name": zone, "ttl": "86400"}),
        ),
        "infoDnsRecords" if known => {
            let recs: Vec<Value> = s
                .records
                .iter()
                .filter(|r| r.zone == zone)
                .map(rec_json)
                .collect();
            answer(
                "success",
                2000,
                "DNS records found",
                json!({"dnsrecords": recs}),
            )
        }
        "updateDnsRecords" if known => {
            for r in p["dnsrecordset"]["dnsrecords"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if r["deleterecord"].as_bool() == Some(true) {
                    let id = r["id"].as_str().unwrap_or_default();
                    s.records.retain(|x| !(x.zone == zone && x.id == id));
                } else if r["id"].is_null() {
                    s.next += 1;
                    let rec = NcRecord {
                        id: (40_000 + s.next).to_string(),
                        zone: zone.clone(),
                        hostname: r["hostname"].as_str().unwrap_or_default().into(),
                        kind: r["type"].as_str().unwrap_or_default().into(),
                        destination: r["destination"].as_str().unwrap_or_default().into(),
                    };
                    s.records.push(rec);
                }
            }
            let recs: Vec<Value> = s
                .records
                .iter()
                .filter(|r| r.zone == zone)
                .map(rec_json)
                .collect();
            answer(
                "success",
                2000,
                "DNS records successful updated",
                json!({"dnsrecords": recs}),
            )
        }
        "infoDnsZone" | "infoDnsRecords" | "updateDnsRecords" => {
            answer("error", 5029, "Can not get DNS zone.", json!(""))
        }
        _ => answer("error", 4013, "Validation Error.", json!("")),
    }
}
