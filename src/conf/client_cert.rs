//! Client certificates: `ssl_verify_client`, `ssl_client_certificate`,
//! `ssl_trusted_certificate`, `ssl_verify_depth` of one server.
//!
//! nginx asks for the certificate during the handshake but accepts any
//! chain there; the verdict is taken when a request arrives, by the server
//! that request is routed to: no certificate with `on` is a 400 ("No
//! required SSL certificate was sent"), a chain that does not verify is a
//! 400 ("The SSL certificate error"; with `optional_no_ca` only errors of a
//! missing issuer are tolerated), and the outcome is `$ssl_client_verify`.
//! moat does the same: the listener requests a certificate where a server
//! wants one, and this module verifies the chain per request, with
//! webpki against the server's own CA files.

use std::path::{Path, PathBuf};

use std::sync::Mutex;

use rustls::DistinguishedName;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};

/// `ssl_verify_client`'s value (other than `off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VerifyMode {
    /// `on`: a verified certificate is required.
    On,
    /// `optional`: no certificate is fine; a certificate must verify.
    Optional,
    /// `optional_no_ca`: a certificate whose issuer is unknown is fine too.
    OptionalNoCa,
}

impl VerifyMode {
    /// The directive's argument (`None` for `off`), or an error in nginx's words.
    pub(crate) fn parse(v: &str) -> Result<Option<VerifyMode>, String> {
        Ok(Some(match v {
            "on" => VerifyMode::On,
            "optional" => VerifyMode::Optional,
            "optional_no_ca" => VerifyMode::OptionalNoCa,
            "off" => return Ok(None),
            o => {
                return Err(format!(
                    "invalid value \"{o}\" in \"ssl_verify_client\" directive, it must be \"on\", \"off\", \"optional\" or \"optional_no_ca\""
                ))
            }
        }))
    }
}

/// One server's client-certificate policy, CA certificates loaded.
pub(crate) struct ClientVerify {
    pub mode: VerifyMode,
    /// The certificates of `ssl_client_certificate` and
    /// `ssl_trusted_certificate`, as trust anchors.
    anchors: Vec<TrustAnchor<'static>>,
    /// `ssl_verify_depth` (nginx default 1: one intermediate CA at most,
    /// as OpenSSL counts).
    depth: u32,
    /// The subjects of `ssl_client_certificate` (not of
    /// `ssl_trusted_certificate`, as nginx), sent in the handshake's
    /// certificate request so that a client picks a certificate those CAs
    /// issued.
    pub ca_names: &'static [DistinguishedName],
}

impl std::fmt::Debug for ClientVerify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientVerify")
            .field("mode", &self.mode)
            .field("anchors", &self.anchors.len())
            .field("depth", &self.depth)
            .finish()
    }
}

/// What the certificate a client sent amounts to (`$ssl_client_verify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// No certificate.
    None,
    /// A chain to one of the server's CAs.
    Success,
    /// A chain that does not verify, with OpenSSL's words for why.
    Failed(&'static str),
}

impl Verdict {
    /// `$ssl_client_verify`.
    pub(crate) fn text(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Verdict::None => "NONE".into(),
            Verdict::Success => "SUCCESS".into(),
            Verdict::Failed(why) => format!("FAILED:{why}").into(),
        }
    }
}

/// The CA certificate settings at one level, before they are read.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientVerifyConf {
    pub mode: Option<VerifyMode>,
    pub client_certificate: Option<PathBuf>,
    pub trusted_certificate: Option<PathBuf>,
    pub depth: Option<u32>,
}

/// OpenSSL's reason strings (X509_verify_cert_error_string), which nginx
/// puts in `$ssl_client_verify`.
const UNKNOWN_ISSUER: &str = "unable to get local issuer certificate";
const UNKNOWN_LEAF_ISSUER: &str = "unable to verify the first certificate";
const SELF_SIGNED: &str = "self-signed certificate";
const SELF_SIGNED_IN_CHAIN: &str = "self-signed certificate in certificate chain";

/// `names` as a list that lives as long as moat: the TLS verifier hands
/// rustls a borrowed list while route tables come and go. Each distinct
/// list is kept once (a few hundred bytes per set of CAs a conf ever
/// named), so reloads do not grow memory.
fn intern(names: Vec<DistinguishedName>) -> &'static [DistinguishedName] {
    static KEPT: Mutex<Vec<&'static [DistinguishedName]>> = Mutex::new(Vec::new());
    if names.is_empty() {
        return &[];
    }
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let same = |k: &&'static [DistinguishedName]| {
        k.len() == names.len() && k.iter().zip(&names).all(|(a, b)| a.as_ref() == b.as_ref())
    };
    if let Some(k) = kept.iter().find(|k| same(k)) {
        return k;
    }
    let leaked: &'static [DistinguishedName] = Box::leak(names.into_boxed_slice());
    kept.push(leaked);
    leaked
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate list: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", path.display()));
    }
    Ok(certs)
}

impl ClientVerify {
    /// The policy of a server whose settings are `conf`, reading its CA
    /// files; `None` when `ssl_verify_client` is off.
    pub(crate) fn load(conf: &ClientVerifyConf) -> Result<Option<ClientVerify>, String> {
        let Some(mode) = conf.mode else {
            return Ok(None);
        };
        let files: Vec<&PathBuf> = [&conf.client_certificate, &conf.trusted_certificate]
            .into_iter()
            .flatten()
            .collect();
        // Debian's nginx (1.26) wants ssl_client_certificate itself;
        // ssl_trusted_certificate only adds anchors beside it.
        if conf.client_certificate.is_none() && mode != VerifyMode::OptionalNoCa {
            return Err("no ssl_client_certificate for ssl_verify_client".to_string());
        }
        let mut anchors = Vec::new();
        let mut names = Vec::new();
        for path in files {
            let named = Some(path) == conf.client_certificate.as_ref();
            for cert in read_pem(path)? {
                let anchor = webpki::anchor_from_trusted_cert(&cert)
                    .map_err(|e| format!("{}: unusable CA certificate: {e}", path.display()))?
                    .to_owned();
                if named {
                    names.push(DistinguishedName::in_sequence(&anchor.subject));
                }
                anchors.push(anchor);
            }
        }
        Ok(Some(ClientVerify {
            mode,
            anchors,
            depth: conf.depth.unwrap_or(1),
            ca_names: intern(names),
        }))
    }

    /// Verifies the chain a client sent (leaf first), now.
    pub(crate) fn verify(&self, chain: Option<&[CertificateDer<'static>]>) -> Verdict {
        let Some((leaf, intermediates)) = chain.and_then(|c| c.split_first()) else {
            return Verdict::None;
        };
        let Ok(end_entity) = webpki::EndEntityCert::try_from(leaf) else {
            return Verdict::Failed("unable to decode issuer public key");
        };
        let algs = rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .all;
        // ssl_verify_depth N: OpenSSL's count, at most N intermediate CAs
        // between the client's certificate and the trust anchor.
        let depth = self.depth as usize;
        let too_long = |path: &webpki::VerifiedPath<'_>| {
            if path.intermediate_certificates().count() > depth {
                Err(webpki::Error::MaximumPathDepthExceeded)
            } else {
                Ok(())
            }
        };
        match end_entity.verify_for_usage(
            algs,
            &self.anchors,
            intermediates,
            UnixTime::now(),
            webpki::KeyUsage::client_auth(),
            None,
            Some(&too_long),
        ) {
            Ok(_) => Verdict::Success,
            Err(e) => Verdict::Failed(reason(&e, leaf, intermediates)),
        }
    }

    /// Whether `verdict` lets the request through; `Err` is nginx's 400
    /// page text.
    pub(crate) fn admits(&self, verdict: &Verdict) -> Result<(), &'static str> {
        match verdict {
            Verdict::None if self.mode == VerifyMode::On => {
                Err("No required SSL certificate was sent")
            }
            Verdict::None | Verdict::Success => Ok(()),
            Verdict::Failed(why)
                if self.mode == VerifyMode::OptionalNoCa
                    && [
                        UNKNOWN_ISSUER,
                        UNKNOWN_LEAF_ISSUER,
                        SELF_SIGNED,
                        SELF_SIGNED_IN_CHAIN,
                    ]
                    .contains(why) =>
            {
                Ok(())
            }
            Verdict::Failed(_) => Err("The SSL certificate error"),
        }
    }
}

fn self_signed(der: &[u8]) -> bool {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, c)| c.subject().as_raw() == c.issuer().as_raw())
        .unwrap_or(false)
}

fn reason(
    e: &webpki::Error,
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> &'static str {
    use webpki::Error as E;
    match e {
        E::UnknownIssuer => {
            if intermediates.is_empty() && self_signed(leaf) {
                SELF_SIGNED
            } else if intermediates.last().is_some_and(|c| self_signed(c)) {
                SELF_SIGNED_IN_CHAIN
            } else if intermediates.is_empty() {
                UNKNOWN_LEAF_ISSUER
            } else {
                UNKNOWN_ISSUER
            }
        }
        E::CertExpired { .. } => "certificate has expired",
        E::CertNotValidYet { .. } => "certificate is not yet valid",
        E::MaximumPathDepthExceeded => "certificate chain too long",
        E::RequiredEkuNotFoundContext(_) => "unsupported certificate purpose",
        E::InvalidSignatureForPublicKey
        | E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => "certificate signature failure",
        E::CaUsedAsEndEntity => "invalid CA certificate",
        _ => "certificate verify failed",
    }
}

/// `$ssl_client_s_dn` / `$ssl_client_i_dn`: the name in RFC 2253 form, as
/// nginx prints it (`CN=client,O=Example`: last RDN first, `,` between).
pub(crate) fn dn_text(leaf: &CertificateDer<'_>, issuer: bool) -> String {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf.as_ref()) else {
        return String::new();
    };
    let name = if issuer {
        cert.issuer()
    } else {
        cert.subject()
    };
    let registry = x509_parser::objects::oid_registry();
    let mut rdns: Vec<String> = Vec::new();
    for rdn in name.iter() {
        let parts: Vec<String> = rdn
            .iter()
            .map(|atv| {
                let oid = atv.attr_type();
                let key = match oid.to_id_string().as_str() {
                    "2.5.4.3" => "CN".to_string(),
                    "2.5.4.6" => "C".to_string(),
                    "2.5.4.7" => "L".to_string(),
                    "2.5.4.8" => "ST".to_string(),
                    "2.5.4.10" => "O".to_string(),
                    "2.5.4.11" => "OU".to_string(),
                    "2.5.4.9" => "street".to_string(),
                    "0.9.2342.19200300.100.1.25" => "DC".to_string(),
                    "0.9.2342.19200300.100.1.1" => "UID".to_string(),
                    "1.2.840.113549.1.9.1" => "emailAddress".to_string(),
                    id => registry
                        .get(oid)
                        .map(|e| e.sn().to_string())
                        .unwrap_or_else(|| id.to_string()),
                };
                let value = atv
                    .as_str()
                    .map(escape_rfc2253)
                    .unwrap_or_else(|_| format!("#{}", hex::encode(atv.attr_value().data)));
                format!("{key}={value}")
            })
            .collect();
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    rdns.join(",")
}

fn escape_rfc2253(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, ch) in v.chars().enumerate() {
        let special = matches!(ch, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (ch == '#' || ch == ' '))
            || (i == last && ch == ' ');
        if special {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_as_nginx_spells_them() {
        assert_eq!(VerifyMode::parse("on"), Ok(Some(VerifyMode::On)));
        assert_eq!(VerifyMode::parse("off"), Ok(None));
        assert!(VerifyMode::parse("yes")
            .unwrap_err()
            .contains("optional_no_ca"));
    }

    #[test]
    fn on_and_optional_need_a_ca_file() {
        let conf = ClientVerifyConf {
            mode: Some(VerifyMode::On),
            ..Default::default()
        };
        assert_eq!(
            ClientVerify::load(&conf).unwrap_err(),
            "no ssl_client_certificate for ssl_verify_client"
        );
        let no_ca = ClientVerifyConf {
            mode: Some(VerifyMode::OptionalNoCa),
            ..Default::default()
        };
        let v = ClientVerify::load(&no_ca).unwrap().unwrap();
        assert_eq!(v.verify(None), Verdict::None);
        assert_eq!(v.admits(&Verdict::None), Ok(()));
    }

    #[test]
    fn rdns_are_printed_last_first_and_escaped() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CountryName, "DE");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Acme, Inc");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "alice");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(dn_text(cert.der(), false), "CN=alice,O=Acme\\, Inc,C=DE");
        let ca = ClientVerify {
            mode: VerifyMode::On,
            anchors: Vec::new(),
            ca_names: &[],
            depth: 1,
        };
        let chain = [cert.der().clone()];
        assert_eq!(ca.verify(Some(&chain)), Verdict::Failed(SELF_SIGNED));
    }
}
