//! Issue 3 across restarts: the retry count, the schedule and the disable deadline are
//! stored, so a restart — a clean one of the in-process engine, or SIGKILL of the real
//! binary — neither resets a batch's retries, nor fires overdue retries all at once, nor
//! forgets or repeats the failure email, nor misses the deadline.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::failure_path::{
    assert_disabled_on_time, failing_receiver, id_of, ms, sleep_ms, stated_disable_time, subjects, wait_failed_batches,
    wait_mails, wait_webhook, SOON,
};
use crate::support::{event, Received, ServerProcess, SmtpServer, TestServer};

/// The (batchId, retryCount) of each request.
fn attempts_seen(requests: &[Received]) -> Vec<(String, u64)> {
    requests
        .iter()
        .map(|r| {
            let body = r.json();
            (body["batchId"].as_str().unwrap_or_default().to_owned(), body["retryCount"].as_u64().unwrap_or(99))
        })
        .collect()
}

#[actix_rt::test]
async fn failure_restart_in_the_middle_of_a_wait_keeps_the_count_and_the_schedule() {
    // The third wait is long enough to restart inside it.
    let long_wait = Duration::from_millis(900);
    let receiver = failing_receiver();
    let server = TestServer::start(|c| {
        c.retry_schedule = ms(&[20, 20, 900, 20, 20, 20, 20]);
        c.disable_after = Duration::from_secs(3600);
    })
    .await;
    let id = id_of(&server.api.create_webhook("Restarted", &receiver.url("/hook")).await);
    server.api.ingest(&json!([event("open", "m-1")])).await;
    let before = receiver.wait_for_count_async(3, SOON).await;
    let third = before[2].at;

    let server = server.restart().await;
    assert!(third.elapsed() < long_wait, "the restart took longer than the wait it should interrupt");
    let all = receiver.wait_for_count_async(4, SOON).await;
    let gap = all[3].at.duration_since(third);
    assert!(gap >= long_wait, "after the restart the retry came {gap:?} after the last, before its {long_wait:?} wait");
    assert!(
        gap < long_wait + Duration::from_millis(400),
        "after the restart the retry came {gap:?} after the last: the wait started over or was lost"
    );

    wait_failed_batches(&server.api, &id, 1).await;
    sleep_ms(200).await;
    let seen = attempts_seen(&receiver.requests());
    let batch = &seen[0].0;
    assert_eq!(seen.len(), 8, "still 8 attempts in all: {seen:?}");
    for (i, (batch_id, retry_count)) in seen.iter().enumerate() {
        assert_eq!((batch_id, *retry_count), (batch, i as u64), "attempt {i}: {seen:?}");
    }
    let batches = server.api.batches(&id).await;
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0]["retryCount"], 7);
}

#[actix_rt::test]
async fn failure_sigkill_mid_backoff_continues_the_count_and_spreads_overdue_retries() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("mailhooks.db");
    let receiver = failing_receiver();
    let flags = [
        "--retry-schedule",
        "20ms,300ms,300ms,20ms,20ms,20ms,20ms",
        "--batch-max-events",
        "1",
        "--batch-linger",
        "20ms",
        "--disable-after",
        "1h",
    ];
    let server = ServerProcess::start(&db, &flags).await;
    let id = id_of(&server.api.create_webhook("Killed", &receiver.url("/hook")).await);
    server.api.ingest(&json!([event("open", "m-1"), event("open", "m-2"), event("open", "m-3")])).await;
    // Three batches, each tried twice, now all in their 300 ms wait.
    receiver.wait_for_count_async(6, SOON).await;
    // Killed once the second attempts are recorded (an attempt cut short by the kill would
    // rightly be made again).
    server
        .api
        .wait_for(&format!("/v1/webhooks/{id}/batches"), SOON, "3 batches with 2 recorded attempts", |b| {
            let data = b["data"].as_array().cloned().unwrap_or_default();
            data.len() == 3 && data.iter().all(|b| b["attemptCount"] == 2 && b["status"] == "retrying")
        })
        .await;
    server.kill();
    let killed = Instant::now();
    let before = attempts_seen(&receiver.requests());
    assert_eq!(before.len(), 6, "{before:?}");
    let mut batches: Vec<String> = before.iter().map(|(b, _)| b.clone()).collect();
    batches.sort();
    batches.dedup();
    assert_eq!(batches.len(), 3, "{before:?}");
    // Down past every retry's due time: all three are overdue at the next start.
    sleep_ms(500).await;

    let server = ServerProcess::start(&db, &flags).await;
    let ingested = Instant::now();
    server.api.ingest(&json!([event("click", "m-fresh")])).await;
    let is_fresh = |r: &Received| r.json()["events"][0]["messageId"] == "m-fresh";
    let (fresh, resumed) = loop {
        let all = receiver.requests();
        let (fresh, resumed): (Vec<Received>, Vec<Received>) = all[6..].iter().cloned().partition(is_fresh);
        if !fresh.is_empty() && resumed.len() >= 3 {
            break (fresh, resumed[..3].to_vec());
        }
        assert!(ingested.elapsed() < SOON, "after the restart: {} fresh, {} old attempts", fresh.len(), resumed.len());
        sleep_ms(10).await;
    };
    let seen = attempts_seen(&resumed);
    let mut resumed_batches: Vec<String> = seen.iter().map(|(b, _)| b.clone()).collect();
    resumed_batches.sort();
    assert_eq!(resumed_batches, batches, "each old batch continues after SIGKILL, none is new: {seen:?}");
    for (r, (_, retry_count)) in resumed.iter().zip(&seen) {
        assert_eq!(*retry_count, 2, "the count continues after SIGKILL: {seen:?}");
        assert!(r.at.duration_since(killed) >= Duration::from_millis(500));
    }
    for pair in resumed.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(gap >= Duration::from_millis(30), "overdue retries were not spread out: {gap:?} apart");
    }
    // A fresh batch is not starved by the old ones' retries.
    let latency = fresh[0].at.duration_since(ingested);
    assert!(latency < Duration::from_millis(600), "the fresh batch waited {latency:?}");
    assert_eq!(fresh[0].json()["retryCount"], 0);

    // Every old batch still ends after exactly 8 attempts.
    server
        .api
        .wait_for(&format!("/v1/webhooks/{id}/batches?status=failed"), SOON, "3 old batches failed", |b| {
            b["data"].as_array().map_or(0, Vec::len) >= 3
        })
        .await;
    sleep_ms(200).await;
    let seen = attempts_seen(&receiver.requests());
    for batch in &batches {
        let counts: Vec<u64> = seen.iter().filter(|(b, _)| b == batch).map(|(_, c)| *c).collect();
        assert_eq!(counts, (0..8).collect::<Vec<u64>>(), "batch {batch}: {seen:?}");
    }
}

#[actix_rt::test]
async fn failure_restart_after_the_email_still_disables_on_time_without_a_second_failure_email() {
    let smtp = SmtpServer::start();
    let receiver = failing_receiver();
    let url = smtp.url();
    let server = TestServer::start(move |c| {
        c.retry_schedule = ms(&[10; 7]);
        c.disable_after = Duration::from_millis(800);
        c.smtp_url = Some(url);
    })
    .await;
    let id = id_of(&server.api.create_webhook("Restart after email", &receiver.url("/hook")).await);
    server.api.ingest(&json!([event("open", "m-1")])).await;
    let first = wait_mails(&smtp, 1, SOON).await;
    let deadline = stated_disable_time(&first[0]);

    let server = server.restart().await;
    assert_eq!(get_status(&server, &id).await, "enabled", "disabled too early");
    wait_webhook(&server.api, &id, "disabled after the restart", |w| w["status"] == "disabled").await;
    assert_disabled_on_time(deadline, chrono::Utc::now());
    let mails = wait_mails(&smtp, 2, SOON).await;
    // Several notifier ticks (80 ms) more: nothing else is sent.
    sleep_ms(400).await;
    let subjects = subjects(&smtp);
    assert_eq!(subjects.len(), 2, "one failure email and one disabled email: {subjects:?}");
    assert!(subjects[0].contains("failing") && subjects[1].contains("disabled"), "{subjects:?}");
    assert_eq!(mails[1].to, ["admin@localhost"]);
}

async fn get_status(server: &TestServer, id: &str) -> Value {
    server.api.get(&format!("/v1/webhooks/{id}")).await.body["status"].clone()
}

#[actix_rt::test]
async fn failure_sigkill_after_the_email_still_disables_on_time_without_a_second_failure_email() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("mailhooks.db");
    let smtp = SmtpServer::start();
    let receiver = failing_receiver();
    let smtp_url = smtp.url();
    let flags =
        ["--retry-schedule", "10ms,10ms,10ms,10ms,10ms,10ms,10ms", "--disable-after", "1s", "--smtp-url", &smtp_url];
    let server = ServerProcess::start(&db, &flags).await;
    let id = id_of(&server.api.create_webhook("Killed after email", &receiver.url("/hook")).await);
    server.api.ingest(&json!([event("open", "m-1")])).await;
    let first = wait_mails(&smtp, 1, SOON).await;
    let deadline = stated_disable_time(&first[0]);
    // Killed the moment the email has arrived: it is recorded as sent before it goes out.
    server.kill();

    let server = ServerProcess::start(&db, &flags).await;
    let webhook = server.api.get(&format!("/v1/webhooks/{id}")).await.body;
    assert_eq!(webhook["status"], "enabled", "disabled too early: {webhook}");
    assert_eq!(webhook["health"], "failing", "the spell survives the kill: {webhook}");
    wait_webhook(&server.api, &id, "disabled after SIGKILL", |w| w["status"] == "disabled").await;
    assert_disabled_on_time(deadline, chrono::Utc::now());
    wait_mails(&smtp, 2, SOON).await;
    sleep_ms(400).await;
    let subjects = subjects(&smtp);
    assert_eq!(subjects.len(), 2, "one failure email and one disabled email: {subjects:?}\n{}", server.log());
    assert!(subjects[0].contains("failing") && subjects[1].contains("disabled"), "{subjects:?}");
}
