//! The registry: the one actor that knows every enabled webhook's actor. It starts them
//! (spread round-robin over the webhook arbiters), applies webhook changes at once — the
//! route table and the actor are updated before the API answers — and forwards freshly
//! stored events to the actors that must deliver them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use actix::dev::channel::{self, AddressReceiver};
use actix::prelude::*;

use super::routes::SharedRoutes;
use super::webhook::{
    Crash, Drain, Enqueue, Handed, LoadBacklog, PendingEvent, Reconfigure, StartFrom, Stop, WebhookActor,
};
use super::ActorDeps;
use crate::db::webhooks::EnabledWebhook;
use crate::model::{AccountId, DeliveryTarget, Webhook, WebhookId, WebhookStatus};

/// The mailbox size of a webhook actor (actix's default).
const MAILBOX_CAPACITY: usize = 16;

/// How many actors one start-up parcel carries to an arbiter.
const STARTUP_PARCEL: usize = 2_000;

/// An ingest request's events, just committed. Sent from the writer thread, so requests
/// arrive here in commit order; the registry groups each by webhook (off the writer
/// thread) and forwards every webhook its share.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Dispatch {
    /// The webhooks the request's events go to.
    pub webhooks: Arc<Vec<WebhookId>>,
    /// For each event, the indexes (into `webhooks`) of the webhooks it goes to.
    pub targets: Arc<Vec<Vec<usize>>>,
    /// Each event's id and payload, in request order.
    pub event_ids: Vec<i64>,
    pub payloads: Vec<Arc<str>>,
}

/// A webhook was created or changed: start, reconfigure or stop its actor.
#[derive(Message)]
#[rtype(result = "()")]
pub struct WebhookChanged(pub Webhook);

/// A webhook was deleted: stop its actor and forget its route.
#[derive(Message)]
#[rtype(result = "()")]
pub struct WebhookRemoved {
    pub account: AccountId,
    pub webhook: WebhookId,
}

/// Graceful stop: every webhook finishes its in-flight deliveries (up to `grace`) and
/// starts no new ones. Resolves when all are done or the grace period is over.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DrainAll {
    pub grace: std::time::Duration,
}

/// A running webhook actor and the settings it was started with (shared with it).
struct Running {
    addr: Addr<WebhookActor>,
    target: Arc<DeliveryTarget>,
}

/// Supervises the webhook actors.
pub struct Registry {
    deps: Arc<ActorDeps>,
    supervision_interval: std::time::Duration,
    arbiters: Vec<ArbiterHandle>,
    next_arbiter: usize,
    routes: SharedRoutes,
    actors: HashMap<WebhookId, Running>,
    /// The actors started waiting for the start-up loader to hand them their backlog.
    to_hand: Vec<(WebhookId, Addr<WebhookActor>)>,
}

impl Registry {
    /// A registry that will run webhook actors on `arbiters`, starting one for each of
    /// `enabled` now. Those in `with_backlog` wait for the start-up loader (see
    /// [`Registry::start_backlog_loader`]) to hand them what is stored for them; the others
    /// have nothing to pick up, which keeps a start with many idle webhooks fast.
    pub fn new(
        deps: ActorDeps,
        supervision_interval: std::time::Duration,
        arbiters: Vec<ArbiterHandle>,
        routes: SharedRoutes,
        enabled: Vec<EnabledWebhook>,
        with_backlog: HashSet<WebhookId>,
    ) -> Self {
        let mut registry = Registry {
            deps: Arc::new(deps),
            supervision_interval,
            arbiters,
            next_arbiter: 0,
            routes,
            actors: HashMap::with_capacity(enabled.len()),
            to_hand: Vec::with_capacity(with_backlog.len()),
        };
        registry.write_routes(|routes| {
            for webhook in &enabled {
                routes.insert(&webhook.account, &webhook.target.id, &webhook.source, webhook.events);
            }
        });
        // Start-up hands each arbiter its actors in parcels rather than one message per
        // actor: with 100,000 webhooks that is the difference between a start in a
        // fraction of a second and one of several seconds.
        let workers = registry.arbiters.len().max(1);
        let mut parcels: Vec<Vec<(AddressReceiver<WebhookActor>, WebhookActor)>> =
            (0..workers).map(|_| Vec::with_capacity(STARTUP_PARCEL)).collect();
        for (i, webhook) in enabled.into_iter().enumerate() {
            let start = if with_backlog.contains(&webhook.target.id) { StartFrom::Handed } else { StartFrom::Nothing };
            let id = webhook.target.id.clone();
            let target = Arc::new(webhook.target);
            let (sender, receiver) = channel::channel(MAILBOX_CAPACITY);
            let worker = i % workers;
            parcels[worker].push((receiver, WebhookActor::new(target.clone(), registry.deps.clone(), start)));
            let addr = Addr::new(sender);
            if start == StartFrom::Handed {
                registry.to_hand.push((id.clone(), addr.clone()));
            }
            registry.actors.insert(id, Running { addr, target });
            if parcels[worker].len() == STARTUP_PARCEL {
                let parcel = std::mem::replace(&mut parcels[worker], Vec::with_capacity(STARTUP_PARCEL));
                registry.send_parcel(worker, parcel);
            }
        }
        for (worker, parcel) in parcels.into_iter().enumerate() {
            registry.send_parcel(worker, parcel);
        }
        registry
    }

    /// Starts a parcel of actors on arbiter `worker` (here, if there are no arbiters).
    fn send_parcel(&self, worker: usize, parcel: Vec<(AddressReceiver<WebhookActor>, WebhookActor)>) {
        if parcel.is_empty() {
            return;
        }
        let start = move || {
            for (receiver, actor) in parcel {
                actix_rt::spawn(Context::with_receiver(receiver).into_future(actor));
            }
        };
        match self.arbiters.get(worker) {
            Some(arbiter) => {
                arbiter.spawn_fn(start);
            }
            None => start(),
        }
    }

    /// Starts a webhook's actor while the engine runs: it reads its stored events and
    /// unfinished batches once every write queued before it (a previous actor's
    /// included) has committed.
    fn start_actor(&mut self, target: Arc<DeliveryTarget>) -> Addr<WebhookActor> {
        let actor = WebhookActor::new(target, self.deps.clone(), StartFrom::StorageAfterQueuedWrites);
        if self.arbiters.is_empty() {
            return actor.start();
        }
        let arbiter = &self.arbiters[self.next_arbiter % self.arbiters.len()];
        self.next_arbiter = self.next_arbiter.wrapping_add(1);
        WebhookActor::start_in_arbiter(arbiter, move |_| actor)
    }

    /// Applies a webhook's new state; returns the actor that must stop, if any.
    fn apply(&mut self, webhook: Webhook) -> Option<Addr<WebhookActor>> {
        self.write_routes(|routes| routes.upsert(&webhook));
        let target = Arc::new(webhook.delivery_target());
        let enabled = webhook.status == WebhookStatus::Enabled;
        match (self.actors.remove(&webhook.id), enabled) {
            (Some(running), true) => {
                if running.target != target {
                    running.addr.do_send(Reconfigure(target.clone()));
                }
                self.actors.insert(webhook.id, Running { addr: running.addr, target });
            }
            (Some(running), false) => return Some(running.addr),
            (None, true) => {
                let addr = self.start_actor(target.clone());
                self.actors.insert(webhook.id, Running { addr, target });
            }
            (None, false) => {}
        }
        None
    }

    fn write_routes(&self, change: impl FnOnce(&mut super::routes::RouteTable)) {
        // A poisoned lock only means another thread panicked mid-update of a plain map;
        // the map itself is still usable.
        let mut routes = self.routes.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        change(&mut routes);
    }
}

/// Stops a webhook's actor and resolves once it has stopped. Its buffered events and
/// unfinished batches stay in the database and are picked up again if the webhook is
/// enabled later.
async fn stop(addr: Addr<WebhookActor>) {
    // An error means the actor is gone already.
    let _ = addr.send(Stop).await;
}

impl Registry {
    /// Reads the backlogs of the actors started with [`StartFrom::Handed`] and hands each
    /// its own, as soon as it is read: all in one read transaction on one connection,
    /// while the actors already deliver what they were handed.
    fn start_backlog_loader(&mut self) {
        let to_hand = Arc::new(std::mem::take(&mut self.to_hand));
        if to_hand.is_empty() {
            return;
        }
        let load = {
            let to_hand = to_hand.clone();
            let ids: Vec<WebhookId> = to_hand.iter().map(|(id, _)| id.clone()).collect();
            move |conn: &mut crate::db::Conn| {
                crate::db::batches::load_backlogs(conn, &ids, |i, backlog| to_hand[i].1.do_send(Handed(backlog)))
            }
        };
        let read = self.deps.db.read(load);
        actix::spawn(async move {
            if let Err(e) = read.await {
                log::error!("cannot read the stored backlogs at start; each webhook reads its own: {e}");
                // An actor already handed its backlog ignores this.
                to_hand.iter().for_each(|(_, addr)| addr.do_send(LoadBacklog));
            }
        });
    }

    /// Restarts every webhook actor that is no longer running (it panicked, or stopped
    /// without being asked). The new actor reloads its backlog, so nothing is lost.
    fn supervise(&mut self) {
        let dead: Vec<WebhookId> =
            self.actors.iter().filter(|(_, running)| !running.addr.connected()).map(|(id, _)| id.clone()).collect();
        for id in dead {
            if let Some(running) = self.actors.remove(&id) {
                log::warn!("webhook {id}: its actor stopped unexpectedly; restarting it from the database");
                let addr = self.start_actor(running.target.clone());
                self.actors.insert(id, Running { addr, target: running.target });
            }
        }
    }
}

impl Actor for Registry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.start_backlog_loader();
        ctx.run_interval(self.supervision_interval, |act, _| act.supervise());
    }
}

/// Crashes a webhook's actor (see [`Crash`]); for tests of supervision.
#[doc(hidden)]
#[derive(Message)]
#[rtype(result = "bool")]
pub struct CrashWebhook(pub WebhookId);

impl Handler<CrashWebhook> for Registry {
    type Result = bool;

    fn handle(&mut self, msg: CrashWebhook, _ctx: &mut Self::Context) -> bool {
        match self.actors.get(&msg.0) {
            Some(running) => {
                running.addr.do_send(Crash);
                true
            }
            None => false,
        }
    }
}

impl Handler<Dispatch> for Registry {
    type Result = ();

    /// Forwards each webhook's events to its actor. Events for a webhook without an actor
    /// (disabled or deleted meanwhile) stay in the database.
    fn handle(&mut self, msg: Dispatch, _ctx: &mut Self::Context) {
        let mut grouped: Vec<Vec<PendingEvent>> = vec![Vec::new(); msg.webhooks.len()];
        for ((&event_id, targets), raw) in msg.event_ids.iter().zip(msg.targets.iter()).zip(&msg.payloads) {
            for &webhook in targets {
                grouped[webhook].push(PendingEvent { event_id, raw: raw.clone() });
            }
        }
        let mut lost = false;
        for (webhook, events) in msg.webhooks.iter().zip(grouped) {
            if let Some(running) = self.actors.get(webhook) {
                // A closed mailbox means the actor died; its events are stored, and the
                // restarted actor reads them back. A full one is no reason to drop them:
                // `try_send` refuses once 16 messages wait (say, while the actor reads its
                // backlog), and nothing would deliver those events until a restart.
                if running.addr.connected() {
                    running.addr.do_send(Enqueue(events));
                } else {
                    lost = true;
                }
            }
        }
        if lost {
            self.supervise();
        }
    }
}

impl Handler<WebhookChanged> for Registry {
    /// Atomic: when a change stops an actor, the registry handles nothing else until it
    /// has stopped, so a re-enable right after cannot start a second actor beside it.
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: WebhookChanged, _ctx: &mut Self::Context) -> Self::Result {
        let to_stop = self.apply(msg.0);
        AtomicResponse::new(Box::pin(
            async move {
                if let Some(addr) = to_stop {
                    stop(addr).await;
                }
            }
            .into_actor(self),
        ))
    }
}

impl Handler<WebhookRemoved> for Registry {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: WebhookRemoved, _ctx: &mut Self::Context) -> Self::Result {
        self.write_routes(|routes| routes.remove(&msg.account, &msg.webhook));
        let to_stop = self.actors.remove(&msg.webhook).map(|running| running.addr);
        AtomicResponse::new(Box::pin(
            async move {
                if let Some(addr) = to_stop {
                    stop(addr).await;
                }
            }
            .into_actor(self),
        ))
    }
}

impl Handler<DrainAll> for Registry {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: DrainAll, _ctx: &mut Self::Context) -> Self::Result {
        let waits: Vec<_> = self
            .actors
            .values()
            .map(|running| {
                let (done, wait) = tokio::sync::oneshot::channel();
                running.addr.do_send(Drain(done));
                wait
            })
            .collect();
        Box::pin(async move {
            let all = futures_util::future::join_all(waits);
            if tokio::time::timeout(msg.grace, all).await.is_err() {
                log::warn!(
                    "some deliveries were still in flight after {:?}; they will be retried after restart",
                    msg.grace
                );
            }
        })
    }
}
