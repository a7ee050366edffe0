//! mailhooks: a webhook delivery engine for an email-sending platform.
//!
//! It takes the platform's email events (injection, delivery, open, click, delay, bounce,
//! spam_complaint, link_unsubscribe, list_unsubscribe), batches them per customer webhook,
//! POSTs each batch to the customer's endpoint with the auth they chose, records every
//! batch and attempt, and retries failures.
//!
//! The crate is a library first: a host actix service starts an [`Engine`] inside its own
//! System and mounts the API with `App::new().configure(|cfg| engine.configure(cfg))`;
//! the `mailhooks` binary is a thin CLI over the same calls.
//!
//! # Layout
//! - [`config`]: the plain settings struct and duration parsing.
//! - [`engine`]: start-up, the HTTP server, ingest and the handle a host keeps.
//! - [`model`]: domain types that validate at the edge (event types, ids, target URLs).
//! - [`db`]: durable state — plain functions over a connection, one writer thread with
//!   group commit, embedded migrations.
//! - [`actors`]: the registry and one actor per webhook (buffer, batches, retries).
//! - [`delivery`]: the HTTP client with its SSRF guard, the batch body, retry timing.
//! - [`http`]: the management API routes, grouped by resource.
//! - [`error`]: the API's one error type and its JSON shape.
//! - [`testbatch`]: "Send Test Batch".

#![forbid(unsafe_code)]

pub mod actors;
pub mod cli;
pub mod config;
pub mod db;
pub mod delivery;
pub mod engine;
pub mod error;
pub mod http;
pub mod mail;
pub mod model;
pub mod secrets;
pub mod testbatch;

pub use config::Config;
pub use engine::{Engine, StartError};
pub use error::Error;
