//! The outbox of customer emails. A notification row is written in the same transaction
//! as the state change it reports (a failing spell beginning, a webhook being disabled), so
//! it is neither lost nor queued twice; the notifier sends due rows and marks them sent,
//! or schedules another try while the mail server is down.

use diesel::prelude::*;

use super::schema::{accounts, notifications, webhooks};
use super::Conn;
use crate::model::{Millis, Webhook, WebhookId};

/// What an email is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The webhook's deliveries keep failing: please fix it before it is disabled.
    Failing,
    /// The webhook was disabled because it was not fixed in time.
    Disabled,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Failing => "failing",
            Kind::Disabled => "disabled",
        }
    }
}

/// Queues an email about a webhook.
pub fn queue(
    conn: &mut Conn,
    webhook: &WebhookId,
    kind: Kind,
    spell_started_at: Millis,
    now: Millis,
) -> QueryResult<()> {
    diesel::insert_into(notifications::table)
        .values((
            notifications::webhook_id.eq(webhook.as_str()),
            notifications::kind.eq(kind.as_str()),
            notifications::spell_started_at.eq(spell_started_at),
            notifications::created_at.eq(now),
            notifications::next_attempt_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// Drops unsent emails of this kind about a webhook (the problem they report is gone).
/// One being sent right now counts as unsent: if its sending fails, it is not tried again.
pub fn cancel_unsent(conn: &mut Conn, webhook: &WebhookId, kind: Kind) -> QueryResult<()> {
    diesel::update(
        notifications::table
            .filter(notifications::webhook_id.eq(webhook.as_str()))
            .filter(notifications::kind.eq(kind.as_str()))
            .filter(notifications::cancelled.eq(false)),
    )
    .set(notifications::cancelled.eq(true))
    .execute(conn)
    .map(drop)
}

/// Removes a deleted webhook's emails.
pub fn delete_for(conn: &mut Conn, webhook: &WebhookId) -> QueryResult<()> {
    diesel::delete(notifications::table.filter(notifications::webhook_id.eq(webhook.as_str()))).execute(conn).map(drop)
}

/// An email that is due, with what is needed to write it.
#[derive(Debug, Clone)]
pub struct DueNotification {
    pub id: i64,
    pub kind: Kind,
    pub spell_started_at: Millis,
    pub attempts: i32,
    pub webhook: Webhook,
    pub account_email: String,
}

/// Emails due at `now`, oldest first.
pub fn due(conn: &mut Conn, now: Millis, limit: i64) -> QueryResult<Vec<DueNotification>> {
    let rows: Vec<(i64, String, String, i64, i32, String)> = notifications::table
        .inner_join(webhooks::table.on(webhooks::id.eq(notifications::webhook_id)))
        .inner_join(accounts::table.on(accounts::id.eq(webhooks::account_id)))
        .filter(notifications::sent_at.is_null())
        .filter(notifications::cancelled.eq(false))
        .filter(notifications::next_attempt_at.le(now))
        .order(notifications::id.asc())
        .limit(limit)
        .select((
            notifications::id,
            notifications::webhook_id,
            notifications::kind,
            notifications::spell_started_at,
            notifications::attempts,
            accounts::email,
        ))
        .load(conn)?;
    let mut due = Vec::with_capacity(rows.len());
    for (id, webhook_id, kind, spell_started_at, attempts, account_email) in rows {
        let Some(webhook) = super::webhooks::find(conn, &WebhookId::from_string(webhook_id))? else { continue };
        let kind = if kind == "disabled" { Kind::Disabled } else { Kind::Failing };
        due.push(DueNotification { id, kind, spell_started_at, attempts, webhook, account_email });
    }
    Ok(due)
}

/// The earliest moment an unsent email is due, if any.
pub fn next_due(conn: &mut Conn) -> QueryResult<Option<Millis>> {
    notifications::table
        .filter(notifications::sent_at.is_null())
        .filter(notifications::cancelled.eq(false))
        .select(diesel::dsl::min(notifications::next_attempt_at))
        .first(conn)
}

/// Notes that an email is going out (recorded first, so a crash cannot send it twice).
pub fn mark_sent(conn: &mut Conn, id: i64, at: Millis) -> QueryResult<()> {
    diesel::update(notifications::table.find(id))
        .set((notifications::sent_at.eq(at), notifications::attempts.eq(notifications::attempts + 1)))
        .execute(conn)
        .map(drop)
}

/// Notes a failed try (undoing [`mark_sent`]) and when to try again.
pub fn mark_failed(conn: &mut Conn, id: i64, error: &str, next_attempt_at: Millis) -> QueryResult<()> {
    diesel::update(notifications::table.find(id))
        .set((
            notifications::sent_at.eq(None::<Millis>),
            notifications::last_error.eq(error),
            notifications::next_attempt_at.eq(next_attempt_at),
        ))
        .execute(conn)
        .map(drop)
}

/// A sent email as recorded, for tests and diagnostics: (kind, sent_at).
pub fn sent_for(conn: &mut Conn, webhook: &WebhookId) -> QueryResult<Vec<(String, Millis)>> {
    notifications::table
        .filter(notifications::webhook_id.eq(webhook.as_str()))
        .filter(notifications::sent_at.is_not_null())
        .order(notifications::id.asc())
        .select((notifications::kind, notifications::sent_at.assume_not_null()))
        .load(conn)
}
