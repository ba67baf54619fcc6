//! The local workspace as the source: the engines scan the embedded store.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::signals::{score_scan, score_scan_dates};
use crate::store::Store;

use super::{Detection, Scored};

/// What `--run-daily` says needs doing on an empty workspace (cron never scores invented data).
pub const NO_DATA: &str = "the workspace has no data yet. Get some with one of:
  beton import events FILE      (PostHog event export, JSONL or CSV; also accounts and deals)
  beton connect posthog         (detect on your PostHog project)
  beton demo                    (a generated demo workspace, to try Beton out)";

/// Detection on the store at `t`, the rollups brought up to date first. An empty workspace is
/// an error: there is nothing to score.
pub fn detect(store: &Store, cfg: &Config, t: i64, progress: &dyn Progress) -> Result<Detection> {
    if store.is_empty()? {
        return Err(Error::NoData(NO_DATA.into()));
    }
    progress.stage("rollups");
    let rollups_rebuilt = store.ensure_rollups(cfg)?;
    progress.stage("detect");
    let (scores, accounts) = score_scan(store, cfg, t)?;
    if progress.is_cancelled() {
        return Err(Error::Cancelled);
    }
    Ok(Detection {
        t,
        result: Ok(Scored {
            scores,
            accounts,
            detail: format!("{accounts} accounts scored"),
        }),
        rollups_rebuilt,
    })
}

/// Detection on the store at each of `dates` in one pass (for `beton diff`): the rollups
/// brought up to date once, each account's facts read once.
pub fn detect_dates(
    store: &Store,
    cfg: &Config,
    dates: &[i64],
    progress: &dyn Progress,
) -> Result<Vec<Detection>> {
    if store.is_empty()? {
        return Err(Error::NoData(NO_DATA.into()));
    }
    progress.stage("rollups");
    let rollups_rebuilt = store.ensure_rollups(cfg)?;
    progress.stage("detect");
    let (per_date, accounts) = score_scan_dates(store, cfg, dates)?;
    if progress.is_cancelled() {
        return Err(Error::Cancelled);
    }
    Ok(dates
        .iter()
        .zip(per_date)
        .map(|(t, scores)| Detection {
            t: *t,
            result: Ok(Scored {
                scores,
                accounts,
                detail: format!("{accounts} accounts scored"),
            }),
            rollups_rebuilt,
        })
        .collect())
}
