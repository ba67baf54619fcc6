//! The embedded workspace: SQLite with versioned migrations, WAL and foreign keys. This module
//! and its children are the only places that write SQL for the local store.

mod attio;
mod backtests;
mod capture;
mod ingest;
mod posthog;
mod read;
mod runs;
pub mod units;

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

pub use attio::{AttioCandidate, CandidateSignal, Completion, OutboxStep, StepState};
pub use backtests::SavedBacktest;
pub use ingest::{EventIn, Ingest, IngestStats, NewEntry, Resolved, Resolver};
pub use posthog::Provisioned;
pub use read::{DealRow, RawEvent, RunRow, ScoreRow, SignalRow, Window, id_range};
pub use runs::{Emission, cooled_down};

use crate::config::{Config, name_matches};
use crate::error::{Error, Result};

/// Migrations in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("schema_v1.sql"),
    include_str!("schema_v2_posthog.sql"),
    include_str!("schema_v3_attio.sql"),
    include_str!("schema_v4_capture.sql"),
    include_str!("schema_backtests.sql"),
];

pub struct Store {
    conn: Connection,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.conn.path())
            .finish()
    }
}

impl Store {
    /// Opens (creating if needed) the workspace at `path` and runs pending migrations.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::setup(conn)
    }

    /// A private in-memory workspace, for tests.
    pub fn open_in_memory() -> Result<Self> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(conn: Connection) -> Result<Self> {
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "busy_timeout", 5000)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // 128 MiB of page cache keeps index inserts of big imports in memory.
        conn.pragma_update(None, "cache_size", -131_072)?;
        let store = Self { conn };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&self) -> Result<()> {
        let done: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        let done = usize::try_from(done).unwrap_or(usize::MAX);
        if done > MIGRATIONS.len() {
            return Err(Error::Usage(format!(
                "this workspace was written by a newer beton (schema {done}, this one knows {})",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
            let tx = self.conn.unchecked_transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Maps up to 4 GiB of the file for reads (on) or reads through the page cache (off).
    /// Mapping makes a full detection scan faster; it stays off for imports and rebuilds,
    /// whose mapped pages would otherwise count towards the process's memory.
    pub fn set_mmap(&self, on: bool) -> Result<()> {
        self.conn
            .pragma_update(None, "mmap_size", if on { 1i64 << 32 } else { 0 })?;
        Ok(())
    }

    /// The database file, or `None` for an in-memory workspace.
    pub fn path(&self) -> Option<std::path::PathBuf> {
        self.conn
            .path()
            .filter(|p| !p.is_empty())
            .map(std::path::PathBuf::from)
    }

    /// The smallest and largest account id, when there are accounts.
    pub fn account_id_span(&self) -> Result<Option<(i64, i64)>> {
        Ok(self
            .conn
            .query_row("SELECT min(id), max(id) FROM accounts", [], |r| {
                Ok(r.get::<_, Option<i64>>(0)?.zip(r.get::<_, Option<i64>>(1)?))
            })?)
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// True when the workspace holds no events, accounts or deals.
    pub fn is_empty(&self) -> Result<bool> {
        let n: i64 = self.conn.query_row(
            "SELECT (SELECT count(*) FROM (SELECT 1 FROM events LIMIT 1))
                  + (SELECT count(*) FROM (SELECT 1 FROM accounts LIMIT 1))
                  + (SELECT count(*) FROM (SELECT 1 FROM deals LIMIT 1))",
            [],
            |r| r.get(0),
        )?;
        Ok(n == 0)
    }

    pub fn counts(&self) -> Result<WorkspaceCounts> {
        let one = |sql: &str| -> Result<i64> { Ok(self.conn.query_row(sql, [], |r| r.get(0))?) };
        Ok(WorkspaceCounts {
            accounts: one("SELECT count(*) FROM accounts")?,
            events: one("SELECT count(*) FROM events")?,
            deals: one("SELECT count(*) FROM deals")?,
            first_event: self
                .conn
                .query_row("SELECT min(ts) FROM events", [], |r| r.get(0))?,
            last_event: self
                .conn
                .query_row("SELECT max(ts) FROM events", [], |r| r.get(0))?,
        })
    }

    /// Rebuilds the rollups from raw events when the settings that classify events changed since
    /// they were built. Returns whether a rebuild ran.
    pub fn ensure_rollups(&self, cfg: &Config) -> Result<bool> {
        let want = cfg.rollup_fingerprint();
        if self.meta("rollup_fingerprint")?.as_deref() == Some(want.as_str()) {
            return Ok(false);
        }
        let tx = self.conn.unchecked_transaction()?;
        tx.execute_batch(
            "DELETE FROM user_day; DELETE FROM feature_day; DELETE FROM account_units;",
        )?;
        let classes = Classifier::new(cfg).classes(&self.names()?);
        let classifier = Classifier::new(cfg);
        let mut rollup = ingest::Rollup::default();
        {
            let mut stmt = tx.prepare(
                "SELECT ts, account_id, user_id, name_id, url, feature_id FROM events ORDER BY ts, seq",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let name_id: i64 = r.get(3)?;
                let class = classes.get(&name_id).copied().unwrap_or_default();
                let url: Option<String> = r.get(4)?;
                let pricing =
                    class.pageview && url.as_deref().is_some_and(|u| classifier.is_pricing(u));
                rollup.add(r.get(0)?, r.get(1)?, r.get(2)?, class, pricing, r.get(5)?);
                if rollup.len() > ingest::FLUSH_AT {
                    rollup.flush(&tx)?;
                }
            }
        }
        rollup.flush(&tx)?;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES ('rollup_fingerprint', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [&want],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Event names by id.
    pub fn names(&self) -> Result<HashMap<i64, String>> {
        self.dictionary("SELECT id, name FROM event_names")
    }

    pub fn feature_names(&self) -> Result<HashMap<i64, String>> {
        self.dictionary("SELECT id, name FROM features")
    }

    fn dictionary(&self, sql: &str) -> Result<HashMap<i64, String>> {
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct WorkspaceCounts {
    pub accounts: i64,
    pub events: i64,
    pub deals: i64,
    pub first_event: Option<i64>,
    pub last_event: Option<i64>,
}

/// What an event name counts as, under the current settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NameClass {
    pub activity: bool,
    pub support: bool,
    pub billing: bool,
    pub pageview: bool,
    pub feature: bool,
}

/// Sorts events into the classes detection counts.
#[derive(Debug, Clone)]
pub struct Classifier {
    activity_exclude: Vec<String>,
    support: Vec<String>,
    billing: Vec<String>,
    pricing: Vec<String>,
}

/// The event whose `feature` property feature adoption counts.
pub const FEATURE_EVENT: &str = "feature_used";

impl Classifier {
    pub fn new(cfg: &Config) -> Self {
        Self {
            activity_exclude: cfg.activity_exclude.clone(),
            support: cfg.signals.support_engagement.events.clone(),
            billing: cfg.signals.billing_intent.events.clone(),
            pricing: cfg
                .signals
                .pricing_intent
                .url_patterns
                .iter()
                .map(|p| p.to_lowercase())
                .collect(),
        }
    }

    pub fn class(&self, name: &str) -> NameClass {
        NameClass {
            activity: !name_matches(&self.activity_exclude, name),
            support: name_matches(&self.support, name),
            billing: name_matches(&self.billing, name),
            pageview: name == "$pageview",
            feature: name == FEATURE_EVENT,
        }
    }

    pub fn classes(&self, names: &HashMap<i64, String>) -> HashMap<i64, NameClass> {
        names.iter().map(|(id, n)| (*id, self.class(n))).collect()
    }

    /// Case-insensitive substring match of any pricing pattern.
    pub fn is_pricing(&self, url: &str) -> bool {
        if url.is_ascii() {
            // The common case, without allocating: compare bytes ignoring ASCII case.
            let hay = url.as_bytes();
            return self.pricing.iter().any(|p| {
                let p = p.as_bytes();
                p.is_empty() || hay.windows(p.len()).any(|w| w.eq_ignore_ascii_case(p))
            });
        }
        let lower = url.to_lowercase();
        self.pricing.iter().any(|p| lower.contains(p.as_str()))
    }
}

/// An exclusive hold on a workspace for one writing run, released on drop.
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}

impl RunLock {
    /// Takes the lock in `data_dir`, waiting up to `wait` for another run to finish.
    pub fn acquire(data_dir: &Path, wait: std::time::Duration) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| Error::io(data_dir, e))?;
        let path = data_dir.join("beton.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let start = std::time::Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => {
                    use std::io::{Seek, Write};
                    let mut f = &file;
                    let _ = f.set_len(0);
                    let _ = f.seek(std::io::SeekFrom::Start(0));
                    let _ = write!(f, "{}", std::process::id());
                    return Ok(Self { _file: file });
                }
                Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < wait => {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    let who = match holder.trim() {
                        "" => path.display().to_string(),
                        pid => format!("pid {pid}, lock {}", path.display()),
                    };
                    return Err(Error::Busy(who));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_run_once_and_refuse_newer_schemas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.sqlite");
        Store::open(&path).unwrap();
        let store = Store::open(&path).unwrap();
        assert!(store.is_empty().unwrap());
        store
            .conn()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        drop(store);
        let err = Store::open(&path).unwrap_err().to_string();
        assert!(err.contains("newer beton"), "{err}");
    }

    #[test]
    fn second_lock_waits_then_fails() {
        let dir = tempfile::tempdir().unwrap();
        let _held = RunLock::acquire(dir.path(), std::time::Duration::ZERO).unwrap();
        let err = RunLock::acquire(dir.path(), std::time::Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, Error::Busy(_)), "{err}");
        assert!(
            err.to_string().contains(&std::process::id().to_string()),
            "{err}"
        );
    }
}
