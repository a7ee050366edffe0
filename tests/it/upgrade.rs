//! Upgrading a database written before batches became ranges of event ids (migration
//! `2026-12-04-000003_batch_ranges`): an unfinished batch keeps its id and its events, a
//! finished one is not sent again, and every event not yet batched is delivered once —
//! including one that had reached the old actor out of order and sits below the new
//! watermark. Delivery rows of a deleted webhook are swept after the start.

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl, SqliteConnection};
use mailhooks::db;
use mailhooks::model::{now_millis, TargetUrl, Webhook};

use crate::checks::all_message_ids;
use crate::support::{event, Receiver, TestServer, TEST_API_KEY};

/// The schema as it was before the batch-range migration, and diesel's record of it.
const OLD_MIGRATIONS: [(&str, &str); 3] = [
    ("20261203000000", include_str!("../../migrations/sqlite/2026-12-03-000000_create_core/up.sql")),
    ("20261203000001", include_str!("../../migrations/sqlite/2026-12-03-000001_failure_path/up.sql")),
    ("20261203000002", include_str!("../../migrations/sqlite/2026-12-03-000002_idempotency_keys/up.sql")),
];

const DONE_BATCH: &str = "aaaaaaaaaaaaaaaaaaaaaaaa";
const PENDING_BATCH: &str = "bbbbbbbbbbbbbbbbbbbbbbbb";

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(conn: &mut SqliteConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(conn).expect(sql).n
}

/// Writes, in the old schema, a webhook with five events: m1 and m3 in a delivered batch,
/// m4 in a batch not yet sent, m2 (arrived late, below the watermark) and m5 unbatched;
/// plus two delivery rows of a webhook that was deleted.
fn write_old_database(path: &std::path::Path, target: &str) -> String {
    let mut conn = SqliteConnection::establish(&path.display().to_string()).expect("open");
    conn.batch_execute(
        "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, \
         run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);",
    )
    .expect("migrations table");
    for (version, sql) in OLD_MIGRATIONS {
        conn.batch_execute(sql).expect("old migration");
        conn.batch_execute(&format!("INSERT INTO __diesel_schema_migrations (version) VALUES ('{version}');"))
            .expect("record migration");
    }
    let account = db::accounts::ensure_with_key(&mut conn, "default", "admin@localhost", TEST_API_KEY)
        .expect("account")
        .account_id();
    let webhook = Webhook::new(account.clone(), "old".into(), TargetUrl::parse(target).expect("url"), now_millis());
    db::webhooks::insert(&mut conn, &webhook).expect("webhook");
    let (w, a) = (webhook.id.as_str(), account.as_str());
    let events: Vec<String> = (1..=5)
        .map(|i| format!("('{a}', '{}', 0)", event("open", &format!("m{i}")).to_string().replace('\'', "''")))
        .collect();
    conn.batch_execute(&format!(
        "INSERT INTO events (account_id, payload, received_at) VALUES {};
         INSERT INTO batches (id, webhook_id, status, test, event_count, attempt_count, created_at)
             VALUES ('{DONE_BATCH}', '{w}', 'success', 0, 2, 1, 0), ('{PENDING_BATCH}', '{w}', 'pending', 0, 1, 0, 0);
         INSERT INTO deliveries (webhook_id, event_id, batch_id) VALUES
             ('{w}', 1, '{DONE_BATCH}'), ('{w}', 3, '{DONE_BATCH}'), ('{w}', 4, '{PENDING_BATCH}'),
             ('{w}', 2, NULL), ('{w}', 5, NULL), ('deleted-webhook', 1, NULL), ('deleted-webhook', 5, NULL);",
        events.join(", ")
    ))
    .expect("old rows");
    webhook.id.to_string()
}

#[actix_rt::test]
async fn a_database_from_before_batch_ranges_is_upgraded_without_losing_or_resending_events() {
    let receiver = Receiver::start();
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let path = dir.path().join("mailhooks.db");
    let webhook = write_old_database(&path, &receiver.url("/hook"));

    let server = TestServer::start_in(dir.clone(), |_| {}).await;
    let requests = receiver.wait_for_count_async(2, Duration::from_secs(10)).await;
    // Anything sent twice would show up shortly after.
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    let requests = if receiver.count() > requests.len() { receiver.requests() } else { requests };
    let mut delivered = all_message_ids(&requests);
    delivered.sort();
    assert_eq!(delivered, vec!["m2", "m4", "m5"], "each event not yet delivered, once");
    let pending = requests.iter().find(|r| r.json()["batchId"] == PENDING_BATCH).expect("the unfinished batch");
    assert_eq!(all_message_ids(std::slice::from_ref(pending)), vec!["m4"], "the unfinished batch keeps its events");

    let path_of = |batch: &str| format!("/v1/webhooks/{webhook}/batches/{batch}");
    let pending = server
        .api
        .wait_for(&path_of(PENDING_BATCH), Duration::from_secs(5), "the old batch delivered", |b| {
            b["status"] == "success"
        })
        .await;
    assert_eq!(pending["eventCount"], 1);
    let done = server.api.get(&path_of(DONE_BATCH)).await;
    assert_eq!((done.body["status"].as_str(), done.body["eventCount"].as_i64()), (Some("success"), Some(2)));

    // New events after the upgrade go out as usual.
    server.api.ingest(&serde_json::json!([event("open", "m6")])).await;
    let after = receiver.wait_for_count_async(requests.len() + 1, Duration::from_secs(10)).await;
    assert_eq!(all_message_ids(&after[requests.len()..]), vec!["m6"]);

    // The deleted webhook's rows are swept in the background.
    let mut conn = SqliteConnection::establish(&path.display().to_string()).expect("open");
    conn.batch_execute("PRAGMA busy_timeout = 5000;").expect("pragma");
    let started = Instant::now();
    while count(&mut conn, "SELECT count(*) AS n FROM deliveries WHERE webhook_id = 'deleted-webhook'") > 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "orphaned delivery rows were not swept");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}
