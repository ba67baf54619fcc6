-- The Attio sync (docs/ATTIO.md).

-- Account → Attio company, found by domain. `record_id` NULL: no company had the domain when it
-- was last checked (the account is reported unresolved, and checked again on the next sync).
CREATE TABLE attio_companies (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
    domain TEXT NOT NULL,
    record_id TEXT,
    checked_at INTEGER NOT NULL
);

-- Account → its PQL deal in Attio, with a digest of the values last asserted (the same values
-- are not sent again).
CREATE TABLE attio_deals (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
    record_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    synced_at INTEGER NOT NULL
);

-- The outbox: every write is stored here before it is sent and marked done once Attio confirms
-- it. `key` makes a step unique (one deal assert per set of values, one note per account and run…).
-- state: pending (not sent yet) → sent (sent, answer unknown) → done; failed = Attio rejected it.
CREATE TABLE attio_outbox (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
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
    error TEXT
);
CREATE INDEX attio_outbox_open ON attio_outbox(state, id) WHERE state <> 'done';
