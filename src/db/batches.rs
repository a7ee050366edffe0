//! Batches and their attempts: what batch status shows, and what a webhook actor reloads
//! after a restart (its unbatched events and its unfinished batches).

use diesel::prelude::*;

use super::schema::{attempts, batches, deliveries, events, webhooks};
use super::Conn;
use crate::model::{BatchId, BatchStatus, Millis, WebhookId};

/// A batch as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = batches)]
pub struct BatchRecord {
    pub seq: i64,
    pub id: String,
    pub webhook_id: String,
    pub status: String,
    pub test: bool,
    pub event_count: i32,
    pub attempt_count: i32,
    pub created_at: Millis,
    pub last_attempt_at: Option<Millis>,
    pub next_attempt_at: Option<Millis>,
    pub response_code: Option<i32>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    /// The batch's events: its webhook's deliveries in this range of event ids (none for
    /// a test batch, whose events are the built-in samples).
    pub first_event_id: Option<i64>,
    pub last_event_id: Option<i64>,
}

#[derive(Insertable)]
#[diesel(table_name = batches)]
struct NewBatch<'a> {
    id: &'a str,
    webhook_id: &'a str,
    status: &'a str,
    test: bool,
    event_count: i32,
    attempt_count: i32,
    created_at: Millis,
    first_event_id: Option<i64>,
    last_event_id: Option<i64>,
}

/// One delivery attempt as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = attempts)]
pub struct AttemptRecord {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub batch_id: String,
    pub retry_count: i32,
    pub attempted_at: Millis,
    pub duration_ms: i64,
    pub response_code: Option<i32>,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

/// A webhook's next batch: its events are every delivery of the webhook with an event id
/// in `first_event..=last_event`.
#[derive(Debug, Clone)]
pub struct NewRange<'a> {
    pub id: &'a BatchId,
    pub webhook: &'a WebhookId,
    pub first_event: i64,
    pub last_event: i64,
    pub event_count: usize,
    pub created_at: Millis,
}

/// Records a new batch and moves its webhook's watermark to its last event. Returns
/// false, and records nothing, unless the batch takes exactly the webhook's next
/// `event_count` events: all of them past the watermark (no other actor of the webhook
/// batched them meanwhile) and none skipped (the actor saw every event in the range).
pub fn create(conn: &mut Conn, batch: &NewRange<'_>) -> QueryResult<bool> {
    // One row and one short range of an index, whatever the batch size.
    let Some(batched_upto) =
        webhooks::table.find(batch.webhook.as_str()).select(webhooks::batched_upto).first::<i64>(conn).optional()?
    else {
        return Ok(false);
    };
    if batched_upto >= batch.first_event {
        return Ok(false);
    }
    let in_range: i64 = deliveries::table
        .filter(deliveries::webhook_id.eq(batch.webhook.as_str()))
        .filter(deliveries::event_id.gt(batched_upto))
        .filter(deliveries::event_id.le(batch.last_event))
        .count()
        .get_result(conn)?;
    if in_range != batch.event_count as i64 {
        return Ok(false);
    }
    diesel::update(webhooks::table.find(batch.webhook.as_str()))
        .set(webhooks::batched_upto.eq(batch.last_event))
        .execute(conn)?;
    diesel::insert_into(batches::table)
        .values(NewBatch {
            id: batch.id.as_str(),
            webhook_id: batch.webhook.as_str(),
            status: BatchStatus::Pending.as_str(),
            test: false,
            event_count: batch.event_count as i32,
            attempt_count: 0,
            created_at: batch.created_at,
            first_event_id: Some(batch.first_event),
            last_event_id: Some(batch.last_event),
        })
        .execute(conn)?;
    Ok(true)
}

/// Records a test batch (its events are the built-in sample, not stored rows).
pub fn create_test(
    conn: &mut Conn,
    id: &BatchId,
    webhook: &WebhookId,
    event_count: usize,
    created_at: Millis,
) -> QueryResult<()> {
    diesel::insert_into(batches::table)
        .values(NewBatch {
            id: id.as_str(),
            webhook_id: webhook.as_str(),
            status: BatchStatus::Pending.as_str(),
            test: true,
            event_count: event_count as i32,
            attempt_count: 0,
            created_at,
            first_event_id: None,
            last_event_id: None,
        })
        .execute(conn)
        .map(drop)
}

/// Records an attempt and the batch's state after it.
pub fn record_attempt(
    conn: &mut Conn,
    attempt: &AttemptRecord,
    status: BatchStatus,
    next_attempt_at: Option<Millis>,
) -> QueryResult<()> {
    diesel::insert_into(attempts::table).values(attempt).execute(conn)?;
    diesel::update(batches::table.filter(batches::id.eq(&attempt.batch_id)))
        .set((
            batches::status.eq(status.as_str()),
            batches::attempt_count.eq(batches::attempt_count + 1),
            batches::last_attempt_at.eq(attempt.attempted_at),
            batches::next_attempt_at.eq(next_attempt_at),
            batches::response_code.eq(attempt.response_code),
            batches::response_body.eq(&attempt.response_body),
            batches::error.eq(&attempt.error),
        ))
        .execute(conn)
        .map(drop)
}

/// A webhook's batches, newest first, strictly older than `before_seq` when given.
pub fn list(
    conn: &mut Conn,
    webhook: &WebhookId,
    status: Option<BatchStatus>,
    before_seq: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<BatchRecord>> {
    let mut query = batches::table
        .filter(batches::webhook_id.eq(webhook.as_str()))
        .select(BatchRecord::as_select())
        .order(batches::seq.desc())
        .limit(limit)
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(batches::status.eq(status.as_str()));
    }
    if let Some(seq) = before_seq {
        query = query.filter(batches::seq.lt(seq));
    }
    query.load(conn)
}

/// One of a webhook's batches.
pub fn get(conn: &mut Conn, webhook: &WebhookId, id: &BatchId) -> QueryResult<BatchRecord> {
    batches::table
        .filter(batches::webhook_id.eq(webhook.as_str()))
        .filter(batches::id.eq(id.as_str()))
        .select(BatchRecord::as_select())
        .first(conn)
}

/// A batch's attempts, oldest first.
pub fn attempts_of(conn: &mut Conn, id: &BatchId) -> QueryResult<Vec<AttemptRecord>> {
    attempts::table
        .filter(attempts::batch_id.eq(id.as_str()))
        .order(attempts::id.asc())
        .select(AttemptRecord::as_select())
        .load(conn)
}

/// The webhooks that have something stored to deliver: events past their watermark, or
/// unfinished batches.
pub fn webhooks_with_backlog(conn: &mut Conn) -> QueryResult<Vec<String>> {
    let pending = deliveries::table
        .filter(deliveries::webhook_id.eq(webhooks::id))
        .filter(deliveries::event_id.gt(webhooks::batched_upto));
    let mut ids: Vec<String> = webhooks::table.filter(diesel::dsl::exists(pending)).select(webhooks::id).load(conn)?;
    ids.extend(
        batches::table
            .filter(batches::status.eq_any([BatchStatus::Pending.as_str(), BatchStatus::Retrying.as_str()]))
            .filter(batches::test.eq(false))
            .select(batches::webhook_id)
            .distinct()
            .load::<String>(conn)?,
    );
    Ok(ids)
}

/// What a webhook actor must pick up when it starts.
#[derive(Debug, Default)]
pub struct Backlog {
    /// The highest event id that existed when this was read: events routed to the actor
    /// with an id at or below it are already in `unbatched` or a batch.
    pub loaded_upto: i64,
    /// Events not yet in a batch: (event id, payload), in ingest order.
    pub unbatched: Vec<(i64, String)>,
    /// When the oldest of `unbatched` was received: its linger counts from then.
    pub oldest_unbatched_at: Option<Millis>,
    /// Unfinished batches, oldest first, each with its payloads in order.
    pub batches: Vec<(BatchRecord, Vec<String>)>,
}

/// Reads a webhook's backlog in one consistent snapshot.
pub fn load_backlog(conn: &mut Conn, webhook: &WebhookId) -> QueryResult<Backlog> {
    conn.transaction(|conn| {
        let loaded_upto = newest_event_id(conn)?;
        backlog_in_snapshot(conn, webhook, loaded_upto)
    })
}

/// Reads the backlogs of many webhooks, all from one snapshot, handing each to `each`
/// (with its index in `webhooks`) as soon as it is read. One read transaction for all of
/// them matters: SQLite drops a connection's page cache at the start of every read
/// transaction that follows another connection's commit, so a thousand small reads during
/// a busy start would each read the database from the file again.
pub fn load_backlogs(conn: &mut Conn, webhooks: &[WebhookId], mut each: impl FnMut(usize, Backlog)) -> QueryResult<()> {
    conn.transaction(|conn| {
        let loaded_upto = newest_event_id(conn)?;
        for (i, webhook) in webhooks.iter().enumerate() {
            each(i, backlog_in_snapshot(conn, webhook, loaded_upto)?);
        }
        Ok(())
    })
}

fn newest_event_id(conn: &mut Conn) -> QueryResult<i64> {
    Ok(events::table.select(diesel::dsl::max(events::id)).first::<Option<i64>>(conn)?.unwrap_or(0))
}

/// A webhook's backlog as of the current transaction's snapshot, whose newest event is
/// `loaded_upto`.
fn backlog_in_snapshot(conn: &mut Conn, webhook: &WebhookId, loaded_upto: i64) -> QueryResult<Backlog> {
    // A webhook deleted meanwhile has nothing left to deliver.
    let batched_upto = webhooks::table
        .find(webhook.as_str())
        .select(webhooks::batched_upto)
        .first::<i64>(conn)
        .optional()?
        .unwrap_or(loaded_upto);
    let unbatched = payloads_in(conn, webhook, batched_upto + 1, loaded_upto)?;
    let oldest_unbatched_at = match unbatched.first() {
        Some((first, _)) => events::table.find(first).select(events::received_at).first::<Millis>(conn).optional()?,
        None => None,
    };
    let unfinished = batches::table
        .filter(batches::webhook_id.eq(webhook.as_str()))
        .filter(batches::status.eq_any([BatchStatus::Pending.as_str(), BatchStatus::Retrying.as_str()]))
        .filter(batches::test.eq(false))
        .order(batches::seq.asc())
        .select(BatchRecord::as_select())
        .load(conn)?;
    let mut batches = Vec::with_capacity(unfinished.len());
    for batch in unfinished {
        let (first, last) = (batch.first_event_id.unwrap_or(0), batch.last_event_id.unwrap_or(-1));
        let payloads = payloads_in(conn, webhook, first, last)?.into_iter().map(|(_, payload)| payload).collect();
        batches.push((batch, payloads));
    }
    Ok(Backlog { loaded_upto, unbatched, oldest_unbatched_at, batches })
}

/// A webhook's events with ids in `first..=last`, in order: (event id, payload).
fn payloads_in(conn: &mut Conn, webhook: &WebhookId, first: i64, last: i64) -> QueryResult<Vec<(i64, String)>> {
    deliveries::table
        .inner_join(events::table.on(events::id.eq(deliveries::event_id)))
        .filter(deliveries::webhook_id.eq(webhook.as_str()))
        .filter(deliveries::event_id.between(first, last))
        .order(deliveries::event_id.asc())
        .select((events::id, events::payload))
        .load(conn)
}
