-- The health facility a ledger member acts for (BPJS's kode faskes): the `facility`
-- claim of their tokens and the attribute of the ledger certificate enrolled for them.
ALTER TABLE identity_accounts ADD COLUMN facility TEXT NULL;
