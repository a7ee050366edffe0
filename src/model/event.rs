//! Ingested events. An event is validated for the four fields the engine relies on
//! (`status`, `messageId`, `recipient`, `timestamp`) and its optional `source`; everything
//! else is opaque. The event's exact JSON text is kept and delivered byte for byte, so the
//! hot path never builds a JSON tree for it.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::EventType;

/// The most events one ingest request may carry.
pub const MAX_EVENTS_PER_REQUEST: usize = 10_000;

/// One validated event.
#[derive(Debug, Clone)]
pub struct Event {
    /// The `status` field.
    pub event_type: EventType,
    /// The `source` field, `"default"` when absent.
    pub source: Arc<str>,
    /// The event exactly as it was sent.
    pub raw: Arc<str>,
}

/// Why an ingest body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The body as a whole is not a JSON array of events or `{"events": [...]}`.
    #[error("{0}")]
    Malformed(String),
    /// More events than one request may carry.
    #[error("a request may carry at most {MAX_EVENTS_PER_REQUEST} events; this one has {0}")]
    TooMany(usize),
    /// One event is invalid; the whole request is refused.
    #[error("event {index}: {message}")]
    Invalid { index: usize, field: Option<&'static str>, message: String },
}

/// The fields the engine looks at; all others are skipped without being built.
#[derive(Deserialize)]
struct EventHead<'a> {
    #[serde(borrow)]
    status: Option<&'a RawValue>,
    #[serde(borrow, rename = "messageId")]
    message_id: Option<&'a RawValue>,
    #[serde(borrow)]
    recipient: Option<&'a RawValue>,
    #[serde(borrow)]
    timestamp: Option<&'a RawValue>,
    #[serde(borrow)]
    source: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

/// Parses and validates an ingest request body: a JSON array of events, or an object
/// `{"events": [...]}`. All or nothing: the first invalid event refuses the whole body.
pub fn parse_ingest_body(body: &[u8]) -> Result<Vec<Event>, EventError> {
    let text = std::str::from_utf8(body).map_err(|e| EventError::Malformed(format!("body is not valid UTF-8: {e}")))?;
    let raw_events: Vec<&RawValue> = match text.trim_start().as_bytes().first() {
        Some(b'[') => serde_json::from_str(text)
            .map_err(|e| EventError::Malformed(format!("body is not a JSON array of events: {e}")))?,
        Some(b'{') => {
            serde_json::from_str::<Envelope>(text)
                .map_err(|e| {
                    EventError::Malformed(format!("body must be a JSON array of events or {{\"events\": [...]}}: {e}"))
                })?
                .events
        }
        _ => return Err(EventError::Malformed("body must be a JSON array of events or {\"events\": [...]}".into())),
    };
    if raw_events.len() > MAX_EVENTS_PER_REQUEST {
        return Err(EventError::TooMany(raw_events.len()));
    }
    raw_events
        .into_iter()
        .enumerate()
        .map(|(index, raw)| parse_event(raw).map_err(|(field, message)| EventError::Invalid { index, field, message }))
        .collect()
}

type FieldError = (Option<&'static str>, String);

fn parse_event(raw: &RawValue) -> Result<Event, FieldError> {
    let text = raw.get();
    if !text.starts_with('{') {
        return Err((None, "an event must be a JSON object".into()));
    }
    let head: EventHead = serde_json::from_str(text).map_err(|e| (None, e.to_string()))?;
    let status = required_string(head.status, "status")?;
    let event_type = status.parse::<EventType>().map_err(|e| (Some("status"), e.to_string()))?;
    required_string(head.message_id, "messageId")?;
    required_string(head.recipient, "recipient")?;
    let timestamp = head.timestamp.ok_or((Some("timestamp"), "timestamp is missing".to_string()))?;
    match serde_json::from_str::<i64>(timestamp.get()) {
        Ok(ms) if ms >= 0 => {}
        _ => {
            return Err((
                Some("timestamp"),
                "timestamp must be a non-negative integer (milliseconds since the epoch)".into(),
            ))
        }
    }
    let source: Arc<str> = match head.source {
        None => Arc::from("default"),
        Some(_) => Arc::from(required_string(head.source, "source")?),
    };
    Ok(Event { event_type, source, raw: Arc::from(text) })
}

fn required_string(value: Option<&RawValue>, field: &'static str) -> Result<String, FieldError> {
    let value = value.ok_or_else(|| (Some(field), format!("{field} is missing")))?;
    match serde_json::from_str::<String>(value.get()) {
        Ok(s) if !s.is_empty() => Ok(s),
        Ok(_) => Err((Some(field), format!("{field} must not be empty"))),
        Err(_) => Err((Some(field), format!("{field} must be a string"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"status":"open","messageId":"m1","recipient":"r@example.com","timestamp":1460989507000,"geoIp":"{\"country\":\"US\"}","extra":{"deep":[1,2]}}"#;

    #[test]
    fn keeps_the_exact_text_and_reads_the_type_and_source() {
        let events = parse_ingest_body(format!("[{GOOD}]").as_bytes()).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(&*events[0].raw, GOOD);
        assert_eq!(events[0].event_type, EventType::Open);
        assert_eq!(&*events[0].source, "default");
    }

    #[test]
    fn accepts_the_envelope_form() {
        let body = format!(r#"{{"events": [{GOOD}, {GOOD}]}}"#);
        assert_eq!(parse_ingest_body(body.as_bytes()).unwrap().len(), 2);
    }

    #[test]
    fn names_the_index_and_field_of_the_first_bad_event() {
        let bad = r#"{"status":"open","messageId":"m1","recipient":"r","timestamp":"soon"}"#;
        let err = parse_ingest_body(format!("[{GOOD},{bad}]").as_bytes()).unwrap_err();
        assert_eq!(
            err,
            EventError::Invalid {
                index: 1,
                field: Some("timestamp"),
                message: "timestamp must be a non-negative integer (milliseconds since the epoch)".into()
            }
        );
    }

    #[test]
    fn refuses_unknown_types_missing_fields_and_non_objects() {
        for (bad, field) in [
            (r#"{"status":"opened","messageId":"m","recipient":"r","timestamp":1}"#, Some("status")),
            (r#"{"status":"open","recipient":"r","timestamp":1}"#, Some("messageId")),
            (r#"{"status":"open","messageId":"m","recipient":5,"timestamp":1}"#, Some("recipient")),
            (r#"{"status":"open","messageId":"m","recipient":"r","timestamp":1.5}"#, Some("timestamp")),
            (r#"{"status":"open","messageId":"m","recipient":"r","timestamp":1,"source":7}"#, Some("source")),
            ("[1]", None),
        ] {
            match parse_ingest_body(format!("[{bad}]").as_bytes()) {
                Err(EventError::Invalid { index: 0, field: f, .. }) => assert_eq!(f, field, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn refuses_malformed_bodies() {
        for body in ["", "null", "{\"events\": 3}", "[", "\"x\""] {
            assert!(matches!(parse_ingest_body(body.as_bytes()), Err(EventError::Malformed(_))), "{body}");
        }
        assert!(matches!(parse_ingest_body(&[0xff, 0xfe]), Err(EventError::Malformed(_))));
    }
}
