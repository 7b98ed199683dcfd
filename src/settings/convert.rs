//! `TryFrom<RawEnv> for Settings`: every variable normalised, parsed and
//! checked, in three groups (names, ACME, runtime), all problems collected.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use super::checker::{parse_duration, Checker};
use super::domain::{certificate_names, split_list, DomainName};
use super::error::SettingsErrors;
use super::kinds::{CertProvider, KeyType, LogFormat, Validation};
use super::model::*;
use super::observability::observability;
use super::raw::{moat_normalise, swag_normalise, RawEnv};
use super::vars;

impl TryFrom<RawEnv> for Settings {
    type Error = SettingsErrors;

    fn try_from(raw: RawEnv) -> Result<Self, Self::Error> {
        let mut c = Checker::default();
        let names = names(&mut c, &raw);
        let acme = acme(&mut c, &raw);
        let run = runtime(&mut c, &raw);
        let observe = observability(&mut c, &raw);
        let docker_host = super::discovery::docker_host(&mut c, &raw);
        let auto_proxy_certs = super::discovery::auto_proxy_certs(&mut c, &raw);
        let mut domains = names.domains;
        if let (Validation::Dns(plugin), Some(url)) = (&acme.validation, &names.url) {
            if plugin == "duckdns" {
                let (kept, note) = super::duckdns::narrow(url, domains);
                domains = kept;
                c.notes.extend(note);
            }
        }
        if let (Validation::Http, Some((var, value))) = (&acme.validation, &names.wildcard_from) {
            if names.url.is_some() {
                c.invalid(
                    var,
                    value,
                    "a wildcard certificate needs DNS-01 validation (CAs refuse HTTP-01 for it)",
                    "VALIDATION=dns with a DNSPLUGIN, or names without `*.`",
                );
            }
        }
        if let Some(note) = super::mods::note(raw.docker_mods.as_deref()) {
            c.notes.push(note);
        }
        let swag_values = SWAG_RECORDED
            .iter()
            .map(|var| (*var, swag_normalise(raw.get(var))))
            .collect();
        if !c.errors.is_empty() {
            return Err(SettingsErrors(c.errors));
        }
        Ok(Settings {
            url: names.url,
            domains,
            only_subdomains: names.only_subdomains,
            validation: acme.validation,
            duckdns_token: acme.duckdns_token,
            propagation: acme.propagation,
            propagation_nameservers: acme.propagation_nameservers,
            email: acme.email,
            staging: acme.staging,
            cert_provider: acme.cert_provider,
            cert_profile: acme.cert_profile,
            acme_directory: acme.acme_directory,
            acme_ca_root: acme.acme_ca_root,
            swag_autoreload: acme.swag_autoreload,
            puid: run.puid,
            pgid: run.pgid,
            owner_ids_given: run.owner_ids_given,
            tz: run.tz,
            config_dir: run.config_dir,
            http_port: run.http_port,
            https_port: run.https_port,
            log_format: run.log_format,
            log_level: run.log_level,
            shutdown_grace: run.shutdown_grace,
            workers: run.workers,
            key_type: run.key_type,
            revoke_replaced: run.revoke_replaced,
            disable_f2b: run.disable_f2b,
            metrics_addr: observe.metrics_addr,
            access_log: observe.access_log,
            status_page_auth: observe.status_page_auth,
            docker_host,
            auto_proxy_certs,
            swag_values,
            notes: c.notes,
        })
    }
}

/// The SWAG variables SWAG records in `.donoteditthisfile.conf`, in its order.
const SWAG_RECORDED: &[&str] = &[
    vars::URL,
    vars::SUBDOMAINS,
    vars::ONLY_SUBDOMAINS,
    vars::EXTRA_DOMAINS,
    vars::VALIDATION,
    vars::DNSPLUGIN,
    vars::PROPAGATION,
    vars::STAGING,
    vars::CERTPROVIDER,
    vars::EMAIL,
];

/// URL, SUBDOMAINS, ONLY_SUBDOMAINS, EXTRA_DOMAINS and the name list.
struct Names {
    url: Option<DomainName>,
    domains: Vec<DomainName>,
    only_subdomains: bool,
    /// The variable (and its value) that asked for a wildcard name.
    wildcard_from: Option<(&'static str, String)>,
}

fn names(c: &mut Checker, raw: &RawEnv) -> Names {
    // URL and the names built from it.
    let url_text = swag_normalise(raw.url.as_deref());
    let url = if url_text.is_empty() {
        None
    } else {
        match DomainName::parse(&url_text, false) {
            Ok(d) => Some(d),
            Err(why) => {
                c.invalid(
                    vars::URL,
                    &url_text,
                    why,
                    "a domain name such as example.com (use SUBDOMAINS=wildcard for *.)",
                );
                None
            }
        }
    };
    let only_subdomains = c.swag_bool(vars::ONLY_SUBDOMAINS, raw.only_subdomains.as_deref());
    let sub_text = swag_normalise(raw.subdomains.as_deref());
    let base = url
        .as_ref()
        .map(|u| u.as_str().to_string())
        .unwrap_or_else(|| "example.com".into());
    let has_wildcard = split_list(&sub_text).any(|s| s == "wildcard");
    let subdomains = c.domain_list(vars::SUBDOMAINS, &sub_text, |label| {
        if label == "wildcard" {
            (format!("*.{base}"), true)
        } else {
            (format!("{label}.{base}"), false)
        }
    });
    if has_wildcard {
        let covered: Vec<&str> = split_list(&sub_text)
            .filter(|s| *s != "wildcard" && !s.contains('.'))
            .collect();
        if !covered.is_empty() {
            c.invalid(
                vars::SUBDOMAINS,
                &sub_text,
                format!(
                    "`wildcard` already covers {}; CAs refuse redundant names",
                    covered.join(", ")
                ),
                "either `wildcard` or a list of labels",
            );
        }
    }
    let extra_text = swag_normalise(raw.extra_domains.as_deref());
    let extra = c.domain_list(vars::EXTRA_DOMAINS, &extra_text, |n| (n.to_string(), true));
    let domains = match &url {
        Some(u) => certificate_names(u, &subdomains, only_subdomains, &extra),
        None => {
            if !sub_text.is_empty() || !extra_text.is_empty() {
                c.notes.push(format!(
                    "{} and {} are ignored without {}",
                    vars::SUBDOMAINS,
                    vars::EXTRA_DOMAINS,
                    vars::URL
                ));
            }
            Vec::new()
        }
    };
    if only_subdomains && sub_text.is_empty() && url.is_some() {
        c.notes.push(format!(
            "{}=true without {}: the certificate covers the apex only",
            vars::ONLY_SUBDOMAINS,
            vars::SUBDOMAINS
        ));
    }

    let wildcard_from = if subdomains.iter().any(DomainName::is_wildcard) {
        Some((vars::SUBDOMAINS, sub_text))
    } else if extra.iter().any(DomainName::is_wildcard) {
        Some((vars::EXTRA_DOMAINS, extra_text))
    } else {
        None
    };
    Names {
        url,
        domains,
        only_subdomains,
        wildcard_from,
    }
}

/// How certificates are obtained.
struct Acme {
    validation: Validation,
    duckdns_token: Option<crate::dns::Secret>,
    propagation: Option<Duration>,
    propagation_nameservers: Vec<SocketAddr>,
    email: Option<String>,
    staging: bool,
    cert_provider: CertProvider,
    cert_profile: Option<String>,
    acme_directory: String,
    acme_ca_root: Option<PathBuf>,
    swag_autoreload: bool,
}

fn acme(c: &mut Checker, raw: &RawEnv) -> Acme {
    // Validation and DNS plugin.
    let validation_text = swag_normalise(raw.validation.as_deref());
    let plugin_text = swag_normalise(raw.dnsplugin.as_deref());
    let providers = crate::dns::PROVIDER_NAMES.join(", ");
    let validation = match validation_text.as_str() {
        "" | "http" => {
            if !plugin_text.is_empty() {
                c.notes.push(format!(
                    "{}={plugin_text:?} is ignored with VALIDATION=http",
                    vars::DNSPLUGIN
                ));
            }
            Validation::Http
        }
        "duckdns" => {
            if !plugin_text.is_empty() && plugin_text != "duckdns" {
                c.notes.push(format!(
                    "VALIDATION=duckdns uses the duckdns plugin; {}={plugin_text:?} is ignored",
                    vars::DNSPLUGIN
                ));
            }
            Validation::Dns("duckdns".into())
        }
        "dns" => {
            if plugin_text.is_empty() {
                c.invalid(
                    vars::DNSPLUGIN,
                    "",
                    "VALIDATION=dns needs a DNS provider",
                    &providers,
                );
            } else if !crate::dns::PROVIDER_NAMES.contains(&plugin_text.as_str()) {
                c.invalid(
                    vars::DNSPLUGIN,
                    &plugin_text,
                    "unknown DNS provider; for any other DNS host use DNSPLUGIN=acmedns \
                     (one CNAME to an acme-dns server) or DNSPLUGIN=exec (a program of yours)",
                    &providers,
                );
            }
            Validation::Dns(plugin_text.clone())
        }
        other => {
            c.invalid(
                vars::VALIDATION,
                other,
                "unknown validation method",
                "http, dns, duckdns",
            );
            Validation::Http
        }
    };

    // SWAG leaves the token as given (it is case-sensitive).
    let token_text = moat_normalise(raw.duckdnstoken.as_deref());
    let duckdns_token = (validation_text == "duckdns" && !token_text.is_empty())
        .then(|| crate::dns::Secret::new(token_text));

    let propagation = {
        let text = swag_normalise(raw.propagation.as_deref());
        if text.is_empty() {
            None
        } else {
            match text.parse::<u32>() {
                Ok(s) => Some(Duration::from_secs(u64::from(s))),
                Err(_) => {
                    c.invalid(
                        vars::PROPAGATION,
                        &text,
                        "not a whole number of seconds",
                        "a whole number of seconds, e.g. 60",
                    );
                    None
                }
            }
        }
    };

    let propagation_nameservers = c.socket_addr_list(
        vars::PROPAGATION_NAMESERVERS,
        raw.propagation_nameservers.as_deref(),
        53,
    );

    let email_text = swag_normalise(raw.email.as_deref());
    let email = email_text.contains('@').then(|| email_text.clone());
    if !email_text.is_empty() && email.is_none() {
        c.notes.push(format!(
            "{}={email_text:?} has no '@' and is not used (as in SWAG)",
            vars::EMAIL
        ));
    }
    let staging = c.swag_bool(vars::STAGING, raw.staging.as_deref());
    let provider_text = swag_normalise(raw.certprovider.as_deref());
    let cert_provider = match provider_text.as_str() {
        "" | "letsencrypt" => CertProvider::LetsEncrypt,
        "zerossl" => {
            if email.is_none() {
                c.invalid(
                    vars::EMAIL,
                    &email_text,
                    "CERTPROVIDER=zerossl needs an e-mail address",
                    "an address containing '@'",
                );
            }
            CertProvider::ZeroSsl
        }
        other => {
            c.invalid(
                vars::CERTPROVIDER,
                other,
                "unknown certificate provider",
                "letsencrypt, zerossl",
            );
            CertProvider::LetsEncrypt
        }
    };
    let profile_text = swag_normalise(raw.cert_profile.as_deref());
    let cert_profile = if profile_text.is_empty() {
        None
    } else if profile_text
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
    {
        Some(profile_text)
    } else {
        c.invalid(
            vars::CERT_PROFILE,
            &profile_text,
            "not a profile name",
            "a name such as classic or shortlived",
        );
        None
    };
    let swag_autoreload = c.swag_bool(vars::SWAG_AUTORELOAD, raw.swag_autoreload.as_deref());

    let acme_server_text = moat_normalise(raw.acme_server.as_deref());
    let acme_directory = if acme_server_text.is_empty() {
        match (cert_provider, staging) {
            (CertProvider::ZeroSsl, _) => vars::ZEROSSL_DIRECTORY.to_string(),
            (CertProvider::LetsEncrypt, true) => vars::LETSENCRYPT_STAGING_DIRECTORY.to_string(),
            (CertProvider::LetsEncrypt, false) => vars::LETSENCRYPT_DIRECTORY.to_string(),
        }
    } else {
        match reqwest::Url::parse(&acme_server_text) {
            Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.host().is_some() => {
                acme_server_text.clone()
            }
            _ => {
                c.invalid(
                    vars::ACME_SERVER,
                    &acme_server_text,
                    "not an http(s) URL",
                    "an ACME directory URL such as https://127.0.0.1:14000/dir",
                );
                String::new()
            }
        }
    };
    let root_text = moat_normalise(raw.acme_ca_root.as_deref());
    let acme_ca_root = (!root_text.is_empty()).then(|| PathBuf::from(&root_text));

    Acme {
        validation,
        duckdns_token,
        propagation,
        propagation_nameservers,
        email,
        staging,
        cert_provider,
        cert_profile,
        acme_directory,
        acme_ca_root,
        swag_autoreload,
    }
}

/// Ownership, paths, ports, logging and process behaviour.
struct Runtime {
    puid: u32,
    pgid: u32,
    owner_ids_given: bool,
    tz: String,
    config_dir: PathBuf,
    http_port: u16,
    https_port: u16,
    log_format: LogFormat,
    log_level: String,
    shutdown_grace: Duration,
    workers: Option<NonZeroUsize>,
    key_type: KeyType,
    revoke_replaced: bool,
    disable_f2b: bool,
}

fn runtime(c: &mut Checker, raw: &RawEnv) -> Runtime {
    let puid = c
        .number(vars::PUID, raw.puid.as_deref(), "a numeric user id")
        .unwrap_or_else(default_owner_id);
    let pgid = c
        .number(vars::PGID, raw.pgid.as_deref(), "a numeric group id")
        .unwrap_or_else(default_owner_id);
    let owner_ids_given = !moat_normalise(raw.puid.as_deref()).is_empty()
        || !moat_normalise(raw.pgid.as_deref()).is_empty();
    let tz_text = moat_normalise(raw.tz.as_deref());
    let tz = if tz_text.is_empty() {
        default_tz()
    } else {
        tz_text
    };
    // A cosmetic setting: SWAG's image falls back to UTC too, so a wrong
    // TZ is said at start rather than refused.
    if let Err(e) = crate::clock::LocalZone::from_tz(&tz) {
        c.notes.push(e.to_string());
    }

    let dir_text = moat_normalise(raw.config_dir.as_deref());
    let config_dir = if dir_text.is_empty() {
        default_config_dir()
    } else {
        PathBuf::from(dir_text)
    };
    let http_port = c.port(
        vars::HTTP_PORT,
        raw.http_port.as_deref(),
        default_http_port(),
    );
    let https_port = c.port(
        vars::HTTPS_PORT,
        raw.https_port.as_deref(),
        default_https_port(),
    );
    if http_port == https_port {
        c.invalid(
            vars::HTTPS_PORT,
            &https_port.to_string(),
            "same port as HTTP_PORT",
            "a port different from HTTP_PORT",
        );
    }

    let format_text = moat_normalise(raw.log_format.as_deref()).to_lowercase();
    let log_format = match format_text.as_str() {
        "" | "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            c.invalid(vars::LOG_FORMAT, other, "unknown log format", "text, json");
            LogFormat::Text
        }
    };
    let level_text = moat_normalise(raw.log_level.as_deref());
    let log_level = if level_text.is_empty() {
        default_log_level()
    } else {
        match tracing_subscriber::EnvFilter::builder().parse(&level_text) {
            Ok(_) => level_text,
            Err(e) => {
                c.invalid(
                    vars::LOG_LEVEL,
                    &level_text,
                    format!("not a log filter: {e}"),
                    "error, warn, info, debug, trace, or a filter like moat=debug,pingora=warn",
                );
                default_log_level()
            }
        }
    };
    let grace_text = moat_normalise(raw.shutdown_grace.as_deref()).to_lowercase();
    let shutdown_grace = if grace_text.is_empty() {
        default_shutdown_grace()
    } else {
        match parse_duration(&grace_text) {
            Some(d) if d <= MAX_SHUTDOWN_GRACE => d,
            Some(_) => {
                c.invalid(
                    vars::SHUTDOWN_GRACE,
                    &grace_text,
                    "longer than an hour",
                    "seconds (e.g. 5), or 5s, 500ms; at most 3600 s",
                );
                default_shutdown_grace()
            }
            None => {
                c.invalid(
                    vars::SHUTDOWN_GRACE,
                    &grace_text,
                    "not a duration",
                    "seconds (e.g. 5), or 5s, 500ms",
                );
                default_shutdown_grace()
            }
        }
    };
    let workers = match c.number::<usize>(
        vars::WORKERS,
        raw.workers.as_deref(),
        "a number of threads from 1 to 1024",
    ) {
        Some(n) if (1..=1024).contains(&n) => NonZeroUsize::new(n),
        Some(n) => {
            c.invalid(
                vars::WORKERS,
                &n.to_string(),
                "out of range",
                "a number of threads from 1 to 1024",
            );
            None
        }
        None => None,
    };
    let key_text = moat_normalise(raw.key_type.as_deref()).to_lowercase();
    let key_type = if key_text.is_empty() {
        KeyType::EcdsaP256
    } else {
        KeyType::from_name(&key_text).unwrap_or_else(|| {
            c.invalid(
                vars::KEY_TYPE,
                &key_text,
                "unknown key type",
                KeyType::NAMES.join(", "),
            );
            KeyType::EcdsaP256
        })
    };
    let revoke_replaced = c.swag_bool(vars::REVOKE_REPLACED, raw.revoke_replaced.as_deref());
    let disable_f2b = c.swag_bool(vars::DISABLE_F2B, raw.disable_f2b.as_deref());
    Runtime {
        puid,
        pgid,
        owner_ids_given,
        tz,
        config_dir,
        http_port,
        https_port,
        log_format,
        log_level,
        shutdown_grace,
        workers,
        key_type,
        revoke_replaced,
        disable_f2b,
    }
}
