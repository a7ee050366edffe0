//! Reading JSON request bodies with errors a person can act on: the wrong content type is
//! a 415, and a body that does not fit names the field (`details.field`) that broke it.

use actix_web::{http::header, web, HttpRequest};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::Error;

/// The largest management request body (webhook create/update).
const MAX_MANAGEMENT_BODY: usize = 64 * 1024;

/// Refuses bodies that are not declared as JSON.
pub fn require_json(req: &HttpRequest) -> Result<(), Error> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json")) {
        Ok(())
    } else {
        Err(Error::UnsupportedMediaType(format!(
            "send the body as JSON with 'Content-Type: application/json' (got {:?})",
            content_type
        )))
    }
}

/// Parses a management request body into `T`.
pub async fn parse_body<T: DeserializeOwned>(req: &HttpRequest, payload: web::Payload) -> Result<T, Error> {
    require_json(req)?;
    let body = read_body(req, payload, MAX_MANAGEMENT_BODY).await?;
    let mut deserializer = serde_json::Deserializer::from_slice(&body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() || path == "." {
            Error::invalid(format!("body is not valid JSON for this request: {inner}"))
        } else {
            Error::Validation { message: format!("{path}: {inner}"), details: Some(json!({ "field": path })) }
        }
    })?;
    deserializer.end().map_err(|e| Error::invalid(format!("body has data after the JSON value: {e}")))?;
    Ok(value)
}

/// Reads a request body of at most `limit` bytes; a larger one is a 413 in the JSON error
/// shape (actix-web's own limit would answer in plain text). A body declared larger by
/// its `Content-Length` is refused before any of it is read, so a client cannot hold the
/// connection by announcing a huge body and sending it slowly.
pub async fn read_body(req: &HttpRequest, mut payload: web::Payload, limit: usize) -> Result<web::Bytes, Error> {
    use futures_util::StreamExt;
    let too_large = || Error::PayloadTooLarge(format!("the body is larger than the {limit} bytes accepted here"));
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| Error::invalid(format!("cannot read the request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
