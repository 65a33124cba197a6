-- JagaWarga reports. An anonymous report keeps no account: reporter is NULL, its times are
-- coarsened to the hour, and only a slow hash of its receipt code lets the reporter follow
-- it. Text is stored after scrubbing personal data out of it. Coordinates in microdegrees.
CREATE TABLE reports (
    id             TEXT   PRIMARY KEY,
    reporter       TEXT   NULL,
    visibility     TEXT   NOT NULL,
    category       TEXT   NOT NULL,
    department     TEXT   NOT NULL,
    title          TEXT   NOT NULL,
    description    TEXT   NOT NULL,
    latitude_e6    BIGINT NOT NULL,
    longitude_e6   BIGINT NOT NULL,
    district       TEXT   NOT NULL,
    status         TEXT   NOT NULL,
    receipt_hash   TEXT   NULL,
    upvotes        BIGINT NOT NULL DEFAULT 0,
    -- 0: the department; 1: its head (a missed response); 2: the top office (a missed resolution).
    escalation_level BIGINT NOT NULL DEFAULT 0,
    -- While waiting for the reporter: the status to return to when they answer.
    paused_status  TEXT   NULL,
    created_at_ms  BIGINT NOT NULL,
    updated_at_ms  BIGINT NOT NULL
);
CREATE INDEX reports_reporter ON reports (reporter, created_at_ms);
CREATE INDEX reports_department ON reports (department, status, created_at_ms);
CREATE INDEX reports_public ON reports (visibility, created_at_ms, id);

-- A report's timeline: every status change and comment. `internal` entries are for the
-- departments only. `actor` is the officer's account; a reporter's own entries (submitted,
-- withdrawn) name no account.
CREATE TABLE report_events (
    report_id     TEXT   NOT NULL REFERENCES reports (id),
    seq           BIGINT NOT NULL,
    status        TEXT   NOT NULL,
    note          TEXT   NULL,
    internal      BIGINT NOT NULL,
    actor         TEXT   NULL,
    department    TEXT   NULL,
    at_ms         BIGINT NOT NULL,
    PRIMARY KEY (report_id, seq)
);

-- Abuse control for anonymous reports: per window, a short-lived keyed hash of the account
-- and how many anonymous reports it filed. Never joined to a report; rows of past windows
-- are deleted when a new window starts.
CREATE TABLE report_anonymous_quota (
    window_start_ms BIGINT NOT NULL,
    account_key     TEXT   NOT NULL,
    used            BIGINT NOT NULL,
    PRIMARY KEY (window_start_ms, account_key)
);

-- One upvote per citizen and public report, under a keyed hash of (report, account): a
-- vote cannot be traced to an account, nor two votes of one account linked across reports.
CREATE TABLE report_upvotes (
    report_id TEXT NOT NULL REFERENCES reports (id),
    voter_key TEXT NOT NULL,
    PRIMARY KEY (report_id, voter_key)
);

-- The reporter's in-app inbox (R4): one entry per status change of their own public or
-- private reports, written by a consumer of `reports.report.status_changed` (the event id
-- keeps a redelivered event from writing twice). Anonymous reports have no inbox: their
-- receipt holder reads the timeline.
CREATE TABLE report_inbox (
    event_id    TEXT   PRIMARY KEY,
    subject     TEXT   NOT NULL,
    report_id   TEXT   NOT NULL REFERENCES reports (id),
    status      TEXT   NOT NULL,
    message     TEXT   NOT NULL,
    at_ms       BIGINT NOT NULL,
    read_at_ms  BIGINT NULL
);
CREATE INDEX report_inbox_subject ON report_inbox (subject, at_ms);

-- Service-level timers (R8): durable, leased, fired once. `state` is pending, paused (while
-- the department waits for the reporter; `remaining_ms` is what was left), fired or
-- cancelled; a worker claims a due timer with a lease and fires it in one transaction.
CREATE TABLE report_timers (
    report_id      TEXT   NOT NULL REFERENCES reports (id),
    kind           TEXT   NOT NULL,
    due_at_ms      BIGINT NOT NULL,
    state          TEXT   NOT NULL,
    lease_owner    TEXT   NULL,
    lease_until_ms BIGINT NULL,
    fired_at_ms    BIGINT NULL,
    remaining_ms   BIGINT NULL,
    PRIMARY KEY (report_id, kind)
);
CREATE INDEX report_timers_due ON report_timers (state, due_at_ms);

-- What officers are told (R4, R8): warnings and re-routed reports for a department's
-- officers, escalations for its head (level 1) or the top office (level 2). `min_rank` is
-- the lowest officer level that sees an entry: 0 staff, 1 head, 2 top.
CREATE TABLE report_officer_inbox (
    event_id    TEXT   PRIMARY KEY,
    department  TEXT   NOT NULL,
    min_rank    BIGINT NOT NULL,
    report_id   TEXT   NOT NULL REFERENCES reports (id),
    kind        TEXT   NOT NULL,
    message     TEXT   NOT NULL,
    at_ms       BIGINT NOT NULL
);
CREATE INDEX report_officer_inbox_department ON report_officer_inbox (department, at_ms);
