//! Builds SWAG/certbot `/config` trees with certificates made here, so tests
//! can start from an existing volume. Include by `#[path]`.
#![allow(dead_code)]

use std::path::Path;

/// A certificate and key for `names`, valid from `not_before` to
/// `not_after` (seconds since the epoch), signed by a throwaway CA.
/// Returns (fullchain PEM, key PEM, CA PEM).
pub fn make_cert(names: &[&str], not_before: i64, not_after: i64) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "old test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    params.not_before = time::OffsetDateTime::from_unix_timestamp(not_before).unwrap();
    params.not_after = time::OffsetDateTime::from_unix_timestamp(not_after).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let fullchain = format!("{}{}", cert.pem(), ca.pem());
    (fullchain, key.serialize_pem(), ca.pem())
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Write a certbot lineage: `archive/<l>/*1.pem` with `live/<l>/*.pem`
/// relative links (`links = true`) or plain files in `live/` (`false`).
pub fn write_lineage(config: &Path, lineage: &str, fullchain: &str, key: &str, links: bool) {
    let le = config.join("etc/letsencrypt");
    let live = le.join("live").join(lineage);
    let archive = le.join("archive").join(lineage);
    std::fs::create_dir_all(&live).unwrap();
    std::fs::create_dir_all(&archive).unwrap();
    let certs: Vec<&str> = fullchain
        .split_inclusive("-----END CERTIFICATE-----\n")
        .collect();
    let leaf = certs[0].to_owned();
    let chain: String = certs[1..].concat();
    for (kind, content) in [
        ("cert", leaf.as_str()),
        ("chain", chain.as_str()),
        ("fullchain", fullchain),
        ("privkey", key),
    ] {
        if links {
            std::fs::write(archive.join(format!("{kind}1.pem")), content).unwrap();
            std::os::unix::fs::symlink(
                format!("../../archive/{lineage}/{kind}1.pem"),
                live.join(format!("{kind}.pem")),
            )
            .unwrap();
        } else {
            std::fs::write(live.join(format!("{kind}.pem")), content).unwrap();
        }
    }
}
