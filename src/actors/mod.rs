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

use crate::db::Db;
use crate::delivery::DeliveryOptions;
use crate::secrets::SecretBox;
use crate::Config;
use actix::Recipient;

/// What every webhook actor is started with.
#[derive(Clone)]
pub struct ActorDeps {
    pub db: Db,
    pub settings: Arc<DeliverySettings>,
    /// Woken when a failing spell begins.
    pub notifier: Recipient<notifier::Wake>,
}

/// The delivery settings every webhook actor shares.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    pub batch_max_events: usize,
    pub batch_linger: Duration,
    pub retry_schedule: Vec<Duration>,
    pub max_in_flight: usize,
    /// Timeout, address guard and the key that opens stored passwords.
    pub options: DeliveryOptions,
}

impl DeliverySettings {
    pub fn new(config: &Config, secrets: SecretBox) -> Arc<Self> {
        Arc::new(DeliverySettings {
            batch_max_events: config.batch_max_events,
            batch_linger: config.batch_linger,
            retry_schedule: config.retry_schedule.clone(),
            max_in_flight: config.max_in_flight_per_webhook,
            options: DeliveryOptions {
                delivery_timeout: config.delivery_timeout,
                allow_private_targets: config.allow_private_targets,
                secrets,
            },
        })
    }
}
