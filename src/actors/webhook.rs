//! One webhook's actor. It owns everything about delivering to that webhook: the buffer
//! of events waiting to form a batch, the batches waiting for a delivery slot, the
//! deliveries in flight (at most `max_in_flight`) and the retry timers. Every state change
//! that must survive a crash is written before the actor acts on it: a batch is recorded
//! before its first send, an attempt before its retry is scheduled.
//!
//! Its events reach it in id order (they are handed over from the writer thread, in commit
//! order), so each batch is the next range of the webhook's event ids, recorded as a
//! range. On start the actor picks up its backlog from the database — events not yet
//! batched and unfinished batches — so a restart (of the process or of the actor) loses
//! nothing.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::notifier::Wake;
use super::ActorDeps;
use crate::db::{self, batches::AttemptRecord, batches::NewRange};
use crate::delivery::{self, payload, retry, AttemptResult};
use crate::model::{now_millis, BatchId, BatchStatus, DeliveryTarget};

/// How long to wait before trying again when the database refuses a write.
const DB_RETRY_DELAY: Duration = Duration::from_secs(1);

/// An event waiting for this webhook: its id (ids increase in ingest order) and payload.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub event_id: i64,
    pub raw: Arc<str>,
}

/// A recorded batch, ready for its next attempt.
#[derive(Debug, Clone)]
struct Batch {
    id: BatchId,
    events: Arc<[Arc<str>]>,
    /// Attempts made so far: the next attempt's `retryCount`.
    retry_count: u32,
}

/// Newly ingested events for this webhook, in ingest order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Enqueue(pub Vec<PendingEvent>);

/// The webhook's settings changed (target, auth…); later attempts use the new ones.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reconfigure(pub Arc<DeliveryTarget>);

/// Stop now. In-flight attempts are abandoned; their batches stay unfinished in the
/// database and are delivered when the webhook's actor starts again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

/// Stop starting deliveries and report (through the sender) once none is in flight.
/// Used by a graceful shutdown; what is not delivered stays in the database.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain(pub tokio::sync::oneshot::Sender<()>);

/// What a starting actor must read back from the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// Nothing is stored for it (a new webhook, or an idle one at engine start).
    Nothing,
    /// Its stored events and unfinished batches, read by the engine's start-up loader and
    /// handed over in a [`Handed`] message (or, if the loader fails, a [`LoadBacklog`]).
    Handed,
    /// Its stored events and unfinished batches, read only after every write already
    /// queued has committed — those of a previous actor of the same webhook (crashed or
    /// stopped) included — so nothing it batched is batched again.
    StorageAfterQueuedWrites,
}

/// The backlog the start-up loader read for this actor.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Handed(pub db::batches::Backlog);

/// The start-up loader could not read this actor's backlog: read it yourself.
#[derive(Message)]
#[rtype(result = "()")]
pub struct LoadBacklog;

/// Where the actor is in its start-up.
enum Loading {
    /// Reading the backlog; events that arrive meanwhile wait here.
    InProgress(Vec<PendingEvent>),
    Done,
}

/// The actor of one enabled webhook.
pub struct WebhookActor {
    /// The webhook's settings, shared with the registry.
    target: Arc<DeliveryTarget>,
    /// The database, the delivery settings and the notifier: shared by every webhook.
    deps: Arc<ActorDeps>,
    /// How it picks up what is stored for it.
    start: StartFrom,
    loading: Loading,
    /// Events at or below this id were part of the backlog read at start.
    loaded_upto: i64,
    buffer: Vec<PendingEvent>,
    linger: Option<SpawnHandle>,
    ready: VecDeque<Batch>,
    in_flight: usize,
    /// Set by [`Drain`]: start nothing new, and tell these when the last attempt is done.
    draining: Option<Vec<tokio::sync::oneshot::Sender<()>>>,
}

impl WebhookActor {
    /// An actor for `webhook`; with `load_backlog` it first reads what the database holds
    /// for it (needed unless the webhook is known to have nothing stored).
    pub fn new(target: Arc<DeliveryTarget>, deps: Arc<ActorDeps>, start: StartFrom) -> Self {
        WebhookActor {
            target,
            deps,
            start,
            loading: if start == StartFrom::Nothing { Loading::Done } else { Loading::InProgress(Vec::new()) },
            loaded_upto: 0,
            buffer: Vec::new(),
            linger: None,
            ready: VecDeque::new(),
            in_flight: 0,
            draining: None,
        }
    }

    fn load_backlog(&mut self, ctx: &mut Context<Self>) {
        let id = self.target.id.clone();
        let load = move |conn: &mut db::Conn| db::batches::load_backlog(conn, &id);
        // Through the writer's queue, so that it is read after every write queued before.
        self.deps
            .db
            .write(load)
            .into_actor(self)
            .map(|result, act, ctx| match result {
                Ok(backlog) => act.resume(backlog, ctx),
                Err(e) => {
                    log::error!("webhook {}: cannot read its backlog, trying again: {e}", act.target.id);
                    ctx.run_later(DB_RETRY_DELAY, |act, ctx| act.load_backlog(ctx));
                }
            })
            .wait(ctx);
    }

    fn resume(&mut self, backlog: db::batches::Backlog, ctx: &mut Context<Self>) {
        self.loaded_upto = backlog.loaded_upto;
        let arrived = match std::mem::replace(&mut self.loading, Loading::Done) {
            Loading::InProgress(events) => events,
            Loading::Done => Vec::new(),
        };
        let now = now_millis();
        let mut overdue = 0u32;
        for (record, payloads) in backlog.batches {
            let batch = Batch {
                id: BatchId::from_string(record.id),
                events: payloads.into_iter().map(Arc::from).collect(),
                retry_count: record.attempt_count.max(0) as u32,
            };
            match record.next_attempt_at {
                Some(due) if due > now => self.schedule_retry(batch, Duration::from_millis((due - now) as u64), ctx),
                Some(_) => {
                    // Overdue retries are spread out so a restart does not fire them all
                    // at once.
                    overdue += 1;
                    self.schedule_retry(batch, Duration::from_millis(50 * u64::from(overdue)), ctx);
                }
                None => self.ready.push_back(batch),
            }
        }
        let unbatched =
            backlog.unbatched.into_iter().map(|(event_id, raw)| PendingEvent { event_id, raw: Arc::from(raw) });
        let loaded_upto = self.loaded_upto;
        let fresh = arrived.into_iter().filter(|e| e.event_id > loaded_upto);
        self.add_events(unbatched.chain(fresh).collect(), ctx);
        if let Some(received_at) = backlog.oldest_unbatched_at {
            // Stored events linger only for what is left of their linger: after a restart
            // that is usually nothing, but an event stored just now (a new actor reading
            // its backlog while ingest commits) still waits for company.
            let waited = Duration::from_millis(now.saturating_sub(received_at).max(0) as u64);
            match self.deps.settings.batch_linger.checked_sub(waited) {
                Some(left) if !left.is_zero() && !self.buffer.is_empty() => {
                    if let Some(timer) = self.linger.take() {
                        ctx.cancel_future(timer);
                    }
                    self.linger = Some(ctx.run_later(left, |act, ctx| {
                        act.linger = None;
                        act.flush_buffer(ctx);
                    }));
                }
                _ => self.flush_buffer(ctx),
            }
        }
        self.pump(ctx);
    }

    /// Turns whatever is buffered into a batch now.
    fn flush_buffer(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.linger.take() {
            ctx.cancel_future(timer);
        }
        let events = std::mem::take(&mut self.buffer);
        if !events.is_empty() {
            self.form_batch(events, ctx);
        }
    }

    fn add_events(&mut self, events: Vec<PendingEvent>, ctx: &mut Context<Self>) {
        if events.is_empty() {
            return;
        }
        self.buffer.extend(events);
        while self.buffer.len() >= self.deps.settings.batch_max_events {
            let rest = self.buffer.split_off(self.deps.settings.batch_max_events);
            let full = std::mem::replace(&mut self.buffer, rest);
            self.form_batch(full, ctx);
        }
        if self.buffer.is_empty() {
            if let Some(timer) = self.linger.take() {
                ctx.cancel_future(timer);
            }
        } else if self.linger.is_none() {
            self.linger = Some(ctx.run_later(self.deps.settings.batch_linger, |act, ctx| {
                act.linger = None;
                act.flush_buffer(ctx);
            }));
        }
    }

    /// Records a batch of buffered events, then queues it for delivery. The events are
    /// the webhook's next ones in id order, so the batch is stored as their id range.
    fn form_batch(&mut self, events: Vec<PendingEvent>, ctx: &mut Context<Self>) {
        let (Some(first_event), Some(last_event)) =
            (events.iter().map(|e| e.event_id).min(), events.iter().map(|e| e.event_id).max())
        else {
            return;
        };
        let id = BatchId::generate();
        let webhook = self.target.id.clone();
        let event_count = events.len();
        let batch = Batch { id: id.clone(), events: events.into_iter().map(|e| e.raw).collect(), retry_count: 0 };
        self.deps
            .db
            .write(move |conn| {
                let range = NewRange {
                    id: &id,
                    webhook: &webhook,
                    first_event,
                    last_event,
                    event_count,
                    created_at: now_millis(),
                };
                db::batches::create(conn, &range)
            })
            .into_actor(self)
            .map(move |result, act, ctx| match result {
                Ok(true) => {
                    act.ready.push_back(batch);
                    act.pump(ctx);
                }
                Ok(false) => {
                    // The stored events are not the ones this actor holds: a predecessor
                    // batched some of them after our backlog was read. Our view is stale;
                    // stop, and supervision restarts us from the database.
                    log::warn!("webhook {}: its stored events moved on; reloading them", act.target.id);
                    ctx.stop();
                }
                Err(e) => {
                    // Later batches were formed on top of this one; the simplest correct
                    // recovery is the one a crash gets: a fresh actor, read from storage.
                    log::error!("webhook {}: cannot record a batch, restarting from the database: {e}", act.target.id);
                    ctx.stop();
                }
            })
            .spawn(ctx);
    }

    /// Starts deliveries while there are ready batches and free slots.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if let Some(waiting) = &mut self.draining {
            if self.in_flight == 0 {
                for done in waiting.drain(..) {
                    // The registry may have given up waiting; nothing else to tell.
                    let _ = done.send(());
                }
            }
            return;
        }
        while self.in_flight < self.deps.settings.max_in_flight {
            let Some(batch) = self.ready.pop_front() else {
                break;
            };
            self.in_flight += 1;
            self.attempt(batch, ctx);
        }
    }

    fn attempt(&mut self, batch: Batch, ctx: &mut Context<Self>) {
        let body = payload::batch_body(&batch.id, batch.retry_count, &batch.events);
        let target = self.target.clone();
        let settings = self.deps.settings.clone();
        async move { delivery::deliver(&target.url, &target.auth, body, &settings.options).await }
            .into_actor(self)
            .map(move |result, act, ctx| act.record(batch, result, ctx))
            .spawn(ctx);
    }

    /// Records an attempt; once it is durable, frees the slot and schedules what comes next.
    fn record(&mut self, batch: Batch, result: AttemptResult, ctx: &mut Context<Self>) {
        let retry_in = if result.is_success() {
            None
        } else {
            retry::next_retry_delay(&self.deps.settings.retry_schedule, batch.retry_count)
        };
        let status = match (result.is_success(), retry_in) {
            (true, _) => BatchStatus::Success,
            (false, Some(_)) => BatchStatus::Retrying,
            (false, None) => BatchStatus::Failed,
        };
        if !result.is_success() {
            log::info!(
                "webhook {}: batch {} attempt {} failed: {}",
                self.target.id,
                batch.id,
                batch.retry_count,
                result.error().unwrap_or_default()
            );
        }
        let next_attempt_at = retry_in.map(|d| now_millis() + d.as_millis() as i64);
        let attempt = attempt_record(&batch.id, batch.retry_count, &result);
        let webhook = self.target.id.clone();
        let attempted_at = result.attempted_at;
        let error = result.error();
        self.deps
            .db
            .write(move |conn| {
                db::batches::record_attempt(conn, &attempt, status, next_attempt_at)?;
                match status {
                    BatchStatus::Success => db::webhooks::record_success(conn, &webhook, attempted_at).map(|_| false),
                    BatchStatus::Failed => {
                        db::webhooks::record_batch_failure(conn, &webhook, attempted_at, error.as_deref())
                    }
                    _ => Ok(false),
                }
            })
            .into_actor(self)
            .map(move |written, act, ctx| {
                match written {
                    Ok(true) => act.deps.notifier.do_send(Wake),
                    Ok(false) => {}
                    Err(e) => {
                        log::error!("webhook {}: cannot record an attempt of batch {}: {e}", act.target.id, batch.id)
                    }
                }
                act.in_flight -= 1;
                if let Some(delay) = retry_in {
                    act.schedule_retry(Batch { retry_count: batch.retry_count + 1, ..batch }, delay, ctx);
                }
                act.pump(ctx);
            })
            .spawn(ctx);
    }

    fn schedule_retry(&mut self, batch: Batch, delay: Duration, ctx: &mut Context<Self>) {
        ctx.run_later(delay, move |act, ctx| {
            act.ready.push_back(batch);
            act.pump(ctx);
        });
    }
}

/// The stored form of an attempt.
pub(crate) fn attempt_record(batch_id: &BatchId, retry_count: u32, result: &AttemptResult) -> AttemptRecord {
    AttemptRecord {
        id: 0,
        batch_id: batch_id.to_string(),
        retry_count: retry_count as i32,
        attempted_at: result.attempted_at,
        duration_ms: result.duration.as_millis() as i64,
        response_code: result.status_code.map(i32::from),
        response_body: result.response_body.clone(),
        error: result.error(),
    }
}

impl Actor for WebhookActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if self.start == StartFrom::StorageAfterQueuedWrites {
            self.load_backlog(ctx);
        }
    }
}

impl Handler<Enqueue> for WebhookActor {
    type Result = ();

    /// Buffers the events; a full buffer becomes a batch at once, otherwise the linger
    /// timer started by the first event decides.
    fn handle(&mut self, msg: Enqueue, ctx: &mut Self::Context) {
        match &mut self.loading {
            Loading::InProgress(waiting) => waiting.extend(msg.0),
            Loading::Done => {
                // The backlog is read while the mailbox waits (`wait` in `started`), so an
                // Enqueue sent meanwhile is handled only now, and its events may already be
                // in the backlog: taking them again would deliver them twice.
                let loaded_upto = self.loaded_upto;
                let fresh = msg.0.into_iter().filter(|e| e.event_id > loaded_upto).collect();
                self.add_events(fresh, ctx);
            }
        }
    }
}

impl Handler<Handed> for WebhookActor {
    type Result = ();

    fn handle(&mut self, msg: Handed, ctx: &mut Self::Context) {
        if matches!(self.loading, Loading::InProgress(_)) {
            self.resume(msg.0, ctx);
        }
    }
}

impl Handler<LoadBacklog> for WebhookActor {
    type Result = ();

    fn handle(&mut self, _msg: LoadBacklog, ctx: &mut Self::Context) {
        if matches!(self.loading, Loading::InProgress(_)) {
            self.load_backlog(ctx);
        }
    }
}

impl Handler<Reconfigure> for WebhookActor {
    type Result = ();

    /// Takes the new target and auth for every later attempt.
    fn handle(&mut self, msg: Reconfigure, _ctx: &mut Self::Context) {
        self.target = msg.0;
    }
}

/// Makes the actor panic, as a bug would: lets tests prove the registry's supervision.
#[doc(hidden)]
#[derive(Message)]
#[rtype(result = "()")]
pub struct Crash;

impl Handler<Crash> for WebhookActor {
    type Result = ();

    fn handle(&mut self, _msg: Crash, _ctx: &mut Self::Context) {
        panic!("webhook {} crashed on purpose", self.target.id);
    }
}

impl Handler<Stop> for WebhookActor {
    type Result = ();

    fn handle(&mut self, _msg: Stop, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Handler<Drain> for WebhookActor {
    type Result = ();

    fn handle(&mut self, msg: Drain, ctx: &mut Self::Context) {
        self.draining.get_or_insert_with(Vec::new).push(msg.0);
        self.pump(ctx);
    }
}
