-- Models applied by `beton learn --apply` (SPEC §11), newest last. The current model is the
-- newest row not rolled back; `--rollback` marks it and writes `bases_before` back.
CREATE TABLE models (
    id INTEGER PRIMARY KEY,
    applied_at INTEGER NOT NULL,
    as_of INTEGER NOT NULL,
    -- The enabled types' bases before and after, JSON objects {signal: points}.
    bases_before TEXT NOT NULL,
    bases_after TEXT NOT NULL,
    -- The fitted model (intercept, coefficients, horizon), JSON.
    model TEXT NOT NULL,
    -- Test AUC of the model and of the rules it replaced; forced = applied despite validating worse.
    test_auc REAL,
    rules_auc REAL,
    forced INTEGER NOT NULL DEFAULT 0,
    rolled_back_at INTEGER
);
