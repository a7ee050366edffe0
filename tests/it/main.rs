//! The integration tests: one binary, one module per area, all against real parts — the
//! engine on a real SQLite file, real HTTP receivers and a real SMTP listener on 127.0.0.1.

mod support;

mod idempotency;
mod secrets;
mod database_trouble;
mod smoke;

mod checks;
mod failure_path;
mod failure_restart;
mod webhooks_api;
mod ingest;
mod delivery;
mod batch_status;
mod test_batch;
mod restart;
mod hostile_endpoints;
mod hostile_input;
mod ssrf;
mod tenants;
mod errors;
mod embedding;
mod crash;
mod graceful_stop;
