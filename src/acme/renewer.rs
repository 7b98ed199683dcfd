//! `Renewer`: decides whether the lineage needs a new certificate, orders
//! it, stores it, hands it to whoever serves it, runs deploy hooks, and
//! loops on a schedule until shutdown. The old certificate keeps serving
//! until its replacement is stored.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use instant_acme::{Account, CertificateIdentifier, RevocationReason, RevocationRequest};
use rustls_pki_types::CertificateDer;
use tokio::sync::watch;

use super::certinfo::now_unix;
use super::extra_names::ExtraNames;
use super::lock::OrderLock;
use super::order::{self, ChallengeSolver};
use super::params::{changed_keys, read_params, write_params};
use super::paths::LetsencryptPaths;
use super::schedule;
use super::state::RenewalState;
use super::store::{CertStore, StoredCert};
use super::{account, control, hooks, AcmeConfig, AcmeError, CertLineage};

/// Receives each certificate to serve: the existing one at start, each new
/// one after issuance (the proxy's certificate store installs it).
pub type CertSink = Arc<dyn Fn(CertLineage) + Send + Sync>;

/// What one check did.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The stored certificate is valid, covers the names and is not due.
    Current(StoredCert),
    /// A new certificate was issued and installed.
    Issued(StoredCert),
}

impl Outcome {
    /// The certificate now served.
    pub fn cert(&self) -> &StoredCert {
        match self {
            Outcome::Current(c) | Outcome::Issued(c) => c,
        }
    }
}

/// Orders and renews one lineage.
pub struct Renewer {
    cfg: AcmeConfig,
    solver: ChallengeSolver,
    sink: CertSink,
    store: CertStore,
    account: tokio::sync::Mutex<Option<Account>>,
    preflight_done: AtomicBool,
    extra: Option<Arc<ExtraNames>>,
}

impl Renewer {
    /// A renewer for `cfg`, answering challenges with `solver` and handing
    /// certificates to `sink`.
    pub fn new(cfg: AcmeConfig, solver: ChallengeSolver, sink: CertSink) -> Self {
        let store = CertStore::new(LetsencryptPaths::new(&cfg.config_dir));
        Self {
            cfg,
            solver,
            sink,
            store,
            account: tokio::sync::Mutex::new(None),
            preflight_done: AtomicBool::new(false),
            extra: None,
        }
    }

    /// Also puts `extra`'s names in the certificate (AUTO_PROXY_CERTS), and
    /// checks again whenever they change.
    pub fn with_extra_names(mut self, extra: Arc<ExtraNames>) -> Self {
        self.extra = Some(extra);
        self
    }

    /// The names the certificate must hold now: the configured ones, then
    /// any extra ones they do not cover.
    pub fn domains(&self) -> Vec<String> {
        match &self.extra {
            Some(extra) => extra.effective(&self.cfg.domains),
            None => self.cfg.domains.clone(),
        }
    }

    /// The renewer the supervisor runs for `settings`: HTTP-01 answers go
    /// into `tokens` (the proxy serves them on port 80), DNS-01 uses
    /// `DNSPLUGIN`'s provider; each certificate to serve goes to `sink`.
    pub fn from_settings(
        settings: &crate::settings::Settings,
        tokens: &super::Http01Tokens,
        sink: CertSink,
    ) -> Result<Self, AcmeError> {
        let cfg = super::config_from_settings(settings)?;
        let solver = super::solver_from_settings(settings, tokens)?;
        Ok(Self::new(cfg, solver, sink))
    }

    /// The storage this renewer writes.
    pub fn store(&self) -> &CertStore {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> &AcmeConfig {
        &self.cfg
    }

    /// The certificate to serve right now, without any network: the
    /// lineage's, else the one `keys/letsencrypt` points at (the lineage of
    /// the previous parameters).
    pub fn load_current(&self) -> Option<StoredCert> {
        match self.store.load(&self.cfg.lineage) {
            Ok(Some(c)) => return Some(c),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "stored certificate unusable"),
        }
        self.previous_lineage()
    }

    fn previous_lineage(&self) -> Option<StoredCert> {
        let target = std::fs::read_link(self.store.paths().keys_letsencrypt()).ok()?;
        let name = target.file_name()?.to_str()?.to_owned();
        if name == self.cfg.lineage {
            return None;
        }
        self.store.load(&name).ok().flatten()
    }

    /// One check: renew if needed (or `force`), record the result in the
    /// state file, and return it with the delay until the next check.
    pub async fn attempt(
        &self,
        force: bool,
        cancel: Option<watch::Receiver<bool>>,
    ) -> (Result<Outcome, AcmeError>, Duration) {
        let state_path = self.store.paths().state_file();
        let now = now_unix();
        let domains = self.domains();
        let result = self.ensure(force, cancel).await;
        if let (Err(e), Some(extra)) = (&result, &self.extra) {
            let added: Vec<String> = domains
                .iter()
                .filter(|d| !self.cfg.domains.contains(d))
                .cloned()
                .collect();
            if !added.is_empty() && !matches!(e, AcmeError::Cancelled) {
                tracing::error!(
                    lineage = %self.cfg.lineage,
                    names = ?added,
                    error = %e,
                    "names published from container labels are left out of the certificate after this failed order (AUTO_PROXY_CERTS); the current certificate keeps serving"
                );
                extra.refuse(&added);
            }
        }
        let mut failures = 0;
        let _ = RenewalState::update(&state_path, &self.cfg.lineage, |s| {
            s.domains = domains.clone();
            match &result {
                Ok(Outcome::Issued(_)) => {
                    s.last_attempt = Some(now);
                    s.last_success = Some(now_unix());
                    s.last_error = None;
                    s.likely_cause = None;
                    s.failures = 0;
                }
                Ok(Outcome::Current(_)) => {
                    s.last_error = None;
                    s.likely_cause = None;
                    s.failures = 0;
                }
                Err(e) => {
                    s.last_attempt = Some(now);
                    s.last_error = Some(e.to_string());
                    s.likely_cause = Some(e.likely_cause().to_owned());
                    s.failures += 1;
                }
            }
            failures = s.failures;
        });
        let delay = match &result {
            Err(e) => {
                // Bad credentials, CAA, malformed names: retrying soon only
                // burns rate limits; wait the longest (or a `moat renew`).
                let d = if e.retryable() {
                    schedule::backoff(failures, self.cfg.retry_base, self.cfg.retry_max)
                } else {
                    self.cfg.retry_max
                };
                tracing::error!(
                    lineage = %self.cfg.lineage,
                    error = %e,
                    likely_cause = e.likely_cause(),
                    failures,
                    retryable = e.retryable(),
                    retry_in_secs = d.as_secs(),
                    "certificate order failed; the current certificate keeps serving"
                );
                d
            }
            Ok(o) => {
                let info = &o.cert().info;
                let due =
                    schedule::due_at(info.not_before, info.not_after, self.cfg.renew_threshold);
                let until_due = Duration::from_secs((due - now_unix()).max(1) as u64);
                let interval = self.cfg.check_interval + schedule::jitter(self.cfg.check_interval);
                interval.min(until_due)
            }
        };
        let next = now_unix() + delay.as_secs() as i64;
        let _ = RenewalState::update(&state_path, &self.cfg.lineage, |s| {
            s.next_attempt = Some(next)
        });
        (result, delay)
    }

    /// Make sure the lineage holds a valid certificate for the configured
    /// names: serve the stored one when it is good, otherwise order a new
    /// one (while the old one keeps serving).
    pub async fn ensure(
        &self,
        force: bool,
        cancel: Option<watch::Receiver<bool>>,
    ) -> Result<Outcome, AcmeError> {
        let domains = self.domains();
        let widened;
        let cfg = if domains == self.cfg.domains {
            &self.cfg
        } else {
            widened = AcmeConfig {
                domains,
                ..self.cfg.clone()
            };
            &widened
        };
        let paths = self.store.paths().clone();
        let existing = match self.store.load(&cfg.lineage) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "stored certificate unusable; ordering a new one");
                None
            }
        };
        let previous = if existing.is_none() {
            self.previous_lineage()
        } else {
            None
        };
        let recorded = read_params(&paths.params_file())?;
        let changed = changed_keys(&recorded, &cfg.swag_params);
        let now = now_unix();

        let reason = match &existing {
            _ if force => Some("renewal forced".to_owned()),
            None => Some("no certificate yet".to_owned()),
            Some(c) if c.info.not_after <= now => Some("certificate expired".to_owned()),
            Some(c) if !c.info.covers(&cfg.domains) => Some("the domain list changed".to_owned()),
            Some(_) if !changed.is_empty() => {
                Some(format!("parameters changed: {}", changed.join(", ")))
            }
            Some(c)
                if schedule::is_due(
                    c.info.not_before,
                    c.info.not_after,
                    cfg.renew_threshold,
                    now,
                ) =>
            {
                Some("due for renewal".to_owned())
            }
            Some(c) => self.ari_says_renew(c).await,
        };

        // Keep serving what we have while ordering.
        if let Some(c) = existing.as_ref().or(previous.as_ref()) {
            (self.sink)(c.lineage.clone());
        }
        let Some(reason) = reason else {
            let c = existing.expect("no reason to order implies an existing certificate");
            if recorded.is_empty() && !cfg.swag_params.is_empty() {
                write_params(&paths.params_file(), &cfg.swag_params)?;
            }
            tracing::info!(lineage = %cfg.lineage, not_after = %crate::clock::date_utc(c.info.not_after), days_left = crate::acme::certinfo_days_left(c.info.not_after), "certificate valid; no order needed");
            return Ok(Outcome::Current(c));
        };
        tracing::info!(lineage = %cfg.lineage, domains = ?cfg.domains, reason, "ordering a certificate");

        self.preflight(&cfg.domains).await?;
        if let (Some(extra), true) = (&self.extra, cfg.domains != self.cfg.domains) {
            extra.ordered();
        }
        let _lock = OrderLock::acquire(&paths.order_lock())?;
        let account = self.account().await?;
        let issued = order::issue(&account, cfg, &self.solver, cancel).await?;
        let stored = self
            .store
            .store(&cfg.lineage, &issued.fullchain_pem, &issued.key_pem)?;
        self.store.write_renewal_conf(
            &cfg.lineage,
            cfg.directory.url(),
            &self.solver.authenticator(),
            cfg.key_type.certbot_name(),
            account.id(),
        )?;
        if !cfg.swag_params.is_empty() {
            write_params(&paths.params_file(), &cfg.swag_params)?;
        }
        (self.sink)(stored.lineage.clone());
        tracing::info!(
            lineage = %cfg.lineage,
            names = ?stored.info.names,
            not_after = %crate::clock::date_utc(stored.info.not_after),
            days_left = crate::acme::certinfo_days_left(stored.info.not_after),
            "new certificate installed"
        );
        hooks::run_deploy_hooks(&paths.deploy_hooks_dir(), &stored.lineage.dir, &cfg.domains).await;

        // Only now, with the replacement installed, may the old one go.
        let replaced = match (&existing, &previous) {
            (Some(old), _) if !changed.is_empty() || !old.info.covers(&cfg.domains) => Some(old),
            (None, Some(old)) => Some(old),
            _ => None,
        };
        if let (true, Some(old)) = (cfg.revoke_replaced, replaced) {
            let der = CertificateDer::from(old.info.der.clone());
            match account
                .revoke(&RevocationRequest {
                    certificate: &der,
                    reason: Some(RevocationReason::Superseded),
                })
                .await
            {
                Ok(()) => {
                    tracing::info!(lineage = %old.lineage.name, "replaced certificate revoked (REVOKE_REPLACED=true)")
                }
                Err(e) => {
                    tracing::warn!(lineage = %old.lineage.name, error = %e, "revoking the replaced certificate failed")
                }
            }
        }
        Ok(Outcome::Issued(stored))
    }

    /// Ask the CA's ARI endpoint whether to renew early; servers without ARI
    /// (pebble 2.4) and accounts not yet created skip the check.
    async fn ari_says_renew(&self, c: &StoredCert) -> Option<String> {
        if !self
            .store
            .paths()
            .account_file(self.cfg.directory.url())
            .exists()
        {
            return None;
        }
        let account = self.account().await.ok()?;
        let der = CertificateDer::from(c.info.der.clone());
        let id = CertificateIdentifier::try_from(&der).ok()?;
        match account.renewal_info(&id).await {
            Ok((info, _)) => {
                let start = info.suggested_window.start.unix_timestamp();
                (now_unix() >= start)
                    .then(|| "the CA's renewal information (ARI) says renew".to_owned())
            }
            Err(instant_acme::Error::Unsupported(_)) => None,
            Err(e) => {
                tracing::debug!(error = %e, "ARI check failed");
                None
            }
        }
    }

    async fn account(&self) -> Result<Account, AcmeError> {
        let mut guard = self.account.lock().await;
        if let Some(a) = guard.as_ref() {
            return Ok(a.clone());
        }
        let a = account::load_or_create(&self.cfg, self.store.paths()).await?;
        *guard = Some(a.clone());
        Ok(a)
    }

    async fn preflight(&self, domains: &[String]) -> Result<(), AcmeError> {
        if self.preflight_done.load(Ordering::Relaxed) {
            return Ok(());
        }
        match &self.solver {
            ChallengeSolver::Dns01 { provider, .. } => {
                let msg = provider.preflight(domains).await?;
                tracing::info!(provider = provider.name(), "{msg}");
            }
            ChallengeSolver::Http01(_) => {
                for name in domains.iter().filter(|d| !d.starts_with("*.")) {
                    if let Err(m) = resolves(name).await {
                        tracing::warn!(
                            name,
                            "{m}: HTTP-01 validation will fail unless the CA resolves it"
                        );
                    }
                }
            }
        }
        self.preflight_done.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Run until `shutdown` turns true: check now, then on schedule, on
    /// backoff after failures, and whenever `moat renew` asks.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let socket = self.store.paths().renew_socket();
        if let Err(e) = super::fsio::ensure_dir(&self.store.paths().root(), 0o755) {
            tracing::warn!(error = %e, "cannot create etc/letsencrypt");
        }
        let listener = match control::bind(&socket) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(socket = %socket.display(), error = %e, "control socket unavailable: `moat renew` will run standalone");
                None
            }
        };
        let mut force = false;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let (result, delay) = self.attempt(force, Some(shutdown.clone())).await;
            force = false;
            if matches!(result, Err(AcmeError::Cancelled)) {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.wait_for(|s| *s) => break,
                _ = next_names(self.extra.as_deref()) => {
                    tracing::info!(names = ?self.domains(), "published names changed; checking the certificate (AUTO_PROXY_CERTS)");
                }
                req = next_request(listener.as_ref()) => {
                    if let Some(r) = req {
                        tracing::info!(force = r.force, "renewal requested by `moat renew`");
                        force = r.force;
                    }
                }
            }
        }
        if listener.is_some() {
            let _ = std::fs::remove_file(&socket);
        }
    }
}

async fn next_names(extra: Option<&ExtraNames>) {
    match extra {
        Some(extra) => extra.next_change().await,
        None => std::future::pending().await,
    }
}

async fn next_request(
    listener: Option<&tokio::net::UnixListener>,
) -> Option<control::RenewRequest> {
    match listener {
        Some(l) => match l.accept().await {
            Ok((stream, _)) => control::read_request(stream).await,
            Err(_) => None,
        },
        None => std::future::pending().await,
    }
}

async fn resolves(name: &str) -> Result<(), String> {
    let resolver = hickory_resolver::TokioResolver::builder_tokio()
        .map_err(|e| format!("no system resolver: {e}"))?
        .build()
        .map_err(|e| format!("resolver: {e}"))?;
    match resolver.lookup_ip(format!("{name}.")).await {
        Ok(ips) if ips.iter().next().is_some() => Ok(()),
        Ok(_) => Err(format!("{name} has no address")),
        Err(e) => Err(format!("{name} does not resolve ({e})")),
    }
}
