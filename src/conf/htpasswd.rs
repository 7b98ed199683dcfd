//! `auth_basic_user_file`: htpasswd files as nginx reads them, with bcrypt
//! (`$2y$`, `$2a$`, `$2b$`), `{SHA}` (base64 SHA-1), `{SSHA}`, apr1-MD5
//! (`$apr1$`) and `{PLAIN}` entries. Read once at load time; checking a
//! password is pure. An entry in a format moat cannot verify never matches.

use base64::Engine;
use md5::{Digest as _, Md5};
use sha1::Sha1;

/// The users of one htpasswd file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Htpasswd {
    entries: Vec<(String, String)>,
    /// The file as the conf names it (nginx's error log quotes it).
    source: String,
}

/// What one `Authorization` header proves against a user file; nginx logs
/// the last two to its error log (SWAG's `nginx-http-auth` jail reads them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BasicCheck {
    /// The user exists and the password matches.
    Granted,
    /// No `Basic` credentials at all.
    NoCredentials,
    /// `user "NAME" was not found in "FILE"`.
    UnknownUser(String),
    /// `user "NAME": password mismatch`.
    Mismatch(String),
}

impl Htpasswd {
    /// Parses the file's text. Returns the users and, for each line moat
    /// cannot verify, a `line N: ...` message (those users can never log in).
    pub fn parse(text: &str) -> (Htpasswd, Vec<String>) {
        let mut entries = Vec::new();
        let mut problems = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                problems.push(format!("line {}: expected user:hash", i + 1));
                continue;
            };
            // nginx ignores anything after a second colon (comment field).
            let hash = hash.split(':').next().unwrap_or_default();
            if scheme(hash).is_none() {
                problems.push(format!(
                    "line {}: user \"{user}\": unsupported password hash (use bcrypt, {{SHA}} or $apr1$)",
                    i + 1
                ));
            }
            entries.push((user.to_string(), hash.to_string()));
        }
        (
            Htpasswd {
                entries,
                source: String::new(),
            },
            problems,
        )
    }

    /// `true` when `user` exists and `password` matches its hash.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        self.entries
            .iter()
            .find(|(u, _)| u == user)
            .is_some_and(|(_, hash)| verify_hash(hash, password))
    }

    /// Checks an `Authorization: Basic ...` header value.
    pub fn verify_header(&self, value: &str) -> bool {
        self.check_header(Some(value)) == BasicCheck::Granted
    }

    /// Checks the `Authorization` header (if any), saying why it fails.
    pub fn check_header(&self, value: Option<&str>) -> BasicCheck {
        let Some((user, pw)) = value.and_then(basic_credentials) else {
            return BasicCheck::NoCredentials;
        };
        match self.entries.iter().find(|(u, _)| *u == user) {
            None => BasicCheck::UnknownUser(user),
            Some((_, hash)) if verify_hash(hash, &pw) => BasicCheck::Granted,
            Some(_) => BasicCheck::Mismatch(user),
        }
    }

    /// The same users, known as the file `source` (as the conf names it).
    pub fn named(mut self, source: &str) -> Htpasswd {
        self.source = source.to_string();
        self
    }

    /// The file as the conf names it.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// The user and password of an `Authorization: Basic ...` header value,
/// exactly as nginx's `ngx_http_auth_basic_user` finds them (nginx's
/// `$remote_user` is the user, whether or not it checks out, with or
/// without `auth_basic`): the scheme is `Basic` and one space, any case;
/// spaces (not tabs) before the credentials are skipped; the base64 ends at
/// the first `=` (what follows is ignored, padding is optional) and any
/// byte outside the standard alphabet before it refuses the whole value;
/// the user is what precedes the first `:`, and there must be a `:` and a
/// non-empty user. nginx works on bytes; a name that is not UTF-8 is
/// decoded lossily here (moat's variables are text).
pub fn basic_credentials(value: &str) -> Option<(String, String)> {
    // nginx's header parser drops the spaces (only spaces) after a value.
    let value = value.trim_end_matches(' ').as_bytes();
    const SCHEME: &[u8] = b"basic ";
    if value.len() < SCHEME.len() || !value[..SCHEME.len()].eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let encoded = &value[SCHEME.len()..];
    let start = encoded.iter().position(|&b| b != b' ')?;
    let raw = nginx_decode_base64(&encoded[start..])?;
    let colon = raw.iter().position(|&b| b == b':')?;
    if colon == 0 {
        return None;
    }
    Some((
        String::from_utf8_lossy(&raw[..colon]).into_owned(),
        String::from_utf8_lossy(&raw[colon + 1..]).into_owned(),
    ))
}

/// nginx's `ngx_decode_base64`: the standard alphabet up to the first `=`,
/// unpadded groups allowed, a lone trailing character refused.
fn nginx_decode_base64(src: &[u8]) -> Option<Vec<u8>> {
    fn sextet(b: u8) -> Option<u32> {
        Some(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let len = src.iter().position(|&b| b == b'=').unwrap_or(src.len());
    let digits: Vec<u32> = src[..len]
        .iter()
        .map(|&b| sextet(b))
        .collect::<Option<_>>()?;
    if len % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(len * 3 / 4);
    for group in digits.chunks(4) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, d)| n | d << (18 - 6 * i));
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..group.len() - 1]);
    }
    Some(out)
}

#[derive(Debug, Clone, Copy)]
enum Scheme {
    Bcrypt,
    Sha,
    Ssha,
    Apr1,
    Plain,
}

fn scheme(hash: &str) -> Option<Scheme> {
    if hash.starts_with("$2y$") || hash.starts_with("$2a$") || hash.starts_with("$2b$") {
        Some(Scheme::Bcrypt)
    } else if hash.starts_with("{SHA}") {
        Some(Scheme::Sha)
    } else if hash.starts_with("{SSHA}") {
        Some(Scheme::Ssha)
    } else if hash.starts_with("$apr1$") {
        Some(Scheme::Apr1)
    } else if hash.starts_with("{PLAIN}") {
        Some(Scheme::Plain)
    } else {
        None
    }
}

fn verify_hash(hash: &str, password: &str) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    match scheme(hash) {
        Some(Scheme::Bcrypt) => bcrypt::verify(password, hash).unwrap_or(false),
        Some(Scheme::Sha) => {
            let digest = Sha1::digest(password.as_bytes());
            constant_eq(b64.encode(digest).as_bytes(), &hash.as_bytes()[5..])
        }
        Some(Scheme::Ssha) => {
            let Ok(raw) = b64.decode(&hash[6..]) else {
                return false;
            };
            if raw.len() <= 20 {
                return false;
            }
            let (digest, salt) = raw.split_at(20);
            let mut h = Sha1::new();
            h.update(password.as_bytes());
            h.update(salt);
            constant_eq(&h.finalize(), digest)
        }
        Some(Scheme::Apr1) => {
            let rest = &hash[6..];
            let salt = rest.split('$').next().unwrap_or_default();
            constant_eq(
                apr1(password.as_bytes(), salt.as_bytes()).as_bytes(),
                hash.as_bytes(),
            )
        }
        Some(Scheme::Plain) => constant_eq(&hash.as_bytes()[7..], password.as_bytes()),
        None => false,
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Apache's apr1 MD5-crypt: `$apr1$salt$hash`.
fn apr1(pw: &[u8], salt: &[u8]) -> String {
    let salt = &salt[..salt.len().min(8)];
    let mut ctx = Md5::new();
    ctx.update(pw);
    ctx.update(b"$apr1$");
    ctx.update(salt);
    let alt = Md5::new()
        .chain_update(pw)
        .chain_update(salt)
        .chain_update(pw)
        .finalize();
    let mut left = pw.len();
    while left > 0 {
        let n = left.min(16);
        ctx.update(&alt[..n]);
        left -= n;
    }
    let mut i = pw.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&pw[..1]);
        }
        i >>= 1;
    }
    let mut fin = ctx.finalize();
    for round in 0..1000 {
        let mut c = Md5::new();
        if round & 1 == 1 {
            c.update(pw);
        } else {
            c.update(fin);
        }
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(pw);
        }
        if round & 1 == 1 {
            c.update(fin);
        } else {
            c.update(pw);
        }
        fin = c.finalize();
    }
    const ITOA: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::from("$apr1$");
    out.push_str(&String::from_utf8_lossy(salt));
    out.push('$');
    let mut put = |mut v: u32, n: usize| {
        for _ in 0..n {
            out.push(ITOA[(v & 0x3f) as usize] as char);
            v >>= 6;
        }
    };
    let f = |i: usize| u32::from(fin[i]);
    put((f(0) << 16) | (f(6) << 8) | f(12), 4);
    put((f(1) << 16) | (f(7) << 8) | f(13), 4);
    put((f(2) << 16) | (f(8) << 8) | f(14), 4);
    put((f(3) << 16) | (f(9) << 8) | f(15), 4);
    put((f(4) << 16) | (f(10) << 8) | f(5), 4);
    put(f(11), 2);
    out
}
