//! Customer emails: how they are sent (SMTP from `--smtp-url`, or `.eml` files in
//! `--mail-dir` when no SMTP server is configured) and what they say.

use std::path::Path;
use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::ConfigError;
use crate::model::{format_millis, Millis, Webhook};

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// Where emails go.
pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>),
}

fn invalid(message: impl Into<String>) -> ConfigError {
    ConfigError { setting: "smtp-url", message: message.into() }
}

impl Mailer {
    /// SMTP when `smtp_url` is set, otherwise `.eml` files in `mail_dir`.
    pub fn new(smtp_url: Option<&str>, mail_dir: &Path) -> Result<Mailer, ConfigError> {
        match smtp_url {
            Some(url) => Ok(Mailer::Smtp(smtp_transport(url)?)),
            None => {
                std::fs::create_dir_all(mail_dir).map_err(|e| ConfigError {
                    setting: "mail-dir",
                    message: format!("cannot create {}: {e}", mail_dir.display()),
                })?;
                Ok(Mailer::Files(AsyncFileTransport::new(mail_dir)))
            }
        }
    }

    /// Sends one email; the error is for a person (it never contains credentials).
    pub async fn send(&self, message: Message) -> Result<(), String> {
        match self {
            Mailer::Smtp(transport) => transport.send(message).await.map(drop).map_err(|e| e.to_string()),
            Mailer::Files(transport) => transport.send(message).await.map(drop).map_err(|e| e.to_string()),
        }
    }
}

/// Checks an SMTP URL without connecting anywhere.
pub fn validate_smtp_url(url: &str) -> Result<(), ConfigError> {
    smtp_transport(url).map(drop)
}

/// `smtp://host:port` (plain), `smtp://host:port?tls=starttls`, `smtps://host:465`;
/// `user:pass@` in any of them logs in.
fn smtp_transport(text: &str) -> Result<AsyncSmtpTransport<Tokio1Executor>, ConfigError> {
    let url = url::Url::parse(text).map_err(|e| invalid(format!("not a URL: {e}")))?;
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| invalid("names no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let tls = url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned());
    let builder = match (url.scheme(), tls.as_deref()) {
        ("smtp", None | Some("none")) => {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host).port(url.port().unwrap_or(25))
        }
        ("smtp", Some("starttls")) => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host)
            .map_err(|e| invalid(e.to_string()))?
            .port(url.port().unwrap_or(587)),
        ("smtp", Some(other)) => return Err(invalid(format!("unknown tls={other}; use tls=starttls or smtps://"))),
        ("smtps", _) => AsyncSmtpTransport::<Tokio1Executor>::relay(&host)
            .map_err(|e| invalid(e.to_string()))?
            .port(url.port().unwrap_or(465)),
        (scheme, _) => return Err(invalid(format!("scheme {scheme}:// is not smtp:// or smtps://"))),
    };
    let builder = builder.timeout(Some(SMTP_TIMEOUT));
    let builder = if url.username().is_empty() {
        builder
    } else {
        let decode = |s: &str| percent_decode(s);
        builder.credentials(Credentials::new(decode(url.username()), decode(url.password().unwrap_or(""))))
    };
    Ok(builder.build())
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The email asking a customer to fix a failing webhook.
pub fn failing_email(from: &Mailbox, to: &Mailbox, webhook: &Webhook, disable_at: Millis) -> Result<Message, String> {
    let subject = format!("Webhook \"{}\" is failing", webhook.name);
    let body = format!(
        "Hello,\n\n\
         Deliveries to your webhook \"{name}\" ({id}) keep failing.\n\n\
         Target URL:      {url}\n\
         Failing since:   {since}\n\
         Failed batches:  {failed} (each after all of its retries)\n\
         Last error:      {error}\n\n\
         If it is not fixed, the webhook will be disabled at {disable_at} (UTC).\n\n\
         To fix it, make the endpoint answer with a 2xx status, then send a test batch from the\n\
         webhook's Test menu, or update its target URL or authentication. Any successful\n\
         delivery ends the failure.\n\n\
         -- mailhooks\n",
        name = webhook.name,
        id = webhook.id,
        url = webhook.target_url.as_str(),
        since = webhook.failing_since.map(format_millis).unwrap_or_else(|| "-".into()),
        failed = webhook.failed_batches,
        error = webhook.last_error.as_deref().unwrap_or("unknown"),
        disable_at = format_millis(disable_at),
    );
    build(from, to, subject, body)
}

/// The email saying a webhook was disabled because it was not fixed in time.
pub fn disabled_email(from: &Mailbox, to: &Mailbox, webhook: &Webhook) -> Result<Message, String> {
    let subject = format!("Webhook \"{}\" has been disabled", webhook.name);
    let body = format!(
        "Hello,\n\n\
         Your webhook \"{name}\" ({id}) has been disabled because its deliveries kept failing\n\
         and it was not fixed in time. It receives no events while disabled.\n\n\
         Target URL:      {url}\n\
         Failed batches:  {failed}\n\
         Last error:      {error}\n\n\
         To start it again, fix the endpoint and set the webhook's status to enabled\n\
         (Edit Webhook, or PATCH /v1/webhooks/{id} with {{\"status\": \"enabled\"}}).\n\n\
         -- mailhooks\n",
        name = webhook.name,
        id = webhook.id,
        url = webhook.target_url.as_str(),
        failed = webhook.failed_batches,
        error = webhook.last_error.as_deref().unwrap_or("unknown"),
    );
    build(from, to, subject, body)
}

fn build(from: &Mailbox, to: &Mailbox, subject: String, body: String) -> Result<Message, String> {
    Message::builder()
        .from(from.clone())
        .to(to.clone())
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_in_every_documented_form() {
        for ok in [
            "smtp://127.0.0.1:2525",
            "smtp://mail.example.com:587?tls=starttls",
            "smtps://user:p%40ss@mail.example.com:465",
        ] {
            assert!(validate_smtp_url(ok).is_ok(), "{ok}");
        }
        for bad in ["http://mail.example.com", "smtp://", "smtp://h:25?tls=maybe", "not a url"] {
            assert!(validate_smtp_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_percent_decoded() {
        assert_eq!(percent_decode("p%40ss+word"), "p@ss+word");
    }
}
