//! Durable ingest: an accepted request's events and the delivery rows of every webhook
//! they go to, written together so that an acknowledged event is never without its
//! deliveries, and an event no webhook wanted is still on record.

use diesel::prelude::*;

use super::schema::{deliveries, events};
use super::Conn;
use crate::model::{AccountId, Millis, WebhookId};

/// Rows per multi-row INSERT: far below SQLite's bound-parameter limit.
const ROWS_PER_INSERT: usize = 1000;

#[derive(Insertable)]
#[diesel(table_name = events)]
struct NewEvent<'a> {
    account_id: &'a str,
    payload: &'a str,
    received_at: Millis,
}

#[derive(Insertable)]
#[diesel(table_name = deliveries)]
struct NewDelivery<'a> {
    webhook_id: &'a str,
    event_id: i64,
}

/// One event to store and the webhooks (indexes into the request's webhook list) it goes to.
pub struct EventToStore<'a> {
    pub payload: &'a str,
    pub webhooks: &'a [usize],
}

/// The multi-row inserts here say `OR IGNORE` for speed, not to skip anything: with the
/// default `ABORT`, SQLite keeps a statement journal of every page a multi-row insert
/// touches, so that a failing row can undo the rows before it; that journal costs as
/// much as the insert. Nothing here can conflict (no unique key is ever repeated, no
/// value is ever NULL), and this check turns a row that was skipped anyway into an error
/// that fails the whole write.
fn all_stored(stored: usize, sent: usize) -> QueryResult<()> {
    if stored == sent {
        Ok(())
    } else {
        Err(diesel::result::Error::QueryBuilderError(
            format!("only {stored} of {sent} rows were stored; the write is abandoned").into(),
        ))
    }
}

diesel::define_sql_function! {
    /// The id of the last row this connection inserted.
    fn last_insert_rowid() -> diesel::sql_types::BigInt;
}

/// Stores a request's events and their delivery rows. Returns the events' ids in request
/// order; they increase, so request order is ingest order for every webhook.
pub fn store(
    conn: &mut Conn,
    account: &AccountId,
    webhook_ids: &[WebhookId],
    to_store: &[EventToStore<'_>],
    received_at: Millis,
) -> QueryResult<Vec<i64>> {
    let mut event_ids = Vec::with_capacity(to_store.len());
    for chunk in to_store.chunks(ROWS_PER_INSERT) {
        let rows: Vec<NewEvent> =
            chunk.iter().map(|e| NewEvent { account_id: account.as_str(), payload: e.payload, received_at }).collect();
        let inserted = diesel::insert_or_ignore_into(events::table).values(&rows).execute(conn)?;
        all_stored(inserted, rows.len())?;
        // The rows of one insert get consecutive ids ending at the last one: the table
        // hands out max + 1 each time, and the writer is the only writer.
        let last: i64 = diesel::select(last_insert_rowid()).get_result(conn)?;
        event_ids.extend(last - rows.len() as i64 + 1..=last);
    }

    let planned: Vec<NewDelivery> = to_store
        .iter()
        .zip(&event_ids)
        .flat_map(|(e, &event_id)| {
            e.webhooks.iter().map(move |&webhook| NewDelivery { webhook_id: webhook_ids[webhook].as_str(), event_id })
        })
        .collect();
    for chunk in planned.chunks(ROWS_PER_INSERT) {
        let inserted = diesel::insert_or_ignore_into(deliveries::table).values(chunk).execute(conn)?;
        all_stored(inserted, chunk.len())?;
    }
    Ok(event_ids)
}
