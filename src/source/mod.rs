//! The source of the events that detection, health and the backtest's replay read: the local
//! workspace (the embedded store, scanned by the engines) or PostHog (HogQL: the counts are
//! computed at the source, the scoring of its answers stays with the engines).
//!
//! The choice is made once, from `config.source`: a front-end calls [`client`] (a PostHog client
//! when PostHog is the source, `None` for the local workspace), makes a [`Source`] of it with
//! [`Source::of`] and passes that down. The engines (`signals`, `health`, `backtest`, `sources`)
//! see only [`Source`] and [`Remote`] and never name PostHog.
//!
//! - [`local`]: detection and health on the embedded store
//! - [`posthog`]: detection, health and the replay's query plan on PostHog

pub mod local;
pub mod posthog;

use std::collections::BTreeMap;

use crate::config::{Config, Paths, SourceKind};
use crate::error::Result;
use crate::health::HealthReport;
use crate::progress::Progress;
use crate::signals::AccountScore;
use crate::store::Store;

pub use local::NO_DATA;

/// Where detection reads events. Deals are always the workspace's, whatever the source.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// The embedded store: imports, the demo workspace, pulled deals.
    Local,
    /// A PostHog project, queried with HogQL through this client (and its query budget).
    Posthog(&'a crate::posthog::Client),
}

/// What one detection gave.
#[derive(Debug, Clone)]
pub struct Detection {
    /// The T detection ran at (PostHog: truncated to whole seconds, as HogQL compares them).
    pub t: i64,
    /// The scores, or why the source could not answer (the run reports a failed step and goes on).
    pub result: std::result::Result<Scored, String>,
    /// The rollups were rebuilt first, because the event lists or URL patterns changed.
    pub rollups_rebuilt: bool,
}

/// The scored accounts of one detection.
#[derive(Debug, Clone)]
pub struct Scored {
    pub scores: Vec<AccountScore>,
    /// Every account looked at, scored or not.
    pub accounts: usize,
    /// The detect step's detail line.
    pub detail: String,
}

impl<'a> Source<'a> {
    /// The source of a client from [`client`]: PostHog when there is one, else the workspace.
    pub fn of(client: Option<&'a crate::posthog::Client>) -> Self {
        client.map_or(Source::Local, Source::Posthog)
    }

    /// The source `config.source` names, given the PostHog client made for the run (`None`
    /// when PostHog is neither connected nor the source).
    pub fn configured(
        cfg: &Config,
        client: Option<
            &'a std::result::Result<crate::posthog::Client, crate::posthog::PosthogError>,
        >,
    ) -> Result<Self> {
        match cfg.source {
            SourceKind::Local => Ok(Source::Local),
            SourceKind::Posthog => match client {
                Some(Ok(c)) => Ok(Source::Posthog(c)),
                Some(Err(e)) => Err(crate::Error::Usage(e.to_string())),
                None => Err(crate::Error::Usage(
                    "PostHog is not connected: run `beton connect posthog`".into(),
                )),
            },
        }
    }

    /// The name runs record and the report shows.
    pub fn name(&self) -> &'static str {
        match self {
            Source::Local => "local",
            Source::Posthog(_) => "posthog",
        }
    }

    /// Detects and scores every account at `t` (SPEC §2–3). Nothing is recorded.
    pub fn detect(
        &self,
        store: &Store,
        cfg: &Config,
        t: i64,
        progress: &dyn Progress,
    ) -> Result<Detection> {
        match self {
            Source::Local => local::detect(store, cfg, t, progress),
            Source::Posthog(client) => posthog::detect(client, store, cfg, t, progress),
        }
    }

    /// Detects and scores every account at each of `dates` (for `beton diff`); the local
    /// workspace reads each account once for all dates. Nothing is recorded.
    pub fn detect_dates(
        &self,
        store: &Store,
        cfg: &Config,
        dates: &[i64],
        progress: &dyn Progress,
    ) -> Result<Vec<Detection>> {
        match self {
            Source::Local => local::detect_dates(store, cfg, dates, progress),
            Source::Posthog(client) => dates
                .iter()
                .map(|t| posthog::detect(client, store, cfg, *t, progress))
                .collect(),
        }
    }

    /// Account health at `t` (SPEC §4).
    pub fn health(&self, store: &Store, cfg: &Config, t: i64) -> Result<HealthReport> {
        match self {
            Source::Local => crate::health::compute(store, cfg, t),
            Source::Posthog(client) => posthog::health(client, cfg, t),
        }
    }

    /// Detection that runs at the source, for the backtest's replay; `None` for the local
    /// workspace, whose replay the backtest runs on the store itself.
    pub fn remote(self) -> Option<Remote<'a>> {
        match self {
            Source::Local => None,
            Source::Posthog(client) => Some(Remote { client }),
        }
    }
}

/// Detection at the source, as the backtest's replay asks for it: one query set per replay date
/// ([`Remote::metrics_at`]) plus, once per backtest, every account's first event
/// ([`Remote::first_seen`]). The queries are the source's; the scoring is the engines'.
#[derive(Debug, Clone, Copy)]
pub struct Remote<'a> {
    client: &'a crate::posthog::Client,
}

impl Remote<'_> {
    /// The source's name in progress messages.
    pub fn label(&self) -> &'static str {
        "PostHog"
    }

    /// Refuses, before anything is sent, `runs` replays of `dates` dates that do not fit the
    /// source's hourly query limit.
    pub fn plan(&self, cfg: &Config, runs: usize, dates: usize) -> Result<()> {
        posthog::plan(cfg, runs, dates)
    }

    /// The detection metrics of every account at `t`.
    pub fn metrics_at(&self, cfg: &Config, t: i64) -> Result<crate::backtest::AtDate> {
        posthog::metrics_at(self.client, cfg, t)
    }

    /// Every account's first event in the scan range of replay dates `dates` (none for an
    /// account without events there).
    pub fn first_seen(&self, cfg: &Config, dates: &[i64]) -> Result<BTreeMap<String, Option<i64>>> {
        posthog::first_seen(self.client, cfg, dates)
    }
}

/// The query budget a source client is made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// The daily run's (`posthog.query_budget`).
    Run,
    /// Room for `runs` backtests of `dates` replay dates each, plus the first-seen query.
    Backtests { runs: usize, dates: usize },
}

/// The configured source's client: `None` for the local workspace, a PostHog client with
/// `budget` when PostHog is the source (or why it cannot be made).
pub fn client(
    paths: &Paths,
    cfg: &Config,
    budget: Budget,
) -> std::result::Result<Option<crate::posthog::Client>, crate::posthog::PosthogError> {
    if cfg.source != SourceKind::Posthog {
        return Ok(None);
    }
    match budget {
        Budget::Run => crate::posthog::client_for(paths, cfg),
        Budget::Backtests { runs, dates } => {
            crate::posthog::client_for_backtest(paths, cfg, runs, dates)
        }
    }
    .map(Some)
}
