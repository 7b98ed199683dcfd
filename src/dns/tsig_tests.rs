//! The vector from `reference/rfc2136-tsig.md`.

use hickory_proto::op::{update_message, UpdateMessage};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordSet};

use hickory_proto::op::Message;
use hickory_proto::rr::rdata::tsig::{make_tsig_record, TsigAlgorithm, TSIG};

use super::*;

const VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const ADD_UNSIGNED: &str = "123428000001000000010000076578616d706c6503636f6d00000600010f5f61636d652d6368616c6c656e6765c00c0010000100000078002c2b4c6f71586359563871354f4e624a5178626d52375343544e6f337469415844666f77796a78416a45755830";

fn rrset() -> RecordSet {
    let name = Name::from_ascii("_acme-challenge.example.com.").unwrap();
    let mut r = Record::from_rdata(name, 120, RData::TXT(TXT::new(vec![VALUE.to_owned()])));
    r.dns_class = DNSClass::IN;
    RecordSet::from(r)
}

fn zone() -> Name {
    Name::from_ascii("example.com.").unwrap()
}

fn key() -> (Name, Vec<u8>) {
    (Name::from_ascii("acme-key.").unwrap(), (0u8..32).collect())
}

#[test]
fn add_message_bytes_match_the_vector() {
    let mut m = update_message::append(rrset(), zone(), false, false);
    m.metadata.id = 0x1234;
    assert_eq!(hex::encode(m.to_vec().unwrap()), ADD_UNSIGNED);
}

#[test]
fn add_mac_matches_the_vector() {
    let mut m = update_message::append(rrset(), zone(), false, false);
    m.metadata.id = 0x1234;
    let (name, secret) = key();
    let mac = sign(&mut m, &name, TsigHmac::Sha256, &secret, 1_700_000_000).unwrap();
    assert_eq!(
        hex::encode(mac),
        "a01fc2973fe7a41776e26aa3227969ad4743c1e7e931c57b1747f2ab4ad76732"
    );
    // The signed message starts with the unsigned one (ARCOUNT aside).
    let signed = hex::encode(m.to_vec().unwrap());
    assert_eq!(&signed[24..ADD_UNSIGNED.len()], &ADD_UNSIGNED[24..]);
}

#[test]
fn delete_one_value_mac_matches_the_vector() {
    let mut m = update_message::delete_by_rdata(rrset(), zone(), false);
    m.metadata.id = 0x1234;
    let (name, secret) = key();
    let mac = sign(&mut m, &name, TsigHmac::Sha256, &secret, 1_700_000_000).unwrap();
    assert_eq!(
        hex::encode(mac),
        "cb936e00e549a14ac53dd98f5e298642d3807359a517649e44abd5337a29d082"
    );
    assert_eq!(m.updates()[0].dns_class, DNSClass::NONE);
    assert_eq!(m.updates()[0].ttl, 0);
}

#[test]
fn algorithm_names_parse_like_certbot() {
    assert_eq!(TsigHmac::parse("HMAC-MD5"), Some(TsigHmac::Md5));
    assert_eq!(TsigHmac::parse("hmac-sha512."), Some(TsigHmac::Sha512));
    assert_eq!(
        TsigHmac::parse("HMAC-MD5.SIG-ALG.REG.INT"),
        Some(TsigHmac::Md5)
    );
    assert_eq!(TsigHmac::parse("HMAC-SHA224"), Some(TsigHmac::Sha224));
    assert_eq!(TsigHmac::parse("sha256"), None);
}

/// A signed answer to the vector's request, built with hickory's own
/// response encoder, so our verifier is checked against an independent one.
fn signed_answer(request_mac: &[u8], time: u64) -> Vec<u8> {
    use hickory_proto::op::{Message, MessageType, OpCode};
    use hickory_proto::rr::TSigner;
    let (name, secret) = key();
    let signer = TSigner::new(secret, TsigAlgorithm::HmacSha256, name.clone(), FUDGE).unwrap();
    let mut answer = Message::new(0x1234, MessageType::Response, OpCode::Update);
    answer.metadata.authoritative = true;
    let unsigned = answer.to_vec().unwrap();
    let stub = TSIG::new(
        TsigAlgorithm::HmacSha256,
        time,
        FUDGE,
        Vec::new(),
        0x1234,
        None,
        Vec::new(),
    );
    let tbs = signer
        .encode_response_tbs(request_mac, &unsigned, &stub)
        .unwrap();
    let mac = signer.sign(&tbs).unwrap();
    answer.set_signature(Box::new(make_tsig_record(name, stub.set_mac(mac))));
    answer.to_vec().unwrap()
}

#[test]
fn signed_answers_verify_and_tampered_ones_do_not() {
    let mut m = update_message::append(rrset(), zone(), false, false);
    m.metadata.id = 0x1234;
    let (name, secret) = key();
    let now = 1_700_000_000;
    let mac = sign(&mut m, &name, TsigHmac::Sha256, &secret, now).unwrap();
    let raw = signed_answer(&mac, now);
    verify_answer(&raw, &mac, &name, TsigHmac::Sha256, &secret, now + 10).unwrap();

    let mut tampered = raw.clone();
    tampered[3] ^= 0x05; // flip RCODE bits in the header
    assert!(
        verify_answer(&tampered, &mac, &name, TsigHmac::Sha256, &secret, now)
            .unwrap_err()
            .contains("MAC is wrong")
    );
    let other_request = vec![0u8; 32];
    assert!(verify_answer(&raw, &other_request, &name, TsigHmac::Sha256, &secret, now).is_err());
    assert!(
        verify_answer(&raw, &mac, &name, TsigHmac::Sha256, &secret, now + 1000)
            .unwrap_err()
            .contains("outside its fudge")
    );
    let unsigned = Message::query().to_vec().unwrap();
    assert!(
        verify_answer(&unsigned, &mac, &name, TsigHmac::Sha256, &secret, now)
            .unwrap_err()
            .contains("not TSIG-signed")
    );
}
