//! A fake Microsoft identity platform, instance metadata service and Azure
//! Resource Manager (DNS) on loopback, from Microsoft's documentation:
//! `POST /login/<tenant>/oauth2/v2.0/token` with the client credentials
//! grant (form `grant_type`, `client_id`, `client_secret`,
//! `scope=<resource>/.default`; AADSTS errors), or with a certificate's
//! client assertion instead of the secret (`client_assertion_type`
//! jwt-bearer, an RS256 JWT whose `x5t` is the SHA-1 thumbprint of the
//! certificate registered for the application, `aud` the token URL, `iss`
//! and `sub` the application id, `exp` within ten minutes, a `jti`); `GET /msi/token` with
//! `Metadata: true`, `api-version`, `resource` and optional `client_id`
//! (`expires_in` as a string, as IMDS sends it); and Resource Manager under
//! `/arm/` with `Authorization: Bearer`: `GET` a zone
//! (`.../providers/Microsoft.Network/dnsZones/<zone>`) and `GET`/`PUT`/
//! `DELETE` its TXT record sets (`.../TXT/<relative name>`), each with
//! `api-version`; ARM's error shape `{"error": {"code", "message"}}`.
//! Keeps every request.
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

/// The tenant, application and secret the fake accepts.
pub const TENANT: &str = "8a3f2b1c-0000-4000-8000-00000000aaaa";
/// The service principal's application id.
pub const CLIENT_ID: &str = "5d2e0c11-0000-4000-8000-00000000bbbb";
/// Its client secret.
pub const SECRET: &str = "az-secret~0123456789abcdefghij";
/// The key of the certificate registered for the application.
pub const CERT_KEY_PEM: &str = include_str!("keys/test-rsa-pkcs8.pem");
/// A key whose certificate is not registered.
pub const OTHER_KEY_PEM: &str = include_str!("keys/other-rsa.pem");

/// A self-signed certificate for `key_pem` followed by the key: the PEM
/// file `dns_azure_sp_certificate_path` names.
pub fn certificate_file(key_pem: &str) -> String {
    let key = rcgen::KeyPair::from_pem(key_pem).expect("an RSA test key");
    let params = rcgen::CertificateParams::new(vec!["moat-test-app".to_owned()]).unwrap();
    let cert = params
        .self_signed(&key)
        .expect("rcgen signs with the RSA key");
    format!("{}{key_pem}", cert.pem())
}

/// base64url of the SHA-1 of the first certificate in `pem`.
fn thumbprint(pem: &str) -> String {
    let der = rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der.as_ref());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// The registered certificate's thumbprint and public key.
struct Registered {
    thumbprint: String,
    public: Vec<u8>,
}

/// The user-assigned managed identity's client id.
pub const MSI_CLIENT_ID: &str = "77aa0c11-0000-4000-8000-00000000cccc";
/// The subscription.
pub const SUBSCRIPTION: &str = "0f1e2d3c-0000-4000-8000-00000000dddd";

/// A record set the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzSet {
    /// Resource group.
    pub group: String,
    /// Zone.
    pub zone: String,
    /// Name relative to the zone (`@` for the apex).
    pub name: String,
    /// TTL.
    pub ttl: u64,
    /// Values.
    pub values: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    /// Each client assertion's `jti`, so a replay is refused.
    assertions: Vec<String>,
    sets: Vec<AzSet>,
    tokens: Vec<String>,
    log: Vec<(String, String)>,
}

/// A running fake.
pub struct FakeAzure {
    /// Base URL for `dns_azure_endpoint`.
    pub endpoint: String,
    /// Base URL for `dns_azure_login_endpoint`.
    pub login: String,
    /// URL for `dns_azure_msi_endpoint`.
    pub msi: String,
    state: Arc<Mutex<State>>,
}

fn fail(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

impl FakeAzure {
    /// Starts the fake: `zones` are (resource group, zone) of [`SUBSCRIPTION`].
    pub async fn start(
        zones: &[(&str, &str)],
        challtest: Option<std::net::SocketAddr>,
    ) -> FakeAzure {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let zones: Vec<(String, String)> = zones
            .iter()
            .map(|(g, z)| (g.to_string(), z.to_string()))
            .collect();
        let base = Arc::new(Mutex::new(String::new()));
        let base2 = base.clone();
        let registered = Arc::new(registered());
        let publisher = Arc::new(fake_http::Publisher::default());
        if let Some(mgmt) = challtest {
            publisher.publish_to(mgmt);
        }
        let addr = fake_http::serve(move |req| {
            let publisher = publisher.clone();
            let (st, zones, registered) = (st.clone(), zones.clone(), registered.clone());
            let base = base2.lock().unwrap().clone();
            async move {
                let resp = handle(&st, &zones, &registered, &base, req);
                let txt = {
                    let s = st.lock().unwrap();
                    s.sets
                        .iter()
                        .flat_map(|x| {
                            x.values
                                .iter()
                                .map(move |v| (fake_http::absolute(&x.name, &x.zone), v.clone()))
                        })
                        .collect()
                };
                publisher.sync(txt).await;
                resp
            }
        })
        .await;
        *base.lock().unwrap() = format!("http://{addr}");
        FakeAzure {
            endpoint: format!("http://{addr}/arm/"),
            login: format!("http://{addr}/login/"),
            msi: format!("http://{addr}/msi/token"),
            state,
        }
    }

    /// An azure.ini with the service principal, mapping `domain` to `group`.
    pub fn sp_ini(&self, domain: &str, group: &str) -> String {
        format!(
            "dns_azure_sp_client_id = {CLIENT_ID}\ndns_azure_sp_client_secret = {SECRET}\n\
             dns_azure_tenant_id = {TENANT}\ndns_azure_environment = \"AzurePublicCloud\"\n\
             dns_azure_zone1 = {domain}:/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}\n\
             dns_azure_endpoint = {}\ndns_azure_login_endpoint = {}\n",
            self.endpoint, self.login
        )
    }

    /// An azure.ini with the service principal's certificate at `path`
    /// instead of the secret, mapping `domain` to `group`.
    pub fn cert_ini(&self, path: &str, domain: &str, group: &str) -> String {
        format!(
            "dns_azure_sp_client_id = {CLIENT_ID}\ndns_azure_sp_certificate_path = {path}\n\
             dns_azure_tenant_id = {TENANT}\ndns_azure_environment = \"AzurePublicCloud\"\n\
             dns_azure_zone1 = {domain}:/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}\n\
             dns_azure_endpoint = {}\ndns_azure_login_endpoint = {}\n",
            self.endpoint, self.login
        )
    }

    /// The `jti` of every client assertion accepted.
    pub fn assertions(&self) -> Vec<String> {
        self.state.lock().unwrap().assertions.clone()
    }

    /// Record sets held now.
    pub fn sets(&self) -> Vec<AzSet> {
        self.state.lock().unwrap().sets.clone()
    }

    /// Every request, as (method, path with query).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().log.clone()
    }

    /// Adds a TXT record set as if made elsewhere.
    pub fn seed(&self, group: &str, zone: &str, name: &str, values: &[&str]) {
        self.state.lock().unwrap().sets.push(AzSet {
            group: group.into(),
            zone: zone.into(),
            name: name.into(),
            ttl: 3600,
            values: values.iter().map(|v| v.to_string()).collect(),
        });
    }
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (
                k.to_owned(),
                fake_http::percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

fn issue(st: &Mutex<State>, expires_in: Value) -> Response {
    let mut s = st.lock().unwrap();
    let token = format!(
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.azure-fake-{}",
        s.tokens.len() + 1
    );
    s.tokens.push(token.clone());
    Response::json(
        200,
        &json!({"token_type": "Bearer", "expires_in": expires_in, "access_token": token}),
    )
}

fn registered() -> Registered {
    let der = PrivateKeyDer::from_pem_slice(CERT_KEY_PEM.as_bytes()).unwrap();
    let PrivateKeyDer::Pkcs8(der) = der else {
        panic!("the test key is PKCS#8")
    };
    let pair = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
    Registered {
        thumbprint: thumbprint(&certificate_file(CERT_KEY_PEM)),
        public: pair.public_key().as_ref().to_vec(),
    }
}

/// Checks a client assertion as Microsoft documents it; `Err` is the
/// AADSTS answer.
fn verify_assertion(
    st: &Mutex<State>,
    jwt: &str,
    registered: &Registered,
    aud: &str,
) -> Result<(), &'static str> {
    const BAD_SIGNATURE: &str = "AADSTS700027: Client assertion contains an invalid signature.";
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, s] = parts[..] else {
        return Err("AADSTS50027: JWT token is invalid or malformed.");
    };
    let decode = |p: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()
    };
    let (Some(header), Some(claims)) = (decode(h), decode(c)) else {
        return Err("AADSTS50027: JWT token is invalid or malformed.");
    };
    if header["alg"] != "RS256" || header["x5t"] != registered.thumbprint.as_str() {
        return Err(
            "AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application.",
        );
    }
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| BAD_SIGNATURE)?;
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &registered.public)
        .verify(format!("{h}.{c}").as_bytes(), &sig)
        .map_err(|_| BAD_SIGNATURE)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (nbf, exp) = (
        claims["nbf"].as_i64().unwrap_or(i64::MAX),
        claims["exp"].as_i64().unwrap_or(0),
    );
    if nbf > now + 60 || exp <= now || exp - now > 3600 {
        return Err("AADSTS700024: Client assertion is not within its valid time range.");
    }
    if claims["aud"] != aud || claims["iss"] != CLIENT_ID || claims["sub"] != CLIENT_ID {
        return Err("AADSTS700023: Client assertion audience claim does not match.");
    }
    let Some(jti) = claims["jti"].as_str().filter(|j| !j.is_empty()) else {
        return Err("AADSTS50027: JWT token is invalid or malformed.");
    };
    let mut s = st.lock().unwrap();
    if s.assertions.iter().any(|j| j == jti) {
        return Err("AADSTS700025: Client assertion has already been used.");
    }
    s.assertions.push(jti.to_owned());
    Ok(())
}

fn handle(
    st: &Mutex<State>,
    zones: &[(String, String)],
    registered: &Registered,
    base: &str,
    req: Request,
) -> Response {
    let logged = if req.raw_query.is_empty() {
        req.path.clone()
    } else {
        format!("{}?{}", req.path, req.raw_query)
    };
    st.lock().unwrap().log.push((req.method.clone(), logged));
    let resource = format!("{base}/arm/");
    if let Some(rest) = req.path.strip_prefix("/login/") {
        let f = form(&req.body);
        let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        if rest != format!("{TENANT}/oauth2/v2.0/token") {
            return Response::json(
                400,
                &json!({"error": "invalid_request", "error_description": "AADSTS90002: Tenant not found."}),
            );
        }
        if req.method != "POST"
            || get("grant_type") != Some("client_credentials")
            || get("scope") != Some(&format!("{resource}.default"))
        {
            return Response::json(
                400,
                &json!({"error": "invalid_request", "error_description": "AADSTS900144: bad request"}),
            );
        }
        if get("client_id") != Some(CLIENT_ID) {
            return Response::json(
                400,
                &json!({"error": "unauthorized_client", "error_description": "AADSTS700016: Application not found in the directory."}),
            );
        }
        if let Some(assertion) = get("client_assertion") {
            if get("client_assertion_type")
                != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                || get("client_secret").is_some()
            {
                return Response::json(
                    400,
                    &json!({"error": "invalid_request", "error_description": "AADSTS900144: bad client_assertion_type"}),
                );
            }
            let aud = format!("{base}/login/{TENANT}/oauth2/v2.0/token");
            if let Err(why) = verify_assertion(st, assertion, registered, &aud) {
                return Response::json(
                    401,
                    &json!({"error": "invalid_client", "error_description": why}),
                );
            }
            return issue(st, json!(3599));
        }
        if get("client_secret") != Some(SECRET) {
            return Response::json(
                401,
                &json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}),
            );
        }
        return issue(st, json!(3599));
    }
    if req.path == "/msi/token" {
        if req.header("metadata") != Some("true")
            || req.param("api-version").is_none()
            || req.param("resource") != Some(&resource)
        {
            return Response::json(
                400,
                &json!({"error": "invalid_request", "error_description": "Required metadata header not specified"}),
            );
        }
        if req.param("client_id").is_some_and(|c| c != MSI_CLIENT_ID) {
            return Response::json(
                400,
                &json!({"error": "invalid_request", "error_description": "Identity not found"}),
            );
        }
        return issue(st, json!("86399"));
    }
    let authorized = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .is_some_and(|t| st.lock().unwrap().tokens.iter().any(|x| x == t));
    if !authorized {
        return fail(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        );
    }
    if req.param("api-version") != Some("2018-05-01") {
        return fail(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter is required.",
        );
    }
    let Some(rest) = req.path.strip_prefix("/arm/subscriptions/") else {
        return fail(404, "NotFound", "Not found");
    };
    let parts: Vec<&str> = rest.split('/').collect();
    if parts[0] != SUBSCRIPTION {
        return fail(
            404,
            "SubscriptionNotFound",
            "The subscription could not be found.",
        );
    }
    let (group, zone, record) = match parts[1..] {
        ["resourceGroups", g, "providers", "Microsoft.Network", "dnsZones", z] => (g, z, None),
        ["resourceGroups", g, "providers", "Microsoft.Network", "dnsZones", z, "TXT", n] => {
            (g, z, Some(n))
        }
        _ => return fail(404, "NotFound", "Not found"),
    };
    if !zones.iter().any(|(g, z)| g == group && z == zone) {
        let code = if record.is_some() {
            "ParentResourceNotFound"
        } else {
            "ResourceNotFound"
        };
        return fail(404, code, &format!("The Resource 'Microsoft.Network/dnszones/{zone}' under resource group '{group}' was not found."));
    }
    let Some(name) = record else {
        return match req.method.as_str() {
            "GET" => Response::json(
                200,
                &json!({"name": zone, "type": "Microsoft.Network/dnszones", "properties": {"numberOfRecordSets": 2}}),
            ),
            _ => fail(405, "MethodNotAllowed", "no"),
        };
    };
    let mut s = st.lock().unwrap();
    let at = s
        .sets
        .iter()
        .position(|x| x.group == group && x.zone == zone && x.name == name);
    let host = if name == "@" {
        format!("{zone}.")
    } else {
        format!("{name}.{zone}.")
    };
    match req.method.as_str() {
        "GET" => match at {
            Some(i) => {
                let x = &s.sets[i];
                let recs: Vec<Value> = x.values.iter().map(|v| json!({"value": [v]})).collect();
                Response::json(
                    200,
                    &json!({"name": name, "type": "Microsoft.Network/dnszones/TXT", "properties": {"TTL": x.ttl, "fqdn": host, "TXTRecords": recs}}),
                )
            }
            None => fail(
                404,
                "NotFound",
                &format!(
                    "The resource record '{name}' does not exist in resource group '{group}'."
                ),
            ),
        },
        "PUT" => {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let Some(ttl) = body["properties"]["TTL"].as_u64() else {
                return fail(400, "BadRequest", "TTL is required");
            };
            let values: Vec<String> = body["properties"]["TXTRecords"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    r["value"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect()
                })
                .collect();
            if values.is_empty() || name.ends_with(zone) {
                return fail(400, "BadRequest", "Invalid record set");
            }
            let set = AzSet {
                group: group.into(),
                zone: zone.into(),
                name: name.into(),
                ttl,
                values: values.clone(),
            };
            let status = match at {
                Some(i) => {
                    s.sets[i] = set;
                    200
                }
                None => {
                    s.sets.push(set);
                    201
                }
            };
            Response::json(
                status,
                &json!({"name": name, "properties": body["properties"]}),
            )
        }
        "DELETE" => {
            if let Some(i) = at {
                s.sets.remove(i);
                Response::text(200, "")
            } else {
                Response::text(204, "")
            }
        }
        _ => fail(405, "MethodNotAllowed", "no"),
    }
}
