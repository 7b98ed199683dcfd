//! `/bans` on the metrics endpoint, what `moat bans` talks to:
//!
//! - `GET /bans`: the bans in force, as JSON (`addr`, `jail`, `since`,
//!   `until`: Unix seconds, `until` null for forever);
//! - `POST /bans/ban?addr=A[&jail=J][&seconds=N]`: bans A (`jail` default
//!   `manual`, `seconds` default forever);
//! - `POST /bans/unban?addr=A`: lifts every ban of A.
//!
//! Changes are accepted only from a loopback peer: the endpoint may listen
//! on a wider address for scraping (`METRICS_ADDR=0.0.0.0:9113`), and
//! whoever can reach it must not be able to unban themselves.

use std::net::IpAddr;

use super::handle::BanHandle;

/// The jail named by operator bans without `jail=`.
pub const MANUAL_JAIL: &str = "manual";

/// An answer: status line, JSON body.
pub type Reply = (&'static str, String);

/// Answers a `/bans` request; `None` when `path` is not one of ours.
pub fn answer(
    bans: Option<&BanHandle>,
    method: &str,
    path: &str,
    query: &str,
    from_loopback: bool,
) -> Option<Reply> {
    if path != "/bans" && !path.starts_with("/bans/") {
        return None;
    }
    let Some(bans) = bans else {
        return Some(error(
            "404 Not Found",
            "fail2ban is not running in this instance (DISABLE_F2B=true, or its jails did not load: see the log)",
        ));
    };
    let reply = match (method, path) {
        ("GET" | "HEAD", "/bans") => (
            "200 OK",
            serde_json::to_string(&bans.bans().list()).expect("bans are plain data"),
        ),
        ("POST", "/bans/ban" | "/bans/unban") if !from_loopback => error(
            "403 Forbidden",
            "bans can be changed only from this machine (a loopback address)",
        ),
        ("POST", "/bans/ban") => ban(bans, query),
        ("POST", "/bans/unban") => match address(query) {
            Ok(addr) => (
                "200 OK",
                serde_json::json!({ "addr": addr, "lifted": bans.bans().unban(addr) }).to_string(),
            ),
            Err(reply) => reply,
        },
        (_, "/bans") => error("405 Method Not Allowed", "GET /bans lists the bans"),
        _ => error(
            "404 Not Found",
            "POST /bans/ban?addr=..&jail=..&seconds=.. or POST /bans/unban?addr=..",
        ),
    };
    Some(reply)
}

fn ban(bans: &BanHandle, query: &str) -> Reply {
    let addr = match address(query) {
        Ok(addr) => addr,
        Err(reply) => return reply,
    };
    let jail = param(query, "jail").unwrap_or_else(|| MANUAL_JAIL.to_owned());
    if jail.is_empty()
        || !jail
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return error(
            "400 Bad Request",
            &format!("jail={jail:?}: a jail name is letters, digits, '-', '_' and '.'"),
        );
    }
    let length = match param(query, "seconds") {
        None => None,
        Some(text) => match text.parse::<u64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                return error(
                    "400 Bad Request",
                    &format!("seconds={text:?}: a whole number of seconds above 0 (leave it out to ban forever)"),
                )
            }
        },
    };
    let ban = bans.bans().ban(addr, &jail, length);
    (
        "200 OK",
        serde_json::to_string(&ban).expect("a ban is plain data"),
    )
}

fn address(query: &str) -> Result<IpAddr, Reply> {
    let text =
        param(query, "addr").ok_or_else(|| error("400 Bad Request", "addr= names the address"))?;
    text.parse::<IpAddr>().map_err(|_| {
        error(
            "400 Bad Request",
            &format!("addr={text:?} is not an IPv4 or IPv6 address"),
        )
    })
}

/// The percent-decoded value of `name` in a query string.
fn param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn error(status: &'static str, message: &str) -> Reply {
    (status, serde_json::json!({ "error": message }).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bans::Bans;

    fn handle() -> (tempfile::TempDir, BanHandle) {
        let dir = tempfile::tempdir().unwrap();
        let bans = Bans::start(dir.path()).unwrap();
        (dir, BanHandle::start(bans).unwrap())
    }

    #[test]
    fn ban_list_unban_and_refusals() {
        let (_dir, h) = handle();
        let h = Some(&h);
        assert!(answer(h, "GET", "/metrics", "", true).is_none());
        let (status, body) = answer(
            h,
            "POST",
            "/bans/ban",
            "addr=2001%3Adb8%3A%3A7&jail=nginx-deny&seconds=60",
            true,
        )
        .unwrap();
        assert_eq!(status, "200 OK", "{body}");
        let ban: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(ban["addr"], "2001:db8::7");
        assert_eq!(ban["jail"], "nginx-deny");
        assert_eq!(
            ban["until"].as_u64().unwrap() - ban["since"].as_u64().unwrap(),
            60
        );
        let (_, body) = answer(h, "POST", "/bans/ban", "addr=192.0.2.9", true).unwrap();
        let ban: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(ban["jail"], MANUAL_JAIL);
        assert!(ban["until"].is_null());
        let (_, body) = answer(h, "GET", "/bans", "", false).unwrap();
        let list: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        assert_eq!(list.len(), 2);

        let (status, _) = answer(h, "POST", "/bans/unban", "addr=192.0.2.9", false).unwrap();
        assert_eq!(status, "403 Forbidden");
        let (status, body) = answer(h, "POST", "/bans/unban", "addr=192.0.2.9", true).unwrap();
        assert_eq!(
            (status, body.as_str()),
            ("200 OK", r#"{"addr":"192.0.2.9","lifted":1}"#)
        );
        for bad in [
            "addr=nope",
            "",
            "addr=192.0.2.1&seconds=0",
            "addr=192.0.2.1&jail=a%20b",
        ] {
            let (status, body) = answer(h, "POST", "/bans/ban", bad, true).unwrap();
            assert_eq!(status, "400 Bad Request", "{bad}: {body}");
        }
        let (status, body) = answer(None, "GET", "/bans", "", true).unwrap();
        assert_eq!(status, "404 Not Found");
        assert!(body.contains("DISABLE_F2B"), "{body}");
    }

    #[test]
    fn percent_decoding_keeps_what_is_not_an_escape() {
        assert_eq!(percent_decode("a%3Ab%2"), "a:b%2");
        assert_eq!(percent_decode("%zz+x"), "%zz x");
        assert_eq!(percent_decode("%41"), "A");
    }
}
