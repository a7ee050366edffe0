//! Getting a batch to a customer's endpoint: the request body (`payload`), the HTTP
//! client with its outbound-address guard (`client`, `guard`), and the retry timing
//! (`retry`). A failed delivery is data — an [`Outcome`] recorded with the attempt — not
//! an error that unwinds anything.

pub mod client;
pub mod guard;
pub mod payload;
pub mod retry;

pub use client::{deliver, AttemptResult, DeliveryOptions, Outcome};
