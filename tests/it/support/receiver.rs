//! `Receiver`: a real HTTP webhook receiver for integration tests.
//!
//! It is an actix-web server bound to `127.0.0.1:0`, running in a background
//! std thread with its own `actix_rt::System`, so it works the same from
//! sync tests, `#[actix_rt::test]` and `#[tokio::test]`. Every request is
//! recorded (path, lower-cased headers, body, arrival instant) *before* the
//! configured [`Behaviour`] answers it, so even requests that time out on the
//! client side are visible to the test.
//!
//! `Receiver` is a cheap `Clone` (an `Arc` inside); the server stops when
//! [`Receiver::stop`] is called or when the last clone is dropped. After a
//! stop, the port stays known so [`Receiver::url`] can be used to test
//! refused connections; [`refused_url`] gives such a URL without a server.

use std::convert::Infallible;
use std::net::TcpListener;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::{header, StatusCode};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use bytes::Bytes;

/// Largest request body the receiver accepts (actix's default is 256 KiB,
/// too small for big webhook batches).
const MAX_REQUEST_BODY: usize = 64 * 1024 * 1024;

/// Size of one chunk of the [`Behaviour::HugeBody`] stream.
const HUGE_CHUNK: usize = 64 * 1024;

/// Total size of the [`Behaviour::HugeBody`] stream: 100 MiB, so it is
/// "huge" for any sane client limit but still ends by itself.
const HUGE_TOTAL: usize = 100 * 1024 * 1024;

/// How long [`Behaviour::Hang`] sleeps before answering.
const HANG_FOR: Duration = Duration::from_secs(3600);

/// How the receiver answers the requests it gets (after recording them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Answer with this status code and body (text/plain).
    Status(u16, String),
    /// Sleep this long, then answer 200 `ok`.
    Delay(Duration),
    /// Never answer (sleeps one hour; cut short by `stop()`).
    Hang,
    /// Answer 302 with this `Location`.
    Redirect(String),
    /// Answer 200 with a chunked streaming body of 100 MiB.
    HugeBody,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour::Status(200, "ok".to_owned())
    }
}

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Request path without the query string, e.g. `/hook`.
    pub path: String,
    /// Query string without the `?` (empty when there is none).
    pub query: String,
    /// All headers in arrival order; names are lower-cased.
    pub headers: Vec<(String, String)>,
    /// The full request body.
    pub body: Bytes,
    /// When the request was recorded (before it was answered).
    pub at: Instant,
}

impl Received {
    /// First value of the header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// All values of the header `name` (case-insensitive).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().filter(|(n, _)| *n == name).map(|(_, v)| v.as_str()).collect()
    }

    /// The body as (lossy) UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics with the body text if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("receiver: body of {} {} is not valid JSON ({e}): {:?}", self.method, self.path, self.text())
        })
    }
}

/// State shared between the test side and the server's handlers.
#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Received>>,
    behaviour: Mutex<Behaviour>,
    /// Requests whose handler ran to the end and produced an answer.
    answered: std::sync::atomic::AtomicUsize,
}

/// Lock a mutex even if a panicking test thread poisoned it: the data
/// (a list of requests, a behaviour) is still consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The running server: its handle and thread, taken out on stop.
struct Running {
    handle: ServerHandle,
    thread: JoinHandle<()>,
}

struct Inner {
    port: u16,
    shared: Arc<Shared>,
    running: Mutex<Option<Running>>,
}

impl Inner {
    fn stop(&self) {
        let running = lock(&self.running).take();
        let Some(Running { handle, thread }) = running else {
            return;
        };
        // The stop command is sent when `stop` is called; the returned
        // future only reports completion, which joining the thread covers.
        drop(handle.stop(false));
        if thread.join().is_err() && !std::thread::panicking() {
            panic!("receiver on port {}: server thread panicked", self.port);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A real HTTP receiver on `127.0.0.1`; see the module docs.
#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").field("port", &self.inner.port).field("count", &self.count()).finish()
    }
}

impl Receiver {
    /// Start a receiver on a free port of 127.0.0.1, answering 200 `ok`.
    /// Returns once the server is listening.
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("receiver: bind 127.0.0.1:0 failed");
        let port = listener.local_addr().expect("receiver: local_addr of bound listener").port();
        let shared = Arc::new(Shared::default());

        let (tx, rx) = mpsc::channel::<Result<ServerHandle, String>>();
        let server_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("test-receiver-{port}"))
            .spawn(move || {
                let system = actix_rt::System::new();
                let data = web::Data::from(server_shared);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .app_data(web::PayloadConfig::new(MAX_REQUEST_BODY))
                        .default_service(web::to(handle))
                })
                .workers(1)
                .disable_signals()
                .shutdown_timeout(0)
                .listen(listener);
                let server = match server {
                    Ok(s) => s.run(),
                    Err(e) => {
                        let _ = tx.send(Err(format!("listen failed: {e}")));
                        return;
                    }
                };
                let _ = tx.send(Ok(server.handle()));
                if let Err(e) = system.block_on(server) {
                    eprintln!("receiver on port {port}: server error: {e}");
                }
            })
            .expect("receiver: spawning server thread failed");

        let handle = match rx.recv() {
            Ok(Ok(handle)) => handle,
            Ok(Err(e)) => panic!("receiver on port {port}: {e}"),
            Err(_) => panic!("receiver on port {port}: server thread died while starting"),
        };
        Receiver { inner: Arc::new(Inner { port, shared, running: Mutex::new(Some(Running { handle, thread })) }) }
    }

    /// The port the receiver listens (or listened) on.
    pub fn port(&self) -> u16 {
        self.inner.port
    }

    /// Full URL for `path`, e.g. `url("/hook")` → `http://127.0.0.1:PORT/hook`.
    /// A missing leading `/` is added.
    pub fn url(&self, path: &str) -> String {
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("http://127.0.0.1:{}{slash}{path}", self.inner.port)
    }

    /// Change how the following requests are answered.
    /// Panics on a `Status` code that is not a valid HTTP status.
    pub fn set_behaviour(&self, b: Behaviour) {
        if let Behaviour::Status(code, _) = &b {
            if StatusCode::from_u16(*code).is_err() {
                panic!("receiver: {code} is not a valid HTTP status code");
            }
        }
        *lock(&self.inner.shared.behaviour) = b;
    }

    /// The current behaviour.
    pub fn behaviour(&self) -> Behaviour {
        lock(&self.inner.shared.behaviour).clone()
    }

    /// All requests received so far, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        lock(&self.inner.shared.requests).clone()
    }

    /// Number of requests received so far.
    pub fn count(&self) -> usize {
        lock(&self.inner.shared.requests).len()
    }

    /// Number of requests answered so far: the handler ran to the end (after any `Delay`)
    /// and produced its response. A request whose client went away first (a process
    /// killed mid-delivery) may never count.
    pub fn answered(&self) -> usize {
        self.inner.shared.answered.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Forget the requests received so far.
    pub fn clear(&self) {
        lock(&self.inner.shared.requests).clear();
    }

    /// The requests received so far on `path` only. The machine is shared: a port this
    /// receiver was given may have belonged to a receiver of another test (or another
    /// test process) whose engine still retries to it, so exact counts look at a path of
    /// their own.
    pub fn requests_to(&self, path: &str) -> Vec<Received> {
        lock(&self.inner.shared.requests).iter().filter(|r| r.path == path).cloned().collect()
    }

    /// Waits (async, polling every 10ms) until at least `n` requests arrived on `path`,
    /// then returns those; panics after `timeout` saying what arrived.
    pub async fn wait_for_path_async(&self, path: &str, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.requests_to(path);
            if got.len() >= n {
                return got;
            }
            if Instant::now() >= deadline {
                let seen: Vec<String> = self.requests().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
                panic!(
                    "receiver on port {}: timed out after {timeout:?} waiting for {n} request(s) to {path}; got {seen:?}",
                    self.inner.port
                );
            }
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Block (std::thread::sleep, every 10ms) until at least `n` requests
    /// arrived, then return all of them. Panics after `timeout` saying how
    /// many arrived. Fine from sync tests; in async tests prefer
    /// [`Receiver::wait_for_count_async`] (this one blocks the runtime thread).
    pub fn wait_for_count(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(all) = self.check_count(n, deadline, timeout) {
                return all;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Async variant of [`Receiver::wait_for_count`]: sleeps with the tokio
    /// timer (needs a runtime with time enabled, as actix_rt and
    /// `#[tokio::test]` give).
    pub async fn wait_for_count_async(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(all) = self.check_count(n, deadline, timeout) {
                return all;
            }
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `Some(all requests)` once `n` arrived; panics past `deadline`.
    fn check_count(&self, n: usize, deadline: Instant, timeout: Duration) -> Option<Vec<Received>> {
        let all = self.requests();
        if all.len() >= n {
            return Some(all);
        }
        if Instant::now() >= deadline {
            let seen: Vec<String> = all.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
            panic!(
                "receiver on port {}: timed out after {timeout:?} waiting for {n} request(s); \
                 only {} arrived: {seen:?}",
                self.inner.port,
                all.len()
            );
        }
        None
    }

    /// Stop the server and wait until it is gone: new connections to
    /// `url()` are refused afterwards, and in-flight requests (e.g. `Hang`)
    /// are cut. Idempotent; also done when the last clone is dropped.
    pub fn stop(&self) {
        self.inner.stop();
    }

    /// Whether `stop()` has been called.
    pub fn is_stopped(&self) -> bool {
        lock(&self.inner.running).is_none()
    }
}

/// A `http://127.0.0.1:PORT` URL (no trailing slash) where nothing listens:
/// a port the OS just handed out and that was released again.
pub fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("refused_url: bind 127.0.0.1:0 failed");
    let port = listener.local_addr().expect("refused_url: local_addr of bound listener").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// The one handler: record the request, then answer per the behaviour.
async fn handle(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let headers = req
        .headers()
        .iter()
        .map(|(name, value)| {
            (name.as_str().to_ascii_lowercase(), String::from_utf8_lossy(value.as_bytes()).into_owned())
        })
        .collect();
    let received = Received {
        method: req.method().as_str().to_owned(),
        path: req.path().to_owned(),
        query: req.query_string().to_owned(),
        headers,
        body,
        at: Instant::now(),
    };
    lock(&shared.requests).push(received);
    let behaviour = lock(&shared.behaviour).clone();
    let response = respond(behaviour).await;
    shared.answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    response
}

/// The answer a behaviour gives.
async fn respond(behaviour: Behaviour) -> HttpResponse {
    match behaviour {
        Behaviour::Status(code, body) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(body)
        }
        Behaviour::Delay(d) => {
            actix_rt::time::sleep(d).await;
            ok()
        }
        Behaviour::Hang => {
            actix_rt::time::sleep(HANG_FOR).await;
            ok()
        }
        Behaviour::Redirect(location) => HttpResponse::Found().insert_header((header::LOCATION, location)).finish(),
        Behaviour::HugeBody => {
            let chunk = Bytes::from(vec![b'x'; HUGE_CHUNK]);
            let chunks = HUGE_TOTAL / HUGE_CHUNK;
            let stream = futures_util::stream::iter((0..chunks).map(move |_| Ok::<Bytes, Infallible>(chunk.clone())));
            HttpResponse::Ok().content_type("application/octet-stream").streaming(stream)
        }
    }
}

fn ok() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("ok")
}
