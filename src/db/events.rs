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

/// Inserts ids in `VALUES` order and returns them in that order. Within one statement an
/// AUTOINCREMENT table hands out increasing ids in row order, and the writer is the only
/// writer, so sorting the RETURNING ids restores the row order SQLite does not promise.
fn sorted(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort_unstable();
    ids
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
        let ids = diesel::insert_into(events::table).values(&rows).returning(events::id).get_results::<i64>(conn)?;
        event_ids.extend(sorted(ids));
    }

    let planned: Vec<NewDelivery> = to_store
        .iter()
        .zip(&event_ids)
        .flat_map(|(e, &event_id)| {
            e.webhooks.iter().map(move |&webhook| NewDelivery { webhook_id: webhook_ids[webhook].as_str(), event_id })
        })
        .collect();
    for chunk in planned.chunks(ROWS_PER_INSERT) {
        diesel::insert_into(deliveries::table).values(chunk).execute(conn)?;
    }
    Ok(event_ids)
}
