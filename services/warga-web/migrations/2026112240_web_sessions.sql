-- Pending sign-ins: the PKCE verifier and nonce of an authorization request, by state.
CREATE TABLE web_logins (
    state         TEXT   PRIMARY KEY,
    code_verifier TEXT   NOT NULL,
    nonce         TEXT   NOT NULL,
    lang          TEXT   NOT NULL,
    expires_at_ms BIGINT NOT NULL
);

-- Signed-in browsers. Only the hash of the cookie is kept; the ID token is kept as the
-- logout hint (it is not accepted by any API).
CREATE TABLE web_sessions (
    id_hash       TEXT   PRIMARY KEY,
    account_id    TEXT   NOT NULL,
    csrf          TEXT   NOT NULL,
    id_token      TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
