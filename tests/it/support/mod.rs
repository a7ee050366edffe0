//! Shared support for the integration tests: a real HTTP webhook receiver
//! ([`receiver`]), a tiny real SMTP server ([`smtp`]) and a polling helper.
//!
//! Not every test binary uses every helper, hence the `allow`.
#![allow(dead_code, unused_imports)]

pub mod receiver;
pub mod server;
pub mod smtp;

pub use receiver::{refused_url, Behaviour, Received, Receiver};
pub use server::{event, test_config, Api, Response, ServerProcess, TestServer, TEST_API_KEY};
pub use smtp::{ReceivedMail, SmtpServer};

use std::time::{Duration, Instant};

/// Poll `f` every 10ms until it returns `true`; panic naming `what` if it
/// has not after `timeout`. Blocks the calling thread (std::thread::sleep).
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool, what: &str) {
    let start = Instant::now();
    loop {
        if f() {
            return;
        }
        if start.elapsed() >= timeout {
            panic!("timed out after {timeout:?} waiting until {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
