//! Issue 4, item 1: the crash test. The real `mailhooks` binary is killed with SIGKILL at
//! varied moments — mid-ingest, mid-delivery, during a retry wait, while it loads its
//! backlog — and restarted on the same database each time, while a steady stream of
//! ingest requests goes on. At the end every event that got a 202 must have reached every
//! webhook, every repeated delivery must be a whole batch re-sent under its own `batchId`,
//! and every batch the API lists must have been received and have ended `success`.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{Api, Behaviour, Receiver, ServerProcess, TEST_API_KEY};

const WEBHOOKS: usize = 20;
const RECEIVERS: usize = 4;
/// Ingest goes on until at least this many events were accepted.
const TARGET_EVENTS: usize = 10_500;
/// The retries add up to 4.5 s of failing: far more than the receiver's failing spell
/// lasts, so no batch may end `failed`.
const FLAGS: [&str; 8] = [
    "--batch-linger",
    "20ms",
    "--batch-max-events",
    "100",
    "--retry-schedule",
    "100ms,200ms,400ms,800ms,1s,1s,1s",
    "--delivery-timeout",
    "5s",
];
const TYPES: [&str; 9] = [
    "injection",
    "delivery",
    "open",
    "click",
    "delay",
    "bounce",
    "spam_complaint",
    "link_unsubscribe",
    "list_unsubscribe",
];

/// An event's place in the ingest stream: (request number, index in the request).
type Key = (u32, u32);

/// Events in request `n`: between 100 and 500.
fn request_size(n: u32) -> u32 {
    100 + (n * 97) % 401
}

fn message_id((request, index): Key) -> String {
    format!("c{request}-{index}")
}

fn parse_message_id(id: &str) -> Option<Key> {
    let (request, index) = id.strip_prefix('c')?.split_once('-')?;
    Some((request.parse().ok()?, index.parse().ok()?))
}

fn request_events(n: u32) -> Value {
    let events: Vec<Value> = (0..request_size(n))
        .map(|i| {
            json!({
                "status": TYPES[(n + i) as usize % TYPES.len()],
                "messageId": message_id((n, i)),
                "recipient": format!("r{i}@example.com"),
                "timestamp": 1_460_989_507_000u64 + u64::from(i),
                "campaignId": format!("crash-{n}"),
            })
        })
        .collect();
    Value::Array(events)
}

/// The ingest stream, shared between the task that sends it and the test that kills the
/// server under it (one thread: the test's actix System).
#[derive(Default)]
struct Ingest {
    /// The running server's base URL; changes with every restart.
    base: String,
    /// Requests that got 202 with every event accepted.
    accepted: Vec<u32>,
    accepted_events: usize,
    /// Requests that failed (connection cut by a kill, refused while down, or not 202).
    failed: usize,
    in_flight: bool,
    done: bool,
}

/// Sends requests one after the other until `target` events were accepted. A request cut
/// by a kill counts as not accepted; the next request carries new events.
async fn ingest_until(state: Rc<RefCell<Ingest>>, target: usize) {
    let client = awc::Client::builder().timeout(Duration::from_secs(20)).finish();
    let mut n = 0u32;
    while state.borrow().accepted_events < target {
        let events = request_events(n);
        let count = request_size(n) as usize;
        let base = {
            let mut s = state.borrow_mut();
            s.in_flight = true;
            s.base.clone()
        };
        let accepted = post_events(&client, &base, &events).await == Some(count);
        {
            let mut s = state.borrow_mut();
            s.in_flight = false;
            if accepted {
                s.accepted.push(n);
                s.accepted_events += count;
            } else {
                s.failed += 1;
            }
        }
        if !accepted {
            // The server is down or starting; try again soon with the next request.
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
        n += 1;
    }
    state.borrow_mut().done = true;
}

/// `Some(accepted)` for a 202 answer, `None` for anything else.
async fn post_events(client: &awc::Client, base: &str, events: &Value) -> Option<usize> {
    let mut res = client
        .post(format!("{base}/v1/events"))
        .insert_header(("Authorization", format!("Bearer {TEST_API_KEY}")))
        .send_json(events)
        .await
        .ok()?;
    if res.status().as_u16() != 202 {
        return None;
    }
    let body: Value = res.json().await.ok()?;
    body["accepted"].as_u64().map(|n| n as usize)
}

/// Polls `f` every 5 ms; panics naming `what` after `timeout`.
async fn until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting until {what}");
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
}

/// SIGKILL, then a new process on the same database; the ingest stream follows it.
async fn kill_and_restart(
    server: ServerProcess,
    db: &Path,
    ingest: &Rc<RefCell<Ingest>>,
    kills: &mut Vec<String>,
    moment: &str,
) -> ServerProcess {
    let in_flight = ingest.borrow().in_flight;
    server.kill();
    kills.push(format!("{moment} (an ingest request in flight: {in_flight})"));
    let server = ServerProcess::start(db, &FLAGS).await;
    ingest.borrow_mut().base = server.base.clone();
    server
}

fn total_requests(receivers: &[Receiver]) -> usize {
    receivers.iter().map(Receiver::count).sum()
}

/// One batch as the receivers saw it.
struct SeenBatch {
    events: Value,
    keys: Vec<Key>,
    sends: usize,
    /// Sends that repeated an attempt already seen (same `retryCount`): re-sends after a
    /// kill, as opposed to scheduled retries.
    repeated_attempts: usize,
    retry_counts: HashSet<u64>,
}

/// What one webhook received.
#[derive(Default)]
struct SeenHook {
    batches: HashMap<String, SeenBatch>,
    /// Each delivered event and the batch that carried it.
    event_batch: HashMap<Key, String>,
}

/// Everything the receivers got, parsed as it arrives, and any broken rule found.
struct Seen {
    parsed: Vec<usize>,
    hooks: HashMap<String, SeenHook>,
    requests: usize,
    violations: Vec<String>,
}

impl Seen {
    fn new(receivers: usize) -> Seen {
        Seen { parsed: vec![0; receivers], hooks: HashMap::new(), requests: 0, violations: Vec::new() }
    }

    /// Takes in the requests that arrived since the last call.
    fn update(&mut self, receivers: &[Receiver]) {
        for (r, receiver) in receivers.iter().enumerate() {
            let all = receiver.requests();
            for request in &all[self.parsed[r]..] {
                self.take(&request.path, request.json());
            }
            self.parsed[r] = all.len();
        }
    }

    fn take(&mut self, path: &str, body: Value) {
        self.requests += 1;
        let hook = self.hooks.entry(path.to_owned()).or_default();
        let batch_id = body["batchId"].as_str().unwrap_or_default().to_owned();
        if batch_id.len() != 24 || !batch_id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            self.violations.push(format!("{path}: batchId {batch_id:?} is not 24 lowercase hex characters"));
        }
        let events = body["events"].clone();
        let retry_count = body["retryCount"].as_u64().unwrap_or(u64::MAX);
        if let Some(seen) = hook.batches.get_mut(&batch_id) {
            seen.sends += 1;
            if !seen.retry_counts.insert(retry_count) {
                seen.repeated_attempts += 1;
            }
            if seen.events != events {
                self.violations.push(format!("{path}: batch {batch_id} was re-sent with different events"));
            }
            return;
        }
        let keys: Vec<Key> = events
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["messageId"].as_str().and_then(parse_message_id)).collect())
            .unwrap_or_default();
        if keys.len() != events.as_array().map_or(0, Vec::len) || keys.is_empty() {
            self.violations.push(format!("{path}: batch {batch_id} has events this test never sent: {events}"));
        }
        if keys.windows(2).any(|w| w[0] >= w[1]) {
            self.violations.push(format!("{path}: batch {batch_id} does not keep ingest order: {keys:?}"));
        }
        for key in &keys {
            if let Some(other) = hook.event_batch.insert(*key, batch_id.clone()) {
                self.violations.push(format!(
                    "{path}: event {} was delivered in batch {other} and again in another batch {batch_id}",
                    message_id(*key)
                ));
            }
        }
        let retry_counts = HashSet::from([retry_count]);
        hook.batches.insert(batch_id, SeenBatch { events, keys, sends: 1, repeated_attempts: 0, retry_counts });
    }

    /// How many (webhook, accepted event) pairs have not been delivered yet.
    fn missing(&self, paths: &[String], accepted: &[u32]) -> usize {
        let empty = SeenHook::default();
        paths
            .iter()
            .map(|path| {
                let hook = self.hooks.get(path).unwrap_or(&empty);
                accepted
                    .iter()
                    .flat_map(|&n| (0..request_size(n)).map(move |i| (n, i)))
                    .filter(|key| !hook.event_batch.contains_key(key))
                    .count()
            })
            .sum()
    }
}

fn assert_no_violations(seen: &Seen) {
    let v = &seen.violations;
    assert!(v.is_empty(), "{} violations, e.g. {:#?}", v.len(), &v[..v.len().min(10)]);
}

/// Every (non-test) batch the API lists for a webhook, following the cursor.
async fn listed_batches(api: &Api, id: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let res = api.get(&format!("/v1/webhooks/{id}/batches?limit=1000&cursor={cursor}")).await;
        assert_eq!(res.status, 200, "batches of {id}: {}", res.text);
        all.extend(res.body["data"].as_array().cloned().unwrap_or_default());
        match res.body["nextCursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return all,
        }
    }
}

struct Hook {
    id: String,
    path: String,
}

#[actix_rt::test]
async fn crash_sigkill_at_varied_moments_loses_no_accepted_event_and_resends_only_whole_batches() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("mailhooks.db");
    let receivers: Vec<Receiver> = (0..RECEIVERS).map(|_| Receiver::start()).collect();
    let flaky = receivers[0].clone();

    let mut server = ServerProcess::start(&db, &FLAGS).await;
    let mut hooks = Vec::new();
    for i in 0..WEBHOOKS {
        let path = format!("/hook/{i}");
        let created = server.api.create_webhook(&format!("crash {i}"), &receivers[i % RECEIVERS].url(&path)).await;
        hooks.push(Hook { id: created["id"].as_str().expect("webhook id").to_owned(), path });
    }
    let paths: Vec<String> = hooks.iter().map(|h| h.path.clone()).collect();
    let flaky_hooks: Vec<&Hook> =
        hooks.iter().enumerate().filter(|(i, _)| i % RECEIVERS == 0).map(|(_, h)| h).collect();

    let ingest = Rc::new(RefCell::new(Ingest { base: server.base.clone(), ..Ingest::default() }));
    let sender = actix_rt::spawn(ingest_until(ingest.clone(), TARGET_EVENTS));
    let mut kills = Vec::new();
    let phase = Duration::from_secs(30);

    // 1. Mid-ingest: a request is on its way in.
    until(phase, "1,500 events are accepted and a request is in flight", || {
        let s = ingest.borrow();
        s.accepted_events >= 1_500 && s.in_flight
    })
    .await;
    server = kill_and_restart(server, &db, &ingest, &mut kills, "mid-ingest").await;

    // 2. Mid-delivery: right after the receivers start getting batches again.
    let before = total_requests(&receivers);
    until(phase, "deliveries resume after the restart", || total_requests(&receivers) >= before + 10).await;
    server = kill_and_restart(server, &db, &ingest, &mut kills, "mid-delivery").await;

    // 3. Mid-ingest again, later in the stream.
    until(phase, "5,000 events are accepted and a request is in flight", || {
        let s = ingest.borrow();
        s.accepted_events >= 5_000 && s.in_flight
    })
    .await;
    server = kill_and_restart(server, &db, &ingest, &mut kills, "mid-ingest").await;

    // 4. During a retry wait: one receiver fails, and a retry has already come round.
    flaky.set_behaviour(Behaviour::Status(500, "down".into()));
    let failing_from = flaky.count();
    until(phase, "the failing receiver gets a retry", || {
        flaky.requests()[failing_from..].iter().any(|r| r.json()["retryCount"].as_u64().unwrap_or(0) >= 1)
    })
    .await;
    actix_rt::time::sleep(Duration::from_millis(30)).await;
    server = kill_and_restart(server, &db, &ingest, &mut kills, "during retry waits").await;
    let mut retrying = 0;
    for hook in &flaky_hooks {
        let res = server.api.get(&format!("/v1/webhooks/{}/batches?status=retrying&limit=1000", hook.id)).await;
        retrying += res.body["data"].as_array().map_or(0, Vec::len);
    }
    assert!(retrying > 0, "the kill during the failing spell left no batch waiting for a retry");
    let after_restart = flaky.count();
    until(phase, "the failing receiver is tried again after the restart", || flaky.count() > after_restart).await;
    flaky.set_behaviour(Behaviour::default());

    // 5. Mid-delivery, as the receiver that was failing takes batches again.
    let fixed_from = flaky.count();
    until(phase, "the fixed receiver takes a batch", || flaky.count() > fixed_from).await;
    server = kill_and_restart(server, &db, &ingest, &mut kills, "mid-delivery after the fix").await;

    // 6. At start-up, while the webhook actors reload their backlog.
    server = kill_and_restart(server, &db, &ingest, &mut kills, "at start-up").await;

    until(Duration::from_secs(60), "the ingest stream is done", || ingest.borrow().done).await;
    sender.await.expect("ingest task");
    let ingest = std::mem::take(&mut *ingest.borrow_mut());

    let mut seen = Seen::new(RECEIVERS);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        seen.update(&receivers);
        let missing = seen.missing(&paths, &ingest.accepted);
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} (webhook, accepted event) pairs were never delivered; log of the last run:\n{}",
            server.log()
        );
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_no_violations(&seen);

    // Every batch the API lists ends `success` and was received.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut listed = Vec::new();
    'settle: loop {
        seen.update(&receivers);
        listed.clear();
        let mut unsettled = Vec::new();
        for hook in &hooks {
            let batches = listed_batches(&server.api, &hook.id).await;
            let received = seen.hooks.get(&hook.path);
            for batch in &batches {
                let id = batch["batchId"].as_str().unwrap_or_default();
                let delivered = received.is_some_and(|h| h.batches.contains_key(id));
                if batch["status"] != "success" || !delivered {
                    unsettled.push(format!("{}: {batch}", hook.path));
                }
            }
            listed.push(batches);
        }
        if unsettled.is_empty() {
            break 'settle;
        }
        assert!(
            Instant::now() < deadline,
            "{} batches did not end `success` or were never received, e.g. {:?}",
            unsettled.len(),
            &unsettled[..unsettled.len().min(5)]
        );
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }

    assert_no_violations(&seen);
    let mut batches = 0;
    for (hook, batches_listed) in hooks.iter().zip(&listed) {
        let received = &seen.hooks[&hook.path];
        let listed_ids: HashSet<&str> =
            batches_listed.iter().filter(|b| b["test"] == false).filter_map(|b| b["batchId"].as_str()).collect();
        for batch in batches_listed {
            let id = batch["batchId"].as_str().unwrap_or_default();
            assert_eq!(
                batch["eventCount"].as_u64(),
                Some(received.batches[id].keys.len() as u64),
                "{}: batch {id} lists another event count than was delivered",
                hook.path
            );
        }
        for id in received.batches.keys() {
            assert!(listed_ids.contains(id.as_str()), "{}: received batch {id} is not in batch status", hook.path);
        }
        batches += received.batches.len();
    }

    let deliveries = seen.requests;
    let repeats: usize = seen.hooks.values().flat_map(|h| h.batches.values()).map(|b| b.sends - 1).sum();
    let resent_after_kill: usize =
        seen.hooks.values().flat_map(|h| h.batches.values()).map(|b| b.repeated_attempts).sum();
    let duplicate_events: usize =
        seen.hooks.values().flat_map(|h| h.batches.values()).map(|b| (b.sends - 1) * b.keys.len()).sum();
    let accepted: HashSet<u32> = ingest.accepted.iter().copied().collect();
    let unaccepted_delivered: usize = seen
        .hooks
        .values()
        .flat_map(|h| h.event_batch.keys())
        .filter(|(request, _)| !accepted.contains(request))
        .count();
    assert!(kills.len() >= 5);
    eprintln!(
        "crash test: {} events accepted in {} requests ({} requests failed) over {WEBHOOKS} webhooks; \
         {} SIGKILLs: {kills:#?}; {deliveries} deliveries of {batches} batches; {repeats} repeated sends \
         ({resent_after_kill} re-sends of an attempt cut by a kill, the rest retries after a 500), carrying {duplicate_events} duplicate event deliveries, \
         all whole batches with their batchId; {unaccepted_delivered} deliveries of events from requests that \
         did not get a 202; took {:?}",
        ingest.accepted_events,
        ingest.accepted.len(),
        ingest.failed,
        kills.len(),
        started.elapsed()
    );
}
