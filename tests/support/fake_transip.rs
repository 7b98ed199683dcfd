//! A fake TransIP REST API v6 on loopback, from TransIP's API documentation:
//! `POST /v6/auth` with a JSON body (`login`, `nonce`, `expiration_time`,
//! `label`, ...) whose `Signature` header is the base64 RSA signature with
//! SHA-512 of the exact body, verified with the account's public key (and
//! each nonce accepted once), answered `{"token": ...}`; every other call
//! needs `Authorization: Bearer <token>`. `GET domains/<name>` (404 for
//! another account's), `GET domains/<name>/dns` (`dnsEntries`), and
//! `POST`/`DELETE domains/<name>/dns` with one `dnsEntry` (DELETE must name
//! an existing entry exactly). Errors are `{"error": ...}`. Keeps every
//! request.
//!
//! Include next to `fake_http.rs`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::signature::{KeyPair, RsaKeyPair, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA512};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use serde_json::{json, Value};

use super::fake_http::{self, Request, Response};

/// The account's key, as `openssl rsa` writes it (PKCS#1).
pub const KEY_PEM: &str = include_str!("keys/test-rsa-pkcs1.pem");

/// An entry the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TiEntry {
    /// Domain.
    pub domain: String,
    /// Name relative to the domain (`@` for the apex).
    pub name: String,
    /// TTL.
    pub expire: u64,
    /// Type.
    pub kind: String,
    /// Content.
    pub content: String,
}

#[derive(Debug, Default)]
struct State {
    entries: Vec<TiEntry>,
    nonces: Vec<String>,
    tokens: Vec<String>,
    log: Vec<(String, String)>,
}

/// A running fake.
pub struct FakeTransip {
    /// Base URL for `dns_transip_endpoint`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

fn fail(status: u16, error: &str) -> Response {
    Response::json(status, &json!({ "error": error }))
}

impl FakeTransip {
    /// Starts the fake for account `login` owning `domains`.
    pub async fn start(
        login: &str,
        domains: &[&str],
        challtest: Option<std::net::SocketAddr>,
    ) -> FakeTransip {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let login = login.to_owned();
        let domains: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
        let PrivateKeyDer::Pkcs1(der) = PrivateKeyDer::from_pem_slice(KEY_PEM.as_bytes()).unwrap()
        else {
            panic!("the test key is PKCS#1")
        };
        let public = RsaKeyPair::from_der(der.secret_pkcs1_der())
            .unwrap()
            .public_key()
            .as_ref()
            .to_vec();
        let publisher = Arc::new(fake_http::Publisher::default());
        if let Some(mgmt) = challtest {
            publisher.publish_to(mgmt);
        }
        let addr = fake_http::serve(move |req| {
            let publisher = publisher.clone();
            let (st, login, domains, public) =
                (st.clone(), login.clone(), domains.clone(), public.clone());
            async move {
                let resp = handle(&st, &login, &domains, &public, req);
                let txt = {
                    let s = st.lock().unwrap();
                    s.entries
                        .iter()
                        .filter(|e| e.kind == "TXT")
                        .map(|e| (fake_http::absolute(&e.name, &e.domain), e.content.clone()))
                        .collect()
                };
                publisher.sync(txt).await;
                resp
            }
        })
        .await;
        FakeTransip {
            endpoint: format!("http://{addr}/v6/"),
            state,
        }
    }

    /// Entries held now.
    pub fn entries(&self) -> Vec<TiEntry> {
        self.state.lock().unwrap().entries.clone()
    }

    /// Every request, as (method, path below `/v6/`).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().log.clone()
    }

    /// Adds an entry as if made elsewhere.
    pub fn seed(&self, domain: &str, name: &str, content: &str) {
        self.state.lock().unwrap().entries.push(TiEntry {
            domain: domain.into(),
            name: name.into(),
            expire: 300,
            kind: "TXT".into(),
            content: content.into(),
        });
    }
}

fn handle(
    st: &Mutex<State>,
    login: &str,
    domains: &[String],
    public: &[u8],
    req: Request,
) -> Response {
    let path = req.path.trim_start_matches("/v6/").to_owned();
    st.lock()
        .unwrap()
        .log
        .push((req.method.clone(), path.clone()));
    if path == "auth" && req.method == "POST" {
        let sig = req
            .header("signature")
            .and_then(|s| STANDARD.decode(s).ok())
            .unwrap_or_default();
        if UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA512, public)
            .verify(&req.body, &sig)
            .is_err()
        {
            return fail(401, "Provided signature is not valid.");
        }
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        if body["login"] != login {
            return fail(401, "Incorrect login.");
        }
        let nonce = body["nonce"].as_str().unwrap_or_default().to_owned();
        let mut s = st.lock().unwrap();
        if nonce.is_empty() || nonce.len() > 32 || s.nonces.contains(&nonce) {
            return fail(401, "Provided nonce is already used.");
        }
        if body["expiration_time"].as_str().is_none() || body["label"].as_str().is_none() {
            return fail(400, "expiration_time and label are required.");
        }
        s.nonces.push(nonce);
        let token = format!(
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzUxMiJ9.fake-{}",
            s.tokens.len() + 1
        );
        s.tokens.push(token.clone());
        return Response::json(201, &json!({ "token": token }));
    }
    let authorized = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .is_some_and(|t| st.lock().unwrap().tokens.iter().any(|x| x == t));
    if !authorized {
        return fail(401, "Your access token has been revoked.");
    }
    let parts: Vec<&str> = path.split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        (_, ["domains", d, ..]) if !domains.iter().any(|x| x == d) => {
            fail(404, &format!("Domain with name '{d}' not found"))
        }
        ("GET", ["domains", d]) => Response::json(200, &json!({"domain": {"name": d}})),
        ("GET", ["domains", d, "dns"]) => {
            let list: Vec<Value> = st
                .lock()
                .unwrap()
                .entries
                .iter()
                .filter(|e| e.domain == *d)
                .map(|e| json!({"name": e.name, "expire": e.expire, "type": e.kind, "content": e.content}))
                .collect();
            Response::json(200, &json!({ "dnsEntries": list }))
        }
        (m @ ("POST" | "DELETE"), ["domains", d, "dns"]) => {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let e = &body["dnsEntry"];
            let entry = TiEntry {
                domain: d.to_string(),
                name: e["name"].as_str().unwrap_or_default().into(),
                expire: e["expire"].as_u64().unwrap_or(0),
                kind: e["type"].as_str().unwrap_or_default().into(),
                content: e["content"].as_str().unwrap_or_default().into(),
            };
            if entry.name.is_empty() || entry.name.ends_with(d) || entry.expire == 0 {
                return fail(406, "Invalid dnsEntry");
            }
            let mut s = st.lock().unwrap();
            if m == "POST" {
                s.entries.push(entry.clone());
            } else {
                match s.entries.iter().position(|x| *x == entry) {
                    Some(i) => {
                        s.entries.remove(i);
                    }
                    None => return fail(404, "Dns entry not found"),
                }
            }
            Response::text(if m == "POST" { 201 } else { 204 }, "")
        }
        _ => fail(404, "Not found"),
    }
}
