-- The scoring settings each run was scored with (JSON), so `beton diff --runs A B` compares two
-- runs each under its own settings and names the settings that changed.
CREATE TABLE run_settings (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    settings TEXT NOT NULL
);
