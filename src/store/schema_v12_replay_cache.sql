-- Replays kept for the next backtest or learn over the same data, settings and dates (the key;
-- see `backtest/cache.rs`). A replay is a pure function of those, so an entry is only a faster
-- way to the same answer. `state` is the data state it was computed on (`DATA_STATE` in
-- `store/replays.rs`); an entry whose state is no longer the workspace's is never read.
CREATE TABLE replay_cache (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    data BLOB NOT NULL
);
-- Bumped by every import transaction (`Ingest::begin`) and by every account row added outside
-- one (`Store::ensure_accounts`).
INSERT INTO meta(key, value) VALUES ('data_generation', '0') ON CONFLICT(key) DO NOTHING;
