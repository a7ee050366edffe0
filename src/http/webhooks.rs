//! `/v1/webhooks`: create, list, read, change and delete an account's webhooks, and send
//! a test batch. Input is validated into domain types here, once; a change is stored,
//! then applied to the actors, then answered.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::json::parse_body;
use super::views::WebhookView;
use super::Caller;
use crate::db;
use crate::delivery::guard;
use crate::engine::Engine;
use crate::error::Error;
use crate::model::{now_millis, Auth, DisabledReason, EventSet, Source, TargetUrl, Webhook, WebhookId, WebhookStatus};
use crate::secrets::SecretBox;
use crate::testbatch;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/webhooks")
            .route(web::post().to(create))
            .route(web::get().to(list))
            .default_service(web::to(super::wrong_method)),
    )
    .service(
        web::resource("/webhooks/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete))
            .default_service(web::to(super::wrong_method)),
    )
    .service(
        web::resource("/webhooks/{id}/test").route(web::post().to(test)).default_service(web::to(super::wrong_method)),
    );
}

/// The body of a create or a change; every field is optional on a change.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WebhookInput {
    name: Option<String>,
    target_url: Option<String>,
    source: Option<String>,
    events: Option<Vec<String>>,
    auth: Option<AuthInput>,
    status: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum AuthInput {
    // A struct variant, not a unit one: serde ignores `deny_unknown_fields` for unit
    // variants of an internally tagged enum, so `{"type": "none", "pasword": …}` would pass.
    None {},
    Basic { username: String, password: Option<String> },
}

const MAX_NAME_CHARS: usize = 100;
const MAX_SOURCE_CHARS: usize = 100;
const MAX_CREDENTIAL_CHARS: usize = 256;

fn validate_name(name: String) -> Result<String, Error> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.trim().is_empty() {
        return Err(Error::field("name", format!("name must be 1 to {MAX_NAME_CHARS} characters")));
    }
    Ok(name)
}

fn validate_source(source: String) -> Result<Source, Error> {
    let chars = source.chars().count();
    if chars == 0 || chars > MAX_SOURCE_CHARS {
        return Err(Error::field(
            "source",
            format!("source must be \"all\" or a source name of 1 to {MAX_SOURCE_CHARS} characters"),
        ));
    }
    Ok(Source::parse(&source))
}

fn validate_events(names: Vec<String>) -> Result<EventSet, Error> {
    let set =
        EventSet::from_names(names.iter().map(String::as_str)).map_err(|e| Error::field("events", e.to_string()))?;
    if set.is_empty() {
        return Err(Error::field("events", "events must name at least one event type"));
    }
    Ok(set)
}

fn validate_status(status: &str) -> Result<WebhookStatus, Error> {
    match status {
        "enabled" => Ok(WebhookStatus::Enabled),
        "disabled" => Ok(WebhookStatus::Disabled),
        other => Err(Error::field("status", format!("status must be \"enabled\" or \"disabled\", not {other:?}"))),
    }
}

/// Turns auth input into `Auth` (the password sealed); a basic auth without a password
/// keeps `current`'s. Also tells whether it differs from `current`.
fn validate_auth(input: AuthInput, current: Option<&Auth>, secrets: &SecretBox) -> Result<(Auth, bool), Error> {
    match input {
        AuthInput::None {} => Ok((Auth::None, !matches!(current, Some(Auth::None)))),
        AuthInput::Basic { username, password } => {
            if username.is_empty() || username.contains(':') || username.chars().count() > MAX_CREDENTIAL_CHARS {
                return Err(Error::field(
                    "auth.username",
                    format!("username must be 1 to {MAX_CREDENTIAL_CHARS} characters without ':'"),
                ));
            }
            let (old_username, old_password) = match current {
                Some(Auth::Basic { username, password }) => (Some(username), Some(password)),
                _ => (None, None),
            };
            let username_changed = old_username != Some(&username);
            let (password, password_changed) = match (password, old_password) {
                (Some(p), old) if !p.is_empty() && p.chars().count() <= MAX_CREDENTIAL_CHARS => {
                    let changed = old.is_none_or(|old| secrets.open(old).map_or(true, |old| old != p));
                    (secrets.seal(&p), changed)
                }
                (Some(_), _) => {
                    return Err(Error::field(
                        "auth.password",
                        format!("password must be 1 to {MAX_CREDENTIAL_CHARS} characters"),
                    ))
                }
                (None, Some(old)) => (old.clone(), false),
                (None, None) => return Err(Error::field("auth.password", "basic auth needs a password")),
            };
            Ok((Auth::Basic { username, password }, username_changed || password_changed))
        }
    }
}

/// Parses a target URL and checks that webhooks may reach it.
async fn validate_target(engine: &Engine, url: &str) -> Result<TargetUrl, Error> {
    let url = TargetUrl::parse(url).map_err(|e| Error::field("targetUrl", e.to_string()))?;
    guard::check_target(&url, engine.config().allow_private_targets)
        .await
        .map_err(|e| Error::TargetNotAllowed(format!("targetUrl is not allowed: {e}")))?;
    Ok(url)
}

async fn create(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let input: WebhookInput = parse_body(&req, payload).await?;
    let name = validate_name(input.name.ok_or_else(|| Error::field("name", "name is required"))?)?;
    let target = input.target_url.ok_or_else(|| Error::field("targetUrl", "targetUrl is required"))?;
    let source = input.source.map(validate_source).transpose()?.unwrap_or(Source::All);
    let events = input.events.map(validate_events).transpose()?.unwrap_or_else(EventSet::all);
    let secrets = &engine.settings().options.secrets;
    let auth =
        input.auth.map(|a| validate_auth(a, None, secrets)).transpose()?.map(|(auth, _)| auth).unwrap_or(Auth::None);
    let status = input.status.as_deref().map(validate_status).transpose()?.unwrap_or(WebhookStatus::Enabled);
    let target_url = validate_target(&engine, &target).await?;
    let webhook = Webhook {
        source,
        events,
        auth,
        status,
        disabled_reason: (status == WebhookStatus::Disabled).then_some(DisabledReason::Manual),
        ..Webhook::new(caller.0, name, target_url, now_millis())
    };
    let stored = webhook.clone();
    engine.db().write(move |conn| db::webhooks::insert(conn, &stored)).await?;
    engine.webhook_changed(webhook.clone()).await?;
    Ok(HttpResponse::Created().json(WebhookView::from(&webhook)))
}

async fn list(engine: web::Data<Engine>, caller: Caller) -> Result<HttpResponse, Error> {
    let webhooks = engine.db().read(move |conn| db::webhooks::list(conn, &caller.0)).await?;
    let data: Vec<WebhookView> = webhooks.iter().map(WebhookView::from).collect();
    Ok(HttpResponse::Ok().json(json!({ "data": data })))
}

/// Loads one of the caller's webhooks; another account's is "not found".
pub(super) async fn load(engine: &Engine, caller: &Caller, id: &str) -> Result<Webhook, Error> {
    let (account, id) = (caller.0.clone(), WebhookId::from_string(id));
    engine.db().read(move |conn| db::webhooks::get(conn, &account, &id)).await.map_err(|e| {
        if e.is_not_found() {
            Error::not_found("webhook")
        } else {
            e.into()
        }
    })
}

async fn get(engine: web::Data<Engine>, caller: Caller, path: web::Path<String>) -> Result<HttpResponse, Error> {
    let webhook = load(&engine, &caller, &path).await?;
    Ok(HttpResponse::Ok().json(WebhookView::from(&webhook)))
}

async fn update(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let input: WebhookInput = parse_body(&req, payload).await?;
    let mut webhook = load(&engine, &caller, &path).await?;
    let mut fixed = false;
    if let Some(name) = input.name {
        webhook.name = validate_name(name)?;
    }
    if let Some(source) = input.source {
        webhook.source = validate_source(source)?;
    }
    if let Some(events) = input.events {
        webhook.events = validate_events(events)?;
    }
    if let Some(auth) = input.auth {
        let (auth, changed) = validate_auth(auth, Some(&webhook.auth), &engine.settings().options.secrets)?;
        fixed |= changed;
        webhook.auth = auth;
    }
    let status = input.status.as_deref().map(validate_status).transpose()?;
    if let Some(target) = input.target_url {
        let target = validate_target(&engine, &target).await?;
        fixed |= target != webhook.target_url;
        webhook.target_url = target;
    }
    match status {
        Some(WebhookStatus::Enabled) if webhook.status == WebhookStatus::Disabled => {
            webhook.status = WebhookStatus::Enabled;
            webhook.disabled_reason = None;
            fixed = true;
        }
        Some(WebhookStatus::Disabled) if webhook.status == WebhookStatus::Enabled => {
            webhook.status = WebhookStatus::Disabled;
            webhook.disabled_reason = Some(DisabledReason::Manual);
        }
        _ => {}
    }
    // A new target, new credentials or a re-enable is the customer's fix (`fixed`).
    webhook.updated_at = now_millis();
    let stored = webhook.clone();
    let webhook = engine
        .db()
        .write(move |conn| {
            db::webhooks::update_settings(conn, &stored)?;
            if fixed {
                db::webhooks::mark_fixed(conn, &stored.id)?;
            }
            db::webhooks::get(conn, &stored.account_id, &stored.id)
        })
        .await?;
    engine.webhook_changed(webhook.clone()).await?;
    Ok(HttpResponse::Ok().json(WebhookView::from(&webhook)))
}

async fn delete(engine: web::Data<Engine>, caller: Caller, path: web::Path<String>) -> Result<HttpResponse, Error> {
    let webhook = load(&engine, &caller, &path).await?;
    // Stop routing first, so no new delivery rows are written for it after the delete.
    engine.webhook_removed(webhook.account_id.clone(), webhook.id.clone()).await?;
    let (account, id) = (webhook.account_id, webhook.id);
    engine.db().write(move |conn| db::webhooks::delete(conn, &account, &id)).await.map_err(|e| {
        if e.is_not_found() {
            Error::not_found("webhook")
        } else {
            e.into()
        }
    })?;
    Ok(HttpResponse::NoContent().finish())
}

async fn test(engine: web::Data<Engine>, caller: Caller, path: web::Path<String>) -> Result<HttpResponse, Error> {
    let webhook = load(&engine, &caller, &path).await?;
    let report = testbatch::send(&engine, &webhook).await?;
    Ok(HttpResponse::Ok().json(report))
}
