//! Hostile endpoints (issue 4, item 4): the delivery timeout covers the whole request,
//! including a body that trickles in a byte at a time; at most 1 KiB of any answer is read
//! and then the connection is dropped, so a huge or never-ending body neither stalls the
//! webhook nor grows memory (the endpoint sees its connection closed after writing little
//! more than the socket buffers hold); an endpoint that accepts the connection and never
//! answers times out; and none of these holds up a healthy webhook on the same engine.
//!
//! The trickling and never-ending endpoints are tiny raw TCP servers written here
//! ([`RawEndpoint`]), as an HTTP framework would not misbehave this way on purpose.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::checks::{batch_detail, id_of, wait_newest_batch};
use crate::support::{event, Behaviour, Receiver, TestServer};

const SOON: Duration = Duration::from_secs(10);

/// How a [`RawEndpoint`] answers once it has read the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// 200 with `Content-Length: 100000`, then one byte every 100 ms.
    Trickle,
    /// 200 with a chunked body of 64 KiB chunks that never ends, written as fast as the
    /// client takes it.
    Endless,
}

/// What happened on one connection.
#[derive(Debug, Clone)]
struct Connection {
    opened: Instant,
    /// When a write failed because the client had gone.
    closed: Option<Instant>,
    /// Body bytes written before that.
    body_bytes: usize,
}

#[derive(Default)]
struct RawShared {
    stopping: AtomicBool,
    connections: Mutex<Vec<Connection>>,
}

/// A raw HTTP/1.1 endpoint on 127.0.0.1 that answers every POST per its [`Answer`].
struct RawEndpoint {
    port: u16,
    shared: Arc<RawShared>,
    accept: Option<JoinHandle<()>>,
}

/// The longest a connection is kept up by the endpoint itself (bounds a failed test).
const MAX_CONNECTION_LIFE: Duration = Duration::from_secs(60);

/// The path a [`RawEndpoint`] serves. Requests to any other path (another test's engine
/// retrying to a port this endpoint now has) get a 404 and are not logged.
const RAW_PATH: &str = "/raw-endpoint";

impl RawEndpoint {
    fn start(answer: Answer) -> RawEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(RawShared::default());
        let accept_shared = shared.clone();
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = accept_shared.clone();
                std::thread::spawn(move || serve(stream, answer, &shared));
            }
        });
        RawEndpoint { port, shared, accept: Some(accept) }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}{RAW_PATH}", self.port)
    }

    fn connections(&self) -> Vec<Connection> {
        self.shared.connections.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until connection `index` was closed by the client; returns it.
    async fn wait_closed(&self, index: usize, timeout: Duration) -> Connection {
        let start = Instant::now();
        loop {
            if let Some(c) = self.connections().get(index).filter(|c| c.closed.is_some()) {
                return c.clone();
            }
            assert!(
                start.elapsed() < timeout,
                "connection {index} still open after {timeout:?}: {:?}",
                self.connections()
            );
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RawEndpoint {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Reads one request (headers and a `Content-Length` body), then answers per `answer`
/// until the client goes away, the endpoint stops or [`MAX_CONNECTION_LIFE`] passes.
fn serve(stream: TcpStream, answer: Answer, shared: &RawShared) {
    let opened = Instant::now();
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let ours = request_line.split(' ').nth(1) == Some(RAW_PATH);
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; content_length];
    if reader.read_exact(&mut body).is_err() || shared.stopping.load(Ordering::SeqCst) {
        return; // the wake-up connection of a stop, or a broken request
    }
    if !ours {
        let _ = (&stream).write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    }
    let index = {
        let mut connections = shared.connections.lock().unwrap_or_else(|p| p.into_inner());
        connections.push(Connection { opened, closed: None, body_bytes: 0 });
        connections.len() - 1
    };
    let mut stream = &stream;
    let head: &[u8] = match answer {
        Answer::Trickle => b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n",
        Answer::Endless => b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
    };
    let mut result = stream.write_all(head).and_then(|_| stream.flush());
    let chunk = [b"10000\r\n".as_slice(), &[b'x'; 0x10000], b"\r\n"].concat();
    let mut written = 0;
    while result.is_ok() && !shared.stopping.load(Ordering::SeqCst) && opened.elapsed() < MAX_CONNECTION_LIFE {
        result = match answer {
            Answer::Trickle => {
                std::thread::sleep(Duration::from_millis(100));
                stream.write_all(b"x").and_then(|_| stream.flush()).map(|_| 1)
            }
            Answer::Endless => stream.write_all(&chunk).map(|_| 0x10000),
        }
        .map(|n| written += n);
    }
    let mut connections = shared.connections.lock().unwrap_or_else(|p| p.into_inner());
    connections[index].body_bytes = written;
    if result.is_err() {
        connections[index].closed = Some(Instant::now());
    }
}

/// The only attempt of the webhook's newest batch, once that batch has `status`.
async fn only_attempt(server: &TestServer, id: &str, status: &str) -> Value {
    let batch = wait_newest_batch(&server.api, id, status, SOON).await;
    let detail = batch_detail(&server.api, id, batch["batchId"].as_str().unwrap()).await;
    let attempts = detail["attempts"].as_array().cloned().unwrap_or_default();
    assert_eq!(attempts.len(), 1, "{detail}");
    attempts[0].clone()
}

fn duration_ms(attempt: &Value) -> u64 {
    attempt["durationMs"].as_u64().unwrap_or_else(|| panic!("no durationMs in {attempt}"))
}

/// Asserts the attempt timed out after about `timeout` (ms), with no answer kept.
fn assert_timed_out(attempt: &Value, timeout_ms: u64, what: &str) {
    assert_eq!(attempt["error"], "timed out waiting for the endpoint", "{what}: {attempt}");
    assert_eq!(attempt["responseBody"], Value::Null, "{what}: {attempt}");
    let took = duration_ms(attempt);
    assert!(took >= timeout_ms - 50, "{what}: gave up after {took} ms, before the {timeout_ms} ms timeout");
    assert!(took < timeout_ms + 2000, "{what}: took {took} ms, far past the {timeout_ms} ms timeout");
}

fn short_timeout(config: &mut mailhooks::Config) {
    config.delivery_timeout = Duration::from_millis(500);
    config.retry_schedule = vec![Duration::from_secs(3600)];
}

#[actix_rt::test]
async fn hostile_a_trickling_body_is_cut_at_the_delivery_timeout() {
    let endpoint = RawEndpoint::start(Answer::Trickle);
    let server = TestServer::start(short_timeout).await;
    let id = id_of(&server.api.create_webhook("trickle", &endpoint.url()).await);

    server.api.ingest(&json!([event("open", "m-1")])).await;
    let attempt = only_attempt(&server, &id, "retrying").await;
    assert_timed_out(&attempt, 500, "batch");
    assert_eq!(attempt["responseCode"], Value::Null, "{attempt}");
    let connection = endpoint.wait_closed(0, SOON).await;
    let open_for = connection.closed.unwrap() - connection.opened;
    assert!(open_for < Duration::from_secs(3), "the connection stayed open {open_for:?} after the timeout");
    assert!(connection.body_bytes < 40, "{} bytes trickled: the client kept reading", connection.body_bytes);

    let report = server.api.post(&format!("/v1/webhooks/{id}/test"), &json!({})).await;
    assert_eq!(report.status, 200, "{}", report.text);
    assert_eq!(report.body["success"], false, "{}", report.text);
    assert_eq!(report.body["error"], "timed out waiting for the endpoint", "{}", report.text);
    let took = report.body["durationMs"].as_u64().unwrap();
    assert!((450..2500).contains(&took), "the test batch took {took} ms with a 500 ms timeout");
    endpoint.wait_closed(1, SOON).await;
}

#[actix_rt::test]
async fn hostile_an_endpoint_that_never_answers_times_out() {
    let receiver = Receiver::start();
    receiver.set_behaviour(Behaviour::Hang);
    let server = TestServer::start(short_timeout).await;
    let id = id_of(&server.api.create_webhook("hang", &receiver.url("/hang")).await);

    server.api.ingest(&json!([event("open", "m-1")])).await;
    let attempt = only_attempt(&server, &id, "retrying").await;
    assert_timed_out(&attempt, 500, "batch");

    let report = server.api.post(&format!("/v1/webhooks/{id}/test"), &json!({})).await;
    assert_eq!(report.body["success"], false, "{}", report.text);
    assert_eq!(report.body["error"], "timed out waiting for the endpoint", "{}", report.text);
    // Under load an attempt may be cut before the receiver has recorded it; never more.
    let calls = receiver.requests_to("/hang");
    assert!(calls.len() <= 2, "one batch and one test batch, no retry: {calls:?}");
}

/// Asserts a successful attempt kept exactly the first 1 KiB of an `x…` body, and came
/// back well before the (10 s) delivery timeout.
fn assert_first_kib_kept(attempt: &Value, what: &str) {
    assert_eq!(attempt["error"], Value::Null, "{what}: {attempt}");
    assert_eq!(attempt["responseCode"], 200, "{what}: {attempt}");
    let body = attempt["responseBody"].as_str().unwrap_or_else(|| panic!("{what}: no responseBody: {attempt}"));
    assert_eq!(body, "x".repeat(1024), "{what}: the kept body is not the first 1 KiB");
    let took = duration_ms(attempt);
    assert!(took < 5000, "{what}: the attempt took {took} ms");
}

#[actix_rt::test]
async fn hostile_huge_and_endless_bodies_are_read_only_up_to_1_kib() {
    let huge = Receiver::start();
    huge.set_behaviour(Behaviour::HugeBody);
    let endless = RawEndpoint::start(Answer::Endless);
    let server = TestServer::start(|config| config.delivery_timeout = Duration::from_secs(10)).await;
    let huge_id = id_of(&server.api.create_webhook("huge", &huge.url("/hook")).await);
    let endless_id = id_of(&server.api.create_webhook("endless", &endless.url()).await);

    server.api.ingest(&json!([event("open", "m-1")])).await;
    assert_first_kib_kept(&only_attempt(&server, &huge_id, "success").await, "100 MiB body");
    assert_first_kib_kept(&only_attempt(&server, &endless_id, "success").await, "endless body");
    let connection = endless.wait_closed(0, SOON).await;
    // Loopback socket buffers hold a few MiB at most; the rest was never read.
    assert!(
        connection.body_bytes < 32 * 1024 * 1024,
        "{} bytes of the endless body were taken before the client hung up",
        connection.body_bytes
    );

    let report = server.api.post(&format!("/v1/webhooks/{endless_id}/test"), &json!({})).await;
    assert_eq!(report.body["success"], true, "{}", report.text);
    assert_eq!(report.body["responseBody"], "x".repeat(1024), "{}", report.text);
    endless.wait_closed(1, SOON).await;
}

#[actix_rt::test]
async fn hostile_endpoints_do_not_hold_up_a_healthy_webhook() {
    let hang = Receiver::start();
    hang.set_behaviour(Behaviour::Hang);
    let huge = Receiver::start();
    huge.set_behaviour(Behaviour::HugeBody);
    let trickle = RawEndpoint::start(Answer::Trickle);
    let endless = RawEndpoint::start(Answer::Endless);
    let healthy = Receiver::start();
    let server = TestServer::start(|config| config.delivery_timeout = Duration::from_secs(30)).await;
    let api = &server.api;
    for (name, url) in [
        ("hang", hang.url("/hang")),
        ("huge", huge.url("/hook")),
        ("trickle", trickle.url()),
        ("endless", endless.url()),
        ("healthy", healthy.url("/healthy")),
    ] {
        api.create_webhook(name, &url).await;
    }

    for round in 0..6 {
        let started = Instant::now();
        api.ingest(&json!([event("open", &format!("round-{round}"))])).await;
        let got = healthy.wait_for_path_async("/healthy", round + 1, SOON).await;
        assert_eq!(got[round].json()["events"][0]["messageId"], format!("round-{round}"));
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "round {round} reached the healthy webhook after {took:?}");
    }
    // The hanging and trickling deliveries are still in flight all along.
    assert!(!hang.requests_to("/hang").is_empty(), "the hanging endpoint was never called");
    let trickling = trickle.connections();
    assert!(!trickling.is_empty() && trickling.iter().all(|c| c.closed.is_none()), "{trickling:?}");
}
