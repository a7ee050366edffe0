//! Errors (issue 2, item 11): unknown routes, wrong methods, absurdly nested JSON and a
//! table of malformed requests all get a 4xx in the contract's JSON error shape — never a
//! 5xx, never a plain-text or HTML body — and the server keeps serving afterwards.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::json;

use crate::checks::{assert_client_error, assert_error, id_of};
use crate::support::{event, TestServer};

#[actix_rt::test]
async fn unknown_routes_are_a_json_404() {
    let server = TestServer::start(|_| {}).await;
    let webhook = id_of(&server.api.create_webhook("x", "https://example.com/").await);
    for path in [
        "/nope",
        "/v1",
        "/v1/",
        "/v1/nope",
        "/v2/webhooks",
        "/v1/webhooks/x/y/z",
        &format!("/v1/webhooks/{webhook}/batches/0123456789abcdef01234567/attempts"),
        &format!("/v1/webhooks/{webhook}/tests"),
        "/healthz/deep",
    ] {
        for api in [server.api.clone(), server.api.with_key(None)] {
            let res = api.get(path).await;
            assert!(matches!(res.status, 401 | 404), "{path}: {} {}", res.status, res.text);
            assert_error(&res, res.status, res.error_code().unwrap_or("?"), path);
        }
        assert_error(&server.api.get(path).await, 404, "not_found", path);
        assert_error(&server.api.post(path, &json!({})).await, 404, "not_found", path);
    }
}

#[actix_rt::test]
async fn a_wrong_method_on_a_known_route_is_a_json_4xx() {
    let server = TestServer::start(|_| {}).await;
    let webhook = id_of(&server.api.create_webhook("x", "https://example.com/").await);
    for (method, path) in [
        ("PUT", "/v1/webhooks".to_owned()),
        ("DELETE", "/v1/webhooks".to_owned()),
        ("PATCH", "/v1/webhooks".to_owned()),
        ("PUT", format!("/v1/webhooks/{webhook}")),
        ("POST", format!("/v1/webhooks/{webhook}")),
        ("GET", format!("/v1/webhooks/{webhook}/test")),
        ("DELETE", format!("/v1/webhooks/{webhook}/batches")),
        ("POST", format!("/v1/webhooks/{webhook}/batches/0123456789abcdef01234567")),
        ("GET", "/v1/events".to_owned()),
        ("DELETE", "/v1/events".to_owned()),
        ("POST", "/healthz".to_owned()),
        ("OPTIONS", "/v1/webhooks".to_owned()),
    ] {
        let what = format!("{method} {path}");
        let res = server.api.request(method, &path, None, None).await;
        assert_client_error(&res, &what);
        assert_ne!(res.status, 404, "{what}: the route exists");
    }
    // Nothing was changed by any of them.
    assert_eq!(server.api.get(&format!("/v1/webhooks/{webhook}")).await.status, 200);
}

#[actix_rt::test]
async fn deeply_nested_json_is_a_json_400() {
    let server = TestServer::start(|_| {}).await;
    let webhook = id_of(&server.api.create_webhook("x", "https://example.com/").await);
    let deep = "[".repeat(100_000);
    let deep_closed = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000));
    let in_an_event =
        format!(r#"[{{"status":"open","messageId":"m","recipient":"r","timestamp":1,"x":{}}}]"#, deep_closed.clone());
    let enveloped = format!(r#"{{"events":{deep_closed}}}"#);
    // Management bodies are limited to 64 KiB, so their nesting stays under that.
    let shallower = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    let shallower_object = format!("{}1{}", "{\"a\":".repeat(8_000), "}".repeat(8_000));
    for (path, method, body) in [
        ("/v1/events", "POST", deep.clone()),
        ("/v1/events", "POST", deep_closed.clone()),
        ("/v1/events", "POST", deep_object.clone()),
        ("/v1/events", "POST", enveloped),
        ("/v1/webhooks", "POST", shallower.clone()),
        ("/v1/webhooks", "POST", "[".repeat(60_000)),
        ("/v1/webhooks", "POST", format!(r#"{{"name":"x","targetUrl":"https://a.example","events":{shallower}}}"#)),
        (&format!("/v1/webhooks/{webhook}"), "PATCH", shallower_object),
    ] {
        let what = format!("{method} {path} with {} bytes of nesting", body.len());
        let res = server.api.request(method, path, Some("application/json"), Some(body.into_bytes())).await;
        assert_error(&res, 400, res.error_code().unwrap_or("?"), &what);
    }
    // Deep nesting inside an event's own fields is valid JSON that the engine never
    // parses: it may be kept verbatim or refused, but not answered with a 5xx.
    let res = server.api.request("POST", "/v1/events", Some("application/json"), Some(in_an_event.into_bytes())).await;
    assert!(matches!(res.status, 202 | 400), "nesting inside an event: {} {}", res.status, res.text);
    assert_eq!(server.api.get("/healthz").await.status, 200, "still serving");
}

#[actix_rt::test]
async fn no_malformed_request_gets_a_5xx_or_a_non_json_error() {
    let server = TestServer::start(|_| {}).await;
    let api = &server.api;
    let webhook = id_of(&api.create_webhook("x", "https://example.com/").await);
    let one = format!("/v1/webhooks/{webhook}");
    let batches = format!("{one}/batches");
    let json = Some("application/json");
    let long_name = format!(r#"{{"name":"{}","targetUrl":"https://a.example"}}"#, "n".repeat(70 * 1024));
    let big_number = r#"[{"status":"open","messageId":"m","recipient":"r","timestamp":99999999999999999999999}]"#;
    let huge_exponent = r#"[{"status":"open","messageId":"m","recipient":"r","timestamp":1e400}]"#;
    let negative = r#"[{"status":"open","messageId":"m","recipient":"r","timestamp":-1}]"#;
    let cases: Vec<(&str, String, Option<&str>, Vec<u8>)> = vec![
        ("POST", "/v1/webhooks".to_owned(), json, b"{".to_vec()),
        ("POST", "/v1/webhooks".to_owned(), json, b"null".to_vec()),
        ("POST", "/v1/webhooks".to_owned(), json, b"[]".to_vec()),
        ("POST", "/v1/webhooks".to_owned(), json, b"\"webhook\"".to_vec()),
        ("POST", "/v1/webhooks".to_owned(), json, b"".to_vec()),
        ("POST", "/v1/webhooks".to_owned(), json, b"{}{}".to_vec()),
        ("POST", "/v1/webhooks".to_owned(), json, br#"{"name":5,"targetUrl":"https://a.example"}"#.to_vec()),
        ("POST", "/v1/webhooks".to_owned(), json, br#"{"name":"x","targetUrl":["https://a.example"]}"#.to_vec()),
        (
            "POST",
            "/v1/webhooks".to_owned(),
            json,
            br#"{"name":"x","targetUrl":"https://a.example","events":[1]}"#.to_vec(),
        ),
        (
            "POST",
            "/v1/webhooks".to_owned(),
            json,
            br#"{"name":"x","targetUrl":"https://a.example","auth":"basic"}"#.to_vec(),
        ),
        (
            "POST",
            "/v1/webhooks".to_owned(),
            json,
            br#"{"name":"x","targetUrl":"https://a.example","auth":{}}"#.to_vec(),
        ),
        (
            "POST",
            "/v1/webhooks".to_owned(),
            json,
            br#"{"name":"x","targetUrl":"https://a.example","auth":{"type":"basic","username":"u","password":7}}"#
                .to_vec(),
        ),
        (
            "POST",
            "/v1/webhooks".to_owned(),
            json,
            br#"{"name":"x","targetUrl":"https://a.example","source":""}"#.to_vec(),
        ),
        (
            "POST",
            "/v1/webhooks".to_owned(),
            json,
            br#"{"name":"x","name":"y","targetUrl":"https://a.example"}"#.to_vec(),
        ),
        ("POST", "/v1/webhooks".to_owned(), json, br#"{"name":"x","targetUrl":"http://[::1"}"#.to_vec()),
        ("POST", "/v1/webhooks".to_owned(), json, br#"{"name":"x","targetUrl":"http://exa mple.com/"}"#.to_vec()),
        ("POST", "/v1/webhooks".to_owned(), json, br#"{"name":"x","targetUrl":"https://user:pw@a.example/"}"#.to_vec()),
        (
            "POST",
            "/v1/webhooks".to_owned(),
            json,
            b"{\"name\":\"\xff\xfe\",\"targetUrl\":\"https://a.example\"}".to_vec(),
        ),
        ("POST", "/v1/webhooks".to_owned(), json, long_name.into_bytes()),
        (
            "POST",
            "/v1/webhooks".to_owned(),
            Some("text/plain"),
            br#"{"name":"x","targetUrl":"https://a.example"}"#.to_vec(),
        ),
        ("POST", "/v1/webhooks".to_owned(), None, br#"{"name":"x","targetUrl":"https://a.example"}"#.to_vec()),
        ("POST", "/v1/webhooks".to_owned(), Some("application/jsonx"), b"{}".to_vec()),
        ("PATCH", one.clone(), json, b"{".to_vec()),
        ("PATCH", one.clone(), json, b"[]".to_vec()),
        ("PATCH", one.clone(), json, br#"{"status":true}"#.to_vec()),
        ("PATCH", one.clone(), json, br#"{"id":"wh_other"}"#.to_vec()),
        ("PATCH", one.clone(), Some("text/plain"), br#"{"name":"y"}"#.to_vec()),
        ("PATCH", "/v1/webhooks/wh_nope".to_owned(), json, b"{".to_vec()),
        ("POST", "/v1/events".to_owned(), json, b"{".to_vec()),
        ("POST", "/v1/events".to_owned(), json, b"[1,2,3]".to_vec()),
        ("POST", "/v1/events".to_owned(), json, b"[{}]".to_vec()),
        ("POST", "/v1/events".to_owned(), json, b"{\"events\":null}".to_vec()),
        ("POST", "/v1/events".to_owned(), json, big_number.as_bytes().to_vec()),
        ("POST", "/v1/events".to_owned(), json, huge_exponent.as_bytes().to_vec()),
        ("POST", "/v1/events".to_owned(), json, negative.as_bytes().to_vec()),
        ("POST", "/v1/events".to_owned(), json, b"\xef\xbb\xbf[]".to_vec()),
        ("POST", "/v1/events".to_owned(), json, b"\x00".to_vec()),
        ("GET", "/v1/webhooks/%ff".to_owned(), None, Vec::new()),
        ("GET", "/v1/webhooks/%00/batches".to_owned(), None, Vec::new()),
        ("GET", format!("{batches}?limit=%ff"), None, Vec::new()),
        ("GET", format!("{batches}?limit=1&limit=2"), None, Vec::new()),
        ("GET", format!("{batches}?limit=99999999999999999999999"), None, Vec::new()),
        ("GET", format!("{batches}?cursor=-1x"), None, Vec::new()),
        ("GET", format!("{batches}?cursor=99999999999999999999999"), None, Vec::new()),
        ("GET", format!("{batches}?status="), None, Vec::new()),
        ("GET", format!("{batches}?unknown=1"), None, Vec::new()),
        ("GET", format!("{batches}/%ff"), None, Vec::new()),
    ];
    for (method, path, content_type, body) in cases {
        let what =
            format!("{method} {path} ({content_type:?}, {:?})", String::from_utf8_lossy(&body[..body.len().min(60)]));
        let res = api.request(method, &path, content_type, Some(body)).await;
        assert_client_error(&res, &what);
    }

    // Headers: odd API keys, and a body that claims to be gzip but is not.
    let long_key = "k".repeat(8 * 1024);
    for key in ["", " ", "Bearer", "x y z", long_key.as_str(), "ü"] {
        let res = api.with_key(Some(key)).get("/v1/webhooks").await;
        assert_error(&res, 401, "unauthorized", &format!("key {:?}", &key[..key.len().min(20)]));
    }
    let res = api
        .request_with_headers(
            "POST",
            "/v1/events",
            &[("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
            b"this is not gzip".to_vec(),
        )
        .await;
    assert_client_error(&res, "a body that is not the gzip it claims to be");
    let res = api
        .request_with_headers(
            "POST",
            "/v1/events",
            &[("Content-Type", "application/json"), ("Content-Encoding", "br-or-something")],
            serde_json::to_vec(&json!([event("open", "enc")])).unwrap(),
        )
        .await;
    assert!(res.status < 500, "an unknown content encoding: {} {}", res.status, res.text);
    if res.status >= 400 {
        assert_client_error(&res, "an unknown content encoding");
    }

    // After all that, the server still works and nothing was created or changed.
    let list = api.get("/v1/webhooks").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1, "{}", list.text);
    assert_eq!(list.body["data"][0]["name"], "x");
}

/// Requests so broken that the HTTP layer refuses them before any route runs. Those
/// answers come from actix-web's HTTP/1 codec, which the application cannot shape; the
/// contract's promise that matters most — no 5xx — is checked here.
#[actix_rt::test]
async fn broken_http_never_gets_a_5xx() {
    let server = TestServer::start(|_| {}).await;
    let address = server.api.url("").trim_start_matches("http://").to_owned();
    let huge_header = format!("GET /v1/webhooks HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(64 * 1024));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage request line", b"GARBAGE\r\n\r\n".to_vec()),
        ("bad header byte", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n".to_vec()),
        ("huge header", huge_header.into_bytes()),
        (
            "content-length mismatch",
            b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n[]"
                .to_vec(),
        ),
    ];
    for (what, raw) in cases {
        let address = address.clone();
        let status = actix_rt::task::spawn_blocking(move || {
            let mut stream = TcpStream::connect(&address).expect("connect");
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = stream.write_all(&raw);
            let mut answer = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 || answer.len() > 64 * 1024 {
                    break;
                }
                answer.extend_from_slice(&buf[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let text = String::from_utf8_lossy(&answer).into_owned();
            text.split(' ').nth(1).and_then(|s| s.parse::<u16>().ok())
        })
        .await
        .unwrap();
        if let Some(status) = status {
            assert!(status < 500, "{what}: answered {status}");
        }
    }
    assert_eq!(server.api.get("/healthz").await.status, 200, "still serving");
}
