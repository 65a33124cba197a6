-- Consumers lease their deliveries in outbox order: an index in that order lets a lease
-- stop after its rows however long the backlog is (the index by due time made every lease
-- read and sort the whole backlog). It also serves the per-consumer lag count.
DROP INDEX event_deliveries_due;
CREATE INDEX event_deliveries_order ON event_deliveries (consumer, seq) WHERE dead_at_ms IS NULL;
