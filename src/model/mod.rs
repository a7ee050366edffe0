//! Domain types. Each one parses at the edge (HTTP or database) so that the rest of the
//! engine never has to validate the same thing twice.

mod auth;
mod event;
mod event_type;
mod ids;
mod target_url;

pub use auth::Auth;
pub use event::{parse_ingest_body, Event, EventError, MAX_EVENTS_PER_REQUEST};
pub use event_type::{EventSet, EventType};
pub use ids::{AccountId, BatchId, WebhookId};
pub use target_url::{TargetHost, TargetUrl, TargetUrlError, MAX_TARGET_URL_LEN};

/// Milliseconds since the Unix epoch: how every instant is stored and passed around.
pub type Millis = i64;

/// The current time in milliseconds since the Unix epoch.
pub fn now_millis() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

/// Formats a stored instant as RFC 3339 in UTC, the way the API shows times.
pub fn format_millis(ms: Millis) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
mod webhook;
pub use webhook::{DeliveryTarget, DisabledReason, Health, Source, Webhook, WebhookStatus};
mod batch;
pub use batch::BatchStatus;
