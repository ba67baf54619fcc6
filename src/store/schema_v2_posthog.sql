-- What `beton provision` created in PostHog, per project: one row per dashboard and per tile
-- (an insight), with the definition version the tile was last written with.
CREATE TABLE posthog_dashboards (
    project_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    dashboard_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    provisioned_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, key)
) WITHOUT ROWID;
CREATE TABLE posthog_tiles (
    project_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    dashboard_key TEXT NOT NULL,
    insight_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    provisioned_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, key)
) WITHOUT ROWID;
