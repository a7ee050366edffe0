//! The actor system. The [`registry::Registry`] owns one [`webhook::WebhookActor`] per
//! enabled webhook, spread over one arbiter (thread) per core, and routes ingested events
//! to them. Each webhook actor owns its batch buffer, its in-flight deliveries and its
//! retry timers, so webhooks never wait on each other.

pub mod notifier;
pub mod registry;
pub mod routes;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use crate::Config;

/// The delivery settings every webhook actor shares.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    pub batch_max_events: usize,
    pub batch_linger: Duration,
    pub delivery_timeout: Duration,
    pub retry_schedule: Vec<Duration>,
    pub allow_private_targets: bool,
    pub max_in_flight: usize,
}

impl DeliverySettings {
    pub fn from_config(config: &Config) -> Arc<Self> {
        Arc::new(DeliverySettings {
            batch_max_events: config.batch_max_events,
            batch_linger: config.batch_linger,
            delivery_timeout: config.delivery_timeout,
            retry_schedule: config.retry_schedule.clone(),
            allow_private_targets: config.allow_private_targets,
            max_in_flight: config.max_in_flight_per_webhook,
        })
    }
}
