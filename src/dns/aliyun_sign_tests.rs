//! The published vectors from `reference/aliyun-dns.md`.

use super::*;

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn vector_a(timestamp_key: &str) -> Vec<(String, String)> {
    params(&[
        ("AccessKeyId", "testid"),
        ("Action", "DescribeRegions"),
        ("Format", "XML"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
        ("SignatureVersion", "1.0"),
        (timestamp_key, "2016-02-23T12:46:24Z"),
        ("Version", "2014-05-26"),
    ])
}

#[test]
fn v2_vector_a_official_doc() {
    let p = vector_a("Timestamp");
    assert_eq!(
        canonical_query(&p),
        "AccessKeyId=testid&Action=DescribeRegions&Format=XML&SignatureMethod=HMAC-SHA1&SignatureNonce=3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf&SignatureVersion=1.0&Timestamp=2016-02-23T12%3A46%3A24Z&Version=2014-05-26"
    );
    assert_eq!(
        v2_signature("testsecret", "GET", &p),
        "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    );
}

#[test]
fn v2_vector_a_prime_timestamp_spelled_differently() {
    let p = vector_a("TimeStamp");
    assert_eq!(
        v2_signature("testsecret", "GET", &p),
        "CT9X0VtwR86fNWSnsc6v8YGOjuE="
    );
}

#[test]
fn v2_vector_b_json_with_region() {
    let p = params(&[
        ("AccessKeyId", "testid"),
        ("Action", "DescribeDedicatedHosts"),
        ("Format", "JSON"),
        ("RegionId", "cn-beijing"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", "edb2b34af0af9a6d14deaf7c1a5315eb"),
        ("SignatureVersion", "1.0"),
        ("Timestamp", "2023-03-13T08:34:30Z"),
        ("Version", "2014-05-26"),
    ]);
    assert_eq!(
        v2_signature("testsecret", "GET", &p),
        "9NaGiOspFP5UPcwX8Iwt2YJXXuk="
    );
}

#[test]
fn v2_vector_c_sdk_empty_method() {
    let p = params(&[("test", "ok")]);
    assert_eq!(v2_string_to_sign("", &p), "&%2F&test%3Dok");
    assert_eq!(
        v2_signature("accessKeySecret", "", &p),
        "jHx/oHoHNrbVfhncHEvPdHXZwHU="
    );
}

#[test]
fn v2_vector_d_alidns_add_record_sorts_ttl_before_timestamp_before_type() {
    let p = params(&[
        ("AccessKeyId", "testid"),
        ("Action", "AddDomainRecord"),
        ("DomainName", "example.com"),
        ("Format", "JSON"),
        ("RR", "_acme-challenge.www"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", "9b7a1a6e-5b8c-4c1e-9d3f-2a6b7c8d9e0f"),
        ("SignatureVersion", "1.0"),
        ("TTL", "600"),
        ("Timestamp", "2024-05-01T12:00:00Z"),
        ("Type", "TXT"),
        ("Value", "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"),
        ("Version", "2015-01-09"),
    ]);
    assert!(canonical_query(&p).contains("&TTL=600&Timestamp=2024-05-01T12%3A00%3A00Z&Type=TXT&"));
    assert_eq!(
        v2_signature("testsecret", "GET", &p),
        "LsxRcANnqvfhM7yU1TZXgKd1tZA="
    );
}

#[test]
fn percent_encoding_leaves_only_unreserved_bare() {
    assert_eq!(percent_encode(" ~/*-+"), "%20~%2F%2A-%2B");
    assert_eq!(percent_encode("中 文+~*"), "%E4%B8%AD%20%E6%96%87%2B~%2A");
}

#[test]
fn v3_official_vector() {
    let query = params(&[
        (
            "ImageId",
            "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
        ),
        ("RegionId", "cn-shanghai"),
    ]);
    let body = sha256_hex(b"");
    assert_eq!(
        body,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let headers = params(&[
        ("host", "ecs.cn-shanghai.aliyuncs.com"),
        ("x-acs-action", "RunInstances"),
        ("x-acs-version", "2014-05-26"),
        ("x-acs-date", "2023-10-26T10:22:32Z"),
        ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
        ("x-acs-content-sha256", &body),
    ]);
    let req = V3Request {
        method: "POST",
        query: &query,
        headers: &headers,
        body_sha256: &body,
    };
    assert_eq!(
        req.signed_headers(),
        "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
    );
    assert_eq!(
        req.signature("YourAccessKeySecret"),
        "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
    );
    assert!(req
        .authorization("YourAccessKeyId", "YourAccessKeySecret")
        .starts_with("ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;"));
}
