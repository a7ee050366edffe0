//! `Idempotency-Key` on ingest: a repeat of the same request within 24 hours gets the
//! first answer and stores nothing new — also when the repeats arrive at the same time.

use std::time::Duration;

use serde_json::json;

use crate::support::{event, Api, Receiver, Response, TestServer};

async fn ingest_with_key(api: &Api, key: &str, body: &serde_json::Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap();
    api.request_with_headers(
        "POST",
        "/v1/events",
        &[("Content-Type", "application/json"), ("Idempotency-Key", key)],
        bytes,
    )
    .await
}

#[actix_rt::test]
async fn a_repeated_request_is_answered_the_same_and_stored_once() {
    let receiver = Receiver::start();
    let server = TestServer::start(|_| {}).await;
    let webhook = server.api.create_webhook("idem", &receiver.url("/hook")).await;
    let body = json!([event("open", "m-1"), event("click", "m-2")]);

    let first = ingest_with_key(&server.api, "order-42", &body).await;
    let again = ingest_with_key(&server.api, "order-42", &body).await;
    assert_eq!((first.status, again.status), (202, 202), "{} / {}", first.text, again.text);
    assert_eq!(first.body, json!({ "accepted": 2 }));
    assert_eq!(again.body, first.body);

    // A different key is a different request.
    ingest_with_key(&server.api, "order-43", &json!([event("open", "m-3")])).await;
    let received = receiver.wait_for_count_async(1, Duration::from_secs(5)).await;
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    let delivered: Vec<String> = receiver
        .requests()
        .iter()
        .flat_map(|r| r.json()["events"].as_array().cloned().unwrap_or_default())
        .map(|e| e["messageId"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(!received.is_empty());
    assert_eq!(delivered.iter().filter(|id| *id == "m-1").count(), 1, "delivered: {delivered:?}");
    assert_eq!(delivered.len(), 3, "delivered: {delivered:?}");
    let id = webhook["id"].as_str().unwrap();
    let events: i64 = server.api.batches(id).await.iter().map(|b| b["eventCount"].as_i64().unwrap()).sum();
    assert_eq!(events, 3);
}

#[actix_rt::test]
async fn concurrent_repeats_store_the_events_once() {
    let receiver = Receiver::start();
    let server = TestServer::start(|_| {}).await;
    server.api.create_webhook("idem", &receiver.url("/hook")).await;
    let body = json!([event("open", "only-once")]);
    let answers =
        futures_util::future::join_all((0..16).map(|_| ingest_with_key(&server.api, "same-key", &body))).await;
    assert!(answers.iter().all(|a| a.status == 202 && a.body == json!({ "accepted": 1 })), "{answers:?}");

    receiver.wait_for_count_async(1, Duration::from_secs(5)).await;
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    let delivered: usize = receiver.requests().iter().map(|r| r.json()["events"].as_array().map_or(0, Vec::len)).sum();
    assert_eq!(delivered, 1);
}

#[actix_rt::test]
async fn a_key_reused_for_another_body_is_refused_and_keys_are_per_account() {
    let server = TestServer::start(|_| {}).await;
    let first = ingest_with_key(&server.api, "k", &json!([event("open", "a")])).await;
    assert_eq!(first.status, 202);
    let other = ingest_with_key(&server.api, "k", &json!([event("open", "b")])).await;
    assert_eq!(other.status, 409, "{}", other.text);
    assert_eq!(other.error_code(), Some("idempotency_key_reused"));

    let key = server.engine.create_account("second", "second@example.com").await.unwrap();
    let elsewhere = ingest_with_key(&server.api.with_key(Some(&key)), "k", &json!([event("open", "b")])).await;
    assert_eq!(elsewhere.status, 202, "{}", elsewhere.text);

    let bad = ingest_with_key(&server.api, "", &json!([event("open", "c")])).await;
    assert_eq!(bad.status, 400, "{}", bad.text);
}
