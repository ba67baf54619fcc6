//! Reading the workspace: the rows detection, the figures and the front-ends need.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::Store;
use super::blocks::{self, Packed};
use super::units::{self, DayCounts, UnitKey};
use crate::error::Result;
use crate::time::day_of;

/// A deal as imported (SPEC §1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealRow {
    pub deal_id: String,
    pub account_key: String,
    pub name: Option<String>,
    pub lead_source: String,
    pub stage: String,
    pub value: Option<f64>,
    pub created_at: i64,
    pub sql_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub owner_email: Option<String>,
}

/// The days a detection load covers; days in `raw_days` are read event by event.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub from_day: i64,
    pub to_day: i64,
    pub raw_days: std::collections::BTreeSet<i64>,
}

/// One raw event, as detection needs it; the URL borrows from the row being read.
#[derive(Debug, Clone, Copy)]
pub struct RawEvent<'a> {
    pub ts: i64,
    pub account: i64,
    pub user: i64,
    pub name: i64,
    pub url: Option<&'a str>,
    pub feature: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub kind: String,
    pub started_at: i64,
    pub as_of: i64,
    pub source: String,
    pub status: String,
    pub report: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScoreRow {
    pub account: String,
    pub score: u32,
    pub tier: String,
    pub routed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SignalRow {
    pub account: String,
    pub signal: String,
    pub base: u32,
    pub evidence: String,
    pub emitted: bool,
}

/// The id range `only` stands for: one account, or all.
pub fn id_range(only: Option<i64>) -> (i64, i64) {
    only.map_or((i64::MIN, i64::MAX), |id| (id, id))
}

impl Store {
    /// Every account: id, key, snapshot properties (JSON text).
    pub fn accounts(&self) -> Result<Vec<(i64, String, Option<String>)>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT id, key, snapshot FROM accounts ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn account_id(&self, key: &str) -> Result<Option<i64>> {
        Ok(self
            .conn()
            .query_row("SELECT id FROM accounts WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Every `$group_set` of the accounts with ids in `lo..=hi`, by account then time.
    pub fn prop_history_in(&self, lo: i64, hi: i64) -> Result<Vec<(i64, i64, String)>> {
        let mut stmt = self.conn().prepare(
            "SELECT account_id, ts, props FROM prop_history WHERE account_id BETWEEN ?1 AND ?2
             ORDER BY account_id, ts, seq",
        )?;
        let rows = stmt.query_map([lo, hi], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Streams each account's packed rollup (see [`super::units`]), in account id order.
    pub fn for_account_units(
        &self,
        only: Option<i64>,
        f: impl FnMut(i64, &[u8]) -> Result<()>,
    ) -> Result<()> {
        let (lo, hi) = id_range(only);
        self.for_account_units_in(lo, hi, f)
    }

    /// [`Store::for_account_units`] for the accounts with ids in `lo..=hi`.
    pub fn for_account_units_in(
        &self,
        lo: i64,
        hi: i64,
        mut f: impl FnMut(i64, &[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT account_id, data FROM account_units WHERE account_id BETWEEN ?1 AND ?2
             ORDER BY account_id",
        )?;
        let mut rows = stmt.query([lo, hi])?;
        while let Some(r) = rows.next()? {
            let data = r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
            f(r.get(0)?, data)?;
        }
        Ok(())
    }

    /// Streams raw events with `from <= ts < to`.
    pub fn for_raw_events(
        &self,
        from: i64,
        to: i64,
        only: Option<i64>,
        f: impl FnMut(RawEvent<'_>),
    ) -> Result<()> {
        let (lo, hi) = id_range(only);
        self.for_raw_events_in(from, to, lo, hi, f)
    }

    /// [`Store::for_raw_events`] for the accounts with ids in `lo..=hi`.
    pub fn for_raw_events_in(
        &self,
        from: i64,
        to: i64,
        lo: i64,
        hi: i64,
        mut f: impl FnMut(RawEvent<'_>),
    ) -> Result<()> {
        self.for_packed_events(from, to, |e| {
            if (lo..=hi).contains(&e.account) {
                f(RawEvent {
                    ts: e.ts,
                    account: e.account,
                    user: e.user,
                    name: e.name,
                    url: e.url,
                    feature: e.feature,
                });
            }
        })
    }

    /// Streams every stored event with `from <= ts < to`, block by block (time order between
    /// blocks of a day is not guaranteed).
    pub(super) fn for_packed_events(
        &self,
        from: i64,
        to: i64,
        mut f: impl FnMut(Packed<'_>),
    ) -> Result<()> {
        if from >= to {
            return Ok(());
        }
        let mut stmt = self.conn().prepare_cached(
            "SELECT day, data FROM event_blocks
             WHERE day BETWEEN ?1 AND ?2 AND max_ts >= ?3 AND min_ts < ?4",
        )?;
        let mut rows = stmt.query(params![day_of(from), day_of(to - 1), from, to])?;
        while let Some(r) = rows.next()? {
            let day: i64 = r.get(0)?;
            let data = r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
            blocks::decode(day, data, |e| {
                if e.ts >= from && e.ts < to {
                    f(e);
                }
            })
            .map_err(|d| super::ingest::damaged(day, d))?;
        }
        Ok(())
    }

    /// The largest event sequence number stored (0 when none).
    pub(super) fn max_seq(&self) -> Result<i64> {
        let mut max = 0;
        self.for_packed_events(i64::MIN, i64::MAX, |e| max = max.max(e.seq))?;
        Ok(max)
    }

    /// The ids of the event names that count as activity under `cfg`.
    pub fn activity_name_ids(&self, cfg: &crate::config::Config) -> Result<Vec<i64>> {
        let classifier = super::Classifier::new(cfg);
        Ok(self
            .names()?
            .into_iter()
            .filter(|(_, n)| classifier.class(n).activity)
            .map(|(id, _)| id)
            .collect())
    }

    /// Last activity per account before `t` (from the rollups; the day of `t` read raw).
    pub fn last_seen(
        &self,
        t: i64,
        activity_names: &[i64],
    ) -> Result<std::collections::HashMap<i64, i64>> {
        let day = day_of(t);
        let mut out = std::collections::HashMap::new();
        self.for_account_units(None, |account, data| {
            let mut last: Option<i64> = None;
            units::decode(data, i64::MIN, |k, c| {
                if k.day() < day {
                    last = last.max(c.last_ts);
                }
            });
            if let Some(ts) = last {
                out.insert(account, ts);
            }
            Ok(())
        })?;
        self.for_raw_events(day * crate::time::DAY, t, None, |e| {
            if activity_names.contains(&e.name) {
                let slot = out.entry(e.account).or_insert(e.ts);
                *slot = (*slot).max(e.ts);
            }
        })?;
        Ok(out)
    }

    /// One account's rollup units of days in `[from_day, to_day)`.
    pub(super) fn account_units_between(
        &self,
        account: i64,
        from_day: i64,
        to_day: i64,
        mut f: impl FnMut(UnitKey, DayCounts),
    ) -> Result<()> {
        self.for_account_units(Some(account), |_, data| {
            units::decode(data, from_day, |k, c| {
                if k.day() < to_day {
                    f(k, c);
                }
            });
            Ok(())
        })
    }

    /// Every deal, with its account key.
    pub fn deals(&self) -> Result<Vec<DealRow>> {
        let mut stmt = self.conn().prepare(
            "SELECT d.deal_id, a.key, d.name, d.lead_source, d.stage, d.value, d.created_at, d.sql_at, d.closed_at, d.owner_email
             FROM deals d JOIN accounts a ON a.id = d.account_id ORDER BY d.created_at, d.deal_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(DealRow {
                deal_id: r.get(0)?,
                account_key: r.get(1)?,
                name: r.get(2)?,
                lead_source: r.get(3)?,
                stage: r.get(4)?,
                value: r.get(5)?,
                created_at: r.get(6)?,
                sql_at: r.get(7)?,
                closed_at: r.get(8)?,
                owner_email: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The newest finished run of a kind.
    pub fn latest_run(&self, kind: &str) -> Result<Option<RunRow>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, kind, started_at, as_of, source, status, report FROM runs
                 WHERE kind = ?1 AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1",
                [kind],
                run_row,
            )
            .optional()?)
    }

    /// A recorded run by id.
    pub fn run(&self, id: i64) -> Result<Option<RunRow>> {
        self.run_where("id = ?1", id, "")
    }

    /// The newest run of `kind` recorded before run `id` (finished or not: its scores were
    /// recorded in one transaction either way).
    pub fn previous_run(&self, kind: &str, id: i64) -> Result<Option<RunRow>> {
        self.run_where("kind = ?2 AND id < ?1", id, kind)
    }

    /// Up to `limit` runs of `kind` recorded before run `id`, newest first.
    pub fn runs_before(&self, kind: &str, id: i64, limit: usize) -> Result<Vec<RunRow>> {
        let mut stmt = self.conn().prepare(
            "SELECT id, kind, started_at, as_of, source, status, report FROM runs
             WHERE kind = ?2 AND id < ?1 ORDER BY id DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![id, kind, limit as i64], run_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn run_where(&self, filter: &str, id: i64, kind: &str) -> Result<Option<RunRow>> {
        let sql = format!(
            "SELECT id, kind, started_at, as_of, source, status, report FROM runs
             WHERE {filter} ORDER BY id DESC LIMIT 1"
        );
        let mut stmt = self.conn().prepare(&sql)?;
        let params: Vec<&dyn rusqlite::ToSql> = if kind.is_empty() {
            vec![&id]
        } else {
            vec![&id, &kind]
        };
        Ok(stmt.query_row(params.as_slice(), run_row).optional()?)
    }

    /// The scoring settings a run recorded (JSON), if it recorded them.
    pub fn run_settings(&self, run_id: i64) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT settings FROM run_settings WHERE run_id = ?1",
                [run_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Scores of a run, best first.
    pub fn run_scores(&self, run_id: i64) -> Result<Vec<ScoreRow>> {
        self.run_scores_in(run_id, None)
    }

    /// Scores of a run, best first; `only` limits them to one account id.
    pub fn run_scores_in(&self, run_id: i64, only: Option<i64>) -> Result<Vec<ScoreRow>> {
        let (lo, hi) = id_range(only);
        let mut stmt = self.conn().prepare(
            "SELECT a.key, s.score, s.tier, s.routed FROM run_scores s JOIN accounts a ON a.id = s.account_id
             WHERE s.run_id = ?1 AND s.account_id BETWEEN ?2 AND ?3 ORDER BY s.score DESC, a.key",
        )?;
        let rows = stmt.query_map(params![run_id, lo, hi], |r| {
            Ok(ScoreRow {
                account: r.get(0)?,
                score: r.get(1)?,
                tier: r.get(2)?,
                routed: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Fired signals of a run, in account then signal order.
    pub fn run_signals(&self, run_id: i64) -> Result<Vec<SignalRow>> {
        self.run_signals_in(run_id, None)
    }

    /// Fired signals of a run; `only` limits them to one account id.
    pub fn run_signals_in(&self, run_id: i64, only: Option<i64>) -> Result<Vec<SignalRow>> {
        let (lo, hi) = id_range(only);
        let mut stmt = self.conn().prepare(
            "SELECT a.key, s.signal, s.base, s.evidence, s.emitted FROM run_signals s JOIN accounts a ON a.id = s.account_id
             WHERE s.run_id = ?1 AND s.account_id BETWEEN ?2 AND ?3 ORDER BY a.key, s.signal",
        )?;
        let rows = stmt.query_map(params![run_id, lo, hi], |r| {
            Ok(SignalRow {
                account: r.get(0)?,
                signal: r.get(1)?,
                base: r.get(2)?,
                evidence: r.get(3)?,
                emitted: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The newest emission at or before `t` of every (account, signal type).
    pub fn last_emissions(&self, t: i64) -> Result<std::collections::HashMap<(i64, String), i64>> {
        let mut stmt = self.conn().prepare(
            "SELECT account_id, signal, max(emitted_at) FROM emissions WHERE emitted_at <= ?1 GROUP BY account_id, signal",
        )?;
        let rows = stmt.query_map([t], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// A `runs` row read as `SELECT id, kind, started_at, as_of, source, status, report`.
fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        started_at: r.get(2)?,
        as_of: r.get(3)?,
        source: r.get(4)?,
        status: r.get(5)?,
        report: r.get(6)?,
    })
}
