//! `POST /v1/events` (issue 2, items 5 and 6): both body forms are accepted with 202
//! `{"accepted": N}`; one invalid event refuses the whole request with its index named and
//! nothing of it stored; the count, size and content-type limits answer in the JSON error
//! shape; events are routed by type, source, status and account; an event ingested right
//! after a create's 201 reaches the new webhook; and every event is delivered byte for
//! byte as it was sent.

use std::time::Duration;

use serde_json::{json, Value};

use crate::checks::{all_message_ids, assert_error, id_of, message_ids};
use crate::support::{event, Api, Receiver, TestServer};

const WAIT: Duration = Duration::from_secs(10);

async fn post_raw(api: &Api, body: impl Into<Vec<u8>>) -> crate::support::Response {
    api.request("POST", "/v1/events", Some("application/json"), Some(body.into())).await
}

/// Ingests one sentinel event and waits until `receiver` has it; returns everything the
/// receiver got by then. Anything stored before the sentinel would be delivered with or
/// before it, so this bounds "nothing else arrived" without a fixed sleep.
async fn sentinel(api: &Api, receiver: &Receiver, id: &str) -> Vec<String> {
    api.ingest(&json!([event("open", id)])).await;
    let start = std::time::Instant::now();
    loop {
        let ids = all_message_ids(&receiver.requests());
        if ids.iter().any(|m| m == id) {
            return ids;
        }
        assert!(start.elapsed() < WAIT, "sentinel {id} never arrived; got {ids:?}");
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
}

#[actix_rt::test]
async fn both_body_forms_are_accepted_with_their_count() {
    let receiver = Receiver::start();
    let server = TestServer::start(|_| {}).await;
    server.api.create_webhook("all", &receiver.url("/hook")).await;
    let res = server.api.post("/v1/events", &json!([event("open", "a-1"), event("click", "a-2")])).await;
    assert_eq!((res.status, &res.body), (202, &json!({ "accepted": 2 })), "{}", res.text);
    let res = server.api.post("/v1/events", &json!({ "events": [event("bounce", "e-1")] })).await;
    assert_eq!((res.status, &res.body), (202, &json!({ "accepted": 1 })), "{}", res.text);
    let res = server.api.post("/v1/events", &json!([])).await;
    assert_eq!((res.status, &res.body), (202, &json!({ "accepted": 0 })), "{}", res.text);

    let ids = sentinel(&server.api, &receiver, "sentinel").await;
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, ["a-1", "a-2", "e-1", "sentinel"], "{ids:?}");
}

#[actix_rt::test]
async fn one_invalid_event_refuses_the_request_and_stores_nothing() {
    let receiver = Receiver::start();
    let server = TestServer::start(|_| {}).await;
    let webhook = server.api.create_webhook("all", &receiver.url("/hook")).await;
    let good = |id: &str| event("open", id);
    let mut missing_status = good("x");
    missing_status.as_object_mut().unwrap().remove("status");
    let mut unknown_status = good("x");
    unknown_status["status"] = json!("opened");
    let mut numeric_message_id = good("x");
    numeric_message_id["messageId"] = json!(42);
    let mut text_timestamp = good("x");
    text_timestamp["timestamp"] = json!("1460989507000");
    let mut fractional_timestamp = good("x");
    fractional_timestamp["timestamp"] = json!(1.5);
    let mut missing_recipient = good("x");
    missing_recipient.as_object_mut().unwrap().remove("recipient");
    let cases: Vec<(&str, Value)> = vec![
        ("missing status", missing_status),
        ("unknown status", unknown_status),
        ("messageId not a string", numeric_message_id),
        ("timestamp a string", text_timestamp),
        ("timestamp not an integer", fractional_timestamp),
        ("missing recipient", missing_recipient),
        ("a number instead of an object", json!(7)),
        ("a list instead of an object", json!([good("x")])),
        ("null", Value::Null),
    ];
    for (n, (what, bad)) in cases.into_iter().enumerate() {
        // The bad event at different positions: first, middle, last.
        let position = n % 3;
        let mut events = vec![good(&format!("bad-req-{n}-a")), good(&format!("bad-req-{n}-b"))];
        events.insert(position, bad);
        for body in [json!(events.clone()), json!({ "events": events })] {
            let res = server.api.post("/v1/events", &body).await;
            assert_error(&res, 400, res.error_code().unwrap_or("?"), what);
            assert_eq!(res.body["error"]["details"]["index"], json!(position), "{what}: {}", res.text);
        }
    }
    // Past the linger, and past a sentinel ingested after them: none of it was stored.
    let ids = sentinel(&server.api, &receiver, "after-the-bad-requests").await;
    assert_eq!(ids, ["after-the-bad-requests"]);
    let batches = server.api.batches(&id_of(&webhook)).await;
    assert_eq!(batches.len(), 1, "{batches:?}");
    assert_eq!(batches[0]["eventCount"], 1);
}

#[actix_rt::test]
async fn the_count_size_and_content_type_limits_answer_in_json() {
    let receiver = Receiver::start();
    let server = TestServer::start(|_| {}).await;
    let webhook = server.api.create_webhook("all", &receiver.url("/hook")).await;
    let api = &server.api;

    let small = r#"{"status":"open","messageId":"m","recipient":"r","timestamp":1}"#;
    let many = format!("[{}]", vec![small; 10_001].join(","));
    assert_error(&post_raw(api, many.clone()).await, 413, "payload_too_large", "10,001 events");
    let envelope = format!("{{\"events\":{many}}}");
    assert_error(&post_raw(api, envelope).await, 413, "payload_too_large", "10,001 events in an envelope");

    let padding = "x".repeat(11 * 1024 * 1024);
    let huge = format!(r#"[{{"status":"open","messageId":"m","recipient":"r","timestamp":1,"pad":"{padding}"}}]"#);
    assert_error(&post_raw(api, huge).await, 413, "payload_too_large", "an 11 MiB body");

    let body = serde_json::to_vec(&json!([event("open", "ct")])).unwrap();
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        let res = api.request("POST", "/v1/events", content_type, Some(body.clone())).await;
        assert_error(&res, 415, "unsupported_media_type", &format!("content type {content_type:?}"));
    }
    let res = api.request("POST", "/v1/events", Some("application/json; charset=utf-8"), Some(body)).await;
    assert_eq!(res.status, 202, "JSON with a charset: {}", res.text);

    for (what, bad) in [
        ("malformed JSON", b"[{\"status\": \"open\",".to_vec()),
        ("trailing garbage", b"[] []".to_vec()),
        ("invalid UTF-8", b"[{\"status\":\"open\",\"messageId\":\"\xff\xfe\"}]".to_vec()),
        ("empty body", Vec::new()),
        ("a JSON string", b"\"events\"".to_vec()),
        ("an object without events", b"{\"items\": []}".to_vec()),
        ("events not a list", b"{\"events\": {}}".to_vec()),
    ] {
        let res = post_raw(api, bad).await;
        assert_eq!(res.status, 400, "{what}: {}", res.text);
        assert_error(&res, 400, res.error_code().unwrap_or("?"), what);
    }

    // Exactly 10,000 events is allowed; then only it and the "ct" event were stored.
    let res = post_raw(api, format!("[{}]", vec![small; 10_000].join(","))).await;
    assert_eq!((res.status, &res.body), (202, &json!({ "accepted": 10_000 })), "{}", res.text);
    server
        .api
        .wait_for(&format!("/v1/webhooks/{}/batches?limit=1000", id_of(&webhook)), WAIT, "all events batched", |b| {
            let data = b["data"].as_array().unwrap();
            data.iter().map(|b| b["eventCount"].as_i64().unwrap()).sum::<i64>() == 10_001
                && data.iter().all(|b| b["status"] == "success")
        })
        .await;
}

#[actix_rt::test]
async fn events_are_routed_by_type_source_status_and_account() {
    let opens = Receiver::start();
    let clicks_and_bounces = Receiver::start();
    let marketing = Receiver::start();
    let everything = Receiver::start();
    let default_source = Receiver::start();
    let disabled = Receiver::start();
    let paused = Receiver::start();
    let other_account = Receiver::start();
    let server = TestServer::start(|_| {}).await;
    let api = &server.api;
    let create = |body: Value| async move {
        let res = api.post("/v1/webhooks", &body).await;
        assert_eq!(res.status, 201, "{}", res.text);
        res.body
    };
    create(json!({ "name": "opens", "targetUrl": opens.url("/"), "events": ["open"] })).await;
    create(json!({ "name": "cb", "targetUrl": clicks_and_bounces.url("/"), "events": ["click", "bounce"] })).await;
    create(json!({ "name": "mkt", "targetUrl": marketing.url("/"), "source": "marketing" })).await;
    create(json!({ "name": "all", "targetUrl": everything.url("/"), "source": "all" })).await;
    create(json!({ "name": "dflt", "targetUrl": default_source.url("/"), "source": "default" })).await;
    create(json!({ "name": "off", "targetUrl": disabled.url("/"), "status": "disabled" })).await;
    let was_on = create(json!({ "name": "paused", "targetUrl": paused.url("/") })).await;
    let paused_path = format!("/v1/webhooks/{}", id_of(&was_on));
    assert_eq!(api.patch(&paused_path, &json!({ "status": "disabled" })).await.status, 200);
    let key = server.engine.create_account("other", "other@example.com").await.expect("account");
    api.with_key(Some(&key)).create_webhook("theirs", &other_account.url("/")).await;

    let with_source = |status: &str, id: &str, source: &str| {
        let mut e = event(status, id);
        e["source"] = json!(source);
        e
    };
    api.ingest(&json!([
        event("open", "open-default"),
        event("click", "click-default"),
        with_source("open", "open-marketing", "marketing"),
        with_source("bounce", "bounce-marketing", "marketing"),
        event("delivery", "delivery-default"),
        with_source("open", "open-transactional", "transactional"),
    ]))
    .await;

    let everything_got = everything.wait_for_count_async(1, WAIT).await;
    assert_eq!(
        all_message_ids(&everything_got),
        [
            "open-default",
            "click-default",
            "open-marketing",
            "bounce-marketing",
            "delivery-default",
            "open-transactional"
        ]
    );
    let expect = |receiver: &Receiver, ids: &[&str]| {
        let receiver = receiver.clone();
        let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        async move {
            let got = receiver.wait_for_count_async(1, WAIT).await;
            assert_eq!(all_message_ids(&got), ids, "receiver on port {}", receiver.port());
        }
    };
    expect(&opens, &["open-default", "open-marketing", "open-transactional"]).await;
    expect(&clicks_and_bounces, &["click-default", "bounce-marketing"]).await;
    expect(&marketing, &["open-marketing", "bounce-marketing"]).await;
    expect(&default_source, &["open-default", "click-default", "delivery-default"]).await;

    for receiver in [&opens, &clicks_and_bounces, &marketing, &everything, &default_source] {
        assert_eq!(receiver.requests().len(), 1, "receiver on port {} got an extra batch", receiver.port());
    }

    // Everyone that should have got something did; the others got nothing then, and
    // nothing was stored for them: re-enabled, the paused webhook gets only new events.
    assert_eq!(api.patch(&paused_path, &json!({ "status": "enabled" })).await.status, 200);
    api.ingest(&json!([event("open", "after-enable")])).await;
    let got = paused.wait_for_count_async(1, WAIT).await;
    assert_eq!(all_message_ids(&got), ["after-enable"]);
    assert_eq!(disabled.count(), 0);
    assert_eq!(other_account.count(), 0);
}

#[actix_rt::test]
async fn an_event_ingested_right_after_create_reaches_the_new_webhook() {
    let server = TestServer::start(|_| {}).await;
    let mut receivers = Vec::new();
    for i in 0..5 {
        let receiver = Receiver::start();
        server.api.create_webhook(&format!("new-{i}"), &receiver.url("/")).await;
        // No pause between the 201 and the ingest.
        server.api.ingest(&json!([event("open", &format!("right-after-{i}"))])).await;
        receivers.push(receiver);
    }
    for (i, receiver) in receivers.iter().enumerate() {
        // Its own event and every later one, possibly over several batches.
        let expected: Vec<String> = (i..5).map(|j| format!("right-after-{j}")).collect();
        let start = std::time::Instant::now();
        let ids = loop {
            // Batches may overlap in flight, so their arrival order is not checked here.
            let mut ids = all_message_ids(&receiver.requests());
            ids.sort();
            if ids.len() >= expected.len() || start.elapsed() > WAIT {
                break ids;
            }
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(ids, expected, "webhook {i}");
    }
}

#[actix_rt::test]
async fn every_event_is_delivered_exactly_as_sent() {
    let receiver = Receiver::start();
    let server = TestServer::start(|_| {}).await;
    server.api.create_webhook("verbatim", &receiver.url("/hook")).await;
    let events = [
        r#"{"status":"open","messageId":"v-1","recipient":"r@example.com","timestamp":1460989507000}"#,
        "{ \"status\" : \"click\" ,\n\t\"messageId\":\"v-2\",  \"recipient\":\"Zoë <zoë@exämple.com>\",\"timestamp\": 0,\n  \"url\":\"https://example.com/?a=1&b=\\u00e9\\/x\",\"emoji\":\"😀 \\ud83d\\ude00\" }",
        r#"{"timestamp":1,"recipient":"r","messageId":"v-3","status":"bounce","geoIp":"{\"country\":\"US\"}","nested":{"deep":[1,2.50,1e3,-0,null,true,{"x":{}}],"empty":[]},"big":123456789012345678901234567890}"#,
        r#"{"status":"delivery","messageId":"v-4","recipient":"r","timestamp":2,"source":"marketing","status_extra":"  spaces  ","dup":1,"dup":2}"#,
    ];
    let body = format!(" [ {} ,\r\n {} ,{},{} ] ", events[0], events[1], events[2], events[3]);
    let res = post_raw(&server.api, body).await;
    assert_eq!(res.status, 202, "{}", res.text);
    let got = receiver.wait_for_count_async(1, WAIT).await;
    assert_eq!(got.len(), 1);
    let text = got[0].text();
    let mut at = 0;
    for e in events {
        let found = text[at..].find(e).unwrap_or_else(|| panic!("event not delivered verbatim: {e}\nbody: {text}"));
        at += found + e.len();
    }
    let parsed = got[0].json();
    assert_eq!(message_ids(&got[0]), ["v-1", "v-2", "v-3", "v-4"]);
    assert_eq!(parsed["events"][1]["emoji"], "😀 😀");
}
