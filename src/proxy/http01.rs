//! ACME HTTP-01 answers on the plain-HTTP listener.
//!
//! SWAG stops nginx so certbot can bind port 80; moat answers from the
//! in-memory map the ACME side fills, so validation never interrupts
//! traffic. Unknown tokens fall through to the confs, as nginx would.

use super::respond::Reply;
use crate::acme::Http01Tokens;

/// The path prefix ACME validators request.
pub const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// The key authorisation for this request target, if it is a published token.
pub fn answer(tokens: &Http01Tokens, uri: &str) -> Option<Reply> {
    let token = uri.strip_prefix(CHALLENGE_PREFIX)?;
    let token = token.split('?').next().unwrap_or_default();
    if token.is_empty() || token.contains('/') {
        return None;
    }
    let key_authorization = tokens.get(token)?;
    let mut reply = Reply::text(200, key_authorization);
    reply.content_type = "text/plain";
    Some(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_token_is_answered_and_others_fall_through() {
        let tokens = Http01Tokens::new();
        tokens.insert("abc", "abc.thumb");
        let reply = answer(&tokens, "/.well-known/acme-challenge/abc").expect("published");
        assert_eq!(reply.status, 200);
        assert_eq!(&reply.body[..], b"abc.thumb");
        assert!(answer(&tokens, "/.well-known/acme-challenge/other").is_none());
        assert!(answer(&tokens, "/.well-known/acme-challenge/abc/x").is_none());
        assert!(answer(&tokens, "/abc").is_none());
    }
}
