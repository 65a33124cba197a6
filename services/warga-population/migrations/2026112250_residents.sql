-- Residents. The NIK is stored only as a keyed hash (nik_index); the KTP's personal fields
-- are sealed together (sealed, with the data key in key_id). Region codes, sex and birth
-- year stay in clear for statistics and search by region.
CREATE TABLE population_residents (
    id            TEXT   PRIMARY KEY,
    nik_index     TEXT   NOT NULL UNIQUE,
    key_id        TEXT   NOT NULL,
    sealed        TEXT   NOT NULL,
    province      TEXT   NOT NULL,
    regency       TEXT   NOT NULL,
    district      TEXT   NOT NULL,
    sex           TEXT   NOT NULL,
    birth_year    BIGINT NOT NULL,
    status        TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX population_residents_region ON population_residents (province, regency, district);

-- Live counts kept by the statistics consumer from ResidentRegistered events. Keyed by
-- birth year rather than age band, so bands stay right as years pass.
CREATE TABLE population_stats (
    province   TEXT   NOT NULL,
    regency    TEXT   NOT NULL,
    sex        TEXT   NOT NULL,
    birth_year BIGINT NOT NULL,
    residents  BIGINT NOT NULL,
    PRIMARY KEY (province, regency, sex, birth_year)
);
