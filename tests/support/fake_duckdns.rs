//! A fake DuckDNS update API on loopback: `GET /update?domains=&token=&txt=`
//! (`&clear=true` to clear) answering `OK` or `KO`, holding one TXT value per
//! domain as the real service does.
//!
//! Include next to `fake_http.rs`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::fake_http::{self, Response};

/// A running fake.
pub struct FakeDuckDns {
    /// URL for `dns_duckdns_endpoint`.
    pub endpoint: String,
    txt: Arc<Mutex<HashMap<String, String>>>,
}

impl FakeDuckDns {
    /// Starts the fake; `token` owns `domains`.
    pub async fn start(token: &str, domains: &[&str]) -> FakeDuckDns {
        let txt = Arc::new(Mutex::new(HashMap::new()));
        let (t, token, domains): (_, String, Vec<String>) = (
            txt.clone(),
            token.into(),
            domains.iter().map(|d| (*d).to_owned()).collect(),
        );
        let addr = fake_http::serve(move |req| {
            let (t, token, domains) = (t.clone(), token.clone(), domains.clone());
            async move {
                if req.path != "/update" {
                    return Response::text(404, "not found");
                }
                let d = req.param("domains").unwrap_or_default().to_owned();
                if req.param("token") != Some(token.as_str()) || !domains.contains(&d) {
                    return Response::text(200, "KO");
                }
                let mut map = t.lock().unwrap();
                if req.param("clear") == Some("true") {
                    map.remove(&d);
                } else {
                    map.insert(d, req.param("txt").unwrap_or_default().to_owned());
                }
                Response::text(200, "OK")
            }
        })
        .await;
        FakeDuckDns {
            endpoint: format!("http://{addr}/update"),
            txt,
        }
    }

    /// The TXT value `domain` holds now.
    pub fn txt(&self, domain: &str) -> Option<String> {
        self.txt.lock().unwrap().get(domain).cloned()
    }
}
