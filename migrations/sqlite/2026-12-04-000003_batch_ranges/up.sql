-- A batch is a contiguous run of its webhook's events: every delivery of the webhook whose
-- event id lies in [first_event_id, last_event_id]. A webhook's actor batches its events
-- strictly in event-id order, so "which events are batched" is one number per webhook,
-- batched_upto, instead of a batch id written into every delivery row. Recording a batch
-- is then one row and one watermark, however many events it holds.
--
-- deliveries becomes a bare (webhook, event) index, clustered by webhook, so reading a
-- webhook's pending events or a batch's events is one range of one B-tree.

ALTER TABLE webhooks ADD COLUMN batched_upto BIGINT NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN first_event_id BIGINT;
ALTER TABLE batches ADD COLUMN last_event_id BIGINT;

-- Existing batches become the range of their events; the watermark is the last batched
-- event.
UPDATE batches SET
    first_event_id = (SELECT min(d.event_id) FROM deliveries d WHERE d.batch_id = batches.id),
    last_event_id = (SELECT max(d.event_id) FROM deliveries d WHERE d.batch_id = batches.id)
WHERE test = 0;
UPDATE webhooks SET batched_upto = COALESCE(
    (SELECT max(d.event_id) FROM deliveries d WHERE d.webhook_id = webhooks.id AND d.batch_id IS NOT NULL), 0);

-- An unbatched event below its webhook's watermark (events that reached the old actor out
-- of order) would count as batched under the new rule. It gets a copy of its event above
-- every existing id, so it is still delivered, once.
CREATE TEMP TABLE strays AS
    SELECT d.webhook_id AS webhook_id, d.event_id AS event_id, ROW_NUMBER() OVER (ORDER BY d.id) AS n
    FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
    WHERE d.batch_id IS NULL AND d.event_id <= w.batched_upto;
CREATE TEMP TABLE stray_base AS
    SELECT max(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),
               COALESCE((SELECT max(id) FROM events), 0)) AS base;
INSERT INTO events (id, account_id, payload, received_at)
    SELECT b.base + s.n, e.account_id, e.payload, e.received_at
    FROM strays s JOIN events e ON e.id = s.event_id CROSS JOIN stray_base b;

CREATE TABLE deliveries_by_webhook (
    webhook_id TEXT NOT NULL,
    event_id BIGINT NOT NULL,
    PRIMARY KEY (webhook_id, event_id)
) WITHOUT ROWID;
INSERT INTO deliveries_by_webhook (webhook_id, event_id)
    SELECT d.webhook_id, d.event_id FROM deliveries d
    WHERE NOT EXISTS (SELECT 1 FROM strays s WHERE s.webhook_id = d.webhook_id AND s.event_id = d.event_id);
INSERT INTO deliveries_by_webhook (webhook_id, event_id)
    SELECT s.webhook_id, b.base + s.n FROM strays s CROSS JOIN stray_base b;

DROP TABLE strays;
DROP TABLE stray_base;
DROP TABLE deliveries;
ALTER TABLE deliveries_by_webhook RENAME TO deliveries;
