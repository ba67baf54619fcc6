//! The figures of SPEC §5 from a replay and the deals known at T, and the evidence per signal
//! of SPEC §11 (lift with its interval, Fisher's p, Benjamini–Hochberg's q). Pure: no store, no
//! clock.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::replay::{Replay, Seen};
use crate::config::Config;
use crate::deals::Outcome;
use crate::signals::SignalType;
use crate::store::DealRow;
use crate::time::{DAY, fmt_ts};

mod evidence;

use evidence::evidence;
pub use evidence::{Evidence, MIN_CONVERSIONS};

/// The first won deal of each account known at T, by account index of a [`Replay`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcomes {
    /// (closed_at, value) of the first won deal closed at or before T.
    pub first_win: Vec<Option<(i64, f64)>>,
    /// Won deals left out because they have no `closed_at`.
    pub won_without_close: u64,
}

impl Outcomes {
    pub fn of(deals: &[DealRow], accounts: &[String], cfg: &Config, t: i64) -> Self {
        let index: HashMap<&str, usize> = accounts
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect();
        let mut first_win: Vec<Option<(i64, f64)>> = vec![None; accounts.len()];
        let mut won_without_close = 0;
        for d in deals
            .iter()
            .filter(|d| Outcome::of(&d.stage, cfg) == Outcome::Won)
        {
            let Some(c) = d.closed_at else {
                won_without_close += 1;
                continue;
            };
            if let Some(&i) = index.get(d.account_key.as_str())
                && c <= t
                && first_win[i].is_none_or(|(prev, _)| c < prev)
            {
                first_win[i] = Some((c, d.value.unwrap_or(0.0)));
            }
        }
        Self {
            first_win,
            won_without_close,
        }
    }
}

/// Precision and recall of one signal type, its flag being "this type fired at D_k".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalFigures {
    pub signal: SignalType,
    /// (account, replay date) pairs where it fired while the account was a prospect.
    pub fires: u64,
    pub flagged: u64,
    pub true_positives: u64,
    pub false_positives: u64,
    pub censored: u64,
    pub caught: u64,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    /// Why a figure is null, by figure name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reasons: BTreeMap<String, String>,
    /// SPEC §11: conversion where the type fired against where it did not.
    #[serde(flatten)]
    pub evidence: Evidence,
}

/// Conversion of the observations whose score at D_k fell in `[from, to)` (`[80,100]` for the last).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub label: String,
    pub from: u32,
    pub to: u32,
    pub observations: u64,
    pub converted: u64,
    /// null when the bucket is empty.
    pub conversion: Option<f64>,
}

/// One replay date: prospects with a fired signal, and those at or above the threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatePoint {
    pub date: String,
    pub scored: u64,
    pub flagged: u64,
}

/// The SPEC §5 figures of one backtest, as `beton backtest --json` prints them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestReport {
    pub as_of: String,
    pub range_days: u32,
    pub step_days: u32,
    pub horizon_days: u32,
    pub threshold: u32,
    pub replay_dates: u64,
    pub accounts: u64,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    pub flagged: u64,
    pub true_positives: u64,
    pub false_positives: u64,
    pub censored: u64,
    pub won_accounts: u64,
    pub caught: u64,
    pub per_signal: Vec<SignalFigures>,
    pub buckets: Vec<Bucket>,
    pub lift: Option<f64>,
    pub median_days_to_close: Option<f64>,
    pub value_won: f64,
    pub annual_cost: f64,
    pub roi_multiple: Option<f64>,
    pub timeline: Vec<DatePoint>,
    /// Why a figure is null, by figure name.
    pub reasons: BTreeMap<String, String>,
    /// The `--set` overrides this report was computed with (empty: the saved settings).
    #[serde(default)]
    pub sets: Vec<String>,
    /// Won deals that could not be placed in time (no `closed_at`).
    #[serde(default)]
    pub won_without_close: u64,
    /// The reps' dispositions with `at` in (T − R, T] and their false-positive rate per UTC month
    /// (SPEC §10). They do not move the figures above, which judge the score.
    #[serde(default)]
    pub feedback: crate::feedback::Trend,
}

/// The knobs the figures depend on besides the replay.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub t: i64,
    pub range_days: u32,
    pub step_days: u32,
    pub horizon_days: u32,
    pub threshold: u32,
    pub annual_cost: f64,
    /// Bit `t as u8` set for each enabled signal type (the q-values' family).
    pub enabled: u8,
}

/// Counts of one flag definition over the replay.
#[derive(Debug, Default)]
struct Judged {
    fires: u64,
    flagged: u64,
    tp: u64,
    fp: u64,
    censored: u64,
    won: u64,
    caught: u64,
    days_to_close: Vec<f64>,
    value_won: f64,
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

fn f1(p: Option<f64>, r: Option<f64>) -> Option<f64> {
    match (p?, r?) {
        (p, r) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
        _ => Some(0.0),
    }
}

fn judge(r: &Replay, o: &Outcomes, f: &Frame, flag: impl Fn(&Seen) -> bool) -> Judged {
    let h = i64::from(f.horizon_days) * DAY;
    let range_start = f.t - i64::from(f.range_days) * DAY;
    let mut j = Judged::default();
    for (i, win) in o.first_win.iter().enumerate() {
        let prospect = |d: i64| win.is_none_or(|(c, _)| d < c);
        let mut first = None;
        for (k, &d) in r.dates.iter().enumerate() {
            if prospect(d) && flag(&r.seen[k][i]) {
                j.fires += 1;
                first.get_or_insert(d);
            }
        }
        if let Some(first) = first {
            j.flagged += 1;
            match *win {
                Some((c, value)) if c <= first + h => {
                    j.tp += 1;
                    j.days_to_close.push((c - first) as f64 / DAY as f64);
                    j.value_won += value;
                }
                _ if first + h > f.t => j.censored += 1,
                _ => j.fp += 1,
            }
        }
        if let Some((c, _)) = *win
            && c > range_start
            && c <= f.t
        {
            j.won += 1;
            let caught = r
                .dates
                .iter()
                .enumerate()
                .any(|(k, &d)| c - h <= d && d < c && flag(&r.seen[k][i]));
            j.caught += u64::from(caught);
        }
    }
    j
}

/// Precision, recall and F1 of a judged flag, with the reason for each null.
fn rates(
    j: &Judged,
    what: &str,
    reasons: &mut BTreeMap<String, String>,
) -> (Option<f64>, Option<f64>, Option<f64>) {
    let precision = ratio(j.tp, j.tp + j.fp);
    if precision.is_none() {
        let why = if j.flagged == 0 {
            format!("no account was flagged ({what}) on any replay date")
        } else {
            format!(
                "all {} flagged accounts are censored: their horizon ends after T and they were not won by T",
                j.flagged
            )
        };
        reasons.insert("precision".into(), why);
    }
    let recall = ratio(j.caught, j.won);
    if recall.is_none() {
        reasons.insert(
            "recall".into(),
            "no account's first won deal closed in the range (T − range, T]".into(),
        );
    }
    let f = f1(precision, recall);
    if f.is_none() {
        reasons.insert("f1".into(), "precision or recall is undefined".into());
    }
    (precision, recall, f)
}

const BUCKETS: [(u32, u32); 5] = [(0, 20), (20, 40), (40, 60), (60, 80), (80, 100)];

fn buckets(r: &Replay, o: &Outcomes, f: &Frame) -> Vec<Bucket> {
    let h = i64::from(f.horizon_days) * DAY;
    let mut counts = [(0u64, 0u64); 5];
    for (k, &d) in r.dates.iter().enumerate().filter(|(_, d)| **d + h <= f.t) {
        for (i, win) in o.first_win.iter().enumerate() {
            let s = r.seen[k][i];
            if win.is_some_and(|(c, _)| d >= c) || !(s.active || s.signals != 0) {
                continue;
            }
            let b = (s.score / 20).min(4) as usize;
            counts[b].0 += 1;
            counts[b].1 += u64::from(win.is_some_and(|(c, _)| c > d && c <= d + h));
        }
    }
    BUCKETS
        .iter()
        .zip(counts)
        .map(|(&(from, to), (n, won))| Bucket {
            label: if to == 100 {
                format!("[{from},{to}]")
            } else {
                format!("[{from},{to})")
            },
            from,
            to,
            observations: n,
            converted: won,
            conversion: ratio(won, n),
        })
        .collect()
}

/// Conversion of the highest non-empty bucket over that of `[0,20)`, or why it is undefined.
fn lift(b: &[Bucket]) -> Result<f64, String> {
    let Some(top) = b.iter().rposition(|x| x.observations > 0) else {
        return Err(
            "no observations: no replay date is a whole horizon before T, or no account was active"
                .into(),
        );
    };
    let base = &b[0];
    match (base.conversion, top) {
        (None, _) => Err("the [0,20) bucket has no observations".into()),
        (_, 0) => Err("no observation scored 20 or more".into()),
        (Some(0.0), _) => Err(format!(
            "none of the {} observations in [0,20) converted; lift is undefined when the base rate is 0",
            base.observations
        )),
        (Some(c), top) => Ok(b[top].conversion.unwrap_or(0.0) / c),
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// Every figure of SPEC §5.
pub fn figures(r: &Replay, o: &Outcomes, f: &Frame) -> BacktestReport {
    let flagged = |s: &Seen| s.signals != 0 && s.score >= f.threshold;
    let j = judge(r, o, f, flagged);
    let mut reasons = BTreeMap::new();
    let what = format!("score ≥ {}", f.threshold);
    let (precision, recall, f1) = rates(&j, &what, &mut reasons);

    let mut evidence = evidence(r, o, f).into_iter();
    let per_signal = SignalType::ALL
        .iter()
        .map(|&t| {
            let bit = 1u8 << (t as u8);
            let js = judge(r, o, f, |s| s.signals & bit != 0);
            let mut reasons = BTreeMap::new();
            let (precision, recall, f1) = rates(&js, &format!("{t} fired"), &mut reasons);
            SignalFigures {
                signal: t,
                fires: js.fires,
                flagged: js.flagged,
                true_positives: js.tp,
                false_positives: js.fp,
                censored: js.censored,
                caught: js.caught,
                precision,
                recall,
                f1,
                reasons,
                evidence: evidence.next().unwrap_or_default(),
            }
        })
        .collect();

    let buckets = buckets(r, o, f);
    let lift = lift(&buckets)
        .map_err(|why| reasons.insert("lift".into(), why))
        .ok();
    let median_days_to_close = median(j.days_to_close);
    if median_days_to_close.is_none() {
        reasons.insert("median_days_to_close".into(), "no true positive".into());
    }
    let roi_multiple = (f.annual_cost > 0.0).then(|| j.value_won / f.annual_cost);
    if roi_multiple.is_none() {
        reasons.insert("roi_multiple".into(), "backtest.annual_cost is 0".into());
    }
    let timeline = r
        .dates
        .iter()
        .zip(&r.seen)
        .map(|(&d, seen)| {
            let prospects = seen
                .iter()
                .zip(&o.first_win)
                .filter(|(_, w)| w.is_none_or(|(c, _)| d < c));
            let (mut scored, mut flagged_n) = (0, 0);
            for (s, _) in prospects {
                scored += u64::from(s.signals != 0);
                flagged_n += u64::from(flagged(s));
            }
            DatePoint {
                date: fmt_ts(d),
                scored,
                flagged: flagged_n,
            }
        })
        .collect();

    BacktestReport {
        as_of: fmt_ts(f.t),
        range_days: f.range_days,
        step_days: f.step_days,
        horizon_days: f.horizon_days,
        threshold: f.threshold,
        replay_dates: r.dates.len() as u64,
        accounts: r.accounts.len() as u64,
        precision,
        recall,
        f1,
        flagged: j.flagged,
        true_positives: j.tp,
        false_positives: j.fp,
        censored: j.censored,
        won_accounts: j.won,
        caught: j.caught,
        per_signal,
        buckets,
        lift,
        median_days_to_close,
        value_won: j.value_won,
        annual_cost: f.annual_cost,
        roi_multiple,
        timeline,
        reasons,
        sets: Vec::new(),
        won_without_close: o.won_without_close,
        feedback: Default::default(),
    }
}

impl crate::store::BacktestColumns for BacktestReport {
    fn columns(&self) -> crate::store::Columns {
        crate::store::Columns {
            range_days: self.range_days,
            step_days: self.step_days,
            horizon_days: self.horizon_days,
            threshold: self.threshold,
            precision: self.precision,
            recall: self.recall,
            f1: self.f1,
            flagged: self.flagged,
            won_accounts: self.won_accounts,
            lift: self.lift,
            value_won: self.value_won,
            roi_multiple: self.roi_multiple,
        }
    }
}

/// A saved backtest of this engine's report.
pub type SavedBacktest = crate::store::SavedBacktest<BacktestReport>;

#[cfg(test)]
mod tests;
