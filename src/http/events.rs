//! `POST /v1/events`: validate the whole request, store it durably, then answer 202.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::json::{read_body, require_json};
use super::{Caller, MAX_BODY_BYTES};
use crate::engine::Engine;
use crate::error::Error;
use crate::model::{parse_ingest_body, EventError};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/events").route(web::post().to(ingest)).default_service(web::to(super::wrong_method)));
}

async fn ingest(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    require_json(&req)?;
    let body = read_body(payload, MAX_BODY_BYTES).await?;
    let events = parse_ingest_body(&body).map_err(|e| match e {
        EventError::Malformed(message) => Error::invalid(message),
        EventError::TooMany(_) => Error::PayloadTooLarge(e.to_string()),
        EventError::Invalid { index, field, .. } => {
            Error::Validation { message: e.to_string(), details: Some(json!({ "index": index, "field": field })) }
        }
    })?;
    let accepted = engine.ingest(&caller.0, events).await?;
    Ok(HttpResponse::Accepted().json(json!({ "accepted": accepted })))
}
