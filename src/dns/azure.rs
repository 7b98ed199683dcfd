//! Azure DNS through Azure Resource Manager (certbot-dns-azure,
//! `azure.ini`). Credentials are a service principal's client secret
//! (`dns_azure_sp_client_id`, `dns_azure_sp_client_secret`,
//! `dns_azure_tenant_id`), exchanged at the Microsoft identity platform's
//! token endpoint (client credentials grant), a service principal's
//! certificate (`dns_azure_sp_certificate_path`: a client assertion JWT
//! signed with its key, the certificate named by its thumbprint), or a
//! managed identity
//! (`dns_azure_msi_client_id`, or `dns_azure_msi_system_assigned = true`)
//! whose token comes from the instance metadata service. `dns_azure_environment`
//! picks the cloud's login and management hosts.
//!
//! Zones are not searched: each `dns_azure_zoneN = <domain>:<resource group
//! id>` maps a domain to the resource group holding its zone (a path ending
//! in `/providers/Microsoft.Network/dnszones/<zone>` names a delegated zone
//! itself); the record's zone is the mapping with the longest matching
//! domain. A name's TXT values are one record set, so `present` reads it
//! and PUTs it back with the value added, `cleanup` without it (or DELETEs
//! it when it was the last), serialised.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use serde_json::{json, Value};

use super::http::{form_body, json_api, ApiError, HttpClient, JsonCall, DEFAULT_TIMEOUT};
use super::ini::IniFile;
use super::jwt;
use super::names::{challenge_bases, relative_name};
use super::rsa_key::RsaKey;
use super::token_cache::{oauth_answer, TokenCache};
use super::{DnsError, DnsProvider, RecordHandle, Secret};

/// `azure.ini`: the service principal's application (client) id.
pub const KEY_SP_CLIENT_ID: &str = "dns_azure_sp_client_id";
/// `azure.ini`: the service principal's client secret.
pub const KEY_SP_CLIENT_SECRET: &str = "dns_azure_sp_client_secret";
/// `azure.ini`: a PEM file with the service principal's certificate and its
/// RSA private key (certbot-dns-azure's certificate sign-in).
pub const KEY_SP_CERTIFICATE_PATH: &str = "dns_azure_sp_certificate_path";
/// `azure.ini`: the directory (tenant) id.
pub const KEY_TENANT_ID: &str = "dns_azure_tenant_id";
/// `azure.ini`: a user-assigned managed identity's client id.
pub const KEY_MSI_CLIENT_ID: &str = "dns_azure_msi_client_id";
/// `azure.ini`: `true` for the system-assigned managed identity.
pub const KEY_MSI_SYSTEM_ASSIGNED: &str = "dns_azure_msi_system_assigned";
/// `azure.ini`: the cloud (`AzurePublicCloud` by default).
pub const KEY_ENVIRONMENT: &str = "dns_azure_environment";
/// `azure.ini`: `dns_azure_zone1`, `dns_azure_zone2`, ...: domain to
/// resource group.
pub const KEY_ZONE_PREFIX: &str = "dns_azure_zone";
/// moat extension (tests only): the Resource Manager base URL.
pub const KEY_ENDPOINT: &str = "dns_azure_endpoint";
/// moat extension (tests only): the login (token) base URL.
pub const KEY_LOGIN_ENDPOINT: &str = "dns_azure_login_endpoint";
/// moat extension (tests only): the managed identity token URL.
pub const KEY_MSI_ENDPOINT: &str = "dns_azure_msi_endpoint";
/// The instance metadata service's token URL.
pub const DEFAULT_MSI_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
/// The DNS API version used.
pub const API_VERSION: &str = "2018-05-01";
/// TTL of challenge record sets.
pub const RECORD_TTL: u32 = 60;
const PLUGIN: &str = "azure";
/// SWAG's template values (certbot-dns-azure's documentation examples).
const PLACEHOLDER_CLIENT_ID: &str = "912ce44a-0156-4669-ae22-c16a17d34ca5";
const PLACEHOLDER_SECRET: &str = "E-xqXU83Y-jzTI6xe9fs2YC~mck3ZzUih9";
const PLACEHOLDER_TENANT: &str = "ed1090f3-ab18-4b12-816c-599af8a88cf7";
const PLACEHOLDER_SUBSCRIPTION: &str = "c135abce-d87d-48df-936c-15596c6968a5";

/// The clouds `dns_azure_environment` names: (name, login host, management host).
const ENVIRONMENTS: &[(&str, &str, &str)] = &[
    (
        "AzurePublicCloud",
        "https://login.microsoftonline.com/",
        "https://management.azure.com/",
    ),
    (
        "AzureUSGovernmentCloud",
        "https://login.microsoftonline.us/",
        "https://management.usgovcloudapi.net/",
    ),
    (
        "AzureChinaCloud",
        "https://login.chinacloudapi.cn/",
        "https://management.chinacloudapi.cn/",
    ),
    (
        "AzureGermanCloud",
        "https://login.microsoftonline.de/",
        "https://management.microsoftazure.de/",
    ),
];

/// How moat gets a token.
#[derive(Debug, Clone)]
pub enum AzureCredential {
    /// Service principal with a client secret.
    ClientSecret {
        /// The tenant.
        tenant: String,
        /// The application id.
        client_id: String,
        /// The secret.
        secret: Secret,
    },
    /// Service principal with a certificate: moat signs a client assertion
    /// (RFC 7523) with the certificate's key; Microsoft's identity platform
    /// finds the certificate by the SHA-1 thumbprint in the JWT's `x5t`.
    Certificate {
        /// The tenant.
        tenant: String,
        /// The application id.
        client_id: String,
        /// The certificate's private key.
        key: Arc<RsaKey>,
        /// base64url of the certificate's SHA-1 thumbprint.
        thumbprint: String,
    },
    /// A managed identity: user-assigned (its client id) or system-assigned.
    ManagedIdentity {
        /// The user-assigned identity's client id.
        client_id: Option<String>,
    },
}

/// One `dns_azure_zoneN` mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneMapping {
    /// The domain (lower case, no dot).
    pub domain: String,
    /// `/subscriptions/<id>/resourceGroups/<name>`.
    pub resource_group: String,
    /// The Azure DNS zone's name.
    pub zone: String,
}

/// Settings from `azure.ini`.
#[derive(Debug, Clone)]
pub struct AzureConfig {
    /// The credential.
    pub credential: AzureCredential,
    /// Domain → zone mappings.
    pub zones: Vec<ZoneMapping>,
    /// Resource Manager base, ending in `/`.
    pub endpoint: reqwest::Url,
    /// Login base, ending in `/`.
    pub login: reqwest::Url,
    /// Managed identity token URL.
    pub msi: reqwest::Url,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
}

impl AzureConfig {
    /// Reads `azure.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let env = match ini.optional(KEY_ENVIRONMENT) {
            Some((name, line)) => ENVIRONMENTS
                .iter()
                .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    let names: Vec<&str> = ENVIRONMENTS.iter().map(|e| e.0).collect();
                    ini.error(
                        Some(line),
                        format!("{KEY_ENVIRONMENT} must be one of {}", names.join(", ")),
                    )
                })?,
            None => &ENVIRONMENTS[0],
        };
        let system = match ini.optional(KEY_MSI_SYSTEM_ASSIGNED) {
            Some((v, line)) => match v.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => true,
                "false" | "no" | "0" => false,
                _ => {
                    return Err(ini.error(
                        Some(line),
                        format!("{KEY_MSI_SYSTEM_ASSIGNED} must be true or false"),
                    ))
                }
            },
            None => false,
        };
        let credential = if let Some((id, line)) = ini.optional(KEY_MSI_CLIENT_ID) {
            ini.refuse_placeholder(
                KEY_MSI_CLIENT_ID,
                id,
                line,
                PLACEHOLDER_CLIENT_ID,
                "your managed identity's client id",
            )?;
            AzureCredential::ManagedIdentity {
                client_id: Some(id.to_owned()),
            }
        } else if system {
            AzureCredential::ManagedIdentity { client_id: None }
        } else if let (Some((path, line)), None) = (
            ini.optional(KEY_SP_CERTIFICATE_PATH),
            ini.optional(KEY_SP_CLIENT_SECRET),
        ) {
            let (client_id, tenant) = service_principal(ini)?;
            let (key, thumbprint) = certificate_credential(ini, path, line)?;
            AzureCredential::Certificate {
                tenant,
                client_id,
                key: Arc::new(key),
                thumbprint,
            }
        } else {
            let (client_id, tenant) = service_principal(ini)?;
            let (secret, _) = ini.required_secret(
                KEY_SP_CLIENT_SECRET,
                "the service principal's client secret",
                PLACEHOLDER_SECRET,
            )?;
            AzureCredential::ClientSecret {
                tenant,
                client_id,
                secret,
            }
        };
        let mut zones = Vec::new();
        for (key, value, line) in ini.with_prefix(KEY_ZONE_PREFIX) {
            if value.is_empty() {
                continue;
            }
            zones.push(parse_zone(ini, key, value, line)?);
        }
        if zones.is_empty() {
            return Err(ini.error(
                None,
                format!(
                    "missing key {KEY_ZONE_PREFIX}1: add `{KEY_ZONE_PREFIX}1 = <domain>:/subscriptions/<id>/resourceGroups/<group>`"
                ),
            ));
        }
        Ok(AzureConfig {
            credential,
            zones,
            endpoint: ini.endpoint(KEY_ENDPOINT, env.2)?,
            login: ini.endpoint(KEY_LOGIN_ENDPOINT, env.1)?,
            msi: match ini.optional(KEY_MSI_ENDPOINT) {
                Some(_) => {
                    let u = ini.endpoint(KEY_MSI_ENDPOINT, DEFAULT_MSI_ENDPOINT)?;
                    reqwest::Url::parse(u.as_str().trim_end_matches('/')).unwrap_or(u)
                }
                None => reqwest::Url::parse(DEFAULT_MSI_ENDPOINT).expect("a URL"),
            },
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

/// The service principal's application (client) id and tenant.
fn service_principal(ini: &IniFile) -> Result<(String, String), DnsError> {
    let (client_id, line) = ini.required(KEY_SP_CLIENT_ID, "the application (client) id")?;
    ini.refuse_placeholder(
        KEY_SP_CLIENT_ID,
        client_id,
        line,
        PLACEHOLDER_CLIENT_ID,
        "your service principal's application (client) id",
    )?;
    let (tenant, line) = ini.required(KEY_TENANT_ID, "the directory (tenant) id")?;
    ini.refuse_placeholder(
        KEY_TENANT_ID,
        tenant,
        line,
        PLACEHOLDER_TENANT,
        "your directory (tenant) id",
    )?;
    Ok((client_id.to_owned(), tenant.to_owned()))
}

/// The key and thumbprint from the PEM file `dns_azure_sp_certificate_path`
/// names: its first certificate (the one uploaded to the app registration)
/// and its RSA private key.
fn certificate_credential(
    ini: &IniFile,
    path: &str,
    line: u32,
) -> Result<(RsaKey, String), DnsError> {
    let (path, pem) = ini.read_file(
        KEY_SP_CERTIFICATE_PATH,
        path,
        line,
        "put the PEM file with the certificate and its private key there",
    )?;
    let bad = |what: &str| {
        ini.error(
            Some(line),
            format!("{KEY_SP_CERTIFICATE_PATH}: {}: {what}", path.display()),
        )
    };
    let cert = CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|_| bad("no -----BEGIN CERTIFICATE----- in it (the file holds the certificate and its private key)"))?;
    let key = RsaKey::from_pem(&pem).map_err(|e| bad(&e))?;
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.as_ref());
    Ok((key, URL_SAFE_NO_PAD.encode(digest.as_ref())))
}

/// `example.com:/subscriptions/<id>/resourceGroups/<rg>[/providers/Microsoft.Network/dnszones/<zone>]`.
fn parse_zone(ini: &IniFile, key: &str, value: &str, line: u32) -> Result<ZoneMapping, DnsError> {
    let bad = |why: &str| {
        ini.error(
            Some(line),
            format!(
                "{key} {why}: expected `<domain>:/subscriptions/<subscription id>/resourceGroups/<group>`"
            ),
        )
    };
    let (domain, path) = value.split_once(':').ok_or_else(|| bad("has no `:`"))?;
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let path = path.trim().trim_end_matches('/');
    let parts: Vec<&str> = path.split('/').collect();
    if domain.is_empty()
        || parts.len() < 5
        || !parts[0].is_empty()
        || !parts[1].eq_ignore_ascii_case("subscriptions")
        || !parts[3].eq_ignore_ascii_case("resourceGroups")
    {
        return Err(bad("is not a domain and a resource group id"));
    }
    if parts[2] == PLACEHOLDER_SUBSCRIPTION {
        return Err(ini.error(
            Some(line),
            format!(
                "{key} still holds the template's placeholder value: replace it with your domain \
                 and the resource group id of its DNS zone"
            ),
        ));
    }
    let resource_group = parts[..5].join("/");
    let zone = match &parts[5..] {
        [] => domain.clone(),
        [p, n, z, zone]
            if p.eq_ignore_ascii_case("providers")
                && n.eq_ignore_ascii_case("Microsoft.Network")
                && z.eq_ignore_ascii_case("dnszones") =>
        {
            zone.to_ascii_lowercase()
        }
        _ => return Err(bad("has an unexpected path after the resource group")),
    };
    Ok(ZoneMapping {
        domain,
        resource_group,
        zone,
    })
}

/// The Azure DNS provider.
#[derive(Debug)]
pub struct AzureProvider {
    config: AzureConfig,
    http: HttpClient,
    token: TokenCache,
    write: tokio::sync::Mutex<()>,
}

impl AzureProvider {
    /// A provider for `config`.
    pub fn new(config: AzureConfig) -> Result<Self, DnsError> {
        Ok(AzureProvider {
            http: HttpClient::new(PLUGIN, config.timeout)?,
            config,
            token: TokenCache::default(),
            write: tokio::sync::Mutex::new(()),
        })
    }

    /// Builds the provider from `azure.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(AzureConfig::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for AzureProvider {
    fn name(&self) -> &'static str {
        PLUGIN
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        self.access_token().await?;
        let mut zones = Vec::new();
        for d in challenge_bases(domains) {
            let m = self.mapping(&d)?;
            self.call(JsonCall::new(reqwest::Method::GET, &zone_path(m, None)))
                .await
                .map_err(|e| self.zone_error(m, e))?;
            zones.push(format!("{d} in zone {}", m.zone));
        }
        let head = format!("{PLUGIN}: {} accepted", self.who());
        Ok(if zones.is_empty() {
            head
        } else {
            format!("{head}; {}", zones.join(", "))
        })
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let _guard = self.write.lock().await;
        let m = self.mapping(&fqdn)?.clone();
        let path = zone_path(&m, Some(&fqdn));
        let (ttl, mut values) = self
            .read(&m, &path)
            .await?
            .unwrap_or((RECORD_TTL, Vec::new()));
        let handle = RecordHandle {
            fqdn: fqdn.clone(),
            value: value.to_owned(),
            id: None,
            zone: Some(m.zone.clone()),
        };
        if values.iter().any(|v| v == value) {
            tracing::info!(%fqdn, "{PLUGIN}: TXT value already present");
            return Ok(handle);
        }
        values.push(value.to_owned());
        self.write_set(&path, ttl, &values).await?;
        tracing::info!(%fqdn, values = values.len(), "{PLUGIN}: TXT value added");
        Ok(handle)
    }

    async fn cleanup(&self, handle: &RecordHandle) -> Result<(), DnsError> {
        let _guard = self.write.lock().await;
        let m = self.mapping(&handle.fqdn)?.clone();
        let path = zone_path(&m, Some(&handle.fqdn));
        let Some((ttl, values)) = self.read(&m, &path).await? else {
            tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT record already gone");
            return Ok(());
        };
        if !values.contains(&handle.value) {
            tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT value already gone");
            return Ok(());
        }
        let rest: Vec<String> = values.into_iter().filter(|v| *v != handle.value).collect();
        if rest.is_empty() {
            match self
                .call(JsonCall::new(reqwest::Method::DELETE, &path))
                .await
            {
                Ok(_) | Err(ApiError { status: 404, .. }) => {}
                Err(e) => return Err(e.error),
            }
        } else {
            self.write_set(&path, ttl, &rest).await?;
        }
        tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT value deleted");
        Ok(())
    }

    fn propagation_default(&self) -> Duration {
        // certbot-dns-azure's default.
        Duration::from_secs(10)
    }
}

/// The zone's ARM path, or a TXT record set's in it, with the API version.
fn zone_path(m: &ZoneMapping, fqdn: Option<&str>) -> String {
    let base = format!(
        "{}/providers/Microsoft.Network/dnsZones/{}",
        m.resource_group.trim_start_matches('/'),
        m.zone
    );
    match fqdn {
        Some(f) => format!(
            "{base}/TXT/{}?api-version={API_VERSION}",
            relative_name(f, &m.zone)
        ),
        None => format!("{base}?api-version={API_VERSION}"),
    }
}

/// The client assertion a certificate credential signs in with: issued by
/// and about the application, for the token endpoint, valid ten minutes.
fn client_assertion(
    token_url: &reqwest::Url,
    client_id: &str,
    key: &RsaKey,
    thumbprint: &str,
) -> Result<Secret, DnsError> {
    use rand::Rng as _;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let jti: String = {
        let mut rng = rand::rng();
        (0..32)
            .map(|_| format!("{:x}", rng.random_range(0..16u8)))
            .collect()
    };
    let claims = json!({
        "aud": token_url.as_str(),
        "iss": client_id,
        "sub": client_id,
        "jti": jti,
        "nbf": now,
        "iat": now,
        "exp": now + 600,
    });
    jwt::rs256(json!({ "x5t": thumbprint }), &claims, key).map_err(|e| DnsError::api(PLUGIN, e))
}

impl AzureProvider {
    /// The mapping whose domain is the longest suffix of `name`.
    fn mapping(&self, name: &str) -> Result<&ZoneMapping, DnsError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.config
            .zones
            .iter()
            .filter(|m| name == m.domain || name.ends_with(&format!(".{}", m.domain)))
            .max_by_key(|m| m.domain.len())
            .ok_or_else(|| {
                DnsError::api(
                    PLUGIN,
                    format!(
                        "no {KEY_ZONE_PREFIX}N in {PLUGIN}.ini maps {name}: add \
                         `{KEY_ZONE_PREFIX}{} = <domain>:/subscriptions/<id>/resourceGroups/<group>`",
                        self.config.zones.len() + 1
                    ),
                )
            })
    }

    fn who(&self) -> String {
        match &self.config.credential {
            AzureCredential::ClientSecret { client_id, .. } => {
                format!("service principal {client_id}")
            }
            AzureCredential::Certificate { client_id, .. } => {
                format!("service principal {client_id} (certificate)")
            }
            AzureCredential::ManagedIdentity {
                client_id: Some(id),
            } => {
                format!("managed identity {id}")
            }
            AzureCredential::ManagedIdentity { client_id: None } => {
                "system-assigned managed identity".to_owned()
            }
        }
    }

    fn zone_error(&self, m: &ZoneMapping, e: ApiError) -> DnsError {
        if e.status == 404 {
            DnsError::api(
                PLUGIN,
                format!(
                    "no DNS zone {} in resource group {} ({KEY_ZONE_PREFIX}N in {PLUGIN}.ini)",
                    m.zone, m.resource_group
                ),
            )
        } else {
            e.error
        }
    }

    /// A token for Resource Manager: cached, or a new one.
    async fn access_token(&self) -> Result<Secret, DnsError> {
        self.token.get(|| self.sign_in()).await
    }

    /// A new token for Resource Manager and its lifetime.
    async fn sign_in(&self) -> Result<(Secret, Duration), DnsError> {
        let resource = self.config.endpoint.as_str();
        let scope = format!("{resource}.default");
        let reply = match &self.config.credential {
            AzureCredential::ClientSecret {
                tenant,
                client_id,
                secret,
            } => {
                let url = self.token_url(tenant)?;
                let body = form_body(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    ("client_secret", secret.expose()),
                    ("scope", &scope),
                ]);
                self.post_token(url, body).await?
            }
            AzureCredential::Certificate {
                tenant,
                client_id,
                key,
                thumbprint,
            } => {
                let url = self.token_url(tenant)?;
                let assertion = client_assertion(&url, client_id, key, thumbprint)?;
                let body = form_body(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion.expose()),
                    ("scope", &scope),
                ]);
                self.post_token(url, body).await?
            }
            AzureCredential::ManagedIdentity { client_id } => {
                let mut url = self.config.msi.clone();
                url.query_pairs_mut()
                    .append_pair("api-version", "2018-02-01")
                    .append_pair("resource", resource);
                if let Some(id) = client_id {
                    url.query_pairs_mut().append_pair("client_id", id);
                }
                self.http
                    .send("the managed identity endpoint", || {
                        self.http
                            .inner()
                            .get(url.clone())
                            .header("metadata", "true")
                    })
                    .await?
            }
        };
        oauth_answer(&reply).map_err(|what| {
            DnsError::api(
                PLUGIN,
                format!(
                    "no token for the {} (HTTP {}: {what}); {} in {PLUGIN}.ini",
                    self.who(),
                    reply.status,
                    self.sign_in_hint(&what)
                ),
            )
        })
    }

    /// The Microsoft identity platform's token endpoint for `tenant`.
    fn token_url(&self, tenant: &str) -> Result<reqwest::Url, DnsError> {
        self.config
            .login
            .join(&format!("{tenant}/oauth2/v2.0/token"))
            .map_err(|e| DnsError::api(PLUGIN, format!("bad tenant id: {e}")))
    }

    async fn post_token(
        &self,
        url: reqwest::Url,
        body: String,
    ) -> Result<super::http::HttpReply, DnsError> {
        self.http
            .post_form(
                "the Microsoft identity platform's token endpoint",
                &url,
                &body,
            )
            .await
    }

    /// Which key to check for a refused sign-in: AADSTS codes say which is
    /// wrong.
    fn sign_in_hint(&self, what: &str) -> String {
        let code = |codes: &[&str]| codes.iter().any(|c| what.contains(c));
        if code(&["AADSTS7000215", "AADSTS7000222"]) {
            format!("check {KEY_SP_CLIENT_SECRET} (it may have expired)")
        } else if code(&["AADSTS700027", "AADSTS700024", "AADSTS700023"]) {
            format!(
                "check {KEY_SP_CERTIFICATE_PATH} (its certificate must be the one uploaded to the \
                 app registration, and this machine's clock right)"
            )
        } else if code(&["AADSTS700016"]) {
            format!("check {KEY_SP_CLIENT_ID} and {KEY_TENANT_ID}")
        } else if code(&["AADSTS90002", "AADSTS900023"]) {
            format!("check {KEY_TENANT_ID}")
        } else {
            match &self.config.credential {
                AzureCredential::ClientSecret { .. } => {
                    format!("check {KEY_SP_CLIENT_ID}, {KEY_SP_CLIENT_SECRET} and {KEY_TENANT_ID}")
                }
                AzureCredential::Certificate { .. } => format!(
                    "check {KEY_SP_CLIENT_ID}, {KEY_SP_CERTIFICATE_PATH} and {KEY_TENANT_ID}"
                ),
                AzureCredential::ManagedIdentity { .. } => {
                    format!("check the identity is assigned to this machine ({KEY_MSI_CLIENT_ID})")
                }
            }
        }
    }

    /// The record set's TTL and values, or `None` (404).
    async fn read(
        &self,
        m: &ZoneMapping,
        path: &str,
    ) -> Result<Option<(u32, Vec<String>)>, DnsError> {
        match self.call(JsonCall::new(reqwest::Method::GET, path)).await {
            Ok(v) => Ok(Some((
                v["properties"]["TTL"]
                    .as_u64()
                    .and_then(|t| u32::try_from(t).ok())
                    .unwrap_or(RECORD_TTL),
                v["properties"]["TXTRecords"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| {
                        r["value"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .collect::<String>()
                    })
                    .collect(),
            ))),
            Err(ApiError { status: 404, error }) => {
                // A missing record set is normal; a missing zone is not.
                if error.to_string().contains("ParentResourceNotFound") {
                    Err(self.zone_error(m, ApiError { status: 404, error }))
                } else {
                    Ok(None)
                }
            }
            Err(e) => Err(e.error),
        }
    }

    async fn write_set(&self, path: &str, ttl: u32, values: &[String]) -> Result<(), DnsError> {
        let records: Vec<Value> = values.iter().map(|v| json!({"value": [v]})).collect();
        let body = json!({"properties": {"TTL": ttl, "TXTRecords": records}});
        self.call(JsonCall::with(reqwest::Method::PUT, path, body))
            .await
            .map_err(|e| e.error)?;
        Ok(())
    }

    async fn call(&self, call: JsonCall<'_>) -> Result<Value, ApiError> {
        let token = self
            .access_token()
            .await
            .map_err(|error| ApiError { status: 0, error })?;
        let who = self.who();
        json_api(
            &self.http,
            &self.config.endpoint,
            call,
            &|req, _, _| req.bearer_auth(token.expose()),
            &|status, json| {
                let code = json["error"]["code"].as_str().unwrap_or_default();
                let message = json["error"]["message"]
                    .as_str()
                    .map(|m| format!("{code}: {m}"));
                let hint = match (status, code) {
                    (401, _) => format!("check the credentials in {PLUGIN}.ini"),
                    (403, _) | (_, "AuthorizationFailed") => format!(
                        "the {who} needs the DNS Zone Contributor role on the zone's resource \
                         group ({KEY_ZONE_PREFIX}N in {PLUGIN}.ini)"
                    ),
                    (_, "SubscriptionNotFound" | "ResourceGroupNotFound") => {
                        format!("check {KEY_ZONE_PREFIX}N in {PLUGIN}.ini")
                    }
                    _ => String::new(),
                };
                (message, hint)
            },
        )
        .await
    }
}
