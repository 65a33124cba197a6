-- Reporters' own contacts for notifications by SMS and e-mail (R4), given and removed by the
-- citizen: sealed by the vault (bound to the account), never with a report.
CREATE TABLE report_contacts (
    subject       TEXT   PRIMARY KEY,
    key_id        TEXT   NOT NULL,
    phone_sealed  TEXT   NULL,
    email_sealed  TEXT   NULL,
    updated_at_ms BIGINT NOT NULL
);
-- Messages to reporters are sent by the same leased, retried, dead-lettered deliveries as
-- the departments' webhooks: `channel` says how (`webhook`, `sms`, `email`) and
-- `recipient` whom (the reporter's account; their contact is read when the message is
-- sent, so one removed meanwhile is not used).
ALTER TABLE report_webhook_deliveries ADD COLUMN channel TEXT NOT NULL DEFAULT 'webhook';
ALTER TABLE report_webhook_deliveries ADD COLUMN recipient TEXT NULL;
