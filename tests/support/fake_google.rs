//! A fake Google OAuth token endpoint and Cloud DNS API v1 on loopback, from
//! Google's documentation: `POST /token` takes
//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and an RS256 JWT
//! assertion, whose signature (RSASSA-PKCS1-v1_5 with SHA-256) is verified
//! with the service account's public key and whose claims (`iss`, `scope`,
//! `aud`, `iat`, `exp` at most an hour later) are checked; Cloud DNS
//! requests need `Authorization: Bearer` with an issued token.
//! `managedZones?dnsName=` lists zones, `rrsets?name=&type=` reads, and
//! `POST changes` applies deletions (which must equal the current rrset,
//! else 412 conditionNotMet, as Cloud DNS does) then additions; a change is
//! `pending` when created and `done` when read. Keeps every request.
//!
//! Include next to `fake_http.rs`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::signature::{KeyPair, RsaKeyPair, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use serde_json::{json, Value};

use super::fake_http::{self, Request, Response};

/// The service account the fake knows.
pub const EMAIL: &str = "moat-dns@moat-test-project.iam.gserviceaccount.com";
/// Its project.
pub const PROJECT: &str = "moat-test-project";
/// The PKCS#8 key of the test service account.
pub const KEY_PEM: &str = include_str!("keys/test-rsa-pkcs8.pem");

/// An rrset the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcSet {
    /// Managed zone name.
    pub zone: String,
    /// Absolute name with the dot.
    pub name: String,
    /// TTL.
    pub ttl: u64,
    /// rrdatas as sent (quoted).
    pub rrdatas: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    sets: Vec<GcSet>,
    tokens: Vec<String>,
    changes: u64,
    log: Vec<(String, String)>,
}

/// A running fake.
pub struct FakeGoogle {
    /// `token_uri` for google.json.
    pub token_uri: String,
    /// Base URL for `dns_google_endpoint`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

fn fail(status: u16, reason: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"error": {"code": status, "message": message, "errors": [{"reason": reason, "message": message}]}}),
    )
}

impl FakeGoogle {
    /// Starts the fake: `zones` are (managed zone name, dnsName without the
    /// dot, visibility) of [`PROJECT`]; the accepted key is [`KEY_PEM`]'s.
    pub async fn start(
        zones: &[(&str, &str, &str)],
        challtest: Option<std::net::SocketAddr>,
    ) -> FakeGoogle {
        Self::start_at(zones, challtest, std::net::Ipv4Addr::LOCALHOST.into()).await
    }

    /// [`FakeGoogle::start`] listening on `ip` (a test-created Docker
    /// network's gateway, for moat in a container).
    pub async fn start_at(
        zones: &[(&str, &str, &str)],
        challtest: Option<std::net::SocketAddr>,
        ip: std::net::IpAddr,
    ) -> FakeGoogle {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let zones: Vec<(String, String, String)> = zones
            .iter()
            .map(|(a, b, c)| (a.to_string(), format!("{b}."), c.to_string()))
            .collect();
        let der = PrivateKeyDer::from_pem_slice(KEY_PEM.as_bytes()).unwrap();
        let PrivateKeyDer::Pkcs8(der) = der else {
            panic!("the test key is PKCS#8")
        };
        let pair = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
        let public = pair.public_key().as_ref().to_vec();
        let addr = Arc::new(Mutex::new(None::<String>));
        let addr2 = addr.clone();
        let publisher = Arc::new(fake_http::Publisher::default());
        if let Some(mgmt) = challtest {
            publisher.publish_to(mgmt);
        }
        let bound = fake_http::serve_at(ip, move |req| {
            let publisher = publisher.clone();
            let (st, zones, public) = (st.clone(), zones.clone(), public.clone());
            let base = addr2.lock().unwrap().clone().unwrap_or_default();
            async move {
                let resp = handle(&st, &zones, &public, &base, req);
                let txt = {
                    let s = st.lock().unwrap();
                    s.sets
                        .iter()
                        .flat_map(|x| {
                            x.rrdatas
                                .iter()
                                .map(move |r| (x.name.clone(), r.trim_matches('"').to_owned()))
                        })
                        .collect()
                };
                publisher.sync(txt).await;
                resp
            }
        })
        .await;
        *addr.lock().unwrap() = Some(format!("http://{bound}"));
        FakeGoogle {
            token_uri: format!("http://{bound}/token"),
            endpoint: format!("http://{bound}/dns/v1/"),
            state,
        }
    }

    /// A google.json for the test service account, pointed at the fake.
    pub fn key_file(&self) -> String {
        json!({
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": "0123456789abcdef0123456789abcdef01234567",
            "private_key": KEY_PEM,
            "client_email": EMAIL,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
            "dns_google_endpoint": self.endpoint,
        })
        .to_string()
    }

    /// rrsets held now.
    pub fn sets(&self) -> Vec<GcSet> {
        self.state.lock().unwrap().sets.clone()
    }

    /// Every request, as (method, path with query).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().log.clone()
    }

    /// Forgets the requests so far.
    pub fn clear_requests(&self) {
        self.state.lock().unwrap().log.clear();
    }

    /// Adds an rrset as if made elsewhere.
    pub fn seed(&self, zone: &str, name: &str, rrdatas: &[&str]) {
        self.state.lock().unwrap().sets.push(GcSet {
            zone: zone.into(),
            name: name.into(),
            ttl: 300,
            rrdatas: rrdatas.iter().map(|s| s.to_string()).collect(),
        });
    }
}

/// Checks the JWT assertion as Google documents it; `Err` is the reason.
fn verify_jwt(jwt: &str, public: &[u8], aud: &str) -> Result<(), String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, s] = parts[..] else {
        return Err("not three parts".into());
    };
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    if header["alg"] != "RS256" || header["typ"] != "JWT" {
        return Err(format!("header {header}"));
    }
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|e| e.to_string())?;
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public)
        .verify(format!("{h}.{c}").as_bytes(), &sig)
        .map_err(|_| "invalid signature".to_owned())?;
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap_or(0),
        claims["exp"].as_i64().unwrap_or(0),
    );
    if claims["iss"] != EMAIL
        || claims["aud"] != aud
        || claims["scope"] != "https://www.googleapis.com/auth/ndev.clouddns.readwrite"
        || (iat - now).abs() > 60
        || exp <= iat
        || exp - iat > 3600
    {
        return Err(format!("claims {claims}"));
    }
    Ok(())
}

fn handle(
    st: &Mutex<State>,
    zones: &[(String, String, String)],
    public: &[u8],
    base: &str,
    req: Request,
) -> Response {
    let logged = if req.raw_query.is_empty() {
        req.path.clone()
    } else {
        format!("{}?{}", req.path, req.raw_query)
    };
    st.lock().unwrap().log.push((req.method.clone(), logged));
    if req.path == "/token" {
        let form: Vec<(String, String)> = String::from_utf8_lossy(&req.body)
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| {
                (
                    k.to_owned(),
                    fake_http::percent_decode(&v.replace('+', " ")),
                )
            })
            .collect();
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        if req.header("content-type") != Some("application/x-www-form-urlencoded")
            || get("grant_type") != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        {
            return Response::json(400, &json!({"error": "unsupported_grant_type"}));
        }
        if let Err(why) = verify_jwt(
            get("assertion").unwrap_or_default(),
            public,
            &format!("{base}/token"),
        ) {
            return Response::json(
                400,
                &json!({"error": "invalid_grant", "error_description": format!("Invalid JWT: {why}")}),
            );
        }
        let mut s = st.lock().unwrap();
        let token = format!("ya29.fake-access-token-{}", s.tokens.len() + 1);
        s.tokens.push(token.clone());
        return Response::json(
            200,
            &json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}),
        );
    }
    let authorized = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .is_some_and(|t| st.lock().unwrap().tokens.iter().any(|x| x == t));
    if !authorized {
        return fail(
            401,
            "authError",
            "Request had invalid authentication credentials.",
        );
    }
    let Some(rest) = req.path.strip_prefix("/dns/v1/projects/") else {
        return fail(404, "notFound", "Not Found");
    };
    let parts: Vec<&str> = rest.split('/').collect();
    if parts[0] != PROJECT {
        return fail(403, "forbidden", "Forbidden");
    }
    let known = |z: &str| zones.iter().find(|(n, _, _)| n == z).cloned();
    match (req.method.as_str(), &parts[1..]) {
        ("GET", ["managedZones"]) => {
            let dns_name = req.param("dnsName").unwrap_or_default();
            let list: Vec<Value> = zones
                .iter()
                .filter(|(_, d, _)| d == dns_name)
                .map(|(n, d, v)| json!({"kind": "dns#managedZone", "name": n, "dnsName": d, "visibility": v}))
                .collect();
            Response::json(200, &json!({"managedZones": list}))
        }
        (_, ["managedZones", z, ..]) if known(z).is_none() => fail(
            404,
            "notFound",
            "The 'parameters.managedZone' resource named 'x' does not exist.",
        ),
        ("GET", ["managedZones", z, "rrsets"]) => {
            let name = req.param("name").unwrap_or_default();
            let list: Vec<Value> = st
                .lock()
                .unwrap()
                .sets
                .iter()
                .filter(|s| s.zone == *z && s.name == name && req.param("type") == Some("TXT"))
                .map(|s| json!({"kind": "dns#resourceRecordSet", "name": s.name, "type": "TXT", "ttl": s.ttl, "rrdatas": s.rrdatas}))
                .collect();
            Response::json(200, &json!({"rrsets": list}))
        }
        ("POST", ["managedZones", z, "changes"]) => {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let (_, dns_name, _) = known(z).unwrap();
            let mut s = st.lock().unwrap();
            let set_of = |v: &Value| GcSet {
                zone: z.to_string(),
                name: v["name"].as_str().unwrap_or_default().into(),
                ttl: v["ttl"].as_u64().unwrap_or(0),
                rrdatas: v["rrdatas"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect(),
            };
            let dels: Vec<GcSet> = body["deletions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(set_of)
                .collect();
            let adds: Vec<GcSet> = body["additions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(set_of)
                .collect();
            let mut sets = s.sets.clone();
            for d in &dels {
                match sets.iter().position(|x| *x == *d) {
                    Some(i) => {
                        sets.remove(i);
                    }
                    None => {
                        return fail(
                            412,
                            "conditionNotMet",
                            "Precondition not met for 'entity.change.deletions[0]'",
                        )
                    }
                }
            }
            for a in &adds {
                if !a.name.ends_with(&dns_name) || a.rrdatas.iter().any(|r| !r.starts_with('"')) {
                    return fail(
                        400,
                        "invalid",
                        "Invalid value for 'entity.change.additions[0]'",
                    );
                }
                if sets.iter().any(|x| x.zone == a.zone && x.name == a.name) {
                    return fail(
                        409,
                        "alreadyExists",
                        "The resource 'entity.change.additions[0]' already exists",
                    );
                }
                sets.push(a.clone());
            }
            s.sets = sets;
            s.changes += 1;
            Response::json(
                200,
                &json!({"kind": "dns#change", "id": s.changes.to_string(), "status": "pending"}),
            )
        }
        ("GET", ["managedZones", _, "changes", id]) => Response::json(
            200,
            &json!({"kind": "dns#change", "id": id, "status": "done"}),
        ),
        _ => fail(404, "notFound", "Not Found"),
    }
}
