-- Data keys of the vault, wrapped (AES-256-GCM) by the master key named in wrapped_with.
-- purpose 'seal' keys encrypt sensitive columns (the newest unretired one seals new data);
-- the 'index' key computes keyed hashes (HMAC-SHA-256) for lookups, e.g. by NIK.
CREATE TABLE vault_data_keys (
    id            TEXT   PRIMARY KEY,
    purpose       TEXT   NOT NULL,
    wrapped       TEXT   NOT NULL,
    wrapped_with  TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    retired_at_ms BIGINT
);
