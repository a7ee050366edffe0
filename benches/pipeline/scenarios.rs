//! The six scenarios of the load test. Each measures mailhooks and, in the same run, a
//! physical baseline on this machine, and returns a [`Report`]. Each runs in its own
//! child process (see main.rs), so memory and threads do not leak between them.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, AsyncContext};
use awc::SendClientRequest;
use bytes::Bytes;
use mailhooks::db;
use mailhooks::delivery::payload::batch_body;
use mailhooks::model::{now_millis, BatchId, WebhookId};
use serde_json::{json, Value};

use crate::receiver::{now_micros, Receiver};
use crate::setup::{self, Running};
use crate::Size;

/// One scenario's figures.
pub struct Report {
    pub scenario: &'static str,
    /// (name, value, unit)
    pub figures: Vec<(&'static str, f64, &'static str)>,
    /// (target description, met)
    pub targets: Vec<(String, bool)>,
}

impl Report {
    pub fn json(&self) -> Value {
        let mut figures = serde_json::Map::new();
        for (name, value, _) in &self.figures {
            figures.insert((*name).into(), json!(value));
        }
        let targets: Vec<Value> = self.targets.iter().map(|(t, ok)| json!({"target": t, "pass": ok})).collect();
        json!({"scenario": self.scenario, "figures": figures, "targets": targets})
    }
}

/// Posts `bodies` to `url` with `concurrency` clients; returns (elapsed, accepted count).
async fn post_all(url: &str, bodies: Arc<Vec<Bytes>>, concurrency: usize) -> (Duration, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers = (0..concurrency).map(|_| {
        let (next, accepted, bodies, url) = (next.clone(), accepted.clone(), bodies.clone(), url.to_owned());
        async move {
            let client = setup::client();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let sent = client
                    .post(&url)
                    .insert_header(("Authorization", format!("Bearer {}", setup::API_KEY)))
                    .insert_header(("Content-Type", "application/json"))
                    .send_body(body.clone())
                    .await;
                if let Ok(mut res) = sent {
                    let _ = res.body().await;
                    if res.status().as_u16() == 202 || res.status().is_success() {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    });
    futures_util::future::join_all(workers).await;
    (started.elapsed(), accepted.load(Ordering::Relaxed))
}

/// Request bodies of `per_request` events each, `total` events in all.
fn ingest_bodies(total: usize, per_request: usize, size: usize, sources: usize) -> Vec<Bytes> {
    (0..total)
        .step_by(per_request)
        .map(|start| {
            let end = (start + per_request).min(total);
            let events: Vec<String> = (start..end).map(|i| setup::event(i, i % sources.max(1), size, None)).collect();
            Bytes::from(format!("[{}]", events.join(",")))
        })
        .collect()
}

async fn wait_for_events(receiver: &Receiver, expected: u64, timeout: Duration) -> bool {
    let start = Instant::now();
    while receiver.seen.events.load(Ordering::Relaxed) < expected {
        if start.elapsed() > timeout {
            return false;
        }
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// Durable ingest: events/s accepted (202), 100 events of 1 KB per request, 8 clients,
/// against inserting the same rows with diesel in 1,000-row transactions.
pub async fn ingest(size: Size) -> Report {
    let total = size.pick(2_000, 20_000, 200_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let running = Running::start(setup::config(dir.path())).await;
    let bodies = Arc::new(ingest_bodies(total, 100, 1024, 1));
    let (elapsed, accepted) = post_all(&format!("{}/v1/events", running.base), bodies.clone(), 8).await;
    let ingest_rate = rate(accepted * 100, elapsed);
    running.stop().await;

    let base_dir = tempfile::tempdir().expect("temp dir");
    let mut conn = setup::connect(base_dir.path());
    let account = setup::account(&mut conn);
    let payloads: Vec<String> = (0..total).map(|i| setup::event(i, 0, 1024, None)).collect();
    let started = Instant::now();
    for chunk in payloads.chunks(1000) {
        let to_store: Vec<db::events::EventToStore> =
            chunk.iter().map(|p| db::events::EventToStore { payload: p, webhooks: &[] }).collect();
        conn.immediate_transaction(|conn| db::events::store(conn, &account, &[], &to_store, now_millis()))
            .expect("baseline insert");
    }
    let baseline = rate(total, started.elapsed());
    let ratio = ingest_rate / baseline;
    Report {
        scenario: "durable_ingest",
        figures: vec![
            ("events_per_s", ingest_rate, "events/s"),
            ("baseline_rows_per_s", baseline, "rows/s"),
            ("ratio", ratio, "x"),
            ("accepted_requests", accepted as f64, "requests"),
        ],
        targets: vec![("ingest >= 50% of raw insert baseline".into(), ratio >= 0.5)],
    }
}

/// End-to-end at 1,000 webhooks, ingest and delivery at once, engine defaults (1 s
/// linger): events are posted at full speed (1,000 per request, 8 clients) while the
/// webhooks deliver them. The delivered rate counts from the first post to the last
/// receipt. Delivery keeps up when the last event arrives within the linger (plus 1 s)
/// of the last post: a growing backlog would take longer to clear, in proportion to the
/// run. Against plain awc POSTs of 500-event batch bodies to the same receiver.
pub async fn end_to_end(size: Size) -> Report {
    let webhooks = size.pick(20, 1_000, 1_000);
    let total = size.pick(10_000, 100_000, 500_000);
    let receiver = Receiver::start(2, "/h");
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let mut conn = setup::connect(dir.path());
        let account = setup::account(&mut conn);
        setup::webhooks(&mut conn, &account, webhooks, &receiver.base, |_| false);
    }
    let config = setup::config(dir.path());
    let linger = config.batch_linger;
    let running = Running::start(config).await;
    let bodies = Arc::new(ingest_bodies(total, 1000, 1024, webhooks));
    let started = Instant::now();
    let (ingest_elapsed, accepted) = post_all(&format!("{}/v1/events", running.base), bodies, 8).await;
    let delivered_all = wait_for_events(&receiver, (accepted * 1000).min(total) as u64, Duration::from_secs(600)).await;
    let pipeline_elapsed = started.elapsed();
    let tail = pipeline_elapsed.saturating_sub(ingest_elapsed);
    running.stop().await;
    let ingest_rate = rate(total, ingest_elapsed);
    let pipeline_rate = rate(total, pipeline_elapsed);
    let baseline_rate = awc_baseline(&receiver, webhooks, total, 1024).await;
    receiver.stop();
    Report {
        scenario: "end_to_end",
        figures: vec![
            ("webhooks", webhooks as f64, ""),
            ("delivered_events_per_s", pipeline_rate, "events/s"),
            ("ingest_events_per_s", ingest_rate, "events/s"),
            ("last_receipt_after_last_post_ms", tail.as_secs_f64() * 1000.0, "ms"),
            ("baseline_awc_events_per_s", baseline_rate, "events/s"),
            ("ratio", pipeline_rate / baseline_rate, "x"),
        ],
        targets: vec![
            ("everything delivered".into(), delivered_all),
            (
                "no growing backlog (last receipt <= linger + 1 s after the last post)".into(),
                tail <= linger + Duration::from_secs(1),
            ),
        ],
    }
}

/// Delivery capacity at 1,000 webhooks: a stored backlog drained by a fresh start in
/// 500-event batches, against plain awc POSTs of the same batch bodies to the same
/// receiver and against durable ingest into the same kind of database.
pub async fn drain(size: Size) -> Report {
    let webhooks = size.pick(20, 1_000, 1_000);
    let total = size.pick(10_000, 100_000, 500_000);
    let receiver = Receiver::start(2, "/h");
    let dir = tempfile::tempdir().expect("temp dir");
    setup::webhooks_with_backlog(dir.path(), &receiver.base, webhooks, total, 1024);
    let config = mailhooks::Config {
        batch_linger: Duration::from_millis(50),
        batch_max_events: 500,
        ..setup::config(dir.path())
    };
    let started = Instant::now();
    let running = Running::start(config).await;
    let drained = wait_for_events(&receiver, total as u64, Duration::from_secs(600)).await;
    let drain_rate = rate(total, started.elapsed());
    running.stop().await;
    let baseline_rate = awc_baseline(&receiver, webhooks, total, 1024).await;
    receiver.stop();
    Report {
        scenario: "drain",
        figures: vec![
            ("webhooks", webhooks as f64, ""),
            ("events", total as f64, ""),
            ("drain_events_per_s", drain_rate, "events/s"),
            ("baseline_awc_events_per_s", baseline_rate, "events/s"),
            ("ratio", drain_rate / baseline_rate, "x"),
        ],
        targets: vec![
            ("everything delivered".into(), drained),
            (">= 100,000 events/s delivered with 500-event batches".into(), drain_rate >= 100_000.0),
        ],
    }
}

/// Plain awc: `total` events' worth of batch bodies (500 events, or a webhook's share if
/// fewer, of about `event_size` bytes) POSTed to `webhooks` paths of the receiver, 256
/// senders; events/s.
async fn awc_baseline(receiver: &Receiver, webhooks: usize, total: usize, event_size: usize) -> f64 {
    let per_webhook = total / webhooks;
    let events: Vec<Arc<str>> =
        (0..500.min(per_webhook.max(1))).map(|i| Arc::from(setup::event(i, 0, event_size, None))).collect();
    let batches_per_webhook = per_webhook.div_ceil(events.len());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let senders = (0..webhooks.min(256)).map(|_| {
        let (next, events, base) = (next.clone(), events.clone(), receiver.base.clone());
        async move {
            let client = setup::client();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= webhooks * batches_per_webhook {
                    break;
                }
                let body = batch_body(&BatchId::generate(), 0, &events);
                if let Ok(mut res) = client
                    .post(format!("{base}/h{}", i % webhooks))
                    .insert_header(("Content-Type", "application/json"))
                    .send_body(body)
                    .await
                {
                    let _ = res.body().await;
                }
            }
        }
    });
    futures_util::future::join_all(senders).await;
    rate(webhooks * batches_per_webhook * events.len(), started.elapsed())
}

/// The steady load of the latency and isolation scenarios: 2,000 events/s, sent every
/// 10 ms, each event to webhook `(i * 7919) % webhooks` so that consecutive events
/// spread over all of them.
const STEADY_EVENTS_PER_TICK: usize = 20;
const STEADY_TICK: Duration = Duration::from_millis(10);
/// The engine's `--batch-linger` under the steady load.
const STEADY_LINGER: Duration = Duration::from_millis(50);

fn steady_webhook(i: usize, webhooks: usize) -> usize {
    (i * 7919) % webhooks
}

/// Runs the steady load for the size's duration: every tick, `requests` makes the POSTs
/// for the next events (their numbers, and the send time in microseconds), which then go
/// out concurrently. Returns how many events were sent, once every POST is answered.
async fn steady_load(size: Size, mut requests: impl FnMut(Range<usize>, u64) -> Vec<SendClientRequest>) -> usize {
    let duration = Duration::from_secs(size.pick(1, 3, 10) as u64);
    let started = Instant::now();
    let mut sent = 0usize;
    let mut tick = actix_rt::time::interval(STEADY_TICK);
    let mut in_flight = Vec::new();
    while started.elapsed() < duration {
        tick.tick().await;
        for request in requests(sent..sent + STEADY_EVENTS_PER_TICK, now_micros()) {
            in_flight.push(actix_rt::spawn(async move {
                if let Ok(mut res) = request.await {
                    let _ = res.body().await;
                }
            }));
        }
        sent += STEADY_EVENTS_PER_TICK;
    }
    for request in in_flight {
        let _ = request.await;
    }
    sent
}

/// The steady load through the engine over `webhooks` webhooks (of which `hanging` never
/// answer), one ingest request per tick; returns the healthy webhooks' latencies in
/// microseconds and how many events were sent.
async fn steady_latencies(size: Size, webhooks: usize, hanging: usize) -> (Vec<u64>, usize) {
    let receiver = Receiver::start(1, "/h");
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let mut conn = setup::connect(dir.path());
        let account = setup::account(&mut conn);
        setup::webhooks(&mut conn, &account, webhooks, &receiver.base, |i| i < hanging);
    }
    let config = mailhooks::Config {
        batch_linger: STEADY_LINGER,
        delivery_timeout: Duration::from_secs(2),
        ..setup::config(dir.path())
    };
    let running = Running::start(config).await;
    running.engine.settle().await;
    let client = setup::client();
    let url = format!("{}/v1/events", running.base);
    let sent = steady_load(size, |numbers, now| {
        let events: Vec<String> =
            numbers.map(|i| setup::event(i, steady_webhook(i, webhooks), 300, Some(now))).collect();
        let request = client
            .post(&url)
            .insert_header(("Authorization", format!("Bearer {}", setup::API_KEY)))
            .insert_header(("Content-Type", "application/json"))
            .send_body(format!("[{}]", events.join(",")));
        vec![request]
    })
    .await;
    let healthy_expected = (0..sent).filter(|&i| steady_webhook(i, webhooks) >= hanging).count() as u64;
    wait_for_events(&receiver, healthy_expected, Duration::from_secs(30)).await;
    running.stop().await;
    receiver.stop();
    (latencies_seen(&receiver), sent)
}

/// The latency floor: the same steady load, each event POSTed by plain awc as a
/// one-event batch body (what a 50 ms linger makes of this load over 1,000 webhooks)
/// straight to the receiver; ingest → receipt in microseconds.
async fn direct_latencies(size: Size, webhooks: usize) -> Vec<u64> {
    let receiver = Receiver::start(1, "/h");
    let client = setup::client();
    let sent = steady_load(size, |numbers, now| {
        numbers
            .map(|i| {
                let webhook = steady_webhook(i, webhooks);
                let event: Arc<str> = Arc::from(setup::event(i, webhook, 300, Some(now)));
                client
                    .post(format!("{}/h{webhook}", receiver.base))
                    .insert_header(("Content-Type", "application/json"))
                    .send_body(batch_body(&BatchId::generate(), 0, &[event]))
            })
            .collect()
    })
    .await;
    wait_for_events(&receiver, sent as u64, Duration::from_secs(30)).await;
    receiver.stop();
    latencies_seen(&receiver)
}

fn latencies_seen(receiver: &Receiver) -> Vec<u64> {
    receiver.seen.latencies.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

fn percentile(values: &mut [u64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_unstable();
    let index = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[index] as f64 / 1000.0
}

/// Ingest → receipt latency at a steady 2,000 events/s over 1,000 webhooks with a 50 ms
/// linger, against its floor: the linger plus the p99 of plain awc POSTs of the same
/// events at the same rate.
pub async fn latency(size: Size) -> Report {
    let webhooks = size.pick(100, 1_000, 1_000);
    let (mut latencies, sent) = steady_latencies(size, webhooks, 0).await;
    let p50 = percentile(&mut latencies, 0.50);
    let p99 = percentile(&mut latencies, 0.99);
    let mut direct = direct_latencies(size, webhooks).await;
    let direct_p99 = percentile(&mut direct, 0.99);
    let linger_ms = STEADY_LINGER.as_secs_f64() * 1000.0;
    Report {
        scenario: "latency",
        figures: vec![
            ("events", sent as f64, ""),
            ("received", latencies.len() as f64, ""),
            ("p50_ms", p50, "ms"),
            ("p99_ms", p99, "ms"),
            ("linger_ms", linger_ms, "ms"),
            ("baseline_awc_p99_ms", direct_p99, "ms"),
            // Against the floor: the linger plus a plain POST's p99.
            ("ratio", p99 / (linger_ms + direct_p99), "x"),
        ],
        targets: vec![("p99 <= linger + 25 ms".into(), p99 <= linger_ms + 25.0)],
    }
}

/// Healthy webhooks' p99 while 1% of webhooks hang until the delivery timeout, against
/// the same run with none hanging.
pub async fn isolation(size: Size) -> Report {
    let webhooks = size.pick(100, 1_000, 1_000);
    let (mut clean, _) = steady_latencies(size, webhooks, 0).await;
    let (mut faulty, _) = steady_latencies(size, webhooks, webhooks / 100).await;
    let clean_p99 = percentile(&mut clean, 0.99);
    let faulty_p99 = percentile(&mut faulty, 0.99);
    let ratio = faulty_p99 / clean_p99;
    Report {
        scenario: "isolation",
        figures: vec![
            ("no_fault_p99_ms", clean_p99, "ms"),
            ("one_percent_hanging_p99_ms", faulty_p99, "ms"),
            ("ratio", ratio, "x"),
        ],
        targets: vec![("healthy p99 <= 1.2x the no-fault run".into(), ratio <= 1.2)],
    }
}

fn density_count(size: Size) -> usize {
    size.pick(1_000, 10_000, 100_000)
}

/// An idle actix actor with a timer and nothing else: the floor for an idle webhook.
struct IdleActor(Arc<AtomicUsize>);

impl Actor for IdleActor {
    type Context = actix::Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(Duration::from_secs(3600), |_, _| {});
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// The density baseline, in a process of its own (see [`density`]): RSS per idle actix
/// actor with a timer, as many as density's webhooks, spread over one arbiter per core,
/// each address kept.
pub async fn idle_actors(size: Size) -> Report {
    let count = density_count(size);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let arbiters: Vec<actix::Arbiter> = (0..cores).map(|_| actix::Arbiter::new()).collect();
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    let before = setup::rss_bytes();
    let started = Arc::new(AtomicUsize::new(0));
    let addresses: Vec<actix::Addr<IdleActor>> = (0..count)
        .map(|i| {
            let started = started.clone();
            IdleActor::start_in_arbiter(&arbiters[i % cores].handle(), move |_| IdleActor(started))
        })
        .collect();
    while started.load(Ordering::Relaxed) < count {
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    let per_actor = setup::rss_bytes().saturating_sub(before) as f64 / count as f64;
    drop(addresses);
    Report {
        scenario: "density_baseline",
        figures: vec![("rss_per_idle_actor_bytes", per_actor, "B")],
        targets: vec![],
    }
}

/// Memory per idle webhook and start time with many webhooks, against the RSS of as many
/// idle actix actors with a timer (measured in a process of its own, so that neither
/// run's memory colours the other's).
pub async fn density(size: Size) -> Report {
    let count = density_count(size);
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let mut conn = setup::connect(dir.path());
        let account = setup::account(&mut conn);
        setup::webhooks(&mut conn, &account, count, "http://127.0.0.1:9", |_| false);
    }
    // A first engine start warms what every start shares (TLS, thread pools, allocator).
    let empty_dir = tempfile::tempdir().expect("temp dir");
    let warm = Running::start(setup::config(empty_dir.path())).await;
    warm.engine.settle().await;
    warm.stop().await;
    actix_rt::time::sleep(Duration::from_millis(300)).await;

    let before = setup::rss_bytes();
    let started = Instant::now();
    let engine = mailhooks::Engine::start(setup::config(dir.path())).await.expect("engine starts");
    engine.settle().await;
    let start_time = started.elapsed();
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    let after = setup::rss_bytes();
    let per_webhook = after.saturating_sub(before) as f64 / count as f64;
    drop(engine);
    let baseline = crate::run_in_child("density_baseline", size);
    let per_actor = baseline["figures"]["rss_per_idle_actor_bytes"].as_f64().unwrap_or(f64::NAN);
    Report {
        scenario: "density",
        figures: vec![
            ("webhooks", count as f64, ""),
            ("rss_per_idle_webhook_bytes", per_webhook, "B"),
            ("start_ms", start_time.as_secs_f64() * 1000.0, "ms"),
            ("baseline_rss_per_idle_actor_bytes", per_actor, "B"),
            ("ratio", per_webhook / per_actor, "x"),
        ],
        targets: vec![
            ("<= 2 KB RSS per idle webhook".into(), per_webhook <= 2048.0),
            ("<= 1 s to start".into(), start_time <= Duration::from_secs(1)),
        ],
    }
}

/// The floor for a first delivery after a start: open the database, read one webhook's
/// backlog with diesel, and POST its first batch with plain awc to a receiver of its own.
async fn first_delivery_floor(dir: &std::path::Path, webhook: &WebhookId) -> Duration {
    let receiver = Receiver::start(1, "/h");
    let started = Instant::now();
    let mut conn = setup::connect(dir);
    let backlog = db::batches::load_backlog(&mut conn, webhook).expect("read backlog");
    let events: Vec<Arc<str>> = backlog.unbatched.iter().take(500).map(|(_, raw)| Arc::from(raw.as_str())).collect();
    let sent = setup::client()
        .post(format!("{}/h0", receiver.base))
        .insert_header(("Content-Type", "application/json"))
        .send_body(batch_body(&BatchId::generate(), 0, &events))
        .await;
    if let Ok(mut res) = sent {
        let _ = res.body().await;
    }
    let elapsed = started.elapsed();
    receiver.stop();
    assert_eq!(receiver.seen.events.load(Ordering::Relaxed), events.len() as u64, "the floor's batch arrived");
    elapsed
}

/// Start with a stored backlog: time to the first delivery and to 80% of the steady rate,
/// against a plain first delivery (open, read, POST) and plain awc POSTs of the same
/// batch bodies.
pub async fn recovery(size: Size) -> Report {
    let webhooks = size.pick(100, 1_000, 10_000);
    let total = size.pick(10_000, 100_000, 1_000_000);
    let receiver = Receiver::start(2, "/h");
    let dir = tempfile::tempdir().expect("temp dir");
    let ids = setup::webhooks_with_backlog(dir.path(), &receiver.base, webhooks, total, 250);
    let first_floor = first_delivery_floor(dir.path(), &ids[0]).await;
    receiver.seen.reset_origin();
    let started = Instant::now();
    let running = Running::start(setup::config(dir.path())).await;
    let delivered = wait_for_events(&receiver, total as u64, Duration::from_secs(900)).await;
    let elapsed = started.elapsed();
    running.stop().await;
    let steady_floor = awc_baseline(&receiver, webhooks, total, 250).await;
    receiver.stop();
    let first = receiver.seen.first.get().map(|t| t.saturating_duration_since(started)).unwrap_or(elapsed);
    let buckets = receiver.seen.buckets.lock().unwrap_or_else(|p| p.into_inner()).clone();
    // Steady rate: the median rolling rate (over 1 s, or the whole drain if shorter) while
    // draining, in events per second.
    let window = buckets.len().clamp(1, 10);
    let rolling: Vec<f64> =
        buckets.windows(window).map(|w| w.iter().sum::<u64>() as f64 * 10.0 / window as f64).collect();
    let mut sorted: Vec<f64> = rolling.iter().copied().filter(|r| *r > 0.0).collect();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let steady = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    let to_80 =
        rolling.iter().position(|r| *r >= 0.8 * steady).map(|i| Duration::from_millis((i + window) as u64 * 100));
    Report {
        scenario: "recovery",
        figures: vec![
            ("pending_events", total as f64, ""),
            ("webhooks", webhooks as f64, ""),
            ("first_delivery_ms", first.as_secs_f64() * 1000.0, "ms"),
            ("to_80pct_steady_ms", to_80.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0), "ms"),
            ("steady_events_per_s", steady, "events/s"),
            ("drain_s", elapsed.as_secs_f64(), "s"),
            ("baseline_first_delivery_ms", first_floor.as_secs_f64() * 1000.0, "ms"),
            ("baseline_awc_events_per_s", steady_floor, "events/s"),
            ("first_delivery_ratio", first.as_secs_f64() / first_floor.as_secs_f64().max(1e-9), "x"),
            ("steady_ratio", steady / steady_floor, "x"),
        ],
        targets: vec![
            ("everything delivered".into(), delivered),
            ("first delivery <= 1 s".into(), first <= Duration::from_secs(1)),
            ("80% of steady rate <= 5 s".into(), to_80.is_some_and(|d| d <= Duration::from_secs(5))),
        ],
    }
}
