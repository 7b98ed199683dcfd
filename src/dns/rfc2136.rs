//! RFC 2136 dynamic update signed with TSIG, to the primary server named in
//! `rfc2136.ini`. Adds a TXT value with class IN; removes exactly that value
//! with class NONE (never the RRset: apex and wildcard share the name). The
//! zone is the longest suffix for which the server answers SOA with AA.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::Engine as _;
use hickory_proto::op::{update_message, Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordSet, RecordType};

use super::ini::IniFile;
use super::transport::exchange_raw;
use super::tsig::{sign, verify_answer, TsigHmac};
use super::{DnsError, DnsProvider, RecordHandle, Secret};

const NAME: &str = "rfc2136";
/// The primary server's IP address.
pub const KEY_SERVER: &str = "dns_rfc2136_server";
/// Its port; default 53.
pub const KEY_PORT: &str = "dns_rfc2136_port";
/// The TSIG key name.
pub const KEY_NAME: &str = "dns_rfc2136_name";
/// The TSIG secret, base64.
pub const KEY_SECRET: &str = "dns_rfc2136_secret";
/// HMAC-MD5 (default), HMAC-SHA1/224/256/384/512.
pub const KEY_ALGORITHM: &str = "dns_rfc2136_algorithm";
/// TTL of challenge records (certbot-dns-rfc2136's).
pub const RECORD_TTL: u32 = 120;
const PLACEHOLDER_SECRET: &str =
    "4q4wM/2I180UXoMyN4INVhJNi8V9BCV+jMw2mXgZw/CSuxUT8C7NKKFs AmKd7ak51vWKgSl12ib86oQRPkpDjg==";

/// Settings from `rfc2136.ini`.
#[derive(Debug, Clone)]
pub struct Rfc2136Config {
    /// The primary server.
    pub server: SocketAddr,
    /// TSIG key name (absolute).
    pub key_name: Name,
    /// TSIG secret (decoded bytes, base64 in the file).
    pub secret: Secret,
    /// The HMAC algorithm; default HMAC-MD5.
    pub algorithm: TsigHmac,
    /// Time allowed for one exchange; default 10 s.
    pub timeout: Duration,
}

impl Rfc2136Config {
    /// Reads and validates the keys.
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let (server, line) = ini.required(KEY_SERVER, "the primary server's IP address")?;
        let ip: IpAddr = server.parse().map_err(|_| {
            ini.error(
                Some(line),
                format!("{KEY_SERVER} must be an IP address, not a host name"),
            )
        })?;
        let port = match ini.optional(KEY_PORT) {
            None => 53,
            Some((p, line)) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                ini.error(
                    Some(line),
                    format!("{KEY_PORT} must be a port number (1-65535)"),
                )
            })?,
        };
        let (name, line) = ini.required(KEY_NAME, "the TSIG key name")?;
        let key_name = Name::from_ascii(name)
            .map(|mut n| {
                n.set_fqdn(true);
                n
            })
            .map_err(|_| ini.error(Some(line), format!("{KEY_NAME} is not a valid DNS name")))?;
        let (secret, line) =
            ini.required_secret(KEY_SECRET, "the base64 TSIG secret", PLACEHOLDER_SECRET)?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(secret.expose().replace(' ', ""))
            .map_err(|_| ini.error(Some(line), format!("{KEY_SECRET} is not valid base64")))?;
        let algorithm = match ini.optional(KEY_ALGORITHM) {
            None => TsigHmac::Md5,
            Some((a, line)) => TsigHmac::parse(a).ok_or_else(|| {
                ini.error(
                    Some(line),
                    format!("{KEY_ALGORITHM} must be one of HMAC-MD5, HMAC-SHA1, HMAC-SHA224, HMAC-SHA256, HMAC-SHA384, HMAC-SHA512"),
                )
            })?,
        };
        Ok(Rfc2136Config {
            server: SocketAddr::new(ip, port),
            key_name,
            secret: Secret::new(base64::engine::general_purpose::STANDARD.encode(decoded)),
            algorithm,
            timeout: Duration::from_secs(10),
        })
    }
}

/// The RFC 2136 provider.
#[derive(Debug)]
pub struct Rfc2136Provider {
    config: Rfc2136Config,
    key: Vec<u8>,
}

impl Rfc2136Provider {
    /// A provider for `config`.
    pub fn new(config: Rfc2136Config) -> Result<Self, DnsError> {
        let key = base64::engine::general_purpose::STANDARD
            .decode(config.secret.expose())
            .map_err(|_| DnsError::api(NAME, "the TSIG secret is not valid base64"))?;
        Ok(Rfc2136Provider { config, key })
    }

    /// Builds the provider from `rfc2136.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(Rfc2136Config::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for Rfc2136Provider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn preflight(&self, domains: &[String]) -> Result<String, DnsError> {
        let mut zones = Vec::new();
        for d in domains {
            let zone = self.find_zone(&parse_name(d)?).await?;
            // A signed query proves the key: a wrong key answers NOTAUTH.
            let mut q = query(&zone, RecordType::SOA);
            let mac = self.sign(&mut q)?;
            self.send(&q, &mac, "signed SOA query").await?;
            zones.push(format!(
                "{d} in zone {}",
                zone.to_ascii().trim_end_matches('.')
            ));
        }
        Ok(format!(
            "rfc2136: {} accepts key {}; {}",
            self.config.server,
            self.config.key_name,
            if zones.is_empty() {
                "no domains to check".to_owned()
            } else {
                zones.join(", ")
            }
        ))
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let name = parse_name(fqdn)?;
        let zone = self.find_zone(&name).await?;
        let mut msg = update_message::append(txt_rrset(&name, value), zone.clone(), false, false);
        let mac = self.sign(&mut msg)?;
        self.send(&msg, &mac, "update (add)").await?;
        tracing::info!(%fqdn, %zone, server = %self.config.server, "rfc2136: TXT value added");
        Ok(RecordHandle {
            fqdn: fqdn.trim_end_matches('.').to_ascii_lowercase(),
            value: value.to_owned(),
            id: None,
            zone: Some(zone.to_ascii()),
        })
    }

    async fn cleanup(&self, handle: &RecordHandle) -> Result<(), DnsError> {
        let name = parse_name(&handle.fqdn)?;
        let zone = match &handle.zone {
            Some(z) => parse_name(z)?,
            None => self.find_zone(&name).await?,
        };
        let mut msg = update_message::delete_by_rdata(txt_rrset(&name, &handle.value), zone, false);
        let mac = self.sign(&mut msg)?;
        self.send(&msg, &mac, "update (delete)").await?;
        tracing::info!(fqdn = %handle.fqdn, "rfc2136: TXT value removed");
        Ok(())
    }

    fn propagation_default(&self) -> Duration {
        Duration::from_secs(60)
    }
}

impl Rfc2136Provider {
    /// The longest suffix of `name` for which the server answers SOA with AA.
    async fn find_zone(&self, name: &Name) -> Result<Name, DnsError> {
        let mut candidate = name.clone();
        while candidate.num_labels() >= 1 {
            let q = query(&candidate, RecordType::SOA);
            let (answer, _) = self.exchange(&q).await?;
            let has_soa = answer
                .answers
                .iter()
                .any(|r| r.record_type() == RecordType::SOA && r.name == candidate);
            if answer.metadata.authoritative && has_soa {
                return Ok(candidate);
            }
            candidate = candidate.base_name();
        }
        Err(DnsError::api(
            NAME,
            format!(
                "{} is not authoritative for any zone holding {name}: check {KEY_SERVER}",
                self.config.server
            ),
        ))
    }

    /// Signs `msg` with a fresh id; returns the request MAC.
    fn sign(&self, msg: &mut Message) -> Result<Vec<u8>, DnsError> {
        msg.metadata.id = rand::random();
        sign(
            msg,
            &self.config.key_name,
            self.config.algorithm,
            &self.key,
            unix_now(),
        )
        .map_err(|e| DnsError::api(NAME, format!("cannot sign: {e}")))
    }

    async fn exchange(&self, msg: &Message) -> Result<(Message, Vec<u8>), DnsError> {
        let bytes = msg
            .to_vec()
            .map_err(|e| DnsError::api(NAME, format!("cannot encode a message: {e}")))?;
        exchange_raw(
            self.config.server,
            &bytes,
            msg.metadata.id,
            self.config.timeout,
            false,
        )
        .await
        .map_err(|e| DnsError::transient(NAME, e))
    }

    /// Sends a message signed with MAC `request_mac`, checks the answer's
    /// TSIG when it reports success, and maps its RCODE to an error.
    async fn send(
        &self,
        msg: &Message,
        request_mac: &[u8],
        what: &str,
    ) -> Result<Message, DnsError> {
        let (answer, raw) = self.exchange(msg).await?;
        let rcode = answer.metadata.response_code;
        if rcode == ResponseCode::NoError {
            verify_answer(
                &raw,
                request_mac,
                &self.config.key_name,
                self.config.algorithm,
                &self.key,
                unix_now(),
            )
            .map_err(|e| {
                DnsError::api(
                    NAME,
                    format!(
                        "{}: {e}; not trusting its answer to the {what}",
                        self.config.server
                    ),
                )
            })?;
            return Ok(answer);
        }
        let tsig_error = answer
            .signature()
            .and_then(|s| s.data.error.as_ref().map(|e| format!(" (TSIG {e:?})")))
            .unwrap_or_default();
        let server = self.config.server;
        let (message, retryable) = match rcode {
            ResponseCode::NotAuth => (
                format!(
                    "{server} rejected the {what} with NOTAUTH{tsig_error}: the TSIG key is not accepted; \
                     check {KEY_NAME}, {KEY_SECRET} and {KEY_ALGORITHM} against the server's key"
                ),
                false,
            ),
            ResponseCode::Refused => (
                format!(
                    "{server} refused the {what}: its update-policy does not let key {} change these TXT records",
                    self.config.key_name
                ),
                false,
            ),
            ResponseCode::NotZone => (format!("{server}: the name is outside the zone ({what})"), false),
            ResponseCode::ServFail => (format!("{server} failed the {what} (SERVFAIL)"), true),
            other => (format!("{server} answered the {what} with {other}{tsig_error}"), false),
        };
        Err(DnsError::Api {
            provider: NAME,
            message,
            retryable,
        })
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn parse_name(s: &str) -> Result<Name, DnsError> {
    let mut n = Name::from_ascii(s.trim_end_matches('.'))
        .map_err(|_| DnsError::api(NAME, format!("{s} is not a valid DNS name")))?;
    n.set_fqdn(true);
    Ok(n)
}

fn txt_rrset(name: &Name, value: &str) -> RecordSet {
    let mut r = Record::from_rdata(
        name.clone(),
        RECORD_TTL,
        RData::TXT(TXT::new(vec![value.to_owned()])),
    );
    r.dns_class = DNSClass::IN;
    RecordSet::from(r)
}

/// A non-recursive query for `name`/`rtype`.
fn query(name: &Name, rtype: RecordType) -> Message {
    let mut m = Message::query();
    m.metadata.id = rand::random();
    m.metadata.op_code = OpCode::Query;
    m.metadata.recursion_desired = false;
    m.add_query(Query::query(name.clone(), rtype));
    m
}
