//! The HTTP client the API providers share: timeouts, and retries on
//! timeouts, connection failures, 429 and 5xx with a request rebuilt for each
//! try (so signed requests get a fresh nonce and timestamp).

use std::sync::Arc;
use std::time::Duration;

use super::DnsError;

/// How long one HTTP exchange may take.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// How many times a request is tried before giving up.
pub(crate) const DEFAULT_ATTEMPTS: u32 = 3;

/// A status and body from a provider's API.
#[derive(Debug)]
pub(crate) struct HttpReply {
    pub status: u16,
    pub body: String,
    /// `name=value` of each `Set-Cookie` (session APIs such as INWX's).
    pub cookies: Vec<String>,
}

/// An `application/x-www-form-urlencoded` body of `pairs`.
pub(crate) fn form_body<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let pairs = pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref()));
    reqwest::Url::parse_with_params("x:", pairs)
        .ok()
        .and_then(|u| u.query().map(str::to_owned))
        .unwrap_or_default()
}

/// reqwest plus the retry policy; one per provider instance.
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
    provider: &'static str,
    attempts: u32,
    backoff: Duration,
}

impl HttpClient {
    /// A client whose every exchange ends within `timeout`.
    pub fn new(provider: &'static str, timeout: Duration) -> Result<Self, DnsError> {
        // The binary installs ring at start; doing it here too keeps library
        // users (tests, `dns-check`) working. A second install is a no-op error.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // The image is built FROM scratch, with no system CA store: merge the
        // Mozilla roots so HTTPS to the provider's API verifies there too.
        let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .filter_map(|der| reqwest::Certificate::from_der(der).ok());
        let mut builder = reqwest::Client::builder();
        // Never getaddrinfo: it cannot resolve anything in the static image.
        if let Some(dns) = super::HickoryDns::from_system() {
            builder = builder.dns_resolver(Arc::new(dns));
        }
        let client = builder
            .tls_certs_merge(roots)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("moat/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DnsError::api(provider, format!("cannot build an HTTP client: {e}")))?;
        Ok(HttpClient {
            client,
            provider,
            attempts: DEFAULT_ATTEMPTS,
            backoff: Duration::from_millis(500),
        })
    }

    /// The underlying client, to start a request.
    pub fn inner(&self) -> &reqwest::Client {
        &self.client
    }

    /// [`HttpClient::send`] of an `application/x-www-form-urlencoded` POST
    /// (OAuth token endpoints, Namecheap's API) of `body` to `url`.
    pub async fn post_form(
        &self,
        what: &str,
        url: &reqwest::Url,
        body: &str,
    ) -> Result<HttpReply, DnsError> {
        self.send(what, || {
            self.client
                .post(url.clone())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.to_owned())
        })
        .await
    }

    /// Sends the request `build` makes, retrying transient failures with a
    /// request built anew each time. `what` names the call in errors.
    pub async fn send(
        &self,
        what: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<HttpReply, DnsError> {
        let mut last = None;
        for attempt in 1..=self.attempts {
            if attempt > 1 {
                tokio::time::sleep(self.backoff * (attempt - 1)).await;
            }
            match build().send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let cookies = resp
                        .headers()
                        .get_all(reqwest::header::SET_COOKIE)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .filter_map(|v| v.split(';').next())
                        .map(|v| v.trim().to_owned())
                        .collect();
                    let body = match resp.text().await {
                        Ok(b) => b,
                        Err(e) => {
                            last = Some(format!("reading the answer failed: {}", e.without_url()));
                            continue;
                        }
                    };
                    if status >= 500 || status == 429 {
                        tracing::debug!(
                            provider = self.provider,
                            what,
                            status,
                            attempt,
                            "retrying"
                        );
                        last = Some(format!("HTTP {status}: {}", snippet(&body)));
                        continue;
                    }
                    return Ok(HttpReply {
                        status,
                        body,
                        cookies,
                    });
                }
                Err(e) => {
                    // without_url: a signed URL carries the signature and key id.
                    let e = e.without_url();
                    tracing::debug!(provider = self.provider, what, attempt, error = %e, "retrying");
                    last = Some(if e.is_timeout() {
                        "timed out".to_owned()
                    } else {
                        format!("{e}")
                    });
                }
            }
        }
        Err(DnsError::transient(
            self.provider,
            format!(
                "{what} failed after {} tries: {}",
                self.attempts,
                last.unwrap_or_default()
            ),
        ))
    }
}

/// An API failure with its HTTP status kept, so a provider can match on it
/// (404: already gone); 0 when no answer came.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: u16,
    pub error: DnsError,
}

impl From<ApiError> for DnsError {
    fn from(e: ApiError) -> Self {
        e.error
    }
}

/// The first 200 characters of an answer, for error messages.
pub(crate) fn snippet(body: &str) -> String {
    let s: String = body.chars().take(200).collect();
    s.replace('\n', " ")
}

/// One call to a JSON API: `method` on `path` (joined to the provider's
/// endpoint, query included) with an optional JSON body.
#[derive(Debug, Clone)]
pub(crate) struct JsonCall<'a> {
    pub method: reqwest::Method,
    pub path: &'a str,
    pub body: Option<serde_json::Value>,
}

impl<'a> JsonCall<'a> {
    /// A call without a body.
    pub fn new(method: reqwest::Method, path: &'a str) -> Self {
        JsonCall {
            method,
            path,
            body: None,
        }
    }

    /// A call with a JSON body.
    pub fn with(method: reqwest::Method, path: &'a str, body: serde_json::Value) -> Self {
        JsonCall {
            method,
            path,
            body: Some(body),
        }
    }
}

/// What a provider says about one of its API's errors: the API's own
/// message (from its JSON, `None`: the body's start is shown) and a hint
/// naming the ini key to fix (empty: none).
pub(crate) type Explain<'e> =
    &'e (dyn Fn(u16, &serde_json::Value) -> (Option<String>, String) + Sync);

/// The JSON exchange every REST provider does: the call's URL under
/// `endpoint`, `auth` adding credentials to each try (it sees the URL and
/// the exact body, for signatures), retries through [`HttpClient::send`],
/// a 2xx/3xx answer parsed (empty or not JSON: `Null`), and an error status
/// turned into one line `METHOD path: HTTP n: message; hint` by `explain`,
/// the status kept for the provider to match on.
pub(crate) async fn json_api(
    http: &HttpClient,
    endpoint: &reqwest::Url,
    call: JsonCall<'_>,
    auth: &(dyn Fn(reqwest::RequestBuilder, &reqwest::Url, &str) -> reqwest::RequestBuilder + Sync),
    explain: Explain<'_>,
) -> Result<serde_json::Value, ApiError> {
    let provider = http.provider;
    let JsonCall { method, path, body } = call;
    let what = path.split('?').next().unwrap_or(path);
    let url = endpoint.join(path).map_err(|e| ApiError {
        status: 0,
        error: DnsError::api(provider, format!("bad API path {what}: {e}")),
    })?;
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let reply = http
        .send(what, || {
            let mut req = http.inner().request(method.clone(), url.clone());
            if !payload.is_empty() {
                req = req
                    .header("content-type", "application/json")
                    .body(payload.clone());
            }
            auth(req, &url, &payload)
        })
        .await
        .map_err(|error| ApiError { status: 0, error })?;
    let json: serde_json::Value =
        serde_json::from_str(&reply.body).unwrap_or(serde_json::Value::Null);
    if reply.status < 400 {
        return Ok(json);
    }
    let (message, hint) = explain(reply.status, &json);
    let message = message.unwrap_or_else(|| snippet(&reply.body));
    let hint = if hint.is_empty() {
        hint
    } else {
        format!("; {hint}")
    };
    Err(ApiError {
        status: reply.status,
        error: DnsError::api(
            provider,
            format!("{method} {what}: HTTP {}: {message}{hint}", reply.status),
        ),
    })
}

/// `json[field]` as a string, for [`Explain`] closures.
pub(crate) fn json_message(json: &serde_json::Value, field: &str) -> Option<String> {
    json[field].as_str().map(str::to_owned)
}
