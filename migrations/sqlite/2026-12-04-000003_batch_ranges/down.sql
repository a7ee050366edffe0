-- Back to a batch id in every delivery row.
CREATE TABLE deliveries_by_row (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    webhook_id TEXT NOT NULL,
    event_id BIGINT NOT NULL,
    batch_id TEXT
);
INSERT INTO deliveries_by_row (webhook_id, event_id, batch_id)
    SELECT d.webhook_id, d.event_id,
        (SELECT b.id FROM batches b WHERE b.webhook_id = d.webhook_id AND b.test = 0
            AND d.event_id BETWEEN b.first_event_id AND b.last_event_id)
    FROM deliveries d ORDER BY d.event_id, d.webhook_id;
DROP TABLE deliveries;
ALTER TABLE deliveries_by_row RENAME TO deliveries;
CREATE INDEX deliveries_unbatched ON deliveries(webhook_id, id) WHERE batch_id IS NULL;
CREATE INDEX deliveries_by_batch ON deliveries(batch_id, id);
ALTER TABLE batches DROP COLUMN last_event_id;
ALTER TABLE batches DROP COLUMN first_event_id;
ALTER TABLE webhooks DROP COLUMN batched_upto;
