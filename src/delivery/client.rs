//! The delivery client: one POST of one batch body to one endpoint, measured and turned
//! into an [`AttemptResult`]. The whole attempt — connect, send, and reading the answer —
//! is bounded by the delivery timeout; at most 1 KiB of the answer is read, so a huge or
//! endless response cannot stall a webhook or grow memory. Redirects are never followed.
//!
//! `awc::Client` is not `Send`, so each thread (actix arbiter) builds its own, lazily.
//! The clients have no shared connection limit: each webhook bounds its own in-flight
//! deliveries, so one hanging endpoint can hold only its own webhook's few connections
//! instead of using up a limit every webhook on the thread shares.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use actix_web::http::header;
use awc::error::{ConnectError, SendRequestError};
use bytes::Bytes;
use futures_util::StreamExt;

use super::guard::{self, BlockedAddress, GuardedResolver};
use crate::model::{now_millis, Auth, Millis, TargetHost, TargetUrl};
use crate::secrets::SecretBox;

/// The most bytes of an endpoint's answer that are read and kept.
pub const MAX_RESPONSE_BODY: usize = 1024;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Success,
    /// Any other HTTP status (3xx, 4xx, 5xx).
    HttpStatus,
    /// No complete answer within the delivery timeout.
    Timeout,
    /// The name did not resolve.
    Dns(String),
    /// No connection could be made (refused, reset, TLS failure…).
    Connect(String),
    /// The target resolves to an address that is not allowed.
    BlockedTarget(String),
    /// The request failed in some other way.
    Other(String),
}

/// One attempt, ready to be recorded.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub outcome: Outcome,
    pub attempted_at: Millis,
    pub duration: Duration,
    pub status_code: Option<u16>,
    /// At most [`MAX_RESPONSE_BODY`] bytes of the answer, as text.
    pub response_body: Option<String>,
}

impl AttemptResult {
    pub fn is_success(&self) -> bool {
        self.outcome == Outcome::Success
    }

    /// A person-readable error for anything but success.
    pub fn error(&self) -> Option<String> {
        match &self.outcome {
            Outcome::Success => None,
            Outcome::HttpStatus => self.status_code.map(|c| format!("endpoint answered HTTP {c}")),
            Outcome::Timeout => Some("timed out waiting for the endpoint".into()),
            Outcome::Dns(e) => Some(format!("DNS lookup failed: {e}")),
            Outcome::Connect(e) => Some(format!("connection failed: {e}")),
            Outcome::BlockedTarget(e) => Some(format!("target not allowed: {e}")),
            Outcome::Other(e) => Some(format!("request failed: {e}")),
        }
    }
}

thread_local! {
    /// This thread's clients: [guarded, unguarded].
    static CLIENTS: RefCell<[Option<awc::Client>; 2]> = const { RefCell::new([None, None]) };
}

fn build_client(allow_private: bool) -> awc::Client {
    let connector =
        awc::Connector::new().limit(0).timeout(Duration::from_secs(3600)).max_http_version(awc::http::Version::HTTP_11);
    let builder = awc::Client::builder().disable_redirects().disable_timeout().no_default_headers();
    if allow_private {
        builder.connector(connector).finish()
    } else {
        let guarded = actix_tls::connect::Connector::new(actix_tls::connect::Resolver::custom(GuardedResolver));
        builder.connector(connector.connector(guarded.service())).finish()
    }
}

fn client(allow_private: bool) -> awc::Client {
    CLIENTS.with(|clients| {
        let mut clients = clients.borrow_mut();
        clients[allow_private as usize].get_or_insert_with(|| build_client(allow_private)).clone()
    })
}

/// How deliveries are made: the same for every webhook of an engine.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// Whole-attempt limit.
    pub delivery_timeout: Duration,
    /// Skip the outbound-address guard.
    pub allow_private_targets: bool,
    /// Opens the sealed basic-auth password for the header.
    pub secrets: SecretBox,
}

/// Delivers `body` to `url` with `auth` once and reports what happened. Never fails: every
/// problem is an [`Outcome`].
pub async fn deliver(url: &TargetUrl, auth: &Auth, body: Bytes, options: &DeliveryOptions) -> AttemptResult {
    let attempted_at = now_millis();
    let started = Instant::now();
    let allow_private = options.allow_private_targets;
    let (outcome, status_code, response_body) =
        match (blocked_literal(url, allow_private), auth.header_value(&options.secrets)) {
            (Some(blocked), _) => (Outcome::BlockedTarget(blocked.to_string()), None, None),
            (None, Err(e)) => (Outcome::Other(e.to_string()), None, None),
            (None, Ok(authorization)) => {
                match tokio::time::timeout(options.delivery_timeout, post(url, authorization, body, allow_private))
                    .await
                {
                    Ok(result) => result,
                    Err(_) => (Outcome::Timeout, None, None),
                }
            }
        };
    AttemptResult { outcome, attempted_at, duration: started.elapsed(), status_code, response_body }
}

/// A literal address in the URL never reaches the resolver, so it is checked here.
fn blocked_literal(url: &TargetUrl, allow_private: bool) -> Option<BlockedAddress> {
    match url.host_and_port()?.0 {
        TargetHost::Ip(ip) if !allow_private && guard::is_forbidden(ip) => {
            Some(BlockedAddress { host: ip.to_string(), addr: ip })
        }
        _ => None,
    }
}

async fn post(
    url: &TargetUrl,
    authorization: Option<String>,
    body: Bytes,
    allow_private: bool,
) -> (Outcome, Option<u16>, Option<String>) {
    let mut request = client(allow_private)
        .post(url.as_str())
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::USER_AGENT, concat!("mailhooks/", env!("CARGO_PKG_VERSION"))));
    if let Some(value) = authorization {
        request = request.insert_header((header::AUTHORIZATION, value));
    }
    let mut response = match request.send_body(body).await {
        Ok(response) => response,
        Err(e) => return (classify(e), None, None),
    };
    let status = response.status();
    let mut kept = Vec::new();
    while kept.len() < MAX_RESPONSE_BODY {
        match response.next().await {
            Some(Ok(chunk)) => kept.extend_from_slice(&chunk[..chunk.len().min(MAX_RESPONSE_BODY - kept.len())]),
            // A broken body after the status line does not change the verdict.
            Some(Err(_)) | None => break,
        }
    }
    let outcome = if status.is_success() { Outcome::Success } else { Outcome::HttpStatus };
    (outcome, Some(status.as_u16()), Some(lossy_prefix(&kept)))
}

/// The kept bytes as text, never splitting a character.
fn lossy_prefix(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(e) if e.error_len().is_none() => String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn classify(error: SendRequestError) -> Outcome {
    match error {
        SendRequestError::Timeout => Outcome::Timeout,
        SendRequestError::Connect(ConnectError::Timeout) => Outcome::Timeout,
        SendRequestError::Connect(ConnectError::Resolver(e)) => match e.downcast_ref::<BlockedAddress>() {
            Some(blocked) => Outcome::BlockedTarget(blocked.to_string()),
            None => Outcome::Dns(e.to_string()),
        },
        SendRequestError::Connect(e) => Outcome::Connect(e.to_string()),
        other => Outcome::Other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_body_never_splits_a_character() {
        let text = "é".repeat(600);
        let kept = lossy_prefix(&text.as_bytes()[..1023]);
        assert_eq!(kept.len(), 1022);
        assert!(kept.chars().all(|c| c == 'é'));
    }
}
