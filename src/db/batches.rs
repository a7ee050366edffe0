//! Batches and their attempts: what batch status shows, and what a webhook actor reloads
//! after a restart (its unbatched events and its unfinished batches).

use diesel::prelude::*;

use super::schema::{attempts, batches, deliveries, events};
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

/// Records a new batch and marks its delivery rows as belonging to it. Returns false, and
/// records nothing, when some of the rows already belong to a batch.
pub fn create(
    conn: &mut Conn,
    id: &BatchId,
    webhook: &WebhookId,
    delivery_ids: &[i64],
    created_at: Millis,
) -> QueryResult<bool> {
    // A delivery row belongs to one batch for good. An actor that is being replaced (a
    // crash, a quick disable and enable) may still be recording a batch while its
    // successor reads the backlog; whichever batch comes second must not take the rows
    // again, or the events go out twice (and the first batch goes out empty).
    for chunk in delivery_ids.chunks(1000) {
        let taken: i64 = deliveries::table
            .filter(deliveries::id.eq_any(chunk))
            .filter(deliveries::batch_id.is_not_null())
            .count()
            .get_result(conn)?;
        if taken > 0 {
            return Ok(false);
        }
    }
    diesel::insert_into(batches::table)
        .values(NewBatch {
            id: id.as_str(),
            webhook_id: webhook.as_str(),
            status: BatchStatus::Pending.as_str(),
            test: false,
            event_count: delivery_ids.len() as i32,
            attempt_count: 0,
            created_at,
        })
        .execute(conn)?;
    for chunk in delivery_ids.chunks(1000) {
        diesel::update(deliveries::table.filter(deliveries::id.eq_any(chunk)))
            .set(deliveries::batch_id.eq(id.as_str()))
            .execute(conn)?;
    }
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

/// The webhooks that have something stored to deliver: events not yet in a batch, or
/// unfinished batches.
pub fn webhooks_with_backlog(conn: &mut Conn) -> QueryResult<Vec<String>> {
    let mut ids: Vec<String> = deliveries::table
        .filter(deliveries::batch_id.is_null())
        .select(deliveries::webhook_id)
        .distinct()
        .load(conn)?;
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
    /// The highest delivery id that existed when this was read: deliveries routed to the
    /// actor with an id at or below it are already in `unbatched` or a batch.
    pub loaded_upto: i64,
    /// Events not yet in a batch: (delivery id, payload), in ingest order.
    pub unbatched: Vec<(i64, String)>,
    /// When the oldest of `unbatched` was received: its linger counts from then.
    pub oldest_unbatched_at: Option<Millis>,
    /// Unfinished batches, oldest first, each with its payloads in order.
    pub batches: Vec<(BatchRecord, Vec<String>)>,
}

/// Reads a webhook's backlog in one consistent snapshot.
pub fn load_backlog(conn: &mut Conn, webhook: &WebhookId) -> QueryResult<Backlog> {
    conn.transaction(|conn| {
        let loaded_upto =
            deliveries::table.select(diesel::dsl::max(deliveries::id)).first::<Option<i64>>(conn)?.unwrap_or(0);
        let unbatched = deliveries::table
            .inner_join(events::table.on(events::id.eq(deliveries::event_id)))
            .filter(deliveries::webhook_id.eq(webhook.as_str()))
            .filter(deliveries::batch_id.is_null())
            .order(deliveries::id.asc())
            .select((deliveries::id, events::payload))
            .load::<(i64, String)>(conn)?;
        let oldest_unbatched_at = match unbatched.first() {
            Some((first, _)) => deliveries::table
                .inner_join(events::table.on(events::id.eq(deliveries::event_id)))
                .filter(deliveries::id.eq(first))
                .select(events::received_at)
                .first::<Millis>(conn)
                .optional()?,
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
            let payloads = payloads_of(conn, &batch.id)?;
            batches.push((batch, payloads));
        }
        Ok(Backlog { loaded_upto, unbatched, oldest_unbatched_at, batches })
    })
}

fn payloads_of(conn: &mut Conn, batch_id: &str) -> QueryResult<Vec<String>> {
    deliveries::table
        .inner_join(events::table.on(events::id.eq(deliveries::event_id)))
        .filter(deliveries::batch_id.eq(batch_id))
        .order(deliveries::id.asc())
        .select(events::payload)
        .load(conn)
}
