//! Running mailhooks for a test: in-process ([`TestServer`], the library started inside
//! the test's actix System on a fresh SQLite file and a `127.0.0.1:0` socket) or as the
//! real binary in a child process ([`ServerProcess`], for restarts, SIGTERM and SIGKILL).
//! Both expose the same [`Api`] client.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mailhooks::{Config, Engine};
use serde_json::Value;

/// The API key every test server's `default` account has.
pub const TEST_API_KEY: &str = "test-key-0123456789abcdef";

/// Settings for tests: private targets allowed (receivers are on 127.0.0.1), short
/// linger, mail into the test's own folder.
pub fn test_config(dir: &Path) -> Config {
    Config {
        database_url: format!("sqlite://{}", dir.join("mailhooks.db").display()),
        mail_dir: dir.join("mail"),
        allow_private_targets: true,
        bootstrap_api_key: Some(TEST_API_KEY.into()),
        batch_linger: Duration::from_millis(50),
        delivery_timeout: Duration::from_secs(2),
        supervision_interval: Duration::from_millis(50),
        ..Config::default()
    }
}

/// The engine running in-process, serving its API on 127.0.0.1.
pub struct TestServer {
    pub engine: Engine,
    pub api: Api,
    pub config: Config,
    server: actix_web::dev::ServerHandle,
    /// Keeps the database folder for the test's lifetime (and across restarts).
    pub dir: std::sync::Arc<tempfile::TempDir>,
}

impl TestServer {
    /// Starts with [`test_config`] changed by `tweak`.
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> TestServer {
        Self::start_in(std::sync::Arc::new(tempfile::tempdir().expect("temp dir")), tweak).await
    }

    /// Starts with [`test_config`] changed by `tweak`, on a folder prepared beforehand (a
    /// database written by an older version, say).
    pub async fn start_in(dir: std::sync::Arc<tempfile::TempDir>, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = test_config(dir.path());
        tweak(&mut config);
        Self::start_with(config, dir).await
    }

    async fn start_with(config: Config, dir: std::sync::Arc<tempfile::TempDir>) -> TestServer {
        let engine = Engine::start(config.clone()).await.expect("engine starts");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let server = engine.server(listener).expect("server");
        let handle = server.handle();
        actix_rt::spawn(server);
        TestServer { engine, api: Api::new(&base, TEST_API_KEY), config, server: handle, dir }
    }

    /// Stops this engine (as a graceful stop would, without waiting for deliveries) and
    /// starts a new one on the same database and settings.
    pub async fn restart(self) -> TestServer {
        let (config, dir) = (self.config.clone(), self.dir.clone());
        self.stop().await;
        Self::start_with(config, dir).await
    }

    /// [`TestServer::restart`] with the settings changed by `tweak` first (e.g. the
    /// same database with private targets no longer allowed).
    pub async fn restart_with(self, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let (mut config, dir) = (self.config.clone(), self.dir.clone());
        tweak(&mut config);
        self.stop().await;
        Self::start_with(config, dir).await
    }

    /// Stops serving and drops the engine.
    pub async fn stop(self) {
        self.server.stop(false).await;
        drop(self.engine);
        // Let the stopped arbiters wind down before a new engine opens the database.
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }

    /// The folder holding the database and the mail outbox.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A small client for the API. Not `Send` (awc), so use it inside the test's System.
#[derive(Clone)]
pub struct Api {
    base: String,
    key: Option<String>,
    client: awc::Client,
}

/// A response: status and parsed JSON body (`Value::Null` when empty or not JSON).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub content_type: Option<String>,
}

impl Response {
    /// The error code of a JSON error answer.
    pub fn error_code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }
}

impl Api {
    pub fn new(base: &str, key: &str) -> Api {
        Api {
            base: base.trim_end_matches('/').to_owned(),
            key: Some(key.to_owned()),
            client: awc::Client::builder().timeout(Duration::from_secs(30)).finish(),
        }
    }

    /// The same server, with another key (or none).
    pub fn with_key(&self, key: Option<&str>) -> Api {
        Api { key: key.map(str::to_owned), ..self.clone() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Any request; `body` is sent as given with `content_type` when set.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Response {
        let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, self.url(path));
        if let Some(key) = &self.key {
            req = req.insert_header(("Authorization", format!("Bearer {key}")));
        }
        if let Some(ct) = content_type {
            req = req.insert_header(("Content-Type", ct));
        }
        let res = match body {
            Some(body) => req.send_body(body).await,
            None => req.send().await,
        }
        .expect("request reaches the server");
        read_response(res).await
    }

    /// A request with extra headers and a body.
    pub async fn request_with_headers(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Response {
        let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, self.url(path));
        if let Some(key) = &self.key {
            req = req.insert_header(("Authorization", format!("Bearer {key}")));
        }
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        let res = req.send_body(body).await.expect("request reaches the server");
        read_response(res).await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request("GET", path, None, None).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request("DELETE", path, None, None).await
    }

    pub async fn post(&self, path: &str, json: &Value) -> Response {
        self.request("POST", path, Some("application/json"), Some(serde_json::to_vec(json).expect("json"))).await
    }

    pub async fn patch(&self, path: &str, json: &Value) -> Response {
        self.request("PATCH", path, Some("application/json"), Some(serde_json::to_vec(json).expect("json"))).await
    }

    /// Creates a webhook to `target_url` (all events, no auth); panics unless 201.
    pub async fn create_webhook(&self, name: &str, target_url: &str) -> Value {
        let res = self.post("/v1/webhooks", &serde_json::json!({ "name": name, "targetUrl": target_url })).await;
        assert_eq!(res.status, 201, "create webhook: {}", res.text);
        res.body
    }

    /// Ingests events; panics unless 202 with all accepted.
    pub async fn ingest(&self, events: &Value) -> Response {
        let res = self.post("/v1/events", events).await;
        assert_eq!(res.status, 202, "ingest: {}", res.text);
        res
    }

    /// A webhook's batches, newest first (first page of up to 1000).
    pub async fn batches(&self, webhook_id: &str) -> Vec<Value> {
        let res = self.get(&format!("/v1/webhooks/{webhook_id}/batches?limit=1000")).await;
        assert_eq!(res.status, 200, "batches: {}", res.text);
        res.body["data"].as_array().cloned().unwrap_or_default()
    }

    /// Polls `GET path` until `done(body)` or `timeout`; panics naming `what`.
    pub async fn wait_for(&self, path: &str, timeout: Duration, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let res = self.get(path).await;
            if res.status == 200 && done(&res.body) {
                return res.body;
            }
            if start.elapsed() > timeout {
                panic!("timed out after {timeout:?} waiting for {what}; last answer {}: {}", res.status, res.text);
            }
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn read_response<S>(mut res: awc::ClientResponse<S>) -> Response
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
{
    let status = res.status().as_u16();
    let content_type = res.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let bytes = res.body().limit(64 * 1024 * 1024).await.expect("response body");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Response { status, body, text, content_type }
}

/// A valid event of type `status` with a distinguishing `messageId`.
pub fn event(status: &str, message_id: &str) -> Value {
    serde_json::json!({
        "status": status,
        "messageId": message_id,
        "recipient": "recipient@example.com",
        "timestamp": 1460989507000u64,
    })
}

/// The real `mailhooks` binary running `serve` in a child process.
pub struct ServerProcess {
    child: Child,
    pub api: Api,
    pub base: String,
    pub db_path: PathBuf,
    pub log_path: PathBuf,
}

impl ServerProcess {
    /// Starts `mailhooks serve` on a free 127.0.0.1 port with the test key, the database
    /// file `db_path`, private targets allowed, and `extra` flags; waits until it answers.
    pub async fn start(db_path: &Path, extra: &[&str]) -> ServerProcess {
        Self::start_with_env(db_path, extra, &[("RUST_LOG", "info")]).await
    }

    /// [`ServerProcess::start`] with environment variables set for the child.
    pub async fn start_with_env(db_path: &Path, extra: &[&str], envs: &[(&str, &str)]) -> ServerProcess {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let base = format!("http://127.0.0.1:{port}");
        let log_path = db_path.with_extension(format!("{port}.log"));
        let log = std::fs::File::create(&log_path).expect("log file");
        let mail_dir = db_path.with_file_name("mail");
        let child = Command::new(env!("CARGO_BIN_EXE_mailhooks"))
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", &format!("sqlite://{}", db_path.display())])
            .args(["--bootstrap-api-key", TEST_API_KEY])
            .args(["--mail-dir", &mail_dir.display().to_string()])
            .arg("--allow-private-targets")
            .args(extra)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start the mailhooks binary");
        let process =
            ServerProcess { child, api: Api::new(&base, TEST_API_KEY), base, db_path: db_path.into(), log_path };
        process.wait_ready().await;
        process
    }

    async fn wait_ready(&self) {
        let start = Instant::now();
        let client = awc::Client::default();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(res) = client.get(format!("{}/healthz", self.base)).send().await {
                if res.status().is_success() {
                    return;
                }
            }
            actix_rt::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("mailhooks did not start; log:\n{}", self.log());
    }

    /// What the process printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGKILL: the process dies at once, mid-whatever.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits (up to `timeout`) for the exit status.
    pub fn terminate(mut self, timeout: Duration) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                panic!("mailhooks did not exit within {timeout:?} of SIGTERM; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
