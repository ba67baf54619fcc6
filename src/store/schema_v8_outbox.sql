-- One outbox for every external write: the Attio steps (channel 'attio'), alerts and digests
-- (channels 'webhook' and 'slack'). A row is stored before it is sent and marked done once the
-- receiver confirms it; `(channel, key)` is unique, so a key is planned once per destination.
-- state: pending (not sent) → sent (sent, answer unknown) → done; failed = rejected (Attio);
-- rolled = an alert held back by the throttle or quiet hours, waiting for the digest;
-- digested = a rolled alert that a digest (`digest`) took in.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    account_id INTEGER REFERENCES accounts(id),
    kind TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    body TEXT NOT NULL,
    marker TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    sent_at INTEGER,
    done_at INTEGER,
    result TEXT,
    error TEXT,
    -- Alerts and digests: the run and its T, the owner (throttle), the newest event that made the
    -- alert fire, the digest that took a rolled alert in, and the earliest next try (Retry-After).
    run_id INTEGER,
    as_of INTEGER,
    owner TEXT,
    newest_event INTEGER,
    digest TEXT,
    not_before INTEGER,
    UNIQUE (channel, key)
);
INSERT INTO outbox(id, channel, key, account_id, kind, method, path, body, marker, state, attempts,
                   created_at, sent_at, done_at, result, error)
    SELECT id, 'attio', key, account_id, kind, method, path, body, marker, state, attempts,
           created_at, sent_at, done_at, result, error FROM attio_outbox;
DROP TABLE attio_outbox;
CREATE INDEX outbox_open ON outbox(channel, state, id) WHERE state <> 'done';
CREATE INDEX outbox_owner ON outbox(owner, as_of) WHERE owner IS NOT NULL;
CREATE INDEX outbox_account ON outbox(account_id, id);

-- The holdout (SPEC §12): drawn when an account is first routed, never drawn again.
CREATE TABLE holdout (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
    held_out INTEGER NOT NULL,
    routed_at INTEGER NOT NULL,
    run_id INTEGER,
    percent REAL NOT NULL
);

-- What Beton last set as group properties in PostHog per account (sent again only on change).
CREATE TABLE group_props (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
    props TEXT NOT NULL,
    queued_at INTEGER NOT NULL
);
