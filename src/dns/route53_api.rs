//! Route 53's wire side for [`super::Route53Provider`]: the signed REST
//! calls, the few XML elements read from the answers, TXT presentation
//! format, and the `GetChange` wait. A child module, so it shares the
//! provider's private fields.

use std::collections::HashMap;
use std::time::Duration;

use super::super::http::{snippet, ApiError};
use super::super::names::zone_candidates;
use super::super::sigv4;
use super::super::{xml, DnsError};
use super::{
    CredentialSource, Route53Provider, TxtSet, API, ENV_ACCESS_KEY_ID, ENV_SECRET_ACCESS_KEY,
    ENV_SESSION_TOKEN, KEY_ACCESS_KEY_ID, KEY_SECRET_ACCESS_KEY, KEY_SESSION_TOKEN, PLUGIN,
    PROFILE, RECORD_TTL, REGION, SERVICE, THROTTLE_ATTEMPTS, XMLNS,
};

/// A TXT value in Route 53's presentation format: quoted, `"` and `\` escaped.
pub(super) fn quote_txt(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The value of a presentation-format TXT record: quoted strings joined (a
/// long value comes back split in 255-byte strings), escapes undone.
pub(super) fn unquote_txt(raw: &str) -> String {
    let raw = raw.trim();
    if !raw.starts_with('"') {
        return raw.to_owned();
    }
    let mut out = String::new();
    let mut inside = false;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match (c, inside) {
            ('"', _) => inside = !inside,
            ('\\', true) => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            (c, true) => out.push(c),
            (_, false) => {}
        }
    }
    out
}

impl Route53Provider {
    /// The public hosted zone (id, name) holding `name`, longest suffix first.
    pub(super) async fn find_zone(&self, name: &str) -> Result<(String, String), DnsError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(z) = self.lock_zones().get(&name) {
            return Ok(z.clone());
        }
        for candidate in zone_candidates(&name) {
            let answer = self.hosted_zones_by_name(&candidate).await?;
            let want = format!("{candidate}.");
            let found = xml::elements(&answer, "HostedZone").into_iter().find(|z| {
                xml::text(z, "Name").is_some_and(|n| n.eq_ignore_ascii_case(&want))
                    && xml::text(z, "PrivateZone").as_deref() != Some("true")
            });
            if let Some(zone) = found {
                let id = xml::text(zone, "Id").unwrap_or_default();
                let id = id.trim_start_matches("/hostedzone/").to_owned();
                let found = (id, candidate);
                self.lock_zones().insert(name, found.clone());
                return Ok(found);
            }
        }
        Err(DnsError::api(
            PLUGIN,
            format!(
                "no public hosted zone in this AWS account holds {name}: create one in Route 53, \
                 or check that the credentials belong to the account that has it"
            ),
        ))
    }

    pub(super) async fn hosted_zones_by_name(&self, dns_name: &str) -> Result<String, DnsError> {
        let mut query = vec![("maxitems".to_owned(), "10".to_owned())];
        if !dns_name.is_empty() {
            query.push(("dnsname".to_owned(), dns_name.to_owned()));
        }
        Ok(self
            .api(
                reqwest::Method::GET,
                &format!("{API}/hostedzonesbyname"),
                &query,
                None,
            )
            .await?)
    }

    /// The TXT record set at `fqdn`, if there is one.
    pub(super) async fn read_txt(
        &self,
        zone_id: &str,
        fqdn: &str,
    ) -> Result<Option<TxtSet>, DnsError> {
        let want = format!("{}.", fqdn.trim_end_matches('.'));
        let query = [
            ("name".to_owned(), want.clone()),
            ("type".to_owned(), "TXT".to_owned()),
            ("maxitems".to_owned(), "1".to_owned()),
        ];
        let answer = self
            .api(
                reqwest::Method::GET,
                &format!("{API}/hostedzone/{zone_id}/rrset"),
                &query,
                None,
            )
            .await?;
        // The list starts at name and type; the first set may be a later one.
        Ok(xml::elements(&answer, "ResourceRecordSet")
            .into_iter()
            .find(|s| {
                xml::text(s, "Name").is_some_and(|n| n.eq_ignore_ascii_case(&want))
                    && xml::text(s, "Type").as_deref() == Some("TXT")
            })
            .map(|s| TxtSet {
                ttl: xml::text(s, "TTL")
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(RECORD_TTL),
                values: xml::elements(s, "Value")
                    .into_iter()
                    .map(|v| unquote_txt(&xml::unescape(v)))
                    .collect(),
            }))
    }

    /// Sends one change (`UPSERT` or `DELETE`) of the TXT set at `fqdn`;
    /// returns the change id.
    pub(super) async fn change(
        &self,
        zone_id: &str,
        action: &str,
        fqdn: &str,
        set: &TxtSet,
    ) -> Result<String, DnsError> {
        let records: String = set
            .values
            .iter()
            .map(|v| {
                format!(
                    "<ResourceRecord><Value>{}</Value></ResourceRecord>",
                    xml::escape(&quote_txt(v))
                )
            })
            .collect();
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <ChangeResourceRecordSetsRequest xmlns=\"{XMLNS}\"><ChangeBatch>\
             <Comment>moat ACME DNS-01 challenge</Comment><Changes><Change>\
             <Action>{action}</Action><ResourceRecordSet><Name>{}.</Name><Type>TXT</Type>\
             <TTL>{}</TTL><ResourceRecords>{records}</ResourceRecords></ResourceRecordSet>\
             </Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>",
            xml::escape(fqdn.trim_end_matches('.')),
            set.ttl
        );
        let answer = self
            .api(
                reqwest::Method::POST,
                &format!("{API}/hostedzone/{zone_id}/rrset/"),
                &[],
                Some(body),
            )
            .await?;
        let id = xml::text(&answer, "Id").unwrap_or_default();
        Ok(id.trim_start_matches("/change/").to_owned())
    }

    /// Polls `GetChange` until `INSYNC`, at most `change_timeout`.
    pub(super) async fn wait_insync(&self, change: &str) -> Result<(), DnsError> {
        if change.is_empty() {
            return Ok(());
        }
        let start = tokio::time::Instant::now();
        let mut pause = self.config.poll_interval;
        loop {
            let answer = self
                .api(
                    reqwest::Method::GET,
                    &format!("{API}/change/{change}"),
                    &[],
                    None,
                )
                .await?;
            let status = xml::text(&answer, "Status").unwrap_or_default();
            if status == "INSYNC" {
                return Ok(());
            }
            if start.elapsed() + pause > self.config.change_timeout {
                return Err(DnsError::transient(
                    PLUGIN,
                    format!(
                        "change {change} still {status} after {}s; Route 53 usually syncs \
                         within a minute",
                        start.elapsed().as_secs()
                    ),
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(10));
        }
    }

    fn lock_zones(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, String)>> {
        self.zones.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What to fix for an auth failure, naming where the keys came from.
    fn key_hint(&self, key: &str, env: &str) -> String {
        match self.config.source {
            CredentialSource::Ini => format!("check {key} under [{PROFILE}] in {PLUGIN}.ini"),
            CredentialSource::Environment => format!("check {env}"),
        }
    }

    /// One signed call; `Throttling` is retried with backoff, other errors
    /// are mapped to what the user changes.
    async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(String, String)],
        body: Option<String>,
    ) -> Result<String, ApiError> {
        let mut url = self.config.endpoint.join(path).map_err(|e| ApiError {
            status: 0,
            error: DnsError::api(PLUGIN, format!("bad API path {path}: {e}")),
        })?;
        if !query.is_empty() {
            url.set_query(Some(&sigv4::canonical_query(query)));
        }
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => String::new(),
        };
        let what = format!("{method} {path}");
        let payload = body.unwrap_or_default();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let reply = self
                .http
                .send(&what, || {
                    let date = sigv4::amz_date(time::OffsetDateTime::now_utc());
                    let mut headers = vec![
                        ("host".to_owned(), host.clone()),
                        ("x-amz-date".to_owned(), date.clone()),
                    ];
                    if let Some(t) = &self.config.credentials.session_token {
                        headers.push(("x-amz-security-token".to_owned(), t.expose().to_owned()));
                    }
                    let auth = sigv4::authorization(
                        &self.config.credentials,
                        REGION,
                        SERVICE,
                        &date,
                        &sigv4::SigV4Request {
                            method: method.as_str(),
                            path: url.path(),
                            query,
                            headers: &headers,
                            payload: payload.as_bytes(),
                        },
                    );
                    let mut req = self
                        .http
                        .inner()
                        .request(method.clone(), url.clone())
                        .header("authorization", auth);
                    for (k, v) in headers.iter().filter(|(k, _)| k != "host") {
                        req = req.header(k.as_str(), v.as_str());
                    }
                    if !payload.is_empty() {
                        req = req.header("content-type", "text/xml").body(payload.clone());
                    }
                    req
                })
                .await
                .map_err(|error| ApiError { status: 0, error })?;
            if reply.status < 400 {
                return Ok(reply.body);
            }
            let code = xml::text(&reply.body, "Code").unwrap_or_default();
            if matches!(code.as_str(), "Throttling" | "PriorRequestNotComplete")
                && attempt < THROTTLE_ATTEMPTS
            {
                tracing::debug!(what = %what, code = %code, attempt, "{PLUGIN}: retrying");
                tokio::time::sleep(Duration::from_millis(500) * 2u32.pow(attempt - 1)).await;
                continue;
            }
            return Err(self.api_error(&what, reply.status, &code, &reply.body));
        }
    }

    fn api_error(&self, what: &str, status: u16, code: &str, body: &str) -> ApiError {
        let message = xml::text(body, "Message").unwrap_or_else(|| snippet(body));
        let hint = match code {
            "InvalidClientTokenId" | "UnrecognizedClientException" => format!(
                "; AWS does not know this access key id: {}",
                self.key_hint(KEY_ACCESS_KEY_ID, ENV_ACCESS_KEY_ID)
            ),
            "SignatureDoesNotMatch" => format!(
                "; the secret does not match the access key id: {}",
                self.key_hint(KEY_SECRET_ACCESS_KEY, ENV_SECRET_ACCESS_KEY)
            ),
            "ExpiredToken" | "InvalidToken" => format!(
                "; the temporary credentials are no longer valid: {}",
                self.key_hint(KEY_SESSION_TOKEN, ENV_SESSION_TOKEN)
            ),
            "AccessDenied" | "AccessDeniedException" => "; the IAM user or role needs \
                 route53:ListHostedZonesByName, route53:ListResourceRecordSets, \
                 route53:ChangeResourceRecordSets and route53:GetChange"
                .to_owned(),
            "Throttling" | "PriorRequestNotComplete" => {
                return ApiError {
                    status,
                    error: DnsError::transient(
                        PLUGIN,
                        format!("{what}: rate limited by Route 53 ({code}): {message}"),
                    ),
                }
            }
            _ => String::new(),
        };
        let code = if code.is_empty() {
            String::new()
        } else {
            format!(" {code}")
        };
        ApiError {
            status,
            error: DnsError::api(
                PLUGIN,
                format!("{what}: HTTP {status}{code}: {message}{hint}"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_values_round_trip_through_presentation_format() {
        assert_eq!(quote_txt("abc"), "\"abc\"");
        assert_eq!(quote_txt("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(unquote_txt(&quote_txt("a\"b\\c")), "a\"b\\c");
        assert_eq!(unquote_txt("\"abc\" \"def\""), "abcdef");
        assert_eq!(unquote_txt("bare"), "bare");
    }
}
