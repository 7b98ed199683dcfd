//! TSIG (RFC 8945) signing of DNS messages for every algorithm SWAG's
//! rfc2136.ini allows. hickory's `TSigner` covers only HMAC-SHA256/384/512, so
//! the MAC is computed here over hickory's own to-be-signed encoding
//! (`message_tbs`); the vector in `reference/rfc2136-tsig.md` pins the bytes.

use hickory_proto::op::Message;
use hickory_proto::rr::rdata::tsig::{
    make_tsig_record, message_tbs, signed_bitmessage_to_buf, TsigAlgorithm, TSIG,
};
use hickory_proto::rr::Name;
use hmac::{Hmac, Mac};

/// The HMAC algorithms `dns_rfc2136_algorithm` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsigHmac {
    /// HMAC-MD5 (SWAG's default).
    Md5,
    /// HMAC-SHA1.
    Sha1,
    /// HMAC-SHA224.
    Sha224,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA384.
    Sha384,
    /// HMAC-SHA512.
    Sha512,
}

impl TsigHmac {
    /// Parses `HMAC-SHA256`, `hmac-sha256.`, `HMAC-MD5.SIG-ALG.REG.INT`, ...
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().trim_end_matches('.').to_ascii_uppercase();
        let s = s.strip_suffix(".SIG-ALG.REG.INT").unwrap_or(&s);
        Some(match s {
            "HMAC-MD5" => TsigHmac::Md5,
            "HMAC-SHA1" => TsigHmac::Sha1,
            "HMAC-SHA224" => TsigHmac::Sha224,
            "HMAC-SHA256" => TsigHmac::Sha256,
            "HMAC-SHA384" => TsigHmac::Sha384,
            "HMAC-SHA512" => TsigHmac::Sha512,
            _ => return None,
        })
    }

    fn wire(self) -> TsigAlgorithm {
        match self {
            TsigHmac::Md5 => TsigAlgorithm::HmacMd5,
            TsigHmac::Sha1 => TsigAlgorithm::HmacSha1,
            TsigHmac::Sha224 => TsigAlgorithm::HmacSha224,
            TsigHmac::Sha256 => TsigAlgorithm::HmacSha256,
            TsigHmac::Sha384 => TsigAlgorithm::HmacSha384,
            TsigHmac::Sha512 => TsigAlgorithm::HmacSha512,
        }
    }

    /// HMAC of `data` under `key`.
    pub fn mac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
            let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key)
                .expect("HMAC accepts keys of any length");
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        match self {
            TsigHmac::Md5 => run::<Hmac<md5::Md5>>(key, data),
            TsigHmac::Sha1 => run::<Hmac<sha1::Sha1>>(key, data),
            TsigHmac::Sha224 => run::<Hmac<sha2::Sha224>>(key, data),
            TsigHmac::Sha256 => run::<Hmac<sha2::Sha256>>(key, data),
            TsigHmac::Sha384 => run::<Hmac<sha2::Sha384>>(key, data),
            TsigHmac::Sha512 => run::<Hmac<sha2::Sha512>>(key, data),
        }
    }
}

/// Fudge (allowed clock difference) of our signatures, in seconds.
pub const FUDGE: u16 = 300;

/// Signs `message` in place with key `key_name`/`secret` at `time` (Unix
/// seconds) and returns the MAC (the request MAC a signed answer covers).
pub fn sign(
    message: &mut Message,
    key_name: &Name,
    alg: TsigHmac,
    secret: &[u8],
    time: u64,
) -> Result<Vec<u8>, String> {
    let pre = TSIG::new(
        alg.wire(),
        time,
        FUDGE,
        Vec::new(),
        message.metadata.id,
        None,
        Vec::new(),
    );
    let tbs = message_tbs(&*message, &pre, key_name).map_err(|e| e.to_string())?;
    let mac = alg.mac(secret, &tbs);
    message.set_signature(Box::new(make_tsig_record(
        key_name.clone(),
        pre.set_mac(mac.clone()),
    )));
    Ok(mac)
}

/// Checks the TSIG of an answer (`raw`) to a request whose MAC was
/// `request_mac`: signed by `key_name` with `alg`, MAC correct, time within
/// the fudge of `now`.
pub fn verify_answer(
    raw: &[u8],
    request_mac: &[u8],
    key_name: &Name,
    alg: TsigHmac,
    secret: &[u8],
    now: u64,
) -> Result<(), String> {
    let (tbv, record) = signed_bitmessage_to_buf(raw, Some(request_mac), true)
        .map_err(|e| format!("the answer is not TSIG-signed ({e})"))?;
    let tsig = &record.data;
    let alg_name = |a: &TsigAlgorithm| {
        a.to_name()
            .to_ascii()
            .trim_end_matches('.')
            .to_ascii_lowercase()
    };
    if (!record.name.eq_case(key_name) && record.name != *key_name)
        || alg_name(&tsig.algorithm) != alg_name(&alg.wire())
    {
        return Err("the answer is signed with another key".to_owned());
    }
    let expected = alg.mac(secret, &tbv);
    let same = expected.len() == tsig.mac.len()
        && expected
            .iter()
            .zip(tsig.mac.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err("the answer's TSIG MAC is wrong".to_owned());
    }
    if tsig.time.abs_diff(now) > u64::from(tsig.fudge) {
        return Err("the answer's TSIG time is outside its fudge".to_owned());
    }
    Ok(())
}

#[cfg(test)]
#[path = "tsig_tests.rs"]
mod tests;
