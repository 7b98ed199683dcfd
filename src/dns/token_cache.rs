//! Bearer tokens the API providers sign in for (Google's and Azure's OAuth
//! endpoints, TransIP's signed `POST auth`), kept and reused until shortly
//! before they expire, so an order's dozen API calls sign in once.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::HttpReply;
use super::secret::Secret;

/// How long before its stated expiry a token stops being reused, so a call
/// never leaves with a token that expires on the way.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// The shortest reuse a token's stated lifetime is allowed to give.
const MIN_LIFETIME: Duration = Duration::from_secs(120);

/// One provider's current token.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    slot: Mutex<Option<(Secret, Instant)>>,
}

impl TokenCache {
    /// The cached token while it is good, else the one `fetch` signs in for
    /// (a token and its stated lifetime), kept for next time.
    pub async fn get<E, F, Fut>(&self, fetch: F) -> Result<Secret, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Secret, Duration), E>>,
    {
        if let Some(token) = self.current() {
            return Ok(token);
        }
        let (token, lifetime) = fetch().await?;
        let reuse = lifetime.max(MIN_LIFETIME) - EXPIRY_MARGIN;
        *self.lock() = Some((token.clone(), Instant::now() + reuse));
        Ok(token)
    }

    fn current(&self) -> Option<Secret> {
        let slot = self.lock();
        let (token, until) = slot.as_ref()?;
        (Instant::now() < *until).then(|| token.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Secret, Instant)>> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An OAuth 2.0 token endpoint's answer (RFC 6749 §5.1, §5.2): the access
/// token and its lifetime (`expires_in`, a number, or a string as Azure's
/// instance metadata service sends it; an hour when absent), or the words of
/// its error (`error_description`, else `error`) for the provider's message.
pub(crate) fn oauth_answer(reply: &HttpReply) -> Result<(Secret, Duration), String> {
    let json: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
    let token = json["access_token"].as_str().filter(|_| reply.status < 400);
    let Some(token) = token else {
        return Err(json["error_description"]
            .as_str()
            .or(json["error"].as_str())
            .unwrap_or("no access_token in the answer")
            .to_owned());
    };
    let lifetime = json["expires_in"]
        .as_u64()
        .or_else(|| json["expires_in"].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(3600);
    Ok((Secret::new(token), Duration::from_secs(lifetime)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn reply(status: u16, body: &str) -> HttpReply {
        HttpReply {
            status,
            body: body.to_owned(),
            cookies: vec![],
        }
    }

    #[tokio::test]
    async fn a_good_token_is_fetched_once_and_an_expired_one_again() {
        let cache = TokenCache::default();
        let calls = AtomicU32::new(0);
        let fetch = |lifetime: u64| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, String>((Secret::new(format!("t{n}")), Duration::from_secs(lifetime))) }
        };
        let a = cache.get(|| fetch(3600)).await.unwrap();
        let b = cache.get(|| fetch(3600)).await.unwrap();
        assert_eq!((a.expose(), b.expose()), ("t0", "t0"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Expire it by hand: the next call signs in again.
        cache.lock().as_mut().unwrap().1 = Instant::now();
        assert_eq!(cache.get(|| fetch(3600)).await.unwrap().expose(), "t1");
        // A failed sign-in keeps nothing.
        let cache = TokenCache::default();
        let err = cache
            .get(|| async { Err::<(Secret, Duration), _>("refused".to_owned()) })
            .await;
        assert_eq!(err.unwrap_err(), "refused");
        assert!(cache.current().is_none());
    }

    #[test]
    fn oauth_answers_give_the_token_and_lifetime_or_the_error_words() {
        let (t, life) = oauth_answer(&reply(
            200,
            r#"{"access_token":"abc","expires_in":"1800","token_type":"Bearer"}"#,
        ))
        .unwrap();
        assert_eq!((t.expose(), life), ("abc", Duration::from_secs(1800)));
        let (_, life) = oauth_answer(&reply(200, r#"{"access_token":"abc"}"#)).unwrap();
        assert_eq!(life, Duration::from_secs(3600));
        let e = oauth_answer(&reply(
            400,
            r#"{"error":"invalid_grant","error_description":"AADSTS7000215: bad secret"}"#,
        ))
        .unwrap_err();
        assert_eq!(e, "AADSTS7000215: bad secret");
        let e = oauth_answer(&reply(401, r#"{"access_token":"x","error":"nope"}"#)).unwrap_err();
        assert_eq!(e, "nope");
        assert_eq!(
            oauth_answer(&reply(502, "<html>")).unwrap_err(),
            "no access_token in the answer"
        );
    }
}
