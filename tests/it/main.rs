//! The integration tests: one binary, one module per area, all against real parts — the
//! engine on a real SQLite file, real HTTP receivers and a real SMTP listener on 127.0.0.1.

mod support;

mod database_trouble;
mod idempotency;
mod secrets;
mod smoke;

mod batch_ranges;
mod batch_status;
mod checks;
mod crash;
mod delivery;
mod embedding;
mod errors;
mod failure_isolation;
mod failure_path;
mod failure_restart;
mod failure_supervision;
mod graceful_stop;
mod hostile_endpoints;
mod hostile_input;
mod ingest;
mod restart;
mod ssrf;
mod tenants;
mod test_batch;
mod upgrade;
mod webhooks_api;
