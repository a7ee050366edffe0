//! A batch is stored as the next range of its webhook's event ids, which holds only if
//! every webhook actor sees its events in id order, whichever HTTP worker stored them.
//! Under many concurrent ingest requests to two webhooks: every event reaches each webhook
//! exactly once, each client's events keep their order, and no actor ever finds that its
//! view of the stored events was wrong (that would show in the log as a reload).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::checks::message_ids;
use crate::support::{event, Receiver, ServerProcess};

const CLIENTS: usize = 16;
const REQUESTS: usize = 20;
const EVENTS: usize = 5;

#[actix_rt::test]
async fn concurrent_ingest_makes_batches_of_consecutive_events_with_no_reload() {
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let process =
        ServerProcess::start(&dir.path().join("m.db"), &["--batch-max-events", "7", "--batch-linger", "20ms"]).await;
    for path in ["/a", "/b"] {
        let res = process.api.post("/v1/webhooks", &json!({"name": path, "targetUrl": receiver.url(path)})).await;
        assert_eq!(res.status, 201, "{}", res.text);
    }

    let clients = (0..CLIENTS).map(|c| {
        let api = process.api.clone();
        async move {
            for r in 0..REQUESTS {
                let events: Vec<Value> = (0..EVENTS).map(|e| event("open", &format!("c{c:02}-r{r:02}-e{e}"))).collect();
                let res = api.ingest(&Value::Array(events)).await;
                assert_eq!(res.status, 202, "{}", res.text);
            }
        }
    });
    futures_util::future::join_all(clients).await;

    let total = CLIENTS * REQUESTS * EVENTS;
    let started = Instant::now();
    let delivered = |path: &str| -> Vec<Vec<String>> { receiver.requests_to(path).iter().map(message_ids).collect() };
    while ["/a", "/b"].iter().any(|p| delivered(p).iter().map(Vec::len).sum::<usize>() < total) {
        assert!(started.elapsed() < Duration::from_secs(20), "not everything was delivered");
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    actix_rt::time::sleep(Duration::from_millis(200)).await;

    for path in ["/a", "/b"] {
        let batches = delivered(path);
        let mut seen: HashMap<String, usize> = HashMap::new();
        for id in batches.iter().flatten() {
            *seen.entry(id.clone()).or_default() += 1;
        }
        assert_eq!(seen.len(), total, "{path}: every event");
        assert!(seen.values().all(|n| *n == 1), "{path}: each event once");
        assert!(batches.iter().all(|b| b.len() <= 7), "{path}: batches of at most 7");
        // Within a batch, one client's events appear in the order that client sent them.
        for batch in &batches {
            let mut last: HashMap<&str, &str> = HashMap::new();
            for id in batch {
                let (client, rest) = id.split_at(3);
                if let Some(before) = last.insert(client, rest) {
                    assert!(before < rest, "{path}: {client}{before} before {client}{rest} in {batch:?}");
                }
            }
        }
    }
    let log = process.log();
    for sign in ["reloading", "restarting from the database", "stopped unexpectedly"] {
        assert!(!log.contains(sign), "an actor's view was wrong ({sign}):\n{log}");
    }
    process.kill();
}
