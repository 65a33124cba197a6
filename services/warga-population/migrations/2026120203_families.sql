-- Family cards (Kartu Keluarga). The KK number is found through its keyed hash (kk_index)
-- and sealed with the card's address; region codes stay in clear for household statistics.
CREATE TABLE population_families (
    id            TEXT   PRIMARY KEY,
    kk_index      TEXT   NOT NULL UNIQUE,
    key_id        TEXT   NOT NULL,
    sealed        TEXT   NOT NULL,
    province      TEXT   NOT NULL,
    regency       TEXT   NOT NULL,
    district      TEXT   NOT NULL,
    status        TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX population_families_region ON population_families (province, regency);

-- Who is on which card, since when and why; a row whose left_at_ms is NULL is current.
-- A resident is on one card at a time, and a card has one head at a time.
CREATE TABLE population_family_members (
    id            TEXT   PRIMARY KEY,
    family_id     TEXT   NOT NULL REFERENCES population_families (id),
    resident_id   TEXT   NOT NULL REFERENCES population_residents (id),
    relationship  TEXT   NOT NULL,
    joined_at_ms  BIGINT NOT NULL,
    joined_reason TEXT   NOT NULL,
    left_at_ms    BIGINT,
    left_reason   TEXT
);
CREATE UNIQUE INDEX population_family_members_current ON population_family_members (resident_id)
    WHERE left_at_ms IS NULL;
CREATE UNIQUE INDEX population_family_members_head ON population_family_members (family_id)
    WHERE left_at_ms IS NULL AND relationship = 'kepala_keluarga';
CREATE INDEX population_family_members_family ON population_family_members (family_id);

-- Moves of whole families; the letter (names, NIKs, addresses) is sealed.
CREATE TABLE population_family_moves (
    id             TEXT   PRIMARY KEY,
    family_id      TEXT   NOT NULL REFERENCES population_families (id),
    number         TEXT   NOT NULL UNIQUE,
    key_id         TEXT   NOT NULL,
    sealed         TEXT   NOT NULL,
    from_district  TEXT   NOT NULL,
    to_district    TEXT   NOT NULL,
    moved_on       TEXT   NOT NULL,
    recorded_at_ms BIGINT NOT NULL
);
CREATE INDEX population_family_moves_family ON population_family_moves (family_id);

-- The last serial of numbers issued here, per prefix (KK numbers per district and day,
-- move letters per district and day).
CREATE TABLE population_serials (
    prefix TEXT   PRIMARY KEY,
    last   BIGINT NOT NULL
);

-- Households and their members per regency, kept by the household counter from family events.
CREATE TABLE population_household_stats (
    province   TEXT   NOT NULL,
    regency    TEXT   NOT NULL,
    households BIGINT NOT NULL,
    members    BIGINT NOT NULL,
    PRIMARY KEY (province, regency)
);
