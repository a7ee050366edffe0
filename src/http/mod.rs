//! The management API, grouped by resource. Every answer that is not a success is the
//! contract's JSON error shape — including bodies actix-web itself refuses (bad JSON,
//! wrong content type, too large), unknown routes and wrong methods.

mod auth;
mod batches;
mod dashboard;
mod events;
mod health;
mod json;
mod views;
mod webhooks;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::engine::Engine;
use crate::error::Error;

pub use auth::Caller;

/// The largest request body accepted by any route (the ingest limit).
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// Mounts `/healthz` and `/v1/…` with the engine as shared state.
pub fn configure(engine: Engine, cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::Data::new(engine))
        .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .app_data(web::PathConfig::default().error_handler(|e, _| Error::invalid(e.to_string()).into()))
        .app_data(web::QueryConfig::default().error_handler(|e, _| Error::invalid(e.to_string()).into()))
        .configure(health::configure)
        .service(
            web::scope("/v1")
                .configure(webhooks::configure)
                .configure(batches::configure)
                .configure(events::configure)
                .default_service(web::to(unknown_route)),
        )
        .configure(dashboard::configure)
        .default_service(web::to(unknown_route));
}

async fn unknown_route(req: HttpRequest) -> Result<HttpResponse, Error> {
    Err(Error::NotFound(format!("no route for {} {}", req.method(), req.path())))
}

/// The answer for a known path called with a method it does not take.
async fn wrong_method(req: HttpRequest) -> Result<HttpResponse, Error> {
    Err(Error::MethodNotAllowed(format!("{} is not allowed on {}", req.method(), req.path())))
}
