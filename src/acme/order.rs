//! One ACME order for the whole domain list: challenges (HTTP-01 through
//! [`Http01Tokens`], DNS-01 through a [`DnsProvider`]), validation polling,
//! finalisation with a fresh key, and cleanup of every published answer.

use std::sync::Arc;
use std::time::Duration;

use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewOrder, OrderStatus, RetryPolicy,
};

use super::config::{AcmeConfig, KeyType};
use super::propagation::PropagationCheck;
use super::{AcmeError, Http01Tokens};
use crate::dns::{DnsProvider, RecordHandle};

/// How challenges are answered.
#[derive(Clone)]
pub enum ChallengeSolver {
    /// HTTP-01: answers published in the map the port-80 listener reads.
    Http01(Http01Tokens),
    /// DNS-01: TXT records through a provider, then an active propagation check.
    Dns01 {
        /// The DNS provider (`DNSPLUGIN`).
        provider: Arc<dyn DnsProvider>,
        /// How to wait for the records to become visible.
        propagation: Arc<dyn PropagationCheck>,
    },
}

impl std::fmt::Debug for ChallengeSolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChallengeSolver::Http01(_) => f.write_str("Http01"),
            ChallengeSolver::Dns01 { provider, .. } => write!(f, "Dns01({})", provider.name()),
        }
    }
}

impl ChallengeSolver {
    /// certbot's `authenticator` word for `renewal/<name>.conf`.
    pub fn authenticator(&self) -> String {
        match self {
            ChallengeSolver::Http01(_) => "standalone".into(),
            ChallengeSolver::Dns01 { provider, .. } => format!("dns-{}", provider.name()),
        }
    }
}

/// A freshly issued certificate.
#[derive(Debug, Clone)]
pub struct Issued {
    /// Leaf then intermediates, PEM.
    pub fullchain_pem: String,
    /// The new private key, PKCS#8 PEM.
    pub key_pem: String,
}

/// How many times a retryable `present` is tried before the order fails.
const PRESENT_ATTEMPTS: u32 = 5;
/// Cleanup gets its own budget, independent of the order's.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(30);

struct PendingChallenge {
    identifier: String,
    token: String,
    key_authorization: String,
    dns_value: String,
}

/// Run one order for `cfg.domains` and return the certificate and its key.
/// Every published answer (token or TXT record) is withdrawn before this
/// returns, whatever the outcome.
pub async fn issue(
    account: &Account,
    cfg: &AcmeConfig,
    solver: &ChallengeSolver,
    cancel: Option<tokio::sync::watch::Receiver<bool>>,
) -> Result<Issued, AcmeError> {
    let dir = cfg.directory.url();
    let identifiers: Vec<Identifier> = cfg
        .domains
        .iter()
        .map(|d| Identifier::Dns(d.clone()))
        .collect();
    let mut new_order = NewOrder::new(&identifiers);
    if let Some(p) = cfg.profile.as_deref() {
        if account.profiles().any(|m| m.name == p) {
            new_order = new_order.profile(p);
        } else {
            tracing::warn!(
                profile = p,
                directory = dir,
                "CERT_PROFILE not offered by this server; ordering without a profile"
            );
        }
    }
    let mut order = account
        .new_order(&new_order)
        .await
        .map_err(|e| AcmeError::server(dir, e))?;
    tracing::info!(domains = ?cfg.domains, order = order.url(), "ACME order created");

    let challenge_type = match solver {
        ChallengeSolver::Http01(_) => ChallengeType::Http01,
        ChallengeSolver::Dns01 { .. } => ChallengeType::Dns01,
    };

    // Pass 1: collect what has to be published.
    let mut pending = Vec::new();
    {
        let mut auths = order.authorizations();
        while let Some(a) = auths.next().await {
            let mut a = a.map_err(|e| AcmeError::server(dir, e))?;
            let identifier = a.identifier().to_string();
            match a.status {
                AuthorizationStatus::Valid => continue,
                AuthorizationStatus::Pending => {}
                other => {
                    return Err(AcmeError::Validation {
                        identifier,
                        message: format!("authorization is {other:?}"),
                    })
                }
            }
            let Some(ch) = a.challenge(challenge_type.clone()) else {
                return Err(AcmeError::Validation {
                    identifier,
                    message: format!("the CA offers no {challenge_type:?} challenge"),
                });
            };
            let ka = ch.key_authorization();
            pending.push(PendingChallenge {
                identifier,
                token: ch.token.clone(),
                key_authorization: ka.as_str().to_owned(),
                dns_value: ka.dns_value(),
            });
        }
    }

    let published = Published::default();
    let work = async {
        publish(cfg, solver, &pending, &published).await?;
        validate_and_finalize(&mut order, cfg, solver, &challenge_type).await
    };
    let result = match cancel {
        Some(mut rx) => tokio::select! {
            r = work => r,
            _ = rx.wait_for(|stop| *stop) => Err(AcmeError::Cancelled),
        },
        None => work.await,
    };
    // Cleanup runs on success, failure and cancellation, with its own budget.
    published.withdraw(solver).await;
    result
}

#[derive(Default)]
struct Published {
    tokens: std::sync::Mutex<Vec<String>>,
    records: std::sync::Mutex<Vec<RecordHandle>>,
}

impl Published {
    fn add_token(&self, t: String) {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(t);
    }

    fn add_record(&self, h: RecordHandle) {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(h);
    }

    async fn withdraw(self, solver: &ChallengeSolver) {
        let tokens = self.tokens.into_inner().unwrap_or_else(|e| e.into_inner());
        let records = self.records.into_inner().unwrap_or_else(|e| e.into_inner());
        match solver {
            ChallengeSolver::Http01(map) => {
                for t in &tokens {
                    map.remove(t);
                }
            }
            ChallengeSolver::Dns01 { provider, .. } => {
                for h in &records {
                    match tokio::time::timeout(CLEANUP_TIMEOUT, provider.cleanup(h)).await {
                        Ok(Ok(())) => tracing::debug!(fqdn = %h.fqdn, "TXT record removed"),
                        Ok(Err(e)) => {
                            tracing::warn!(fqdn = %h.fqdn, error = %e, "TXT record cleanup failed: remove it by hand")
                        }
                        Err(_) => {
                            tracing::warn!(fqdn = %h.fqdn, "TXT record cleanup timed out: remove it by hand")
                        }
                    }
                }
            }
        }
    }
}

async fn publish(
    cfg: &AcmeConfig,
    solver: &ChallengeSolver,
    pending: &[PendingChallenge],
    published: &Published,
) -> Result<(), AcmeError> {
    match solver {
        ChallengeSolver::Http01(map) => {
            for p in pending {
                map.insert(&p.token, &p.key_authorization);
                published.add_token(p.token.clone());
                tracing::info!(identifier = %p.identifier, "HTTP-01 challenge published on port 80");
            }
            Ok(())
        }
        ChallengeSolver::Dns01 {
            provider,
            propagation,
        } => {
            // Apex and wildcard share `_acme-challenge.<base>`: both values
            // are presented and must be visible together.
            let mut by_name: Vec<(String, Vec<String>)> = Vec::new();
            for p in pending {
                let fqdn = challenge_fqdn(&p.identifier);
                let handle = present_with_retry(provider.as_ref(), &fqdn, &p.dns_value).await?;
                published.add_record(handle);
                tracing::info!(%fqdn, provider = provider.name(), "DNS-01 TXT record published");
                match by_name.iter_mut().find(|(n, _)| *n == fqdn) {
                    Some((_, vals)) => vals.push(p.dns_value.clone()),
                    None => by_name.push((fqdn, vec![p.dns_value.clone()])),
                }
            }
            let timeout = cfg
                .propagation_timeout
                .unwrap_or_else(|| provider.propagation_default());
            for (fqdn, values) in &by_name {
                propagation.wait_visible(fqdn, values, timeout).await?;
            }
            Ok(())
        }
    }
}

/// `_acme-challenge.<name without *.>`.
pub fn challenge_fqdn(identifier: &str) -> String {
    format!("_acme-challenge.{}", identifier.trim_start_matches("*."))
}

async fn present_with_retry(
    provider: &dyn DnsProvider,
    fqdn: &str,
    value: &str,
) -> Result<RecordHandle, AcmeError> {
    let mut delay = Duration::from_millis(500);
    let mut attempt = 1;
    loop {
        match provider.present(fqdn, value).await {
            Ok(h) => return Ok(h),
            Err(e) if e.retryable() && attempt < PRESENT_ATTEMPTS => {
                tracing::warn!(
                    fqdn,
                    attempt,
                    retry_in_ms = delay.as_millis() as u64,
                    error = %e,
                    "TXT record present failed, backing off"
                );
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

async fn validate_and_finalize(
    order: &mut instant_acme::Order,
    cfg: &AcmeConfig,
    solver: &ChallengeSolver,
    challenge_type: &ChallengeType,
) -> Result<Issued, AcmeError> {
    let dir = cfg.directory.url();
    // Pass 2: tell the CA each answer is in place.
    {
        let mut auths = order.authorizations();
        while let Some(a) = auths.next().await {
            let mut a = a.map_err(|e| AcmeError::server(dir, e))?;
            if a.status != AuthorizationStatus::Pending {
                continue;
            }
            if let Some(mut ch) = a.challenge(challenge_type.clone()) {
                ch.set_ready()
                    .await
                    .map_err(|e| AcmeError::server(dir, e))?;
            }
        }
    }
    let timeout = match solver {
        ChallengeSolver::Http01(_) => cfg.order_timeout,
        ChallengeSolver::Dns01 { .. } => cfg.order_timeout.max(Duration::from_secs(300)),
    };
    let policy = RetryPolicy::new()
        .initial_delay(Duration::from_millis(50))
        .backoff(2.0)
        .timeout(timeout);
    tracing::info!("challenges in place; the CA is validating");
    let status = order
        .poll_ready(&policy)
        .await
        .map_err(|e| validation_error(e, dir))?;
    if status != OrderStatus::Ready {
        return Err(explain_invalid(order, dir).await);
    }
    tracing::info!("validated by the CA; finalizing the order");
    let (csr_der, key_pem) = csr_for(&cfg.domains, cfg.key_type)?;
    order
        .finalize_csr(&csr_der)
        .await
        .map_err(|e| AcmeError::server(dir, e))?;
    let fullchain_pem = order
        .poll_certificate(&policy)
        .await
        .map_err(|e| AcmeError::server(dir, e))?;
    tracing::info!("certificate issued and downloaded");
    Ok(Issued {
        fullchain_pem,
        key_pem,
    })
}

fn validation_error(e: instant_acme::Error, dir: &str) -> AcmeError {
    match e {
        instant_acme::Error::Api(p) => AcmeError::Validation {
            identifier: p
                .subproblems
                .first()
                .and_then(|s| s.identifier.as_ref())
                .map(|i| i.authorized(false).to_string())
                .unwrap_or_else(|| "the order".into()),
            message: p.to_string(),
        },
        other => AcmeError::server(dir, other),
    }
}

async fn explain_invalid(order: &mut instant_acme::Order, dir: &str) -> AcmeError {
    let mut auths = order.authorizations();
    while let Some(a) = auths.next().await {
        let Ok(mut a) = a else { continue };
        let _ = a.refresh().await;
        if a.status == AuthorizationStatus::Valid {
            continue;
        }
        let identifier = a.identifier().to_string();
        let detail = a
            .challenges
            .iter()
            .find_map(|c| c.error.as_ref().map(|p| p.to_string()))
            .unwrap_or_else(|| format!("authorization {:?}", a.status));
        return AcmeError::Validation {
            identifier,
            message: detail,
        };
    }
    AcmeError::Server {
        directory: dir.to_owned(),
        message: "the order became invalid".into(),
        retryable: true,
    }
}

/// A CSR for `names` and its fresh private key (PKCS#8 PEM).
pub fn csr_for(names: &[String], key_type: KeyType) -> Result<(Vec<u8>, String), AcmeError> {
    let key = super::keys::generate(key_type)?;
    let mut params =
        rcgen::CertificateParams::new(names.to_vec()).map_err(|e| AcmeError::Config {
            setting: "URL",
            message: format!("a domain name is not valid in a certificate: {e}"),
        })?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params
        .serialize_request(&key)
        .map_err(|e| AcmeError::Internal(format!("CSR: {e}")))?;
    Ok((csr.der().to_vec(), key.serialize_pem()))
}
