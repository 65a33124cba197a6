-- A resident's death, recorded by the registry, waiting to suspend their BPJS card: one row
-- per resident (a redelivered event adds nothing), done once the ledger committed the
-- suspension or answered that there is nothing to suspend.
CREATE TABLE ledger_card_suspensions (
    resident_id   TEXT   PRIMARY KEY,
    status        TEXT   NOT NULL,
    attempts      BIGINT NOT NULL,
    last_error    TEXT   NULL,
    tx_id         TEXT   NULL,
    outcome       TEXT   NULL,
    created_at_ms BIGINT NOT NULL,
    done_at_ms    BIGINT NULL
);
CREATE INDEX ledger_card_suspensions_pending ON ledger_card_suspensions (status, created_at_ms);
