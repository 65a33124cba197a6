//! Live views over server-sent events: a department's queue (R5) and a citizen's
//! notifications (R4).
//!
//! A stream opens with a `snapshot` event (what the reader may see now), then sends what
//! changed: `report` (new or changed in the queue), `removed` (sent to another department),
//! `notification` (a new entry of the citizen's inbox). Changes are found by reading the
//! database every `live_poll_ms` for this connection, so every replica serves streams
//! without a shared bus subscription, and a reconnecting client is whole again with the
//! next snapshot. A stream ends after ten minutes or when the token that opened it expires,
//! whichever is first; the client reconnects (with its token checked again).

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::Event;
use futures::Stream;
use futures::stream::{self, StreamExt};
use serde_json::{Value, json};
use warga_core::identity::{Principal, Role};
use warga_http::Platform;

use crate::error::ReportsError;

/// The longest a stream stays open.
const MAX_LIFETIME: Duration = Duration::from_secs(600);

/// What a poll found: items by key, each with the version that tells a change.
type Snapshot = HashMap<String, (String, Value)>;

/// A source of a live view: one poll of what the reader may see.
#[async_trait::async_trait]
trait Source: Send + Sync + 'static {
    async fn poll(&self, platform: &Platform) -> Result<Snapshot, ReportsError>;
    /// The event for an item that is new or changed.
    fn changed(&self) -> &'static str;
}

struct Queue(Principal);

#[async_trait::async_trait]
impl Source for Queue {
    async fn poll(&self, platform: &Platform) -> Result<Snapshot, ReportsError> {
        let reports = crate::reports::queue(platform, &self.0, None).await?;
        Ok(reports
            .into_iter()
            .map(|r| {
                let version = format!("{}:{}:{}", r.status, r.escalation_level, r.updated_at_ms);
                let item = json!({
                    "id": r.id, "title": r.title, "category": r.category, "department": r.department,
                    "status": r.status, "escalation_level": r.escalation_level, "visibility": r.visibility,
                    "created_at_ms": r.created_at_ms, "updated_at_ms": r.updated_at_ms,
                });
                (r.id, (version, item))
            })
            .collect())
    }
    fn changed(&self) -> &'static str {
        "report"
    }
}

struct Notifications(String);

#[async_trait::async_trait]
impl Source for Notifications {
    async fn poll(&self, platform: &Platform) -> Result<Snapshot, ReportsError> {
        let inbox = crate::inbox::inbox(platform, &self.0).await?;
        Ok(inbox
            .notifications
            .into_iter()
            .map(|n| {
                let key = format!("{}:{}:{}", n.at_ms, n.report_id, n.status);
                let item = json!({
                    "report_id": n.report_id, "status": n.status, "message": n.message, "at_ms": n.at_ms,
                });
                (key, (String::new(), item))
            })
            .collect())
    }
    fn changed(&self) -> &'static str {
        "notification"
    }
}

/// The events between two polls.
fn diff(kind: &'static str, before: &Snapshot, now: &Snapshot) -> Vec<Event> {
    let mut changed: Vec<(&String, &Value)> = now
        .iter()
        .filter(|(key, (version, _))| before.get(*key).is_none_or(|(old, _)| old != version))
        .map(|(key, (_, item))| (key, item))
        .collect();
    changed.sort_by(|a, b| a.0.cmp(b.0));
    let mut events: Vec<Event> = changed
        .into_iter()
        .map(|(_, item)| Event::default().event(kind).data(item.to_string()))
        .collect();
    if kind == "report" {
        let mut gone: Vec<&String> = before.keys().filter(|key| !now.contains_key(*key)).collect();
        gone.sort();
        events.extend(
            gone.into_iter()
                .map(|key| Event::default().event("removed").data(json!({ "id": key }).to_string())),
        );
    }
    events
}

fn snapshot_event(snapshot: &Snapshot, key: &str) -> Event {
    let mut items: Vec<(&String, &Value)> = snapshot.iter().map(|(k, (_, item))| (k, item)).collect();
    items.sort_by(|a, b| b.0.cmp(a.0));
    let items: Vec<&Value> = items.into_iter().map(|(_, item)| item).collect();
    Event::default()
        .event("snapshot")
        .data(json!({ key: items }).to_string())
}

/// A stream of `source`'s view, polled every `every`, open until `until`.
fn stream_of(
    platform: Platform,
    source: impl Source,
    first: Snapshot,
    snapshot_key: &'static str,
    every: Duration,
    until: tokio::time::Instant,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let opening = snapshot_event(&first, snapshot_key);
    let changes = stream::unfold(
        (platform, source, first),
        move |(platform, source, before)| async move {
            if tokio::time::Instant::now() + every >= until {
                return None;
            }
            tokio::time::sleep(every).await;
            match source.poll(&platform).await {
                Ok(now) => {
                    let events = diff(source.changed(), &before, &now);
                    Some((events, (platform, source, now)))
                }
                Err(error) => {
                    // The client reconnects and gets a fresh snapshot.
                    tracing::warn!(%error, "a live view could not be read; closing its stream");
                    None
                }
            }
        },
    );
    stream::once(async move { opening })
        .chain(changes.flat_map(stream::iter))
        .map(Ok)
}

fn lifetime(principal: &Principal) -> tokio::time::Instant {
    let now_seconds = warga_core::time::now_ms() / 1000;
    let left = u64::try_from(principal.expires_at.saturating_sub(now_seconds)).unwrap_or(0);
    tokio::time::Instant::now() + MAX_LIFETIME.min(Duration::from_secs(left))
}

fn every(platform: &Platform) -> Duration {
    Duration::from_millis(crate::settings(platform).live_poll_ms)
}

/// The officer's department's queue, live.
pub async fn queue(
    platform: &Platform,
    officer: &Principal,
) -> Result<impl Stream<Item = Result<Event, Infallible>> + use<>, ReportsError> {
    let source = Queue(officer.clone());
    // The first poll also checks that the caller is an officer of a department.
    let first = source.poll(platform).await?;
    Ok(stream_of(
        platform.clone(),
        source,
        first,
        "reports",
        every(platform),
        lifetime(officer),
    ))
}

/// The citizen's notifications, live.
pub async fn notifications(
    platform: &Platform,
    citizen: &Principal,
) -> Result<impl Stream<Item = Result<Event, Infallible>> + use<>, ReportsError> {
    if !citizen.has_role(Role::Citizen) {
        return Err(ReportsError::Forbidden("hanya untuk warga".into()));
    }
    let source = Notifications(citizen.subject.clone());
    let first = source.poll(platform).await?;
    Ok(stream_of(
        platform.clone(),
        source,
        first,
        "notifications",
        every(platform),
        lifetime(citizen),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(items: &[(&str, &str)]) -> Snapshot {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), ((*v).to_owned(), json!({ "id": k, "v": v }))))
            .collect()
    }

    #[test]
    fn only_new_changed_and_removed_items_are_sent() {
        let before = snapshot(&[("a", "1"), ("b", "1"), ("c", "1")]);
        let now = snapshot(&[("a", "1"), ("b", "2"), ("d", "1")]);
        let events = diff("report", &before, &now);
        assert_eq!(events.len(), 3, "b changed, d new, c removed");
        assert!(diff("report", &now, &now).is_empty());
        assert_eq!(
            diff("notification", &before, &now).len(),
            2,
            "notifications are never removed"
        );
    }
}
