//! "Send Test Batch" (issue 2, item 10): `POST /v1/webhooks/{id}/test` delivers the nine
//! documented sample events with the webhook's auth and `retryCount` 0, answers 200 with
//! the contract's report for a success and for a failure, works on a disabled webhook, and
//! the batch shows in batch status with `test: true`.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::checks::{batch_detail, id_of, is_batch_id, keys, sorted, ALL_EVENTS};
use crate::support::{event, refused_url, Api, Behaviour, Receiver, TestServer};

/// The documented sample batch the engine embeds.
const SAMPLE: &str = include_str!("../../src/delivery/sample-batch.json");

const REPORT_FIELDS: [&str; 7] = ["success", "message", "batchId", "statusCode", "responseBody", "error", "durationMs"];

async fn send_test(api: &Api, webhook_id: &str) -> Value {
    let res = api.request("POST", &format!("/v1/webhooks/{webhook_id}/test"), None, None).await;
    assert_eq!(res.status, 200, "test: {}", res.text);
    assert_eq!(keys(&res.body), sorted(&REPORT_FIELDS), "{}", res.text);
    assert!(is_batch_id(res.body["batchId"].as_str().unwrap_or_default()), "{}", res.text);
    assert!(res.body["durationMs"].is_u64(), "{}", res.text);
    res.body
}

#[actix_rt::test]
async fn a_test_batch_sends_the_nine_samples_with_the_webhooks_auth() {
    let receiver = Receiver::start();
    let server = TestServer::start(|_| {}).await;
    let res = server
        .api
        .post(
            "/v1/webhooks",
            &json!({
                "name": "tested",
                "targetUrl": receiver.url("/hook"),
                "events": ["open"],
                "auth": { "type": "basic", "username": "tester", "password": "pw-123" },
            }),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let webhook = id_of(&res.body);

    let report = send_test(&server.api, &webhook).await;
    assert_eq!(report["success"], true);
    assert_eq!(report["message"], "Success send test notification");
    assert_eq!(report["statusCode"], 200);
    assert_eq!(report["responseBody"], "ok");
    assert_eq!(report["error"], Value::Null);

    // The answer came after the delivery: the receiver already has it.
    let got = receiver.requests();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    let basic = base64::engine::general_purpose::STANDARD.encode("tester:pw-123");
    assert_eq!(r.header("authorization"), Some(format!("Basic {basic}").as_str()));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("user-agent").unwrap_or_default().starts_with("mailhooks/"));
    let body = r.json();
    assert_eq!(keys(&body), sorted(&["batchId", "retryCount", "events"]));
    assert_eq!(body["batchId"], report["batchId"]);
    assert_eq!(body["retryCount"], 0);
    let sample: Value = serde_json::from_str(SAMPLE).unwrap();
    assert_eq!(body["events"], sample["events"], "the documented sample events");
    // One of each type, whatever the webhook's own event filter.
    let mut types: Vec<&str> =
        body["events"].as_array().unwrap().iter().map(|e| e["status"].as_str().unwrap()).collect();
    types.sort();
    let mut all = ALL_EVENTS.to_vec();
    all.sort();
    assert_eq!(types, all);

    let batches = server.api.batches(&webhook).await;
    assert_eq!(batches.len(), 1);
    let batch = &batches[0];
    assert_eq!(batch["batchId"], report["batchId"]);
    assert_eq!(batch["test"], true);
    assert_eq!(batch["status"], "success");
    assert_eq!(batch["eventCount"], 9);
    assert_eq!(batch["retryCount"], 0);
    assert_eq!(batch["responseCode"], 200);
    let detail = batch_detail(&server.api, &webhook, report["batchId"].as_str().unwrap()).await;
    assert_eq!(detail["attempts"].as_array().unwrap().len(), 1);
    let test_only = server.api.get(&format!("/v1/webhooks/{webhook}/batches?status=success")).await;
    assert_eq!(test_only.body["data"][0]["test"], true);

    // An ordinary batch afterwards is not a test batch.
    server.api.ingest(&json!([event("open", "real")])).await;
    receiver.wait_for_count_async(2, Duration::from_secs(10)).await;
    let list = server
        .api
        .wait_for(&format!("/v1/webhooks/{webhook}/batches"), Duration::from_secs(10), "two batches", |b| {
            b["data"].as_array().unwrap().len() == 2
        })
        .await;
    assert_eq!(list["data"][0]["test"], false);
    assert_eq!(list["data"][1]["test"], true);
}

#[actix_rt::test]
async fn a_failing_endpoint_gets_the_failure_report() {
    let receiver = Receiver::start();
    receiver.set_behaviour(Behaviour::Status(500, "down for maintenance".into()));
    let server = TestServer::start(|_| {}).await;
    let webhook = id_of(&server.api.create_webhook("failing", &receiver.url("/")).await);
    let report = send_test(&server.api, &webhook).await;
    assert_eq!(report["success"], false);
    assert_eq!(report["message"], "Failed send test notification");
    assert_eq!(report["statusCode"], 500);
    assert_eq!(report["responseBody"], "down for maintenance");
    assert!(report["error"].is_string(), "{report}");
    assert_eq!(receiver.count(), 1);
    let batch = &server.api.batches(&webhook).await[0];
    assert_eq!(batch["batchId"], report["batchId"]);
    assert_eq!(batch["test"], true);
    assert_eq!(batch["status"], "failed");
    assert_eq!(batch["responseCode"], 500);

    // Nothing listening at all.
    let gone = id_of(&server.api.create_webhook("refused", &refused_url()).await);
    let report = send_test(&server.api, &gone).await;
    assert_eq!(report["success"], false);
    assert_eq!(report["message"], "Failed send test notification");
    assert_eq!(report["statusCode"], Value::Null);
    assert!(!report["error"].as_str().unwrap_or_default().is_empty(), "{report}");

    // A test batch is not retried.
    actix_rt::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.count(), 1);
}

#[actix_rt::test]
async fn a_disabled_webhook_can_still_be_tested() {
    let receiver = Receiver::start();
    let server = TestServer::start(|_| {}).await;
    let res = server
        .api
        .post("/v1/webhooks", &json!({ "name": "off", "targetUrl": receiver.url("/"), "status": "disabled" }))
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let webhook = id_of(&res.body);
    let report = send_test(&server.api, &webhook).await;
    assert_eq!(report["success"], true, "{report}");
    assert_eq!(receiver.count(), 1);
    assert_eq!(server.api.batches(&webhook).await[0]["test"], true);
    // Testing did not enable it.
    let after = server.api.get(&format!("/v1/webhooks/{webhook}")).await;
    assert_eq!(after.body["status"], "disabled");
    assert_eq!(after.body["disabledReason"], "manual");
}
