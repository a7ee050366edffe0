//! Batching and delivery as the contract describes them (issue 2, item 7): size and
//! linger flushing, ingest order, the 24-hex batch id, the request's headers and exact body
//! shape, and how every kind of failure is recorded — a 5xx, a redirect (never followed),
//! an oversized answer (1 KiB kept), a hanging endpoint (cut at the delivery timeout) and a
//! refused connection — and that a retry keeps the batch id and counts up `retryCount`.

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::checks::{all_message_ids, batch_detail, id_of, is_batch_id, keys, message_ids, sorted, wait_newest_batch};
use crate::support::{event, refused_url, Behaviour, Receiver, TestServer};

const WAIT: Duration = Duration::from_secs(10);

fn events(prefix: &str, n: usize) -> Value {
    json!((0..n).map(|i| event("open", &format!("{prefix}-{i}"))).collect::<Vec<_>>())
}

#[actix_rt::test]
async fn full_batches_go_at_once_and_the_rest_after_the_linger() {
    let receiver = Receiver::start();
    let linger = Duration::from_millis(400);
    let server = TestServer::start(|c| {
        c.batch_max_events = 3;
        c.batch_linger = linger;
    })
    .await;
    server.api.create_webhook("batched", &receiver.url("/hook")).await;
    let sent = Instant::now();
    server.api.ingest(&events("m", 7)).await;

    let full = receiver.wait_for_count_async(2, WAIT).await;
    for r in &full {
        assert_eq!(message_ids(r).len(), 3, "a full batch: {}", r.text());
        assert!(r.at.duration_since(sent) < linger, "a full batch waited for the linger");
    }
    let all = receiver.wait_for_count_async(3, WAIT).await;
    let last = &all[2];
    assert_eq!(message_ids(last), ["m-6"]);
    assert!(last.at.duration_since(sent) >= linger.mul_f32(0.9), "the lone event left before the linger");
    // Each batch keeps ingest order, and together they hold every event once.
    let mut batches: Vec<Vec<String>> = all.iter().map(message_ids).collect();
    batches.sort();
    assert_eq!(
        batches,
        [vec!["m-0", "m-1", "m-2"], vec!["m-3", "m-4", "m-5"], vec!["m-6"]]
            .map(|b| b.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    );
    actix_rt::time::sleep(linger).await;
    assert_eq!(receiver.count(), 3, "no extra batch");
}

#[actix_rt::test]
async fn a_lone_event_waits_for_the_linger_and_no_longer() {
    let receiver = Receiver::start();
    let linger = Duration::from_millis(300);
    let server = TestServer::start(|c| c.batch_linger = linger).await;
    server.api.create_webhook("linger", &receiver.url("/hook")).await;
    let sent = Instant::now();
    server.api.ingest(&json!([event("open", "alone")])).await;
    let got = receiver.wait_for_count_async(1, WAIT).await;
    let waited = got[0].at.duration_since(sent);
    assert!(waited >= linger.mul_f32(0.9), "sent after {waited:?}, before the {linger:?} linger");
    assert!(waited < linger + Duration::from_secs(2), "sent only after {waited:?}");
    assert_eq!(message_ids(&got[0]), ["alone"]);
}

#[actix_rt::test]
async fn events_keep_their_order_across_requests_and_batches() {
    let receiver = Receiver::start();
    let server = TestServer::start(|c| {
        c.batch_max_events = 50;
        c.batch_linger = Duration::from_millis(200);
    })
    .await;
    server.api.create_webhook("order", &receiver.url("/hook")).await;
    let mut expected = Vec::new();
    for request in 0..4 {
        let ids: Vec<String> = (0..30).map(|i| format!("r{request}-{i:02}")).collect();
        expected.extend(ids.clone());
        server.api.ingest(&json!(ids.iter().map(|id| event("open", id)).collect::<Vec<_>>())).await;
    }
    let start = Instant::now();
    while all_message_ids(&receiver.requests()).len() < expected.len() {
        assert!(start.elapsed() < WAIT, "only {:?} arrived", all_message_ids(&receiver.requests()).len());
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    for r in receiver.requests() {
        let ids = message_ids(&r);
        let mut in_order = ids.clone();
        in_order.sort();
        assert_eq!(ids, in_order, "a batch out of ingest order");
        assert!(ids.len() <= 50);
    }
    let mut all = all_message_ids(&receiver.requests());
    all.sort();
    assert_eq!(all, expected, "every event exactly once");
}

#[actix_rt::test]
async fn a_delivery_has_the_contract_headers_and_body() {
    let receiver = Receiver::start();
    let server = TestServer::start(|_| {}).await;
    let res = server
        .api
        .post(
            "/v1/webhooks",
            &json!({
                "name": "headers",
                "targetUrl": receiver.url("/hooks/mail?token=abc"),
                "auth": { "type": "basic", "username": "hook-user", "password": "pä:ss word" },
            }),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    server.api.ingest(&json!([event("open", "h-1"), event("click", "h-2")])).await;
    let got = receiver.wait_for_count_async(1, WAIT).await;
    let r = &got[0];
    assert_eq!(r.method, "POST");
    assert_eq!((r.path.as_str(), r.query.as_str()), ("/hooks/mail", "token=abc"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("user-agent"), Some(concat!("mailhooks/", env!("CARGO_PKG_VERSION"))));
    let basic = base64::engine::general_purpose::STANDARD.encode("hook-user:pä:ss word");
    assert_eq!(r.header_all("authorization"), [format!("Basic {basic}").as_str()]);
    let body = r.json();
    assert_eq!(keys(&body), sorted(&["batchId", "retryCount", "events"]), "{body}");
    assert!(is_batch_id(body["batchId"].as_str().unwrap()), "{body}");
    assert_eq!(body["retryCount"], 0);
    assert_eq!(body["events"], json!([event("open", "h-1"), event("click", "h-2")]));
    // The batch in status is the one delivered.
    let batch = wait_newest_batch(&server.api, &id_of(&res.body), "success", WAIT).await;
    assert_eq!(batch["batchId"], body["batchId"]);
    assert_eq!(batch["eventCount"], 2);

    // Without auth there is no Authorization header at all.
    let plain = Receiver::start();
    server.api.create_webhook("no auth", &plain.url("/")).await;
    server.api.ingest(&json!([event("open", "h-3")])).await;
    let got = plain.wait_for_count_async(1, WAIT).await;
    assert_eq!(got[0].header("authorization"), None);
}

#[actix_rt::test]
async fn a_5xx_answer_is_a_failure_recorded_with_its_code_and_body() {
    let receiver = Receiver::start();
    receiver.set_behaviour(Behaviour::Status(500, "upstream exploded".into()));
    let server = TestServer::start(|c| c.retry_schedule = vec![Duration::from_secs(3600)]).await;
    let webhook = server.api.create_webhook("500", &receiver.url("/")).await;
    server.api.ingest(&json!([event("open", "f-1")])).await;
    receiver.wait_for_count_async(1, WAIT).await;
    let batch = wait_newest_batch(&server.api, &id_of(&webhook), "retrying", WAIT).await;
    assert_eq!(batch["responseCode"], 500);
    assert_eq!(batch["responseBody"], "upstream exploded");
    assert!(batch["error"].is_string(), "{batch}");
    assert!(batch["nextAttemptAt"].is_string(), "{batch}");
    let detail = batch_detail(&server.api, &id_of(&webhook), batch["batchId"].as_str().unwrap()).await;
    let attempts = detail["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{detail}");
    assert_eq!(attempts[0]["retryCount"], 0);
    assert_eq!(attempts[0]["responseCode"], 500);
    assert_eq!(attempts[0]["responseBody"], "upstream exploded");
    assert!(attempts[0]["error"].is_string());

    // 4xx is a failure too.
    receiver.set_behaviour(Behaviour::Status(404, "no such hook".into()));
    server.api.ingest(&json!([event("open", "f-2")])).await;
    receiver.wait_for_count_async(2, WAIT).await;
    let path = format!("/v1/webhooks/{}/batches?status=retrying", id_of(&webhook));
    server.api.wait_for(&path, WAIT, "two retrying batches", |b| b["data"].as_array().unwrap().len() == 2).await;
}

#[actix_rt::test]
async fn a_redirect_is_not_followed_and_counts_as_a_failure() {
    let elsewhere = Receiver::start();
    let receiver = Receiver::start();
    receiver.set_behaviour(Behaviour::Redirect(elsewhere.url("/moved")));
    let server = TestServer::start(|c| c.retry_schedule = vec![Duration::from_secs(3600)]).await;
    let webhook = server.api.create_webhook("redirect", &receiver.url("/")).await;
    server.api.ingest(&json!([event("open", "r-1")])).await;
    let batch = wait_newest_batch(&server.api, &id_of(&webhook), "retrying", WAIT).await;
    assert_eq!(batch["responseCode"], 302, "{batch}");
    assert_eq!(receiver.count(), 1);
    assert_eq!(elsewhere.count(), 0, "the redirect was followed");
}

#[actix_rt::test]
async fn at_most_1_kib_of_the_answer_is_kept() {
    let receiver = Receiver::start();
    receiver.set_behaviour(Behaviour::Status(503, "é".repeat(3000)));
    let server = TestServer::start(|c| c.retry_schedule = vec![Duration::from_secs(3600)]).await;
    let webhook = server.api.create_webhook("big answer", &receiver.url("/")).await;
    server.api.ingest(&json!([event("open", "b-1")])).await;
    let batch = wait_newest_batch(&server.api, &id_of(&webhook), "retrying", WAIT).await;
    let kept = batch["responseBody"].as_str().unwrap();
    assert!(kept.len() <= 1024 && kept.len() >= 1022, "kept {} bytes", kept.len());
    assert!(kept.chars().all(|c| c == 'é'), "a split character");

    // A 100 MiB success answer is cut as well, and does not stall the delivery.
    let huge = Receiver::start();
    huge.set_behaviour(Behaviour::HugeBody);
    let webhook = server.api.create_webhook("huge answer", &huge.url("/")).await;
    server.api.ingest(&json!([event("open", "b-2")])).await;
    let batch = wait_newest_batch(&server.api, &id_of(&webhook), "success", WAIT).await;
    assert_eq!(batch["responseCode"], 200);
    assert_eq!(batch["responseBody"].as_str().unwrap(), "x".repeat(1024));
}

#[actix_rt::test]
async fn a_hanging_endpoint_times_out_at_the_delivery_timeout() {
    let receiver = Receiver::start();
    receiver.set_behaviour(Behaviour::Hang);
    let timeout = Duration::from_millis(300);
    let server = TestServer::start(|c| {
        c.delivery_timeout = timeout;
        c.retry_schedule = vec![Duration::from_secs(3600)];
    })
    .await;
    let webhook = server.api.create_webhook("hang", &receiver.url("/")).await;
    // Another webhook on the same server is not held up by the hanging one.
    let healthy = Receiver::start();
    server.api.create_webhook("healthy", &healthy.url("/")).await;
    server.api.ingest(&json!([event("open", "t-1")])).await;
    healthy.wait_for_count_async(1, WAIT).await;

    let batch = wait_newest_batch(&server.api, &id_of(&webhook), "retrying", WAIT).await;
    assert_eq!(batch["responseCode"], Value::Null);
    let error = batch["error"].as_str().unwrap_or_default();
    assert!(error.contains("time"), "{error}");
    let detail = batch_detail(&server.api, &id_of(&webhook), batch["batchId"].as_str().unwrap()).await;
    let duration = detail["attempts"][0]["durationMs"].as_u64().unwrap();
    assert!((280..2000).contains(&duration), "attempt took {duration} ms for a {timeout:?} timeout");
    receiver.stop();
}

#[actix_rt::test]
async fn a_refused_connection_is_recorded_as_an_error() {
    let server = TestServer::start(|c| c.retry_schedule = vec![Duration::from_secs(3600)]).await;
    let webhook = server.api.create_webhook("refused", &format!("{}/hook", refused_url())).await;
    server.api.ingest(&json!([event("open", "c-1")])).await;
    let batch = wait_newest_batch(&server.api, &id_of(&webhook), "retrying", WAIT).await;
    assert_eq!(batch["responseCode"], Value::Null);
    assert_eq!(batch["responseBody"], Value::Null);
    assert!(!batch["error"].as_str().unwrap_or_default().is_empty(), "{batch}");
    let detail = batch_detail(&server.api, &id_of(&webhook), batch["batchId"].as_str().unwrap()).await;
    assert_eq!(detail["attempts"].as_array().unwrap().len(), 1);
    assert!(detail["attempts"][0]["error"].is_string());
}

#[actix_rt::test]
async fn a_retry_keeps_the_batch_id_and_counts_up() {
    let receiver = Receiver::start();
    receiver.set_behaviour(Behaviour::Status(500, "not yet".into()));
    let server =
        TestServer::start(|c| c.retry_schedule = vec![Duration::from_millis(100), Duration::from_millis(100)]).await;
    let webhook = server.api.create_webhook("retry", &receiver.url("/")).await;
    server.api.ingest(&json!([event("open", "x-1"), event("open", "x-2")])).await;
    let first = receiver.wait_for_count_async(1, WAIT).await;
    receiver.set_behaviour(Behaviour::Status(200, "ok".into()));
    let both = receiver.wait_for_count_async(2, WAIT).await;
    let (a, b) = (first[0].json(), both[1].json());
    assert_eq!(a["retryCount"], 0);
    assert_eq!(b["retryCount"], 1);
    assert_eq!(a["batchId"], b["batchId"]);
    assert_eq!(a["events"], b["events"]);
    assert!(both[1].at.duration_since(first[0].at) >= Duration::from_millis(90), "retried before the schedule");

    let batch = wait_newest_batch(&server.api, &id_of(&webhook), "success", WAIT).await;
    assert_eq!(batch["batchId"], a["batchId"]);
    assert_eq!(batch["retryCount"], 1);
    assert_eq!(batch["nextAttemptAt"], Value::Null);
    let detail = batch_detail(&server.api, &id_of(&webhook), batch["batchId"].as_str().unwrap()).await;
    let attempts: Vec<(i64, Option<i64>)> = detail["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["retryCount"].as_i64().unwrap(), a["responseCode"].as_i64()))
        .collect();
    assert_eq!(attempts, [(0, Some(500)), (1, Some(200))]);
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.count(), 2, "a delivered batch is not sent again");
}

#[actix_rt::test]
async fn the_last_retry_failing_makes_the_batch_failed() {
    let receiver = Receiver::start();
    receiver.set_behaviour(Behaviour::Status(500, "never".into()));
    let server = TestServer::start(|c| c.retry_schedule = vec![Duration::from_millis(50); 2]).await;
    let webhook = server.api.create_webhook("exhaust", &receiver.url("/")).await;
    server.api.ingest(&json!([event("open", "z-1")])).await;
    let batch = wait_newest_batch(&server.api, &id_of(&webhook), "failed", WAIT).await;
    assert_eq!(batch["retryCount"], 2);
    assert_eq!(batch["nextAttemptAt"], Value::Null);
    let got = receiver.requests();
    assert_eq!(got.iter().map(|r| r.json()["retryCount"].as_i64().unwrap()).collect::<Vec<_>>(), [0, 1, 2]);
}

#[actix_rt::test]
async fn a_hanging_endpoint_holds_only_its_own_few_deliveries() {
    let hanging = Receiver::start();
    hanging.set_behaviour(Behaviour::Hang);
    let server = TestServer::start(|c| {
        c.batch_max_events = 1;
        c.max_in_flight_per_webhook = 4;
        c.delivery_timeout = Duration::from_secs(30);
    })
    .await;
    server.api.create_webhook("hanging", &hanging.url("/")).await;
    // 150 one-event batches, more than awc's default 100 connections per client.
    server.api.ingest(&events("h", 150)).await;
    hanging.wait_for_count_async(4, WAIT).await;

    let healthy = Receiver::start();
    let webhook = server.api.create_webhook("healthy", &healthy.url("/")).await;
    let res = server
        .api
        .post("/v1/webhooks", &json!({ "name": "clicks", "targetUrl": healthy.url("/c"), "events": ["click"] }))
        .await;
    assert_eq!(res.status, 201);
    for i in 0..5 {
        server.api.ingest(&json!([event("click", &format!("ok-{i}"))])).await;
    }
    // Every click reaches both healthy webhooks while the hanging one is stuck.
    let got = healthy.wait_for_count_async(10, WAIT).await;
    assert_eq!(got.len(), 10);
    wait_newest_batch(&server.api, &id_of(&webhook), "success", WAIT).await;
    assert_eq!(hanging.count(), 4, "the hanging webhook has at most 4 deliveries in flight");
    hanging.stop();
}
