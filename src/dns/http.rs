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
                    return Ok(HttpReply { status, body });
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
