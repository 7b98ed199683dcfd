//! `moat run`: the startup story. Settings → supervisor duties (signals,
//! reaping) → /config bootstrap → confs → certificate → services → run until
//! stopped. One `info!` line per step.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::ConfigArg;
use crate::acme::{CertSink, CertStore as LineageStore, Http01Tokens, LetsencryptPaths};
use crate::bans::{BanHandle, Bans};
use crate::bootstrap::{self, BootstrapOptions, ConfigLayout, Ownership};
use crate::proxy::{
    AccessLog, AccessLogConfig, AccessLogFormat, CertStore, ErrorLog, ErrorLogConfig, Health,
    ProxyMetrics, ProxyService,
};
use crate::settings::{LogFormat, Settings, Validation};
use crate::supervisor::{
    self, AcmeService, EventReceiver, EventSender, MetricsService, RouteReloader, SignalListener,
    Supervisor,
};

/// Exit status for invalid settings (sysexits' EX_CONFIG).
pub const EX_CONFIG: i32 = 78;

/// Entry point; returns the exit code.
pub fn run(args: ConfigArg) -> anyhow::Result<i32> {
    supervisor::tune_allocator();
    // One TLS crypto provider for the process: pingora uses ring, and
    // instant-acme panics when two providers are compiled in and none is chosen.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let settings = match read_settings(args) {
        Ok(settings) => settings,
        Err(code) => return Ok(code),
    };
    supervisor::init_logging(&settings)?;
    log_settings(&settings);
    tracing::info!(
        glibc_tunables = %supervisor::tunables_in_effect(),
        "allocator: glibc malloc with a larger per-thread cache, fastbins off"
    );

    // PID 1 duties start before anything else can leave zombies or miss a signal.
    let events = supervisor::event_channel();
    let _signals = SignalListener::install(events.0.clone())?;
    tracing::info!(
        pid = std::process::id(),
        "signal handlers installed; reaping children"
    );

    let layout = bootstrap_config(&settings)?;
    log_plan(&settings, &layout);

    let health = Health::new();
    let reloader = RouteReloader::new(layout.root().to_path_buf())
        .with_health(health.clone())
        .with_last_good(supervisor::LastGood::new(
            layout.root().to_path_buf(),
            Ownership::for_ids(settings.puid, settings.pgid),
        ));
    reloader.load_now("start");

    let certs = load_certificate(&layout);

    let code = serve(Arc::new(settings), layout, reloader, certs, events, health)?;
    tracing::info!(code, "moat exiting");
    Ok(code)
}

/// Settings from the environment, `--config` winning over CONFIG_DIR.
/// Invalid settings are printed one per line and give [`EX_CONFIG`].
fn read_settings(args: ConfigArg) -> Result<Settings, i32> {
    match Settings::from_env() {
        Ok(mut settings) => {
            if let Some(dir) = args.config {
                settings.config_dir = dir;
            }
            let missing = super::check::missing_setting_files(&settings);
            if missing.is_empty() {
                return Ok(settings);
            }
            for problem in &missing {
                eprintln!("moat: invalid setting: {problem}");
            }
            eprintln!("moat: refusing to start: fix the settings above");
            Err(EX_CONFIG)
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("moat: invalid setting: {e}");
            }
            eprintln!("moat: refusing to start: fix the settings above");
            Err(EX_CONFIG)
        }
    }
}

/// Who owns what moat writes under /config: PUID:PGID when running as root
/// in a container (PID 1, SWAG's 911 default applies), or outside one only
/// when PUID/PGID were set, so `moat run --config ./demo-config` as root
/// leaves a user's own folder theirs.
fn owner_of(settings: &Settings) -> Ownership {
    if settings.owner_ids_given || std::process::id() == 1 {
        Ownership::for_ids(settings.puid, settings.pgid)
    } else {
        Ownership::default()
    }
}

/// SWAG's /config layout, defaults, samples and the self-signed certificate.
fn bootstrap_config(settings: &Settings) -> anyhow::Result<ConfigLayout> {
    let layout = ConfigLayout::new(&settings.config_dir);
    let options = BootstrapOptions {
        owner: owner_of(settings),
        certificate_names: settings.domains.iter().map(|d| d.to_string()).collect(),
        duckdns_token: settings.duckdns_token.clone(),
        ..BootstrapOptions::default()
    };
    let report = bootstrap::prepare(&layout, &options)
        .with_context(|| format!("preparing {}", layout.root().display()))?;
    if !report.written.is_empty() {
        // One line, not one per file: a first start writes about twenty.
        let files: Vec<String> = report
            .written
            .iter()
            .map(|p| {
                p.strip_prefix(layout.root())
                    .unwrap_or(p)
                    .display()
                    .to_string()
            })
            .collect();
        tracing::info!(count = files.len(), ?files, "wrote default files");
    }
    if report.not_owned > 0 {
        tracing::warn!(
            entries = report.not_owned,
            puid = settings.puid,
            pgid = settings.pgid,
            "some files under the config directory could not be given to PUID:PGID (read-only?)"
        );
    }
    if let Some(reason) = report.self_signed {
        tracing::info!(reason, path = %layout.cert_file().display(), "wrote a self-signed certificate");
    }
    tracing::info!(
        config_dir = %layout.root().display(),
        created_dirs = report.created_dirs.len(),
        written = report.written.len(),
        refreshed_samples = report.refreshed_samples.len(),
        "config directory ready"
    );
    Ok(layout)
}

/// The certificate store, serving from the first handshake what /config
/// already holds: each stored lineage by its names (after completing any
/// link swap a crash interrupted, so a key is never served with another
/// certificate's chain), and the certificate ssl.conf names (`keys/cert.crt`:
/// self-signed, or a link to the live ACME one) as the default. An unusable
/// one is logged, not fatal: ACME can still install its own.
fn load_certificate(layout: &ConfigLayout) -> CertStore {
    let certs = CertStore::new();
    let lineages = LineageStore::new(LetsencryptPaths::new(layout.root()));
    for name in lineages.list() {
        match lineages.load(&name) {
            Ok(Some(stored)) => match certs.install(&stored.lineage) {
                Ok(()) => tracing::info!(
                    lineage = %name,
                    names = ?stored.lineage.names,
                    not_after = %crate::clock::date_utc(stored.lineage.not_after),
                    "certificate store: stored lineage loaded"
                ),
                Err(e) => {
                    tracing::error!(lineage = %name, error = %e, "certificate store: stored lineage unusable")
                }
            },
            Ok(None) => {}
            Err(e) => {
                tracing::error!(lineage = %name, error = %e, "certificate store: stored lineage unreadable")
            }
        }
    }
    let loaded = certs
        .load_default(layout.root())
        .map_err(|e| e.to_string())
        .and_then(|()| {
            bootstrap::inspect_certificate(&layout.cert_file(), &layout.key_file())
                .map_err(|e| e.to_string())
        });
    match loaded {
        Ok(cert) => tracing::info!(
            names = ?cert.names,
            self_signed = cert.self_signed,
            not_after = %crate::clock::date_utc(cert.not_after),
            "certificate store: default certificate loaded"
        ),
        Err(e) => {
            tracing::error!(error = %e, "certificate store: the default certificate is unusable")
        }
    }
    certs
}

/// Runs the supervisor with every service until SIGTERM/SIGINT or a fatal error.
fn serve(
    settings: Arc<Settings>,
    layout: ConfigLayout,
    reloader: RouteReloader,
    certs: CertStore,
    events: (EventSender, EventReceiver),
    health: Health,
) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("moat")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let code = runtime.block_on(async {
        let mut supervisor = Supervisor::new(settings.clone(), layout.clone(), reloader, events);
        add_services(&mut supervisor, &settings, &layout, certs, health);
        supervisor.run().await
    });
    runtime.shutdown_timeout(Duration::from_millis(200));
    Ok(code)
}

/// The services, in start order: the proxy serves first, ACME runs behind
/// it, the metrics endpoint reports on both. They share the HTTP-01
/// answers, and every certificate ACME stores is installed in the proxy's
/// store.
fn add_services(
    supervisor: &mut Supervisor,
    settings: &Settings,
    layout: &ConfigLayout,
    certs: CertStore,
    health: Health,
) {
    let tokens = Http01Tokens::new();
    let metrics = ProxyMetrics::new();
    let mut proxy = ProxyService::new(certs.clone(), tokens.clone());
    proxy.metrics = metrics.clone();
    proxy.health = health.clone();
    proxy.access_log = AccessLog::start(
        AccessLogConfig {
            format: match settings.log_format {
                LogFormat::Json => AccessLogFormat::Json,
                LogFormat::Text => AccessLogFormat::Combined,
            },
            stdout: settings.access_log.stdout,
            file: settings
                .access_log
                .file
                .then(|| layout.root().join("log/nginx/access.log")),
            owner: owner_of(settings).0,
            zone: settings.local_zone(),
        },
        metrics.clone(),
    );
    // Where SWAG's nginx.conf sends error_log, and fail2ban's nginx
    // filters read.
    proxy.error_log = ErrorLog::start(ErrorLogConfig {
        file: layout.root().join("log/nginx/error.log"),
        owner: owner_of(settings).0,
        zone: settings.local_zone(),
    });
    let bans = start_bans(settings, layout, &health);
    proxy.bans = bans.clone();
    supervisor.add(proxy);
    if settings.wants_acme() {
        // What ACME writes (etc/letsencrypt, the keys/ links) belongs to
        // PUID:PGID like the rest of /config, before the proxy uses it.
        let owner = owner_of(settings);
        let owned = [
            layout.root().join("etc/letsencrypt"),
            layout.root().join("keys"),
        ];
        let install = certs.sink_with_default(layout.root().to_path_buf());
        let sink: CertSink = Arc::new(move |lineage| {
            for dir in &owned {
                owner.apply_tree(dir);
            }
            install(lineage)
        });
        supervisor.add(AcmeService::new(tokens, sink).after_proxy(health.clone()));
    }
    supervisor.add(MetricsService::new(metrics, certs, health).with_bans(bans));
    supervisor.add(crate::discovery::DiscoveryService::new(owner_of(settings)));
}

/// SWAG's fail2ban jails, in-process: `/config/fail2ban`'s jail.local (or
/// SWAG's defaults) and filters. Off with `DISABLE_F2B=true`. A jail file
/// moat cannot read is an error in the log and moat serves without bans,
/// as SWAG's nginx goes on serving when its fail2ban cannot start.
fn start_bans(settings: &Settings, layout: &ConfigLayout, health: &Health) -> Option<BanHandle> {
    if settings.disable_f2b {
        tracing::info!("fail2ban: off (DISABLE_F2B=true)");
        return None;
    }
    let dir = layout.root().join("fail2ban");
    let bans = match Bans::start(&dir) {
        Ok(bans) => bans,
        Err(e) => {
            tracing::error!(error = %e, "fail2ban: the jails cannot be read; serving without bans until they are fixed and moat restarts");
            health.add_lapse(format!(
                "fail2ban: the jails cannot be read ({e}); serving without bans"
            ));
            return None;
        }
    };
    for (jail, why) in &bans.skipped {
        tracing::warn!(jail = %jail, "fail2ban: jail not run: {why}");
    }
    let jails = bans.jail_names().join(", ");
    let banned = bans.list().len();
    match BanHandle::start(bans) {
        Ok(handle) => {
            tracing::info!(jails = %jails, banned, dir = %dir.display(), "fail2ban: jails running in moat");
            Some(handle)
        }
        Err(e) => {
            tracing::error!(error = %e, "fail2ban: cannot start the filter thread; serving without bans");
            health.add_lapse(format!(
                "fail2ban: the filter thread cannot start ({e}); serving without bans"
            ));
            None
        }
    }
}

/// One line a person reads first: what this instance will do.
fn log_plan(settings: &Settings, layout: &ConfigLayout) {
    let mut confs: Vec<String> = std::fs::read_dir(layout.proxy_confs_dir())
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".conf"))
                .collect()
        })
        .unwrap_or_default();
    confs.sort();
    let certificate = match settings.lineage_name() {
        Some(_) => {
            let how = match &settings.validation {
                Validation::Http => "HTTP-01 on port 80".to_string(),
                Validation::Dns(plugin) => format!(
                    "DNS-01 through {plugin} (credentials in {})",
                    layout.dns_ini(plugin).display()
                ),
            };
            format!(
                "ACME from {} by {how}, stored in {}",
                settings.acme_directory,
                layout.letsencrypt_dir().display()
            )
        }
        None => format!(
            "self-signed for localhost ({})",
            layout.cert_file().display()
        ),
    };
    tracing::info!(
        http = settings.http_port,
        https = settings.https_port,
        domains = ?settings.domains.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
        certificate,
        active_confs = ?confs,
        config = %layout.root().display(),
        "moat will serve HTTP on :{} and HTTPS on :{} with {} active proxy-conf(s)",
        settings.http_port,
        settings.https_port,
        confs.len(),
    );
}

fn log_settings(settings: &Settings) {
    for note in &settings.notes {
        tracing::warn!("{note}");
    }
    match settings.lineage_name() {
        Some(lineage) => {
            let validation = match &settings.validation {
                Validation::Http => "http".to_string(),
                Validation::Dns(plugin) => format!("dns ({plugin})"),
            };
            tracing::info!(
                domains = ?settings.domains.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
                lineage,
                validation,
                directory = %settings.acme_directory,
                "settings read"
            );
        }
        None => tracing::info!(
            "no URL set: serving a self-signed certificate for localhost; no ACME certificate will be requested"
        ),
    }
}
