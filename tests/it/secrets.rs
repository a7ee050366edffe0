//! Secrets: basic-auth passwords are sealed at rest under a key kept outside the
//! database, and neither passwords nor API keys appear in any response or log line — not
//! even at trace level.

use std::time::Duration;

use base64::Engine as _;
use serde_json::json;

use crate::support::{event, Receiver, ServerProcess, TestServer, TEST_API_KEY};

const PASSWORD: &str = "pw-Zq81-never-shown";

#[actix_rt::test]
async fn passwords_are_sealed_in_the_database_and_opened_only_for_the_request() {
    let receiver = Receiver::start();
    let server = TestServer::start(|_| {}).await;
    let res = server
        .api
        .post(
            "/v1/webhooks",
            &json!({"name": "sealed", "targetUrl": receiver.url("/hook"),
                    "auth": {"type": "basic", "username": "hook-user", "password": PASSWORD}}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert!(!res.text.contains(PASSWORD));
    server.api.ingest(&json!([event("open", "m-1")])).await;
    let received = receiver.wait_for_count_async(1, Duration::from_secs(5)).await;
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("hook-user:{PASSWORD}"));
    assert_eq!(received[0].header("authorization"), Some(format!("Basic {expected}").as_str()));

    let key_file = server.path().join("mailhooks.db.key");
    assert!(key_file.exists(), "the generated key is kept beside the database");
    let path = server.path().to_owned();
    let dir = server.dir.clone();
    server.stop().await;
    for name in ["mailhooks.db", "mailhooks.db-wal"] {
        let bytes = std::fs::read(path.join(name)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(PASSWORD), "{name} holds the password in plain text");
        assert!(!text.contains(TEST_API_KEY), "{name} holds the API key in plain text");
    }
    drop(dir);
}

#[actix_rt::test]
async fn a_passphrase_key_survives_restarts_and_the_password_stays_usable() {
    let receiver = Receiver::start();
    let server = TestServer::start(|c| c.secret_key = Some("a long enough test passphrase".into())).await;
    let res = server
        .api
        .post(
            "/v1/webhooks",
            &json!({"name": "sealed", "targetUrl": receiver.url("/hook"),
                    "auth": {"type": "basic", "username": "u", "password": PASSWORD}}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert!(!server.path().join("mailhooks.db.key").exists(), "no key file when a passphrase is given");
    let server = server.restart().await;
    server.api.ingest(&json!([event("open", "m-1")])).await;
    let received = receiver.wait_for_count_async(1, Duration::from_secs(5)).await;
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("u:{PASSWORD}"));
    assert_eq!(received[0].header("authorization"), Some(format!("Basic {expected}").as_str()));
}

#[actix_rt::test]
async fn trace_level_logs_never_contain_a_password_or_an_api_key() {
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let process =
        ServerProcess::start_with_env(&dir.path().join("m.db"), &["--batch-linger", "50ms"], &[("RUST_LOG", "trace")])
            .await;
    let res = process
        .api
        .post(
            "/v1/webhooks",
            &json!({"name": "logged", "targetUrl": receiver.url("/hook"),
                    "auth": {"type": "basic", "username": "u", "password": PASSWORD}}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let id = res.body["id"].as_str().unwrap().to_owned();
    process.api.ingest(&json!([event("open", "m-1")])).await;
    receiver.wait_for_count_async(1, Duration::from_secs(10)).await;
    let test = process.api.post(&format!("/v1/webhooks/{id}/test"), &json!({})).await;
    assert_eq!(test.status, 200);
    // A wrong key and a PATCH with a new password go through the logs too.
    assert_eq!(process.api.with_key(Some("mh_wrong_key_for_logs")).get("/v1/webhooks").await.status, 401);
    let patch = process
        .api
        .patch(
            &format!("/v1/webhooks/{id}"),
            &json!({"auth": {"type": "basic", "username": "u", "password": "pw-2nd-secret"}}),
        )
        .await;
    assert_eq!(patch.status, 200);
    let log = process.log();
    assert!(log.contains("TRACE") || log.contains("DEBUG"), "trace logging was on");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("u:{PASSWORD}"));
    for secret in [PASSWORD, "pw-2nd-secret", TEST_API_KEY, "mh_wrong_key_for_logs", basic.as_str()] {
        assert!(!log.contains(secret), "the log contains {secret:?}");
    }
}
