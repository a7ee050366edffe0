//! Issue 4, item 2: a graceful stop. SIGTERM while deliveries are in flight to a slow
//! receiver and more events wait in the batch buffer: the process lets the in-flight
//! deliveries finish, exits 0 well within its grace period, and after a restart delivers
//! everything else — each event exactly once, nothing lost, nothing sent twice.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{event, Behaviour, Receiver, ServerProcess};

/// What the binary promises: in-flight work gets at most this long.
const GRACE: Duration = Duration::from_secs(30);

#[actix_rt::test]
async fn graceful_stop_sigterm_finishes_in_flight_deliveries_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("mailhooks.db");
    let receiver = Receiver::start();
    receiver.set_behaviour(Behaviour::Delay(Duration::from_millis(500)));
    // Ten events make a batch at once; fewer wait a whole second for more.
    let flags = ["--batch-max-events", "10", "--batch-linger", "1s", "--delivery-timeout", "10s"];
    let server = ServerProcess::start(&db, &flags).await;
    let mut ids = Vec::new();
    for name in ["a", "b"] {
        let created = server.api.create_webhook(name, &receiver.url(&format!("/{name}"))).await;
        ids.push((created["id"].as_str().expect("id").to_owned(), format!("/{name}")));
    }

    // 100 events: ten full batches per webhook, four of them in flight at once, six queued.
    let first: Vec<Value> = (0..100).map(|i| event("delivery", &format!("g-{i}"))).collect();
    server.api.ingest(&Value::Array(first)).await;
    // Five more wait in the buffer for the linger to end.
    let buffered: Vec<Value> = (100..105).map(|i| event("open", &format!("g-{i}"))).collect();
    server.api.ingest(&Value::Array(buffered)).await;
    receiver.wait_for_count_async(8, Duration::from_secs(20)).await;

    let (received_at_term, answered_at_term) = (receiver.count(), receiver.answered());
    assert!(received_at_term > answered_at_term, "no delivery was in flight when SIGTERM was sent");
    let stopping = Instant::now();
    let status = server.terminate(GRACE + Duration::from_secs(5));
    let took = stopping.elapsed();
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    assert!(took < GRACE, "the stop took {took:?}, more than the grace period");

    // Every request the receiver got before the process exited was answered: no delivery
    // was cut off by the stop.
    let before_restart = receiver.requests();
    assert!(before_restart.len() >= received_at_term);
    assert_eq!(receiver.answered(), before_restart.len(), "a delivery was cut off by the stop");
    eprintln!(
        "graceful stop: SIGTERM with {} deliveries in flight; exit {status:?} after {took:?}",
        received_at_term - answered_at_term
    );
    let delivered_before: HashSet<String> =
        before_restart.iter().map(|r| r.json()["batchId"].as_str().unwrap_or_default().to_owned()).collect();

    receiver.set_behaviour(Behaviour::default());
    let server = ServerProcess::start(&db, &flags).await;
    // 105 events for each of the two webhooks, in batches of at most ten: 22 batches.
    receiver.wait_for_count_async(22, Duration::from_secs(30)).await;

    // Batch status after the restart: the batches in flight at SIGTERM ended `success`
    // with their one attempt, and every batch ended `success`.
    for (id, path) in &ids {
        let batches = server
            .api
            .wait_for(
                &format!("/v1/webhooks/{id}/batches?limit=100"),
                Duration::from_secs(10),
                "every batch to end success",
                |b| b["data"].as_array().is_some_and(|d| d.len() == 11 && d.iter().all(|x| x["status"] == "success")),
            )
            .await;
        for batch in batches["data"].as_array().expect("data") {
            let batch_id = batch["batchId"].as_str().unwrap_or_default();
            if delivered_before.contains(batch_id) {
                assert_eq!(batch["retryCount"], 0, "{path}: batch in flight at SIGTERM: {batch}");
                assert_eq!(batch["responseCode"], 200, "{path}: {batch}");
            }
        }
    }
    assert!(!delivered_before.is_empty());

    let all = receiver.requests();
    // Each event reached each webhook exactly once: nothing lost, nothing re-sent.
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    let mut batch_sends: HashMap<String, usize> = HashMap::new();
    for request in &all {
        let body = request.json();
        *batch_sends.entry(body["batchId"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
        for e in body["events"].as_array().expect("events") {
            let id = e["messageId"].as_str().unwrap_or_default().to_owned();
            *seen.entry((request.path.clone(), id)).or_default() += 1;
        }
    }
    for (_, path) in &ids {
        for i in 0..105 {
            let n = seen.get(&(path.clone(), format!("g-{i}"))).copied().unwrap_or(0);
            assert_eq!(n, 1, "{path} got g-{i} {n} times");
        }
    }
    assert_eq!(all.len(), 22, "batches sent: {batch_sends:?}");
    for (batch, sends) in &batch_sends {
        assert_eq!(*sends, 1, "batch {batch} was sent {sends} times");
    }
}
