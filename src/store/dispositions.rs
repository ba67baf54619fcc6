//! The `dispositions` table (SPEC §10): plain rows in and out. What a disposition means for a
//! run (the suppression rule) is `feedback`'s business, not the store's.

use rusqlite::params;

use super::Store;
use crate::error::{Error, Result};

/// One stored disposition with its account's key. `kind` is `legit`, `not_ready` or
/// `already_working`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispositionRow {
    pub account: String,
    pub kind: String,
    pub at: i64,
    pub note: Option<String>,
    pub by: Option<String>,
    pub source: String,
    /// The source's own key of the answer (an Attio pull's), unique when present.
    pub origin: Option<String>,
}

impl Store {
    /// Records dispositions in one transaction; each account must exist. Rows whose `origin` is
    /// stored already are left out. Returns how many were recorded.
    pub fn record_dispositions(&self, rows: &[DispositionRow], recorded_at: i64) -> Result<usize> {
        let tx = self.conn().unchecked_transaction()?;
        let mut n = 0;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO dispositions(account_id, kind, at, note, by, source, origin, recorded_at)
                 SELECT a.id, ?2, ?3, ?4, ?5, ?6, ?7, ?8 FROM accounts a WHERE a.key = ?1
                 ON CONFLICT(origin) DO NOTHING",
            )?;
            for r in rows {
                let added = stmt.execute(params![
                    r.account,
                    r.kind,
                    r.at,
                    r.note,
                    r.by,
                    r.source,
                    r.origin,
                    recorded_at
                ])?;
                if added == 0 && self.account_id(&r.account)?.is_none() {
                    return Err(Error::Usage(format!(
                        "no account `{}` in this workspace",
                        r.account
                    )));
                }
                n += added;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Every disposition, by account key then `at` then the order they were recorded in.
    pub fn dispositions(&self) -> Result<Vec<DispositionRow>> {
        self.dispositions_where("1", &[])
    }

    /// One account's dispositions, oldest first.
    pub fn account_dispositions(&self, account: &str) -> Result<Vec<DispositionRow>> {
        self.dispositions_where("a.key = ?1", &[&account])
    }

    /// True when an answer with this origin is stored.
    pub fn disposition_origin_exists(&self, origin: &str) -> Result<bool> {
        Ok(self.conn().query_row(
            "SELECT EXISTS(SELECT 1 FROM dispositions WHERE origin = ?1)",
            [origin],
            |r| r.get(0),
        )?)
    }

    fn dispositions_where(
        &self,
        filter: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<DispositionRow>> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT a.key, d.kind, d.at, d.note, d.by, d.source, d.origin
             FROM dispositions d JOIN accounts a ON a.id = d.account_id
             WHERE {filter} ORDER BY a.key, d.at, d.id"
        ))?;
        let rows = stmt.query_map(args, |r| {
            Ok(DispositionRow {
                account: r.get(0)?,
                kind: r.get(1)?,
                at: r.get(2)?,
                note: r.get(3)?,
                by: r.get(4)?,
                source: r.get(5)?,
                origin: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(account: &str, kind: &str, at: i64, origin: Option<&str>) -> DispositionRow {
        DispositionRow {
            account: account.into(),
            kind: kind.into(),
            at,
            note: None,
            by: None,
            source: "cli".into(),
            origin: origin.map(str::to_string),
        }
    }

    #[test]
    fn rows_round_trip_unknown_accounts_fail_and_origins_are_recorded_once() {
        let store = Store::open_in_memory().unwrap();
        store.ensure_accounts(["acme.com"]).unwrap();
        let mut r = row("acme.com", "not_ready", 5, None);
        r.note = Some("budget in Q3".into());
        r.by = Some("ae@example.com".into());
        assert_eq!(store.record_dispositions(&[r.clone()], 9).unwrap(), 1);
        assert_eq!(store.dispositions().unwrap(), vec![r.clone()]);
        // An unknown account: nothing of the batch is written.
        let err = store
            .record_dispositions(
                &[
                    row("acme.com", "legit", 6, None),
                    row("nope.io", "legit", 6, None),
                ],
                9,
            )
            .unwrap_err();
        assert!(err.to_string().contains("no account `nope.io`"), "{err}");
        assert_eq!(store.dispositions().unwrap().len(), 1);
        // The same origin twice records it once.
        let o = row("acme.com", "legit", 7, Some("attio:r1:7"));
        assert_eq!(
            store
                .record_dispositions(std::slice::from_ref(&o), 9)
                .unwrap(),
            1
        );
        assert_eq!(store.record_dispositions(&[o], 10).unwrap(), 0);
        assert!(store.disposition_origin_exists("attio:r1:7").unwrap());
        assert_eq!(store.account_dispositions("acme.com").unwrap().len(), 2);
        // A kind the schema does not know is refused by SQLite.
        assert!(
            store
                .record_dispositions(&[row("acme.com", "maybe", 8, None)], 9)
                .is_err()
        );
    }
}
