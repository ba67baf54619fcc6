//! PostHog as the source: the HogQL detection queries (`crate::posthog::hogql`) answer with
//! counts per account, scored here with the same rules as the local workspace.

use std::collections::BTreeMap;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::health::HealthReport;
use crate::posthog::{Client, PosthogError, hogql};
use crate::progress::Progress;
use crate::signals::score_metrics;
use crate::store::Store;

use super::{Detection, Scored};

/// HogQL compares whole seconds; the rules use the same T.
fn whole_seconds(t: i64) -> i64 {
    t - t.rem_euclid(crate::time::SECOND)
}

/// Detection at `t`: one set of HogQL queries, its accounts added to the workspace (runs and
/// the ledger name them; under [`Store::what_if_ids`] they get ids below 0 instead), their
/// metrics scored. A failed query is a failed step, not an error.
pub fn detect(
    client: &Client,
    store: &Store,
    cfg: &Config,
    t: i64,
    progress: &dyn Progress,
) -> Result<Detection> {
    let t = whole_seconds(t);
    progress.stage("detect (PostHog)");
    let result = match hogql::detect(client, cfg, t) {
        Ok(d) => {
            let ids = store.ensure_accounts(d.metrics.iter().map(|(k, _)| k.as_str()))?;
            let items: Vec<_> = d
                .metrics
                .into_iter()
                .filter_map(|(k, m)| Some((*ids.get(&k)?, k, m)))
                .collect();
            let scores = score_metrics(&items, cfg, t);
            let pages: Vec<String> = d.pages.iter().map(|(q, n)| format!("{q} {n}")).collect();
            Ok(Scored {
                scores,
                accounts: items.len(),
                detail: format!(
                    "{} accounts scored with HogQL (pages: {})",
                    items.len(),
                    pages.join(", ")
                ),
            })
        }
        Err(e) => Err(e.to_string()),
    };
    Ok(Detection {
        t,
        result,
        rollups_rebuilt: false,
    })
}

/// Account health from the same HogQL counts query detection runs.
pub fn health(client: &Client, cfg: &Config, t: i64) -> Result<HealthReport> {
    crate::posthog::health(client, cfg, t).map_err(|e| Error::Usage(e.to_string()))
}

fn remote(e: PosthogError) -> Error {
    Error::Usage(format!("PostHog: {e}"))
}

/// The replay's query set at one date: the detection queries at `t` in whole seconds; with
/// parent accounts, each workspace's parent then too.
pub fn metrics_at(client: &Client, cfg: &Config, t: i64) -> Result<crate::backtest::AtDate> {
    let d = hogql::detect(client, cfg, whole_seconds(t)).map_err(remote)?;
    Ok((d.metrics, d.parents))
}

/// Refuses up front `runs` replays of `dates` replay dates that do not fit PostHog's hourly
/// query limit within `posthog.max_wait_seconds`.
pub fn plan(cfg: &Config, runs: usize, dates: usize) -> Result<()> {
    crate::posthog::plan_backtests(cfg, runs, dates).map_err(remote)
}

/// The replay's one first-seen query, bounded in time around the replay dates `dates`.
pub fn first_seen(
    client: &Client,
    cfg: &Config,
    dates: &[i64],
) -> Result<BTreeMap<String, Option<i64>>> {
    let whole: Vec<i64> = dates.iter().map(|d| whole_seconds(*d)).collect();
    hogql::first_seen(client, cfg, &whole).map_err(remote)
}
