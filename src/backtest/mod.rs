//! The backtest of SPEC §5: replay detection at past dates with no lookahead, judge the flags
//! against the deals known at T, and compare candidate settings (what-if, sweep) before saving them.

pub mod cache;
mod explain;
mod figures;
/// Planted replays with known log-odds per signal, for tests (the terminal app's included: its
/// tests are the binary's, which sees only the library's public items).
#[doc(hidden)]
pub mod planted;
mod replay;

use serde::{Deserialize, Serialize};

pub use explain::{SignalExplanation, explain_signal, tuning_key};
pub use figures::{
    BacktestReport, Bucket, DatePoint, Evidence, Frame, MIN_CONVERSIONS, Outcomes, SavedBacktest,
    SignalFigures, figures,
};
pub use replay::{AtDate, Replay, Seen, fingerprint, replay, replay_metrics, score_of, scores};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::source::Remote;
/// Where the replay's detection runs (re-exported: the backtest's callers name it here).
pub use crate::source::Source;
use crate::store::Store;
use crate::time::DAY;

/// The range, step and horizon of one backtest at T.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BacktestOptions {
    pub as_of: i64,
    pub range_days: u32,
    pub step_days: u32,
    pub horizon_days: u32,
}

impl BacktestOptions {
    pub fn from_config(cfg: &Config, as_of: i64) -> Self {
        let b = &cfg.backtest;
        Self {
            as_of,
            range_days: b.range_days,
            step_days: b.step_days,
            horizon_days: b.horizon_days,
        }
    }

    /// D_k = T − R + k·S for k = 0, 1, … while D_k ≤ T.
    pub fn dates(&self) -> Vec<i64> {
        let start = self.as_of - i64::from(self.range_days) * DAY;
        let step = i64::from(self.step_days.max(1)) * DAY;
        (0..)
            .map(|k| start + k * step)
            .take_while(|d| *d <= self.as_of)
            .collect()
    }

    fn check(&self) -> Result<()> {
        if self.step_days == 0 || self.horizon_days == 0 {
            return Err(Error::Usage(
                "backtest: --step-days and --horizon-days must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The knobs of the figures under `cfg`.
    pub fn frame(&self, cfg: &Config) -> Frame {
        Frame {
            t: self.as_of,
            range_days: self.range_days,
            step_days: self.step_days,
            horizon_days: self.horizon_days,
            threshold: cfg.route_threshold,
            annual_cost: cfg.backtest.annual_cost,
            enabled: crate::signals::SignalType::ALL
                .iter()
                .filter(|t| t.enabled(cfg))
                .fold(0, |m, t| m | 1 << (*t as u8)),
        }
    }
}

/// The figures of a replay, judged against `deals`.
pub fn report_of(
    r: &Replay,
    deals: &[crate::store::DealRow],
    cfg: &Config,
    opts: &BacktestOptions,
) -> BacktestReport {
    // One opportunity per account: a PQL deal next to an open deal from another source is that
    // deal (SPEC §8). Outcomes are per account anyway (its first win), so this only keeps the
    // folded deal out of the counts of wins without a close date.
    let (deals, _) = crate::deals::one_per_opportunity(deals, cfg);
    let outcomes = Outcomes::of(&deals, &r.accounts, cfg, opts.as_of);
    figures(r, &outcomes, &opts.frame(cfg))
}

/// The flags of replay `r` that the reps' answers suppressed (SPEC §10 in the replay, with no
/// lookahead: the replay at D sees only answers given before D). Each account counts once, at
/// the first such date D, judged like the precision: won in (D, D + H], not won, or censored.
pub fn held_back(
    r: &Replay,
    o: &Outcomes,
    cfg: &Config,
    opts: &BacktestOptions,
    book: &crate::feedback::Book,
) -> crate::feedback::HeldBack {
    let mut out = crate::feedback::HeldBack::default();
    if book.is_empty() {
        return out;
    }
    let h = i64::from(opts.horizon_days) * DAY;
    for (i, key) in r.accounts.iter().enumerate() {
        if book.history(key).is_empty() {
            continue;
        }
        let win = o.first_win.get(i).copied().flatten();
        let first = r.dates.iter().enumerate().find_map(|(k, &d)| {
            let s = r.seen[k][i];
            let flagged = s.signals != 0 && s.score >= cfg.route_threshold;
            let prospect = win.is_none_or(|(c, _)| d < c);
            if !(flagged && prospect) {
                return None;
            }
            book.suppression(&cfg.feedback, key, d).map(|x| (d, x.kind))
        });
        let Some((d, kind)) = first else { continue };
        out.accounts += 1;
        let not_ready = kind == crate::feedback::Kind::NotReady;
        out.not_ready += u64::from(not_ready);
        match win {
            Some((c, _)) if c <= d + h => {
                out.won += 1;
                out.won_after_not_ready += u64::from(not_ready);
            }
            _ if d + h > opts.as_of => out.censored += 1,
            _ => out.not_won += 1,
        }
    }
    out
}

/// Runs the backtest of `cfg` at `opts.as_of`. Nothing is saved: `Store::save_backtest` does that.
pub fn run(
    store: &Store,
    cfg: &Config,
    opts: &BacktestOptions,
    progress: &dyn Progress,
    source: Source<'_>,
) -> Result<BacktestReport> {
    let mut reports = reports(store, &[cfg], opts, progress, source)?;
    reports.pop().ok_or(Error::Cancelled)
}

/// The reps' answers a backtest at T reads (SPEC §10): those with `at` in (T − R, T], by UTC
/// month (an answer after T is not known at T), and the flags they held back in each replay.
pub struct Dispositions {
    book: crate::feedback::Book,
    trend: crate::feedback::Trend,
}

impl Dispositions {
    pub fn load(store: &Store, opts: &BacktestOptions) -> Result<Self> {
        let book = crate::feedback::Book::load(store)?;
        let from = opts.as_of - i64::from(opts.range_days) * DAY;
        let trend = crate::feedback::trend(book.all(), from, opts.as_of);
        Ok(Self { book, trend })
    }

    /// The figures of a replay judged against `deals`, with the answers' section.
    pub fn report(
        &self,
        r: &Replay,
        deals: &[crate::store::DealRow],
        cfg: &Config,
        opts: &BacktestOptions,
    ) -> BacktestReport {
        let (folded, _) = crate::deals::one_per_opportunity(deals, cfg);
        let outcomes = Outcomes::of(&folded, &r.accounts, cfg, opts.as_of);
        let mut feedback = self.trend.clone();
        feedback.held_back = held_back(r, &outcomes, cfg, opts, &self.book);
        BacktestReport {
            feedback,
            ..report_of(r, deals, cfg, opts)
        }
    }
}

/// Backtests several settings, in order. Settings that read the same data share one scan of the
/// workspace; each group that classifies events differently rebuilds the rollups for itself, and
/// the rollups are put back for the first settings at the end.
pub fn reports(
    store: &Store,
    cfgs: &[&Config],
    opts: &BacktestOptions,
    progress: &dyn Progress,
    source: Source<'_>,
) -> Result<Vec<BacktestReport>> {
    opts.check()?;
    let Some(first) = cfgs.first() else {
        return Ok(Vec::new());
    };
    let dates = opts.dates();
    // A workspace's deals are its parent's (SPEC §14), by the families as of T.
    let deals = crate::signals::parents::deals_at(store, first, opts.as_of)?;
    let dispositions = Dispositions::load(store, opts)?;
    let report_of = |r: &Replay, cfg: &Config, deals: &[crate::store::DealRow]| {
        dispositions.report(r, deals, cfg, opts)
    };
    if let Some(remote) = source.remote() {
        // Equal settings replay once; the plan counts the others, and the first-seen scan.
        let distinct = (0..cfgs.len())
            .filter(|&i| !(0..i).any(|j| cfgs[j] == cfgs[i]))
            .count();
        remote.plan(first, distinct, dates.len())?;
        let mut out: Vec<BacktestReport> = Vec::with_capacity(cfgs.len());
        let mut first_seen = None;
        for (i, cfg) in cfgs.iter().enumerate() {
            if let Some(j) = (0..i).find(|&j| cfgs[j] == *cfg) {
                let same = out[j].clone();
                out.push(same);
                continue;
            }
            progress.stage(&format!("backtest ({})", remote.label()));
            let accounts = deals.iter().map(|d| d.account_key.clone());
            let r = replay_at_source(remote, cfg, &dates, &mut first_seen, accounts, progress)?;
            out.push(report_of(&r, cfg, &deals));
        }
        return Ok(out);
    }
    let mut out: Vec<Option<BacktestReport>> = vec![None; cfgs.len()];
    // Equal settings are replayed once: `same[i]` is the first index with settings equal to i's.
    let same: Vec<usize> = (0..cfgs.len())
        .map(|i| (0..i).find(|&j| cfgs[j] == cfgs[i]).unwrap_or(i))
        .collect();
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, c) in cfgs.iter().enumerate().filter(|(i, _)| same[*i] == *i) {
        let f = replay::fingerprint(c);
        match groups.iter_mut().find(|g| g.0 == f) {
            Some(g) => g.1.push(i),
            None => groups.push((f, vec![i])),
        }
    }
    let mut result = Ok(());
    for (_, members) in &groups {
        progress.stage("backtest");
        let group: Vec<&Config> = members.iter().map(|&i| cfgs[i]).collect();
        match replay::replay(store, &group, &dates, progress) {
            Ok(replays) => {
                for (&i, r) in members.iter().zip(replays) {
                    // A candidate with other parent settings files the deals its own way.
                    let own;
                    let deals = if cfgs[i].accounts == first.accounts {
                        &deals
                    } else {
                        own = crate::signals::parents::deals_at(store, cfgs[i], opts.as_of)?;
                        &own
                    };
                    out[i] = Some(report_of(&r, cfgs[i], deals));
                }
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    if groups.len() > 1 {
        store.ensure_rollups(first)?;
    }
    result?;
    for (i, &j) in same.iter().enumerate() {
        if i != j {
            out[i] = out[j].clone();
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// The replay of `cfg` at every date of `opts`, through `source`, with the workspace's deals:
/// what `beton learn` fits on (the backtest's figures are computed from the same replay).
pub fn replay_with_deals(
    store: &Store,
    cfg: &Config,
    opts: &BacktestOptions,
    progress: &dyn Progress,
    source: Source<'_>,
) -> Result<(Replay, Vec<crate::store::DealRow>)> {
    opts.check()?;
    let dates = opts.dates();
    let deals = crate::signals::parents::deals_at(store, cfg, opts.as_of)?;
    let r = if let Some(remote) = source.remote() {
        progress.stage(&format!("replay ({})", remote.label()));
        let accounts = deals.iter().map(|d| d.account_key.clone());
        replay_at_source(remote, cfg, &dates, &mut None, accounts, progress)?
    } else {
        progress.stage("replay");
        replay::replay(store, &[cfg], &dates, progress)?
            .pop()
            .ok_or(Error::Cancelled)?
    };
    Ok((r, deals))
}

/// The replay with detection at the source: its query set at every replay date and, once per
/// backtest (kept in `first_seen`), every account's first event.
fn replay_at_source(
    remote: Remote<'_>,
    cfg: &Config,
    dates: &[i64],
    first_seen: &mut Option<std::collections::BTreeMap<String, Option<i64>>>,
    more: impl IntoIterator<Item = String>,
    progress: &dyn Progress,
) -> Result<Replay> {
    if first_seen.is_none() {
        *first_seen = Some(remote.first_seen(cfg, dates)?);
    }
    let seen = first_seen.as_ref().expect("filled above");
    replay_metrics(
        cfg,
        dates,
        seen,
        more,
        |d| remote.metrics_at(cfg, d),
        progress,
    )
}

/// A candidate setting's backtest next to the saved settings'.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhatIf {
    pub sets: Vec<String>,
    pub before: BacktestReport,
    pub after: BacktestReport,
    pub changes: Vec<Change>,
}

/// Backtests `cfg` and `cfg` with `sets` applied; nothing is saved. When the overrides change
/// which events count, the rollups are rebuilt for the candidate and then back for `cfg`.
pub fn what_if(
    store: &Store,
    cfg: &Config,
    sets: &[String],
    opts: &BacktestOptions,
    progress: &dyn Progress,
    source: Source<'_>,
) -> Result<WhatIf> {
    let candidate = cfg.with_overrides(sets)?;
    let mut r = reports(store, &[cfg, &candidate], opts, progress, source)?.into_iter();
    let (Some(before), Some(mut after)) = (r.next(), r.next()) else {
        return Err(Error::Cancelled);
    };
    after.sets = sets.to_vec();
    Ok(WhatIf {
        sets: sets.to_vec(),
        changes: compare(&before, &after),
        before,
        after,
    })
}

/// One value of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    pub value: String,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    pub flagged: u64,
    /// The swept signal's own figures, when the key belongs to a signal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<SignalFigures>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    pub key: String,
    /// Overrides applied under every value.
    pub sets: Vec<String>,
    pub points: Vec<SweepPoint>,
}

/// Parses `key=1..6` (integers, inclusive) or `key=0.6,0.7,0.8`.
pub fn parse_sweep(spec: &str) -> Result<(String, Vec<String>)> {
    let bad = |why: &str| {
        Error::Usage(format!(
            "--sweep {spec}: {why} (e.g. pricing_intent.min_count=1..6)"
        ))
    };
    let (key, values) = spec
        .split_once('=')
        .ok_or_else(|| bad("expected KEY=FROM..TO or KEY=A,B,C"))?;
    let values: Vec<String> = if let Some((a, b)) = values.split_once("..") {
        let a: i64 = a
            .trim()
            .parse()
            .map_err(|_| bad("FROM is not an integer"))?;
        let b: i64 = b
            .trim()
            .trim_start_matches('=')
            .parse()
            .map_err(|_| bad("TO is not an integer"))?;
        if b < a || b - a > 100 {
            return Err(bad("the range must go up, by at most 100 values"));
        }
        (a..=b).map(|v| v.to_string()).collect()
    } else {
        values
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    };
    if values.is_empty() {
        return Err(bad("no values"));
    }
    Ok((key.trim().to_string(), values))
}

/// Backtests `cfg` with `sets` and `key=value` for each value of `(key, values)` (as
/// [`parse_sweep`] gives them); nothing is saved.
pub fn sweep(
    store: &Store,
    cfg: &Config,
    sets: &[String],
    (key, values): (&str, &[String]),
    opts: &BacktestOptions,
    progress: &dyn Progress,
    source: Source<'_>,
) -> Result<Sweep> {
    let signal = crate::signals::SignalType::parse(
        key.trim_start_matches("signals.")
            .split('.')
            .next()
            .unwrap_or(""),
    );
    let candidates = values
        .iter()
        .map(|v| {
            let mut all = sets.to_vec();
            all.push(format!("{key}={v}"));
            cfg.with_overrides(&all)
        })
        .collect::<Result<Vec<Config>>>()?;
    let refs: Vec<&Config> = candidates.iter().collect();
    let points = reports(store, &refs, opts, progress, source)?
        .into_iter()
        .zip(values)
        .map(|(r, v)| SweepPoint {
            value: v.clone(),
            precision: r.precision,
            recall: r.recall,
            f1: r.f1,
            flagged: r.flagged,
            signal: signal.and_then(|s| r.per_signal.iter().find(|f| f.signal == s).cloned()),
        })
        .collect();
    store.ensure_rollups(cfg)?;
    Ok(Sweep {
        key: key.to_string(),
        sets: sets.to_vec(),
        points,
    })
}

/// An amount of money for a person: whole units with thousands separators (`25,000`). The one
/// money format of every front-end; data outputs (JSON, CSV) carry the plain number.
pub fn money(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// How a figure is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Percent,
    Count,
    Days,
    Money,
    Multiple,
    Ratio,
    /// A change as a signed whole percentage: `+23 %`, `-40 %` (week-over-week growth).
    Growth,
}

impl Unit {
    /// The value for a person; "n/a" when undefined.
    pub fn show(self, v: Option<f64>) -> String {
        let Some(v) = v else { return "n/a".into() };
        match self {
            Unit::Percent => format!("{:.1} %", v * 100.0),
            Unit::Count => format!("{v:.0}"),
            Unit::Days => format!("{v:.1} d"),
            Unit::Money => money(v),
            Unit::Multiple => format!("{v:.1}×"),
            Unit::Ratio => format!("{v:.2}"),
            Unit::Growth => format!("{:+.0} %", v * 100.0),
        }
    }
}

/// One figure before → after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub figure: String,
    pub unit: Unit,
    pub before: Option<f64>,
    pub after: Option<f64>,
}

impl Change {
    /// `precision 35.0 % → 52.0 %`.
    pub fn text(&self) -> String {
        format!(
            "{} {} → {}",
            self.figure,
            self.unit.show(self.before),
            self.unit.show(self.after)
        )
    }

    pub fn changed(&self) -> bool {
        self.before != self.after
    }
}

/// Every headline figure and each signal's precision and recall, before → after.
pub fn compare(before: &BacktestReport, after: &BacktestReport) -> Vec<Change> {
    let c = |figure: &str, unit: Unit, f: &dyn Fn(&BacktestReport) -> Option<f64>| Change {
        figure: figure.into(),
        unit,
        before: f(before),
        after: f(after),
    };
    let count = |n: u64| Some(n as f64);
    let mut out = vec![
        c("precision", Unit::Percent, &|r| r.precision),
        c("recall", Unit::Percent, &|r| r.recall),
        c("f1", Unit::Ratio, &|r| r.f1),
        c("flagged", Unit::Count, &|r| count(r.flagged)),
        c("true_positives", Unit::Count, &|r| count(r.true_positives)),
        c("false_positives", Unit::Count, &|r| {
            count(r.false_positives)
        }),
        c("censored", Unit::Count, &|r| count(r.censored)),
        c("won_accounts", Unit::Count, &|r| count(r.won_accounts)),
        c("caught", Unit::Count, &|r| count(r.caught)),
        c("lift", Unit::Multiple, &|r| r.lift),
        c("median_days_to_close", Unit::Days, &|r| {
            r.median_days_to_close
        }),
        c("value_won", Unit::Money, &|r| Some(r.value_won)),
        c("roi_multiple", Unit::Multiple, &|r| r.roi_multiple),
    ];
    for s in crate::signals::SignalType::ALL {
        let find = |r: &BacktestReport| r.per_signal.iter().find(|f| f.signal == s).cloned();
        let (b, a) = (find(before), find(after));
        let name = s.as_str();
        out.push(Change {
            figure: format!("{name}.precision"),
            unit: Unit::Percent,
            before: b.as_ref().and_then(|f| f.precision),
            after: a.as_ref().and_then(|f| f.precision),
        });
        out.push(Change {
            figure: format!("{name}.recall"),
            unit: Unit::Percent,
            before: b.as_ref().and_then(|f| f.recall),
            after: a.as_ref().and_then(|f| f.recall),
        });
    }
    out
}

#[cfg(test)]
mod feedback_tests {
    use super::*;
    use crate::store::DispositionRow;

    fn answer(account: &str, kind: &str, at: i64) -> DispositionRow {
        DispositionRow {
            account: account.into(),
            kind: kind.into(),
            at,
            note: None,
            by: None,
            source: "cli".into(),
            origin: None,
        }
    }

    /// The replay at D sees only answers given before D; each account counts once, at its first
    /// suppressed flag, judged over the horizon like the precision.
    #[test]
    fn held_back_flags_use_only_earlier_answers() {
        let cfg = Config::default();
        let flag = Seen {
            score: 80,
            signals: 1,
            active: true,
        };
        let quiet = Seen::default();
        let dates = vec![0, 7 * DAY, 14 * DAY, 21 * DAY];
        let names = ["won.io", "lost.io", "late.io", "same.io", "fresh.io"];
        let r = Replay {
            dates: dates.clone(),
            accounts: names.iter().map(|s| s.to_string()).collect(),
            seen: dates.iter().map(|_| vec![flag; names.len()]).collect(),
        };
        let mut r = r;
        // fresh.io is flagged only at the last date.
        for k in 0..3 {
            r.seen[k][4] = quiet;
        }
        let opts = BacktestOptions {
            as_of: 21 * DAY,
            range_days: 21,
            step_days: 7,
            horizon_days: 10,
        };
        let o = Outcomes {
            // won.io wins at day 12, within 10 days of the flag at day 7.
            first_win: vec![Some((12 * DAY, 1000.0)), None, None, None, None],
            won_without_close: 0,
        };
        let book = crate::feedback::Book::of(vec![
            answer("won.io", "not_ready", 3 * DAY),
            answer("lost.io", "already_working", 1),
            // Given after every flag of late.io but the last: held back from day 21 on (censored).
            answer("late.io", "not_ready", 20 * DAY),
            // Given exactly at a replay date: that date does not see it, the next one does.
            answer("same.io", "not_ready", 7 * DAY),
            // After T: never seen.
            answer("fresh.io", "not_ready", 22 * DAY),
        ])
        .unwrap();
        let h = held_back(&r, &o, &cfg, &opts, &book);
        assert_eq!(
            h,
            crate::feedback::HeldBack {
                accounts: 4,
                not_ready: 3,
                won: 1,
                won_after_not_ready: 1,
                // lost.io: held back at day 7, not won by day 17.
                not_won: 1,
                // late.io (day 21) and same.io (day 14): D + 10 days is after T.
                censored: 2,
            }
        );
    }
}
