//! Recording runs: scores, fired signals with evidence, and the cooldown ledger.

use rusqlite::params;

use std::collections::HashSet;

use super::Store;
use super::alerts::{AlertRow, insert_alert_rows};
use crate::error::Result;
use crate::time::DAY;

/// What the store records of one scored account: the engine's score type implements it, so the
/// store reads a run's rows without naming the engine (docs/ARCHITECTURE.md).
pub trait Scored {
    fn account_id(&self) -> i64;
    fn account(&self) -> &str;
    fn score(&self) -> u32;
    fn tier(&self) -> &'static str;
    fn routed(&self) -> bool;
    /// The fired signal types with their evidence, in the engine's order.
    fn fired(&self) -> Vec<FiredRow<'_>>;
    /// Only the fired types' names (what the cooldown ledger needs), without the evidence.
    fn fired_types(&self) -> Vec<&'static str> {
        self.fired().into_iter().map(|f| f.signal).collect()
    }
}

/// One fired signal type as a run records it.
pub struct FiredRow<'a> {
    pub signal: &'static str,
    pub base: u32,
    pub evidence: &'a str,
    /// The numbers behind the evidence, as JSON.
    pub numbers: String,
}

/// A signal type emitted by a run (not inside its cooldown).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Emission {
    pub account: String,
    pub signal: String,
}

/// True when a type last emitted at `last` may be emitted again at `t`.
pub fn cooled_down(last: Option<i64>, t: i64, cooldown_days: u32) -> bool {
    last.is_none_or(|l| t >= l.saturating_add(i64::from(cooldown_days).saturating_mul(DAY)))
}

/// What a recorded run produced, for the steps that plan in the same transaction.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub run_id: i64,
    pub emitted: Vec<Emission>,
    /// Every held-out account (assignments of earlier runs and the ones drawn now).
    pub held_out: HashSet<i64>,
}

/// What a daily run records beside the scores, in the same transaction.
pub struct RecordExtras<'a> {
    /// The holdout share in force (stored with each new assignment).
    pub holdout_percent: f64,
    /// Draws the assignment of an account routed for the first time: true = held out.
    pub draw: &'a dyn Fn(&str) -> bool,
    /// Plans the run's alert rows; it reads the store inside the transaction.
    pub alerts: &'a mut dyn FnMut(&Store, &Recorded) -> Result<Vec<AlertRow>>,
}

impl Store {
    /// Records a detection run at `t` in one transaction: the run, every score and fired signal,
    /// and an emission for each fired type outside its cooldown. Returns the run id and emissions.
    pub fn record_detection(
        &self,
        kind: &str,
        source: &str,
        t: i64,
        scores: &[impl Scored],
        cooldown_days: u32,
    ) -> Result<(i64, Vec<Emission>)> {
        let r = self.record_detection_with(kind, source, t, scores, cooldown_days, None)?;
        Ok((r.run_id, r.emitted))
    }

    /// [`Store::record_detection`] plus, in the same transaction, the holdout assignment of
    /// accounts routed for the first time and the run's alert rows: an emission is never
    /// recorded without the alerts it makes due, nor an alert queued for an emission that was
    /// rolled back.
    pub fn record_detection_with(
        &self,
        kind: &str,
        source: &str,
        t: i64,
        scores: &[impl Scored],
        cooldown_days: u32,
        extras: Option<RecordExtras<'_>>,
    ) -> Result<Recorded> {
        let last = self.last_emissions(t)?;
        let tx = self.conn().unchecked_transaction()?;
        tx.execute(
            "INSERT INTO runs(kind, started_at, as_of, source, status) VALUES (?1, ?2, ?3, ?4, 'running')",
            params![kind, crate::time::now(), t, source],
        )?;
        let run = tx.last_insert_rowid();
        let mut emitted = Vec::new();
        {
            let mut score = tx.prepare("INSERT INTO run_scores(run_id, account_id, score, tier, routed) VALUES (?1, ?2, ?3, ?4, ?5)")?;
            let mut signal = tx.prepare(
                "INSERT INTO run_signals(run_id, account_id, signal, base, evidence, numbers, emitted)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            let mut emit = tx.prepare(
                "INSERT OR IGNORE INTO emissions(account_id, signal, emitted_at, run_id) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for s in scores {
                score.execute(params![
                    run,
                    s.account_id(),
                    s.score(),
                    s.tier(),
                    s.routed()
                ])?;
                for f in s.fired() {
                    let name = f.signal;
                    let fresh = cooled_down(
                        last.get(&(s.account_id(), name.to_string())).copied(),
                        t,
                        cooldown_days,
                    );
                    signal.execute(params![
                        run,
                        s.account_id(),
                        name,
                        f.base,
                        f.evidence,
                        f.numbers,
                        fresh
                    ])?;
                    if fresh {
                        emit.execute(params![s.account_id(), name, t, run])?;
                        emitted.push(Emission {
                            account: s.account().to_string(),
                            signal: name.to_string(),
                        });
                    }
                }
            }
        }
        let mut recorded = Recorded {
            run_id: run,
            emitted,
            held_out: HashSet::new(),
        };
        if let Some(extras) = extras {
            let assigned: std::collections::HashMap<i64, bool> = {
                let mut stmt = tx.prepare("SELECT account_id, held_out FROM holdout")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let mut ins = tx.prepare(
                "INSERT INTO holdout(account_id, held_out, routed_at, run_id, percent) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for s in scores.iter().filter(|s| s.routed()) {
                if !assigned.contains_key(&s.account_id()) {
                    let held = (extras.draw)(s.account());
                    ins.execute(params![
                        s.account_id(),
                        held,
                        t,
                        run,
                        extras.holdout_percent
                    ])?;
                    if held {
                        recorded.held_out.insert(s.account_id());
                    }
                }
            }
            drop(ins);
            recorded
                .held_out
                .extend(assigned.into_iter().filter(|(_, h)| *h).map(|(id, _)| id));
            let rows = (extras.alerts)(self, &recorded)?;
            insert_alert_rows(&tx, &rows, crate::time::now())?;
        }
        tx.commit()?;
        Ok(recorded)
    }

    /// Records the scoring settings (JSON) a run was scored with, for `beton diff --runs`.
    pub fn record_run_settings(&self, run: i64, settings: &str) -> Result<()> {
        self.conn().execute(
            "INSERT OR REPLACE INTO run_settings(run_id, settings) VALUES (?1, ?2)",
            params![run, settings],
        )?;
        Ok(())
    }

    /// Marks a run finished with its status and JSON report.
    pub fn finish_run(&self, run: i64, status: &str, report: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE runs SET finished_at = ?2, status = ?3, report = ?4 WHERE id = ?1",
            params![run, crate::time::now(), status, report],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldown_edge_is_inclusive_of_the_full_period() {
        let t = 100 * DAY;
        assert!(cooled_down(None, t, 7));
        assert!(!cooled_down(Some(t), t, 7));
        assert!(!cooled_down(Some(t - 7 * DAY + 1), t, 7));
        assert!(cooled_down(Some(t - 7 * DAY), t, 7));
    }
}
