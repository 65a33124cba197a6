-- Name search over sealed names: a blind index. Each word of a resident's name gives its
-- prefixes of 3 to 16 characters; each prefix is stored only as a truncated keyed hash.
CREATE TABLE population_name_tokens (
    token       TEXT NOT NULL,
    resident_id TEXT NOT NULL REFERENCES population_residents (id),
    PRIMARY KEY (token, resident_id)
);

-- A citizen account asking to be linked to its resident record; a registry officer decides.
-- The NIK and birth date the citizen typed are not kept: only whether they matched a living
-- resident (resident_id) at the time of asking.
CREATE TABLE population_link_requests (
    id            TEXT   PRIMARY KEY,
    subject       TEXT   NOT NULL,
    username      TEXT   NOT NULL,
    resident_id   TEXT   NULL REFERENCES population_residents (id),
    status        TEXT   NOT NULL,
    decided_by    TEXT   NULL,
    reason        TEXT   NULL,
    created_at_ms BIGINT NOT NULL,
    decided_at_ms BIGINT NULL
);
CREATE INDEX population_link_requests_status ON population_link_requests (status, created_at_ms);
CREATE INDEX population_link_requests_subject ON population_link_requests (subject);

-- The confirmed link: one account to one resident, both ways.
CREATE TABLE population_citizen_links (
    subject      TEXT   PRIMARY KEY,
    resident_id  TEXT   NOT NULL UNIQUE REFERENCES population_residents (id),
    request_id   TEXT   NOT NULL,
    linked_by    TEXT   NOT NULL,
    linked_at_ms BIGINT NOT NULL
);
