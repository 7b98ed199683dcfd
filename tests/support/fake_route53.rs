//! A fake Route 53 REST API (2013-04-01) on loopback, written from AWS's API
//! reference: `ListHostedZonesByName`, `ListResourceRecordSets`,
//! `ChangeResourceRecordSets` (CREATE / UPSERT / DELETE, DELETE only of the
//! exact set), `GetChange` (PENDING on the first poll, then INSYNC), XML
//! answers and AWS's `ErrorResponse`. Every request's SigV4 `Authorization`
//! is verified with the documented algorithm, computed here independently of
//! moat's signer (unknown key id → `InvalidClientTokenId`, wrong secret →
//! `SignatureDoesNotMatch`). Keeps every request and every change; started
//! with [`FakeRoute53::start_publishing`], it also serves its TXT sets
//! through pebble-challtestsrv, so pebble can validate against them.
//!
//! Include next to `fake_http.rs`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::fake_http::{self, Request, Response};

/// A TXT (or other) record set the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct R53Set {
    /// Hosted zone id (without `/hostedzone/`).
    pub zone: String,
    /// Name with the trailing dot.
    pub name: String,
    /// Type.
    pub kind: String,
    /// TTL.
    pub ttl: u32,
    /// Values as sent (TXT values quoted).
    pub values: Vec<String>,
}

/// One accepted change: action, name, values.
pub type R53Change = (String, String, Vec<String>);

/// What the fake accepts.
#[derive(Debug, Clone)]
pub struct R53Account {
    /// The access key id.
    pub key_id: String,
    /// The secret.
    pub secret: String,
    /// The session token it requires, if any.
    pub session_token: Option<String>,
    /// Hosted zones: (id, name with dot, private).
    pub zones: Vec<(String, String, bool)>,
}

#[derive(Debug, Default)]
struct State {
    sets: Vec<R53Set>,
    changes: Vec<R53Change>,
    polls: std::collections::HashMap<String, u32>,
    /// TXT sets changed since the last publish: (name, unquoted values).
    publish: Vec<(String, Vec<String>)>,
    next: u64,
    log: Vec<(String, String)>,
}

/// A running fake.
pub struct FakeRoute53 {
    /// Base URL for `dns_route53_endpoint`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

impl FakeRoute53 {
    /// Starts the fake for `account`.
    pub async fn start(account: R53Account) -> FakeRoute53 {
        Self::start_publishing(account, None).await
    }

    /// Starts the fake; every TXT change is also made in the challtestsrv
    /// whose management address is `challtest`.
    pub async fn start_publishing(
        account: R53Account,
        challtest: Option<std::net::SocketAddr>,
    ) -> FakeRoute53 {
        Self::start_publishing_at(account, challtest, std::net::Ipv4Addr::LOCALHOST.into()).await
    }

    /// [`FakeRoute53::start_publishing`] listening on `ip` (a test-created
    /// Docker network's gateway, for moat in a container).
    pub async fn start_publishing_at(
        account: R53Account,
        challtest: Option<std::net::SocketAddr>,
        ip: std::net::IpAddr,
    ) -> FakeRoute53 {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let account = Arc::new(account);
        let addr = fake_http::serve_at(ip, move |req| {
            let (st, account) = (st.clone(), account.clone());
            async move {
                let resp = handle(&st, &account, req);
                let pending = std::mem::take(&mut st.lock().unwrap().publish);
                if let Some(mgmt) = challtest {
                    for (host, values) in pending {
                        fake_http::challtest_publish(mgmt, &host, &values).await;
                    }
                }
                resp
            }
        })
        .await;
        FakeRoute53 {
            endpoint: format!("http://{addr}/"),
            state,
        }
    }

    /// Record sets held now.
    pub fn sets(&self) -> Vec<R53Set> {
        self.state.lock().unwrap().sets.clone()
    }

    /// Every accepted change, in order.
    pub fn changes(&self) -> Vec<R53Change> {
        self.state.lock().unwrap().changes.clone()
    }

    /// Every request, as (method, path with query).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().log.clone()
    }

    /// Forgets the requests so far.
    pub fn clear_requests(&self) {
        self.state.lock().unwrap().log.clear();
    }

    /// Adds a record set as if made elsewhere.
    pub fn seed(&self, zone: &str, name: &str, ttl: u32, values: &[&str]) {
        self.state.lock().unwrap().sets.push(R53Set {
            zone: zone.into(),
            name: name.into(),
            kind: "TXT".into(),
            ttl,
            values: values.iter().map(|v| v.to_string()).collect(),
        });
    }
}

fn xml(status: u16, body: String) -> Response {
    Response {
        status,
        content_type: "text/xml",
        body,
    }
}

fn error(status: u16, code: &str, message: &str) -> Response {
    xml(
        status,
        format!(
            "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>0</RequestId></ErrorResponse>"
        ),
    )
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Verifies the request's SigV4 signature; `Err` is the AWS error to send.
fn verify(account: &R53Account, req: &Request) -> Result<(), Response> {
    let auth = req.header("authorization").unwrap_or_default();
    let re = regex::Regex::new(
        r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$",
    )
    .unwrap();
    let Some(c) = re.captures(auth) else {
        return Err(error(
            403,
            "MissingAuthenticationToken",
            "Missing Authentication Token",
        ));
    };
    if c[1] != account.key_id {
        return Err(error(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        ));
    }
    if &c[3] != "us-east-1" || &c[4] != "route53" {
        return Err(error(
            403,
            "SignatureDoesNotMatch",
            "Credential should be scoped to a valid region and service.",
        ));
    }
    let date = req.header("x-amz-date").unwrap_or_default();
    if !date.starts_with(&c[2]) {
        return Err(error(403, "SignatureDoesNotMatch", "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP"));
    }
    let signed: Vec<&str> = c[5].split(';').collect();
    for needed in ["host", "x-amz-date"] {
        if !signed.contains(&needed) {
            return Err(error(
                403,
                "SignatureDoesNotMatch",
                "host and x-amz-date must be signed",
            ));
        }
    }
    if let Some(t) = &account.session_token {
        if req.header("x-amz-security-token") != Some(t)
            || !signed.contains(&"x-amz-security-token")
        {
            return Err(error(
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            ));
        }
    }
    let mut query: Vec<(String, String)> =
        req.query.iter().map(|(k, v)| (enc(k), enc(v))).collect();
    query.sort();
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let headers: String = signed
        .iter()
        .map(|h| format!("{h}:{}\n", req.header(h).unwrap_or_default().trim()))
        .collect();
    let creq = format!(
        "{}\n{}\n{}\n{headers}\n{}\n{}",
        req.method,
        req.path,
        query.join("&"),
        &c[5],
        hex::encode(Sha256::digest(&req.body))
    );
    let scope = format!("{}/us-east-1/route53/aws4_request", &c[2]);
    let sts = format!(
        "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
        hex::encode(Sha256::digest(creq.as_bytes()))
    );
    let mut k = hmac(format!("AWS4{}", account.secret).as_bytes(), &c[2]);
    for part in ["us-east-1", "route53", "aws4_request"] {
        k = hmac(&k, part);
    }
    if hex::encode(hmac(&k, &sts)) != c[6] {
        return Err(error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        ));
    }
    Ok(())
}

/// Reversed labels, the order Route 53 sorts names in.
fn order_key(name: &str) -> String {
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    n.split('.').rev().collect::<Vec<_>>().join(".")
}

fn tags<'x>(xml: &'x str, tag: &str) -> Vec<&'x str> {
    let re = regex::Regex::new(&format!(r"(?s)<{tag}>(.*?)</{tag}>")).unwrap();
    re.captures_iter(xml)
        .map(|c| c.get(1).unwrap().as_str())
        .collect()
}

fn unxml(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn handle(st: &Mutex<State>, account: &R53Account, req: Request) -> Response {
    let logged = if req.raw_query.is_empty() {
        req.path.clone()
    } else {
        format!("{}?{}", req.path, req.raw_query)
    };
    st.lock().unwrap().log.push((req.method.clone(), logged));
    if let Err(resp) = verify(account, &req) {
        return resp;
    }
    let path = req.path.trim_start_matches("/2013-04-01/").to_owned();
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let zone_known = |id: &str| account.zones.iter().any(|(z, _, _)| z == id);
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["hostedzonesbyname"]) => {
            let from = order_key(req.param("dnsname").unwrap_or(""));
            let max: usize = req
                .param("maxitems")
                .and_then(|m| m.parse().ok())
                .unwrap_or(100);
            let mut zones = account.zones.clone();
            zones.sort_by_key(|z| order_key(&z.1));
            let body: String = zones
                .iter()
                .filter(|z| order_key(&z.1) >= from)
                .take(max)
                .map(|(id, name, private)| {
                    format!("<HostedZone><Id>/hostedzone/{id}</Id><Name>{name}</Name><CallerReference>x</CallerReference><Config><PrivateZone>{private}</PrivateZone></Config><ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone>")
                })
                .collect();
            xml(200, format!("<?xml version=\"1.0\"?>\n<ListHostedZonesByNameResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><HostedZones>{body}</HostedZones><IsTruncated>false</IsTruncated><MaxItems>{max}</MaxItems></ListHostedZonesByNameResponse>"))
        }
        (_, ["hostedzone", id, ..]) if !zone_known(id) => error(
            404,
            "NoSuchHostedZone",
            &format!("No hosted zone found with ID: {id}"),
        ),
        ("GET", ["hostedzone", id, "rrset"]) => {
            let from = (
                order_key(req.param("name").unwrap_or("")),
                req.param("type").unwrap_or("").to_owned(),
            );
            let max: usize = req
                .param("maxitems")
                .and_then(|m| m.parse().ok())
                .unwrap_or(100);
            let mut sets: Vec<R53Set> = st
                .lock()
                .unwrap()
                .sets
                .iter()
                .filter(|s| s.zone == *id)
                .cloned()
                .collect();
            sets.sort_by_key(|s| (order_key(&s.name), s.kind.clone()));
            let body: String = sets
                .iter()
                .filter(|s| (order_key(&s.name), s.kind.clone()) >= from)
                .take(max)
                .map(|s| {
                    let values: String = s
                        .values
                        .iter()
                        .map(|v| format!("<ResourceRecord><Value>{}</Value></ResourceRecord>", v.replace('&', "&amp;").replace('"', "&quot;")))
                        .collect();
                    format!("<ResourceRecordSet><Name>{}</Name><Type>{}</Type><TTL>{}</TTL><ResourceRecords>{values}</ResourceRecords></ResourceRecordSet>", s.name, s.kind, s.ttl)
                })
                .collect();
            xml(200, format!("<?xml version=\"1.0\"?>\n<ListResourceRecordSetsResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><ResourceRecordSets>{body}</ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>{max}</MaxItems></ListResourceRecordSetsResponse>"))
        }
        ("POST", ["hostedzone", id, "rrset"]) => {
            let body = String::from_utf8_lossy(&req.body).into_owned();
            let mut s = st.lock().unwrap();
            for change in tags(&body, "Change") {
                let action = tags(change, "Action")
                    .first()
                    .copied()
                    .unwrap_or("")
                    .to_owned();
                let set = R53Set {
                    zone: id.to_string(),
                    name: tags(change, "Name")
                        .first()
                        .copied()
                        .unwrap_or("")
                        .to_ascii_lowercase(),
                    kind: tags(change, "Type")
                        .first()
                        .copied()
                        .unwrap_or("")
                        .to_owned(),
                    ttl: tags(change, "TTL")
                        .first()
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(0),
                    values: tags(change, "Value").iter().map(|v| unxml(v)).collect(),
                };
                if set
                    .values
                    .iter()
                    .any(|v| !(v.starts_with('"') && v.ends_with('"')))
                {
                    return error(400, "InvalidChangeBatch", "Invalid Resource Record: FATAL problem: InvalidCharacterString (Value should be enclosed in quotation marks)");
                }
                let at = s
                    .sets
                    .iter()
                    .position(|x| x.zone == set.zone && x.name == set.name && x.kind == set.kind);
                match (action.as_str(), at) {
                    ("UPSERT", Some(i)) => s.sets[i] = set.clone(),
                    ("UPSERT" | "CREATE", None) => s.sets.push(set.clone()),
                    ("DELETE", Some(i)) if s.sets[i] == set => {
                        s.sets.remove(i);
                    }
                    ("DELETE", _) => {
                        return error(400, "InvalidChangeBatch", &format!("Tried to delete resource record set [name='{}', type='TXT'] but the values provided do not match the current values", set.name));
                    }
                    _ => return error(400, "InvalidChangeBatch", "bad action"),
                }
                if set.kind == "TXT" {
                    let values = if action == "DELETE" {
                        Vec::new()
                    } else {
                        set.values
                            .iter()
                            .map(|v| v.trim_matches('"').to_owned())
                            .collect()
                    };
                    s.publish.push((set.name.clone(), values));
                }
                s.changes.push((action, set.name, set.values));
            }
            s.next += 1;
            let cid = format!("C{:010}", s.next);
            s.polls.insert(cid.clone(), 0);
            xml(200, format!("<?xml version=\"1.0\"?>\n<ChangeResourceRecordSetsResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><ChangeInfo><Id>/change/{cid}</Id><Status>PENDING</Status><SubmittedAt>2026-01-01T00:00:00Z</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>"))
        }
        ("GET", ["change", cid]) => {
            let mut s = st.lock().unwrap();
            let Some(n) = s.polls.get_mut(*cid) else {
                return error(
                    404,
                    "NoSuchChange",
                    "A change with the specified change ID does not exist.",
                );
            };
            *n += 1;
            let status = if *n > 1 { "INSYNC" } else { "PENDING" };
            xml(200, format!("<?xml version=\"1.0\"?>\n<GetChangeResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><ChangeInfo><Id>/change/{cid}</Id><Status>{status}</Status><SubmittedAt>2026-01-01T00:00:00Z</SubmittedAt></ChangeInfo></GetChangeResponse>"))
        }
        _ => error(404, "UnknownOperationException", "unknown operation"),
    }
}
