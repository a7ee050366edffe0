//! The one error type of the API. Every variant has a stable snake_case code and an HTTP
//! status chosen by an exhaustive match, so a new variant cannot compile without them.
//! Internal failures are logged with their cause and answered with an opaque message.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Value};

use crate::db::DbError;

/// Everything an API request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request cannot be read (bad JSON, bad query string…).
    #[error("{message}")]
    InvalidRequest { message: String, details: Option<Value> },
    /// The request was read but its content breaks a rule.
    #[error("{message}")]
    Validation { message: String, details: Option<Value> },
    /// The target URL points at an address webhooks may not reach.
    #[error("{0}")]
    TargetNotAllowed(String),
    #[error("a valid API key is required: send the header 'Authorization: Bearer <api key>'")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The request clashes with an earlier one (an idempotency key reused for another body).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The database cannot take writes right now; nothing was accepted.
    #[error("storage is unavailable; nothing was stored, try again")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl Error {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidRequest { .. } => "invalid_request",
            Error::Validation { .. } => "validation_failed",
            Error::TargetNotAllowed(_) => "target_not_allowed",
            Error::Unauthorized => "unauthorized",
            Error::NotFound(_) => "not_found",
            Error::MethodNotAllowed(_) => "method_not_allowed",
            Error::Conflict(_) => "idempotency_key_reused",
            Error::PayloadTooLarge(_) => "payload_too_large",
            Error::UnsupportedMediaType(_) => "unsupported_media_type",
            Error::Unavailable(_) => "unavailable",
            Error::Internal(_) => "internal",
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            Error::InvalidRequest { details, .. } | Error::Validation { details, .. } => details.clone(),
            Error::TargetNotAllowed(_) => Some(json!({ "field": "targetUrl" })),
            _ => None,
        }
    }

    /// A validation error about one field.
    pub fn field(field: &str, message: impl Into<String>) -> Error {
        Error::Validation { message: message.into(), details: Some(json!({ "field": field })) }
    }

    /// An unreadable request.
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::InvalidRequest { message: message.into(), details: None }
    }

    /// 404 for a thing the caller cannot see.
    pub fn not_found(what: &str) -> Error {
        Error::NotFound(format!("{what} not found"))
    }
}

impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        match e {
            e if e.is_not_found() => Error::not_found("resource"),
            e if e.is_unavailable() => Error::Unavailable(e.to_string()),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::InvalidRequest { .. } | Error::Validation { .. } | Error::TargetNotAllowed(_) => {
                StatusCode::BAD_REQUEST
            }
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Error::Internal(cause) => log::error!("internal error: {cause}"),
            Error::Unavailable(cause) => log::warn!("storage unavailable: {cause}"),
            _ => {}
        }
        let mut error = json!({ "code": self.code(), "message": self.to_string() });
        if let Some(details) = self.details() {
            error["details"] = details;
        }
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, Error::Unauthorized) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.json(json!({ "error": error }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn errors_have_the_contract_shape() {
        let response = Error::field("name", "name must be 1 to 100 characters").error_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = actix_web::body::to_bytes(response.into_body()).await.unwrap();
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["error"]["code"], "validation_failed");
        assert_eq!(value["error"]["details"]["field"], "name");
    }

    #[actix_rt::test]
    async fn internal_errors_hide_their_cause() {
        let response = Error::Internal("disk I/O error at /secret/path".into()).error_response();
        let body = actix_web::body::to_bytes(response.into_body()).await.unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("/secret/path"));
    }
}
