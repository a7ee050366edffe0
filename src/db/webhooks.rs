//! Webhook rows and their mapping to the domain type. The password column holds the
//! basic-auth password; it leaves this module only inside `model::Auth`.

use diesel::prelude::*;

use super::schema::{batches, deliveries, webhooks};
use super::Conn;
use crate::model::{
    AccountId, Auth, DeliveryTarget, DisabledReason, EventSet, Health, Source, TargetUrl, Webhook, WebhookId,
    WebhookStatus,
};
use crate::secrets::{Sealed, SecretBox};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhooks)]
struct WebhookRow {
    id: String,
    account_id: String,
    name: String,
    target_url: String,
    source: String,
    events: String,
    auth_type: String,
    auth_username: Option<String>,
    auth_password: Option<String>,
    status: String,
    disabled_reason: Option<String>,
    health: String,
    failing_since: Option<i64>,
    last_success_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    failed_batches: i32,
    last_error: Option<String>,
    disable_at: Option<i64>,
}

/// The columns a customer's change may touch; the failure state is the engine's alone.
#[derive(AsChangeset)]
#[diesel(table_name = webhooks, treat_none_as_null = true)]
struct SettingsChange {
    name: String,
    target_url: String,
    source: String,
    events: String,
    auth_type: String,
    auth_username: Option<String>,
    auth_password: Option<String>,
    status: String,
    disabled_reason: Option<String>,
    updated_at: i64,
}

impl From<WebhookRow> for SettingsChange {
    fn from(row: WebhookRow) -> Self {
        SettingsChange {
            name: row.name,
            target_url: row.target_url,
            source: row.source,
            events: row.events,
            auth_type: row.auth_type,
            auth_username: row.auth_username,
            auth_password: row.auth_password,
            status: row.status,
            disabled_reason: row.disabled_reason,
            updated_at: row.updated_at,
        }
    }
}

impl From<&Webhook> for WebhookRow {
    fn from(w: &Webhook) -> Self {
        let (auth_type, auth_username, auth_password) = match &w.auth {
            Auth::None => ("none", None, None),
            Auth::Basic { username, password } => {
                ("basic", Some(username.clone()), Some(password.as_stored().to_owned()))
            }
        };
        WebhookRow {
            id: w.id.to_string(),
            account_id: w.account_id.to_string(),
            name: w.name.clone(),
            target_url: w.target_url.as_str().to_owned(),
            source: w.source.as_str().to_owned(),
            events: w.events.to_db(),
            auth_type: auth_type.into(),
            auth_username,
            auth_password,
            status: match w.status {
                WebhookStatus::Enabled => "enabled",
                WebhookStatus::Disabled => "disabled",
            }
            .into(),
            disabled_reason: w.disabled_reason.map(|r| {
                match r {
                    DisabledReason::Manual => "manual",
                    DisabledReason::Failing => "failing",
                }
                .to_owned()
            }),
            health: match w.health {
                Health::Healthy => "healthy",
                Health::Failing => "failing",
            }
            .into(),
            failing_since: w.failing_since,
            last_success_at: w.last_success_at,
            created_at: w.created_at,
            updated_at: w.updated_at,
            failed_batches: w.failed_batches,
            last_error: w.last_error.clone(),
            disable_at: w.disable_at,
        }
    }
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = diesel::result::Error;

    fn try_from(row: WebhookRow) -> Result<Self, Self::Error> {
        // Validated when it was saved; not parsed again for every load.
        let target_url = TargetUrl::from_stored(row.target_url);
        let auth = auth_from_columns(&row.id, &row.auth_type, row.auth_username, row.auth_password)?;
        Ok(Webhook {
            id: WebhookId::from_string(row.id),
            account_id: AccountId::from_string(row.account_id),
            name: row.name,
            target_url,
            source: Source::parse(&row.source),
            events: EventSet::from_db(&row.events),
            auth,
            status: if row.status == "disabled" { WebhookStatus::Disabled } else { WebhookStatus::Enabled },
            disabled_reason: match row.disabled_reason.as_deref() {
                Some("manual") => Some(DisabledReason::Manual),
                Some("failing") => Some(DisabledReason::Failing),
                _ => None,
            },
            health: if row.health == "failing" { Health::Failing } else { Health::Healthy },
            failing_since: row.failing_since,
            last_success_at: row.last_success_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
            failed_batches: row.failed_batches,
            last_error: row.last_error,
            disable_at: row.disable_at,
        })
    }
}

fn to_webhooks(rows: Vec<WebhookRow>) -> QueryResult<Vec<Webhook>> {
    rows.into_iter().map(Webhook::try_from).collect()
}

/// Stores a new webhook.
pub fn insert(conn: &mut Conn, webhook: &Webhook) -> QueryResult<()> {
    diesel::insert_into(webhooks::table).values(WebhookRow::from(webhook)).execute(conn).map(drop)
}

/// Stores a customer's change of `webhook`'s settings (name, target, filters, auth,
/// status); the engine-owned failure state is left as it is.
pub fn update_settings(conn: &mut Conn, webhook: &Webhook) -> QueryResult<()> {
    let changed = diesel::update(webhooks::table.find(webhook.id.as_str()))
        .set(SettingsChange::from(WebhookRow::from(webhook)))
        .execute(conn)?;
    if changed == 0 {
        return Err(diesel::result::Error::NotFound);
    }
    Ok(())
}

/// One of an account's webhooks; `NotFound` for another account's.
pub fn get(conn: &mut Conn, account: &AccountId, id: &WebhookId) -> QueryResult<Webhook> {
    let row = webhooks::table
        .filter(webhooks::id.eq(id.as_str()))
        .filter(webhooks::account_id.eq(account.as_str()))
        .select(WebhookRow::as_select())
        .first(conn)?;
    Webhook::try_from(row)
}

/// A webhook by id alone, for the engine's own use.
pub fn find(conn: &mut Conn, id: &WebhookId) -> QueryResult<Option<Webhook>> {
    webhooks::table
        .find(id.as_str())
        .select(WebhookRow::as_select())
        .first(conn)
        .optional()?
        .map(Webhook::try_from)
        .transpose()
}

/// An account's webhooks, oldest first.
pub fn list(conn: &mut Conn, account: &AccountId) -> QueryResult<Vec<Webhook>> {
    let rows = webhooks::table
        .filter(webhooks::account_id.eq(account.as_str()))
        .order((webhooks::created_at.asc(), webhooks::id.asc()))
        .select(WebhookRow::as_select())
        .load(conn)?;
    to_webhooks(rows)
}

/// What start-up needs of an enabled webhook: where to deliver, and how to route to it.
#[derive(Debug, Clone)]
pub struct EnabledWebhook {
    pub target: DeliveryTarget,
    pub account: AccountId,
    pub source: Source,
    pub events: EventSet,
}

type EnabledColumns = (String, String, String, String, String, String, Option<String>, Option<String>);

/// Every enabled webhook, reading only what delivery and routing need: with 100,000
/// webhooks this is most of the time a start takes.
pub fn list_enabled_for_start(conn: &mut Conn) -> QueryResult<Vec<EnabledWebhook>> {
    let rows: Vec<EnabledColumns> = webhooks::table
        .filter(webhooks::status.eq("enabled"))
        .select((
            webhooks::id,
            webhooks::account_id,
            webhooks::target_url,
            webhooks::source,
            webhooks::events,
            webhooks::auth_type,
            webhooks::auth_username,
            webhooks::auth_password,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, account, url, source, events, auth_type, username, password)| {
            let auth = auth_from_columns(&id, &auth_type, username, password)?;
            Ok(EnabledWebhook {
                target: DeliveryTarget { id: WebhookId::from_string(id), url: TargetUrl::from_stored(url), auth },
                account: AccountId::from_string(account),
                source: Source::parse(&source),
                events: EventSet::from_db(&events),
            })
        })
        .collect()
}

fn auth_from_columns(
    id: &str,
    auth_type: &str,
    username: Option<String>,
    password: Option<String>,
) -> QueryResult<Auth> {
    match (auth_type, username, password) {
        ("basic", Some(username), Some(password)) => {
            Ok(Auth::Basic { username, password: Sealed::from_stored(password) })
        }
        ("none", _, _) => Ok(Auth::None),
        (other, _, _) => {
            Err(diesel::result::Error::DeserializationError(format!("webhook {id} has bad auth {other:?}").into()))
        }
    }
}

/// Deletes one of an account's webhooks with its batches and undelivered events.
pub fn delete(conn: &mut Conn, account: &AccountId, id: &WebhookId) -> QueryResult<()> {
    let removed = diesel::delete(
        webhooks::table.filter(webhooks::id.eq(id.as_str())).filter(webhooks::account_id.eq(account.as_str())),
    )
    .execute(conn)?;
    if removed == 0 {
        return Err(diesel::result::Error::NotFound);
    }
    purge_deliveries(conn, id)
}

fn purge_deliveries(conn: &mut Conn, id: &WebhookId) -> QueryResult<()> {
    use super::schema::attempts;
    let batch_ids = batches::table.filter(batches::webhook_id.eq(id.as_str())).select(batches::id);
    diesel::delete(attempts::table.filter(attempts::batch_id.eq_any(batch_ids))).execute(conn)?;
    diesel::delete(batches::table.filter(batches::webhook_id.eq(id.as_str()))).execute(conn)?;
    diesel::delete(deliveries::table.filter(deliveries::webhook_id.eq(id.as_str()))).execute(conn)?;
    Ok(())
}

/// The ids that own delivery rows but name no webhook: what an ingest racing a delete
/// leaves behind. Walks the distinct owners of the deliveries index one seek each, so
/// the cost follows the number of webhooks, not of rows.
pub fn orphaned_delivery_owners(conn: &mut Conn) -> QueryResult<Vec<WebhookId>> {
    conn.transaction(|conn| {
        let mut orphans = Vec::new();
        let mut after = String::new();
        loop {
            let next: Option<String> = deliveries::table
                .filter(deliveries::webhook_id.gt(&after))
                .select(deliveries::webhook_id)
                .order(deliveries::webhook_id.asc())
                .first(conn)
                .optional()?;
            let Some(owner) = next else {
                return Ok(orphans);
            };
            let known: i64 = webhooks::table.filter(webhooks::id.eq(&owner)).count().get_result(conn)?;
            if known == 0 {
                orphans.push(WebhookId::from_string(owner.clone()));
            }
            after = owner;
        }
    })
}

/// Removes the delivery rows of `orphans` (found by [`orphaned_delivery_owners`]), checking
/// again that each names no webhook.
pub fn sweep_orphans(conn: &mut Conn, orphans: &[WebhookId]) -> QueryResult<usize> {
    let mut removed = 0;
    for id in orphans {
        let known: i64 = webhooks::table.filter(webhooks::id.eq(id.as_str())).count().get_result(conn)?;
        if known == 0 {
            removed +=
                diesel::delete(deliveries::table.filter(deliveries::webhook_id.eq(id.as_str()))).execute(conn)?;
        }
    }
    Ok(removed)
}

/// Notes a successful delivery: the webhook's last success, and the end of any failing
/// spell (a success is a fix).
pub fn record_success(conn: &mut Conn, id: &WebhookId, at: i64) -> QueryResult<()> {
    diesel::update(webhooks::table.find(id.as_str())).set(webhooks::last_success_at.eq(at)).execute(conn)?;
    mark_fixed(conn, id)
}

/// Ends a failing spell: the webhook is healthy again, its deadline is gone, and a failure
/// email not yet sent is not sent.
pub fn mark_fixed(conn: &mut Conn, id: &WebhookId) -> QueryResult<()> {
    // Almost always healthy already (every success comes here): a cached SELECT is much
    // cheaper than the UPDATE below, which diesel prepares anew each time.
    let health: Option<String> = webhooks::table.find(id.as_str()).select(webhooks::health).first(conn).optional()?;
    if health.as_deref() != Some("failing") {
        return Ok(());
    }
    let was_failing = diesel::update(webhooks::table.find(id.as_str()).filter(webhooks::health.eq("failing")))
        .set((
            webhooks::health.eq("healthy"),
            webhooks::failing_since.eq(None::<i64>),
            webhooks::failed_batches.eq(0),
            webhooks::last_error.eq(None::<String>),
            webhooks::disable_at.eq(None::<i64>),
        ))
        .execute(conn)?;
    if was_failing > 0 {
        super::notifications::cancel_unsent(conn, id, super::notifications::Kind::Failing)?;
    }
    Ok(())
}

/// Notes a batch that used every retry. The first one of a spell turns the webhook
/// `failing` and queues the failure email; later ones only count. Returns true when a
/// spell began.
pub fn record_batch_failure(conn: &mut Conn, id: &WebhookId, at: i64, error: Option<&str>) -> QueryResult<bool> {
    let began = diesel::update(webhooks::table.find(id.as_str()).filter(webhooks::health.eq("healthy")))
        .set((
            webhooks::health.eq("failing"),
            webhooks::failing_since.eq(at),
            webhooks::failed_batches.eq(1),
            webhooks::last_error.eq(error),
            webhooks::disable_at.eq(None::<i64>),
        ))
        .execute(conn)?
        > 0;
    if began {
        super::notifications::queue(conn, id, super::notifications::Kind::Failing, at, at)?;
    } else {
        diesel::update(webhooks::table.find(id.as_str()))
            .set((webhooks::failed_batches.eq(webhooks::failed_batches + 1), webhooks::last_error.eq(error)))
            .execute(conn)?;
    }
    Ok(began)
}

/// Starts the disable countdown of the spell that began at `spell_started_at`, if that
/// spell is still going on.
pub fn set_disable_deadline(conn: &mut Conn, id: &WebhookId, spell_started_at: i64, at: i64) -> QueryResult<()> {
    diesel::update(
        webhooks::table
            .find(id.as_str())
            .filter(webhooks::health.eq("failing"))
            .filter(webhooks::failing_since.eq(spell_started_at))
            .filter(webhooks::disable_at.is_null()),
    )
    .set(webhooks::disable_at.eq(at))
    .execute(conn)
    .map(drop)
}

/// Undoes [`set_disable_deadline`] when the failure email could not be sent after all.
pub fn clear_disable_deadline(conn: &mut Conn, id: &WebhookId, spell_started_at: i64) -> QueryResult<()> {
    diesel::update(webhooks::table.find(id.as_str()).filter(webhooks::failing_since.eq(spell_started_at)))
        .set(webhooks::disable_at.eq(None::<i64>))
        .execute(conn)
        .map(drop)
}

/// True when some enabled webhook's disable deadline has passed: a cheap read that
/// spares the writer a transaction on every notifier tick.
pub fn any_overdue(conn: &mut Conn, now: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        webhooks::table
            .filter(webhooks::status.eq("enabled"))
            .filter(webhooks::health.eq("failing"))
            .filter(webhooks::disable_at.le(now)),
    ))
    .get_result(conn)
}

/// Disables every enabled webhook whose deadline has passed, queues the email saying so,
/// and returns them as they are now.
pub fn disable_overdue(conn: &mut Conn, now: i64) -> QueryResult<Vec<Webhook>> {
    let due: Vec<String> = webhooks::table
        .filter(webhooks::status.eq("enabled"))
        .filter(webhooks::health.eq("failing"))
        .filter(webhooks::disable_at.le(now))
        .select(webhooks::id)
        .load(conn)?;
    let mut disabled = Vec::with_capacity(due.len());
    for id in due {
        diesel::update(webhooks::table.find(&id))
            .set((
                webhooks::status.eq("disabled"),
                webhooks::disabled_reason.eq("failing"),
                webhooks::disable_at.eq(None::<i64>),
                webhooks::updated_at.eq(now),
            ))
            .execute(conn)?;
        let id = WebhookId::from_string(id);
        let webhook = find(conn, &id)?.ok_or(diesel::result::Error::NotFound)?;
        super::notifications::queue(
            conn,
            &id,
            super::notifications::Kind::Disabled,
            webhook.failing_since.unwrap_or(now),
            now,
        )?;
        disabled.push(webhook);
    }
    Ok(disabled)
}

/// Stored basic-auth passwords still in plain text (written before passwords were
/// sealed): (webhook id, stored value). A read, so that scanning every webhook does not
/// fill the writer's page cache.
pub fn plain_passwords(conn: &mut Conn) -> QueryResult<Vec<(String, String)>> {
    let rows: Vec<(String, String)> = webhooks::table
        .filter(webhooks::auth_password.is_not_null())
        .select((webhooks::id, webhooks::auth_password.assume_not_null()))
        .load(conn)?;
    Ok(rows.into_iter().filter(|(_, stored)| Sealed::from_stored(stored.clone()).is_plain()).collect())
}

/// Seals the plain passwords [`plain_passwords`] found, each only if it is still the
/// stored value. Returns how many were sealed.
pub fn seal_passwords(conn: &mut Conn, secrets: &SecretBox, plain: &[(String, String)]) -> QueryResult<usize> {
    let mut sealed = 0;
    for (id, stored) in plain {
        let value = Sealed::from_stored(stored.clone());
        sealed += diesel::update(webhooks::table.find(id).filter(webhooks::auth_password.eq(stored)))
            .set(webhooks::auth_password.eq(secrets.seal(value.as_stored()).as_stored()))
            .execute(conn)?;
    }
    Ok(sealed)
}
