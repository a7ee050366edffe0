//! Issue 3, items 2 and 5: failure stays where it is. Endpoints that hang until the
//! delivery timeout, refuse connections or answer 500 do not delay a healthy webhook's
//! deliveries beyond normal batching; a failing webhook never has more than
//! `max_in_flight_per_webhook` requests open at its endpoint; and a mail server that is
//! down neither holds up deliveries nor loses the failure email, whose disable countdown
//! starts only when it has actually been sent.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::failure_path::{
    assert_disabled_on_time, failing_receiver, id_of, ms, sleep_ms, stated_disable_time, subjects, wait_mails,
    wait_webhook, SOON,
};
use crate::support::{event, refused_url, Behaviour, Receiver, SmtpServer, TestServer};

/// Ingests one probe event and returns how long until `healthy` received it.
async fn probe_latency(server: &TestServer, healthy: &Receiver, name: &str) -> Duration {
    let sent = Instant::now();
    server.api.ingest(&json!([event("open", name)])).await;
    loop {
        let hit = healthy.requests().into_iter().find(|r| {
            r.json()["events"].as_array().is_some_and(|events| events.iter().any(|e| e["messageId"] == name))
        });
        if let Some(hit) = hit {
            return hit.at.duration_since(sent);
        }
        assert!(sent.elapsed() < SOON, "probe {name} never reached the healthy webhook");
        sleep_ms(5).await;
    }
}

#[actix_rt::test]
async fn failure_hanging_refusing_and_failing_endpoints_do_not_delay_a_healthy_webhook() {
    let linger = Duration::from_millis(50);
    let hanging = Receiver::start();
    hanging.set_behaviour(Behaviour::Hang);
    let failing = failing_receiver();
    let healthy = Receiver::start();
    let server = TestServer::start(|c| {
        c.batch_linger = linger;
        c.batch_max_events = 1;
        c.delivery_timeout = Duration::from_millis(500);
        c.retry_schedule = ms(&[20; 7]);
        c.disable_after = Duration::from_secs(3600);
    })
    .await;
    server.api.create_webhook("Hangs", &hanging.url("/hook")).await;
    server.api.create_webhook("Refuses", &format!("{}/hook", refused_url())).await;
    server.api.create_webhook("Fails", &failing.url("/hook")).await;
    let healthy_id = id_of(&server.api.create_webhook("Healthy", &healthy.url("/hook")).await);

    // Every webhook gets a queue of one-event batches: the bad ones fill their slots.
    let load: Vec<Value> = (0..12).map(|i| event("delivery", &format!("load-{i}"))).collect();
    server.api.ingest(&Value::Array(load)).await;
    hanging.wait_for_count_async(4, SOON).await;

    let mut latencies = Vec::new();
    for i in 0..6 {
        latencies.push(probe_latency(&server, &healthy, &format!("probe-{i}")).await);
        sleep_ms(80).await;
    }
    let worst = latencies.iter().max().copied().unwrap_or_default();
    assert!(worst < linger + Duration::from_millis(300), "a healthy delivery waited {worst:?}: {latencies:?}");
    assert!(hanging.count() >= 4 && failing.count() >= 4, "the bad endpoints were being tried meanwhile");
    let batches = server.api.batches(&healthy_id).await;
    assert!(batches.iter().all(|b| b["status"] == "success"), "the healthy webhook only succeeded");
}

#[actix_rt::test]
async fn failure_a_failing_webhook_never_has_more_than_max_in_flight_requests_open() {
    let timeout = Duration::from_millis(400);
    let hanging = Receiver::start();
    hanging.set_behaviour(Behaviour::Hang);
    let server = TestServer::start(|c| {
        c.batch_max_events = 1;
        c.max_in_flight_per_webhook = 2;
        c.delivery_timeout = timeout;
        c.retry_schedule = ms(&[10; 7]);
        c.disable_after = Duration::from_secs(3600);
    })
    .await;
    server.api.create_webhook("Flooded", &hanging.url("/hook")).await;
    let load: Vec<Value> = (0..10).map(|i| event("open", &format!("m-{i}"))).collect();
    server.api.ingest(&Value::Array(load)).await;
    hanging.wait_for_count_async(1, SOON).await;
    // Three timeout rounds: an unbounded webhook would have sent all 10 batches at once.
    sleep_ms(3 * 400 + 100).await;

    // Each request stays open for the whole timeout, so requests that arrived within less
    // than that of each other were open at the same moment.
    let arrivals: Vec<Instant> = hanging.requests().iter().map(|r| r.at).collect();
    let window = Duration::from_millis(150);
    let most_together = (0..arrivals.len())
        .map(|i| arrivals[i..].iter().take_while(|a| a.duration_since(arrivals[i]) < window).count());
    let most_together = most_together.max().unwrap_or(0);
    assert!(most_together <= 2, "{most_together} requests open at once, more than max_in_flight_per_webhook = 2");
    assert_eq!(most_together, 2, "the webhook did use both of its slots");
    let n = arrivals.len();
    assert!((4..=8).contains(&n), "{n} requests in three timeout rounds of 2 slots");
}

#[actix_rt::test]
async fn failure_a_mail_server_that_is_down_delays_only_the_email_and_its_countdown() {
    let smtp = SmtpServer::start();
    smtp.set_down(true);
    let broken = failing_receiver();
    let healthy = Receiver::start();
    let url = smtp.url();
    let disable_after = Duration::from_millis(300);
    let server = TestServer::start(move |c| {
        c.retry_schedule = ms(&[10; 7]);
        c.disable_after = disable_after;
        c.smtp_url = Some(url);
        c.mail_retry_base = Duration::from_millis(100);
    })
    .await;
    let broken_id = id_of(&server.api.create_webhook("Broken", &broken.url("/hook")).await);
    server.api.create_webhook("Healthy", &healthy.url("/hook")).await;
    server.api.ingest(&json!([event("open", "m-1")])).await;
    wait_webhook(&server.api, &broken_id, "failing", |w| w["health"] == "failing").await;

    // While the mail server refuses, deliveries go on as usual.
    for i in 0..3 {
        let latency = probe_latency(&server, &healthy, &format!("probe-{i}")).await;
        assert!(latency < Duration::from_millis(400), "a delivery waited {latency:?} while mail was down");
    }
    // Past the disable window, but the customer has not been told yet: no countdown.
    sleep_ms(500).await;
    assert!(smtp.messages().is_empty());
    let webhook = server.api.get(&format!("/v1/webhooks/{broken_id}")).await.body;
    assert_eq!(webhook["status"], "enabled", "disabled before the failure email was sent: {webhook}");

    smtp.set_down(false);
    let mails = wait_mails(&smtp, 1, SOON).await;
    assert!(mails[0].subject().unwrap_or_default().contains("Broken"), "{:?}", subjects(&smtp));
    let deadline = stated_disable_time(&mails[0]);
    wait_webhook(&server.api, &broken_id, "disabled", |w| w["status"] == "disabled").await;
    assert_disabled_on_time(deadline, chrono::Utc::now());
    wait_mails(&smtp, 2, SOON).await;
    sleep_ms(200).await;
    assert_eq!(
        subjects(&smtp).len(),
        2,
        "the refused email was sent once, then the disabled one: {:?}",
        subjects(&smtp)
    );
}
