//! `/v1/webhooks/{id}/batches`: batch status, newest first, paged by an opaque cursor.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::views::BatchView;
use super::webhooks::load;
use super::Caller;
use crate::db;
use crate::engine::Engine;
use crate::error::Error;
use crate::model::{BatchId, BatchStatus};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 1000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/webhooks/{id}/batches")
            .route(web::get().to(list))
            .default_service(web::to(super::wrong_method)),
    )
    .service(
        web::resource("/webhooks/{id}/batches/{batch_id}")
            .route(web::get().to(get))
            .default_service(web::to(super::wrong_method)),
    );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
    status: Option<String>,
}

fn parse_limit(limit: Option<&str>) -> Result<i64, Error> {
    let Some(text) = limit else {
        return Ok(DEFAULT_LIMIT);
    };
    match text.parse::<i64>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(Error::field("limit", format!("limit must be a whole number from 1 to {MAX_LIMIT}"))),
    }
}

fn parse_cursor(cursor: Option<&str>) -> Result<Option<i64>, Error> {
    cursor
        .filter(|c| !c.is_empty())
        .map(|c| c.parse::<i64>().map_err(|_| Error::field("cursor", "cursor is not one this API gave out")))
        .transpose()
}

async fn list(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, Error> {
    let limit = parse_limit(query.limit.as_deref())?;
    let before = parse_cursor(query.cursor.as_deref())?;
    let status =
        query.status.as_deref().map(|s| s.parse::<BatchStatus>().map_err(|e| Error::field("status", e))).transpose()?;
    let webhook = load(&engine, &caller, &path).await?;
    let mut records =
        engine.db().read(move |conn| db::batches::list(conn, &webhook.id, status, before, limit + 1)).await?;
    let next_cursor = if records.len() as i64 > limit {
        records.truncate(limit as usize);
        records.last().map(|b| b.seq.to_string())
    } else {
        None
    };
    let data: Vec<BatchView> = records.into_iter().map(|b| BatchView::new(b, None)).collect();
    Ok(HttpResponse::Ok().json(json!({ "data": data, "nextCursor": next_cursor })))
}

async fn get(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (webhook_id, batch_id) = path.into_inner();
    let webhook = load(&engine, &caller, &webhook_id).await?;
    let batch_id = BatchId::from_string(batch_id);
    let (record, attempts) = engine
        .db()
        .read(move |conn| {
            let record = db::batches::get(conn, &webhook.id, &batch_id)?;
            let attempts = db::batches::attempts_of(conn, &batch_id)?;
            Ok((record, attempts))
        })
        .await
        .map_err(|e| if e.is_not_found() { Error::not_found("batch") } else { e.into() })?;
    Ok(HttpResponse::Ok().json(BatchView::new(record, Some(attempts))))
}
