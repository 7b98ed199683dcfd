//! ZeroSSL's External Account Binding, fetched for EMAIL as SWAG does: the
//! exchange with a stand-in for `api.zerossl.com` (form-encoded e-mail in,
//! kid and HMAC key out, refusals reported with ZeroSSL's reason).

#[path = "support/fake_http.rs"]
mod fake_http;

use std::sync::{Arc, Mutex};

use fake_http::{Request, Response};

#[tokio::test]
async fn eab_credentials_are_fetched_for_the_email_and_refusals_are_explained() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let seen: Arc<Mutex<Vec<Request>>> = Arc::default();
    let log = seen.clone();
    let addr = fake_http::serve(move |req: Request| {
        let log = log.clone();
        async move {
            let body = String::from_utf8_lossy(&req.body).into_owned();
            log.lock().unwrap().push(req);
            if body == "email=admin%40example.com" {
                Response::json(
                    200,
                    &serde_json::json!({"success": true, "eab_kid": "kid-123", "eab_hmac_key": "aG1hYy1rZXk"}),
                )
            } else {
                Response::json(
                    200,
                    &serde_json::json!({"success": false, "error": {"code": 2831, "type": "invalid_email"}}),
                )
            }
        }
    })
    .await;
    let endpoint = format!("http://{addr}/acme/eab-credentials-email");

    let eab = moat::acme::fetch_eab_from(&endpoint, "admin@example.com")
        .await
        .expect("credentials");
    assert_eq!(eab.kid, "kid-123");
    assert_eq!(eab.hmac_key_b64, "aG1hYy1rZXk");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].method, "POST");
        assert_eq!(seen[0].path, "/acme/eab-credentials-email");
        assert_eq!(
            seen[0].header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
    }

    let err = moat::acme::fetch_eab_from(&endpoint, "other@example.com")
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("invalid_email"), "{err}");

    // No `@`: refused before anything is sent, naming EMAIL.
    let before = seen.lock().unwrap().len();
    let err = moat::acme::fetch_eab_from(&endpoint, "not-an-address")
        .await
        .expect_err("no address");
    assert!(err.to_string().contains("EMAIL"), "{err}");
    assert_eq!(seen.lock().unwrap().len(), before);
}
