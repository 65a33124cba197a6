-- Token signing keys. The private key is sealed (AES-256-GCM) with the master key named by
-- sealed_with; the public key is kept as a JWK for the JWKS document.
CREATE TABLE auth_signing_keys (
    kid             TEXT   PRIMARY KEY,
    alg             TEXT   NOT NULL,
    private_sealed  TEXT   NOT NULL,
    sealed_with     TEXT   NOT NULL,
    public_jwk      TEXT   NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    -- No longer used to sign; still published until publish_until_ms.
    retired_at_ms   BIGINT,
    -- Removed from the JWKS document once every token it signed has expired.
    publish_until_ms BIGINT
);

-- Access tokens revoked before their expiry (RFC 7009); rows go when the token expires.
CREATE TABLE auth_revoked_tokens (
    jti           TEXT   PRIMARY KEY,
    expires_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT NOT NULL
);
CREATE INDEX auth_revoked_tokens_revoked_at ON auth_revoked_tokens (revoked_at_ms);
