-- Webhook deliveries (R7): written by the consumer of the reports' events in the transaction
-- that records the event, sent by a leased job outside any transaction. `state`: pending,
-- delivered or dead (after the last attempt; an administrator may send it again).
CREATE TABLE report_webhook_deliveries (
    id              TEXT   PRIMARY KEY,
    hook            TEXT   NOT NULL,
    event_id        TEXT   NOT NULL,
    topic           TEXT   NOT NULL,
    body            TEXT   NOT NULL,
    state           TEXT   NOT NULL,
    attempts        BIGINT NOT NULL,
    next_at_ms      BIGINT NOT NULL,
    last_error      TEXT   NULL,
    lease_owner     TEXT   NULL,
    lease_until_ms  BIGINT NULL,
    created_at_ms   BIGINT NOT NULL,
    delivered_at_ms BIGINT NULL
);
CREATE INDEX report_webhook_deliveries_due ON report_webhook_deliveries (state, next_at_ms);
