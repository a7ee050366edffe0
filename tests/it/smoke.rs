//! The shortest path through the product: create a webhook, ingest, see the batch arrive.

use std::time::Duration;

use serde_json::json;

use crate::support::{event, Receiver, TestServer};

#[actix_rt::test]
async fn an_ingested_event_reaches_a_new_webhook() {
    let receiver = Receiver::start();
    let server = TestServer::start(|_| {}).await;
    let webhook = server.api.create_webhook("smoke", &receiver.url("/hook")).await;
    server.api.ingest(&json!([event("open", "m-1")])).await;
    let received = receiver.wait_for_count_async(1, Duration::from_secs(10)).await;
    let body = received[0].json();
    assert_eq!(body["events"][0]["messageId"], "m-1");
    assert_eq!(body["retryCount"], 0);
    let id = webhook["id"].as_str().unwrap();
    server
        .api
        .wait_for(&format!("/v1/webhooks/{id}/batches"), Duration::from_secs(5), "a successful batch", |b| {
            b["data"][0]["status"] == "success"
        })
        .await;
}
