-- The transactional outbox and the bookkeeping of event delivery (see warga-bus).
CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT    NOT NULL UNIQUE,
    topic           TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    payload         TEXT    NOT NULL,
    traceparent     TEXT,
    occurred_at_ms  BIGINT  NOT NULL,
    published_at_ms BIGINT
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at_ms IS NULL;
CREATE INDEX outbox_published_at ON outbox (published_at_ms) WHERE published_at_ms IS NOT NULL;

-- One row per (consumer, event) whose effect has been committed: the idempotency record.
CREATE TABLE processed_events (
    consumer        TEXT   NOT NULL,
    event_id        TEXT   NOT NULL,
    processed_at_ms BIGINT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX processed_events_age ON processed_events (processed_at_ms);

-- Consumers known to the in-process bus, so a relay in any process fans out to all of them.
CREATE TABLE event_consumers (
    name             TEXT   PRIMARY KEY,
    topics           TEXT   NOT NULL,
    registered_at_ms BIGINT NOT NULL
);

-- The in-process bus queue: one row per event still owed to a consumer. Rows with
-- dead_at_ms set are the dead letters.
CREATE TABLE event_deliveries (
    consumer           TEXT    NOT NULL,
    event_id           TEXT    NOT NULL,
    seq                BIGINT  NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT  NOT NULL,
    lease_until_ms     BIGINT  NOT NULL DEFAULT 0,
    last_error         TEXT,
    dead_at_ms         BIGINT,
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX event_deliveries_due ON event_deliveries (consumer, next_attempt_at_ms) WHERE dead_at_ms IS NULL;
CREATE INDEX event_deliveries_event ON event_deliveries (event_id);
