//! The replay cache's rows (schema 12). The store keeps opaque blobs under a key and the data
//! state they were computed on; what a key means and what a blob holds is the backtest's
//! (`backtest/cache.rs`).

use rusqlite::{Connection, OptionalExtension, params};

use super::Store;
use crate::error::Result;

/// The workspace's data state: the generation every import bumps, and the newest row of the
/// tables a replay reads that have a cheap one (so an insert that went around the ingest still
/// changes it; `prop_history` has no row id, and only the ingest writes it).
const DATA_STATE: &str =
    "(SELECT coalesce((SELECT value FROM meta WHERE key = 'data_generation'), '0')
        || ':' || (SELECT coalesce(max(id), 0) FROM event_blocks)
        || ':' || (SELECT coalesce(max(id), 0) FROM accounts)
        || ':' || (SELECT count(*) FROM accounts)
        || ':' || (SELECT coalesce(max(id), 0) FROM event_names)
        || ':' || (SELECT coalesce(max(id), 0) FROM features))";

/// Entries kept at most, newest first, and their total size: beyond either the oldest go.
const KEEP_ENTRIES: i64 = 8;
const KEEP_BYTES: i64 = 64 << 20;

/// Marks the data as changed, inside the caller's write transaction (rolled back with it).
pub(crate) fn bump_generation(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta(key, value) VALUES ('data_generation', '1')
         ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
        [],
    )?;
    Ok(())
}

impl Store {
    /// The data state a replay computed now would rest on.
    pub fn data_state(&self) -> Result<String> {
        Ok(self
            .conn()
            .query_row(&format!("SELECT {DATA_STATE}"), [], |r| r.get(0))?)
    }

    /// The blob kept under `key`, when it was computed on the current data state.
    pub fn cached_replay(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT data FROM replay_cache WHERE key = ?1 AND state = {DATA_STATE}"),
                [key],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Keeps `data` under `key` when the data state is still `state` (an import that committed
    /// while the replay ran makes it stale: it is not kept), and drops the entries of other
    /// states and those beyond the size limits. Never waits for another writer: when the
    /// workspace is busy nothing is kept and `Ok(false)` comes back.
    pub fn cache_replay(&self, key: &str, state: &str, data: &[u8]) -> Result<bool> {
        let conn = self.conn();
        conn.busy_timeout(std::time::Duration::ZERO)?;
        let kept = (|| -> rusqlite::Result<bool> {
            let tx = rusqlite::Transaction::new_unchecked(
                conn,
                rusqlite::TransactionBehavior::Immediate,
            )?;
            let n = tx.execute(
                &format!(
                    "INSERT OR REPLACE INTO replay_cache(key, state, data)
                     SELECT ?1, ?2, ?3 WHERE {DATA_STATE} = ?2"
                ),
                params![key, state, data],
            )?;
            tx.execute(
                &format!("DELETE FROM replay_cache WHERE state <> {DATA_STATE}"),
                [],
            )?;
            tx.execute(
                "DELETE FROM replay_cache WHERE rowid IN (
                    SELECT rowid FROM (
                        SELECT rowid,
                               row_number() OVER (ORDER BY rowid DESC) AS n,
                               sum(length(data)) OVER (ORDER BY rowid DESC) AS total
                        FROM replay_cache)
                    WHERE n > ?1 OR (n > 1 AND total > ?2))",
                params![KEEP_ENTRIES, KEEP_BYTES],
            )?;
            tx.commit()?;
            Ok(n == 1)
        })();
        conn.busy_timeout(std::time::Duration::from_millis(super::BUSY_WAIT_MS as u64))?;
        match kept {
            Err(rusqlite::Error::SqliteFailure(f, _))
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                Ok(false)
            }
            other => Ok(other?),
        }
    }

    /// How many replays the cache holds, and their bytes (for `beton status` and tests).
    pub fn replay_cache_size(&self) -> Result<(u64, u64)> {
        Ok(self.conn().query_row(
            "SELECT count(*), coalesce(sum(length(data)), 0) FROM replay_cache",
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )?)
    }

    /// Empties the cache.
    pub fn clear_replay_cache(&self) -> Result<()> {
        self.conn().execute("DELETE FROM replay_cache", [])?;
        Ok(())
    }
}
