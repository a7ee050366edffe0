//! A customer's webhook: where to deliver, which events, with what auth, and its state.

use serde::Serialize;

use super::{AccountId, Auth, EventSet, EventType, Millis, TargetUrl, WebhookId};

/// Whether a webhook receives events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookStatus {
    Enabled,
    Disabled,
}

/// Why a webhook is disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DisabledReason {
    /// The customer disabled it.
    Manual,
    /// It kept failing and was not fixed in time.
    Failing,
}

/// Whether deliveries to a webhook are succeeding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Healthy,
    Failing,
}

/// Which recipient-activity source a webhook listens to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Every source.
    All,
    /// Only events whose `source` is this name.
    Named(String),
}

impl Source {
    /// Reads the API/database form: `"all"` or a source name.
    pub fn parse(s: &str) -> Source {
        if s == "all" {
            Source::All
        } else {
            Source::Named(s.to_owned())
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Source::All => "all",
            Source::Named(name) => name,
        }
    }

    /// True when an event from `source` belongs to this webhook.
    pub fn matches(&self, source: &str) -> bool {
        match self {
            Source::All => true,
            Source::Named(name) => name == source,
        }
    }
}

/// A webhook as the engine knows it.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: WebhookId,
    pub account_id: AccountId,
    pub name: String,
    pub target_url: TargetUrl,
    pub source: Source,
    pub events: EventSet,
    pub auth: Auth,
    pub status: WebhookStatus,
    pub disabled_reason: Option<DisabledReason>,
    pub health: Health,
    pub failing_since: Option<Millis>,
    pub last_success_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Batches that used every retry in the current failing spell.
    pub failed_batches: i32,
    /// The last delivery error of the current failing spell.
    pub last_error: Option<String>,
    /// When the webhook will be disabled if it is not fixed (set once the failure email
    /// has gone out).
    pub disable_at: Option<Millis>,
}

/// Where and how a webhook's batches are sent: all its actor needs to know, and small,
/// since one is kept in memory for every enabled webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryTarget {
    pub id: WebhookId,
    pub url: TargetUrl,
    pub auth: Auth,
}

impl Webhook {
    /// A new webhook as it is created by default: a fresh id, every source and event type,
    /// no auth, enabled and healthy. Callers change the fields they were given.
    pub fn new(account_id: AccountId, name: String, target_url: TargetUrl, now: Millis) -> Webhook {
        Webhook {
            id: WebhookId::generate(),
            account_id,
            name,
            target_url,
            source: Source::All,
            events: EventSet::all(),
            auth: Auth::None,
            status: WebhookStatus::Enabled,
            disabled_reason: None,
            health: Health::Healthy,
            failing_since: None,
            last_success_at: None,
            created_at: now,
            updated_at: now,
            failed_batches: 0,
            last_error: None,
            disable_at: None,
        }
    }

    /// The part of this webhook that delivery needs.
    pub fn delivery_target(&self) -> DeliveryTarget {
        DeliveryTarget { id: self.id.clone(), url: self.target_url.clone(), auth: self.auth.clone() }
    }

    /// True when this webhook should receive an event of this type and source.
    pub fn wants(&self, event_type: EventType, source: &str) -> bool {
        self.status == WebhookStatus::Enabled && self.events.contains(event_type) && self.source.matches(source)
    }
}
