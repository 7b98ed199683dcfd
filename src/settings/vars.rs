//! Every environment variable moat reads, one `const` each. The doc line
//! states the default and the meaning; the README's table is built from these.
//!
//! Variables marked "SWAG" keep SWAG's meaning and normalisation (surrounding
//! `"` stripped, lower-cased, a boolean is on only when it is exactly `true`).

/// SWAG. Apex domain of the certificate. Default: none, which means no ACME
/// certificate: a self-signed one for `localhost` is served instead.
pub const URL: &str = "URL";
/// SWAG. Comma list of labels, each becoming `label.URL`; `wildcard` means
/// `*.URL`. Default: empty.
pub const SUBDOMAINS: &str = "SUBDOMAINS";
/// SWAG. Comma list of extra full names (`*.other.org` allowed). Default: empty.
pub const EXTRA_DOMAINS: &str = "EXTRA_DOMAINS";
/// SWAG. `true` leaves the apex out when SUBDOMAINS is set. Default: false.
pub const ONLY_SUBDOMAINS: &str = "ONLY_SUBDOMAINS";
/// SWAG. `http`, `dns`, or legacy `duckdns` (= dns with the duckdns plugin).
/// Default: `http`.
pub const VALIDATION: &str = "VALIDATION";
/// SWAG. DNS provider for `VALIDATION=dns`; credentials in
/// `dns-conf/<name>.ini`. Default: none (required for dns).
pub const DNSPLUGIN: &str = "DNSPLUGIN";
/// SWAG. DuckDNS token for `VALIDATION=duckdns`; written into
/// `dns-conf/duckdns.ini` at every start, as SWAG does. Default: none.
pub const DUCKDNSTOKEN: &str = "DUCKDNSTOKEN";
/// SWAG. Seconds to wait after publishing TXT records. Default: the provider's.
pub const PROPAGATION: &str = "PROPAGATION";
/// moat. Comma list of DNS servers (`IP` or `IP:port`; port 53 when
/// omitted) asked for the DNS-01 TXT records before the CA is told to
/// validate, instead of the zone's authoritative servers found through public
/// DNS. For split-horizon DNS, or when the authoritative servers cannot be
/// reached from the container. Queries ask for recursion, so a resolver works
/// too (it may cache "no such record" for the zone's negative TTL).
/// Default: empty (the zone's authoritative servers).
pub const PROPAGATION_NAMESERVERS: &str = "PROPAGATION_NAMESERVERS";
/// SWAG. ACME contact; used only when it contains `@`. Default: none
/// (required for ZeroSSL).
pub const EMAIL: &str = "EMAIL";
/// SWAG. `true` uses Let's Encrypt's staging directory. Default: false.
pub const STAGING: &str = "STAGING";
/// SWAG. `letsencrypt` or `zerossl`. Default: `letsencrypt`.
pub const CERTPROVIDER: &str = "CERTPROVIDER";
/// SWAG. ACME profile to request (`classic`, `shortlived`, ...). Default: none.
pub const CERT_PROFILE: &str = "CERT_PROFILE";
/// SWAG. Accepted for compatibility; moat always reloads on conf changes.
/// Default: false.
pub const SWAG_AUTORELOAD: &str = "SWAG_AUTORELOAD";
/// SWAG. Owner uid of files written under /config (when running as root).
/// Default: 911.
pub const PUID: &str = "PUID";
/// SWAG. Owner gid of files written under /config (when running as root).
/// Default: 911.
pub const PGID: &str = "PGID";
/// SWAG. `true` turns off moat's in-process fail2ban jails (bans from
/// `/config/fail2ban/jail.local`). Default: false.
pub const DISABLE_F2B: &str = "DISABLE_F2B";
/// linuxserver. Not supported: moat is one binary and has no mods; when set,
/// one warning names what replaces each mod listed. Default: none.
pub const DOCKER_MODS: &str = "DOCKER_MODS";
/// SWAG. Time zone name for logs and schedules. Default: `UTC`.
pub const TZ: &str = "TZ";
/// moat. Any ACME directory URL; overrides STAGING and CERTPROVIDER.
/// Default: derived from CERTPROVIDER and STAGING.
pub const ACME_SERVER: &str = "ACME_SERVER";
/// moat. PEM file of the root to trust for ACME_SERVER (e.g. pebble's).
/// Default: the system roots.
pub const ACME_CA_ROOT: &str = "ACME_CA_ROOT";
/// moat. The configuration volume. Default: `/config`.
pub const CONFIG_DIR: &str = "CONFIG_DIR";
/// moat. Plain-HTTP listening port (redirects, HTTP-01). Default: 80.
pub const HTTP_PORT: &str = "HTTP_PORT";
/// moat. HTTPS listening port. Default: 443.
pub const HTTPS_PORT: &str = "HTTPS_PORT";
/// moat. `text` or `json` (one JSON object per line). Default: `text`.
pub const LOG_FORMAT: &str = "LOG_FORMAT";
/// moat. A tracing filter: `info`, `debug`, `moat=debug,pingora=warn`, ...
/// Default: `info`.
pub const LOG_LEVEL: &str = "LOG_LEVEL";
/// moat. How long in-flight requests may finish after SIGTERM: seconds, or
/// with an `s`/`ms` suffix. Default: 5 s.
pub const SHUTDOWN_GRACE: &str = "SHUTDOWN_GRACE";
/// moat. Proxy worker threads. Default: one per CPU.
pub const WORKERS: &str = "WORKERS";
/// moat. Key for new certificates: `rsa2048`, `rsa4096`, `ecdsa256`,
/// `ecdsa384`. Default: `ecdsa256`.
pub const KEY_TYPE: &str = "KEY_TYPE";
/// moat. `true` revokes a certificate once its replacement (after a change
/// of names) is stored and served. Default: false.
pub const REVOKE_REPLACED: &str = "REVOKE_REPLACED";
/// moat. Where the metrics endpoint listens (`GET /metrics` in Prometheus
/// text format, `GET /health` for `moat health`): `IP:port`, or `off`.
/// Never on the public ports. Default: `127.0.0.1:9113`.
pub const METRICS_ADDR: &str = "METRICS_ADDR";
/// moat. Where the access log goes: `on` (stdout and
/// `/config/log/nginx/access.log`), `file`, `stdout`, or `off`. Lines are
/// nginx's `combined` format, or JSON objects with `LOG_FORMAT=json`.
/// Default: `on`.
pub const ACCESS_LOG: &str = "ACCESS_LOG";
/// moat. An htpasswd file (SWAG's `/config/nginx/.htpasswd` format) whose
/// users may open the status page (`/` and `/api/status` of
/// METRICS_ADDR), for those who publish that endpoint through a conf.
/// Default: unset (no password; the endpoint is on loopback).
pub const STATUS_PAGE_AUTH: &str = "STATUS_PAGE_AUTH";

/// Docker's. Where Docker discovery reads containers with the `swag=enable`
/// label: `unix:///path`, `tcp://host:port` (a read-only socket proxy), or
/// `off`. Default: `/var/run/docker.sock` when it is mounted and moat is
/// PID 1 (its own container), else off.
pub const DOCKER_HOST: &str = "DOCKER_HOST";

/// moat. `true` adds each name Docker discovery publishes (`swag_url`, or
/// `<name>.URL` for the default `<name>.*`) and the certificate does not
/// cover to the certificate, by a new order while the current certificate
/// keeps serving. Only names under URL. Default: false.
pub const AUTO_PROXY_CERTS: &str = "AUTO_PROXY_CERTS";
/// moat. The least time between two orders AUTO_PROXY_CERTS makes for new
/// names; changes in between wait and go in one order. Seconds, or with
/// an `s`/`ms` suffix. Default: 3600.
pub const AUTO_PROXY_CERTS_INTERVAL: &str = "AUTO_PROXY_CERTS_INTERVAL";

/// Every name above, for tests and documentation.
pub const ALL: &[&str] = &[
    URL,
    SUBDOMAINS,
    EXTRA_DOMAINS,
    ONLY_SUBDOMAINS,
    VALIDATION,
    DNSPLUGIN,
    DUCKDNSTOKEN,
    PROPAGATION,
    PROPAGATION_NAMESERVERS,
    EMAIL,
    STAGING,
    CERTPROVIDER,
    CERT_PROFILE,
    SWAG_AUTORELOAD,
    PUID,
    PGID,
    TZ,
    DISABLE_F2B,
    DOCKER_MODS,
    ACME_SERVER,
    ACME_CA_ROOT,
    CONFIG_DIR,
    HTTP_PORT,
    HTTPS_PORT,
    LOG_FORMAT,
    LOG_LEVEL,
    SHUTDOWN_GRACE,
    WORKERS,
    KEY_TYPE,
    REVOKE_REPLACED,
    METRICS_ADDR,
    ACCESS_LOG,
    STATUS_PAGE_AUTH,
    DOCKER_HOST,
    AUTO_PROXY_CERTS,
    AUTO_PROXY_CERTS_INTERVAL,
];

/// Let's Encrypt's production directory.
pub const LETSENCRYPT_DIRECTORY: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory (`STAGING=true`).
pub const LETSENCRYPT_STAGING_DIRECTORY: &str =
    "https://acme-staging-v02.api.letsencrypt.org/directory";
/// ZeroSSL's directory (`CERTPROVIDER=zerossl`).
pub const ZEROSSL_DIRECTORY: &str = "https://acme.zerossl.com/v2/DV90";
