-- Who is told about new registrations in a regency: registry desks with a phone number.
CREATE TABLE population_notify_desks (
    regency       TEXT   NOT NULL,
    phone         TEXT   NOT NULL,
    label         TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (regency, phone)
);

-- The embedded SMS provider: messages are kept here, viewable by administrators.
CREATE TABLE population_sms_outbox (
    id            TEXT   PRIMARY KEY,
    to_phone      TEXT   NOT NULL,
    body          TEXT   NOT NULL,
    event_id      TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL
);
