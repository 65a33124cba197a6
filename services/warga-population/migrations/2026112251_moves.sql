-- Earlier addresses of residents who moved; the address fields are sealed like the rest.
CREATE TABLE population_address_history (
    resident_id   TEXT   NOT NULL REFERENCES population_residents (id),
    moved_at_ms   BIGINT NOT NULL,
    key_id        TEXT   NOT NULL,
    sealed        TEXT   NOT NULL,
    district      TEXT   NOT NULL,
    PRIMARY KEY (resident_id, moved_at_ms)
);
