//! The PostHog side of the workspace: account ids for keys PostHog returns, and the registry
//! of provisioned dashboards and tiles.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::Store;
use crate::error::Result;

/// A provisioned dashboard or tile: its PostHog id and, for tiles, the definition version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    pub key: String,
    pub id: i64,
    pub version: u32,
    pub parent: String,
}

impl Store {
    /// Ids for account keys, adding the accounts not seen before; under a
    /// [`super::WhatIfIds`] guard nothing is added and a new key gets an id below 0.
    pub fn ensure_accounts<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashMap<String, i64>> {
        if let Some(placeholders) = self.what_if_ids.borrow_mut().as_mut() {
            let mut get = self
                .conn()
                .prepare_cached("SELECT id FROM accounts WHERE key = ?1")?;
            let mut out = HashMap::new();
            for k in keys {
                let id = match get.query_row([k], |r| r.get(0)).optional()? {
                    Some(id) => id,
                    None => {
                        let next = -1 - placeholders.len() as i64;
                        *placeholders.entry(k.to_string()).or_insert(next)
                    }
                };
                out.insert(k.to_string(), id);
            }
            return Ok(out);
        }
        let tx = self.conn().unchecked_transaction()?;
        let mut out = HashMap::new();
        {
            let mut add = tx.prepare("INSERT OR IGNORE INTO accounts(key) VALUES (?1)")?;
            let mut get = tx.prepare("SELECT id FROM accounts WHERE key = ?1")?;
            let mut added = 0;
            for k in keys {
                added += add.execute([k])?;
                let id: i64 = get.query_row([k], |r| r.get(0))?;
                out.insert(k.to_string(), id);
            }
            if added > 0 {
                super::replays::bump_generation(&tx)?;
            }
        }
        tx.commit()?;
        Ok(out)
    }

    pub fn provisioned_dashboards(&self, project: u64) -> Result<Vec<Provisioned>> {
        let mut stmt = self.conn().prepare(
            "SELECT key, dashboard_id FROM posthog_dashboards WHERE project_id = ?1 ORDER BY key",
        )?;
        let rows = stmt.query_map([project as i64], |r| {
            Ok(Provisioned {
                key: r.get(0)?,
                id: r.get(1)?,
                version: 0,
                parent: String::new(),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn provisioned_tiles(&self, project: u64) -> Result<Vec<Provisioned>> {
        let mut stmt = self.conn().prepare(
            "SELECT key, insight_id, version, dashboard_key FROM posthog_tiles WHERE project_id = ?1 ORDER BY key",
        )?;
        let rows = stmt.query_map([project as i64], |r| {
            Ok(Provisioned {
                key: r.get(0)?,
                id: r.get(1)?,
                version: r.get(2)?,
                parent: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn record_dashboard(&self, project: u64, key: &str, id: i64, name: &str) -> Result<()> {
        self.conn().execute(
            "INSERT INTO posthog_dashboards(project_id, key, dashboard_id, name, provisioned_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(project_id, key) DO UPDATE SET dashboard_id = excluded.dashboard_id, name = excluded.name,
                 provisioned_at = excluded.provisioned_at",
            params![project as i64, key, id, name, crate::time::now()],
        )?;
        Ok(())
    }

    /// Removes a dashboard (`what` = "dashboard") or tile from the registry.
    pub fn forget_provisioned(&self, project: u64, what: &str, key: &str) -> Result<()> {
        let sql = if what == "dashboard" {
            "DELETE FROM posthog_dashboards WHERE project_id = ?1 AND key = ?2"
        } else {
            "DELETE FROM posthog_tiles WHERE project_id = ?1 AND key = ?2"
        };
        self.conn().execute(sql, params![project as i64, key])?;
        Ok(())
    }

    pub fn record_tile(
        &self,
        project: u64,
        key: &str,
        dashboard: &str,
        id: i64,
        version: u32,
    ) -> Result<()> {
        self.conn().execute(
            "INSERT INTO posthog_tiles(project_id, key, dashboard_key, insight_id, version, provisioned_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(project_id, key) DO UPDATE SET dashboard_key = excluded.dashboard_key,
                 insight_id = excluded.insight_id, version = excluded.version, provisioned_at = excluded.provisioned_at",
            params![project as i64, key, dashboard, id, version, crate::time::now()],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_a_what_if_guard_new_keys_get_ids_below_zero_and_nothing_is_written() {
        let s = Store::open_in_memory().unwrap();
        let real = s.ensure_accounts(["a.com"]).unwrap()["a.com"];
        let state = s.data_state().unwrap();
        {
            let _ids = s.what_if_ids();
            let ids = s
                .ensure_accounts(["a.com", "new.com", "other.com"])
                .unwrap();
            assert_eq!(ids["a.com"], real);
            assert_eq!((ids["new.com"], ids["other.com"]), (-1, -2));
            // The same id on every call while the guard lives.
            assert_eq!(s.ensure_accounts(["other.com"]).unwrap()["other.com"], -2);
            assert_eq!(s.account_id("new.com").unwrap(), None);
            assert_eq!(s.data_state().unwrap(), state, "no row, no new generation");
        }
        let after = s.ensure_accounts(["new.com"]).unwrap()["new.com"];
        assert!(after > real, "a real row once the guard is gone: {after}");
        assert_eq!(s.account_id("new.com").unwrap(), Some(after));
    }

    #[test]
    fn registry_upserts_and_accounts_are_reused() {
        let s = Store::open_in_memory().unwrap();
        let a = s.ensure_accounts(["a.com", "b.com"]).unwrap();
        let b = s.ensure_accounts(["b.com"]).unwrap();
        assert_eq!(a["b.com"], b["b.com"]);
        s.record_tile(7, "t1", "overview", 11, 1).unwrap();
        s.record_tile(7, "t1", "overview", 11, 2).unwrap();
        s.record_dashboard(7, "overview", 5, "Signal Overview")
            .unwrap();
        let t = s.provisioned_tiles(7).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].version, 2);
        assert!(s.provisioned_tiles(8).unwrap().is_empty());
        assert_eq!(s.provisioned_dashboards(7).unwrap()[0].id, 5);
    }
}
