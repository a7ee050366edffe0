//! Hostile input (issue 4, item 5).
//!
//! Property tests (proptest) of the event validator, `mailhooks::model::parse_ingest_body`:
//! it never panics on arbitrary bytes or arbitrary JSON; it accepts every generated valid
//! event list — random extra fields, unicode, escapes, nesting, both body forms, any
//! whitespace — keeping each event's text byte for byte; and for a list with one invalid
//! event it names that event's index (and field).
//!
//! A property test of the ingest route: every generated malformed body (random bytes,
//! mangled JSON, random JSON, event lists with wrong types) gets a 4xx in the JSON error
//! shape, never a 5xx, and none of it is stored: afterwards a webhook receives only the
//! sentinel ingested after them.
//!
//! A table of hand-written hostile requests across every route — invalid UTF-8, deep
//! nesting, wrong content types, oversized bodies, huge strings, wrong types for every
//! webhook field, unknown routes and methods, bad query strings and path ids — each
//! answered with the expected 4xx in the JSON error shape, and nothing changed.

use std::time::Duration;

use mailhooks::model::{parse_ingest_body, EventError, EventType};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{json, Map, Value};

use crate::checks::{all_message_ids, assert_client_error, assert_error, id_of, ALL_EVENTS};
use crate::support::{event, Api, Receiver, TestServer};

const SOON: Duration = Duration::from_secs(10);

/// The receivers' path: only deliveries to it are counted (a port may have served
/// another test before).
const HOOK: &str = "/hostile-input";

/// The fields the validator checks.
const CHECKED_FIELDS: [&str; 5] = ["status", "messageId", "recipient", "timestamp", "source"];

fn config(cases: u32) -> ProptestConfig {
    // No regression files: a failure prints its shrunk input, which is what to keep.
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Any JSON value: unicode strings, big and negative numbers, nesting.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A non-empty string of any characters, control characters included.
fn non_empty_text() -> impl Strategy<Value = String> {
    "(?s).{1,16}"
}

/// How an event's JSON text is written; the validator must keep whichever exactly.
#[derive(Debug, Clone, Copy)]
enum Format {
    Compact,
    Pretty,
    /// Compact with every non-ASCII character as a `\uXXXX` escape.
    AsciiEscaped,
}

/// A generated event: its fields, and how its text is written.
#[derive(Debug, Clone)]
struct GenEvent {
    fields: Map<String, Value>,
    format: Format,
}

impl GenEvent {
    fn text(&self) -> String {
        let value = Value::Object(self.fields.clone());
        match self.format {
            Format::Compact => value.to_string(),
            Format::Pretty => serde_json::to_string_pretty(&value).unwrap(),
            Format::AsciiEscaped => escape_non_ascii(&value.to_string()),
        }
    }
}

/// Non-ASCII characters only occur inside JSON strings, so escaping them keeps the text
/// the same JSON value.
fn escape_non_ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// A valid event: the four required fields, maybe a source, random extra fields.
fn arb_event() -> impl Strategy<Value = GenEvent> {
    let extra_key = any::<String>().prop_filter("not a checked field", |k| !CHECKED_FIELDS.contains(&k.as_str()));
    (
        prop::sample::select(ALL_EVENTS.to_vec()),
        non_empty_text(),
        non_empty_text(),
        0..=i64::MAX,
        prop::option::of(non_empty_text()),
        prop::collection::btree_map(extra_key, arb_json(), 0..4),
        prop_oneof![Just(Format::Compact), Just(Format::Pretty), Just(Format::AsciiEscaped)],
    )
        .prop_map(|(status, message_id, recipient, timestamp, source, extra, format)| {
            let mut fields: Map<String, Value> = extra.into_iter().collect();
            fields.insert("status".into(), json!(status));
            fields.insert("messageId".into(), json!(message_id));
            fields.insert("recipient".into(), json!(recipient));
            fields.insert("timestamp".into(), json!(timestamp));
            if let Some(source) = source {
                fields.insert("source".into(), json!(source));
            }
            GenEvent { fields, format }
        })
}

/// JSON whitespace.
fn arb_ws() -> impl Strategy<Value = String> {
    "[ \t\r\n]{0,3}"
}

/// A request body holding `texts` as a bare array or in an envelope, with whitespace
/// between the tokens taken from `ws`.
fn body_of(texts: &[String], envelope: bool, ws: &[String]) -> String {
    let w = |i: usize| ws[i % ws.len()].as_str();
    let mut list = format!("{}[{}", w(0), w(1));
    for (i, text) in texts.iter().enumerate() {
        if i > 0 {
            list.push_str(&format!("{},{}", w(i + 2), w(i + 3)));
        }
        list.push_str(text);
    }
    list.push_str(&format!("{}]{}", w(4), w(5)));
    if envelope {
        format!("{{{}\"events\"{}:{list}}}", w(6), w(7))
    } else {
        list
    }
}

/// A generated body: its events' texts and the body itself.
#[derive(Debug, Clone)]
struct GenBody {
    events: Vec<GenEvent>,
    texts: Vec<String>,
    body: String,
}

fn arb_valid_body() -> impl Strategy<Value = GenBody> {
    (prop::collection::vec(arb_event(), 0..10), any::<bool>(), prop::collection::vec(arb_ws(), 1..8)).prop_map(
        |(events, envelope, ws)| {
            let texts: Vec<String> = events.iter().map(GenEvent::text).collect();
            let body = body_of(&texts, envelope, &ws);
            GenBody { events, texts, body }
        },
    )
}

/// A value that is neither a string nor null (null reads as "absent").
fn arb_not_a_string() -> impl Strategy<Value = Value> {
    arb_json().prop_filter("not a string or null", |v| !v.is_string() && !v.is_null())
}

/// One way to make an event invalid, and the field the validator should then name.
fn arb_breakage() -> impl Strategy<Value = (Breakage, Option<&'static str>)> {
    let required = prop::sample::select(vec!["status", "messageId", "recipient", "timestamp"]);
    let string_field = prop::sample::select(vec!["status", "messageId", "recipient", "source"]);
    let bad_timestamp = prop_oneof![
        (i64::MIN..0).prop_map(Value::from),
        ((i64::MAX as u64 + 1)..=u64::MAX).prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        arb_json().prop_filter("not a number", |v| !v.is_number()),
    ];
    let unknown_status = any::<String>().prop_filter("not an event type", |s| s.parse::<EventType>().is_err());
    prop_oneof![
        required.prop_map(|f| (Breakage::Remove(f), Some(f))),
        string_field.clone().prop_flat_map(|f| arb_not_a_string().prop_map(move |v| (Breakage::Set(f, v), Some(f)))),
        string_field.prop_map(|f| (Breakage::Set(f, json!("")), Some(f))),
        unknown_status.prop_map(|s| (Breakage::Set("status", json!(s)), Some("status"))),
        bad_timestamp.prop_map(|v| (Breakage::Set("timestamp", v), Some("timestamp"))),
        arb_json().prop_filter("not an object", |v| !v.is_object()).prop_map(|v| (Breakage::Replace(v), None)),
    ]
}

#[derive(Debug, Clone)]
enum Breakage {
    Remove(&'static str),
    Set(&'static str, Value),
    Replace(Value),
}

/// A body with exactly one invalid event: (body, its index, the field to be named).
fn arb_one_invalid() -> impl Strategy<Value = (String, usize, Option<&'static str>)> {
    (
        prop::collection::vec(arb_event(), 1..8),
        any::<prop::sample::Index>(),
        arb_breakage(),
        any::<bool>(),
        prop::collection::vec(arb_ws(), 1..4),
    )
        .prop_map(|(events, index, (breakage, field), envelope, ws)| {
            let index = index.index(events.len());
            let mut texts: Vec<String> = events.iter().map(GenEvent::text).collect();
            let mut broken = events[index].clone();
            texts[index] = match breakage {
                Breakage::Remove(f) => {
                    broken.fields.remove(f);
                    broken.text()
                }
                Breakage::Set(f, v) => {
                    broken.fields.insert(f.into(), v);
                    broken.text()
                }
                Breakage::Replace(v) => v.to_string(),
            };
            (body_of(&texts, envelope, &ws), index, field)
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn hostile_input_validator_never_panics_on_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        start in prop::sample::select(vec![&b""[..], b"[", b"{", b"{\"events\":[", b"[{"]),
    ) {
        let _ = parse_ingest_body(&bytes);
        let _ = parse_ingest_body(&[start, &bytes].concat());
    }

    #[test]
    fn hostile_input_validator_never_panics_on_json(value in arb_json()) {
        let result = parse_ingest_body(value.to_string().as_bytes());
        if !value.is_array() && !value.is_object() {
            prop_assert!(matches!(result, Err(EventError::Malformed(_))), "{value}: {result:?}");
        }
        let in_envelope = json!({ "events": [value] }).to_string();
        let _ = parse_ingest_body(in_envelope.as_bytes());
    }

    #[test]
    fn hostile_input_validator_accepts_valid_lists_byte_for_byte(generated in arb_valid_body()) {
        let events = parse_ingest_body(generated.body.as_bytes())
            .map_err(|e| TestCaseError::fail(format!("{e} in {:?}", generated.body)))?;
        prop_assert_eq!(events.len(), generated.texts.len());
        for ((event, text), source) in events.iter().zip(&generated.texts).zip(&generated.events) {
            prop_assert_eq!(&*event.raw, text.as_str());
            prop_assert_eq!(json!(event.event_type.as_str()), source.fields["status"].clone());
            let expected_source = source.fields.get("source").and_then(Value::as_str).unwrap_or("default");
            prop_assert_eq!(&*event.source, expected_source);
        }
    }

    #[test]
    fn hostile_input_validator_names_the_invalid_events_index((body, index, field) in arb_one_invalid()) {
        match parse_ingest_body(body.as_bytes()) {
            Err(EventError::Invalid { index: i, field: f, .. }) => {
                prop_assert_eq!((i, f), (index, field), "{}", body);
            }
            other => prop_assert!(false, "expected event {} to be refused, got {:?} for {}", index, other, body),
        }
    }
}

/// A body the ingest route must refuse: random bytes, valid JSON mangled, random JSON,
/// lists with one invalid event.
fn arb_malformed_body() -> impl Strategy<Value = Vec<u8>> {
    let mangled = (arb_valid_body(), any::<prop::sample::Index>(), any::<u8>(), any::<bool>()).prop_map(
        |(generated, at, byte, truncate)| {
            let mut body = generated.body.into_bytes();
            let at = at.index(body.len());
            if truncate {
                body.truncate(at);
            } else {
                body[at] = byte;
            }
            body
        },
    );
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        mangled,
        arb_json().prop_map(|v| v.to_string().into_bytes()),
        arb_json().prop_map(|v| json!({ "events": v }).to_string().into_bytes()),
        arb_one_invalid().prop_map(|(body, _, _)| body.into_bytes()),
    ]
    .prop_filter("the validator refuses it", |body| parse_ingest_body(body).is_err())
}

/// Ingests a sentinel event and returns every messageId the receiver got once it came.
async fn sentinel(api: &Api, receiver: &Receiver, id: &str) -> Vec<String> {
    api.ingest(&json!([event("open", id)])).await;
    let start = std::time::Instant::now();
    loop {
        let ids = all_message_ids(&receiver.requests_to(HOOK));
        if ids.iter().any(|m| m == id) {
            return ids;
        }
        assert!(start.elapsed() < SOON, "sentinel {id} never arrived; got {ids:?}");
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A sync test with its own actix System, so proptest's runner (and its shrinking) can
/// drive requests with `block_on` case by case.
#[test]
fn hostile_input_ingest_route_refuses_generated_malformed_bodies() {
    let system = actix_rt::System::new();
    let receiver = Receiver::start();
    let (server, webhook) = system.block_on(async {
        let server = TestServer::start(|_| {}).await;
        let webhook = id_of(&server.api.create_webhook("all", &receiver.url(HOOK)).await);
        (server, webhook)
    });
    let mut runner = TestRunner::new(config(128));
    let result = runner.run(&arb_malformed_body(), |body| {
        let res = system.block_on(server.api.request("POST", "/v1/events", Some("application/json"), Some(body)));
        assert_client_error(&res, "generated malformed body");
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    system.block_on(async {
        let ids = sentinel(&server.api, &receiver, "after-the-malformed-bodies").await;
        assert_eq!(ids, ["after-the-malformed-bodies"], "something of a refused body was stored");
        assert_eq!(server.api.batches(&webhook).await.len(), 1);
    });
}

/// What a hand-written hostile request must get.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// This status and error code.
    Error(u16, &'static str),
    /// Some 4xx in the error shape (where more than one answer is right).
    AnyClientError,
}

/// One hand-written hostile request.
struct Case {
    what: String,
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    body: Option<Vec<u8>>,
    /// Extra headers (the content type and key are sent as usual).
    headers: Vec<(&'static str, String)>,
    expect: Expect,
}

const JSON: Option<&str> = Some("application/json");
const INVALID: Expect = Expect::Error(400, "invalid_request");
const VALIDATION: Expect = Expect::Error(400, "validation_failed");
const NOT_FOUND: Expect = Expect::Error(404, "not_found");
const WRONG_METHOD: Expect = Expect::Error(405, "method_not_allowed");
const TOO_LARGE: Expect = Expect::Error(413, "payload_too_large");
const WRONG_TYPE: Expect = Expect::Error(415, "unsupported_media_type");

fn case(what: impl Into<String>, method: &'static str, path: &str, body: Option<Vec<u8>>, expect: Expect) -> Case {
    let content_type = if body.is_some() { JSON } else { None };
    Case { what: what.into(), method, path: path.to_owned(), content_type, body, headers: Vec::new(), expect }
}

fn nested_arrays(depth: usize) -> Vec<u8> {
    ["[".repeat(depth), "]".repeat(depth)].concat().into_bytes()
}

fn nested_objects(depth: usize) -> Vec<u8> {
    ["{\"a\":".repeat(depth), "1".into(), "}".repeat(depth)].concat().into_bytes()
}

/// Requests with a body, sent to each body-taking route.
fn body_cases(cases: &mut Vec<Case>, webhook_path: &str) {
    let targets =
        [("POST", "/v1/webhooks".to_owned()), ("PATCH", webhook_path.to_owned()), ("POST", "/v1/events".into())];
    for (method, path) in &targets {
        let on = |what: &str| format!("{what} on {method} {path}");
        let is_ingest = path == "/v1/events";
        // Deep, but within each route's size limit.
        let (array_depth, object_depth) = if is_ingest { (100_000, 100_000) } else { (30_000, 10_000) };
        for (what, body, expect) in [
            ("invalid UTF-8", vec![b'[', b'"', 0xff, 0xfe, b'"', b']'], INVALID),
            ("invalid UTF-8 in a string", b"{\"name\": \"\xc3\x28\"}".to_vec(), INVALID),
            ("a lone surrogate escape", br#"{"name": "\ud800"}"#.to_vec(), INVALID),
            ("empty body", vec![], INVALID),
            ("truncated JSON", b"{\"name\": \"a".to_vec(), INVALID),
            ("data after the JSON", b"{} {}".to_vec(), INVALID),
            ("NUL bytes", vec![0; 64], INVALID),
            ("deeply nested arrays", nested_arrays(array_depth), Expect::AnyClientError),
            ("deeply nested objects", nested_objects(object_depth), Expect::AnyClientError),
            ("unclosed nesting", "[".repeat(60_000).into_bytes(), Expect::AnyClientError),
        ] {
            cases.push(case(on(what), method, path, Some(body), expect));
        }
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/jsonx"),
            Some("multipart/form-data; boundary=x"),
        ] {
            let mut c =
                case(on(&format!("content type {content_type:?}")), method, path, Some(b"{}".to_vec()), WRONG_TYPE);
            c.content_type = content_type;
            cases.push(c);
        }
        let limit = if is_ingest { 10 * 1024 * 1024 } else { 64 * 1024 };
        let padding = "x".repeat(limit);
        let oversized = format!(r#"{{"name": "{padding}"}}"#).into_bytes();
        cases.push(case(on("a body over the limit"), method, path, Some(oversized), TOO_LARGE));
    }
    let big_status =
        format!(r#"[{{"status":"{}","messageId":"m","recipient":"r","timestamp":1}}]"#, "o".repeat(5 << 20));
    cases.push(case("a 5 MiB status", "POST", "/v1/events", Some(big_status.into_bytes()), VALIDATION));
    let big_key_body = json!({ "x".repeat(1 << 20): 1 }).to_string().into_bytes();
    cases.push(case("a 1 MiB field name", "POST", "/v1/events", Some(big_key_body), INVALID));
    let mut idempotency = case("a 4 KiB Idempotency-Key", "POST", "/v1/events", Some(b"[]".to_vec()), VALIDATION);
    idempotency.headers.push(("Idempotency-Key", "k".repeat(4096)));
    cases.push(idempotency);
}

/// Every webhook field with wrong types and huge values, on create and on PATCH.
fn field_cases(cases: &mut Vec<Case>, webhook_path: &str) {
    let huge = json!("x".repeat(60_000));
    let wrong: Vec<(&str, Value)> = vec![
        ("name", json!(5)),
        ("name", json!(true)),
        ("name", json!(["a"])),
        ("name", json!({ "a": 1 })),
        ("name", json!("")),
        ("name", huge.clone()),
        ("targetUrl", json!(5)),
        ("targetUrl", json!(false)),
        ("targetUrl", json!(["http://127.0.0.1/"])),
        ("targetUrl", json!({})),
        ("targetUrl", json!("not a url")),
        ("targetUrl", json!("ftp://127.0.0.1/")),
        ("targetUrl", json!("javascript:alert(1)")),
        ("targetUrl", json!(format!("http://127.0.0.1/{}", "x".repeat(60_000)))),
        ("targetUrl", json!("http://exa mple.com/")),
        ("targetUrl", json!("http://\u{1F600}.example/")),
        ("source", json!(5)),
        ("source", json!([])),
        ("source", json!("")),
        ("source", huge.clone()),
        ("events", json!("open")),
        ("events", json!(5)),
        ("events", json!({})),
        ("events", json!([1])),
        ("events", json!([null])),
        ("events", json!([["open"]])),
        ("events", json!([])),
        ("events", json!(["nope"])),
        ("events", json!([huge.clone()])),
        ("auth", json!("basic")),
        ("auth", json!(5)),
        ("auth", json!([])),
        ("auth", json!({})),
        ("auth", json!({ "type": 5 })),
        ("auth", json!({ "type": "digest" })),
        ("auth", json!({ "type": "basic" })),
        ("auth", json!({ "type": "basic", "username": 5, "password": "p" })),
        ("auth", json!({ "type": "basic", "username": "u", "password": 5 })),
        ("auth", json!({ "type": "basic", "username": "u", "password": "" })),
        ("auth", json!({ "type": "basic", "username": huge.clone(), "password": "p" })),
        ("auth", json!({ "type": "basic", "username": "u", "password": huge.clone() })),
        ("auth", json!({ "type": "none", "extra": 1 })),
        ("auth", json!({ "type": "none", "password": "p" })),
        ("auth", json!({ "type": "basic", "username": "u", "password": "p", "extra": 1 })),
        ("status", json!(true)),
        ("status", json!(1)),
        ("status", json!("paused")),
        ("status", huge),
        ("unknownField", json!(1)),
    ];
    for (field, value) in wrong {
        let shown: String = value.to_string().chars().take(40).collect();
        let mut create = json!({ "name": "n", "targetUrl": "http://127.0.0.1:9/hook" });
        create[field] = value.clone();
        let body = serde_json::to_vec(&create).unwrap();
        cases.push(case(
            format!("create with {field} = {shown}"),
            "POST",
            "/v1/webhooks",
            Some(body),
            Expect::AnyClientError,
        ));
        let body = serde_json::to_vec(&json!({ field: value })).unwrap();
        cases.push(case(format!("patch {field} = {shown}"), "PATCH", webhook_path, Some(body), Expect::AnyClientError));
    }
    for (what, body) in [
        ("an array", "[]"),
        ("a number", "5"),
        ("a string", "\"x\""),
        ("null", "null"),
        ("true", "true"),
        ("a duplicate field", r#"{"name": "a", "name": "b", "targetUrl": "http://127.0.0.1:9/"}"#),
    ] {
        cases.push(case(
            format!("create with {what}"),
            "POST",
            "/v1/webhooks",
            Some(body.into()),
            Expect::AnyClientError,
        ));
        cases.push(case(
            format!("patch with {what}"),
            "PATCH",
            webhook_path,
            Some(body.into()),
            Expect::AnyClientError,
        ));
    }
}

/// Unknown routes, wrong methods, bad query strings and bad path ids.
fn route_cases(cases: &mut Vec<Case>, webhook_id: &str) {
    let w = format!("/v1/webhooks/{webhook_id}");
    let long_id = "a".repeat(8_000);
    let routes: Vec<(&str, String, Expect)> = vec![
        ("GET", "/nope".into(), NOT_FOUND),
        ("GET", "/v1".into(), NOT_FOUND),
        ("GET", "/v1/".into(), NOT_FOUND),
        ("GET", "/v2/webhooks".into(), NOT_FOUND),
        ("GET", "/v1/webhook".into(), NOT_FOUND),
        ("GET", format!("{w}/nope"), NOT_FOUND),
        ("GET", format!("{w}/batches/x/y"), NOT_FOUND),
        ("GET", "/assets/nope.js".into(), NOT_FOUND),
        ("GET", "/%2e%2e/%2e%2e/etc/passwd".into(), NOT_FOUND),
        ("PUT", "/v1/webhooks".into(), WRONG_METHOD),
        ("DELETE", "/v1/webhooks".into(), WRONG_METHOD),
        ("PATCH", "/v1/webhooks".into(), WRONG_METHOD),
        ("PUT", w.clone(), WRONG_METHOD),
        ("POST", w.clone(), WRONG_METHOD),
        ("GET", format!("{w}/test"), WRONG_METHOD),
        ("DELETE", format!("{w}/test"), WRONG_METHOD),
        ("POST", format!("{w}/batches"), WRONG_METHOD),
        ("DELETE", format!("{w}/batches/0123456789abcdef01234567"), WRONG_METHOD),
        ("GET", "/v1/events".into(), WRONG_METHOD),
        ("PUT", "/v1/events".into(), WRONG_METHOD),
        ("DELETE", "/v1/events".into(), WRONG_METHOD),
        ("POST", "/healthz".into(), WRONG_METHOD),
        ("POST", "/".into(), WRONG_METHOD),
        ("DELETE", "/assets/app.js".into(), WRONG_METHOD),
        ("OPTIONS", "/v1/webhooks".into(), WRONG_METHOD),
        ("FROBNICATE", "/v1/webhooks".into(), WRONG_METHOD),
        ("FROBNICATE", "/nope".into(), NOT_FOUND),
        ("GET", "/v1/webhooks/wh_nope".into(), NOT_FOUND),
        ("GET", "/v1/webhooks/%ff%fe".into(), Expect::AnyClientError),
        ("GET", "/v1/webhooks/%00".into(), Expect::AnyClientError),
        ("GET", "/v1/webhooks/%E2%9C%93".into(), NOT_FOUND),
        ("GET", "/v1/webhooks/..%2F..%2Fhealthz".into(), Expect::AnyClientError),
        ("GET", "/v1/webhooks/'%20OR%201=1--".into(), NOT_FOUND),
        ("GET", format!("/v1/webhooks/{long_id}"), NOT_FOUND),
        ("PATCH", "/v1/webhooks/wh_nope".into(), NOT_FOUND),
        ("DELETE", "/v1/webhooks/wh_nope".into(), NOT_FOUND),
        ("POST", "/v1/webhooks/wh_nope/test".into(), NOT_FOUND),
        ("GET", "/v1/webhooks/wh_nope/batches".into(), NOT_FOUND),
        ("GET", "/v1/webhooks/wh_nope/batches/0123456789abcdef01234567".into(), NOT_FOUND),
        ("GET", format!("{w}/batches/nope"), NOT_FOUND),
        ("GET", format!("{w}/batches/0123456789abcdef01234567"), NOT_FOUND),
        ("GET", format!("{w}/batches/%ff"), Expect::AnyClientError),
        ("GET", format!("{w}/batches/{long_id}"), NOT_FOUND),
    ];
    for (method, path, expect) in routes {
        let shown: String = path.chars().take(60).collect();
        let body = (method == "PATCH").then(|| b"{}".to_vec());
        cases.push(case(format!("{method} {shown}"), method, &path, body, expect));
    }
    for query in [
        "limit=0",
        "limit=1001",
        "limit=-1",
        "limit=abc",
        "limit=1.5",
        "limit=",
        "limit=99999999999999999999999",
        "limit=%ff",
        "limit=1&limit=2",
        "cursor=abc",
        "cursor=-",
        "cursor=99999999999999999999999",
        "cursor=%00",
        "status=nope",
        "status=",
        "status=SUCCESS",
        "unknown=1",
        "%zz=1",
        "limit[]=1",
        "status=success&status=failed",
    ] {
        let path = format!("{w}/batches?{query}");
        cases.push(case(format!("batch listing ?{query}"), "GET", &path, None, Expect::AnyClientError));
    }
}

#[actix_rt::test]
async fn hostile_input_hand_written_requests_get_4xx_json_on_every_route() {
    let receiver = Receiver::start();
    let server = TestServer::start(|_| {}).await;
    let api = &server.api;
    let webhook = api.create_webhook("target", &receiver.url(HOOK)).await;
    let id = id_of(&webhook);
    let webhook_path = format!("/v1/webhooks/{id}");

    let mut cases = Vec::new();
    body_cases(&mut cases, &webhook_path);
    field_cases(&mut cases, &webhook_path);
    route_cases(&mut cases, &id);
    for c in &cases {
        let res = if c.headers.is_empty() {
            api.request(c.method, &c.path, c.content_type, c.body.clone()).await
        } else {
            let mut headers: Vec<(&str, &str)> = c.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            headers.extend(c.content_type.map(|ct| ("Content-Type", ct)));
            api.request_with_headers(c.method, &c.path, &headers, c.body.clone().unwrap_or_default()).await
        };
        match c.expect {
            Expect::Error(status, code) => assert_error(&res, status, code, &c.what),
            Expect::AnyClientError => assert_client_error(&res, &c.what),
        }
    }

    // Nothing of it was stored or changed.
    assert_eq!(api.get(&webhook_path).await.body, webhook, "the webhook changed");
    assert_eq!(api.get("/v1/webhooks").await.body, json!({ "data": [webhook] }), "a webhook was created");
    let ids = sentinel(api, &receiver, "after-the-hostile-requests").await;
    assert_eq!(ids, ["after-the-hostile-requests"], "something of a refused request was stored");
    assert_eq!(api.batches(&id).await.len(), 1);
}

#[actix_rt::test]
async fn hostile_input_deep_nesting_inside_a_valid_event_is_kept_verbatim() {
    // Nesting is only skipped over, never built, so it cannot exhaust the stack; the
    // event is opaque data and is delivered exactly as sent.
    let receiver = Receiver::start();
    let server = TestServer::start(|_| {}).await;
    server.api.create_webhook("all", &receiver.url(HOOK)).await;
    let deep = String::from_utf8(nested_arrays(100_000)).unwrap();
    let text = format!(r#"{{"status":"open","messageId":"deep","recipient":"r","timestamp":1,"x":{deep}}}"#);
    let res =
        server.api.request("POST", "/v1/events", Some("application/json"), Some(format!("[{text}]").into())).await;
    assert_eq!((res.status, &res.body), (202, &json!({ "accepted": 1 })), "{}", res.text);
    let delivered = receiver.wait_for_path_async(HOOK, 1, SOON).await;
    let body = delivered[0].text();
    assert!(body.ends_with(&format!(r#","events":[{text}]}}"#)), "the event was not delivered verbatim");
}

/// Sends `method path` with a `Content-Length` of `declared` but only one byte of body,
/// then returns the status and JSON body of the answer (raw TCP: an HTTP client would
/// not lie about the length). Panics if no complete answer comes within 5 s.
fn declared_but_not_sent(address: &str, method: &str, path: &str, declared: usize) -> (u16, Value) {
    use std::io::{Read, Write};
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n[",
        crate::support::TEST_API_KEY
    );
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(head.as_bytes()).expect("send");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok());
            if length.is_some_and(|n| body.len() >= n) {
                let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                return (status, serde_json::from_str(body).unwrap_or(Value::Null));
            }
        }
        match stream.read(&mut buf) {
            Ok(0) => panic!("{method} {path}: connection closed; got {text:?}"),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) => panic!("{method} {path}: no answer to a body declared {declared} bytes ({e}); got {text:?}"),
        }
    }
}

#[actix_rt::test]
async fn hostile_input_a_body_declared_too_large_is_refused_before_it_is_sent() {
    let server = TestServer::start(|_| {}).await;
    let webhook = id_of(&server.api.create_webhook("target", "http://127.0.0.1:9/hook").await);
    for (method, path, declared) in [
        ("POST", "/v1/events".to_owned(), 10 * 1024 * 1024 + 1),
        ("POST", "/v1/events".to_owned(), 1 << 40),
        ("POST", "/v1/webhooks".to_owned(), 64 * 1024 + 1),
        ("PATCH", format!("/v1/webhooks/{webhook}"), 64 * 1024 + 1),
    ] {
        let address = server.api.url("").trim_start_matches("http://").to_owned();
        let (status, body) = actix_rt::task::spawn_blocking({
            let (method, path) = (method.to_owned(), path.clone());
            move || declared_but_not_sent(&address, &method, &path, declared)
        })
        .await
        .expect("raw request");
        assert_eq!((status, &body["error"]["code"]), (413, &json!("payload_too_large")), "{method} {path}: {body}");
    }
}
