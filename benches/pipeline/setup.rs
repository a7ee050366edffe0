//! Building what a scenario needs: engines on temporary SQLite files, webhooks and stored
//! backlogs written straight into the database (so that preparing 100,000 webhooks or
//! 1,000,000 events does not dominate the run), events of a given size, and an API client.

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};
use mailhooks::db;
use mailhooks::model::{now_millis, AccountId, Source, TargetUrl, Webhook, WebhookId};
use mailhooks::{Config, Engine};

pub const API_KEY: &str = "bench-api-key-0123456789";

pub fn database_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("bench.db").display())
}

/// Engine settings for a run: private targets allowed (receivers are on 127.0.0.1).
pub fn config(dir: &Path) -> Config {
    Config {
        database_url: database_url(dir),
        mail_dir: dir.join("mail"),
        allow_private_targets: true,
        bootstrap_api_key: Some(API_KEY.into()),
        ..Config::default()
    }
}

/// A running engine with its API on 127.0.0.1.
pub struct Running {
    pub engine: Engine,
    pub base: String,
    handle: actix_web::dev::ServerHandle,
}

impl Running {
    pub async fn start(config: Config) -> Running {
        let engine = Engine::start(config).await.expect("engine starts");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = engine.server(listener).expect("server");
        let handle = server.handle();
        actix_rt::spawn(server);
        Running { engine, base, handle }
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// A direct connection with the engine's own settings, for preparing data.
pub fn connect(dir: &Path) -> SqliteConnection {
    let url = database_url(dir);
    // An engine that was just stopped may still be finishing its last writes.
    let started = std::time::Instant::now();
    while let Err(e) = db::migrate(&url) {
        assert!(started.elapsed() < Duration::from_secs(120), "migrate: {e}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut conn = SqliteConnection::establish(url.trim_start_matches("sqlite://")).expect("open");
    conn.batch_execute("PRAGMA busy_timeout = 120000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
        .expect("pragmas");
    conn
}

/// Makes sure the bench account exists; returns its id.
pub fn account(conn: &mut SqliteConnection) -> AccountId {
    db::accounts::ensure_with_key(conn, "default", "admin@localhost", API_KEY).expect("account").account_id()
}

/// Writes `count` enabled webhooks listening to source `s{i}`, delivering to
/// `{base}/h{i}` (or `{base}/hang/{i}` for those `hang` picks).
pub fn webhooks(
    conn: &mut SqliteConnection,
    account: &AccountId,
    count: usize,
    base: &str,
    hang: impl Fn(usize) -> bool,
) -> Vec<WebhookId> {
    let now = now_millis();
    conn.transaction(|conn| {
        (0..count)
            .map(|i| {
                let path = if hang(i) { format!("/hang/{i}") } else { format!("/h{i}") };
                let url = TargetUrl::parse(&format!("{base}{path}")).expect("url");
                let webhook = Webhook {
                    source: Source::parse(&format!("s{i}")),
                    ..Webhook::new(account.clone(), format!("bench {i}"), url, now)
                };
                db::webhooks::insert(conn, &webhook).map(|_| webhook.id)
            })
            .collect::<diesel::QueryResult<Vec<_>>>()
    })
    .expect("insert webhooks")
}

/// An event of about `size` bytes from source `s{source}`; `sent_at_us` for latency runs.
pub fn event(i: usize, source: usize, size: usize, sent_at_us: Option<u64>) -> String {
    let head = match sent_at_us {
        Some(t) => format!("{{\"sentAt\":{t},"),
        None => "{".to_owned(),
    };
    let body = format!(
        "\"status\":\"delivery\",\"messageId\":\"msg-{i:010}\",\"recipient\":\"r{i}@example.com\",\"timestamp\":1460989507000,\"source\":\"s{source}\",\"sender\":\"sender@example.com\",\"subject\":\"Holiday deals are here!\",\"mailboxProvider\":\"Gsuite\",\"padding\":\""
    );
    let pad = size.saturating_sub(head.len() + body.len() + 2);
    format!("{head}{body}{}\"}}", "x".repeat(pad))
}

/// Stores `count` events round-robin over `webhooks` (event i to webhook i % n) as if
/// they had been ingested: the backlog a restart finds.
pub fn backlog(conn: &mut SqliteConnection, account: &AccountId, webhooks: &[WebhookId], count: usize, size: usize) {
    let chunk = 10_000;
    let targets: Vec<[usize; 1]> = (0..webhooks.len()).map(|w| [w]).collect();
    let mut start = 0;
    while start < count {
        let end = (start + chunk).min(count);
        let payloads: Vec<String> = (start..end).map(|i| event(i, i % webhooks.len(), size, None)).collect();
        let to_store: Vec<db::events::EventToStore> = payloads
            .iter()
            .enumerate()
            .map(|(k, p)| db::events::EventToStore { payload: p, webhooks: &targets[(start + k) % webhooks.len()] })
            .collect();
        conn.immediate_transaction(|conn| db::events::store(conn, account, webhooks, &to_store, now_millis()))
            .expect("store backlog");
        start = end;
    }
}

/// Prepares `dir`'s database as a restart finds it: `count` webhooks delivering to
/// `{base}/h{i}`, and `events` stored events of about `size` bytes spread over them.
/// Returns the webhooks' ids, in order.
pub fn webhooks_with_backlog(dir: &Path, base: &str, count: usize, events: usize, size: usize) -> Vec<WebhookId> {
    let mut conn = connect(dir);
    let account = account(&mut conn);
    let ids = webhooks(&mut conn, &account, count, base, |_| false);
    backlog(&mut conn, &account, &ids, events, size);
    ids
}

/// The API client for load: no connection limit, generous timeout.
pub fn client() -> awc::Client {
    awc::Client::builder().connector(awc::Connector::new().limit(0)).timeout(Duration::from_secs(120)).finish()
}

/// The process's resident memory in bytes (Linux).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        })
        .map_or(0, |kb| kb * 1024)
}
