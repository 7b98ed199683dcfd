//! A fake INWX DomRobot XML-RPC API on loopback, from INWX's API
//! documentation: `account.login` (`user`, `pass`) answers a `domrobot`
//! session cookie and `resData.tfa` (`GOOGLE-AUTH` when two-factor
//! authentication is on, else `0`); with 2FA, `account.unlock` (`tan`) must
//! carry the RFC 6238 code of the shared secret (computed here on its own,
//! HMAC-SHA1, 30 s, 6 digits, this step or the one before) before anything
//! else works; `nameserver.info` (`domain`, optional `type`; 2303 for an
//! unknown domain) lists records with absolute names, `createRecord`
//! (relative `name`, `ttl` at least 300) answers the new id,
//! `deleteRecord` (`id`), and `account.logout` ends the session (1500).
//! Codes as DomRobot's: 1000 ok, 2200 authentication error, 2303 object
//! does not exist. Keeps every method called and the open sessions.
//!
//! Include next to `fake_http.rs`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};

use super::fake_http::{self, Request, Response};

/// A record the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InRecord {
    /// Id.
    pub id: u64,
    /// Zone.
    pub domain: String,
    /// Absolute name.
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
    records: Vec<InRecord>,
    /// (session id, unlocked).
    sessions: Vec<(String, bool)>,
    next: u64,
    log: Vec<String>,
}

/// A running fake.
pub struct FakeInwx {
    /// URL for `dns_inwx_url`.
    pub url: String,
    state: Arc<Mutex<State>>,
}

/// The 6-digit RFC 6238 code of `key` at `unix`.
pub fn totp(key: &[u8], unix: u64) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
    mac.update(&(unix / 30).to_be_bytes());
    let h = mac.finalize().into_bytes();
    let o = (h[19] & 0xf) as usize;
    let n = u32::from_be_bytes([h[o] & 0x7f, h[o + 1], h[o + 2], h[o + 3]]);
    format!("{:06}", n % 1_000_000)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn unesc(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn value_xml(v: &Value) -> String {
    match v {
        Value::Object(m) => format!(
            "<value><struct>{}</struct></value>",
            m.iter()
                .map(|(k, v)| format!("<member><name>{k}</name>{}</member>", value_xml(v)))
                .collect::<String>()
        ),
        Value::Array(a) => format!(
            "<value><array><data>{}</data></array></value>",
            a.iter().map(value_xml).collect::<String>()
        ),
        Value::Number(n) => format!("<value><int>{n}</int></value>"),
        Value::Bool(b) => format!("<value><boolean>{}</boolean></value>", u8::from(*b)),
        Value::String(s) => format!("<value><string>{}</string></value>", esc(s)),
        Value::Null => "<value><nil/></value>".to_owned(),
    }
}

fn answer(code: u64, msg: &str, res_data: Option<Value>) -> Response {
    let mut v = json!({"code": code, "msg": msg});
    if let Some(r) = res_data {
        v["resData"] = r;
    }
    Response {
        status: 200,
        content_type: "text/xml; charset=UTF-8",
        body: format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodResponse><params><param>{}</param></params></methodResponse>",
            value_xml(&v)
        ),
    }
}

/// The method name and the flat struct parameter of a `<methodCall>`.
fn parse_call(body: &str) -> Option<(String, Vec<(String, String)>)> {
    let method = body
        .split("<methodName>")
        .nth(1)?
        .split("</methodName>")
        .next()?
        .to_owned();
    let mut params = Vec::new();
    for member in body.split("<member>").skip(1) {
        let name = member.split("<name>").nth(1)?.split("</name>").next()?;
        let value = member.split("<value>").nth(1)?.split("</value>").next()?;
        // <string>x</string>, <int>1</int>, or a bare value.
        let inner = if value.starts_with('<') {
            let close = value.find('>')?;
            let tag = &value[1..close];
            value[close + 1..]
                .split(&format!("</{tag}>"))
                .next()?
                .to_owned()
        } else {
            value.to_owned()
        };
        params.push((name.to_owned(), unesc(&inner)));
    }
    Some((method, params))
}

impl FakeInwx {
    /// Starts the fake for `user`/`pass` owning `domains`; `secret` (raw
    /// bytes) turns on 2FA.
    pub async fn start(
        user: &str,
        pass: &str,
        secret: Option<&[u8]>,
        domains: &[&str],
        challtest: Option<std::net::SocketAddr>,
    ) -> FakeInwx {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let (user, pass) = (user.to_owned(), pass.to_owned());
        let secret = secret.map(<[u8]>::to_vec);
        let domains: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
        let publisher = Arc::new(fake_http::Publisher::default());
        if let Some(mgmt) = challtest {
            publisher.publish_to(mgmt);
        }
        let addr = fake_http::serve(move |req| {
            let publisher = publisher.clone();
            let (st, user, pass, secret, domains) = (
                st.clone(),
                user.clone(),
                pass.clone(),
                secret.clone(),
                domains.clone(),
            );
            async move {
                let resp = handle(&st, &user, &pass, secret.as_deref(), &domains, req);
                let txt = {
                    let s = st.lock().unwrap();
                    s.records
                        .iter()
                        .filter(|r| r.kind == "TXT")
                        .map(|r| (format!("{}.", r.name), r.content.clone()))
                        .collect()
                };
                publisher.sync(txt).await;
                resp
            }
        })
        .await;
        FakeInwx {
            url: format!("http://{addr}/xmlrpc/"),
            state,
        }
    }

    /// Records held now.
    pub fn records(&self) -> Vec<InRecord> {
        self.state.lock().unwrap().records.clone()
    }

    /// Every method called, in order.
    pub fn methods(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    /// Sessions not logged out.
    pub fn open_sessions(&self) -> usize {
        self.state.lock().unwrap().sessions.len()
    }

    /// Adds a TXT record as if made elsewhere.
    pub fn seed(&self, domain: &str, name: &str, content: &str) -> u64 {
        let mut s = self.state.lock().unwrap();
        s.next += 1;
        let id = s.next;
        s.records.push(InRecord {
            id,
            domain: domain.into(),
            name: name.into(),
            kind: "TXT".into(),
            content: content.into(),
            ttl: 3600,
        });
        id
    }
}

fn handle(
    st: &Mutex<State>,
    user: &str,
    pass: &str,
    secret: Option<&[u8]>,
    domains: &[String],
    req: Request,
) -> Response {
    let body = String::from_utf8_lossy(&req.body).into_owned();
    let Some((method, params)) = parse_call(&body) else {
        return Response::text(400, "not XML-RPC");
    };
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let mut s = st.lock().unwrap();
    s.log.push(method.clone());
    let session = req
        .header("cookie")
        .and_then(|c| {
            c.split(';')
                .find_map(|p| p.trim().strip_prefix("domrobot="))
        })
        .map(str::to_owned);
    if method == "account.login" {
        if get("user") != Some(user) || get("pass") != Some(pass) {
            return answer(2200, "Authentication error", None);
        }
        s.next += 1;
        let id = format!("sess{:08x}", s.next * 7919);
        s.sessions.push((id.clone(), secret.is_none()));
        let mut r = answer(
            1000,
            "Command completed successfully",
            Some(
                json!({"customerId": 1234, "accountId": 5678, "tfa": if secret.is_some() { "GOOGLE-AUTH" } else { "0" }}),
            ),
        );
        // fake_http's Response has no header list: the Set-Cookie line
        // rides after the content type (one small leak per login).
        r.content_type = Box::leak(
            format!("text/xml\r\nset-cookie: domrobot={id}; path=/; HttpOnly").into_boxed_str(),
        );
        return r;
    }
    let Some(at) = session
        .as_ref()
        .and_then(|id| s.sessions.iter().position(|(x, _)| x == id))
    else {
        return answer(2200, "Authentication error", None);
    };
    if method == "account.logout" {
        s.sessions.remove(at);
        return answer(1500, "Command completed successfully; ending session", None);
    }
    if method == "account.unlock" {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let key = secret.unwrap_or_default();
        let tan = get("tan").unwrap_or_default();
        if tan == totp(key, now) || tan == totp(key, now - 30) {
            s.sessions[at].1 = true;
            return answer(1000, "Command completed successfully", None);
        }
        return answer(2200, "Authentication error", None);
    }
    if !s.sessions[at].1 {
        return answer(2200, "Authentication error", None);
    }
    match method.as_str() {
        "nameserver.info" => {
            let domain = get("domain").unwrap_or_default();
            if !domains.iter().any(|d| d == domain) {
                return answer(2303, "Object does not exist", None);
            }
            let records: Vec<Value> = s
                .records
                .iter()
                .filter(|r| r.domain == domain && get("type").is_none_or(|t| t == r.kind))
                .map(|r| json!({"id": r.id, "name": r.name, "type": r.kind, "content": r.content, "ttl": r.ttl, "prio": 0}))
                .collect();
            answer(
                1000,
                "Command completed successfully",
                Some(json!({"domain": domain, "record": records})),
            )
        }
        "nameserver.createRecord" => {
            let domain = get("domain").unwrap_or_default().to_owned();
            if !domains.contains(&domain) {
                return answer(2303, "Object does not exist", None);
            }
            let ttl: u64 = get("ttl").and_then(|t| t.parse().ok()).unwrap_or(3600);
            let name = get("name").unwrap_or_default();
            if ttl < 300 || name.ends_with(&domain) {
                return answer(2306, "Parameter value policy error", None);
            }
            let name = if name.is_empty() {
                domain.clone()
            } else {
                format!("{name}.{domain}")
            };
            s.next += 1;
            let id = s.next;
            s.records.push(InRecord {
                id,
                domain,
                name: name.clone(),
                kind: get("type").unwrap_or_default().into(),
                content: get("content").unwrap_or_default().into(),
                ttl,
            });
            answer(
                1000,
                "Command completed successfully",
                Some(json!({ "id": id })),
            )
        }
        "nameserver.deleteRecord" => {
            let id: u64 = get("id").and_then(|t| t.parse().ok()).unwrap_or(0);
            match s.records.iter().position(|r| r.id == id) {
                Some(i) => {
                    s.records.remove(i);
                    answer(1000, "Command completed successfully", None)
                }
                None => answer(2303, "Object does not exist", None),
            }
        }
        _ => answer(2000, "Unknown command", None),
    }
}
