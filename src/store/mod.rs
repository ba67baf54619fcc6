//! The embedded workspace: SQLite with versioned migrations, WAL and foreign keys. This module
//! and its children are the only places that write SQL for the local store.

mod alerts;
mod attio;
mod backtests;
pub mod blocks;
mod capture;
mod dedupe;
mod dispositions;
mod ingest;
mod models;
mod pending;
mod posthog;
mod read;
mod replays;
mod runs;
pub mod units;
mod varint;

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

pub use alerts::{AlertRow, GroupProps, HoldoutRow, OutboxEntry};
pub use attio::{AttioCandidate, CandidateSignal, Completion, OutboxStep, StepState};
pub use backtests::{BacktestColumns, Columns, SavedBacktest};
pub use dispositions::DispositionRow;
pub use ingest::{
    EventIn, EventRef, Ingest, IngestStats, NewEntry, Prepared, Resolved, Resolver, Uuid,
};
pub use models::StoredModel;
pub use posthog::Provisioned;
pub use read::{DealRow, RawEvent, RunRow, ScoreRow, SignalRow, Window, id_range};
pub use runs::{Emission, FiredRow, RecordExtras, Recorded, Scored, cooled_down};

use crate::config::{Config, name_matches};
use crate::error::{Error, Result};

/// One schema step: code to run first (if any), then SQL.
struct Migration {
    code: Option<fn(&Connection) -> Result<()>>,
    sql: &'static str,
}

const fn sql(sql: &'static str) -> Migration {
    Migration { code: None, sql }
}

/// Migrations in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[Migration] = &[
    sql(include_str!("schema_v1.sql")),
    sql(include_str!("schema_v2_posthog.sql")),
    sql(include_str!("schema_v3_attio.sql")),
    sql(include_str!("schema_v4_capture.sql")),
    sql(include_str!("schema_backtests.sql")),
    Migration {
        code: Some(events_to_blocks),
        sql: include_str!("schema_v6_blocks.sql"),
    },
    sql(include_str!("schema_v7_attio_url.sql")),
    sql(include_str!("schema_v8_outbox.sql")),
    sql(include_str!("schema_run_settings.sql")),
    sql(include_str!("schema_models.sql")),
    sql(include_str!("schema_v11_dispositions.sql")),
    sql(include_str!("schema_v12_replay_cache.sql")),
];

/// Copies the `events` rows of a workspace written before schema 6 into `event_blocks`.
fn events_to_blocks(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE event_blocks (
            id INTEGER PRIMARY KEY,
            day INTEGER NOT NULL,
            n INTEGER NOT NULL,
            min_ts INTEGER NOT NULL,
            max_ts INTEGER NOT NULL,
            data BLOB NOT NULL
        );
        CREATE INDEX event_blocks_day ON event_blocks(day, max_ts);",
    )?;
    let mut stmt = conn.prepare(
        "SELECT ts, seq, uuid, account_id, user_id, name_id, url, feature_id FROM events ORDER BY ts, seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut block: Option<blocks::Builder> = None;
    while let Some(r) = rows.next()? {
        let ts: i64 = r.get(0)?;
        let day = crate::time::day_of(ts);
        let b = match &mut block {
            Some(b) if b.day == day && !b.is_full() => b,
            other => {
                if let Some(done) = other.take() {
                    done.write(conn)?;
                }
                other.insert(blocks::Builder::new(day))
            }
        };
        let uuid = r
            .get_ref(2)?
            .as_blob_or_null()
            .map_err(rusqlite::Error::from)?;
        // The old column held a parsed uuid's 16 bytes, or a non-uuid's text. Sixteen printable
        // ASCII bytes are read as text: a real uuid is that by chance about once in 10 million.
        let uuid = uuid.map(|u| match <[u8; 16]>::try_from(u) {
            Ok(bytes) if !bytes.iter().all(|b| (0x20..0x7f).contains(b)) => {
                blocks::UuidRef::Bytes(bytes)
            }
            _ => blocks::UuidRef::Text(std::str::from_utf8(u).unwrap_or_default()),
        });
        b.push(&blocks::Packed {
            ts,
            seq: r.get(1)?,
            uuid,
            account: r.get(3)?,
            user: r.get(4)?,
            name: r.get(5)?,
            url: r
                .get_ref(6)?
                .as_str_or_null()
                .map_err(rusqlite::Error::from)?,
            feature: r.get(7)?,
        });
    }
    if let Some(b) = block {
        b.write(conn)?;
    }
    Ok(())
}

/// How long a statement waits for another process's write (a first import) before it fails
/// with "an import is running".
pub const BUSY_WAIT_MS: i64 = 5000;

pub struct Store {
    conn: Connection,
    /// While a [`WhatIfIds`] guard lives: the ids handed out for keys that are no account
    /// (below 0), so that a what-if adds no account row ([`Store::ensure_accounts`]).
    what_if_ids: std::cell::RefCell<Option<HashMap<String, i64>>>,
}

/// While it lives, [`Store::ensure_accounts`] on its store writes nothing: a key that is no
/// account yet gets an id below 0 (the same one on every call), as a what-if needs (detection
/// under draft settings, a dry run, a diff) — only a daily run adds accounts.
#[must_use = "the store writes account rows again once the guard is dropped"]
pub struct WhatIfIds<'s>(&'s Store);

impl Drop for WhatIfIds<'_> {
    fn drop(&mut self) {
        self.0.what_if_ids.replace(None);
    }
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
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::error::create_dir(dir)?;
        }
        // 0600 from the start: the workspace holds account names, scores and what was sent.
        crate::secret::create_private(path).map_err(|e| Error::io(path, e))?;
        crate::error::set_workspace(path);
        let conn = Connection::open(path)?;
        // Before anything else: switching to WAL waits for a first import (which runs with a
        // rollback journal) like every other statement, then says an import is running.
        conn.pragma_update(None, "busy_timeout", BUSY_WAIT_MS)?;
        // SQLite does not call the busy handler for a journal mode change: wait here.
        let started = std::time::Instant::now();
        loop {
            match conn.pragma_update(None, "journal_mode", "WAL") {
                Err(rusqlite::Error::SqliteFailure(f, _))
                    if f.code == rusqlite::ErrorCode::DatabaseBusy
                        && started.elapsed().as_millis() < BUSY_WAIT_MS as u128 =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => break other?,
            }
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::setup(conn)
    }

    /// A private in-memory workspace, for tests.
    pub fn open_in_memory() -> Result<Self> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(conn: Connection) -> Result<Self> {
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "busy_timeout", BUSY_WAIT_MS)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // 128 MiB of page cache keeps index inserts of big imports in memory.
        conn.pragma_update(None, "cache_size", -131_072)?;
        let store = Self {
            conn,
            what_if_ids: Default::default(),
        };
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
        let mut moved = false;
        for (i, m) in MIGRATIONS.iter().enumerate().skip(done) {
            // IMMEDIATE: another process migrating the same file at the same moment waits here,
            // then finds the step done.
            let tx = rusqlite::Transaction::new_unchecked(
                &self.conn,
                rusqlite::TransactionBehavior::Immediate,
            )?;
            let now: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if usize::try_from(now).unwrap_or(usize::MAX) > i {
                continue;
            }
            if let Some(code) = m.code {
                code(&tx)?;
                moved = true;
            }
            tx.execute_batch(m.sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
        }
        // Only right after a migration that moved data: a VACUUM at any other open could wait
        // on another process's import.
        if moved && let Err(e) = self.reclaim_space() {
            // The move is committed; the space is only not given back yet.
            tracing::warn!("could not give the freed space back to the disk: {e}");
        }
        Ok(())
    }

    /// Gives the space of dropped tables back to the disk when it is over a quarter of the file
    /// (after schema 6 moved a big `events` table into blocks). It builds the new file in a
    /// temporary file, not in memory.
    fn reclaim_space(&self) -> Result<()> {
        let pages: i64 = self
            .conn
            .pragma_query_value(None, "page_count", |r| r.get(0))?;
        let free: i64 = self
            .conn
            .pragma_query_value(None, "freelist_count", |r| r.get(0))?;
        if free < 1024 || free * 4 < pages || self.path().is_none() {
            return Ok(());
        }
        tracing::info!("reclaiming {free} free pages of {pages}");
        self.conn.pragma_update(None, "temp_store", "FILE")?;
        let vacuum = self.conn.execute_batch("VACUUM");
        self.conn.pragma_update(None, "temp_store", "MEMORY")?;
        Ok(vacuum?)
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

    /// Account rows are not written while the guard lives (see [`WhatIfIds`]).
    pub fn what_if_ids(&self) -> WhatIfIds<'_> {
        self.what_if_ids.replace(Some(HashMap::new()));
        WhatIfIds(self)
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
            "SELECT (SELECT count(*) FROM (SELECT 1 FROM event_blocks LIMIT 1))
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
            events: one("SELECT coalesce(sum(n), 0) FROM event_blocks")?,
            deals: one("SELECT count(*) FROM deals")?,
            first_event: self
                .conn
                .query_row("SELECT min(min_ts) FROM event_blocks", [], |r| r.get(0))?,
            last_event: self
                .conn
                .query_row("SELECT max(max_ts) FROM event_blocks", [], |r| r.get(0))?,
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
        tx.execute_batch("DELETE FROM account_units")?;
        let classes = Classifier::new(cfg).classes(&self.names()?);
        let classifier = Classifier::new(cfg);
        let mut rollup = ingest::Rollup::default();
        let mut flush_err = None;
        self.for_packed_events(i64::MIN, i64::MAX, |e| {
            let class = classes.get(&e.name).copied().unwrap_or_default();
            let pricing = class.pageview && e.url.is_some_and(|u| classifier.is_pricing(u));
            rollup.add(e.ts, e.account, e.user, class, pricing, e.feature);
            if rollup.full() && flush_err.is_none() {
                flush_err = rollup.flush(&tx).err();
            }
        })?;
        if let Some(e) = flush_err {
            return Err(e);
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
        crate::error::create_dir(data_dir)?;
        let path = data_dir.join("beton.lock");
        crate::secret::create_private(&path).map_err(|e| Error::io(&path, e))?;
        let file = std::fs::OpenOptions::new()
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
    fn a_schema_5_workspace_moves_its_events_into_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.sqlite");
        let conn = Connection::open(&path).unwrap();
        for m in &MIGRATIONS[..5] {
            conn.execute_batch(m.sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 5).unwrap();
        let day = 20_000 * crate::time::DAY;
        let bytes: Vec<u8> = (1..=16).collect();
        conn.execute_batch(
            "INSERT INTO accounts(id, key) VALUES (1, 'acme.com'), (2, 'beta.io');
             INSERT INTO users(id, key) VALUES (1, 'u1');
             INSERT INTO event_names(id, name) VALUES (1, '$pageview'), (2, 'feature_used');
             INSERT INTO features(id, name) VALUES (1, 'reports');
             INSERT INTO meta(key, value) VALUES ('next_seq', '5');",
        )
        .unwrap();
        let mut insert = conn
            .prepare("INSERT INTO events(ts, seq, uuid, account_id, user_id, name_id, url, feature_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
            .unwrap();
        let text_uuid: &[u8] = b"import-row-17";
        let sixteen_chars: &[u8] = b"ABCDEFGHIJKLMNOP";
        let none: Option<&[u8]> = None;
        insert
            .execute(params![
                day + 10,
                1,
                bytes,
                1,
                1,
                1,
                "https://x.io/pricing",
                None::<i64>
            ])
            .unwrap();
        insert
            .execute(params![day + 5, 2, text_uuid, 2, 1, 2, None::<String>, 1])
            .unwrap();
        insert
            .execute(params![
                day + crate::time::DAY + 1,
                3,
                sixteen_chars,
                1,
                1,
                2,
                None::<String>,
                1
            ])
            .unwrap();
        insert
            .execute(params![
                day + 7,
                4,
                none,
                1,
                1,
                1,
                None::<String>,
                None::<i64>
            ])
            .unwrap();
        drop(insert);
        // A big old rollup table, so that dropping it frees most of the file.
        conn.execute_batch(
            "INSERT INTO user_day(day, account_id, user_id, activity, pricing, support, billing)
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400000)
             SELECT i, 1, 1, 1, 0, 0, 0 FROM n;",
        )
        .unwrap();
        let pages_before: i64 = conn
            .pragma_query_value(None, "page_count", |r| r.get(0))
            .unwrap();
        drop(conn);

        let store = Store::open(&path).unwrap();
        let mut got = Vec::new();
        store
            .for_packed_events(i64::MIN, i64::MAX, |e| {
                got.push((
                    e.ts - day,
                    e.seq,
                    e.uuid.map(|u| format!("{u:?}")),
                    e.account,
                    e.name,
                    e.url.map(str::to_string),
                    e.feature,
                ));
            })
            .unwrap();
        got.sort_by_key(|g| g.1);
        let b: [u8; 16] = bytes.clone().try_into().unwrap();
        assert_eq!(
            got,
            vec![
                (
                    10,
                    1,
                    Some(format!("{:?}", blocks::UuidRef::Bytes(b))),
                    1,
                    1,
                    Some("https://x.io/pricing".into()),
                    None
                ),
                (
                    5,
                    2,
                    Some("Text(\"import-row-17\")".into()),
                    2,
                    2,
                    None,
                    Some(1)
                ),
                (
                    crate::time::DAY + 1,
                    3,
                    Some("Text(\"ABCDEFGHIJKLMNOP\")".into()),
                    1,
                    2,
                    None,
                    Some(1)
                ),
                (7, 4, None, 1, 1, None, None),
            ]
        );
        let counts = store.counts().unwrap();
        assert_eq!(
            (counts.events, counts.first_event, counts.last_event),
            (4, Some(day + 5), Some(day + crate::time::DAY + 1))
        );
        let (pages, free): (i64, i64) = store
            .conn()
            .query_row(
                "SELECT (SELECT page_count FROM pragma_page_count), (SELECT freelist_count FROM pragma_freelist_count)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert!(
            pages * 4 < pages_before && free < 16,
            "{pages} pages ({free} free), {pages_before} before"
        );
        for gone in ["events", "user_day", "feature_day"] {
            let n: i64 = store
                .conn()
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name = ?1",
                    [gone],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 0, "{gone} is dropped");
        }

        // The moved uuids still deduplicate: the same three events again are no-ops.
        let cfg = Config::default();
        let mut ingest = Ingest::begin(&store, &cfg).unwrap();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        for (uuid, ts) in [
            (hex.as_str(), day + 10),
            ("import-row-17", day + 5),
            ("ABCDEFGHIJKLMNOP", day + crate::time::DAY + 1),
        ] {
            ingest
                .event(&EventIn {
                    uuid: Some(uuid.into()),
                    event: "$pageview".into(),
                    distinct_id: "u1".into(),
                    ts,
                    account: Some("acme.com".into()),
                    url: None,
                    feature: None,
                    group_set: None,
                })
                .unwrap();
        }
        let stats = ingest.commit().unwrap();
        assert_eq!((stats.inserted, stats.duplicates), (0, 3));
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
