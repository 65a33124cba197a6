-- A phone number an account may give for recovering its password by SMS.
CREATE TABLE identity_account_phones (
    account_id    TEXT   PRIMARY KEY REFERENCES identity_accounts (id),
    phone         TEXT   NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

-- The one recovery code an account may have outstanding: a keyed hash of it (never the code),
-- when it expires, how often it was tried, and when it was sent (one code a minute at most).
CREATE TABLE identity_password_resets (
    account_id    TEXT   PRIMARY KEY REFERENCES identity_accounts (id),
    code_index    TEXT   NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    attempts      BIGINT NOT NULL,
    sent_at_ms    BIGINT NOT NULL
);
