//! A fake Namecheap XML API on loopback, from Namecheap's API documentation:
//! `/xml.response` with the global parameters `ApiUser`, `ApiKey`,
//! `UserName`, `ClientIp` (checked against a whitelist) and `Command`, in
//! the query or a POSTed form; `namecheap.domains.getList`,
//! `namecheap.domains.dns.getHosts` (`SLD`, `TLD`; `<host .../>` elements,
//! `EmailType`) and `namecheap.domains.dns.setHosts`, which replaces the
//! whole host list with `HostNameN`/`RecordTypeN`/`AddressN`/`MXPrefN`/
//! `TTLN`, as Namecheap does. Errors are `<Errors><Error Number="...">`
//! with `Status="ERROR"`. Keeps every command.
//!
//! Include next to `fake_http.rs`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use super::fake_http::{self, Request, Response};

/// A host the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NcHost {
    /// Domain.
    pub domain: String,
    /// Name (`@` for the apex).
    pub name: String,
    /// Type.
    pub kind: String,
    /// Address.
    pub address: String,
    /// MX preference.
    pub mx_pref: String,
    /// TTL.
    pub ttl: String,
}

#[derive(Debug, Default)]
struct State {
    hosts: Vec<NcHost>,
    email: Vec<(String, String)>,
    log: Vec<String>,
}

/// A running fake.
pub struct FakeNamecheap {
    /// Base URL for `dns_namecheap_endpoint`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn error(number: &str, message: &str) -> Response {
    Response {
        status: 200,
        content_type: "text/xml",
        body: format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<ApiResponse Status=\"ERROR\" xmlns=\"http://api.namecheap.com/xml.response\">\r\n  <Errors>\r\n    <Error Number=\"{number}\">{}</Error>\r\n  </Errors>\r\n  <Warnings />\r\n  <RequestedCommand />\r\n</ApiResponse>",
            xml_escape(message)
        ),
    }
}

fn ok(command: &str, inner: &str) -> Response {
    Response {
        status: 200,
        content_type: "text/xml",
        body: format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<ApiResponse Status=\"OK\" xmlns=\"http://api.namecheap.com/xml.response\">\r\n  <Errors />\r\n  <Warnings />\r\n  <RequestedCommand>{command}</RequestedCommand>\r\n  <CommandResponse Type=\"{command}\">\r\n    {inner}\r\n  </CommandResponse>\r\n  <Server>FAKE</Server>\r\n</ApiResponse>"
        ),
    }
}

impl FakeNamecheap {
    /// Starts the fake for `user` with `key`, whitelisting `ip`; `domains`
    /// are the account's (each with one A, one MX and one CAA host and
    /// EmailType MX, so a setHosts that drops any is seen).
    pub async fn start(
        user: &str,
        key: &str,
        ip: &str,
        domains: &[&str],
        challtest: Option<std::net::SocketAddr>,
    ) -> FakeNamecheap {
        let mut state = State::default();
        for d in domains {
            for (name, kind, address, pref) in [
                ("@", "A", "192.0.2.10", "10"),
                ("@", "MX", "mail.example.net.", "5"),
                ("@", "CAA", "0 issue \"letsencrypt.org\"", "10"),
            ] {
                state.hosts.push(NcHost {
                    domain: d.to_string(),
                    name: name.into(),
                    kind: kind.into(),
                    address: address.into(),
                    mx_pref: pref.into(),
                    ttl: "1800".into(),
                });
            }
            state.email.push((d.to_string(), "MX".into()));
        }
        let state = Arc::new(Mutex::new(state));
        let st = state.clone();
        let (user, key, ip) = (user.to_owned(), key.to_owned(), ip.to_owned());
        let publisher = Arc::new(fake_http::Publisher::default());
        if let Some(mgmt) = challtest {
            publisher.publish_to(mgmt);
        }
        let addr = fake_http::serve(move |req| {
            let publisher = publisher.clone();
            let (st, user, key, ip) = (st.clone(), user.clone(), key.clone(), ip.clone());
            async move {
                let resp = handle(&st, &user, &key, &ip, req);
                let txt = {
                    let s = st.lock().unwrap();
                    s.hosts
                        .iter()
                        .filter(|h| h.kind == "TXT")
                        .map(|h| (fake_http::absolute(&h.name, &h.domain), h.address.clone()))
                        .collect()
                };
                publisher.sync(txt).await;
                resp
            }
        })
        .await;
        FakeNamecheap {
            endpoint: format!("http://{addr}/"),
            state,
        }
    }

    /// Hosts held now.
    pub fn hosts(&self) -> Vec<NcHost> {
        self.state.lock().unwrap().hosts.clone()
    }

    /// The TXT hosts held now.
    pub fn txt(&self) -> Vec<NcHost> {
        self.hosts()
            .into_iter()
            .filter(|h| h.kind == "TXT")
            .collect()
    }

    /// The EmailType of `domain`.
    pub fn email_type(&self, domain: &str) -> Option<String> {
        let s = self.state.lock().unwrap();
        s.email
            .iter()
            .find(|(d, _)| d == domain)
            .map(|(_, e)| e.clone())
    }

    /// Every command, in order.
    pub fn commands(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }
}

fn handle(st: &Mutex<State>, user: &str, key: &str, ip: &str, req: Request) -> Response {
    if req.path != "/xml.response" {
        return Response::text(404, "not found");
    }
    let mut params = req.query.clone();
    if req.method == "POST" {
        params.extend(
            String::from_utf8_lossy(&req.body)
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| {
                    (
                        fake_http::percent_decode(k),
                        fake_http::percent_decode(&v.replace('+', " ")),
                    )
                }),
        );
    }
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    };
    let command = get("Command").unwrap_or_default().to_owned();
    st.lock().unwrap().log.push(command.clone());
    if get("ApiUser") != Some(user) {
        return error("1010102", "Parameter APIUser is missing");
    }
    if get("ApiKey") != Some(key) {
        return error(
            "1011102",
            "API Key is invalid or API access has not been enabled",
        );
    }
    if get("UserName") != Some(user) {
        return error("1017150", "Parameter UserName is missing or invalid");
    }
    if get("ClientIp") != Some(ip) {
        return error(
            "1011150",
            &format!(
                "Invalid request IP: {}",
                get("ClientIp").unwrap_or_default()
            ),
        );
    }
    let domain = format!(
        "{}.{}",
        get("SLD").unwrap_or_default(),
        get("TLD").unwrap_or_default()
    );
    let mut s = st.lock().unwrap();
    let known = s.email.iter().any(|(d, _)| *d == domain);
    match command.as_str() {
        "namecheap.domains.getList" => {
            let list: String = s
                .email
                .iter()
                .map(|(d, _)| format!("<Domain Name=\"{d}\" IsOurDNS=\"true\" />"))
                .collect();
            ok(
                &command,
                &format!("<DomainGetListResult>{list}</DomainGetListResult>"),
            )
        }
        "namecheap.domains.dns.getHosts" | "namecheap.domains.dns.setHosts" if !known => {
            error("2019166", "Domain not found")
        }
        "namecheap.domains.dns.getHosts" => {
            let email = s
                .email
                .iter()
                .find(|(d, _)| *d == domain)
                .unwrap()
                .1
                .clone();
            let hosts: String = s
                .hosts
                .iter()
                .filter(|h| h.domain == domain)
                .enumerate()
                .map(|(i, h)| {
                    format!(
                        "<host HostId=\"{}\" Name=\"{}\" Type=\"{}\" Address=\"{}\" MXPref=\"{}\" TTL=\"{}\" AssociatedAppTitle=\"\" FriendlyName=\"\" IsActive=\"true\" IsDDNSEnabled=\"false\" />",
                        i + 1,
                        xml_escape(&h.name),
                        h.kind,
                        xml_escape(&h.address),
                        h.mx_pref,
                        h.ttl
                    )
                })
                .collect();
            ok(
                &command,
                &format!(
                    "<DomainDNSGetHostsResult Domain=\"{domain}\" EmailType=\"{email}\" IsUsingOurDNS=\"true\">{hosts}</DomainDNSGetHostsResult>"
                ),
            )
        }
        "namecheap.domains.dns.setHosts" => {
            let mut new = Vec::new();
            for n in 1.. {
                let Some(name) = get(&format!("HostName{n}")) else {
                    break;
                };
                let (Some(kind), Some(address)) =
                    (get(&format!("RecordType{n}")), get(&format!("Address{n}")))
                else {
                    return error(
                        "2050900",
                        &format!("RecordType{n} or Address{n} is missing"),
                    );
                };
                new.push(NcHost {
                    domain: domain.clone(),
                    name: name.into(),
                    kind: kind.into(),
                    address: address.into(),
                    mx_pref: get(&format!("MXPref{n}")).unwrap_or("10").into(),
                    ttl: get(&format!("TTL{n}")).unwrap_or("1800").into(),
                });
            }
            // Without EmailType, Namecheap drops the domain's mail setting.
            let email = get("EmailType").unwrap_or("NONE").to_owned();
            if let Some(e) = s.email.iter_mut().find(|(d, _)| *d == domain) {
                e.1 = email;
            }
            s.hosts.retain(|h| h.domain != domain);
            s.hosts.extend(new);
            ok(
                &command,
                &format!("<DomainDNSSetHostsResult Domain=\"{domain}\" IsSuccess=\"true\"><Warnings /></DomainDNSSetHostsResult>"),
            )
        }
        _ => error("1010900", "Unknown command"),
    }
}
