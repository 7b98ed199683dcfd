//! A fake Alibaba Cloud DNS (Alidns) API on loopback. It implements the four
//! actions moat uses (DescribeDomains, AddDomainRecord, DeleteDomainRecord,
//! DescribeSubDomainRecords) with the documented JSON shapes and error codes,
//! verifies every request's signature (V2 HMAC-SHA1 or V3 ACS3-HMAC-SHA256)
//! and timestamp with its own verifier written from the spec (checked against
//! the published vectors in `tests/dns_aliyun.rs`), rejects a reused nonce,
//! and publishes the TXT records it holds in pebble-challtestsrv, so the
//! records are visible over real DNS.
//!
//! challtestsrv cannot delete one value of several at a name, so the fake's
//! record list is the truth and a delete re-publishes what remains.
//!
//! Reusable for DNS-01 orders against pebble: [`FakeAlidns::start`] returns
//! the API endpoint and challtestsrv's DNS and management addresses; point
//! pebble's `-dnsserver` at [`FakeAlidns::dns`] and write the ini with
//! [`FakeAlidns::write_ini`].
//!
//! Include next to its dependencies:
//! ```ignore
//! #[path = "support/fake_http.rs"] mod fake_http;
//! #[path = "support/challtestsrv.rs"] mod challtestsrv;
//! #[path = "support/fake_alidns.rs"] mod fake_alidns;
//! ```
#![allow(dead_code)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Digest as _;

use super::challtestsrv::ChallTestSrv;
use super::fake_http::{self, Request, Response};

/// The fake account.
#[derive(Debug, Clone)]
pub struct FakeAlidnsOptions {
    /// The AccessKey ID the fake knows.
    pub access_key_id: String,
    /// Its secret.
    pub access_key_secret: String,
    /// Zones in the account.
    pub zones: Vec<String>,
    /// The plan's minimum TTL.
    pub min_ttl: u32,
    /// Seconds the fake's clock is ahead of the real one (to test skew).
    pub clock_offset_secs: i64,
}

impl Default for FakeAlidnsOptions {
    fn default() -> Self {
        FakeAlidnsOptions {
            access_key_id: "LTAI5tFakeKeyId".into(),
            access_key_secret: "fake-secret-Zm9vYmFy".into(),
            zones: vec!["example.test".into()],
            min_ttl: 600,
            clock_offset_secs: 0,
        }
    }
}

/// A record the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRecord {
    /// RecordId (a string beyond 2^53).
    pub id: String,
    /// The zone.
    pub domain: String,
    /// The relative name.
    pub rr: String,
    /// Always TXT here.
    pub rtype: String,
    /// The value.
    pub value: String,
    /// TTL.
    pub ttl: u32,
}

impl FakeRecord {
    fn fqdn(&self) -> String {
        if self.rr == "@" {
            self.domain.clone()
        } else {
            format!("{}.{}", self.rr, self.domain)
        }
    }
}

/// A request as it arrived, to replay it byte for byte.
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// Method.
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Headers (lower-case names).
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct State {
    records: Vec<FakeRecord>,
    nonces: HashSet<String>,
    next_id: u64,
    /// Actions that passed verification, in order.
    accepted: Vec<String>,
    /// Codes of rejected requests, in order.
    rejected: Vec<String>,
    /// The record list after each change, oldest first.
    history: Vec<Vec<FakeRecord>>,
    /// An error to answer the next call of an action with.
    fail_next: Vec<(String, String)>,
    last: Option<RawRequest>,
}

/// A running fake with its challtestsrv.
pub struct FakeAlidns {
    /// The API endpoint (`http://127.0.0.1:PORT/`).
    pub endpoint: String,
    /// challtestsrv's DNS address (UDP and TCP), serving the TXT records.
    pub dns: SocketAddr,
    /// challtestsrv's management address.
    pub management: SocketAddr,
    opts: FakeAlidnsOptions,
    state: Arc<Mutex<State>>,
    _dns_server: Arc<ChallTestSrv>,
}

impl FakeAlidns {
    /// Starts challtestsrv (at `challtestsrv`) and the fake API.
    pub async fn start(challtestsrv: &Path, opts: FakeAlidnsOptions) -> FakeAlidns {
        Self::start_on(ChallTestSrv::start(challtestsrv).await, opts).await
    }

    /// Starts the fake API publishing into `srv` (one started by
    /// [`ChallTestSrv::start`] or attached with [`ChallTestSrv::attach`]).
    pub async fn start_on(srv: ChallTestSrv, opts: FakeAlidnsOptions) -> FakeAlidns {
        Self::start_at(srv, opts, std::net::Ipv4Addr::LOCALHOST.into()).await
    }

    /// [`FakeAlidns::start_on`] with the API listening on `ip` (a
    /// test-created Docker network's gateway, for moat in a container).
    pub async fn start_at(
        srv: ChallTestSrv,
        opts: FakeAlidnsOptions,
        ip: std::net::IpAddr,
    ) -> FakeAlidns {
        let srv = Arc::new(srv);
        let state = Arc::new(Mutex::new(State {
            next_id: 1 << 60,
            ..State::default()
        }));
        let (st, o, s) = (state.clone(), opts.clone(), srv.clone());
        let addr = fake_http::serve_at(ip, move |req| {
            let (st, o, s) = (st.clone(), o.clone(), s.clone());
            async move { handle(&st, &o, &s, req).await }
        })
        .await;
        FakeAlidns {
            endpoint: format!("http://{addr}/"),
            dns: srv.dns,
            management: srv.management,
            opts,
            state,
            _dns_server: srv,
        }
    }

    /// Writes `<config>/dns-conf/aliyun.ini` for this fake (mode 600).
    /// `signature_version`: `Some("1")` for V2, `None` for the default V3.
    pub fn write_ini(
        &self,
        config_dir: &Path,
        secret: Option<&str>,
        signature_version: Option<&str>,
    ) {
        use std::os::unix::fs::PermissionsExt;
        let dir = config_dir.join("dns-conf");
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = format!(
            "dns_aliyun_access_key = {}\ndns_aliyun_access_key_secret = {}\ndns_aliyun_endpoint = {}\n",
            self.opts.access_key_id,
            secret.unwrap_or(&self.opts.access_key_secret),
            self.endpoint
        );
        if let Some(v) = signature_version {
            text.push_str(&format!("dns_aliyun_signature_version = {v}\n"));
        }
        let path = dir.join("aliyun.ini");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// The records the fake holds now.
    pub fn records(&self) -> Vec<FakeRecord> {
        self.state.lock().unwrap().records.clone()
    }

    /// The record list after each add or delete, oldest first: what the
    /// account held at once (e.g. both DNS-01 values at one name).
    pub fn history(&self) -> Vec<Vec<FakeRecord>> {
        self.state.lock().unwrap().history.clone()
    }

    /// The most TXT values held at once at `fqdn` (without the trailing
    /// dot), from [`FakeAlidns::history`].
    pub fn most_values_held_at(&self, fqdn: &str) -> Vec<String> {
        self.history()
            .into_iter()
            .map(|recs| {
                recs.into_iter()
                    .filter(|r| r.rtype == "TXT" && r.fqdn() == fqdn)
                    .map(|r| r.value)
                    .collect::<Vec<_>>()
            })
            .max_by_key(Vec::len)
            .unwrap_or_default()
    }

    /// Adds a record as if created earlier (e.g. by a previous run).
    pub async fn seed(&self, domain: &str, rr: &str, value: &str) -> FakeRecord {
        let rec = {
            let mut st = self.state.lock().unwrap();
            st.next_id += 1;
            let rec = FakeRecord {
                id: st.next_id.to_string(),
                domain: domain.into(),
                rr: rr.into(),
                rtype: "TXT".into(),
                value: value.into(),
                ttl: 600,
            };
            st.records.push(rec.clone());
            let snapshot = st.records.clone();
            st.history.push(snapshot);
            rec
        };
        republish(&self.state, &self._dns_server, &rec.fqdn()).await;
        rec
    }

    /// Actions that passed signature checks, in order.
    pub fn accepted(&self) -> Vec<String> {
        self.state.lock().unwrap().accepted.clone()
    }

    /// Error codes the fake answered (signature checks and actions), in order.
    pub fn rejected(&self) -> Vec<String> {
        self.state.lock().unwrap().rejected.clone()
    }

    /// Answers the next call of `action` with error `code`.
    pub fn fail_next(&self, action: &str, code: &str) {
        self.state
            .lock()
            .unwrap()
            .fail_next
            .push((action.into(), code.into()));
    }

    /// The last request received, to replay it.
    pub fn last_request(&self) -> Option<RawRequest> {
        self.state.lock().unwrap().last.clone()
    }
}

fn error(code: &str, message: &str) -> Response {
    let status = match code {
        "InvalidAccessKeyId.NotFound" => 404,
        "InternalError" | "ServiceUnavailable" => 503,
        _ => 400,
    };
    Response::json(
        status,
        &json!({
            "RequestId": format!("{:08X}-FAKE", rand::random::<u32>()),
            "HostId": "alidns.aliyuncs.com",
            "Code": code,
            "Message": message,
            "Recommend": "https://api.aliyun.com/troubleshoot",
        }),
    )
}

fn ok(mut body: Value) -> Response {
    body["RequestId"] = json!(format!("{:08X}-FAKE", rand::random::<u32>()));
    Response::json(200, &body)
}

async fn handle(
    state: &Arc<Mutex<State>>,
    opts: &FakeAlidnsOptions,
    dns: &Arc<ChallTestSrv>,
    req: Request,
) -> Response {
    {
        let mut st = state.lock().unwrap();
        st.last = Some(RawRequest {
            method: req.method.clone(),
            target: if req.raw_query.is_empty() {
                req.path.clone()
            } else {
                format!("{}?{}", req.path, req.raw_query)
            },
            headers: req
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        });
    }
    let verified = match verify(&req, opts) {
        Ok(v) => v,
        Err((code, msg)) => {
            state.lock().unwrap().rejected.push(code.clone());
            return error(&code, &msg);
        }
    };
    {
        let mut st = state.lock().unwrap();
        if !st.nonces.insert(verified.nonce.clone()) {
            st.rejected.push("SignatureNonceUsed".into());
            return error(
                "SignatureNonceUsed",
                "Specified signature nonce was used already.",
            );
        }
        if let Some(pos) = st.fail_next.iter().position(|(a, _)| *a == verified.action) {
            let (_, code) = st.fail_next.remove(pos);
            st.rejected.push(code.clone());
            return error(&code, "injected by the test");
        }
        st.accepted.push(verified.action.clone());
    }
    let resp = act(state, opts, dns, &verified).await;
    if let Ok(v) = serde_json::from_str::<Value>(&resp.body) {
        if let Some(code) = v["Code"].as_str() {
            state.lock().unwrap().rejected.push(code.to_owned());
        }
    }
    resp
}

/// Runs a verified action.
async fn act(
    state: &Arc<Mutex<State>>,
    opts: &FakeAlidnsOptions,
    dns: &Arc<ChallTestSrv>,
    verified: &Verified,
) -> Response {
    let p = |name: &str| {
        verified
            .params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    match verified.action.as_str() {
        "DescribeDomains" => {
            let kw = p("KeyWord").to_ascii_lowercase();
            let exact = p("SearchMode") == "EXACT";
            let domains: Vec<Value> = opts
                .zones
                .iter()
                .filter(|z| kw.is_empty() || if exact { **z == kw } else { z.contains(&kw) })
                .map(|z| json!({"DomainName": z, "PunyCode": z, "DomainId": format!("id-{z}")}))
                .collect();
            ok(
                json!({"TotalCount": domains.len(), "PageNumber": 1, "PageSize": 20,
                "Domains": {"Domain": domains}}),
            )
        }
        "AddDomainRecord" => {
            let domain = p("DomainName").to_ascii_lowercase();
            if !opts.zones.contains(&domain) {
                return error(
                    "IncorrectDomainUser",
                    "The domain name does not belong to you.",
                );
            }
            let ttl: u32 = p("TTL").parse().unwrap_or(600);
            if ttl < opts.min_ttl {
                return error(
                    "QuotaExceeded.TTL",
                    "The TTL exceeds the quota of your plan.",
                );
            }
            let (rr, rtype, value) = (p("RR"), p("Type"), p("Value"));
            let rec = {
                let mut st = state.lock().unwrap();
                if st.records.iter().any(|r| {
                    r.domain == domain && r.rr == rr && r.rtype == rtype && r.value == value
                }) {
                    return error("DomainRecordDuplicate", "The DNS record already exists.");
                }
                st.next_id += 1;
                let rec = FakeRecord {
                    id: st.next_id.to_string(),
                    domain,
                    rr,
                    rtype,
                    value,
                    ttl,
                };
                st.records.push(rec.clone());
                let snapshot = st.records.clone();
                st.history.push(snapshot);
                rec
            };
            republish(state, dns, &rec.fqdn()).await;
            ok(json!({"RecordId": rec.id}))
        }
        "DeleteDomainRecord" => {
            let id = p("RecordId");
            let removed = {
                let mut st = state.lock().unwrap();
                let pos = st.records.iter().position(|r| r.id == id);
                let removed = pos.map(|i| st.records.remove(i));
                if removed.is_some() {
                    let snapshot = st.records.clone();
                    st.history.push(snapshot);
                }
                removed
            };
            match removed {
                Some(rec) => {
                    republish(state, dns, &rec.fqdn()).await;
                    ok(json!({"RecordId": id}))
                }
                None => error(
                    "DomainRecordNotBelongToUser",
                    "The DNS record does not exist or does not belong to you.",
                ),
            }
        }
        "DescribeSubDomainRecords" => {
            let sub = p("SubDomain").to_ascii_lowercase();
            let rtype = p("Type");
            let recs: Vec<Value> = state
                .lock()
                .unwrap()
                .records
                .iter()
                .filter(|r| r.fqdn() == sub && (rtype.is_empty() || r.rtype == rtype))
                .map(|r| json!({"RecordId": r.id, "RR": r.rr, "Type": r.rtype, "Value": r.value,
                    "TTL": r.ttl, "Status": "ENABLE", "DomainName": r.domain, "Line": "default", "Locked": false}))
                .collect();
            ok(
                json!({"TotalCount": recs.len(), "PageNumber": 1, "PageSize": 100,
                "DomainRecords": {"Record": recs}}),
            )
        }
        other => error(
            "InvalidAction.NotFound",
            &format!("{other} is not supported"),
        ),
    }
}

/// Makes challtestsrv serve exactly the fake's values at `fqdn`.
async fn republish(state: &Arc<Mutex<State>>, dns: &ChallTestSrv, fqdn: &str) {
    let values: Vec<String> = state
        .lock()
        .unwrap()
        .records
        .iter()
        .filter(|r| r.fqdn() == fqdn && r.rtype == "TXT")
        .map(|r| r.value.clone())
        .collect();
    dns.publish(&format!("{fqdn}."), &values).await;
}

/// What a verified request asks for.
struct Verified {
    action: String,
    nonce: String,
    params: Vec<(String, String)>,
}

type Reject = (String, String);

fn reject(code: &str, msg: impl Into<String>) -> Reject {
    (code.to_owned(), msg.into())
}

fn verify(req: &Request, opts: &FakeAlidnsOptions) -> Result<Verified, Reject> {
    match req.header("authorization") {
        Some(auth) if auth.starts_with("ACS3-HMAC-SHA256 ") => verify_v3(req, auth, opts),
        _ => verify_v2(req, opts),
    }
}

fn check_time(ts: &str, opts: &FakeAlidnsOptions) -> Result<(), Reject> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    let t = time::PrimitiveDateTime::parse(ts, &fmt)
        .map_err(|_| {
            reject(
                "InvalidTimeStamp.Format",
                format!("Specified time stamp {ts} is not valid."),
            )
        })?
        .assume_utc();
    let now = time::OffsetDateTime::now_utc() + time::Duration::seconds(opts.clock_offset_secs);
    if (now - t).abs() > time::Duration::minutes(15) {
        return Err(reject(
            "InvalidTimeStamp.Expired",
            format!("Specified time stamp or date value is expired. Server time {now}."),
        ));
    }
    Ok(())
}

fn verify_v2(req: &Request, opts: &FakeAlidnsOptions) -> Result<Verified, Reject> {
    let get = |k: &str| req.param(k).map(str::to_owned);
    let id = get("AccessKeyId")
        .ok_or_else(|| reject("MissingAccessKeyId", "AccessKeyId is mandatory."))?;
    if id != opts.access_key_id {
        return Err(reject(
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        ));
    }
    let sig =
        get("Signature").ok_or_else(|| reject("MissingSignature", "Signature is mandatory."))?;
    if get("SignatureMethod").as_deref() != Some("HMAC-SHA1")
        || get("SignatureVersion").as_deref() != Some("1.0")
    {
        return Err(reject(
            "InvalidSignatureMethod",
            "HMAC-SHA1 / 1.0 expected.",
        ));
    }
    if get("Version").as_deref() != Some("2015-01-09") {
        return Err(reject(
            "InvalidVersion",
            "Specified parameter Version is not valid.",
        ));
    }
    let ts =
        get("Timestamp").ok_or_else(|| reject("MissingTimestamp", "Timestamp is mandatory."))?;
    let nonce = get("SignatureNonce")
        .ok_or_else(|| reject("MissingSignatureNonce", "SignatureNonce is mandatory."))?;
    let params: Vec<(String, String)> = req
        .query
        .iter()
        .filter(|(k, _)| k != "Signature")
        .cloned()
        .collect();
    let to_sign = spec_v2_string_to_sign(&req.method, &params);
    let expected = spec_v2_sign(&opts.access_key_secret, &to_sign);
    if expected != sig {
        return Err(reject(
            "SignatureDoesNotMatch",
            format!("Specified signature is not matched with our calculation. server string to sign is:{to_sign}"),
        ));
    }
    check_time(&ts, opts)?;
    let action = get("Action").unwrap_or_default();
    Ok(Verified {
        action,
        nonce,
        params,
    })
}

fn verify_v3(req: &Request, auth: &str, opts: &FakeAlidnsOptions) -> Result<Verified, Reject> {
    let fields = auth.trim_start_matches("ACS3-HMAC-SHA256 ");
    let field = |name: &str| {
        fields
            .split(',')
            .find_map(|f| f.trim().strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
    };
    let id =
        field("Credential").ok_or_else(|| reject("IncompleteSignature", "Credential missing."))?;
    if id != opts.access_key_id {
        return Err(reject(
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        ));
    }
    let signed = field("SignedHeaders")
        .ok_or_else(|| reject("IncompleteSignature", "SignedHeaders missing."))?;
    let sig =
        field("Signature").ok_or_else(|| reject("IncompleteSignature", "Signature missing."))?;
    let names: Vec<&str> = signed.split(';').collect();
    for must in [
        "host",
        "x-acs-action",
        "x-acs-content-sha256",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-version",
    ] {
        if !names.contains(&must) {
            return Err(reject(
                "IncompleteSignature",
                format!("{must} must be signed."),
            ));
        }
    }
    let header = |n: &str| req.header(n).unwrap_or_default().trim().to_owned();
    let body_hash = hex::encode(sha2::Sha256::digest(&req.body));
    if header("x-acs-content-sha256") != body_hash {
        return Err(reject(
            "SignatureDoesNotMatch",
            "x-acs-content-sha256 does not match the body.",
        ));
    }
    if header("x-acs-version") != "2015-01-09" {
        return Err(reject(
            "InvalidVersion",
            "Specified parameter Version is not valid.",
        ));
    }
    let header_pairs: Vec<(String, String)> =
        names.iter().map(|n| ((*n).to_owned(), header(n))).collect();
    let canonical = spec_v3_canonical(&req.method, &req.query, &header_pairs, &body_hash);
    if spec_v3_sign(&opts.access_key_secret, &canonical) != sig {
        return Err(reject(
            "SignatureDoesNotMatch",
            format!("Specified signature is not matched with our calculation. server canonical request is:{canonical}"),
        ));
    }
    check_time(&header("x-acs-date"), opts)?;
    Ok(Verified {
        action: header("x-acs-action"),
        nonce: header("x-acs-signature-nonce"),
        params: req.query.clone(),
    })
}

// ---- The fake's own signature code, written from the spec (not moat's). ----

/// RFC 3986 unreserved characters stay; everything else is `%XX` upper-case.
pub fn spec_encode(s: &str) -> String {
    const UNRESERVED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";
    s.bytes()
        .map(|b| {
            if UNRESERVED.contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{:02X}", b)
            }
        })
        .collect()
}

fn spec_sorted_query(params: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (spec_encode(k), spec_encode(v)))
        .collect();
    // Byte order of the encoded names (so `TTL` < `Timestamp` < `Type`).
    pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(a.1.cmp(&b.1)));
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// V2 StringToSign for `method` and the request's parameters.
pub fn spec_v2_string_to_sign(method: &str, params: &[(String, String)]) -> String {
    format!("{method}&%2F&{}", spec_encode(&spec_sorted_query(params)))
}

/// V2 signature of a StringToSign.
pub fn spec_v2_sign(secret: &str, string_to_sign: &str) -> String {
    let mut mac =
        <Hmac<sha1::Sha1> as Mac>::new_from_slice(format!("{secret}&").as_bytes()).unwrap();
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// V3 canonical request; `headers` are the signed (name, value) pairs.
pub fn spec_v3_canonical(
    method: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    body_hash: &str,
) -> String {
    let mut hs: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_lowercase(), v.trim().to_owned()))
        .collect();
    hs.sort();
    let mut out = format!("{method}\n/\n{}\n", spec_sorted_query(query));
    for (k, v) in &hs {
        out.push_str(&format!("{k}:{v}\n"));
    }
    let names: Vec<&str> = hs.iter().map(|(k, _)| k.as_str()).collect();
    out.push_str(&format!("\n{}\n{body_hash}", names.join(";")));
    out
}

/// V3 hex signature of a canonical request.
pub fn spec_v3_sign(secret: &str, canonical: &str) -> String {
    let digest = hex::encode(sha2::Sha256::digest(canonical.as_bytes()));
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("ACS3-HMAC-SHA256\n{digest}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}
