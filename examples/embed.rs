//! Embedding mailhooks in a host actix-web service: the engine starts inside the host's
//! System, its API is mounted under the host's app next to the host's own routes, and the
//! host ingests events directly through the library.
//!
//! Run with `cargo run --example embed`, then e.g. `curl localhost:8090/hello` and
//! `curl localhost:8090/healthz`.

use actix_web::{web, App, HttpResponse, HttpServer};
use mailhooks::{Config, Engine};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::init();
    let config = Config {
        database_url: "sqlite://embedded-mailhooks.db".into(),
        bootstrap_api_key: Some("example-host-key-0123456789".into()),
        ..Config::default()
    };
    let engine = Engine::start(config).await.map_err(|e| std::io::Error::other(e.to_string()))?;

    let api = engine.clone();
    HttpServer::new(move || {
        let api = api.clone();
        App::new()
            .route("/hello", web::get().to(|| async { HttpResponse::Ok().body("the host's own route") }))
            .configure(move |cfg| api.configure(cfg))
    })
    .bind(("127.0.0.1", 8090))?
    .run()
    .await?;

    engine.drain(std::time::Duration::from_secs(10)).await;
    Ok(())
}
