-- Private keys of people's ledger identities, sealed by the platform's vault (envelope
-- encryption; the data key in key_id): a key never leaves the server, the gateway opens it
-- only to sign for its owner.
CREATE TABLE ledger_keys (
    id            TEXT   PRIMARY KEY,
    owner         TEXT   NOT NULL,
    key_id        TEXT   NOT NULL,
    sealed        TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL
);

-- The X.509 identity enrolled for an account at its organisation's CA on first use:
-- certificate (PEM) and the key it certifies. Revoked when the account is disabled.
CREATE TABLE ledger_identities (
    subject        TEXT   NOT NULL,
    msp_id         TEXT   NOT NULL,
    enrollment_id  TEXT   NOT NULL,
    key_ref        TEXT   NOT NULL REFERENCES ledger_keys (id),
    certificate    TEXT   NOT NULL,
    attributes     TEXT   NOT NULL,
    status         TEXT   NOT NULL,
    enrolled_at_ms BIGINT NOT NULL,
    revoked_at_ms  BIGINT NULL,
    PRIMARY KEY (subject, msp_id)
);
