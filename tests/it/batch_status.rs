//! Batch status (issue 2, item 9): `GET /v1/webhooks/{id}/batches` lists newest first with
//! the contract's fields, honours `limit`, pages with `cursor` through every batch once,
//! filters by `status`, and refuses bad parameters in the JSON error shape;
//! `GET …/batches/{batchId}` adds the attempts, and an unknown batch is a 404.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::checks::{assert_error, batch_detail, id_of, is_batch_id, keys, message_ids, sorted};
use crate::support::{event, Api, Behaviour, Receiver, TestServer};

const WAIT: Duration = Duration::from_secs(10);

/// The contract's batch fields. The API may add more (the dashboard reads
/// `attemptCount`), but none of these may be missing.
const BATCH_FIELDS: [&str; 11] = [
    "batchId",
    "status",
    "test",
    "eventCount",
    "retryCount",
    "createdAt",
    "lastAttemptAt",
    "nextAttemptAt",
    "responseCode",
    "responseBody",
    "error",
];

const ATTEMPT_FIELDS: [&str; 6] = ["retryCount", "attemptedAt", "durationMs", "responseCode", "responseBody", "error"];

fn assert_batch_fields(batch: &Value) {
    let present = keys(batch);
    for field in BATCH_FIELDS {
        assert!(present.contains(&field.to_string()), "batch without {field}: {batch}");
    }
    let extra: Vec<&String> = present
        .iter()
        .filter(|k| !BATCH_FIELDS.contains(&k.as_str()) && *k != "attempts" && *k != "attemptCount")
        .collect();
    assert!(extra.is_empty(), "fields outside the contract: {extra:?}");
    assert!(is_batch_id(batch["batchId"].as_str().unwrap_or_default()), "{batch}");
    assert!(["pending", "retrying", "success", "failed"].contains(&batch["status"].as_str().unwrap_or_default()));
    assert!(batch["test"].is_boolean() && batch["eventCount"].is_u64() && batch["retryCount"].is_u64(), "{batch}");
    assert!(batch["createdAt"].is_string(), "{batch}");
}

/// A webhook with `n` successful batches made one after another (one event each), so
/// their creation order is known. Returns the webhook id and the batch ids, oldest first.
async fn webhook_with_batches(api: &Api, receiver: &Receiver, n: usize) -> (String, Vec<String>) {
    let webhook = api.create_webhook("status", &receiver.url("/")).await;
    let id = id_of(&webhook);
    let mut by_message = HashMap::new();
    for i in 0..n {
        api.ingest(&json!([event("open", &format!("s-{i}"))])).await;
        for r in receiver.wait_for_count_async(i + 1, WAIT).await {
            by_message.insert(message_ids(&r)[0].clone(), r.json()["batchId"].as_str().unwrap().to_owned());
        }
    }
    let ids = (0..n).map(|i| by_message[&format!("s-{i}")].clone()).collect();
    api.wait_for(&format!("/v1/webhooks/{id}/batches?status=success&limit=1000"), WAIT, "all recorded", |b| {
        b["data"].as_array().unwrap().len() == n
    })
    .await;
    (id, ids)
}

#[actix_rt::test]
async fn the_list_is_newest_first_with_the_contract_fields() {
    let receiver = Receiver::start();
    let server = TestServer::start(|c| c.batch_linger = Duration::from_millis(10)).await;
    let (webhook, oldest_first) = webhook_with_batches(&server.api, &receiver, 3).await;
    let res = server.api.get(&format!("/v1/webhooks/{webhook}/batches")).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(keys(&res.body), sorted(&["data", "nextCursor"]));
    assert_eq!(res.body["nextCursor"], Value::Null);
    let data = res.body["data"].as_array().unwrap();
    let listed: Vec<&str> = data.iter().map(|b| b["batchId"].as_str().unwrap()).collect();
    let newest_first: Vec<&str> = oldest_first.iter().rev().map(String::as_str).collect();
    assert_eq!(listed, newest_first);
    for batch in data {
        assert_batch_fields(batch);
        assert!(batch.get("attempts").is_none(), "the list has no attempts: {batch}");
        assert_eq!(batch["status"], "success");
        assert_eq!(batch["test"], false);
        assert_eq!(batch["eventCount"], 1);
        assert_eq!(batch["retryCount"], 0);
        assert_eq!(batch["responseCode"], 200);
        assert_eq!(batch["responseBody"], "ok");
        assert_eq!(batch["error"], Value::Null);
        assert_eq!(batch["nextAttemptAt"], Value::Null);
        assert!(batch["lastAttemptAt"].is_string());
    }
}

#[actix_rt::test]
async fn limit_and_cursor_page_through_every_batch_once() {
    let receiver = Receiver::start();
    let server = TestServer::start(|c| c.batch_linger = Duration::from_millis(10)).await;
    let (webhook, oldest_first) = webhook_with_batches(&server.api, &receiver, 7).await;
    let newest_first: Vec<String> = oldest_first.into_iter().rev().collect();

    let first = server.api.get(&format!("/v1/webhooks/{webhook}/batches?limit=1")).await;
    assert_eq!(first.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(first.body["data"][0]["batchId"], newest_first[0]);

    for limit in [2, 3, 7] {
        let mut seen = Vec::new();
        let mut pages = 0;
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/webhooks/{webhook}/batches?limit={limit}&cursor={c}"),
                None => format!("/v1/webhooks/{webhook}/batches?limit={limit}"),
            };
            let page = server.api.get(&path).await;
            assert_eq!(page.status, 200, "{}", page.text);
            let data = page.body["data"].as_array().unwrap();
            assert!(data.len() <= limit, "limit {limit}: a page of {}", data.len());
            seen.extend(data.iter().map(|b| b["batchId"].as_str().unwrap().to_owned()));
            pages += 1;
            assert!(pages <= 10, "paging does not end");
            match page.body["nextCursor"].as_str() {
                Some(next) => {
                    assert_eq!(data.len(), limit, "a short page with a next cursor");
                    cursor = Some(next.to_owned());
                }
                None => break,
            }
        }
        assert_eq!(seen, newest_first, "limit {limit}: every batch once, newest first");
        assert_eq!(pages, 7usize.div_ceil(limit), "limit {limit}");
    }
}

#[actix_rt::test]
async fn the_status_filter_and_the_batch_detail() {
    let receiver = Receiver::start();
    let server = TestServer::start(|c| {
        c.batch_linger = Duration::from_millis(10);
        c.retry_schedule = vec![Duration::from_millis(50), Duration::from_secs(3600)];
    })
    .await;
    let (webhook, succeeded) = webhook_with_batches(&server.api, &receiver, 2).await;
    receiver.set_behaviour(Behaviour::Status(500, "broken".into()));
    server.api.ingest(&json!([event("open", "f-1"), event("click", "f-2")])).await;
    // The first attempt and the 50 ms retry both fail; the next retry is an hour away.
    let got = receiver.wait_for_count_async(4, WAIT).await;
    let failing = got[2].json()["batchId"].as_str().unwrap().to_owned();
    let path = format!("/v1/webhooks/{webhook}/batches");
    server
        .api
        .wait_for(&format!("{path}?status=retrying"), WAIT, "the retry recorded", |b| b["data"][0]["retryCount"] == 1)
        .await;

    let only = |status: &str| {
        let api = server.api.clone();
        let path = format!("{path}?status={status}");
        async move {
            let res = api.get(&path).await;
            assert_eq!(res.status, 200, "{}", res.text);
            res.body["data"].as_array().unwrap().iter().map(|b| b["batchId"].as_str().unwrap().to_owned()).collect()
        }
    };
    let success: Vec<String> = only("success").await;
    assert_eq!(success, succeeded.iter().rev().cloned().collect::<Vec<_>>());
    assert_eq!(only("retrying").await, vec![failing.clone()]);
    assert!(only("failed").await.is_empty());
    assert!(only("pending").await.is_empty());

    let detail = batch_detail(&server.api, &webhook, &failing).await;
    assert_batch_fields(&detail);
    assert_eq!(detail["status"], "retrying");
    assert_eq!(detail["eventCount"], 2);
    assert_eq!(detail["retryCount"], 1);
    assert_eq!(detail["responseCode"], 500);
    assert_eq!(detail["responseBody"], "broken");
    assert!(detail["error"].is_string() && detail["nextAttemptAt"].is_string(), "{detail}");
    let attempts = detail["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{detail}");
    for (n, attempt) in attempts.iter().enumerate() {
        assert_eq!(keys(attempt), sorted(&ATTEMPT_FIELDS), "{attempt}");
        assert_eq!(attempt["retryCount"], n);
        assert!(attempt["attemptedAt"].is_string() && attempt["durationMs"].is_u64(), "{attempt}");
        assert_eq!(attempt["responseCode"], 500);
        assert_eq!(attempt["responseBody"], "broken");
        assert!(attempt["error"].is_string());
    }
    assert!(attempts[0]["attemptedAt"].as_str() <= attempts[1]["attemptedAt"].as_str());
    assert_eq!(detail["lastAttemptAt"], attempts[1]["attemptedAt"]);

    let ok = batch_detail(&server.api, &webhook, &succeeded[0]).await;
    assert_batch_fields(&ok);
    let attempts = ok["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (attempts[0]["retryCount"].clone(), attempts[0]["responseCode"].clone(), attempts[0]["error"].clone()),
        (json!(0), json!(200), Value::Null)
    );
    assert_eq!(attempts[0]["responseBody"], "ok");
}

#[actix_rt::test]
async fn bad_parameters_and_unknown_batches_are_refused() {
    let receiver = Receiver::start();
    let server = TestServer::start(|c| c.batch_linger = Duration::from_millis(10)).await;
    let (webhook, batches) = webhook_with_batches(&server.api, &receiver, 1).await;
    let path = format!("/v1/webhooks/{webhook}/batches");
    for query in [
        "limit=0",
        "limit=1001",
        "limit=x",
        "limit=-1",
        "limit=1.5",
        "limit=",
        "status=bogus",
        "status=SUCCESS",
        "cursor=not-a-cursor",
    ] {
        let res = server.api.get(&format!("{path}?{query}")).await;
        assert_error(&res, 400, res.error_code().unwrap_or("?"), query);
        assert!(matches!(res.error_code(), Some("invalid_request" | "validation_failed")), "{query}: {}", res.text);
    }
    let res = server.api.get(&format!("{path}?limit=1000")).await;
    assert_eq!(res.status, 200, "limit=1000 is allowed: {}", res.text);

    assert_error(&server.api.get(&format!("{path}/0123456789abcdef01234567")).await, 404, "not_found", "unknown");
    assert_error(&server.api.get(&format!("{path}/not-even-hex")).await, 404, "not_found", "malformed id");
    // Another webhook's batch is not found under this one.
    let other = server.api.create_webhook("other", &receiver.url("/other")).await;
    let res = server.api.get(&format!("/v1/webhooks/{}/batches/{}", id_of(&other), batches[0])).await;
    assert_error(&res, 404, "not_found", "another webhook's batch");
    assert_error(
        &server.api.get("/v1/webhooks/wh_000000000000000000000000/batches").await,
        404,
        "not_found",
        "unknown webhook",
    );
}
