//! The figure engines' reports as the Health, Sources and Backtest panes show them: health and
//! sources computed at the run's T, the latest saved backtest and the one before it.

use beton::backtest::{self, BacktestOptions, Change};
use beton::config::Config;
use beton::health::HealthReport;
use beton::posthog::Client;
use beton::progress::Progress;
use beton::source::Source;
use beton::sources::SourceReport;
use beton::store::{SavedBacktest, Store};

#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub health: Option<HealthReport>,
    pub sources: Option<SourceReport>,
    pub backtest: Option<SavedBacktest>,
    pub previous: Option<SavedBacktest>,
    /// Latest against previous, headline figures and per signal.
    pub changes: Vec<Change>,
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
/// was saved yet (first start), one is run and saved.
pub fn load(
    store: &Store,
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
        Ok(saved) if saved.is_empty() => run_backtest(store, cfg, remote, t, progress, &mut f),
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
    cfg: &Config,
    remote: &Remote<'_>,
    t: Option<i64>,
    progress: &dyn Progress,
) -> Figures {
    let Some(t) = t else {
        return Figures::default();
    };
    let mut f = load_without_backtest(store, cfg, remote, t, progress);
    run_backtest(store, cfg, remote, t, progress, &mut f);
    f.compare();
    f
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
    f
}

fn run_backtest(
    store: &Store,
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
        .and_then(|r| store.save_backtest(t, &r).map(|_| ()))
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
