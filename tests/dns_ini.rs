//! The shipped `dns-conf/*.ini` templates: every provider refuses its
//! placeholder values, naming the file, the line and the key; a file with the
//! legacy `certbot_dns_<name>:` prefixes loads.

use moat::dns::{provider_for, PROVIDER_NAMES};

/// The credentials file of `plugin`: `<plugin>.ini`, or google's `google.json`.
fn file_of(plugin: &str) -> String {
    match plugin {
        "google" => "google.json".to_owned(),
        _ => format!("{plugin}.ini"),
    }
}

fn config_with(plugin: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dns-conf")).unwrap();
    std::fs::write(dir.path().join("dns-conf").join(file_of(plugin)), text).unwrap();
    dir
}

#[test]
fn every_template_is_refused_until_its_placeholders_are_replaced() {
    let cases = [
        ("aliyun", 4, "dns_aliyun_access_key still holds the template's placeholder value: replace it with your AccessKey ID"),
        ("cloudflare", 4, "dns_cloudflare_api_token still holds the template's placeholder value: replace it with an API token"),
        ("rfc2136", 7, "dns_rfc2136_secret still holds the template's placeholder value: replace it with the base64 TSIG secret"),
        ("duckdns", 3, "dns_duckdns_token still holds the template's placeholder value: replace it with your DuckDNS token"),
        ("digitalocean", 4, "dns_digitalocean_token still holds the template's placeholder value: replace it with a DigitalOcean API token"),
        ("do", 3, "dns_do_api_token still holds the template's placeholder value: replace it with a DigitalOcean API token"),
        ("hetzner", 4, "dns_hetzner_api_token still holds the template's placeholder value: replace it with a DNS Console API token"),
        ("porkbun", 3, "dns_porkbun_key still holds the template's placeholder value: replace it with your Porkbun API key"),
        ("linode", 3, "dns_linode_key still holds the template's placeholder value: replace it with a Linode personal access token (Domains: Read/Write)"),
        // Keys uncommented (untouched, they are missing: tests/dns_route53.rs).
        ("route53", 4, "aws_access_key_id still holds the template's placeholder value: replace it with your AWS access key id"),
        ("gandi", 3, "dns_gandi_token still holds the template's placeholder value: replace it with a Gandi personal access token (or set dns_gandi_api_key)"),
        ("desec", 3, "dns_desec_token still holds the template's placeholder value: replace it with a deSEC API token"),
        ("vultr", 3, "dns_vultr_key still holds the template's placeholder value: replace it with a Vultr personal access token (API key)"),
        ("acmedns", 4, "dns_acmedns_api_url still holds the template's placeholder value: replace it with your acme-dns server's URL"),
        ("exec", 3, "dns_exec_path still holds the template's placeholder value: replace it with the path of your DNS hook program"),
        ("ovh", 4, "dns_ovh_application_key still holds the template's placeholder value: replace it with your OVH application key"),
        ("godaddy", 4, "dns_godaddy_key still holds the template's placeholder value: replace it with your GoDaddy API key"),
        ("dnsimple", 3, "dns_dnsimple_token still holds the template's placeholder value: replace it with a DNSimple API token"),
        ("ionos", 3, "dns_ionos_prefix still holds the template's placeholder value: replace it with your IONOS API key prefix"),
        ("hetzner-cloud", 3, "dns_hetzner_cloud_api_token still holds the template's placeholder value: replace it with a Hetzner Cloud API token (read/write)"),
        ("netcup", 3, "dns_netcup_customer_id still holds the template's placeholder value: replace it with your netcup customer number"),
        ("google", 3, "_comment shows this is still SWAG's template: replace the whole file with your service account's JSON key (IAM > Service accounts > Keys)"),
        ("transip", 28, "dns_transip_username still holds the template's placeholder value: replace it with your TransIP username"),
        ("azure", 5, "dns_azure_sp_client_id still holds the template's placeholder value: replace it with your service principal's application (client) id"),
        ("namecheap", 3, "dns_namecheap_username still holds the template's placeholder value: replace it with your Namecheap user name"),
        ("inwx", 4, "dns_inwx_username still holds the template's placeholder value: replace it with your INWX user name"),
    ];
    assert_eq!(cases.map(|c| c.0), PROVIDER_NAMES);
    let _ = rustls::crypto::ring::default_provider().install_default();
    for (plugin, line, message) in cases {
        let template = std::fs::read_to_string(format!(
            "{}/dns-conf/{}",
            env!("CARGO_MANIFEST_DIR"),
            file_of(plugin)
        ))
        .unwrap();
        // route53.ini ships with its keys commented out, as SWAG's does.
        let template = template.replace("; aws_", "aws_");
        let dir = config_with(plugin, &template);
        let err = provider_for(plugin, dir.path())
            .err()
            .expect("placeholder refused")
            .to_string();
        assert_eq!(
            err,
            format!(
                "{plugin}: {}/dns-conf/{}:{line}: {message}",
                dir.path().display(),
                file_of(plugin)
            )
        );
    }
}

#[test]
fn credential_errors_name_file_line_and_key() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cases: &[(&str, &str, &str)] = &[
        ("aliyun", "dns_aliyun_access_key = LTAI5tRealKey\n", ": missing key dns_aliyun_access_key_secret: add `dns_aliyun_access_key_secret = <your AccessKey secret>`"),
        ("aliyun", "dns_aliyun_access_key = LTAI5tRealKey\ndns_aliyun_access_key_secret = s3cr3t-value\ndns_aliyun_signature_version = 2.5\n", ":3: dns_aliyun_signature_version must be 1 (HMAC-SHA1) or 3 (ACS3-HMAC-SHA256)"),
        ("aliyun", "dns_aliyun_access_key = LTAI5tRealKey\ndns_aliyun_access_key_secret = s3cr3t-value\ndns_aliyun_endpoint = alidns\n", ":3: dns_aliyun_endpoint must be an http(s) URL such as https://alidns.aliyuncs.com/"),
        ("cloudflare", "# nothing\n", ": missing key dns_cloudflare_api_token: add `dns_cloudflare_api_token = <token>` (or dns_cloudflare_email and dns_cloudflare_api_key)"),
        ("cloudflare", "dns_cloudflare_email = me@example.org\n", ": missing key dns_cloudflare_api_key: add `dns_cloudflare_api_key = <the Global API Key>`"),
        ("rfc2136", "dns_rfc2136_server = ns1.example.org\n", ":1: dns_rfc2136_server must be an IP address, not a host name"),
        ("rfc2136", "dns_rfc2136_server = 127.0.0.1\ndns_rfc2136_port = 99999\n", ":2: dns_rfc2136_port must be a port number (1-65535)"),
        ("rfc2136", "dns_rfc2136_server = 127.0.0.1\ndns_rfc2136_name = k.\ndns_rfc2136_secret = not base64!\n", ":3: dns_rfc2136_secret is not valid base64"),
        ("rfc2136", "dns_rfc2136_server = 127.0.0.1\ndns_rfc2136_name = k.\ndns_rfc2136_secret = AAAA\ndns_rfc2136_algorithm = HMAC-SHA3\n", ":4: dns_rfc2136_algorithm must be one of HMAC-MD5, HMAC-SHA1, HMAC-SHA224, HMAC-SHA256, HMAC-SHA384, HMAC-SHA512"),
        ("duckdns", "dns_duckdns_token =\n", ":1: dns_duckdns_token is empty: set it to your DuckDNS token"),
    ];
    for (plugin, text, tail) in cases {
        let dir = config_with(plugin, text);
        let err = provider_for(plugin, dir.path())
            .err()
            .expect("refused")
            .to_string();
        assert_eq!(
            err,
            format!(
                "{plugin}: {}/dns-conf/{plugin}.ini{tail}",
                dir.path().display()
            ),
            "for {text:?}"
        );
        assert!(!err.contains("s3cr3t-value"));
    }
}

#[test]
fn legacy_prefixed_files_load() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = config_with(
        "aliyun",
        "certbot_dns_aliyun:dns_aliyun_access_key = LTAI5tRealKey\ncertbot-dns-aliyun:dns_aliyun_access_key_secret = s3cr3t-value\n",
    );
    let p = provider_for("aliyun", dir.path()).unwrap();
    assert_eq!(p.name(), "aliyun");
    assert_eq!(p.propagation_default().as_secs(), 30);
}

/// The README's table of SWAG's 45 plugins says `supported` for exactly the
/// plugins moat has (exec is moat's own and not in SWAG's list).
#[test]
fn the_readme_table_matches_the_supported_plugins() {
    let text = include_str!("../src/dns/README-providers.md");
    let table = text
        .split("| SWAG plugin | moat |")
        .nth(1)
        .expect("the table");
    let rows: Vec<(&str, &str)> = table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`'), cells[2])
        })
        .collect();
    assert_eq!(rows.len(), 45, "SWAG ships 45 plugins");
    let mut supported: Vec<&str> = rows
        .iter()
        .filter(|(_, s)| *s == "supported")
        .map(|(n, _)| *n)
        .collect();
    let mut names: Vec<&str> = PROVIDER_NAMES
        .iter()
        .copied()
        .filter(|n| *n != "exec")
        .collect();
    supported.sort();
    names.sort();
    assert_eq!(supported, names);
}
