-- Idempotency keys of submissions: a keyed hash of (account, the client's key) and the
-- report it filed, so a client that saw no answer can send the same report again and get
-- the first one back. Kept a day. Anonymous reports take no key (it would tie the account
-- to the report).
CREATE TABLE report_idempotency (
    key_hash      TEXT   PRIMARY KEY,
    report_id     TEXT   NOT NULL REFERENCES reports (id),
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX report_idempotency_created ON report_idempotency (created_at_ms);
