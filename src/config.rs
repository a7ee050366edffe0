//! The engine's settings as a plain struct. An embedding service builds it in code
//! (`Config::default()` and then the fields it cares about); the `mailhooks` binary fills it
//! from flags and environment variables. Nothing here is global.

use std::path::PathBuf;
use std::time::Duration;

/// Everything the engine needs to know to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite://PATH` (the embedded default) or `postgres://…`.
    pub database_url: String,
    /// `smtp://host:port`, `smtp://host:port?tls=starttls` or `smtps://user:pass@host:465`;
    /// `None` writes each email as an `.eml` file into `mail_dir`.
    pub smtp_url: Option<String>,
    /// Where emails go when no SMTP URL is set.
    pub mail_dir: PathBuf,
    /// Sender of notification emails.
    pub mail_from: String,
    /// The wait before each retry of a failed batch; its length is the number of retries.
    pub retry_schedule: Vec<Duration>,
    /// How long a failing webhook may stay unfixed after its failure email before it is
    /// disabled.
    pub disable_after: Duration,
    /// The most events in one batch.
    pub batch_max_events: usize,
    /// The longest time the first event of a batch waits for more.
    pub batch_linger: Duration,
    /// Whole-request limit for one delivery attempt.
    pub delivery_timeout: Duration,
    /// Allow target URLs on loopback, private or link-local addresses.
    pub allow_private_targets: bool,
    /// At start, make sure an account `default` with this API key exists.
    pub bootstrap_api_key: Option<String>,
    /// Notification email of the bootstrap account.
    pub bootstrap_email: String,
    /// How many deliveries one webhook may have in flight at once.
    pub max_in_flight_per_webhook: usize,
    /// The passphrase that seals stored basic-auth passwords; `None` keeps a random key in
    /// a file beside the database (`<database file>.key`).
    pub secret_key: Option<String>,
    /// How long a database write waits for a lock held by another process before ingest
    /// gives up with 503.
    pub database_busy_timeout: Duration,
    /// How many arbiters (threads) run webhook actors; 0 means one per core.
    pub worker_threads: usize,
    /// The wait before the first retry of an email the mail server refused; it doubles
    /// with each try, up to five minutes.
    pub mail_retry_base: Duration,
    /// How often the registry checks that every webhook actor is alive.
    pub supervision_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://mailhooks.db".into(),
            smtp_url: None,
            mail_dir: PathBuf::from("./mail-outbox"),
            mail_from: "mailhooks@localhost".into(),
            retry_schedule: DEFAULT_RETRY_SCHEDULE.iter().map(|s| Duration::from_secs(*s)).collect(),
            disable_after: Duration::from_secs(7 * 3600),
            batch_max_events: 500,
            batch_linger: Duration::from_secs(1),
            delivery_timeout: Duration::from_secs(10),
            allow_private_targets: false,
            bootstrap_api_key: None,
            bootstrap_email: "admin@localhost".into(),
            max_in_flight_per_webhook: 4,
            secret_key: None,
            database_busy_timeout: Duration::from_secs(5),
            worker_threads: 0,
            mail_retry_base: Duration::from_secs(1),
            supervision_interval: Duration::from_secs(1),
        }
    }
}

/// `30s,2m,5m,10m,30m,1h,2h` in seconds.
const DEFAULT_RETRY_SCHEDULE: [u64; 7] = [30, 120, 300, 600, 1800, 3600, 7200];

/// A setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {setting}: {message}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub message: String,
}

impl Config {
    /// Checks the settings that no type can: call once before starting the engine.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |setting, message: &str| Err(ConfigError { setting, message: message.into() });
        if self.batch_max_events == 0 {
            return fail("batch-max-events", "must be at least 1");
        }
        if self.delivery_timeout.is_zero() {
            return fail("delivery-timeout", "must be longer than 0");
        }
        if self.max_in_flight_per_webhook == 0 {
            return fail("max-in-flight-per-webhook", "must be at least 1");
        }
        if self.mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return fail("mail-from", "is not an email address");
        }
        if self.bootstrap_email.parse::<lettre::message::Mailbox>().is_err() {
            return fail("bootstrap-email", "is not an email address");
        }
        if let Some(url) = &self.smtp_url {
            crate::mail::validate_smtp_url(url)?;
        }
        if self.supervision_interval.is_zero() {
            return fail("supervision-interval", "must be longer than 0");
        }
        if self.secret_key.as_ref().is_some_and(|k| k.len() < 16) {
            return fail("secret-key", "must be at least 16 characters");
        }
        if let Some(key) = &self.bootstrap_api_key {
            if key.len() < 16 {
                return fail("bootstrap-api-key", "must be at least 16 characters");
            }
        }
        Ok(())
    }

    /// The number of webhook arbiters to start.
    pub fn effective_worker_threads(&self) -> usize {
        if self.worker_threads > 0 {
            self.worker_threads
        } else {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
        }
    }
}

/// Parses a duration written `250ms`, `30s`, `2m`, `1h` or `1d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split =
        text.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| format!("{text:?} needs a unit: ms, s, m, h or d"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("{text:?} must start with a whole number"))?;
    let millis_per_unit = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{text:?} has unknown unit {unit:?}; use ms, s, m, h or d")),
    };
    n.checked_mul(millis_per_unit).map(Duration::from_millis).ok_or_else(|| format!("{text:?} is too long"))
}

/// Parses a comma-separated list of durations, e.g. `30s,2m,5m`.
pub fn parse_duration_list(text: &str) -> Result<Vec<Duration>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    text.split(',').map(parse_duration).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7h"), Ok(Duration::from_secs(7 * 3600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        for bad in ["", "30", "s", "1.5s", "-1s", "3 weeks", "10x"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_default_schedule_is_seven_retries() {
        let parsed = parse_duration_list("30s,2m,5m,10m,30m,1h,2h").unwrap();
        assert_eq!(parsed, Config::default().retry_schedule);
        assert_eq!(parsed.len(), 7);
    }

    #[test]
    fn validation_names_the_setting() {
        let config = Config { batch_max_events: 0, ..Config::default() };
        assert_eq!(config.validate().unwrap_err().setting, "batch-max-events");
        assert!(Config::default().validate().is_ok());
    }
}
