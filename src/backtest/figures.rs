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

/// Conversions each group needs before lift, its interval, p and q are shown (SPEC §11).
pub const MIN_CONVERSIONS: u64 = 5;

/// Whether accounts on which a signal type fired converted more than the others (SPEC §11). The
/// unit is the account, over the §5 observations (dates a whole horizon before T): the **fired**
/// group is the prospects on which the type fired at some observation date, judged at the first
/// such date F (converted when won in (F, F + H]); the **unfired** group is the prospects with
/// observations on which it fired at none, judged at their first observation date.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    #[serde(default)]
    pub fired_accounts: u64,
    #[serde(default)]
    pub fired_converted: u64,
    #[serde(default)]
    pub unfired_accounts: u64,
    #[serde(default)]
    pub unfired_converted: u64,
    /// conversion(fired) ÷ conversion(unfired).
    #[serde(default)]
    pub lift: Option<f64>,
    /// Katz's 95 % log interval of `lift`, `[lo, hi]`.
    #[serde(default)]
    pub lift_ci95: Option<[f64; 2]>,
    /// Fisher's exact test of the 2×2 table, two-sided (R's `fisher.test`).
    #[serde(default)]
    pub p_value: Option<f64>,
    /// Benjamini–Hochberg over the enabled types that have a p-value.
    #[serde(default)]
    pub q_value: Option<f64>,
    /// Why `lift`, `lift_ci95`, `p_value` and `q_value` are null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Evidence {
    /// The interval lies wholly above or below 1: the data say the type changes conversion.
    pub fn excludes_one(&self) -> bool {
        self.lift_ci95.is_some_and(|[lo, hi]| lo > 1.0 || hi < 1.0)
    }

    /// `2.31× [1.52, 3.50]`, or "not enough data".
    pub fn lift_text(&self) -> String {
        match (self.lift, self.lift_ci95) {
            (Some(l), Some([lo, hi])) => format!("{l:.2}× [{lo:.2}, {hi:.2}]"),
            _ => "not enough data".into(),
        }
    }

    /// A p- or q-value for a person: `<0.001`, else three decimals; "n/a" when null.
    pub fn show_p(v: Option<f64>) -> String {
        match v {
            None => "n/a".into(),
            Some(v) if v < 0.001 => "<0.001".into(),
            Some(v) => format!("{v:.3}"),
        }
    }

    /// `12/140 vs 30/2900`: converted of accounts, fired vs unfired.
    pub fn groups_text(&self) -> String {
        format!(
            "{}/{} vs {}/{}",
            self.fired_converted,
            self.fired_accounts,
            self.unfired_converted,
            self.unfired_accounts
        )
    }
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

/// (accounts, converted) of the fired and unfired groups of every type, by type index.
fn groups(r: &Replay, o: &Outcomes, f: &Frame) -> [[(u64, u64); 2]; 8] {
    let h = i64::from(f.horizon_days) * DAY;
    let mut out = [[(0u64, 0u64); 2]; 8];
    for (i, win) in o.first_win.iter().enumerate() {
        let converted = |d: i64| win.is_some_and(|(c, _)| c > d && c <= d + h);
        let mut first_observation = None;
        let mut first_fired = [None; 8];
        for (k, &d) in r.dates.iter().enumerate() {
            if d + h > f.t || win.is_some_and(|(c, _)| d >= c) {
                continue;
            }
            let s = r.seen[k][i];
            if !(s.active || s.signals != 0) {
                continue;
            }
            first_observation.get_or_insert(d);
            for (t, first) in first_fired.iter_mut().enumerate() {
                if s.signals & (1 << t) != 0 {
                    first.get_or_insert(d);
                }
            }
        }
        let Some(first_observation) = first_observation else {
            continue;
        };
        for (t, first) in first_fired.iter().enumerate() {
            let (group, d) = match first {
                Some(d) => (0, *d),
                None => (1, first_observation),
            };
            out[t][group].0 += 1;
            out[t][group].1 += u64::from(converted(d));
        }
    }
    out
}

/// The evidence of every type, q-values included.
fn evidence(r: &Replay, o: &Outcomes, f: &Frame) -> Vec<Evidence> {
    let mut out: Vec<Evidence> = groups(r, o, f)
        .iter()
        .zip(SignalType::ALL)
        .map(|(&[(n1, x1), (n2, x2)], t)| {
            let mut e = Evidence {
                fired_accounts: n1,
                fired_converted: x1,
                unfired_accounts: n2,
                unfired_converted: x2,
                ..Evidence::default()
            };
            if x1 < MIN_CONVERSIONS || x2 < MIN_CONVERSIONS {
                e.reason = Some(format!(
                    "not enough data: {x1} of {n1} accounts converted where {t} fired and {x2} of \
                     {n2} where it did not; each group needs {MIN_CONVERSIONS} conversions"
                ));
                return e;
            }
            let rr = crate::stats::katz_risk_ratio(x1, n1, x2, n2);
            e.lift = rr.map(|r| r.ratio);
            e.lift_ci95 = rr.map(|r| r.ci95.pair());
            e.p_value = Some(crate::stats::fisher_exact(x1, n1 - x1, x2, n2 - x2));
            e
        })
        .collect();
    let family: Vec<usize> = (0..out.len())
        .filter(|&t| f.enabled & (1 << t) != 0 && out[t].p_value.is_some())
        .collect();
    let q = crate::stats::benjamini_hochberg(
        &family
            .iter()
            .filter_map(|&t| out[t].p_value)
            .collect::<Vec<_>>(),
    );
    for (&t, q) in family.iter().zip(q) {
        out[t].q_value = Some(q);
    }
    for (t, e) in out.iter_mut().enumerate() {
        if e.p_value.is_some() && e.q_value.is_none() {
            e.reason = Some(format!(
                "{} is disabled: it takes no part in the q-values",
                SignalType::ALL[t]
            ));
        }
    }
    out
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 200 * DAY;
    const PRICING: u8 = 1 << (SignalType::PricingIntent as u8);
    const BILLING: u8 = 1 << (SignalType::BillingIntent as u8);
    const SPIKE: u8 = 1 << (SignalType::UsageSpike as u8);

    /// T = day 200, range 100, step 10, horizon 30: replay dates are days 100, 110, …, 200.
    fn frame() -> Frame {
        Frame {
            t: T,
            range_days: 100,
            step_days: 10,
            horizon_days: 30,
            threshold: 60,
            annual_cost: 1000.0,
            enabled: u8::MAX,
        }
    }

    fn dates() -> Vec<i64> {
        (0..=10).map(|k| (100 + 10 * k) * DAY).collect()
    }

    /// A replay of `n` accounts, active and unscored everywhere unless `marks` say otherwise:
    /// (account, day, score, signals).
    fn replay(n: usize, marks: &[(usize, i64, u32, u8)]) -> Replay {
        let dates = dates();
        let mut seen = vec![
            vec![
                Seen {
                    score: 0,
                    signals: 0,
                    active: true
                };
                n
            ];
            dates.len()
        ];
        for &(i, day, score, signals) in marks {
            let k = dates
                .iter()
                .position(|d| *d == day * DAY)
                .expect("a replay date");
            seen[k][i] = Seen {
                score,
                signals,
                active: true,
            };
        }
        Replay {
            dates,
            accounts: (0..n).map(|i| format!("a{i}.com")).collect(),
            seen,
        }
    }

    fn wins(w: &[Option<(i64, f64)>]) -> Outcomes {
        Outcomes {
            first_win: w.iter().map(|x| x.map(|(d, v)| (d * DAY, v))).collect(),
            won_without_close: 0,
        }
    }

    fn per(r: &BacktestReport, t: SignalType) -> &SignalFigures {
        r.per_signal
            .iter()
            .find(|f| f.signal == t)
            .expect("every type is listed")
    }

    #[test]
    fn flags_are_judged_by_the_first_flag_the_horizon_and_the_first_win() {
        let r = replay(
            7,
            &[
                (0, 120, 70, PRICING), // won at 140: true positive, 20 days
                (0, 130, 70, PRICING),
                (1, 110, 65, PRICING), // never won, horizon over: false positive
                (2, 180, 60, BILLING), // 180 + 30 > T and not won: censored
                (3, 130, 80, BILLING), // won at 160 = F + H: true positive; caught exactly H days before
                (4, 130, 70, PRICING), // won at 161 = F + H + 1 d: false positive, missed by a day
                (5, 150, 90, PRICING), // after its first win at 115: ignored
                (5, 160, 90, PRICING),
                (6, 150, 25, SPIKE), // below the threshold: only a usage_spike flag
            ],
        );
        let o = wins(&[
            Some((140, 500.0)),
            None,
            None,
            Some((160, 300.0)),
            Some((161, 900.0)),
            Some((115, 50.0)),
            None,
        ]);
        let b = figures(&r, &o, &frame());
        assert_eq!(
            (b.flagged, b.true_positives, b.false_positives, b.censored),
            (5, 2, 2, 1)
        );
        assert_eq!((b.won_accounts, b.caught), (4, 2));
        assert_eq!(b.precision, Some(0.5));
        assert_eq!(b.recall, Some(0.5));
        assert_eq!(b.f1, Some(0.5));
        assert_eq!(b.median_days_to_close, Some(25.0));
        assert_eq!(b.value_won, 800.0);
        assert_eq!(b.roi_multiple, Some(0.8));
        assert!(b.reasons.is_empty(), "{:?}", b.reasons);

        let p = per(&b, SignalType::PricingIntent);
        assert_eq!(
            (p.fires, p.flagged, p.true_positives, p.false_positives),
            (4, 3, 1, 2)
        );
        assert_eq!((p.precision, p.recall), (Some(1.0 / 3.0), Some(0.25)));
        let bi = per(&b, SignalType::BillingIntent);
        assert_eq!(
            (bi.precision, bi.recall, bi.censored),
            (Some(1.0), Some(0.25), 1)
        );
        let us = per(&b, SignalType::UsageSpike);
        assert_eq!(
            (us.flagged, us.precision, us.recall),
            (1, Some(0.0), Some(0.0))
        );
        assert_eq!(us.f1, Some(0.0));
        let never = per(&b, SignalType::TeamGrowth);
        assert_eq!((never.precision, never.f1), (None, None));
        assert!(
            never.reasons["precision"].contains("no account was flagged"),
            "{:?}",
            never.reasons
        );

        // The timeline counts prospects only: account 5 is no prospect from day 115 on.
        let at = |day: i64| {
            b.timeline
                .iter()
                .find(|p| p.date == fmt_ts(day * DAY))
                .expect("date")
        };
        assert_eq!((at(130).scored, at(130).flagged), (3, 3));
        assert_eq!((at(150).scored, at(150).flagged), (1, 0));
    }

    #[test]
    fn buckets_count_observations_a_whole_horizon_before_t_and_lift_compares_top_with_bottom() {
        // Constant scores 0, 30, 50, 70, 90; account 5 never active and never scored.
        let mut r = replay(6, &[]);
        for day in &mut r.seen {
            for (i, score) in [(1, 30), (2, 50), (3, 70), (4, 90)] {
                day[i] = Seen {
                    score,
                    signals: SPIKE,
                    active: true,
                };
            }
            day[5].active = false;
        }
        let o = wins(&[Some((175, 1.0)), None, None, None, Some((155, 1.0)), None]);
        let b = figures(&r, &o, &frame());
        let got: Vec<(u64, u64)> = b
            .buckets
            .iter()
            .map(|x| (x.observations, x.converted))
            .collect();
        // Dates 100…170 have a whole horizon before T. Account 0: 8 observations, converted at
        // 150, 160, 170. Account 4: prospect at 100…150, converted at 130, 140, 150.
        assert_eq!(got, vec![(8, 3), (8, 0), (8, 0), (8, 0), (6, 3)]);
        assert_eq!(b.buckets[4].label, "[80,100]");
        assert_eq!(b.buckets[0].conversion, Some(0.375));
        assert_eq!(b.lift, Some(0.5 / 0.375));
    }

    #[test]
    fn an_empty_bucket_is_null_and_lift_uses_the_highest_non_empty_one() {
        let mut r = replay(2, &[]);
        for day in &mut r.seen {
            day[1] = Seen {
                score: 45,
                signals: SPIKE,
                active: true,
            };
        }
        let o = wins(&[Some((165, 1.0)), Some((150, 1.0))]);
        let b = figures(&r, &o, &frame());
        assert_eq!(b.buckets[4].observations, 0);
        assert_eq!(b.buckets[4].conversion, None);
        assert_eq!(b.buckets[3].conversion, None);
        // [0,20): a prospect at 100…160, converted at 140, 150, 160 (165 in (d, d + 30]);
        // [40,60): a prospect at 100…140, converted at 120, 130, 140.
        assert_eq!(b.buckets[0].conversion, Some(3.0 / 7.0));
        assert_eq!(b.buckets[2].conversion, Some(3.0 / 5.0));
        assert_eq!(b.lift, Some((3.0 / 5.0) / (3.0 / 7.0)));
    }

    #[test]
    fn no_deals_gives_no_recall_no_lift_and_no_time_to_close() {
        let r = replay(2, &[(0, 110, 70, PRICING)]);
        let b = figures(&r, &wins(&[None, None]), &frame());
        assert_eq!((b.precision, b.false_positives), (Some(0.0), 1));
        assert_eq!(
            (b.recall, b.f1, b.lift, b.median_days_to_close),
            (None, None, None, None)
        );
        assert!(
            b.reasons["recall"].contains("no account's first won deal"),
            "{:?}",
            b.reasons
        );
        assert!(
            b.reasons["lift"].contains("base rate is 0"),
            "{:?}",
            b.reasons
        );
        assert_eq!(b.reasons["median_days_to_close"], "no true positive");
        assert_eq!((b.value_won, b.roi_multiple), (0.0, Some(0.0)));
    }

    #[test]
    fn deals_but_no_wins_is_like_no_deals() {
        let lost = DealRow {
            deal_id: "L1".into(),
            account_key: "a0.com".into(),
            name: None,
            lead_source: "pql".into(),
            stage: "closed_lost".into(),
            value: Some(100.0),
            created_at: 100 * DAY,
            sql_at: None,
            closed_at: Some(150 * DAY),
            owner_email: None,
        };
        let r = replay(2, &[(0, 110, 70, PRICING)]);
        let o = Outcomes::of(&[lost], &r.accounts, &Config::default(), T);
        let b = figures(&r, &o, &frame());
        assert_eq!(
            (b.won_accounts, b.recall, b.false_positives, b.value_won),
            (0, None, 1, 0.0)
        );
        assert!(b.reasons.contains_key("recall") && b.reasons.contains_key("lift"));
    }

    #[test]
    fn no_flags_gives_no_precision_but_a_recall_of_zero() {
        let r = replay(2, &[]);
        let b = figures(&r, &wins(&[Some((150, 10.0)), None]), &frame());
        assert_eq!(
            (b.flagged, b.precision, b.recall, b.f1),
            (0, None, Some(0.0), None)
        );
        assert!(
            b.reasons["precision"].contains("no account was flagged (score ≥ 60)"),
            "{:?}",
            b.reasons
        );
        assert_eq!(b.reasons["f1"], "precision or recall is undefined");
        assert!(
            b.reasons["lift"].contains("no observation scored 20 or more"),
            "{:?}",
            b.reasons
        );
    }

    #[test]
    fn all_censored_gives_no_precision_and_no_observations() {
        // Horizon 200 days: every flag's horizon ends after T, and no date is a horizon before T.
        let f = Frame {
            horizon_days: 200,
            ..frame()
        };
        let r = replay(2, &[(0, 150, 70, PRICING), (1, 160, 70, BILLING)]);
        let b = figures(&r, &wins(&[None, None]), &f);
        assert_eq!((b.flagged, b.censored, b.precision), (2, 2, None));
        assert!(
            b.reasons["precision"].contains("all 2 flagged accounts are censored"),
            "{:?}",
            b.reasons
        );
        assert!(
            b.buckets
                .iter()
                .all(|x| x.observations == 0 && x.conversion.is_none())
        );
        assert!(
            b.reasons["lift"].starts_with("no observations"),
            "{:?}",
            b.reasons
        );
    }

    #[test]
    fn no_annual_cost_gives_no_roi() {
        let f = Frame {
            annual_cost: 0.0,
            ..frame()
        };
        let b = figures(&replay(1, &[]), &wins(&[None]), &f);
        assert_eq!(b.roi_multiple, None);
        assert_eq!(b.reasons["roi_multiple"], "backtest.annual_cost is 0");
    }

    #[test]
    fn outcomes_keep_the_first_win_known_at_t() {
        let deal = |id: &str, key: &str, stage: &str, closed: Option<i64>, value: f64| DealRow {
            deal_id: id.into(),
            account_key: key.into(),
            name: None,
            lead_source: "pql".into(),
            stage: stage.into(),
            value: Some(value),
            created_at: 0,
            sql_at: None,
            closed_at: closed.map(|d| d * DAY),
            owner_email: None,
        };
        let deals = [
            deal("1", "a.com", "closed_won", Some(150), 10.0),
            deal("2", "a.com", "Won 🎉", Some(120), 20.0),
            deal("3", "b.com", "won", Some(201), 30.0), // after T: unknown
            deal("4", "c.com", "lost", Some(110), 40.0),
            deal("5", "c.com", "won", None, 50.0), // no close date: left out, counted
        ];
        let keys = ["a.com", "b.com", "c.com"].map(String::from);
        let o = Outcomes::of(&deals, &keys, &Config::default(), T);
        assert_eq!(o.first_win, vec![Some((120 * DAY, 20.0)), None, None]);
        assert_eq!(o.won_without_close, 1);
    }

    #[test]
    fn evidence_groups_accounts_at_their_first_fire_or_first_observation() {
        let mut r = replay(
            6,
            &[
                (0, 120, 70, PRICING), // fired at 120, won 140: converted
                (0, 130, 70, PRICING),
                (1, 180, 70, PRICING), // 180 + 30 > T: no observation there, so unfired
                (3, 150, 70, PRICING), // after its win at 115: unfired, judged at 100
                (5, 110, 70, PRICING), // fired at 110, won 145 > 110 + 30: not converted
            ],
        );
        for day in &mut r.seen {
            day[4].active = false; // never active, never fired: in neither group
        }
        let o = wins(&[
            Some((140, 1.0)),
            None,
            Some((125, 1.0)), // unfired, judged at 100: converted
            Some((115, 1.0)),
            None,
            Some((145, 1.0)),
        ]);
        let b = figures(&r, &o, &frame());
        let e = &per(&b, SignalType::PricingIntent).evidence;
        assert_eq!(
            (
                e.fired_accounts,
                e.fired_converted,
                e.unfired_accounts,
                e.unfired_converted
            ),
            (2, 1, 3, 2)
        );
        assert_eq!(
            (e.lift, e.lift_ci95, e.p_value, e.q_value),
            (None, None, None, None)
        );
        let why = e.reason.as_deref().expect("a reason");
        assert!(
            why.starts_with(
                "not enough data: 1 of 2 accounts converted where pricing_intent fired"
            ),
            "{why}"
        );
        // A type that never fired: every observed account is unfired, judged at day 100, where
        // account 0's win at 140 is more than a horizon away.
        let never = &per(&b, SignalType::TeamGrowth).evidence;
        assert_eq!(
            (
                never.fired_accounts,
                never.unfired_accounts,
                never.unfired_converted
            ),
            (0, 5, 2)
        );
        assert!(never.reason.is_some() && never.lift.is_none());
        // The JSON entry carries the figures, null, with the reason beside them.
        let json = serde_json::to_value(per(&b, SignalType::PricingIntent)).expect("json");
        assert!(json["lift"].is_null() && json["lift_ci95"].is_null());
        assert!(json["p_value"].is_null() && json["q_value"].is_null());
        assert!(
            json["reason"]
                .as_str()
                .is_some_and(|r| r.contains("each group needs 5"))
        );
    }

    #[test]
    fn evidence_is_katz_fisher_and_bh_over_the_enabled_types() {
        use super::super::planted::{BASE_LOG_ODDS, PLANTS, planted};
        let (r, o, f) = planted(1, 3000, 120, &PLANTS, BASE_LOG_ODDS);
        let b = figures(&r, &o, &f);
        let with_p: Vec<&SignalFigures> = b
            .per_signal
            .iter()
            .filter(|s| s.evidence.p_value.is_some())
            .collect();
        assert_eq!(with_p.len(), 3, "the three planted types have enough data");
        let ps: Vec<f64> = with_p
            .iter()
            .map(|s| s.evidence.p_value.unwrap_or(1.0))
            .collect();
        let qs = crate::stats::benjamini_hochberg(&ps);
        for (s, q) in with_p.iter().zip(qs) {
            let e = &s.evidence;
            let (x1, n1, x2, n2) = (
                e.fired_converted,
                e.fired_accounts,
                e.unfired_converted,
                e.unfired_accounts,
            );
            let rr = crate::stats::katz_risk_ratio(x1, n1, x2, n2).expect("defined");
            assert_eq!(e.lift, Some(rr.ratio));
            assert_eq!(e.lift_ci95, Some([rr.ci95.lo, rr.ci95.hi]));
            assert_eq!(
                e.p_value,
                Some(crate::stats::fisher_exact(x1, n1 - x1, x2, n2 - x2))
            );
            assert_eq!(e.q_value, Some(q));
            assert_eq!(n1 + n2, 3000, "every planted account is observed");
            assert!(e.reason.is_none());
        }
        // Disabling pricing leaves it out of the family: its q is null, the others' change.
        let mut g = f;
        g.enabled &= !PRICING;
        let d = figures(&r, &o, &g);
        let pricing = &per(&d, SignalType::PricingIntent).evidence;
        assert!(pricing.p_value.is_some() && pricing.q_value.is_none());
        assert!(
            pricing
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("disabled"))
        );
        let billing = |x: &BacktestReport| per(x, SignalType::BillingIntent).evidence.q_value;
        let support = &per(&d, SignalType::SupportEngagement).evidence;
        let two = crate::stats::benjamini_hochberg(&[
            per(&d, SignalType::BillingIntent)
                .evidence
                .p_value
                .unwrap_or(1.0),
            support.p_value.unwrap_or(1.0),
        ]);
        assert_eq!((billing(&d), support.q_value), (Some(two[0]), Some(two[1])));
    }

    /// The check: in at least 90 of 100 seeded workspaces the lift interval excludes 1
    /// for the planted types (billing +1.6, pricing +1.1 log-odds) and contains it for the null
    /// one (support, 0).
    #[test]
    fn lift_intervals_find_planted_signals_and_spare_the_null_one_in_90_of_100_seeds() {
        use super::super::planted::{BASE_LOG_ODDS, PLANTS, planted};
        let mut hits = [0u32; 3];
        for seed in 0..100 {
            let (r, o, f) = planted(seed, 1500, 120, &PLANTS, BASE_LOG_ODDS);
            let b = figures(&r, &o, &f);
            for (h, p) in hits.iter_mut().zip(PLANTS) {
                let e = &per(&b, p.signal).evidence;
                let Some([lo, hi]) = e.lift_ci95 else {
                    continue;
                };
                let right = if p.log_odds > 0.0 {
                    lo > 1.0
                } else {
                    lo <= 1.0 && 1.0 <= hi
                };
                *h += u32::from(right);
                assert_eq!(e.excludes_one(), !(lo <= 1.0 && 1.0 <= hi));
            }
        }
        assert!(
            hits.iter().all(|h| *h >= 90),
            "billing, pricing, support: {hits:?}"
        );
    }
}
