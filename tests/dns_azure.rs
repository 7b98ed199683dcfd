//! The Azure DNS provider against a fake identity platform, metadata
//! service and Resource Manager: a service principal's client secret and a
//! user-assigned managed identity each get a token; both challenge values
//! share one record set next to the owner's, cleanup takes out exactly its
//! value and deletes the set when it held the last; the longest
//! `dns_azure_zoneN` wins; SWAG's template, a wrong secret, an unmapped
//! name and a missing zone are named with the ini file and key. A service
//! principal's certificate signs in with a client assertion the fake
//! verifies (thumbprint, signature, audience, time, a fresh `jti`); a
//! certificate not registered, or a file without one, is named with its
//! key.

#[path = "support/dns_ini.rs"]
mod dns_ini;
#[path = "support/fake_azure.rs"]
mod fake_azure;
#[path = "support/fake_http.rs"]
mod fake_http;

use dns_ini::{with_files, with_ini};
use fake_azure::{FakeAzure, SUBSCRIPTION};

const APEX_VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const WILDCARD_VALUE: &str = "9ihDbjxAjEuX0LoqXcYV8q5ONbJQxbmR7SCTNo3tiAX";

#[tokio::test]
async fn azure_service_principal_shares_one_record_set_and_removes_only_its_value() {
    let fake = FakeAzure::start(
        &[("dns1", "example.test"), ("dns2", "sub.example.test")],
        None,
    )
    .await;
    fake.seed(
        "dns2",
        "sub.example.test",
        "_acme-challenge",
        &["the owner's own value"],
    );
    // The longer mapping (a delegated zone named in the path) wins.
    let ini = format!(
        "{}dns_azure_zone2 = sub.example.test:/subscriptions/{SUBSCRIPTION}/resourceGroups/dns2/providers/Microsoft.Network/dnszones/sub.example.test\n",
        fake.sp_ini("example.test", "dns1")
    );
    let (_d, p) = with_ini("azure", &ini);
    let p = p.unwrap();
    let line = p
        .preflight(&["example.test".into(), "*.sub.example.test".into()])
        .await
        .unwrap();
    assert_eq!(
        line,
        "azure: service principal 5d2e0c11-0000-4000-8000-00000000bbbb accepted; example.test in \
         zone example.test, sub.example.test in zone sub.example.test"
    );
    let name = "_acme-challenge.sub.example.test";
    let apex = p.present(name, APEX_VALUE).await.unwrap();
    let wild = p.present(name, WILDCARD_VALUE).await.unwrap();
    let sets = fake.sets();
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert_eq!(
        sets[0].values,
        ["the owner's own value", APEX_VALUE, WILDCARD_VALUE]
    );
    assert_eq!(sets[0].ttl, 3600, "the set keeps its TTL");
    p.cleanup(&apex).await.unwrap();
    p.cleanup(&wild).await.unwrap();
    p.cleanup(&wild).await.unwrap();
    assert_eq!(fake.sets()[0].values, ["the owner's own value"]);

    let h = p
        .present("_acme-challenge.example.test", APEX_VALUE)
        .await
        .unwrap();
    assert_eq!(fake.sets()[1].group, "dns1");
    assert_eq!(fake.sets()[1].ttl, 60);
    p.cleanup(&h).await.unwrap();
    assert_eq!(fake.sets().len(), 1, "the last value gone deletes the set");
    let tokens = fake
        .requests()
        .iter()
        .filter(|(_, p)| p.starts_with("/login/"))
        .count();
    assert_eq!(tokens, 1);

    let err = p
        .present("_acme-challenge.other.test", APEX_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no dns_azure_zoneN in azure.ini maps _acme-challenge.other.test"),
        "{err}"
    );
}

#[tokio::test]
async fn azure_managed_identity_gets_its_token_from_the_metadata_service() {
    let fake = FakeAzure::start(&[("dns1", "example.test")], None).await;
    let ini = format!(
        "dns_azure_msi_client_id = {}\ndns_azure_zone1 = example.test:/subscriptions/{SUBSCRIPTION}/resourceGroups/dns1\n\
         dns_azure_endpoint = {}\ndns_azure_msi_endpoint = {}\n",
        fake_azure::MSI_CLIENT_ID, fake.endpoint, fake.msi
    );
    let (_d, p) = with_ini("azure", &ini);
    let p = p.unwrap();
    let h = p
        .present("_acme-challenge.example.test", APEX_VALUE)
        .await
        .unwrap();
    assert_eq!(fake.sets()[0].values, [APEX_VALUE]);
    p.cleanup(&h).await.unwrap();
    assert!(fake.sets().is_empty());
    assert!(fake
        .requests()
        .iter()
        .any(|(_, p)| p.starts_with("/msi/token?api-version=2018-02-01&resource=")));

    // A zone mapped to the wrong resource group.
    let ini = ini.replace("resourceGroups/dns1", "resourceGroups/other");
    let (_d, p) = with_ini("azure", &ini);
    let err = p
        .unwrap()
        .preflight(&["example.test".into()])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no DNS zone example.test in resource group /subscriptions/")
            && err.contains("(dns_azure_zoneN in azure.ini)"),
        "{err}"
    );
}

#[tokio::test]
async fn azure_refuses_the_template_and_names_a_wrong_secret() {
    let (d, p) = with_ini("azure", include_str!("../dns-conf/azure.ini"));
    assert_eq!(
        p.err().unwrap().to_string(),
        format!(
            "azure: {}/dns-conf/azure.ini:5: dns_azure_sp_client_id still holds the template's \
             placeholder value: replace it with your service principal's application (client) id",
            d.path().display()
        )
    );
    let fake = FakeAzure::start(&[("dns1", "example.test")], None).await;
    let ini = fake
        .sp_ini("example.test", "dns1")
        .replace(fake_azure::SECRET, "wrong-secret-value");
    let (_d, p) = with_ini("azure", &ini);
    let err = p.unwrap().preflight(&[]).await.unwrap_err().to_string();
    assert!(
        err.contains("AADSTS7000215: Invalid client secret provided.")
            && err.contains("check dns_azure_sp_client_secret (it may have expired) in azure.ini"),
        "{err}"
    );
    assert!(!err.contains("wrong-secret-value"), "{err}");
    let ini = "dns_azure_msi_system_assigned = true
dns_azure_zone1 = example.test
";
    let (_d, p) = with_ini("azure", ini);
    let err = p.err().unwrap().to_string();
    assert!(
        err.contains("azure.ini:2: dns_azure_zone1 has no `:`"),
        "{err}"
    );
}

#[tokio::test]
async fn azure_service_principal_signs_in_with_its_certificate() {
    let fake = FakeAzure::start(&[("dns1", "example.test")], None).await;
    let pem = fake_azure::certificate_file(fake_azure::CERT_KEY_PEM);
    let ini = fake.cert_ini("azure-app.pem", "example.test", "dns1");
    let (_d, p) = with_files("azure", &[("azure.ini", &ini), ("azure-app.pem", &pem)]);
    let p = p.unwrap();
    let line = p.preflight(&["example.test".into()]).await.unwrap();
    assert_eq!(
        line,
        "azure: service principal 5d2e0c11-0000-4000-8000-00000000bbbb (certificate) accepted; \
         example.test in zone example.test"
    );
    let h = p
        .present("_acme-challenge.example.test", APEX_VALUE)
        .await
        .unwrap();
    assert_eq!(fake.sets()[0].values, [APEX_VALUE]);
    p.cleanup(&h).await.unwrap();
    assert!(fake.sets().is_empty(), "{:?}", fake.sets());
    // One sign-in, reused by every call after it.
    assert_eq!(fake.assertions().len(), 1, "{:?}", fake.requests());

    // A certificate the application does not have: the key to fix is named.
    let other = fake_azure::certificate_file(fake_azure::OTHER_KEY_PEM);
    let (_d, p) = with_files("azure", &[("azure.ini", &ini), ("azure-app.pem", &other)]);
    let err = p.unwrap().preflight(&[]).await.unwrap_err().to_string();
    assert!(
        err.contains(
            "AADSTS700027: The certificate with identifier used to sign the client \
                      assertion is not registered on application."
        ) && err.contains("check dns_azure_sp_certificate_path"),
        "{err}"
    );
    assert!(!err.contains("PRIVATE KEY"), "{err}");
    assert_eq!(fake.assertions().len(), 1);

    // A file with the key but no certificate, and a path that is not there.
    let (d, p) = with_files(
        "azure",
        &[
            ("azure.ini", &ini),
            ("azure-app.pem", fake_azure::CERT_KEY_PEM),
        ],
    );
    let err = p.err().unwrap().to_string();
    assert!(
        err.contains(&format!(
            "azure.ini:2: dns_azure_sp_certificate_path: {}/dns-conf/azure-app.pem: no \
             -----BEGIN CERTIFICATE----- in it",
            d.path().display()
        )),
        "{err}"
    );
    let (_d, p) = with_ini("azure", &ini);
    let err = p.err().unwrap().to_string();
    assert!(
        err.contains("azure.ini:2: dns_azure_sp_certificate_path: cannot read ")
            && err.contains("azure-app.pem"),
        "{err}"
    );
}
