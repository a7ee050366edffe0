//! The receiving end of the load tests: a real actix-web server on 127.0.0.1 (its own
//! thread and System) that counts delivered events, timestamps the first delivery, keeps
//! a per-100 ms delivery histogram, and — for latency runs — reads each event's `sentAt`
//! (microseconds since the epoch) to measure ingest → receipt. Paths under `/hang/` never
//! answer, for the isolation scenario.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde::Deserialize;
use serde_json::value::RawValue;

/// What the receiver saw.
pub struct Seen {
    pub events: AtomicU64,
    pub requests: AtomicU64,
    pub first: OnceLock<Instant>,
    pub last: Mutex<Option<Instant>>,
    /// Events per 100 ms bucket since `origin`.
    pub buckets: Mutex<Vec<u64>>,
    pub origin: Mutex<Instant>,
    /// ingest → receipt, in microseconds, for events carrying `sentAt`.
    pub latencies: Mutex<Vec<u64>>,
    /// Only record latency for paths that start with this (healthy webhooks).
    pub latency_prefix: &'static str,
}

impl Seen {
    pub fn reset_origin(&self) {
        *self.origin.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

pub struct Receiver {
    pub seen: Arc<Seen>,
    pub base: String,
    handle: actix_web::dev::ServerHandle,
}

#[derive(Deserialize)]
struct Batch<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

pub fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

fn sent_at(event: &str) -> Option<u64> {
    let start = event.find("\"sentAt\":")? + "\"sentAt\":".len();
    let digits: String = event[start..].chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

async fn receive(req: HttpRequest, body: web::Bytes, seen: web::Data<Arc<Seen>>) -> HttpResponse {
    if req.path().starts_with("/hang/") {
        actix_rt::time::sleep(Duration::from_secs(3600)).await;
        return HttpResponse::Ok().finish();
    }
    let now = Instant::now();
    let received_us = now_micros();
    let Ok(text) = std::str::from_utf8(&body) else { return HttpResponse::BadRequest().finish() };
    let Ok(batch) = serde_json::from_str::<Batch>(text) else { return HttpResponse::BadRequest().finish() };
    let n = batch.events.len() as u64;
    if req.path().starts_with(seen.latency_prefix) {
        let mut latencies = seen.latencies.lock().unwrap_or_else(|p| p.into_inner());
        for event in &batch.events {
            if let Some(sent) = sent_at(event.get()) {
                latencies.push(received_us.saturating_sub(sent));
            }
        }
    }
    seen.events.fetch_add(n, Ordering::Relaxed);
    seen.requests.fetch_add(1, Ordering::Relaxed);
    let _ = seen.first.set(now);
    *seen.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
    let bucket = {
        let origin = *seen.origin.lock().unwrap_or_else(|p| p.into_inner());
        (now.saturating_duration_since(origin).as_millis() / 100) as usize
    };
    let mut buckets = seen.buckets.lock().unwrap_or_else(|p| p.into_inner());
    if buckets.len() <= bucket {
        buckets.resize(bucket + 1, 0);
    }
    buckets[bucket] += n;
    HttpResponse::Ok().body("ok")
}

impl Receiver {
    /// Starts a receiver with `workers` threads.
    pub fn start(workers: usize, latency_prefix: &'static str) -> Receiver {
        let seen = Arc::new(Seen {
            events: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            first: OnceLock::new(),
            last: Mutex::new(None),
            buckets: Mutex::new(Vec::new()),
            origin: Mutex::new(Instant::now()),
            latencies: Mutex::new(Vec::new()),
            latency_prefix,
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = seen.clone();
        std::thread::spawn(move || {
            let system = actix_rt::System::new();
            system.block_on(async move {
                let data = web::Data::new(shared);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                        .default_service(web::to(receive))
                })
                .workers(workers)
                .backlog(4096)
                .max_connections(100_000)
                .disable_signals()
                .bind("127.0.0.1:0")
                .expect("bind receiver");
                let port = server.addrs()[0].port();
                let server = server.run();
                tx.send((port, server.handle())).expect("report port");
                let _ = server.await;
            });
        });
        let (port, handle) = rx.recv().expect("receiver started");
        Receiver { seen, base: format!("http://127.0.0.1:{port}"), handle }
    }

    pub fn stop(&self) {
        let handle = self.handle.clone();
        std::thread::spawn(move || actix_rt::System::new().block_on(handle.stop(false)));
    }
}
