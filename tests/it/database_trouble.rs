//! When the database cannot take writes, ingest answers 503 in the JSON error shape and
//! accepts nothing it could not keep; once the database is writable again the engine goes
//! on by itself.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};
use serde_json::json;

use crate::support::{event, Receiver, TestServer};

#[actix_rt::test]
async fn a_locked_database_refuses_ingest_with_503_and_recovers() {
    let receiver = Receiver::start();
    let server = TestServer::start(|c| c.database_busy_timeout = Duration::from_millis(100)).await;
    let webhook = server.api.create_webhook("locked", &receiver.url("/hook")).await;
    let id = webhook["id"].as_str().unwrap().to_owned();

    // Another process takes the write lock and keeps it.
    let mut other = SqliteConnection::establish(&server.path().join("mailhooks.db").display().to_string()).unwrap();
    other.batch_execute("PRAGMA busy_timeout = 2000; BEGIN IMMEDIATE;").unwrap();
    let refused = server.api.post("/v1/events", &json!([event("open", "while-locked")])).await;
    assert_eq!(refused.status, 503, "{}", refused.text);
    assert_eq!(refused.error_code(), Some("unavailable"));
    assert!(refused.content_type.as_deref().unwrap_or("").starts_with("application/json"));
    // Reads still work meanwhile.
    assert_eq!(server.api.get(&format!("/v1/webhooks/{id}")).await.status, 200);
    other.batch_execute("ROLLBACK;").unwrap();

    server.api.ingest(&json!([event("open", "after-unlock")])).await;
    let received = receiver.wait_for_count_async(1, Duration::from_secs(5)).await;
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    let ids: Vec<String> = receiver
        .requests()
        .iter()
        .flat_map(|r| r.json()["events"].as_array().cloned().unwrap_or_default())
        .map(|e| e["messageId"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ids, vec!["after-unlock".to_owned()], "the refused event must not be stored: {received:?}");
}
