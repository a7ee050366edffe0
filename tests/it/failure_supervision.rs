//! Issue 3, item 4: supervision. A webhook actor that panics is restarted by the registry
//! from the database, with nothing lost — events it had buffered, events ingested while it
//! was down, and the retry count and due time of a batch it was retrying — and other
//! webhooks go on as if nothing happened. Also: events that reach an actor while it reads
//! its backlog, or that a stopped actor was just putting into a batch (a restart or a
//! quick disable and enable), go out in one batch, not twice; and a burst of ingests
//! larger than an actor's mailbox is delivered in full.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::failure_path::{failing_receiver, id_of, ms, sleep_ms, SOON};
use crate::support::{event, Receiver, TestServer};
use mailhooks::model::WebhookId;

/// Each delivered batch: (batchId, its events' messageIds in order).
fn batches_seen(receiver: &Receiver) -> Vec<(String, Vec<String>)> {
    receiver
        .requests()
        .iter()
        .map(|r| {
            let body = r.json();
            let ids = body["events"].as_array().cloned().unwrap_or_default();
            let ids = ids.iter().map(|e| e["messageId"].as_str().unwrap_or_default().to_owned()).collect();
            (body["batchId"].as_str().unwrap_or_default().to_owned(), ids)
        })
        .collect()
}

/// Waits until every one of `ids` reached the receiver, then checks that each event went
/// out in exactly one batch (once in it), that a batch sent more than once (a crash may
/// cut a delivery short after the endpoint got it) was the same batch every time, and that
/// nothing but `allowed` was delivered.
async fn assert_each_delivered_in_one_batch(receiver: &Receiver, ids: &[String], allowed: &[String], what: &str) {
    let start = Instant::now();
    loop {
        let seen: Vec<String> = batches_seen(receiver).into_iter().flat_map(|(_, events)| events).collect();
        if ids.iter().all(|id| seen.contains(id)) {
            break;
        }
        if start.elapsed() > SOON {
            let missing: Vec<&String> = ids.iter().filter(|id| !seen.contains(id)).collect();
            panic!("{what}: never delivered: {missing:?}");
        }
        sleep_ms(10).await;
    }
    // Anything duplicated would come within a linger or two.
    sleep_ms(200).await;
    let mut batches: HashMap<String, Vec<String>> = HashMap::new();
    for (batch, mut events) in batches_seen(receiver) {
        assert!(!events.is_empty(), "{what}: batch {batch} was delivered without events");
        events.sort();
        match batches.get(&batch) {
            Some(before) => assert_eq!(before, &events, "{what}: batch {batch} changed between deliveries"),
            None => {
                batches.insert(batch, events);
            }
        }
    }
    let mut owner: HashMap<&String, &String> = HashMap::new();
    for (batch, events) in &batches {
        for (i, event) in events.iter().enumerate() {
            assert!(events.get(i + 1) != Some(event), "{what}: {event} twice in batch {batch}");
            if let Some(other) = owner.insert(event, batch) {
                panic!("{what}: {event} was delivered in two batches, {other} and {batch}");
            }
            assert!(allowed.contains(event), "{what}: unexpected event {event}");
        }
    }
}

fn names(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}-{i}")).collect()
}

fn events_for(ids: &[String]) -> Value {
    Value::Array(ids.iter().map(|id| event("open", id)).collect())
}

#[actix_rt::test]
async fn failure_a_crashed_webhook_actor_comes_back_with_its_buffered_and_later_events() {
    let linger = Duration::from_millis(600);
    let crashed = Receiver::start();
    let other = Receiver::start();
    let server = TestServer::start(|c| {
        c.batch_linger = linger;
        c.supervision_interval = Duration::from_millis(50);
    })
    .await;
    let id = id_of(&server.api.create_webhook("Crashes", &crashed.url("/hook")).await);
    id_of(&server.api.create_webhook("Bystander", &other.url("/hook")).await);

    let before = names("before", 0..3);
    let ingested = Instant::now();
    server.api.ingest(&events_for(&before)).await;
    assert!(server.engine.crash_webhook_actor(&WebhookId::from_string(id.clone())).await, "the actor exists");
    assert!(ingested.elapsed() < linger / 2, "crashed while the events were still buffered");
    assert_eq!(crashed.count(), 0);
    assert!(server.api.batches(&id).await.is_empty(), "the events were only buffered, not yet a batch");

    let after = names("after", 0..2);
    server.api.ingest(&events_for(&after)).await;
    let all: Vec<String> = before.iter().chain(&after).cloned().collect();
    assert_each_delivered_in_one_batch(&crashed, &all, &all, "the crashed webhook").await;
    assert_each_delivered_in_one_batch(&other, &all, &all, "the other webhook").await;
    assert!(
        other.requests()[0].at.duration_since(ingested) < linger + Duration::from_millis(300),
        "the other webhook's batch went out on its normal linger"
    );

    // The restarted actor takes new events as usual.
    let later = names("later", 0..1);
    server.api.ingest(&events_for(&later)).await;
    let all: Vec<String> = all.into_iter().chain(later).collect();
    assert_each_delivered_in_one_batch(&crashed, &all, &all, "the crashed webhook, later").await;
}

#[actix_rt::test]
async fn failure_a_crash_during_a_retry_wait_keeps_the_batch_its_count_and_its_due_time() {
    let wait = Duration::from_millis(600);
    let receiver = failing_receiver();
    let server = TestServer::start(|c| {
        c.retry_schedule = ms(&[20, 600, 20, 20, 20, 20, 20]);
        c.disable_after = Duration::from_secs(3600);
        c.supervision_interval = Duration::from_millis(50);
    })
    .await;
    let id = id_of(&server.api.create_webhook("Crash mid-wait", &receiver.url("/hook")).await);
    server.api.ingest(&json!([event("open", "m-1")])).await;
    let first_two = receiver.wait_for_count_async(2, SOON).await;
    server
        .api
        .wait_for(&format!("/v1/webhooks/{id}/batches"), SOON, "2 recorded attempts", |b| {
            b["data"][0]["attemptCount"] == 2
        })
        .await;
    assert!(server.engine.crash_webhook_actor(&WebhookId::from_string(id.clone())).await);

    let all = receiver.wait_for_count_async(3, SOON).await;
    let gap = all[2].at.duration_since(first_two[1].at);
    assert!(gap >= wait, "the retry after the crash came {gap:?} after the last attempt, before its {wait:?} wait");
    assert!(gap < wait + Duration::from_millis(400), "the retry after the crash came {gap:?} after the last attempt");
    let (before, after) = (first_two[1].json(), all[2].json());
    assert_eq!(after["batchId"], before["batchId"], "the same batch continues");
    assert_eq!(after["retryCount"], 2, "the count continues");
    assert_eq!(receiver.count(), 3, "no attempt was repeated or lost");
}

#[actix_rt::test]
async fn failure_events_reaching_an_actor_while_it_reads_its_backlog_are_delivered_once() {
    let receiver = Receiver::start();
    let server = TestServer::start(|c| {
        c.batch_linger = Duration::from_millis(30);
        c.supervision_interval = Duration::from_millis(20);
    })
    .await;
    let id = id_of(&server.api.create_webhook("Busy restarts", &receiver.url("/hook")).await);
    let path = format!("/v1/webhooks/{id}");
    let mut all = Vec::new();
    for round in 0..10 {
        // Restart the actor (a crash, or a disable and enable) and at once ingest with
        // several requests in parallel, while the new actor reads its backlog.
        if round % 2 == 0 {
            server.engine.crash_webhook_actor(&WebhookId::from_string(id.clone())).await;
        } else {
            assert_eq!(server.api.patch(&path, &json!({"status": "disabled"})).await.status, 200);
            assert_eq!(server.api.patch(&path, &json!({"status": "enabled"})).await.status, 200);
        }
        let requests: Vec<Vec<String>> = (0..6).map(|i| names(&format!("r{round}-{i}"), 0..2)).collect();
        let bodies: Vec<Value> = requests.iter().map(|ids| events_for(ids)).collect();
        futures_util::future::join_all(bodies.iter().map(|body| server.api.ingest(body))).await;
        all.extend(requests.into_iter().flatten());
        sleep_ms(50).await;
    }
    assert_each_delivered_in_one_batch(&receiver, &all, &all, "events ingested around actor restarts").await;
}

#[actix_rt::test]
async fn failure_events_keep_flowing_in_one_batch_each_through_repeated_crashes_and_toggles() {
    let receiver = Receiver::start();
    let server = TestServer::start(|c| {
        c.batch_linger = Duration::from_millis(5);
        c.batch_max_events = 3;
        c.supervision_interval = Duration::from_millis(10);
    })
    .await;
    let id = id_of(&server.api.create_webhook("Churn", &receiver.url("/hook")).await);
    let path = format!("/v1/webhooks/{id}");

    // One task ingests without pause while the other keeps replacing the actor, so that
    // actors are often crashed or stopped with a batch half recorded.
    let ingest = async {
        let mut requests = Vec::new();
        for i in 0..60 {
            let ids = names(&format!("e{i}"), 0..2);
            let started = Instant::now();
            server.api.ingest(&events_for(&ids)).await;
            requests.push((started, Instant::now(), ids));
        }
        requests
    };
    let churn = async {
        let mut disabled_windows = Vec::new();
        for round in 0..20 {
            if round % 2 == 0 {
                server.engine.crash_webhook_actor(&WebhookId::from_string(id.clone())).await;
            } else {
                let from = Instant::now();
                server.api.patch(&path, &json!({"status": "disabled"})).await;
                server.api.patch(&path, &json!({"status": "enabled"})).await;
                disabled_windows.push((from, Instant::now()));
            }
            sleep_ms(7).await;
        }
        disabled_windows
    };
    let (requests, disabled_windows) = tokio::join!(ingest, churn);
    // Events ingested while the webhook was (maybe) disabled are not its to deliver.
    let overlaps =
        |(start, end): (Instant, Instant)| disabled_windows.iter().any(|(from, to)| start < *to && *from < end);
    let (maybe, must): (Vec<_>, Vec<_>) = requests.into_iter().partition(|(start, end, _)| overlaps((*start, *end)));
    let must: Vec<String> = must.into_iter().flat_map(|(_, _, ids)| ids).collect();
    let maybe: Vec<String> = maybe.into_iter().flat_map(|(_, _, ids)| ids).collect();
    assert!(must.len() >= 10, "only {} of 120 events were ingested while the webhook was surely enabled", must.len());
    let all: Vec<String> = must.iter().chain(&maybe).cloned().collect();
    assert_each_delivered_in_one_batch(&receiver, &must, &all, "events ingested through actor churn").await;
}

#[actix_rt::test]
async fn failure_a_burst_of_ingests_right_after_a_restart_is_delivered_in_full() {
    let receiver = Receiver::start();
    let server = TestServer::start(|c| {
        c.batch_linger = Duration::from_millis(20);
        c.supervision_interval = Duration::from_millis(20);
    })
    .await;
    let id = id_of(&server.api.create_webhook("Burst", &receiver.url("/hook")).await);
    let mut all = Vec::new();
    for round in 0..3 {
        // Far more ingest requests than an actor's mailbox holds (16), in a stream that
        // starts while the restarted actor still reads its backlog.
        server.engine.crash_webhook_actor(&WebhookId::from_string(id.clone())).await;
        let requests: Vec<Vec<String>> = (0..90).map(|i| names(&format!("b{round}-{i}"), 0..1)).collect();
        let bodies: Vec<Value> = requests.iter().map(|ids| events_for(ids)).collect();
        futures_util::future::join_all(bodies.iter().enumerate().map(|(i, body)| {
            let api = server.api.clone();
            async move {
                sleep_ms(i as u64 / 2).await;
                api.ingest(body).await;
            }
        }))
        .await;
        all.extend(requests.into_iter().flatten());
    }
    assert_each_delivered_in_one_batch(&receiver, &all, &all, "a burst after a restart").await;
}
