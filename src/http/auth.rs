//! `Authorization: Bearer <api key>` → the calling account. The key itself goes no
//! further than the hash lookup; it is never logged.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{http::header, web, FromRequest, HttpRequest};

use crate::engine::Engine;
use crate::error::Error;
use crate::model::AccountId;

/// The account making the request.
#[derive(Debug, Clone)]
pub struct Caller(pub AccountId);

impl FromRequest for Caller {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let engine = req.app_data::<web::Data<Engine>>().cloned();
        let key = bearer_token(req);
        Box::pin(async move {
            let engine = engine.ok_or_else(|| Error::Internal("engine not mounted".into()))?;
            let key = key.ok_or(Error::Unauthorized)?;
            engine.authenticate(&key).await.map(Caller)
        })
    }
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}
