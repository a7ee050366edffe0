//! Which webhooks an event goes to. The table is shared (behind a lock) between the
//! registry, which changes it when webhooks change, and ingest, which reads it for every
//! request; a change is in the table before the API answers, so an event ingested after a
//! webhook's create reaches it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::model::{AccountId, Event, EventSet, Source, Webhook, WebhookId, WebhookStatus};

#[derive(Debug, Clone)]
struct Route {
    webhook: WebhookId,
    events: EventSet,
}

/// One account's routes, indexed by source so that an event is checked only against
/// the webhooks that listen to all sources or to its own.
#[derive(Debug, Default)]
struct AccountRoutes {
    any_source: Vec<Route>,
    by_source: HashMap<String, Vec<Route>>,
    /// Where each webhook's route is: `None` for `any_source`, else its source.
    placed: HashMap<WebhookId, Option<String>>,
}

impl AccountRoutes {
    fn insert(&mut self, id: &WebhookId, source: &Source, events: EventSet) {
        let route = Route { webhook: id.clone(), events };
        let place = match source {
            Source::All => {
                self.any_source.push(route);
                None
            }
            Source::Named(name) => {
                self.by_source.entry(name.clone()).or_default().push(route);
                Some(name.clone())
            }
        };
        self.placed.insert(id.clone(), place);
    }

    fn remove(&mut self, webhook: &WebhookId) {
        match self.placed.remove(webhook) {
            Some(None) => self.any_source.retain(|r| &r.webhook != webhook),
            Some(Some(source)) => {
                if let Some(routes) = self.by_source.get_mut(&source) {
                    routes.retain(|r| &r.webhook != webhook);
                    if routes.is_empty() {
                        self.by_source.remove(&source);
                    }
                }
            }
            None => {}
        }
    }

    fn candidates<'a>(&'a self, source: &str) -> impl Iterator<Item = &'a Route> {
        self.any_source.iter().chain(self.by_source.get(source).into_iter().flatten())
    }
}

/// The enabled webhooks of every account, with their filters.
#[derive(Debug, Default)]
pub struct RouteTable {
    by_account: HashMap<AccountId, AccountRoutes>,
}

/// Where a request's events go: the webhooks involved, and for each event the indexes
/// (into `webhooks`) of those that want it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Routing {
    pub webhooks: Vec<WebhookId>,
    pub per_event: Vec<Vec<usize>>,
}

impl RouteTable {
    /// Adds, replaces or (for a disabled webhook) removes a webhook's route.
    pub fn upsert(&mut self, webhook: &Webhook) {
        self.remove(&webhook.account_id, &webhook.id);
        if webhook.status == WebhookStatus::Enabled {
            self.insert(&webhook.account_id, &webhook.id, &webhook.source, webhook.events);
        }
    }

    /// Adds the route of an enabled webhook that has none yet (start-up).
    pub fn insert(&mut self, account: &AccountId, id: &WebhookId, source: &Source, events: EventSet) {
        self.by_account.entry(account.clone()).or_default().insert(id, source, events);
    }

    /// Removes a webhook's route, if it has one.
    pub fn remove(&mut self, account: &AccountId, webhook: &WebhookId) {
        if let Some(routes) = self.by_account.get_mut(account) {
            routes.remove(webhook);
            if routes.placed.is_empty() {
                self.by_account.remove(account);
            }
        }
    }

    /// Routes a request's events.
    pub fn route(&self, account: &AccountId, events: &[Event]) -> Routing {
        let Some(routes) = self.by_account.get(account) else {
            return Routing { webhooks: Vec::new(), per_event: vec![Vec::new(); events.len()] };
        };
        let mut index_of: HashMap<&WebhookId, usize> = HashMap::new();
        let mut routing = Routing { webhooks: Vec::new(), per_event: Vec::with_capacity(events.len()) };
        for event in events {
            let mut targets = Vec::new();
            for route in routes.candidates(&event.source).filter(|r| r.events.contains(event.event_type)) {
                let index = *index_of.entry(&route.webhook).or_insert_with(|| {
                    routing.webhooks.push(route.webhook.clone());
                    routing.webhooks.len() - 1
                });
                targets.push(index);
            }
            routing.per_event.push(targets);
        }
        routing
    }
}

/// The table as shared between the registry and ingest.
pub type SharedRoutes = Arc<RwLock<RouteTable>>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{parse_ingest_body, EventType, TargetUrl};

    fn webhook(account: &str, id: &str, events: &[EventType], source: &str) -> Webhook {
        let mut set = EventSet::empty();
        events.iter().for_each(|t| set.insert(*t));
        let url = TargetUrl::parse("https://example.com/").unwrap();
        Webhook {
            id: WebhookId::from_string(id),
            source: Source::parse(source),
            events: set,
            ..Webhook::new(AccountId::from_string(account), id.into(), url, 0)
        }
    }

    #[test]
    fn routes_by_account_type_and_source() {
        let mut table = RouteTable::default();
        table.upsert(&webhook("a", "opens", &[EventType::Open], "all"));
        table.upsert(&webhook("a", "mkt", &EventType::ALL, "marketing"));
        table.upsert(&webhook("b", "other", &EventType::ALL, "all"));
        let events = parse_ingest_body(
            br#"[{"status":"open","messageId":"m","recipient":"r","timestamp":1},
                 {"status":"click","messageId":"m","recipient":"r","timestamp":1,"source":"marketing"},
                 {"status":"bounce","messageId":"m","recipient":"r","timestamp":1}]"#,
        )
        .unwrap();
        let routing = table.route(&AccountId::from_string("a"), &events);
        assert_eq!(routing.webhooks, vec![WebhookId::from_string("opens"), WebhookId::from_string("mkt")]);
        assert_eq!(routing.per_event, vec![vec![0], vec![1], vec![]]);
    }

    #[test]
    fn disabled_and_removed_webhooks_get_nothing() {
        let mut table = RouteTable::default();
        let mut hook = webhook("a", "w", &EventType::ALL, "all");
        table.upsert(&hook);
        hook.status = WebhookStatus::Disabled;
        table.upsert(&hook);
        let events =
            parse_ingest_body(br#"[{"status":"open","messageId":"m","recipient":"r","timestamp":1}]"#).unwrap();
        assert!(table.route(&AccountId::from_string("a"), &events).webhooks.is_empty());
        hook.status = WebhookStatus::Enabled;
        table.upsert(&hook);
        table.remove(&hook.account_id, &hook.id);
        assert!(table.route(&AccountId::from_string("a"), &events).webhooks.is_empty());
    }

    #[test]
    fn a_changed_source_moves_the_route() {
        let mut table = RouteTable::default();
        let mut hook = webhook("a", "w", &EventType::ALL, "marketing");
        table.upsert(&hook);
        hook.source = Source::All;
        table.upsert(&hook);
        let events = parse_ingest_body(
            br#"[{"status":"open","messageId":"m","recipient":"r","timestamp":1,"source":"marketing"},
                 {"status":"open","messageId":"m","recipient":"r","timestamp":1,"source":"other"}]"#,
        )
        .unwrap();
        let routing = table.route(&AccountId::from_string("a"), &events);
        assert_eq!(routing.webhooks, vec![WebhookId::from_string("w")]);
        assert_eq!(routing.per_event, vec![vec![0], vec![0]]);
    }
}
