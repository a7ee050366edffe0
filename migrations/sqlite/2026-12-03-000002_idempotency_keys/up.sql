-- Ingest requests made with an Idempotency-Key: a repeat within 24 hours gets the first
-- answer and stores nothing. The fingerprint (SHA-256 of the body) tells a true repeat
-- from a different request that reuses the key.
CREATE TABLE idempotency_keys (
    account_id TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    accepted BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at);
