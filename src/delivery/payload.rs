//! The delivery body, `{"batchId": …, "retryCount": …, "events": [ … ]}`, assembled from
//! each event's stored JSON text without parsing it again. Also the built-in sample events
//! that "Send Test Batch" delivers.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::model::BatchId;

/// Builds the body of one attempt of a batch.
pub fn batch_body(batch_id: &BatchId, retry_count: u32, events: &[Arc<str>]) -> Bytes {
    let events_len: usize = events.iter().map(|e| e.len() + 1).sum();
    let mut body = String::with_capacity(64 + events_len);
    body.push_str("{\"batchId\":\"");
    body.push_str(batch_id.as_str());
    body.push_str("\",\"retryCount\":");
    body.push_str(&retry_count.to_string());
    body.push_str(",\"events\":[");
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(event);
    }
    body.push_str("]}");
    Bytes::from(body)
}

/// The documented sample batch: nine events, one of each type.
const SAMPLE_BATCH: &str = include_str!("sample-batch.json");

/// The nine sample events as JSON texts, in the documented order.
pub fn sample_events() -> &'static [Arc<str>] {
    static EVENTS: OnceLock<Vec<Arc<str>>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        #[derive(serde::Deserialize)]
        struct Sample {
            events: Vec<Box<serde_json::value::RawValue>>,
        }
        // The sample is compiled in and covered by a test, so it always parses.
        serde_json::from_str::<Sample>(SAMPLE_BATCH)
            .map(|s| s.events.into_iter().map(|e| Arc::from(e.get())).collect())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{parse_ingest_body, EventType};

    #[test]
    fn body_is_the_documented_shape_with_events_verbatim() {
        let id = BatchId::from_string("645c2177e3b86a0001887bc6");
        let events: Vec<Arc<str>> = vec![Arc::from("{\"a\": 1}"), Arc::from("{\"b\":[2]}")];
        let body = batch_body(&id, 3, &events);
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            r#"{"batchId":"645c2177e3b86a0001887bc6","retryCount":3,"events":[{"a": 1},{"b":[2]}]}"#
        );
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed["events"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn the_sample_has_one_valid_event_of_each_type() {
        let events = sample_events();
        assert_eq!(events.len(), 9);
        let body = format!("[{}]", events.iter().map(|e| &**e).collect::<Vec<_>>().join(","));
        let parsed = parse_ingest_body(body.as_bytes()).unwrap();
        let types: Vec<EventType> = parsed.iter().map(|e| e.event_type).collect();
        for t in EventType::ALL {
            assert!(types.contains(&t), "{t} missing from the sample");
        }
    }
}
