//! Tenants (issue 4, item 8): an account reaches only its own data.
//!
//! - Every `/v1` route called with another account's key and ids — read, change, delete,
//!   send a test batch, list batches, read a batch (also another account's batch through
//!   one's own webhook) — answers 404, exactly as for an id that does not exist, and
//!   changes nothing and sends nothing.
//! - Every route without a key, with a wrong key or with a malformed `Authorization`
//!   header answers a JSON 401, and changes nothing and stores nothing.
//! - List routes show only the caller's own webhooks and batches.
//! - Events ingested by one account never reach another account's webhooks, and an
//!   `Idempotency-Key` of one account neither replays nor blocks another's request.

use std::time::Duration;

use serde_json::{json, Value};

use crate::checks::{all_message_ids, assert_error, id_of, wait_newest_batch};
use crate::support::{event, Api, Receiver, Response, TestServer};

const SOON: Duration = Duration::from_secs(10);

/// One account's side of the test.
struct Tenant {
    api: Api,
    receiver: Receiver,
    /// The path of the receiver its webhooks deliver to.
    path: String,
    webhooks: Vec<String>,
    /// A batch of the first webhook.
    batch: String,
}

impl Tenant {
    /// Creates `count` webhooks on a fresh receiver, ingests `prefix`-1 and waits until
    /// every webhook's batch was delivered.
    async fn set_up(api: Api, prefix: &str, count: usize) -> Tenant {
        let receiver = Receiver::start();
        let path = format!("/tenant-{prefix}");
        let mut webhooks = Vec::new();
        for i in 0..count {
            webhooks.push(id_of(&api.create_webhook(&format!("{prefix} {i}"), &receiver.url(&path)).await));
        }
        api.ingest(&json!([event("open", &format!("{prefix}-1"))])).await;
        let mut batch = String::new();
        for id in &webhooks {
            let newest = wait_newest_batch(&api, id, "success", SOON).await;
            if batch.is_empty() {
                batch = newest["batchId"].as_str().unwrap().to_owned();
            }
        }
        Tenant { api, receiver, path, webhooks, batch }
    }

    /// How many deliveries its webhooks got.
    fn delivered(&self) -> usize {
        self.receiver.requests_to(&self.path).len()
    }

    /// Everything the account can see: its webhook list and each webhook's batches.
    async fn snapshot(&self) -> Value {
        let mut batches = Vec::new();
        for id in &self.webhooks {
            batches.push(json!(self.api.batches(id).await));
        }
        json!({ "webhooks": self.api.get("/v1/webhooks").await.body, "batches": batches })
    }
}

/// Asserts `res` is the same 404 as for a webhook id that does not exist.
fn assert_same_as_missing(res: &Response, missing: &Response, what: &str) {
    assert_error(res, 404, "not_found", what);
    assert_eq!(res.body, missing.body, "{what}: the 404 differs from a missing id's");
}

/// Calls every `/v1` route of `victim`'s with `attacker`'s key; all must be 404.
async fn attack(attacker: &Tenant, victim: &Tenant) {
    let api = &attacker.api;
    let theirs = &victim.webhooks[0];
    let path = format!("/v1/webhooks/{theirs}");
    let hijack = json!({ "name": "hijacked", "targetUrl": attacker.receiver.url("/stolen"), "status": "disabled" });
    let missing = "wh_0000000000000000000000";
    let requests: Vec<(&str, String, Option<Value>, String)> = vec![
        ("GET", path.clone(), None, format!("/v1/webhooks/{missing}")),
        ("PATCH", path.clone(), Some(hijack.clone()), format!("/v1/webhooks/{missing}")),
        ("POST", format!("{path}/test"), Some(json!({})), format!("/v1/webhooks/{missing}/test")),
        ("GET", format!("{path}/batches"), None, format!("/v1/webhooks/{missing}/batches")),
        ("GET", format!("{path}/batches?limit=1000&status=success"), None, format!("/v1/webhooks/{missing}/batches")),
        ("GET", format!("{path}/batches/{}", victim.batch), None, format!("/v1/webhooks/{missing}/batches/x")),
        (
            "GET",
            format!("/v1/webhooks/{}/batches/{}", attacker.webhooks[0], victim.batch),
            None,
            format!("/v1/webhooks/{}/batches/{}", attacker.webhooks[0], "0".repeat(24)),
        ),
        ("DELETE", path.clone(), None, format!("/v1/webhooks/{missing}")),
    ];
    for (method, path, body, missing_path) in requests {
        let send = |path: String| {
            let body = body.as_ref().map(|b| serde_json::to_vec(b).unwrap());
            let content_type = body.as_ref().map(|_| "application/json");
            async move { api.request(method, &path, content_type, body).await }
        };
        let res = send(path.clone()).await;
        let missing = send(missing_path).await;
        assert_same_as_missing(&res, &missing, &format!("{method} {path} with another account's key"));
    }
}

#[actix_rt::test]
async fn tenants_another_accounts_ids_answer_404_and_nothing_changes() {
    let server = TestServer::start(|_| {}).await;
    let key_b = server.engine.create_account("other", "other@example.com").await.expect("second account");
    let a = Tenant::set_up(server.api.clone(), "a", 2).await;
    let b = Tenant::set_up(server.api.with_key(Some(&key_b)), "b", 1).await;
    let (before_a, before_b) = (a.snapshot().await, b.snapshot().await);
    let (sent_a, sent_b) = (a.delivered(), b.delivered());

    attack(&b, &a).await;
    attack(&a, &b).await;

    assert_eq!(a.snapshot().await, before_a, "another account changed a's webhooks or batches");
    assert_eq!(b.snapshot().await, before_b, "another account changed b's webhooks or batches");
    actix_rt::time::sleep(Duration::from_millis(200)).await;
    assert_eq!((a.delivered(), b.delivered()), (sent_a, sent_b), "a test batch was sent for the attacker");
}

#[actix_rt::test]
async fn tenants_list_routes_show_only_the_callers_data() {
    let server = TestServer::start(|_| {}).await;
    let key_b = server.engine.create_account("other", "other@example.com").await.expect("second account");
    let a = Tenant::set_up(server.api.clone(), "a", 3).await;
    let b = Tenant::set_up(server.api.with_key(Some(&key_b)), "b", 2).await;
    for (tenant, other) in [(&a, &b), (&b, &a)] {
        let listed = tenant.api.get("/v1/webhooks").await.body;
        let mut ids: Vec<String> = listed["data"].as_array().unwrap().iter().map(id_of).collect();
        ids.sort();
        let mut own = tenant.webhooks.clone();
        own.sort();
        assert_eq!(ids, own, "the webhook list shows exactly the caller's own");
        for id in &tenant.webhooks {
            let batches = tenant.api.batches(id).await;
            assert_eq!(batches.len(), 1, "{batches:?}");
            assert!(batches.iter().all(|batch| batch["batchId"] != other.batch.as_str()));
        }
    }
}

#[actix_rt::test]
async fn tenants_every_route_without_a_valid_key_is_a_json_401_and_changes_nothing() {
    let server = TestServer::start(|_| {}).await;
    let a = Tenant::set_up(server.api.clone(), "a", 1).await;
    let before = a.snapshot().await;
    let sent = a.delivered();
    let id = &a.webhooks[0];
    let w = format!("/v1/webhooks/{id}");
    let routes: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/v1/webhooks".into(), None),
        ("POST", "/v1/webhooks".into(), Some(json!({ "name": "x", "targetUrl": a.receiver.url("/x") }))),
        ("GET", w.clone(), None),
        ("PATCH", w.clone(), Some(json!({ "name": "renamed", "status": "disabled" }))),
        ("POST", format!("{w}/test"), Some(json!({}))),
        ("GET", format!("{w}/batches"), None),
        ("GET", format!("{w}/batches/{}", a.batch), None),
        ("POST", "/v1/events".into(), Some(json!([event("open", "unauthorized")]))),
        ("DELETE", w.clone(), None),
    ];
    let anonymous = server.api.with_key(None);
    let wrong_key = server.api.with_key(Some("not-a-key-0123456789abcdef"));
    let authorizations = [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Basic dGVzdDp0ZXN0".to_owned(),
        format!("Token {}", crate::support::TEST_API_KEY),
        format!("{} ", crate::support::TEST_API_KEY),
        format!("Bearer {}x", crate::support::TEST_API_KEY),
        format!("Bearer {}", "k".repeat(4000)),
    ];
    for (method, path, body) in &routes {
        let bytes = body.as_ref().map(|b| serde_json::to_vec(b).unwrap());
        let content_type = bytes.as_ref().map(|_| "application/json");
        let what = |how: &str| format!("{method} {path} {how}");
        let res = anonymous.request(method, path, content_type, bytes.clone()).await;
        assert_error(&res, 401, "unauthorized", &what("without a key"));
        let res = wrong_key.request(method, path, content_type, bytes.clone()).await;
        assert_error(&res, 401, "unauthorized", &what("with a wrong key"));
        for authorization in &authorizations {
            let mut headers = vec![("Authorization", authorization.as_str())];
            headers.extend(content_type.map(|ct| ("Content-Type", ct)));
            let res = anonymous.request_with_headers(method, path, &headers, bytes.clone().unwrap_or_default()).await;
            let shown: String = authorization.chars().take(40).collect();
            assert_error(&res, 401, "unauthorized", &what(&format!("with Authorization {shown:?}")));
        }
    }

    assert_eq!(a.snapshot().await, before, "an unauthorized request changed something");
    // Nothing was ingested or sent: the next delivery holds only a sentinel.
    a.api.ingest(&json!([event("open", "sentinel")])).await;
    let requests = a.receiver.wait_for_path_async(&a.path, sent + 1, SOON).await;
    assert_eq!(all_message_ids(&requests[sent..]), ["sentinel"], "an unauthorized ingest was stored");
}

#[actix_rt::test]
async fn tenants_events_reach_only_their_own_accounts_webhooks() {
    let server = TestServer::start(|_| {}).await;
    let key_b = server.engine.create_account("other", "other@example.com").await.expect("second account");
    let api_a = server.api.clone();
    let api_b = server.api.with_key(Some(&key_b));
    let (receiver_a, receiver_b) = (Receiver::start(), Receiver::start());
    // Same source and event types on both sides: only the account tells them apart.
    api_a.create_webhook("a", &receiver_a.url("/tenant-a")).await;
    api_b.create_webhook("b", &receiver_b.url("/tenant-b")).await;

    for round in 0..5 {
        let a_events: Vec<Value> = (0..4).map(|i| event("open", &format!("a-{round}-{i}"))).collect();
        api_a.ingest(&json!(a_events)).await;
        api_b.ingest(&json!({ "events": [event("click", &format!("b-{round}"))] })).await;
    }
    // The same idempotency key in both accounts: neither replays nor blocks the other.
    for (api, id) in [(&api_a, "a-keyed"), (&api_b, "b-keyed")] {
        let body = serde_json::to_vec(&json!([event("open", id)])).unwrap();
        let headers = [("Content-Type", "application/json"), ("Idempotency-Key", "shared-key")];
        let res = api.request_with_headers("POST", "/v1/events", &headers, body).await;
        assert_eq!((res.status, &res.body), (202, &json!({ "accepted": 1 })), "{id}: {}", res.text);
    }
    api_a.ingest(&json!([event("open", "a-sentinel")])).await;
    api_b.ingest(&json!([event("open", "b-sentinel")])).await;

    for (receiver, path, prefix, expected) in
        [(&receiver_a, "/tenant-a", "a-", 22), (&receiver_b, "/tenant-b", "b-", 7)]
    {
        let start = std::time::Instant::now();
        let ids = loop {
            let ids = all_message_ids(&receiver.requests_to(path));
            if ids.iter().any(|id| id == &format!("{prefix}sentinel")) && ids.len() >= expected {
                break ids;
            }
            assert!(start.elapsed() < SOON, "{prefix}: only {ids:?} arrived");
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        };
        assert!(ids.iter().all(|id| id.starts_with(prefix)), "another account's events arrived: {ids:?}");
        assert_eq!(ids.len(), expected, "{ids:?}");
    }
}
