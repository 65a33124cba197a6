-- Append-only record of every state-changing operation. warga never updates or deletes
-- these rows. No secrets, tokens or personal data go in: actors and targets are ids.
CREATE TABLE audit_log (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    id       TEXT    NOT NULL UNIQUE,
    at_ms    BIGINT  NOT NULL,
    actor    TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    target   TEXT    NOT NULL,
    outcome  TEXT    NOT NULL,
    trace_id TEXT,
    details  TEXT
);
CREATE INDEX audit_log_at ON audit_log (at_ms);
CREATE INDEX audit_log_actor ON audit_log (actor, at_ms);
CREATE INDEX audit_log_action ON audit_log (action, at_ms);
