//! The figure engines' reports as the Health, Sources and Backtest panes show them: health and
//! sources computed at the run's T, the latest saved backtest and the one before it.

use std::path::Path;

use beton::backtest::SavedBacktest;
use beton::backtest::{self, BacktestOptions, Change};
use beton::config::Config;
use beton::health::HealthReport;
use beton::posthog::Client;
use beton::progress::Progress;
use beton::signals::SignalType;
use beton::source::Source;
use beton::sources::SourceReport;
use beton::store::{RunLock, Store};

#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub health: Option<HealthReport>,
    pub sources: Option<SourceReport>,
    /// Treated against held-out win rates, when a holdout exists (SPEC §12).
    pub incrementality: Option<beton::holdout::Incrementality>,
    pub backtest: Option<SavedBacktest>,
    pub previous: Option<SavedBacktest>,
    /// Latest against previous, headline figures and per signal.
    pub changes: Vec<Change>,
    /// The signals that fired in the 7 days to T, by type and day.
    pub week: Option<WeekSignals>,
    /// Why a figure is missing, one line per engine that failed.
    pub errors: Vec<String>,
}

/// Where health and the backtest's detection run: the workspace, or PostHog when it is the
/// source (or why PostHog cannot be reached; sources and saved backtests still show).
pub enum Remote<'a> {
    Local,
    Posthog(&'a Client),
    Unavailable(String),
}

/// Loads the figures at `t`: health and sources computed, backtests as saved. When no backtest
/// was saved yet (first start), one is run and saved (under the workspace lock of `data_dir`).
pub fn load(
    store: &Store,
    data_dir: &Path,
    cfg: &Config,
    remote: &Remote<'_>,
    t: Option<i64>,
    progress: &dyn Progress,
) -> Figures {
    let Some(t) = t else {
        return Figures::default();
    };
    let mut f = load_without_backtest(store, cfg, remote, t, progress);
    match store.latest_backtests(2) {
        Ok(saved) if saved.is_empty() => {
            run_backtest(store, data_dir, cfg, remote, t, progress, &mut f)
        }
        Ok(saved) => {
            let mut it = saved.into_iter();
            f.backtest = it.next();
            f.previous = it.next();
        }
        Err(e) => f.errors.push(format!("backtest: {e}")),
    }
    f.compare();
    f
}

/// After a re-run: every figure again, with a fresh backtest saved beside the previous one.
pub fn rerun(
    store: &Store,
    data_dir: &Path,
    cfg: &Config,
    remote: &Remote<'_>,
    t: Option<i64>,
    progress: &dyn Progress,
) -> Figures {
    let Some(t) = t else {
        return Figures::default();
    };
    let mut f = load_without_backtest(store, cfg, remote, t, progress);
    run_backtest(store, data_dir, cfg, remote, t, progress, &mut f);
    f.compare();
    f
}

/// A what-if: every figure under `draft` at `t`, and the backtests of the settings in force
/// (`applied`, "before") and of the draft ("after") at the same T. Nothing is saved: both
/// backtests carry id 0.
pub fn whatif(
    store: &Store,
    applied: &Config,
    draft: &Config,
    remote: &Remote<'_>,
    t: i64,
    progress: &dyn Progress,
) -> Figures {
    let mut f = load_without_backtest(store, draft, remote, t, progress);
    let opts = BacktestOptions::from_config(draft, t);
    let source = match remote {
        Remote::Local => Source::Local,
        Remote::Posthog(c) => Source::Posthog(c),
        Remote::Unavailable(e) => {
            f.errors.push(format!("backtest: PostHog: {e}"));
            return f;
        }
    };
    let unsaved = |report| SavedBacktest {
        id: 0,
        created_at: beton::time::now(),
        as_of: t,
        report,
    };
    match backtest::reports(store, &[applied, draft], &opts, progress, source) {
        Ok(r) => {
            let mut it = r.into_iter();
            f.previous = it.next().map(unsaved);
            f.backtest = it.next().map(unsaved);
        }
        Err(beton::Error::Cancelled) => f.errors.push("backtest: cancelled".into()),
        Err(e) => f.errors.push(format!("backtest: {e}")),
    }
    f.compare();
    f
}

/// The signals that fired in the 7 days up to T: per enabled type, the accounts it fired for on
/// any of the days and how many it fired for on each day (detection replayed at T − 6 d … T).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WeekSignals {
    /// The 7 detection times, oldest first.
    pub days: Vec<i64>,
    pub types: Vec<TypeWeek>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TypeWeek {
    pub signal: SignalType,
    /// Distinct accounts it fired for on any of the days.
    pub accounts: u64,
    /// Accounts it fired for, per day (as `days`).
    pub per_day: Vec<u64>,
}

/// Replays detection at the 7 days to `t` on the local workspace. With PostHog as the source
/// this would cost 7 more detection runs there, so it is left out (the pane says so).
pub fn week(
    store: &Store,
    cfg: &Config,
    remote: &Remote<'_>,
    t: i64,
    progress: &dyn Progress,
) -> beton::Result<Option<WeekSignals>> {
    if !matches!(remote, Remote::Local) {
        return Ok(None);
    }
    let days: Vec<i64> = (0..7).rev().map(|k| t - k * beton::time::DAY).collect();
    progress.stage("this week's signals");
    let r = backtest::replay(store, &[cfg], &days, progress)?
        .pop()
        .unwrap_or_default();
    let types = SignalType::ALL
        .into_iter()
        .filter(|s| s.enabled(cfg))
        .map(|s| {
            let bit = 1u8 << (s as usize);
            let per_day = r
                .seen
                .iter()
                .map(|day| day.iter().filter(|x| x.signals & bit != 0).count() as u64)
                .collect();
            let accounts = (0..r.accounts.len())
                .filter(|&i| r.seen.iter().any(|day| day[i].signals & bit != 0))
                .count() as u64;
            TypeWeek {
                signal: s,
                accounts,
                per_day,
            }
        })
        .collect();
    Ok(Some(WeekSignals { days, types }))
}

fn load_without_backtest(
    store: &Store,
    cfg: &Config,
    remote: &Remote<'_>,
    t: i64,
    progress: &dyn Progress,
) -> Figures {
    let mut f = Figures::default();
    progress.stage("health");
    let health = match remote {
        Remote::Posthog(c) => Source::Posthog(c)
            .health(store, cfg, t)
            .map_err(|e| beton::Error::Usage(format!("PostHog: {e}"))),
        Remote::Local => Source::Local.health(store, cfg, t),
        Remote::Unavailable(e) => Err(beton::Error::Usage(format!("PostHog: {e}"))),
    };
    match health {
        Ok(h) => f.health = Some(h),
        Err(e) => f.errors.push(format!("health: {e}")),
    }
    progress.stage("sources");
    match beton::sources::compare(store, cfg, t) {
        Ok(s) => f.sources = Some(s),
        Err(e) => f.errors.push(format!("sources: {e}")),
    }
    match week(store, cfg, remote, t, progress) {
        Ok(w) => f.week = w,
        Err(beton::Error::Cancelled) => {}
        Err(e) => f.errors.push(format!("this week's signals: {e}")),
    }
    match store.held_out() {
        Ok(h) if h.is_empty() => {}
        Ok(_) => match beton::holdout::incrementality(store, cfg, t) {
            Ok(x) => f.incrementality = Some(x),
            Err(e) => f.errors.push(format!("incrementality: {e}")),
        },
        Err(e) => f.errors.push(format!("incrementality: {e}")),
    }
    f
}

/// Runs the backtest at `t` and saves it. Saving is a write: like `beton backtest`, it takes the
/// workspace lock first, waiting at most the usual few seconds for a run or an import, so it
/// never waits on the database file for long (the figures then say it was not saved and why).
fn run_backtest(
    store: &Store,
    data_dir: &Path,
    cfg: &Config,
    remote: &Remote<'_>,
    t: i64,
    progress: &dyn Progress,
    f: &mut Figures,
) {
    let opts = BacktestOptions::from_config(cfg, t);
    let source = match remote {
        Remote::Local => Source::Local,
        Remote::Posthog(c) => Source::Posthog(c),
        Remote::Unavailable(e) => {
            f.errors.push(format!("backtest: PostHog: {e}"));
            return;
        }
    };
    let saved = backtest::run(store, cfg, &opts, progress, source)
        .and_then(|r| {
            let _lock = RunLock::acquire(data_dir, beton::pipeline::LOCK_WAIT)?;
            store.save_backtest(t, &r).map(|_| ())
        })
        .and_then(|()| store.latest_backtests(2));
    match saved {
        Ok(saved) => {
            let mut it = saved.into_iter();
            f.backtest = it.next();
            f.previous = it.next();
        }
        Err(beton::Error::Cancelled) => f.errors.push("backtest: cancelled".into()),
        Err(e) => f.errors.push(format!("backtest: {e}")),
    }
}

impl Figures {
    fn compare(&mut self) {
        self.changes = match (&self.previous, &self.backtest) {
            (Some(p), Some(l)) => backtest::compare(&p.report, &l.report),
            _ => Vec::new(),
        };
    }
}
