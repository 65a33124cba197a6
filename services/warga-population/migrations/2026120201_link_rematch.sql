-- A link request that matched no resident when it was made keeps a keyed hash of the NIK and
-- birth date it gave (never the values), so that registering that resident later completes
-- the match. Cleared once matched.
ALTER TABLE population_link_requests ADD COLUMN match_index TEXT NULL;
CREATE INDEX population_link_requests_match ON population_link_requests (match_index);
