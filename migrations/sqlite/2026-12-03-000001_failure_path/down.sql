DROP TABLE notifications;
DROP INDEX webhooks_disable_due;
ALTER TABLE webhooks DROP COLUMN disable_at;
ALTER TABLE webhooks DROP COLUMN last_error;
ALTER TABLE webhooks DROP COLUMN failed_batches;
