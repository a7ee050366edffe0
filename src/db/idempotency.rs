//! Remembered ingest requests, by `Idempotency-Key`. Looked up and written inside the same
//! transaction as the ingest itself; the single writer serializes them, so two concurrent
//! repeats cannot both store their events.

use diesel::prelude::*;
use diesel::upsert::excluded;

use super::schema::idempotency_keys;
use super::Conn;
use crate::model::{AccountId, Millis};

/// How long a key is remembered.
pub const KEY_LIFETIME_MILLIS: Millis = 24 * 3600 * 1000;

/// A remembered request: its body's fingerprint and the answer it got.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Remembered {
    pub fingerprint: String,
    pub accepted: i64,
}

/// The request made with this key in the last 24 hours, if any.
pub fn lookup(conn: &mut Conn, account: &AccountId, key: &str, now: Millis) -> QueryResult<Option<Remembered>> {
    idempotency_keys::table
        .filter(idempotency_keys::account_id.eq(account.as_str()))
        .filter(idempotency_keys::key.eq(key))
        .filter(idempotency_keys::created_at.gt(now - KEY_LIFETIME_MILLIS))
        .select((idempotency_keys::fingerprint, idempotency_keys::accepted))
        .first(conn)
        .optional()
}

/// Remembers a request's answer (replacing an expired one under the same key), and
/// forgets keys past their lifetime.
pub fn remember(
    conn: &mut Conn,
    account: &AccountId,
    key: &str,
    fingerprint: &str,
    accepted: i64,
    now: Millis,
) -> QueryResult<()> {
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.le(now - KEY_LIFETIME_MILLIS)))
        .execute(conn)?;
    diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::account_id.eq(account.as_str()),
            idempotency_keys::key.eq(key),
            idempotency_keys::fingerprint.eq(fingerprint),
            idempotency_keys::accepted.eq(accepted),
            idempotency_keys::created_at.eq(now),
        ))
        .on_conflict((idempotency_keys::account_id, idempotency_keys::key))
        .do_update()
        .set((
            idempotency_keys::fingerprint.eq(excluded(idempotency_keys::fingerprint)),
            idempotency_keys::accepted.eq(excluded(idempotency_keys::accepted)),
            idempotency_keys::created_at.eq(excluded(idempotency_keys::created_at)),
        ))
        .execute(conn)
        .map(drop)
}
