-- One row per saved backtest (the settings in force, not what-if candidates): the headline
-- figures as columns for dashboards, and the whole report as JSON.
CREATE TABLE backtests (
    id INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    as_of INTEGER NOT NULL,
    range_days INTEGER NOT NULL,
    step_days INTEGER NOT NULL,
    horizon_days INTEGER NOT NULL,
    threshold INTEGER NOT NULL,
    precision REAL,
    recall REAL,
    f1 REAL,
    flagged INTEGER NOT NULL,
    won_accounts INTEGER NOT NULL,
    lift REAL,
    value_won REAL NOT NULL,
    roi_multiple REAL,
    report TEXT NOT NULL
);
