//! The event envelope: what the outbox stores and the bus carries.
//!
//! Every event has a stable `topic` (`<system>.<entity>.<fact>`, e.g.
//! `population.resident.registered`), a payload `version`, and a globally unique id that
//! doubles as the de-duplication key on the bus (`Nats-Msg-Id`) and in consumers'
//! processed-event records. The W3C `traceparent` of the request that caused the event rides
//! along so one trace spans request → outbox → consumer.
//!
//! Versioning rule: a payload change that an old consumer could misread gets a new
//! `VERSION`; consumers match on `(topic, version)` and refuse versions they do not know
//! (the message then retries and dead-letters instead of being silently misapplied).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Longest topic accepted; topics become NATS subjects.
pub const TOPIC_BYTES_MAX: usize = 128;

/// A typed event payload.
pub trait Event: Serialize + DeserializeOwned {
    /// Where the event is published, e.g. `system.probe.requested`.
    const TOPIC: &'static str;
    /// The payload schema version.
    const VERSION: u32;
}

/// Unique id of one event: a UUIDv7 (time ordered) in its hyphenated text form.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(String);

impl EventId {
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7().hyphenated().to_string())
    }

    /// An id whose time part is `at_ms` rather than now (its other 74 bits random), for an
    /// event whose exact time must not be kept: its id says no more than its stated time.
    pub fn at(at_ms: i64) -> Self {
        let ms = u64::try_from(at_ms).unwrap_or(0);
        let timestamp = uuid::Timestamp::from_unix(uuid::NoContext, ms / 1000, ((ms % 1000) * 1_000_000) as u32);
        Self(uuid::Uuid::new_v7(timestamp).hyphenated().to_string())
    }
    /// Wraps an id read back from storage or the bus.
    pub fn from_stored(id: impl Into<String>) -> Self {
        Self(id.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for EventId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One event as stored in the outbox and carried on the bus.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: EventId,
    pub topic: String,
    pub version: u32,
    pub occurred_at_ms: i64,
    /// W3C trace context of the operation that produced the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    pub payload: serde_json::Value,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("event {id} has topic {found}, expected {expected}")]
    WrongTopic {
        id: String,
        found: String,
        expected: &'static str,
    },
    #[error("event {id} on {topic} has payload version {found}, this consumer understands {expected}")]
    UnsupportedVersion {
        id: String,
        topic: String,
        found: u32,
        expected: u32,
    },
    #[error("event {id} payload does not match its schema: {message}")]
    Payload { id: String, message: String },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TopicError {
    #[error("topic is empty")]
    Empty,
    #[error("topic is longer than {TOPIC_BYTES_MAX} bytes")]
    TooLong,
    #[error("topic segment {0:?} must be lowercase letters, digits, '_' or '-'")]
    BadSegment(String),
    #[error("topic needs at least two segments separated by '.'")]
    TooFewSegments,
}

/// Checks that a topic is safe to use as a NATS subject suffix and a SQL value.
pub fn validate_topic(topic: &str) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(TopicError::Empty);
    }
    if topic.len() > TOPIC_BYTES_MAX {
        return Err(TopicError::TooLong);
    }
    let mut segments = 0;
    for segment in topic.split('.') {
        segments += 1;
        let ok = !segment.is_empty()
            && segment
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !ok {
            return Err(TopicError::BadSegment(segment.to_owned()));
        }
    }
    if segments < 2 {
        return Err(TopicError::TooFewSegments);
    }
    Ok(())
}

impl Envelope {
    /// Wraps a typed event into a new envelope stamped with `occurred_at_ms`.
    pub fn new<E: Event>(event: &E, occurred_at_ms: i64, traceparent: Option<String>) -> Self {
        debug_assert!(validate_topic(E::TOPIC).is_ok(), "invalid topic {}", E::TOPIC);
        Self {
            id: EventId::new(),
            topic: E::TOPIC.to_owned(),
            version: E::VERSION,
            occurred_at_ms,
            traceparent,
            // Serializing a plain data struct into a Value cannot fail.
            payload: serde_json::to_value(event).unwrap_or(serde_json::Value::Null),
        }
    }

    /// An envelope that keeps no more than `occurred_at_ms` of when it was made: its id's
    /// time is that time, and it carries no trace context (which would lead back to the
    /// request). For events of anonymous acts, stamped with a coarsened time.
    pub fn untraced<E: Event>(event: &E, occurred_at_ms: i64) -> Self {
        Self {
            id: EventId::at(occurred_at_ms),
            ..Envelope::new(event, occurred_at_ms, None)
        }
    }

    /// Reads the payload as `E`, refusing another topic or an unknown version.
    pub fn decode<E: Event>(&self) -> Result<E, DecodeError> {
        if self.topic != E::TOPIC {
            return Err(DecodeError::WrongTopic {
                id: self.id.to_string(),
                found: self.topic.clone(),
                expected: E::TOPIC,
            });
        }
        if self.version != E::VERSION {
            return Err(DecodeError::UnsupportedVersion {
                id: self.id.to_string(),
                topic: self.topic.clone(),
                found: self.version,
                expected: E::VERSION,
            });
        }
        E::deserialize(&self.payload).map_err(|e| DecodeError::Payload {
            id: self.id.to_string(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Sample {
        n: u32,
    }
    impl Event for Sample {
        const TOPIC: &'static str = "test.sample.happened";
        const VERSION: u32 = 2;
    }

    #[test]
    fn envelope_round_trips_through_json() {
        let env = Envelope::new(&Sample { n: 7 }, 42, Some("00-abc-def-01".into()));
        let text = serde_json::to_string(&env).unwrap();
        let back: Envelope = serde_json::from_str(&text).unwrap();
        assert_eq!(back, env);
        assert_eq!(back.decode::<Sample>().unwrap(), Sample { n: 7 });
    }

    #[test]
    fn decode_refuses_unknown_version_and_topic() {
        let mut env = Envelope::new(&Sample { n: 1 }, 0, None);
        env.version = 3;
        assert!(matches!(
            env.decode::<Sample>(),
            Err(DecodeError::UnsupportedVersion { found: 3, .. })
        ));
        env.version = 2;
        env.topic = "test.other.happened".into();
        assert!(matches!(env.decode::<Sample>(), Err(DecodeError::WrongTopic { .. })));
    }

    #[test]
    fn decode_reports_payload_mismatch() {
        let mut env = Envelope::new(&Sample { n: 1 }, 0, None);
        env.payload = serde_json::json!({"n": "seven"});
        assert!(matches!(env.decode::<Sample>(), Err(DecodeError::Payload { .. })));
    }

    #[test]
    fn event_ids_are_unique_and_time_ordered() {
        let a = EventId::new();
        let b = EventId::new();
        assert_ne!(a, b);
        assert!(a < b, "uuid v7 ids sort by creation time");
    }

    #[test]
    fn topics_are_validated() {
        let cases: &[(&str, Result<(), TopicError>)] = &[
            ("system.probe.requested", Ok(())),
            ("population.resident-registry.moved_v2", Ok(())),
            ("", Err(TopicError::Empty)),
            ("single", Err(TopicError::TooFewSegments)),
            ("a..b", Err(TopicError::BadSegment(String::new()))),
            ("a.B", Err(TopicError::BadSegment("B".into()))),
            ("a.*", Err(TopicError::BadSegment("*".into()))),
            ("a.>", Err(TopicError::BadSegment(">".into()))),
        ];
        for (topic, expected) in cases {
            assert_eq!(&validate_topic(topic), expected, "topic {topic:?}");
        }
        assert_eq!(validate_topic(&"a.".repeat(100)), Err(TopicError::TooLong));
    }
}
