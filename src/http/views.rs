//! What the API shows: the JSON forms of webhooks, batches and attempts. Passwords have no
//! field here, so they cannot leak into a response.

use serde::Serialize;

use crate::db::batches::{AttemptRecord, BatchRecord};
use crate::model::{format_millis, Auth, DisabledReason, EventSet, Health, Webhook, WebhookStatus};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    id: String,
    name: String,
    target_url: String,
    source: String,
    events: EventSet,
    auth: AuthView,
    status: WebhookStatus,
    disabled_reason: Option<DisabledReason>,
    health: Health,
    failing_since: Option<String>,
    /// When a failing webhook will be disabled unless fixed (set once the failure email
    /// has gone out).
    disable_at: Option<String>,
    last_success_at: Option<String>,
    created_at: String,
    updated_at: String,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum AuthView {
    None,
    Basic { username: String },
}

impl From<&Webhook> for WebhookView {
    fn from(w: &Webhook) -> Self {
        WebhookView {
            id: w.id.to_string(),
            name: w.name.clone(),
            target_url: w.target_url.as_str().to_owned(),
            source: w.source.as_str().to_owned(),
            events: w.events,
            auth: match &w.auth {
                Auth::None => AuthView::None,
                Auth::Basic { username, .. } => AuthView::Basic { username: username.clone() },
            },
            status: w.status,
            disabled_reason: w.disabled_reason,
            health: w.health,
            failing_since: w.failing_since.map(format_millis),
            disable_at: w.disable_at.map(format_millis),
            last_success_at: w.last_success_at.map(format_millis),
            created_at: format_millis(w.created_at),
            updated_at: format_millis(w.updated_at),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchView {
    batch_id: String,
    status: String,
    test: bool,
    event_count: i32,
    /// The `retryCount` of the latest attempt (0 before any attempt).
    retry_count: i32,
    attempt_count: i32,
    created_at: String,
    last_attempt_at: Option<String>,
    next_attempt_at: Option<String>,
    response_code: Option<i32>,
    response_body: Option<String>,
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attempts: Option<Vec<AttemptView>>,
}

impl BatchView {
    pub fn new(b: BatchRecord, attempts: Option<Vec<AttemptRecord>>) -> Self {
        BatchView {
            batch_id: b.id,
            status: b.status,
            test: b.test,
            event_count: b.event_count,
            retry_count: (b.attempt_count - 1).max(0),
            attempt_count: b.attempt_count,
            created_at: format_millis(b.created_at),
            last_attempt_at: b.last_attempt_at.map(format_millis),
            next_attempt_at: b.next_attempt_at.map(format_millis),
            response_code: b.response_code,
            response_body: b.response_body,
            error: b.error,
            attempts: attempts.map(|list| list.into_iter().map(AttemptView::from).collect()),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    retry_count: i32,
    attempted_at: String,
    duration_ms: i64,
    response_code: Option<i32>,
    response_body: Option<String>,
    error: Option<String>,
}

impl From<AttemptRecord> for AttemptView {
    fn from(a: AttemptRecord) -> Self {
        AttemptView {
            retry_count: a.retry_count,
            attempted_at: format_millis(a.attempted_at),
            duration_ms: a.duration_ms,
            response_code: a.response_code,
            response_body: a.response_body,
            error: a.error,
        }
    }
}
