//! The files built into the binary: our default nginx files (`defaults/`),
//! our proxy-conf samples (`proxy-confs/`) and the DNS credential templates
//! (`dns-conf/`). Paths are relative to the /config directory.

// `(file name, contents)` of one file under the repository's `proxy-confs/`.
macro_rules! sample {
    ($name:literal) => {
        ($name, include_str!(concat!("../../proxy-confs/", $name)))
    };
}

/// Default files: written when missing, and refreshed as `<path>.sample` on
/// every start. Written by moat (not SWAG's text), with SWAG's names and
/// include structure so existing proxy-confs resolve identically.
pub const DEFAULT_FILES: &[(&str, &str)] = &[
    (
        "nginx/nginx.conf",
        include_str!("../../defaults/nginx/nginx.conf"),
    ),
    (
        "nginx/ssl.conf",
        include_str!("../../defaults/nginx/ssl.conf"),
    ),
    (
        "nginx/proxy.conf",
        include_str!("../../defaults/nginx/proxy.conf"),
    ),
    (
        "nginx/site-confs/default.conf",
        include_str!("../../defaults/nginx/site-confs/default.conf"),
    ),
    (
        "nginx/authelia-location.conf",
        include_str!("../../defaults/nginx/authelia-location.conf"),
    ),
    (
        "nginx/authelia-server.conf",
        include_str!("../../defaults/nginx/authelia-server.conf"),
    ),
    (
        "nginx/authentik-location.conf",
        include_str!("../../defaults/nginx/authentik-location.conf"),
    ),
    (
        "nginx/authentik-server.conf",
        include_str!("../../defaults/nginx/authentik-server.conf"),
    ),
    (
        "nginx/ldap-location.conf",
        include_str!("../../defaults/nginx/ldap-location.conf"),
    ),
    (
        "nginx/ldap-server.conf",
        include_str!("../../defaults/nginx/ldap-server.conf"),
    ),
    (
        "nginx/tinyauth-location.conf",
        include_str!("../../defaults/nginx/tinyauth-location.conf"),
    ),
    (
        "nginx/tinyauth-server.conf",
        include_str!("../../defaults/nginx/tinyauth-server.conf"),
    ),
];

/// Written once when missing, never as a sample.
pub const WRITE_ONCE_FILES: &[(&str, &str)] = &[(
    "www/index.html",
    include_str!("../../defaults/www/index.html"),
)];

/// Our proxy-conf samples, written to `nginx/proxy-confs/<name>` on every
/// start; users activate one by copying it without `.sample`.
pub const PROXY_CONF_SAMPLES: &[(&str, &str)] = &[
    sample!("code-server.subdomain.conf.sample"),
    sample!("gitea.subdomain.conf.sample"),
    sample!("homeassistant.subdomain.conf.sample"),
    sample!("jellyfin.subdomain.conf.sample"),
    sample!("nextcloud.subdomain.conf.sample"),
    sample!("open-webui.subdomain.conf.sample"),
    sample!("open-webui.subfolder.conf.sample"),
    sample!("portainer.subdomain.conf.sample"),
    sample!("vaultwarden.subdomain.conf.sample"),
];

/// DNS credential templates, written to `dns-conf/<name>` when missing.
pub const DNS_CONF_TEMPLATES: &[(&str, &str)] = &[
    ("aliyun.ini", include_str!("../../dns-conf/aliyun.ini")),
    (
        "cloudflare.ini",
        include_str!("../../dns-conf/cloudflare.ini"),
    ),
    ("duckdns.ini", include_str!("../../dns-conf/duckdns.ini")),
    ("rfc2136.ini", include_str!("../../dns-conf/rfc2136.ini")),
    (
        "digitalocean.ini",
        include_str!("../../dns-conf/digitalocean.ini"),
    ),
    ("do.ini", include_str!("../../dns-conf/do.ini")),
    ("hetzner.ini", include_str!("../../dns-conf/hetzner.ini")),
    ("porkbun.ini", include_str!("../../dns-conf/porkbun.ini")),
    ("linode.ini", include_str!("../../dns-conf/linode.ini")),
    ("acmedns.ini", include_str!("../../dns-conf/acmedns.ini")),
    ("desec.ini", include_str!("../../dns-conf/desec.ini")),
    ("dnsimple.ini", include_str!("../../dns-conf/dnsimple.ini")),
    ("exec.ini", include_str!("../../dns-conf/exec.ini")),
    ("gandi.ini", include_str!("../../dns-conf/gandi.ini")),
    ("godaddy.ini", include_str!("../../dns-conf/godaddy.ini")),
    (
        "hetzner-cloud.ini",
        include_str!("../../dns-conf/hetzner-cloud.ini"),
    ),
    ("ionos.ini", include_str!("../../dns-conf/ionos.ini")),
    ("netcup.ini", include_str!("../../dns-conf/netcup.ini")),
    ("ovh.ini", include_str!("../../dns-conf/ovh.ini")),
    ("route53.ini", include_str!("../../dns-conf/route53.ini")),
    ("vultr.ini", include_str!("../../dns-conf/vultr.ini")),
    ("google.json", include_str!("../../dns-conf/google.json")),
    ("transip.ini", include_str!("../../dns-conf/transip.ini")),
    ("azure.ini", include_str!("../../dns-conf/azure.ini")),
    (
        "namecheap.ini",
        include_str!("../../dns-conf/namecheap.ini"),
    ),
    ("inwx.ini", include_str!("../../dns-conf/inwx.ini")),
];
