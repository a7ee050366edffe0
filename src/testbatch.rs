//! "Send Test Batch": delivers the nine documented sample events to a webhook right now,
//! with its auth, whether it is enabled or not, and reports what the endpoint said. The
//! batch and its one attempt are recorded, so it shows in batch status as `test: true`.

use serde::Serialize;

use crate::actors::webhook::attempt_record;
use crate::db;
use crate::delivery::{self, payload};
use crate::engine::Engine;
use crate::error::Error;
use crate::model::{now_millis, BatchId, BatchStatus, Webhook};

/// The answer to a test request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestReport {
    pub success: bool,
    pub message: &'static str,
    pub batch_id: String,
    pub status_code: Option<u16>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// Sends the test batch and records it.
pub async fn send(engine: &Engine, webhook: &Webhook) -> Result<TestReport, Error> {
    let events = payload::sample_events();
    let batch_id = BatchId::generate();
    {
        let (id, webhook_id, count) = (batch_id.clone(), webhook.id.clone(), events.len());
        engine.db().write(move |conn| db::batches::create_test(conn, &id, &webhook_id, count, now_millis())).await?;
    }
    let settings = engine.settings();
    let body = payload::batch_body(&batch_id, 0, events);
    let result = delivery::deliver(&webhook.target_url, &webhook.auth, body, &settings.options).await;
    let status = if result.is_success() { BatchStatus::Success } else { BatchStatus::Failed };
    let attempt = attempt_record(&batch_id, 0, &result);
    let webhook_id = webhook.id.clone();
    let succeeded_at = result.is_success().then_some(result.attempted_at);
    engine
        .db()
        .write(move |conn| {
            db::batches::record_attempt(conn, &attempt, status, None)?;
            match succeeded_at {
                Some(at) => db::webhooks::record_success(conn, &webhook_id, at),
                None => Ok(()),
            }
        })
        .await?;
    Ok(TestReport {
        success: result.is_success(),
        message: if result.is_success() { "Success send test notification" } else { "Failed send test notification" },
        batch_id: batch_id.to_string(),
        status_code: result.status_code,
        response_body: result.response_body.clone(),
        error: result.error(),
        duration_ms: result.duration.as_millis() as u64,
    })
}
