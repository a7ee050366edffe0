//! Embedding (issue 2, item 12): a host actix-web app starts the engine inside its own
//! System, mounts the API with `.configure(...)` next to its own routes, and ingests events
//! through the library; the host's route, the mounted API and delivery all work.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::{test as actix_test, web, App, HttpResponse, HttpServer};
use mailhooks::model::parse_ingest_body;
use mailhooks::Engine;
use serde_json::{json, Value};

use crate::checks::{all_message_ids, id_of, wait_newest_batch};
use crate::support::{event, test_config, Api, Receiver, TEST_API_KEY};

async fn start_engine(dir: &std::path::Path) -> Engine {
    Engine::start(test_config(dir)).await.expect("the engine starts inside the test's System")
}

#[actix_rt::test]
async fn a_host_app_serves_its_own_routes_and_the_mounted_api() {
    let dir = tempfile::tempdir().unwrap();
    let engine = start_engine(dir.path()).await;
    let receiver = Receiver::start();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mounted = engine.clone();
    let server = HttpServer::new(move || {
        let mounted = mounted.clone();
        App::new()
            .route("/host/hello", web::get().to(|| async { HttpResponse::Ok().json(json!({ "host": "hello" })) }))
            .configure(move |cfg| mounted.configure(cfg))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_rt::spawn(server);

    let api = Api::new(&base, TEST_API_KEY);
    let hello = api.with_key(None).get("/host/hello").await;
    assert_eq!((hello.status, hello.body), (200, json!({ "host": "hello" })));
    let health = api.with_key(None).get("/healthz").await;
    assert_eq!((health.status, health.body), (200, json!({ "status": "ok" })));
    let webhook = id_of(&api.create_webhook("embedded", &receiver.url("/hook")).await);
    assert_eq!(api.get("/v1/webhooks").await.body["data"][0]["id"], webhook.as_str());
    // The API's own JSON 404 still answers unknown paths under the host.
    assert_eq!(api.get("/v1/nope").await.error_code(), Some("not_found"));

    // Through the HTTP API...
    api.ingest(&json!([event("open", "via-http")])).await;
    let got = receiver.wait_for_count_async(1, Duration::from_secs(10)).await;
    assert_eq!(all_message_ids(&got), ["via-http"]);

    // ...and through the library, as a host would from its own code.
    let account = engine.authenticate(TEST_API_KEY).await.expect("the test key's account");
    let body = serde_json::to_vec(&json!([event("click", "via-library-1"), event("bounce", "via-library-2")])).unwrap();
    let events = parse_ingest_body(&body).expect("valid events");
    assert_eq!(engine.ingest(&account, events).await.expect("ingest"), 2);
    let got = receiver.wait_for_count_async(2, Duration::from_secs(10)).await;
    assert_eq!(all_message_ids(&got[1..]), ["via-library-1", "via-library-2"]);
    let batch = wait_newest_batch(&api, &webhook, "success", Duration::from_secs(10)).await;
    assert_eq!(batch["eventCount"], 2);

    assert!(engine.authenticate("not-a-key-at-all-000").await.is_err());
    handle.stop(true).await;
    engine.drain(Duration::from_secs(5)).await;
}

#[actix_rt::test]
async fn the_api_mounts_on_a_test_service_too() {
    let dir = tempfile::tempdir().unwrap();
    let engine = start_engine(dir.path()).await;
    let mounted = engine.clone();
    let app = actix_test::init_service(
        App::new()
            .route("/host", web::get().to(|| async { HttpResponse::Ok().body("host") }))
            .configure(move |cfg| mounted.configure(cfg)),
    )
    .await;
    let req = actix_test::TestRequest::get().uri("/host").to_request();
    assert_eq!(actix_test::call_and_read_body(&app, req).await, "host");

    let req = actix_test::TestRequest::post()
        .uri("/v1/webhooks")
        .insert_header(("Authorization", format!("Bearer {TEST_API_KEY}")))
        .set_json(json!({ "name": "in a test service", "targetUrl": "https://example.com/hook" }))
        .to_request();
    let res = actix_test::call_service(&app, req).await;
    assert_eq!(res.status(), 201);
    let created: Value = actix_test::read_body_json(res).await;
    assert_eq!(created["source"], "all");

    let req = actix_test::TestRequest::get().uri("/v1/webhooks").to_request();
    let res = actix_test::call_service(&app, req).await;
    assert_eq!(res.status(), 401, "the mounted API still needs a key");
}
