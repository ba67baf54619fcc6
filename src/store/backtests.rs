//! Saved backtests, so the latest and the previous can be shown side by side.

use rusqlite::params;

use super::Store;
use crate::error::{Error, Result};

/// A backtest as saved; `R` is the engine's report, stored as JSON.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedBacktest<R> {
    pub id: i64,
    pub created_at: i64,
    pub as_of: i64,
    pub report: R,
}

/// The headline figures a saved backtest keeps in columns (for queries without parsing the JSON).
/// The engine's report implements it, so the store never names the engine.
pub trait BacktestColumns: serde::Serialize {
    fn columns(&self) -> Columns;
}

/// The columns of a saved backtest.
pub struct Columns {
    pub range_days: u32,
    pub step_days: u32,
    pub horizon_days: u32,
    pub threshold: u32,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    pub flagged: u64,
    pub won_accounts: u64,
    pub lift: Option<f64>,
    pub value_won: f64,
    pub roi_multiple: Option<f64>,
}

impl Store {
    /// Saves a backtest of the settings in force; returns its id.
    pub fn save_backtest(&self, as_of: i64, report: &impl BacktestColumns) -> Result<i64> {
        let json = serde_json::to_string(report)
            .map_err(|e| Error::Usage(format!("saving the backtest: {e}")))?;
        let r = report.columns();
        self.conn().execute(
            "INSERT INTO backtests(created_at, as_of, range_days, step_days, horizon_days, threshold, precision, recall,
                                   f1, flagged, won_accounts, lift, value_won, roi_multiple, report)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            params![
                crate::time::now(),
                as_of,
                r.range_days,
                r.step_days,
                r.horizon_days,
                r.threshold,
                r.precision,
                r.recall,
                r.f1,
                r.flagged as i64,
                r.won_accounts as i64,
                r.lift,
                r.value_won,
                r.roi_multiple,
                json
            ],
        )?;
        Ok(self.conn().last_insert_rowid())
    }

    /// The `n` newest saved backtests, newest first. Rows a newer beton wrote in a shape this one
    /// cannot read are skipped.
    pub fn latest_backtests<R: serde::de::DeserializeOwned>(
        &self,
        n: usize,
    ) -> Result<Vec<SavedBacktest<R>>> {
        let mut stmt = self.conn().prepare(
            "SELECT id, created_at, as_of, report FROM backtests ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([n as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, created_at, as_of, json) = row?;
            if let Ok(report) = serde_json::from_str(&json) {
                out.push(SavedBacktest {
                    id,
                    created_at,
                    as_of,
                    report,
                });
            }
        }
        Ok(out)
    }

    pub fn account_count(&self) -> Result<u64> {
        let n: i64 = self
            .conn()
            .query_row("SELECT count(*) FROM accounts", [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }
}
