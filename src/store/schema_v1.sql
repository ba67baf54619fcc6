-- Accounts are PostHog groups; `snapshot` holds the imported properties (JSON object).
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    created_at INTEGER,
    snapshot TEXT
);
CREATE TABLE users (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
CREATE TABLE event_names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE features (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);

-- Raw events, clustered by time so a time range is one sequential read. Only the columns
-- detection needs are kept: the URL of page views and the `feature` property.
CREATE TABLE events (
    ts INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    uuid BLOB,
    account_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    name_id INTEGER NOT NULL,
    url TEXT,
    feature_id INTEGER,
    PRIMARY KEY (ts, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX events_uuid ON events(uuid) WHERE uuid IS NOT NULL;

-- Per (day, account, user) rollup of the event classes detection counts. Rebuilt from `events`
-- when the settings that classify events change (see meta.rollup_fingerprint).
CREATE TABLE user_day (
    day INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    activity INTEGER NOT NULL,
    pricing INTEGER NOT NULL,
    support INTEGER NOT NULL,
    billing INTEGER NOT NULL,
    last_ts INTEGER,
    PRIMARY KEY (day, account_id, user_id)
) WITHOUT ROWID;
CREATE TABLE feature_day (
    day INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    feature_id INTEGER NOT NULL,
    PRIMARY KEY (day, account_id, feature_id)
) WITHOUT ROWID;

-- `$group_set` of `$groupidentify` events, in time order.
CREATE TABLE prop_history (
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    ts INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    props TEXT NOT NULL,
    PRIMARY KEY (account_id, ts, seq)
) WITHOUT ROWID;

CREATE TABLE deals (
    deal_id TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    name TEXT,
    lead_source TEXT NOT NULL,
    stage TEXT NOT NULL,
    value REAL,
    created_at INTEGER NOT NULL,
    sql_at INTEGER,
    closed_at INTEGER,
    owner_email TEXT
);
CREATE INDEX deals_account ON deals(account_id);

CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    as_of INTEGER NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    report TEXT
);
CREATE TABLE run_scores (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    score INTEGER NOT NULL,
    tier TEXT NOT NULL,
    routed INTEGER NOT NULL,
    PRIMARY KEY (run_id, account_id)
) WITHOUT ROWID;
CREATE TABLE run_signals (
    run_id INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    signal TEXT NOT NULL,
    base INTEGER NOT NULL,
    evidence TEXT NOT NULL,
    numbers TEXT NOT NULL,
    emitted INTEGER NOT NULL,
    PRIMARY KEY (run_id, account_id, signal),
    FOREIGN KEY (run_id, account_id) REFERENCES run_scores(run_id, account_id) ON DELETE CASCADE
) WITHOUT ROWID;

-- The cooldown ledger: one row per emitted (account, signal type).
CREATE TABLE emissions (
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    signal TEXT NOT NULL,
    emitted_at INTEGER NOT NULL,
    run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
    PRIMARY KEY (account_id, signal, emitted_at)
) WITHOUT ROWID;

CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- A packed copy of each account's user_day and feature_day rows (see src/store/units.rs).
CREATE TABLE account_units (account_id INTEGER PRIMARY KEY, data BLOB NOT NULL);
