//! Pure domain types shared by every warga service.
//!
//! This crate knows nothing about HTTP, SQL, NATS or the file system: it holds the event
//! envelope that travels through the outbox and the bus, identifiers, and time as plain
//! numbers. Everything here is deterministic and cheap to test.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod event;
pub mod identity;
pub mod recent;
pub mod resilience;
pub mod text;
pub mod time;

pub use event::{DecodeError, Envelope, Event, EventId, TopicError, validate_topic};
