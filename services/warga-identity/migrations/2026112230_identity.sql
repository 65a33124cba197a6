-- Departments of the authority that officers belong to.
CREATE TABLE identity_departments (
    id            TEXT   PRIMARY KEY,
    name          TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL
);

-- People who sign in. Booleans are BIGINT 0/1 (portable across engines).
CREATE TABLE identity_accounts (
    id                      TEXT   PRIMARY KEY,
    username                TEXT   NOT NULL UNIQUE,
    display_name            TEXT   NOT NULL,
    email                   TEXT,
    password_hash           TEXT   NOT NULL,
    roles                   TEXT   NOT NULL,
    department_id           TEXT   REFERENCES identity_departments (id),
    officer_level           TEXT,
    msp_id                  TEXT,
    status                  TEXT   NOT NULL,
    must_change_password    BIGINT NOT NULL DEFAULT 0,
    failed_logins           BIGINT NOT NULL DEFAULT 0,
    failure_window_start_ms BIGINT NOT NULL DEFAULT 0,
    locked_until_ms         BIGINT NOT NULL DEFAULT 0,
    created_at_ms           BIGINT NOT NULL,
    updated_at_ms           BIGINT NOT NULL
);
CREATE INDEX identity_accounts_department ON identity_accounts (department_id);

-- Failed sign-ins per client address, for locking out an address that guesses.
CREATE TABLE identity_ip_failures (
    ip              TEXT   PRIMARY KEY,
    failures        BIGINT NOT NULL,
    window_start_ms BIGINT NOT NULL,
    locked_until_ms BIGINT NOT NULL
);

-- OAuth clients. Lists are newline-separated; a public client has no secret.
CREATE TABLE identity_clients (
    client_id                 TEXT   PRIMARY KEY,
    name                      TEXT   NOT NULL,
    secret_hash               TEXT,
    redirect_uris             TEXT   NOT NULL,
    post_logout_redirect_uris TEXT   NOT NULL,
    grant_types               TEXT   NOT NULL,
    service_roles             TEXT   NOT NULL,
    created_at_ms             BIGINT NOT NULL
);

-- Browser sessions at the provider (single sign-on). Only the hash of the cookie is kept.
CREATE TABLE identity_sessions (
    id_hash       TEXT   PRIMARY KEY,
    account_id    TEXT   NOT NULL REFERENCES identity_accounts (id),
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);

-- Authorization codes (hashed), single use, short-lived, bound to PKCE and redirect URI.
CREATE TABLE identity_auth_codes (
    code_hash      TEXT   PRIMARY KEY,
    client_id      TEXT   NOT NULL,
    account_id     TEXT   NOT NULL,
    session_hash   TEXT   NOT NULL,
    redirect_uri   TEXT   NOT NULL,
    code_challenge TEXT   NOT NULL,
    scope          TEXT   NOT NULL,
    nonce          TEXT,
    auth_time_ms   BIGINT NOT NULL,
    expires_at_ms  BIGINT NOT NULL,
    used_at_ms     BIGINT,
    family_id      TEXT
);

-- Refresh tokens (hashed). Each use rotates the token within its family; presenting a
-- rotated token again revokes the whole family.
CREATE TABLE identity_refresh_tokens (
    token_hash    TEXT   PRIMARY KEY,
    family_id     TEXT   NOT NULL,
    client_id     TEXT   NOT NULL,
    account_id    TEXT   NOT NULL,
    session_hash  TEXT,
    scope         TEXT   NOT NULL,
    issued_at_ms  BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    rotated_at_ms BIGINT,
    revoked_at_ms BIGINT
);
CREATE INDEX identity_refresh_tokens_family ON identity_refresh_tokens (family_id);
CREATE INDEX identity_refresh_tokens_session ON identity_refresh_tokens (session_hash);
