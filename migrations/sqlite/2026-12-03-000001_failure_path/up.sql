-- The failing spell of a webhook: how many batches failed in it, the last error, and the
-- moment it will be disabled (set when the failure email has gone out).
ALTER TABLE webhooks ADD COLUMN failed_batches INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN last_error TEXT;
ALTER TABLE webhooks ADD COLUMN disable_at BIGINT;
CREATE INDEX webhooks_disable_due ON webhooks(disable_at) WHERE disable_at IS NOT NULL;

-- Emails to customers, written in the same transaction as the state change they report,
-- so each is sent once per spell even across restarts, and retried while the mail server
-- is down.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    webhook_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    spell_started_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    sent_at BIGINT,
    cancelled BOOLEAN NOT NULL DEFAULT 0
);
CREATE INDEX notifications_due ON notifications(next_attempt_at) WHERE sent_at IS NULL AND cancelled = 0;
