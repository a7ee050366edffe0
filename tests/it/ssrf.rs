//! Outbound safety (issue 4, item 3). With private targets not allowed:
//!
//! - create and PATCH refuse, with 400 `target_not_allowed`, a target whose host is a
//!   loopback, private, link-local, CGNAT, unique-local, IPv4-mapped, unspecified or
//!   multicast address written in any literal form (dotted, decimal, hex, octal, short,
//!   bracketed IPv6, mapped) or a name that resolves to one (`localhost`); nothing is
//!   stored by a refused request, and a public literal is accepted;
//! - the check is made again at connect time: a webhook whose stored target points at a
//!   local receiver (saved while private targets were allowed) never reaches it, neither
//!   by a literal address nor by a name the delivery client resolves; its batches and its
//!   test batch are recorded with an error saying the target is not allowed;
//! - redirects are never followed, whether private targets are allowed or not.
//!
//! No test here sends anything to a non-loopback address: the public literal is only
//! saved, on a disabled webhook that is deleted again.

use std::time::Duration;

use serde_json::{json, Value};

use crate::checks::{assert_error, batch_detail, id_of, wait_newest_batch};
use crate::support::{event, Behaviour, Receiver, TestServer};

const SOON: Duration = Duration::from_secs(10);

/// Hosts (as written in a URL) that must be refused, with what they are.
const FORBIDDEN_HOSTS: [(&str, &str); 19] = [
    ("127.0.0.1", "loopback"),
    ("2130706433", "loopback, decimal"),
    ("0x7f000001", "loopback, hex"),
    ("0177.0.0.1", "loopback, octal"),
    ("127.1", "loopback, short form"),
    ("[::1]", "IPv6 loopback"),
    ("[::ffff:127.0.0.1]", "IPv4-mapped loopback"),
    ("[::ffff:7f00:1]", "IPv4-mapped loopback, hex"),
    ("10.0.0.1", "private 10/8"),
    ("172.16.0.1", "private 172.16/12"),
    ("192.168.0.1", "private 192.168/16"),
    ("169.254.169.254", "link-local (cloud metadata)"),
    ("100.64.0.1", "CGNAT"),
    ("[fc00::1]", "unique-local IPv6"),
    ("[fe80::1]", "link-local IPv6"),
    ("0.0.0.0", "unspecified"),
    ("[::]", "IPv6 unspecified"),
    ("224.0.0.1", "multicast"),
    ("localhost", "a name that resolves to loopback"),
];

fn guarded_server() -> impl FnOnce(&mut mailhooks::Config) {
    |config| config.allow_private_targets = false
}

#[actix_rt::test]
async fn ssrf_create_refuses_internal_targets_in_every_literal_form() {
    let server = TestServer::start(guarded_server()).await;
    let api = &server.api;
    for (host, what) in FORBIDDEN_HOSTS {
        for url in [format!("http://{host}/hook"), format!("https://{host}:8443/hook?x=1")] {
            let res = api.post("/v1/webhooks", &json!({ "name": "internal", "targetUrl": url })).await;
            assert_error(&res, 400, "target_not_allowed", &format!("create with {url} ({what})"));
        }
    }
    assert_eq!(api.get("/v1/webhooks").await.body, json!({ "data": [] }), "a refused create stored something");
}

#[actix_rt::test]
async fn ssrf_patch_refuses_internal_targets_and_keeps_the_old_one() {
    let server = TestServer::start(guarded_server()).await;
    let api = &server.api;
    // Saved disabled and never sent anything: this test must not reach a public address.
    let created = api
        .post(
            "/v1/webhooks",
            &json!({ "name": "public", "targetUrl": "http://93.184.216.34/hook", "status": "disabled" }),
        )
        .await;
    assert_eq!(created.status, 201, "a public literal is accepted: {}", created.text);
    let path = format!("/v1/webhooks/{}", id_of(&created.body));
    for (host, what) in FORBIDDEN_HOSTS {
        let url = format!("http://{host}:9000/hook");
        let res = api.patch(&path, &json!({ "targetUrl": url, "name": "renamed" })).await;
        assert_error(&res, 400, "target_not_allowed", &format!("patch to {url} ({what})"));
    }
    let after = api.get(&path).await.body;
    assert_eq!(after, created.body, "a refused patch changed the webhook");
    let res = api.patch(&path, &json!({ "targetUrl": "https://93.184.216.34:8443/other" })).await;
    assert_eq!(res.status, 200, "a patch to a public literal is accepted: {}", res.text);
    assert_eq!(res.body["targetUrl"], "https://93.184.216.34:8443/other");
    assert_eq!(api.delete(&path).await.status, 204);
}

/// The (error, responseCode) of every attempt of a batch.
async fn attempts_of(server: &TestServer, webhook_id: &str, batch_id: &str) -> Vec<Value> {
    batch_detail(&server.api, webhook_id, batch_id).await["attempts"].as_array().cloned().unwrap_or_default()
}

fn assert_blocked(attempt: &Value, what: &str) {
    let error = attempt["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("target not allowed"), "{what}: attempt error {error:?} in {attempt}");
    assert_eq!(attempt["responseCode"], Value::Null, "{what}: {attempt}");
    assert_eq!(attempt["responseBody"], Value::Null, "{what}: {attempt}");
}

#[actix_rt::test]
async fn ssrf_a_stored_internal_target_is_refused_again_at_connect_time() {
    let receiver = Receiver::start();
    let server = TestServer::start(|config| {
        config.allow_private_targets = true;
        config.retry_schedule = vec![Duration::from_millis(20), Duration::from_millis(20)];
    })
    .await;
    // Saved while private targets are allowed: one literal address, one name that the
    // delivery client has to resolve itself (the resolver path of the guard).
    let literal = id_of(&server.api.create_webhook("literal", &receiver.url("/literal")).await);
    let by_name =
        id_of(&server.api.create_webhook("by name", &format!("http://localhost:{}/by-name", receiver.port())).await);

    let server = server.restart_with(|config| config.allow_private_targets = false).await;
    server.api.ingest(&json!([event("open", "m-1"), event("click", "m-2")])).await;
    for (id, what) in [(&literal, "literal 127.0.0.1"), (&by_name, "localhost")] {
        let batch = wait_newest_batch(&server.api, id, "failed", SOON).await;
        assert_eq!(batch["eventCount"], 2, "{what}: {batch}");
        let attempts = attempts_of(&server, id, batch["batchId"].as_str().unwrap()).await;
        assert_eq!(attempts.len(), 3, "{what}: the first try and both retries are recorded: {attempts:?}");
        for attempt in &attempts {
            assert_blocked(attempt, what);
        }

        let report = server.api.post(&format!("/v1/webhooks/{id}/test"), &json!({})).await;
        assert_eq!(report.status, 200, "{what}: test batch: {}", report.text);
        assert_eq!(report.body["success"], false, "{what}: {}", report.text);
        assert_eq!(report.body["statusCode"], Value::Null, "{what}: {}", report.text);
        let error = report.body["error"].as_str().unwrap_or_default();
        assert!(error.starts_with("target not allowed"), "{what}: test batch error {error:?}");
        let test_batch = report.body["batchId"].as_str().unwrap();
        let attempts = attempts_of(&server, id, test_batch).await;
        assert_eq!(attempts.len(), 1, "{what}: {attempts:?}");
        assert_blocked(&attempts[0], &format!("{what}, test batch"));
    }
    actix_rt::time::sleep(Duration::from_millis(200)).await;
    let reached = [receiver.requests_to("/literal"), receiver.requests_to("/by-name")].concat();
    assert!(reached.is_empty(), "the guarded engine reached the receiver: {reached:?}");
}

/// Two receivers: the webhook's, which redirects to the other.
fn redirecting_pair() -> (Receiver, Receiver) {
    let elsewhere = Receiver::start();
    let redirecting = Receiver::start();
    redirecting.set_behaviour(Behaviour::Redirect(elsewhere.url("/elsewhere")));
    (redirecting, elsewhere)
}

#[actix_rt::test]
async fn ssrf_redirects_are_never_followed() {
    let (redirecting, elsewhere) = redirecting_pair();
    let server = TestServer::start(|config| config.retry_schedule = vec![Duration::from_secs(3600)]).await;
    let id = id_of(&server.api.create_webhook("redirected", &redirecting.url("/redirected")).await);

    server.api.ingest(&json!([event("open", "m-1")])).await;
    let batch = wait_newest_batch(&server.api, &id, "retrying", SOON).await;
    assert_eq!(batch["responseCode"], 302, "a redirect is a failure: {batch}");
    assert_eq!(batch["error"], "endpoint answered HTTP 302", "{batch}");

    let report = server.api.post(&format!("/v1/webhooks/{id}/test"), &json!({})).await;
    assert_eq!(report.status, 200, "{}", report.text);
    assert_eq!(report.body["success"], false, "{}", report.text);
    assert_eq!(report.body["statusCode"], 302, "{}", report.text);

    let redirected = redirecting.requests_to("/redirected");
    assert_eq!(redirected.len(), 2, "one batch and one test batch: {redirected:?}");
    actix_rt::time::sleep(Duration::from_millis(200)).await;
    let followed = elsewhere.requests_to("/elsewhere");
    assert!(followed.is_empty(), "the redirect was followed: {followed:?}");
}
