//! A tiny authoritative-and-recursive DNS server over UDP on loopback, from a
//! fixed table of records: a query is answered with the records of its name
//! and type; a name holding a CNAME answers with the CNAME, and when the
//! query asks for recursion, with the chain followed through the table (as
//! a resolver would); optionally it refuses NS queries. Enough to test that
//! the propagation check follows a challenge CNAME (acme-dns) across zones
//! and falls back to waiting when no authoritative server can be found.
//! Keeps every query.
//!
//! Include with `#[path = "support/fake_cname_dns.rs"] mod fake_cname_dns;`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, NS, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// A running server.
pub struct FakeCnameDns {
    /// Its UDP address.
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<(String, RecordType, bool)>>>,
}

/// A record for the table: `ns("example.test", "ns.example.test")`, ...
pub fn ns(name: &str, host: &str) -> Record {
    Record::from_rdata(n(name), 60, RData::NS(NS(n(host))))
}

/// An A record.
pub fn a(name: &str, ip: std::net::Ipv4Addr) -> Record {
    Record::from_rdata(n(name), 60, RData::A(A(ip)))
}

/// A CNAME record.
pub fn cname(name: &str, target: &str) -> Record {
    Record::from_rdata(n(name), 60, RData::CNAME(CNAME(n(target))))
}

/// A TXT record.
pub fn txt(name: &str, value: &str) -> Record {
    Record::from_rdata(n(name), 60, RData::TXT(TXT::new(vec![value.to_owned()])))
}

fn n(s: &str) -> Name {
    let mut name = Name::from_str(s).unwrap();
    name.set_fqdn(true);
    name
}

fn answer(records: &[Record], qname: &Name, qtype: RecordType, recursion: bool) -> Vec<Record> {
    let mut out = Vec::new();
    let mut name = qname.clone();
    for _ in 0..8 {
        let here: Vec<Record> = records
            .iter()
            .filter(|r| r.name == name && r.record_type() == qtype)
            .cloned()
            .collect();
        if !here.is_empty() {
            out.extend(here);
            return out;
        }
        let Some(c) = records
            .iter()
            .find(|r| r.name == name && r.record_type() == RecordType::CNAME)
        else {
            return out;
        };
        out.push(c.clone());
        if !recursion {
            return out;
        }
        let RData::CNAME(target) = &c.data else {
            return out;
        };
        name = target.0.clone();
    }
    out
}

impl FakeCnameDns {
    /// Serves `records` on a fresh loopback port.
    pub async fn start(records: Vec<Record>) -> FakeCnameDns {
        Self::start_with(records, false).await
    }

    /// [`FakeCnameDns::start`], answering every NS query with REFUSED when
    /// `refuse_ns` is set (a resolver that will not say who serves a zone).
    pub async fn start_with(records: Vec<Record>, refuse_ns: bool) -> FakeCnameDns {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            loop {
                let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                let Ok(query) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                let mut resp =
                    Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
                resp.metadata.authoritative = true;
                resp.metadata.recursion_desired = query.metadata.recursion_desired;
                resp.metadata.recursion_available = true;
                for q in &query.queries {
                    l.lock().unwrap().push((
                        q.name().to_ascii(),
                        q.query_type(),
                        query.metadata.recursion_desired,
                    ));
                    resp.add_query(q.clone());
                    if refuse_ns && q.query_type() == RecordType::NS {
                        resp.metadata.response_code = ResponseCode::Refused;
                        continue;
                    }
                    resp.add_answers(answer(
                        &records,
                        q.name(),
                        q.query_type(),
                        query.metadata.recursion_desired,
                    ));
                }
                if let Ok(bytes) = resp.to_vec() {
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        });
        FakeCnameDns { addr, log }
    }

    /// Every query: (name, type, recursion desired).
    pub fn queries(&self) -> Vec<(String, RecordType, bool)> {
        self.log.lock().unwrap().clone()
    }
}
