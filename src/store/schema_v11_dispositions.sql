-- Rep dispositions (SPEC §10): what a rep answered about a flagged account, and when. A
-- disposition at `at` applies to runs with T > at until the account's next one; the suppression
-- rule itself lives in `feedback.rs`, not here.
CREATE TABLE dispositions (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL CHECK (kind IN ('legit', 'not_ready', 'already_working')),
    at INTEGER NOT NULL,
    note TEXT,
    by TEXT,
    -- Where it came from: cli, import, tui or attio.
    source TEXT NOT NULL,
    -- The source's own key of the answer (Attio: the deal record and the value's active_from),
    -- so a second pull of the same answer records nothing.
    origin TEXT UNIQUE,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX dispositions_account ON dispositions(account_id, at);
CREATE INDEX dispositions_at ON dispositions(at);
