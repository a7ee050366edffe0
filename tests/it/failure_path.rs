//! Issue 3, the failure path as a customer sees it: a batch that keeps failing is tried
//! exactly 8 times on the configured schedule and then `failed`; the webhook turns
//! `failing` and the account gets one email per failing spell (over real SMTP, or as an
//! `.eml` file); a fix — a successful delivery, a test batch, a new target URL or new
//! credentials — ends the spell; without one the webhook is disabled after
//! `disable_after`, a second email says so, and nothing is delivered until it is enabled
//! again. Durations are milliseconds so the whole path runs in about a second.
//!
//! The helpers at the top are shared with the other `failure_*` modules.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{event, Api, Behaviour, ReceivedMail, Receiver, SmtpServer, TestServer};

/// Generous bound for anything that should happen "soon"; waits poll, so a passing test
/// never sleeps this long.
pub const SOON: Duration = Duration::from_secs(10);

/// Durations in milliseconds.
pub fn ms(list: &[u64]) -> Vec<Duration> {
    list.iter().map(|m| Duration::from_millis(*m)).collect()
}

/// Seven short retries: a batch fails for good within a fraction of a second.
pub fn fast_schedule() -> Vec<Duration> {
    ms(&[10; 7])
}

pub async fn sleep_ms(millis: u64) {
    actix_rt::time::sleep(Duration::from_millis(millis)).await;
}

/// A receiver that answers every request `500 boom`.
pub fn failing_receiver() -> Receiver {
    let receiver = Receiver::start();
    receiver.set_behaviour(Behaviour::Status(500, "boom".into()));
    receiver
}

pub fn id_of(webhook: &Value) -> String {
    webhook["id"].as_str().expect("webhook id").to_owned()
}

/// Polls the webhook until `done` holds; returns it.
pub async fn wait_webhook(api: &Api, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    api.wait_for(&format!("/v1/webhooks/{id}"), SOON, what, done).await
}

pub async fn get_webhook(api: &Api, id: &str) -> Value {
    let res = api.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(res.status, 200, "get webhook: {}", res.text);
    res.body
}

/// Waits until `n` of the webhook's batches are `failed`.
pub async fn wait_failed_batches(api: &Api, id: &str, n: usize) {
    api.wait_for(&format!("/v1/webhooks/{id}/batches?status=failed"), SOON, &format!("{n} failed batches"), |b| {
        b["data"].as_array().map_or(0, Vec::len) >= n
    })
    .await;
}

/// Async wait for `n` emails (the SMTP helper's own wait blocks the thread the in-process
/// notifier runs on).
pub async fn wait_mails(smtp: &SmtpServer, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
    let start = Instant::now();
    loop {
        let all = smtp.messages();
        if all.len() >= n {
            return all;
        }
        if start.elapsed() > timeout {
            let seen: Vec<_> = all.iter().map(ReceivedMail::subject).collect();
            panic!("timed out after {timeout:?} waiting for {n} email(s); got {seen:?}");
        }
        sleep_ms(10).await;
    }
}

/// Subjects of the emails received so far.
pub fn subjects(smtp: &SmtpServer) -> Vec<String> {
    smtp.messages().iter().map(|m| m.subject().unwrap_or_default()).collect()
}

/// The email's body as text, however lettre encoded it.
pub fn plain_body(mail: &ReceivedMail) -> String {
    mail.text()
}

/// A server whose webhooks fail fast and are disabled `disable_after` after the email,
/// mailing through `smtp`.
pub async fn server_with_smtp(smtp: &SmtpServer, disable_after: Duration) -> TestServer {
    let url = smtp.url();
    TestServer::start(move |c| {
        c.retry_schedule = fast_schedule();
        c.disable_after = disable_after;
        c.smtp_url = Some(url);
        c.mail_retry_base = Duration::from_millis(100);
    })
    .await
}

/// The first RFC 3339 timestamp after `marker` in `text`.
fn time_after(text: &str, marker: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    let at = text.find(marker)? + marker.len();
    text[at..]
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .find_map(|w| chrono::DateTime::parse_from_rfc3339(w.trim_end_matches(['.', ','])).ok())
}

#[actix_rt::test]
async fn failure_a_failing_batch_is_tried_eight_times_on_the_schedule_then_failed() {
    // Non-monotonic on purpose: reading the schedule at the wrong index breaks a gap.
    let schedule = [80, 20, 120, 40, 20, 100, 60];
    let receiver = failing_receiver();
    let server = TestServer::start(|c| {
        c.retry_schedule = ms(&schedule);
        c.disable_after = Duration::from_secs(3600);
    })
    .await;
    let id = id_of(&server.api.create_webhook("always 500", &receiver.url("/hook")).await);
    server.api.ingest(&json!([event("delivery", "m-1"), event("open", "m-2")])).await;

    let requests = receiver.wait_for_count_async(8, SOON).await;
    wait_failed_batches(&server.api, &id, 1).await;
    // Longer than any wait of the schedule: a ninth attempt would have come by now.
    sleep_ms(300).await;
    let requests_after = receiver.requests();
    assert_eq!(requests_after.len(), 8, "exactly 8 attempts (1 + 7 retries)");

    let batch_id = requests[0].json()["batchId"].as_str().expect("batchId").to_owned();
    for (i, request) in requests_after.iter().enumerate() {
        let body = request.json();
        assert_eq!(body["retryCount"], i, "attempt {i}");
        assert_eq!(body["batchId"], batch_id.as_str(), "attempt {i} keeps the batch id");
        let ids: Vec<&str> =
            body["events"].as_array().unwrap().iter().map(|e| e["messageId"].as_str().unwrap()).collect();
        assert_eq!(ids, ["m-1", "m-2"], "attempt {i} carries the same events in order: {body}");
    }
    for (i, wait) in schedule.iter().enumerate() {
        let gap = requests_after[i + 1].at.duration_since(requests_after[i].at);
        let wait = Duration::from_millis(*wait);
        assert!(gap >= wait, "gap before retry {} was {gap:?}, shorter than its wait {wait:?}", i + 1);
        assert!(
            gap < wait + Duration::from_millis(200),
            "gap before retry {} was {gap:?}, far longer than its wait {wait:?}",
            i + 1
        );
    }

    let batch = server.api.get(&format!("/v1/webhooks/{id}/batches/{batch_id}")).await.body;
    assert_eq!(batch["status"], "failed");
    assert_eq!(batch["retryCount"], 7);
    assert_eq!(batch["responseCode"], 500);
    assert_eq!(batch["nextAttemptAt"], Value::Null, "nothing is scheduled after the last retry");
    let attempts = batch["attempts"].as_array().expect("attempts");
    let counts: Vec<i64> = attempts.iter().map(|a| a["retryCount"].as_i64().unwrap()).collect();
    assert_eq!(counts, (0..8).collect::<Vec<i64>>());
    assert!(attempts.iter().all(|a| a["responseCode"] == 500 && a["responseBody"] == "boom"));
    assert_eq!(server.api.batches(&id).await.len(), 1, "the retries never form a new batch");

    let webhook = get_webhook(&server.api, &id).await;
    assert_eq!(webhook["health"], "failing");
    assert!(webhook["failingSince"].is_string(), "failingSince is set: {webhook}");
    assert_eq!(webhook["status"], "enabled", "not disabled before its deadline");
}

#[actix_rt::test]
async fn failure_one_email_per_spell_however_many_batches_fail() {
    let smtp = SmtpServer::start();
    let receiver = failing_receiver();
    let url = smtp.url();
    let server = TestServer::start(move |c| {
        c.retry_schedule = fast_schedule();
        // Far away, but the notifier ticks every 500 ms: a duplicate would show.
        c.disable_after = Duration::from_secs(5);
        c.smtp_url = Some(url);
        c.batch_max_events = 1;
        // One batch after the other: the email goes out while later batches still fail.
        c.max_in_flight_per_webhook = 1;
    })
    .await;
    let id = id_of(&server.api.create_webhook("Orders stream", &receiver.url("/hook")).await);
    server.api.ingest(&json!([event("delivery", "m-1"), event("delivery", "m-2"), event("delivery", "m-3")])).await;

    wait_failed_batches(&server.api, &id, 3).await;
    assert_eq!(receiver.count(), 24, "3 batches × 8 attempts");
    let mails = wait_mails(&smtp, 1, SOON).await;
    sleep_ms(600).await;
    assert_eq!(subjects(&smtp).len(), 1, "one email for the spell, not one per batch: {:?}", subjects(&smtp));
    let subject = mails[0].subject().unwrap_or_default();
    assert!(subject.contains("Orders stream") && subject.contains("failing"), "subject: {subject}");
    assert_eq!(mails[0].to, ["admin@localhost"], "sent to the account's notification email");

    let webhook = get_webhook(&server.api, &id).await;
    assert_eq!(webhook["health"], "failing");
    assert!(webhook["failingSince"].is_string());
}

#[actix_rt::test]
async fn failure_the_email_names_webhook_target_error_failed_batches_and_disable_time() {
    let smtp = SmtpServer::start();
    // Down until every batch has failed, so the email reports all three.
    smtp.set_down(true);
    let receiver = failing_receiver();
    let url = smtp.url();
    let disable_after = Duration::from_secs(3600);
    let server = TestServer::start(move |c| {
        c.retry_schedule = fast_schedule();
        c.disable_after = disable_after;
        c.smtp_url = Some(url);
        c.mail_retry_base = Duration::from_millis(50);
        c.batch_max_events = 1;
        c.bootstrap_email = "ops@customer.example".into();
    })
    .await;
    let target = receiver.url("/hooks/mail-events?tenant=42");
    let id = id_of(&server.api.create_webhook("Billing feed", &target).await);
    server.api.ingest(&json!([event("bounce", "m-1"), event("bounce", "m-2"), event("bounce", "m-3")])).await;
    wait_failed_batches(&server.api, &id, 3).await;
    smtp.set_down(false);

    let mails = wait_mails(&smtp, 1, SOON).await;
    let sent = chrono::Utc::now();
    let mail = &mails[0];
    assert_eq!(mail.to, ["ops@customer.example"]);
    let subject = mail.subject().unwrap_or_default();
    assert!(subject.contains("Billing feed") && subject.to_lowercase().contains("failing"), "subject: {subject}");
    let body = plain_body(mail);
    assert!(body.contains("Billing feed"), "names the webhook:\n{body}");
    assert!(body.contains(&target), "names the target URL {target}:\n{body}");
    assert!(body.contains("500"), "names the last response code:\n{body}");
    assert!(body.lines().any(|l| l.contains("ailed batches") && l.contains('3')), "says 3 batches failed:\n{body}");
    let disable_at = time_after(&body, "disabled at").unwrap_or_else(|| panic!("no disable time in:\n{body}"));
    let expected = sent + chrono::Duration::from_std(disable_after).unwrap();
    let off = (disable_at.with_timezone(&chrono::Utc) - expected).num_milliseconds().abs();
    assert!(off < 5_000, "disable time {disable_at} should be about {expected} (sent + disable_after)");
}

/// `.eml` files in `dir`.
fn eml_files(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default()
}

#[actix_rt::test]
async fn failure_without_smtp_url_the_email_is_an_eml_file_in_mail_dir() {
    let receiver = failing_receiver();
    let server = TestServer::start(|c| {
        c.retry_schedule = fast_schedule();
        c.disable_after = Duration::from_secs(3600);
        c.smtp_url = None;
    })
    .await;
    let mail_dir = server.config.mail_dir.clone();
    assert!(mail_dir.starts_with(server.path()));
    let id = id_of(&server.api.create_webhook("File fallback", &receiver.url("/hook")).await);
    server.api.ingest(&json!([event("open", "m-1")])).await;
    wait_failed_batches(&server.api, &id, 1).await;

    let start = Instant::now();
    while eml_files(&mail_dir).is_empty() {
        assert!(start.elapsed() < SOON, "no .eml file appeared in {}", mail_dir.display());
        sleep_ms(20).await;
    }
    sleep_ms(300).await;
    let files = eml_files(&mail_dir);
    assert_eq!(files.len(), 1, "one email: {files:?}");
    let text = std::fs::read_to_string(&files[0]).expect("read .eml");
    assert!(text.contains("To: admin@localhost"), "addressed to the account:\n{text}");
    assert!(text.contains("File fallback") && text.contains("failing"), "subject names webhook:\n{text}");
}

#[actix_rt::test]
async fn failure_a_success_in_between_ends_the_spell_and_prevents_disabling() {
    let smtp = SmtpServer::start();
    let receiver = failing_receiver();
    let server = server_with_smtp(&smtp, Duration::from_millis(300)).await;
    let id = id_of(&server.api.create_webhook("Flaky", &receiver.url("/hook")).await);
    server.api.ingest(&json!([event("open", "m-1")])).await;
    wait_webhook(&server.api, &id, "failing", |w| w["health"] == "failing").await;
    wait_mails(&smtp, 1, SOON).await;

    // The endpoint recovers before the deadline: the next batch succeeds.
    receiver.set_behaviour(Behaviour::default());
    server.api.ingest(&json!([event("open", "m-2")])).await;
    let webhook = wait_webhook(&server.api, &id, "healthy again", |w| w["health"] == "healthy").await;
    assert_eq!(webhook["failingSince"], Value::Null);
    assert!(webhook["lastSuccessAt"].is_string());

    // Well past the old deadline: still enabled, and no "disabled" email.
    sleep_ms(700).await;
    let webhook = get_webhook(&server.api, &id).await;
    assert_eq!(webhook["status"], "enabled", "a fixed webhook is not disabled: {webhook}");
    assert_eq!(webhook["disabledReason"], Value::Null);
    assert_eq!(subjects(&smtp).len(), 1, "{:?}", subjects(&smtp));

    // A new failure is a new spell: it gets its own email.
    receiver.set_behaviour(Behaviour::Status(500, "boom".into()));
    server.api.ingest(&json!([event("open", "m-3")])).await;
    wait_webhook(&server.api, &id, "failing again", |w| w["health"] == "failing").await;
    let mails = wait_mails(&smtp, 2, SOON).await;
    let second = mails[1].subject().unwrap_or_default();
    assert!(second.contains("Flaky") && second.contains("failing"), "second spell's email: {second}");
}

#[actix_rt::test]
async fn failure_a_successful_test_batch_is_a_fix() {
    let smtp = SmtpServer::start();
    let receiver = failing_receiver();
    let server = server_with_smtp(&smtp, Duration::from_millis(400)).await;
    let id = id_of(&server.api.create_webhook("Tested", &receiver.url("/hook")).await);
    server.api.ingest(&json!([event("open", "m-1")])).await;
    wait_webhook(&server.api, &id, "failing", |w| w["health"] == "failing").await;
    wait_mails(&smtp, 1, SOON).await;

    receiver.set_behaviour(Behaviour::default());
    let res = server.api.post(&format!("/v1/webhooks/{id}/test"), &json!({})).await;
    assert_eq!(res.body["success"], true, "{}", res.text);
    let webhook = get_webhook(&server.api, &id).await;
    assert_eq!(webhook["health"], "healthy", "{webhook}");
    sleep_ms(700).await;
    assert_eq!(get_webhook(&server.api, &id).await["status"], "enabled");
    assert_eq!(subjects(&smtp).len(), 1);
}

/// The "will be disabled at" time a failure email states.
pub fn stated_disable_time(mail: &ReceivedMail) -> chrono::DateTime<chrono::Utc> {
    let body = plain_body(mail);
    time_after(&body, "disabled at")
        .unwrap_or_else(|| panic!("no disable time in:\n{body}"))
        .with_timezone(&chrono::Utc)
}

/// Asserts that `disabled_seen` (when a poll first saw the webhook disabled) is on time for
/// the deadline the failure email stated: not before it, and not much after.
pub fn assert_disabled_on_time(stated: chrono::DateTime<chrono::Utc>, disabled_seen: chrono::DateTime<chrono::Utc>) {
    let late = (disabled_seen - stated).num_milliseconds();
    assert!(late >= -5, "disabled {}ms before the time the email stated ({stated})", -late);
    assert!(late < 1000, "disabled {late}ms after the time the email stated ({stated})");
}

/// Makes the webhook fail and waits until it is disabled for it; returns the emails.
async fn fail_until_disabled(server: &TestServer, smtp: &SmtpServer, id: &str) -> Vec<ReceivedMail> {
    server.api.ingest(&json!([event("open", "m-1")])).await;
    let first = wait_mails(smtp, 1, SOON).await;
    let emailed = Instant::now();
    assert!(first[0].subject().unwrap_or_default().contains("failing"));
    let webhook = wait_webhook(&server.api, id, "disabled", |w| w["status"] == "disabled").await;
    assert_disabled_on_time(stated_disable_time(&first[0]), chrono::Utc::now());
    let waited = emailed.elapsed();
    assert!(waited >= Duration::from_millis(200), "disabled {waited:?} after the email, before disable_after");
    assert_eq!(webhook["disabledReason"], "failing", "{webhook}");
    wait_mails(smtp, 2, SOON).await
}

#[actix_rt::test]
async fn failure_unfixed_webhook_is_disabled_after_the_window_and_receives_nothing() {
    let smtp = SmtpServer::start();
    let receiver = failing_receiver();
    let server = server_with_smtp(&smtp, Duration::from_millis(300)).await;
    let id = id_of(&server.api.create_webhook("Never fixed", &receiver.url("/hook")).await);
    let mails = fail_until_disabled(&server, &smtp, &id).await;

    let second = mails[1].subject().unwrap_or_default();
    assert!(second.contains("Never fixed") && second.contains("disabled"), "second email: {second}");
    assert_eq!(mails[1].to, ["admin@localhost"]);
    let body = plain_body(&mails[1]);
    assert!(body.contains("disabled") && body.contains(&receiver.url("/hook")), "second email body:\n{body}");

    // The endpoint works again, but the webhook is disabled: nothing goes out.
    let attempts = receiver.count();
    receiver.set_behaviour(Behaviour::default());
    server.api.ingest(&json!([event("open", "m-2"), event("click", "m-3")])).await;
    sleep_ms(500).await;
    assert_eq!(receiver.count(), attempts, "a disabled webhook receives no events");
    assert_eq!(server.api.batches(&id).await.len(), 1, "no batch is formed for a disabled webhook");
    assert_eq!(smtp.messages().len(), 2, "{:?}", subjects(&smtp));
}

#[actix_rt::test]
async fn failure_enabling_a_disabled_webhook_makes_it_healthy_and_it_delivers_again() {
    let smtp = SmtpServer::start();
    let receiver = failing_receiver();
    let server = server_with_smtp(&smtp, Duration::from_millis(300)).await;
    let id = id_of(&server.api.create_webhook("Re-enabled", &receiver.url("/hook")).await);
    fail_until_disabled(&server, &smtp, &id).await;

    receiver.set_behaviour(Behaviour::default());
    receiver.clear();
    let res = server.api.patch(&format!("/v1/webhooks/{id}"), &json!({"status": "enabled"})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["status"], "enabled");
    assert_eq!(res.body["disabledReason"], Value::Null);
    assert_eq!(res.body["health"], "healthy");
    assert_eq!(res.body["failingSince"], Value::Null);

    server.api.ingest(&json!([event("open", "m-new")])).await;
    let got = receiver.wait_for_count_async(1, SOON).await;
    assert_eq!(got[0].json()["events"][0]["messageId"], "m-new");
    // The old deadline is gone: it stays enabled.
    sleep_ms(600).await;
    let webhook = get_webhook(&server.api, &id).await;
    assert_eq!((webhook["status"].as_str(), webhook["health"].as_str()), (Some("enabled"), Some("healthy")));
    assert_eq!(smtp.messages().len(), 2, "{:?}", subjects(&smtp));
}

#[actix_rt::test]
async fn failure_a_new_target_url_is_a_fix() {
    let smtp = SmtpServer::start();
    let broken = failing_receiver();
    let fixed = Receiver::start();
    let server = server_with_smtp(&smtp, Duration::from_millis(300)).await;
    let id = id_of(&server.api.create_webhook("Moved", &broken.url("/hook")).await);
    server.api.ingest(&json!([event("open", "m-1")])).await;
    wait_mails(&smtp, 1, SOON).await;

    let res = server.api.patch(&format!("/v1/webhooks/{id}"), &json!({"targetUrl": fixed.url("/new")})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["health"], "healthy", "{}", res.text);
    assert_eq!(res.body["failingSince"], Value::Null);

    sleep_ms(700).await;
    let webhook = get_webhook(&server.api, &id).await;
    assert_eq!(webhook["status"], "enabled", "a fixed webhook is not disabled: {webhook}");
    assert_eq!(subjects(&smtp).len(), 1, "no disabled email: {:?}", subjects(&smtp));
    server.api.ingest(&json!([event("open", "m-2")])).await;
    let got = fixed.wait_for_count_async(1, SOON).await;
    assert_eq!(got[0].path, "/new");
}

#[actix_rt::test]
async fn failure_new_credentials_are_a_fix_but_a_new_name_is_not() {
    let smtp = SmtpServer::start();
    let receiver = failing_receiver();
    let server = server_with_smtp(&smtp, Duration::from_secs(3600)).await;
    let id = id_of(&server.api.create_webhook("Creds", &receiver.url("/hook")).await);
    server.api.ingest(&json!([event("open", "m-1")])).await;
    wait_webhook(&server.api, &id, "failing", |w| w["health"] == "failing").await;

    let path = format!("/v1/webhooks/{id}");
    let res = server.api.patch(&path, &json!({"name": "Creds renamed"})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["health"], "failing", "a new name fixes nothing");

    let auth = json!({"auth": {"type": "basic", "username": "u", "password": "p4ssword"}});
    let res = server.api.patch(&path, &auth).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["health"], "healthy", "new credentials are a fix");
    assert_eq!(res.body["failingSince"], Value::Null);
}

#[actix_rt::test]
async fn failure_a_fix_before_the_email_goes_out_cancels_it() {
    let smtp = SmtpServer::start();
    smtp.set_down(true);
    let broken = failing_receiver();
    let fixed = Receiver::start();
    let server = server_with_smtp(&smtp, Duration::from_millis(300)).await;
    let id = id_of(&server.api.create_webhook("Quick fix", &broken.url("/hook")).await);
    server.api.ingest(&json!([event("open", "m-1")])).await;
    wait_webhook(&server.api, &id, "failing", |w| w["health"] == "failing").await;

    let res = server.api.patch(&format!("/v1/webhooks/{id}"), &json!({"targetUrl": fixed.url("/hook")})).await;
    assert_eq!(res.body["health"], "healthy", "{}", res.text);
    smtp.set_down(false);
    // Several mail retries (100 ms base) and the old deadline pass.
    sleep_ms(1000).await;
    assert!(smtp.messages().is_empty(), "no email about a spell that is over: {:?}", subjects(&smtp));
    assert_eq!(get_webhook(&server.api, &id).await["status"], "enabled");
}
