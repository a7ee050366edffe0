//! `POST /v1/events`: validate the whole request, store it durably, then answer 202.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::json::{read_body, require_json};
use super::{Caller, MAX_BODY_BYTES};
use sha2::{Digest, Sha256};

use crate::engine::{Engine, Ingested};
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
    let body = read_body(&req, payload, MAX_BODY_BYTES).await?;
    let events = parse_ingest_body(&body).map_err(|e| match e {
        EventError::Malformed(message) => Error::invalid(message),
        EventError::TooMany(_) => Error::PayloadTooLarge(e.to_string()),
        EventError::Invalid { index, field, .. } => {
            Error::Validation { message: e.to_string(), details: Some(json!({ "index": index, "field": field })) }
        }
    })?;
    let ingested = match idempotency_key(&req)? {
        Some(key) => {
            let fingerprint = hex::encode(Sha256::digest(&body));
            engine.ingest_idempotent(&caller.0, events, &key, &fingerprint).await?
        }
        None => Ingested { accepted: engine.ingest(&caller.0, events).await?, replayed: false },
    };
    let mut response = HttpResponse::Accepted();
    if ingested.replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(response.json(json!({ "accepted": ingested.accepted })))
}

/// The most characters an `Idempotency-Key` may have.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// The request's `Idempotency-Key`, if it sent one: 1 to 255 visible ASCII characters.
fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, Error> {
    let Some(value) = req.headers().get("Idempotency-Key") else { return Ok(None) };
    let key = value.to_str().map(str::trim).unwrap_or("");
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::Validation {
            message: format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"),
            details: Some(json!({ "header": "Idempotency-Key" })),
        });
    }
    Ok(Some(key.to_owned()))
}
