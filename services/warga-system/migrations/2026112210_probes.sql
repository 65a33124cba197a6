-- Pipeline probes: one row per probe; the consumer stamps delivery and counts effects.
CREATE TABLE system_probes (
    probe_id        TEXT    PRIMARY KEY,
    note            TEXT,
    requested_at_ms BIGINT  NOT NULL,
    delivered_at_ms BIGINT,
    deliveries      BIGINT  NOT NULL DEFAULT 0
);
