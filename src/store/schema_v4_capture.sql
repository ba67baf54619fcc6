-- `beton_signal_fired` events waiting for PostHog to accept them. Each run queues its emissions
-- here and sends everything still unsent, so a capture that failed is sent by the next run; the
-- deterministic uuid makes a resend of an accepted event harmless.
CREATE TABLE capture_outbox (
    uuid TEXT PRIMARY KEY,
    payload TEXT NOT NULL,
    queued_at INTEGER NOT NULL,
    sent_at INTEGER
);
CREATE INDEX capture_outbox_unsent ON capture_outbox(queued_at) WHERE sent_at IS NULL;
