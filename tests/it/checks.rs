//! Assertions shared by the issue-2 test modules: the contract's error shape, batch ids,
//! and small conveniences over the harness in `support`.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::Value;

use crate::support::{Api, Received, Response};

/// The nine event types, in the order the API lists them.
pub const ALL_EVENTS: [&str; 9] = [
    "bounce",
    "delay",
    "injection",
    "open",
    "click",
    "delivery",
    "spam_complaint",
    "link_unsubscribe",
    "list_unsubscribe",
];

/// Asserts `res` is the contract's JSON error: `status`, a JSON content type, and
/// `{"error": {"code": code, "message": <non-empty string>, ...}}` with nothing else at
/// the top level. `what` names the case in failure messages.
pub fn assert_error(res: &Response, status: u16, code: &str, what: &str) {
    assert_eq!(res.status, status, "{what}: status; body {}", res.text);
    assert_json_error_shape(res, what);
    assert_eq!(res.error_code(), Some(code), "{what}: error code; body {}", res.text);
}

/// Asserts `res` is a 4xx in the contract's JSON error shape (any code).
pub fn assert_client_error(res: &Response, what: &str) {
    assert!((400..500).contains(&res.status), "{what}: expected a 4xx, got {}: {}", res.status, res.text);
    assert_json_error_shape(res, what);
}

fn assert_json_error_shape(res: &Response, what: &str) {
    let content_type = res.content_type.as_deref().unwrap_or("");
    assert!(content_type.starts_with("application/json"), "{what}: content type {content_type:?}; body {}", res.text);
    let top = res.body.as_object().unwrap_or_else(|| panic!("{what}: body is not a JSON object: {:?}", res.text));
    assert_eq!(top.keys().collect::<Vec<_>>(), ["error"], "{what}: top-level keys; body {}", res.text);
    let error = &res.body["error"];
    let code = error["code"].as_str().unwrap_or_else(|| panic!("{what}: no error.code in {}", res.text));
    assert!(
        !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "{what}: code {code:?} is not snake_case"
    );
    let message = error["message"].as_str().unwrap_or_else(|| panic!("{what}: no error.message in {}", res.text));
    assert!(!message.is_empty(), "{what}: empty error.message");
}

/// True for 24 lowercase hex characters.
pub fn is_batch_id(id: &str) -> bool {
    id.len() == 24 && id.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// The `id` of a webhook answer.
pub fn id_of(webhook: &Value) -> String {
    webhook["id"].as_str().unwrap_or_else(|| panic!("webhook without id: {webhook}")).to_owned()
}

/// The `messageId`s of a delivered batch, in order.
pub fn message_ids(request: &Received) -> Vec<String> {
    request.json()["events"]
        .as_array()
        .unwrap_or_else(|| panic!("delivery without events: {}", request.text()))
        .iter()
        .map(|e| e["messageId"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The `messageId`s of every event a receiver got, over all its requests, in arrival order.
pub fn all_message_ids(requests: &[Received]) -> Vec<String> {
    requests.iter().flat_map(message_ids).collect()
}

/// Waits until the webhook's newest batch has `status`, and returns that batch.
pub async fn wait_newest_batch(api: &Api, webhook_id: &str, status: &str, timeout: Duration) -> Value {
    let path = format!("/v1/webhooks/{webhook_id}/batches");
    let body = api
        .wait_for(&path, timeout, &format!("the newest batch to be {status}"), |b| b["data"][0]["status"] == status)
        .await;
    body["data"][0].clone()
}

/// `GET /v1/webhooks/{id}/batches/{batch}`; panics unless 200.
pub async fn batch_detail(api: &Api, webhook_id: &str, batch_id: &str) -> Value {
    let res = api.get(&format!("/v1/webhooks/{webhook_id}/batches/{batch_id}")).await;
    assert_eq!(res.status, 200, "batch detail: {}", res.text);
    res.body
}

/// The sorted keys of a JSON object.
pub fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> =
        value.as_object().unwrap_or_else(|| panic!("not an object: {value}")).keys().cloned().collect();
    keys.sort();
    keys
}

/// `expected` as a sorted list of strings, for comparing with [`keys`].
pub fn sorted(expected: &[&str]) -> Vec<String> {
    let mut list: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    list.sort();
    list
}
