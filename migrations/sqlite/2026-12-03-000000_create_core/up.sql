-- Accounts own webhooks; an API key is stored only as its SHA-256 hash.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    api_key_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE webhooks (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    target_url TEXT NOT NULL,
    source TEXT NOT NULL,
    events TEXT NOT NULL,
    auth_type TEXT NOT NULL,
    auth_username TEXT,
    auth_password TEXT,
    status TEXT NOT NULL,
    disabled_reason TEXT,
    health TEXT NOT NULL,
    failing_since BIGINT,
    last_success_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhooks_by_account ON webhooks(account_id, created_at);

-- Every accepted event, exactly as sent, stored once however many webhooks receive it.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    account_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

-- One row per (webhook, event) to deliver; batch_id is set when the event joins a batch.
-- No foreign keys: an ingest racing a webhook's deletion may leave rows that start-up sweeps.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    webhook_id TEXT NOT NULL,
    event_id BIGINT NOT NULL,
    batch_id TEXT
);
CREATE INDEX deliveries_unbatched ON deliveries(webhook_id, id) WHERE batch_id IS NULL;
CREATE INDEX deliveries_by_batch ON deliveries(batch_id, id);

CREATE TABLE batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    webhook_id TEXT NOT NULL,
    status TEXT NOT NULL,
    test BOOLEAN NOT NULL,
    event_count INTEGER NOT NULL,
    attempt_count INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    last_attempt_at BIGINT,
    next_attempt_at BIGINT,
    response_code INTEGER,
    response_body TEXT,
    error TEXT
);
CREATE INDEX batches_by_webhook ON batches(webhook_id, seq);
CREATE INDEX batches_unfinished ON batches(webhook_id, seq) WHERE status IN ('pending', 'retrying');

CREATE TABLE attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    batch_id TEXT NOT NULL,
    retry_count INTEGER NOT NULL,
    attempted_at BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    response_code INTEGER,
    response_body TEXT,
    error TEXT
);
CREATE INDEX attempts_by_batch ON attempts(batch_id, id);
