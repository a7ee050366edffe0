//! Webhook management as the contract describes it (issue 2, items 3 and 4): create with
//! its defaults, list, get, change every field, delete; the basic-auth password is
//! write-only and survives a change that leaves it out; every validation rule answers 400
//! in the error shape naming the field; private targets are refused unless allowed; an
//! account sees only its own webhooks; a missing or wrong key is a JSON 401.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::checks::{assert_error, id_of, keys, sorted, ALL_EVENTS};
use crate::support::{event, Receiver, TestServer, TEST_API_KEY};

/// The contract's fields, plus `disableAt` (when a failing webhook will be disabled), which
/// this engine adds.
const WEBHOOK_FIELDS: [&str; 14] = [
    "id",
    "name",
    "targetUrl",
    "source",
    "events",
    "auth",
    "status",
    "disabledReason",
    "health",
    "failingSince",
    "disableAt",
    "lastSuccessAt",
    "createdAt",
    "updatedAt",
];

fn is_rfc3339(value: &Value) -> bool {
    value.as_str().is_some_and(chrono_like)
}

/// `2026-12-03T10:00:00Z` or with fractional seconds / an offset.
fn chrono_like(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && b[16] == b':'
}

#[actix_rt::test]
async fn create_answers_201_with_the_contract_defaults() {
    let server = TestServer::start(|_| {}).await;
    let res = server
        .api
        .post("/v1/webhooks", &json!({ "name": "Orders stream", "targetUrl": "https://example.com/hooks/mail" }))
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert!(res.content_type.as_deref().unwrap_or("").starts_with("application/json"));
    let w = &res.body;
    assert_eq!(keys(w), sorted(&WEBHOOK_FIELDS), "{w}");
    assert!(w["id"].as_str().unwrap().starts_with("wh_"), "{w}");
    assert_eq!(w["name"], "Orders stream");
    assert_eq!(w["targetUrl"], "https://example.com/hooks/mail");
    assert_eq!(w["source"], "all");
    assert_eq!(w["events"], json!(ALL_EVENTS));
    assert_eq!(w["auth"], json!({ "type": "none" }));
    assert_eq!(w["status"], "enabled");
    assert_eq!(w["disabledReason"], Value::Null);
    assert_eq!(w["health"], "healthy");
    assert_eq!(w["disableAt"], Value::Null);
    assert_eq!(w["failingSince"], Value::Null);
    assert_eq!(w["lastSuccessAt"], Value::Null);
    assert!(is_rfc3339(&w["createdAt"]) && is_rfc3339(&w["updatedAt"]), "{w}");
}

#[actix_rt::test]
async fn list_and_get_show_the_created_webhooks() {
    let server = TestServer::start(|_| {}).await;
    let api = &server.api;
    assert_eq!(api.get("/v1/webhooks").await.body, json!({ "data": [] }));
    let a = api.create_webhook("a", "https://example.com/a").await;
    let b = api.create_webhook("b", "https://example.com/b").await;
    let list = api.get("/v1/webhooks").await;
    assert_eq!(list.status, 200);
    assert_eq!(keys(&list.body), ["data"]);
    let mut data = list.body["data"].as_array().unwrap().clone();
    data.sort_by_key(|w| w["name"].as_str().unwrap().to_owned());
    assert_eq!(data, vec![a.clone(), b.clone()]);
    let got = api.get(&format!("/v1/webhooks/{}", id_of(&a))).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, a);
}

#[actix_rt::test]
async fn patch_changes_each_field_and_only_that_field() {
    let server = TestServer::start(|_| {}).await;
    let api = &server.api;
    let created = api.create_webhook("before", "https://example.com/before").await;
    let path = format!("/v1/webhooks/{}", id_of(&created));
    let mut expected = created.clone();
    let changes = [
        ("name", json!("after")),
        ("targetUrl", json!("https://example.org/after?x=1")),
        ("source", json!("marketing")),
        ("events", json!(["click", "open"])),
        ("auth", json!({ "type": "basic", "username": "hook-user", "password": "pw" })),
        ("status", json!("disabled")),
        ("status", json!("enabled")),
        ("auth", json!({ "type": "none" })),
        ("source", json!("all")),
    ];
    for (field, value) in changes {
        let res = api.patch(&path, &json!({ field: value.clone() })).await;
        assert_eq!(res.status, 200, "patch {field}: {}", res.text);
        expected[field] = match field {
            // Events come back in the API's order; the password never comes back.
            "events" => json!(["open", "click"]),
            "auth" if value["type"] == "basic" => json!({ "type": "basic", "username": "hook-user" }),
            _ => value,
        };
        expected["disabledReason"] = if expected["status"] == "disabled" { json!("manual") } else { Value::Null };
        expected["updatedAt"] = res.body["updatedAt"].clone();
        assert_eq!(res.body, expected, "after patching {field}");
        assert_eq!(api.get(&path).await.body, expected, "get after patching {field}");
    }
    assert_eq!(expected["createdAt"], created["createdAt"]);
}

#[actix_rt::test]
async fn the_password_is_write_only_and_a_patch_without_it_keeps_it() {
    const PASSWORD: &str = "s3cret-Pa55word";
    let receiver = Receiver::start();
    let server = TestServer::start(|_| {}).await;
    let api = &server.api;
    let res = api
        .post(
            "/v1/webhooks",
            &json!({
                "name": "with auth",
                "targetUrl": receiver.url("/hook"),
                "auth": { "type": "basic", "username": "first-user", "password": PASSWORD },
            }),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.body["auth"], json!({ "type": "basic", "username": "first-user" }));
    let id = id_of(&res.body);
    let path = format!("/v1/webhooks/{id}");

    // Change the username only: the stored password stays.
    let patched = api.patch(&path, &json!({ "auth": { "type": "basic", "username": "second-user" } })).await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["auth"], json!({ "type": "basic", "username": "second-user" }));

    let mut answers = vec![res.text, patched.text, api.get(&path).await.text, api.get("/v1/webhooks").await.text];
    api.ingest(&json!([event("open", "auth-1")])).await;
    let received = receiver.wait_for_count_async(1, Duration::from_secs(10)).await;
    let expected =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("second-user:{PASSWORD}")));
    assert_eq!(received[0].header("authorization"), Some(expected.as_str()));

    let test = api.request("POST", &format!("{path}/test"), None, None).await;
    assert_eq!(test.status, 200, "{}", test.text);
    answers.push(test.text);
    let batches = api.get(&format!("{path}/batches")).await;
    answers.push(batches.text);
    for answer in answers {
        assert!(!answer.contains(PASSWORD), "the password leaked into an answer: {answer}");
    }
    // Basic auth on create needs a password.
    let res = api
        .post(
            "/v1/webhooks",
            &json!({ "name": "x", "targetUrl": receiver.url("/"), "auth": { "type": "basic", "username": "u" } }),
        )
        .await;
    assert_error(&res, 400, "validation_failed", "basic auth without a password on create");
}

#[actix_rt::test]
async fn delete_answers_204_and_then_the_webhook_is_gone() {
    let server = TestServer::start(|_| {}).await;
    let api = &server.api;
    let keep = api.create_webhook("keep", "https://example.com/keep").await;
    let gone = api.create_webhook("gone", "https://example.com/gone").await;
    let path = format!("/v1/webhooks/{}", id_of(&gone));
    let res = api.delete(&path).await;
    assert_eq!(res.status, 204, "{}", res.text);
    assert!(res.text.is_empty(), "204 with a body: {}", res.text);
    assert_error(&api.get(&path).await, 404, "not_found", "get after delete");
    assert_error(&api.delete(&path).await, 404, "not_found", "second delete");
    assert_error(&api.patch(&path, &json!({ "name": "x" })).await, 404, "not_found", "patch after delete");
    assert_eq!(api.get("/v1/webhooks").await.body["data"], json!([keep]));
}

#[actix_rt::test]
async fn invalid_input_is_refused_with_the_field_named() {
    let server = TestServer::start(|_| {}).await;
    let api = &server.api;
    let ok = json!({ "name": "ok", "targetUrl": "https://example.com/hook" });
    let with = |field: &str, value: Value| {
        let mut body = ok.clone();
        body[field] = value;
        body
    };
    let too_long_url = format!("https://example.com/{}", "a".repeat(2049 - "https://example.com/".len()));
    assert_eq!(too_long_url.len(), 2049);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("empty name", with("name", json!("")), "name"),
        ("101-character name", with("name", json!("n".repeat(101))), "name"),
        ("name not a string", with("name", json!(5)), "name"),
        ("missing name", json!({ "targetUrl": "https://example.com/hook" }), "name"),
        ("missing targetUrl", json!({ "name": "x" }), "targetUrl"),
        ("not a URL", with("targetUrl", json!("not a url")), "targetUrl"),
        ("relative URL", with("targetUrl", json!("/hooks/mail")), "targetUrl"),
        ("ftp URL", with("targetUrl", json!("ftp://example.com/hook")), "targetUrl"),
        ("URL over 2048 characters", with("targetUrl", json!(too_long_url)), "targetUrl"),
        ("unknown event type", with("events", json!(["open", "opened"])), "events"),
        ("empty events", with("events", json!([])), "events"),
        ("events not a list", with("events", json!("open")), "events"),
        ("bogus status", with("status", json!("paused")), "status"),
        ("unknown field", with("colour", json!("blue")), "colour"),
        ("unknown auth type", with("auth", json!({ "type": "bearer", "token": "t" })), "auth"),
    ];
    for (what, body, field) in &cases {
        let res = api.post("/v1/webhooks", body).await;
        assert_eq!(res.status, 400, "create with {what}: {}", res.text);
        assert!(
            matches!(res.error_code(), Some("validation_failed" | "invalid_request")),
            "create with {what}: {}",
            res.text
        );
        assert_error(&res, 400, res.error_code().unwrap(), what);
        let named = res.body["error"]["details"]["field"].as_str().unwrap_or_default();
        assert!(named == *field || named.starts_with(&format!("{field}.")), "create with {what}: {}", res.text);
    }
    // Exactly at the limits is fine.
    let max_url = format!("https://example.com/{}", "a".repeat(2048 - "https://example.com/".len()));
    let res = api.post("/v1/webhooks", &json!({ "name": "n".repeat(100), "targetUrl": max_url })).await;
    assert_eq!(res.status, 201, "100-char name and 2048-char URL: {}", res.text);
    let res = api.post("/v1/webhooks", &json!({ "name": "é".repeat(100), "targetUrl": "http://example.com" })).await;
    assert_eq!(res.status, 201, "100 two-byte characters: {}", res.text);

    // The same rules on a change, and a refused change changes nothing.
    let webhook = api.create_webhook("target", "https://example.com/hook").await;
    let path = format!("/v1/webhooks/{}", id_of(&webhook));
    for (what, body, field) in cases.iter().filter(|(what, ..)| !what.starts_with("missing")) {
        let res = api.patch(&path, body).await;
        assert_eq!(res.status, 400, "patch with {what}: {}", res.text);
        assert_error(&res, 400, res.error_code().unwrap_or("?"), what);
        let named = res.body["error"]["details"]["field"].as_str().unwrap_or_default();
        assert!(named == *field || named.starts_with(&format!("{field}.")), "patch with {what}: {}", res.text);
    }
    assert_eq!(api.get(&path).await.body, webhook);
}

#[actix_rt::test]
async fn private_targets_are_refused_unless_allowed() {
    let server = TestServer::start(|config| config.allow_private_targets = false).await;
    let api = &server.api;
    for url in [
        "http://127.0.0.1/hook",
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://2130706433/",
    ] {
        let res = api.post("/v1/webhooks", &json!({ "name": "x", "targetUrl": url })).await;
        assert_error(&res, 400, "target_not_allowed", url);
    }
    let webhook = api.create_webhook("public", "https://93.184.216.34/hook").await;
    let res =
        api.patch(&format!("/v1/webhooks/{}", id_of(&webhook)), &json!({ "targetUrl": "http://10.0.0.1/" })).await;
    assert_error(&res, 400, "target_not_allowed", "patch to a private target");
    assert_eq!(api.get("/v1/webhooks").await.body["data"].as_array().unwrap().len(), 1);

    // The test servers allow them (their receivers are on 127.0.0.1).
    let allowing = TestServer::start(|_| {}).await;
    allowing.api.create_webhook("loopback", "http://127.0.0.1:9/hook").await;
}

#[actix_rt::test]
async fn another_accounts_webhook_answers_404() {
    let receiver = Receiver::start();
    let server = TestServer::start(|_| {}).await;
    let mine = server.api.create_webhook("mine", &receiver.url("/mine")).await;
    let key = server.engine.create_account("other", "other@example.com").await.expect("second account");
    let other = server.api.with_key(Some(&key));
    let theirs = other.create_webhook("theirs", &receiver.url("/theirs")).await;

    for (api, foreign) in [(&server.api, &theirs), (&other, &mine)] {
        let path = format!("/v1/webhooks/{}", id_of(foreign));
        assert_error(&api.get(&path).await, 404, "not_found", "get");
        assert_error(&api.patch(&path, &json!({ "name": "stolen" })).await, 404, "not_found", "patch");
        assert_error(&api.request("POST", &format!("{path}/test"), None, None).await, 404, "not_found", "test");
        assert_error(&api.get(&format!("{path}/batches")).await, 404, "not_found", "batches");
        assert_error(&api.get(&format!("{path}/batches/0123456789abcdef01234567")).await, 404, "not_found", "batch");
        assert_error(&api.delete(&path).await, 404, "not_found", "delete");
        let list = api.get("/v1/webhooks").await.body["data"].clone();
        assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
        assert_ne!(list[0]["id"], foreign["id"]);
    }
    // Nothing above reached the receiver or changed the webhooks.
    assert_eq!(receiver.count(), 0);
    assert_eq!(server.api.get(&format!("/v1/webhooks/{}", id_of(&mine))).await.body, mine);
    assert_eq!(other.get(&format!("/v1/webhooks/{}", id_of(&theirs))).await.body, theirs);
}

#[actix_rt::test]
async fn a_missing_or_wrong_key_is_a_json_401() {
    let server = TestServer::start(|_| {}).await;
    let webhook = server.api.create_webhook("x", "https://example.com/").await;
    let path = format!("/v1/webhooks/{}", id_of(&webhook));
    for (what, api) in [
        ("no key", server.api.with_key(None)),
        ("wrong key", server.api.with_key(Some("not-the-key-0123456789"))),
        ("empty key", server.api.with_key(Some(""))),
    ] {
        assert_error(&api.get("/v1/webhooks").await, 401, "unauthorized", what);
        assert_error(&api.get(&path).await, 401, "unauthorized", what);
        assert_error(
            &api.post("/v1/webhooks", &json!({ "name": "x", "targetUrl": "https://a.example/" })).await,
            401,
            "unauthorized",
            what,
        );
        assert_error(&api.post("/v1/events", &json!([event("open", "m")])).await, 401, "unauthorized", what);
        assert_error(&api.delete(&path).await, 401, "unauthorized", what);
    }
    // The key under another scheme is not accepted either.
    let mut res = awc::Client::default()
        .get(server.api.url("/v1/webhooks"))
        .insert_header(("Authorization", format!("Basic {TEST_API_KEY}")))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 401);
    let body: Value = serde_json::from_slice(&res.body().await.expect("body")).expect("JSON body");
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(server.api.get(&path).await.body, webhook, "nothing changed");
    // /healthz needs no key.
    let health = server.api.with_key(None).get("/healthz").await;
    assert_eq!((health.status, health.body), (200, json!({ "status": "ok" })));
}
