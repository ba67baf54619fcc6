//! The `alerts` step (SPEC §9, docs/ALERTS.md): the run's alert and digest rows were queued with
//! the run's record; this step sends every open row (this run's and any an earlier run left). A
//! row left open fails the step (exit 2) and is sent by the next run. Also the dry run of
//! `beton alerts --dry-run`, which decides like a run and writes nothing.

use std::collections::{HashMap, HashSet};

use super::{Integration, Run};
use crate::alerts::deliver::{CRASH_HOOK, Sender, deliver_open};
use crate::alerts::{Destinations, Plan};
use crate::config::Config;
use crate::error::Result;
use crate::pipeline::Context;
use crate::pipeline::report::{Step, StepStatus};
use crate::progress::Progress;
use crate::source::Source;
use crate::store::{Emission, Store, cooled_down};

/// Where the run's alerts go, decided before the run is recorded.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// Empty when alerts are off: no address, DEMO data, or the addresses could not be read.
    pub destinations: Destinations,
    /// Why the configured alerts are off for this run, as the step reports it.
    off: Option<(StepStatus, String)>,
}

impl Setup {
    /// The addresses (environment, credentials file); none for a DEMO workspace.
    pub fn load(ctx: &Context, store: &Store, source: Source<'_>) -> Result<Self> {
        let demo = matches!(source, Source::Local) && store.meta("demo")?.is_some();
        Ok(match crate::alerts::destinations(&ctx.paths) {
            Ok(d) if demo && !d.is_empty() => Self {
                destinations: Destinations::default(),
                off: Some((
                    StepStatus::Skipped,
                    "the workspace holds DEMO data: no alerts are sent".into(),
                )),
            },
            Ok(d) => Self {
                destinations: d,
                off: None,
            },
            Err(e) => Self {
                destinations: Destinations::default(),
                off: Some((StepStatus::Failed, e.to_string())),
            },
        })
    }
}

pub struct Alerts;

impl Integration for Alerts {
    fn run(&self, run: &Run<'_>) -> Result<Option<Step>> {
        let setup = run.alerts;
        if let Some((status, why)) = &setup.off {
            return Ok(Some(Step::new("alerts", *status, why)));
        }
        let dest = &setup.destinations;
        if dest.is_empty() {
            return Ok(None);
        }
        run.progress.stage("alerts");
        let sender = match Sender::new(&run.cfg().alerts) {
            Ok(s) => s,
            Err(e) => {
                return Ok(Some(Step::new(
                    "alerts",
                    StepStatus::Failed,
                    &e.to_string(),
                )));
            }
        };
        let outcome = deliver_open(
            run.store,
            &sender,
            dest,
            // The test hook of a kill between send and done (read here: it is for the binary).
            std::env::var(CRASH_HOOK)
                .ok()
                .filter(|v| !v.is_empty())
                .as_deref(),
        );
        Ok(Some(match outcome {
            Ok(r) if r.failed.is_empty() => Step::new(
                "alerts",
                StepStatus::Ok,
                &format!(
                    "{} delivered ({})",
                    r.delivered.len(),
                    dest.channels().join(", ")
                ),
            ),
            Ok(r) => {
                let first: Vec<String> = r
                    .failed
                    .iter()
                    .take(3)
                    .map(|(c, k, why)| format!("{c} {k}: {why}"))
                    .collect();
                Step::new(
                    "alerts",
                    StepStatus::Failed,
                    &format!(
                        "{} delivered, {} left for the next run — {}",
                        r.delivered.len(),
                        r.failed.len(),
                        first.join("; ")
                    ),
                )
            }
            Err(e) => Step::new("alerts", StepStatus::Failed, &e.to_string()),
        }))
    }
}

/// What a run at `t` would send, decided without recording or sending anything (`beton alerts
/// --dry-run`): the source scores at `t`, the cooldown ledger and the holdout are read, not
/// written; accounts routed for the first time are drawn as the run would draw them.
pub fn preview(
    store: &Store,
    cfg: &Config,
    source: Source<'_>,
    t: i64,
    progress: &dyn Progress,
) -> Result<Plan> {
    // Nothing is written: accounts the detection would add get ids below 0.
    let _ids = store.what_if_ids();
    let detection = source.detect(store, cfg, t, progress)?;
    let t = detection.t;
    let mut scores = detection.result.map_err(crate::Error::Usage)?.scores;
    // As the run would: the ARR floor and the reps' dispositions take accounts out of routing.
    crate::signals::routing::apply_floor(store, cfg, t, &mut scores)?;
    let suppressed: HashSet<i64> =
        crate::feedback::apply_stored(store, &cfg.feedback, t, &mut scores)?
            .into_keys()
            .collect();
    let last = store.last_emissions(t)?;
    let emitted: Vec<Emission> = scores
        .iter()
        .flat_map(|s| {
            let last = &last;
            s.fired.iter().filter_map(move |f| {
                let name = f.signal.as_str();
                cooled_down(
                    last.get(&(s.account_id, name.to_string())).copied(),
                    t,
                    cfg.cooldown_days,
                )
                .then(|| Emission {
                    account: s.account.clone(),
                    signal: name.to_string(),
                })
            })
        })
        .collect();
    let assigned: HashMap<i64, bool> = store
        .holdout_rows()?
        .into_iter()
        .map(|r| (r.account_id, r.held_out))
        .collect();
    let held_out: HashSet<i64> = scores
        .iter()
        .filter(|s| match assigned.get(&s.account_id) {
            Some(h) => *h,
            None => s.routed && crate::holdout::draw(&cfg.holdout, &s.account),
        })
        .map(|s| s.account_id)
        .collect();
    let before = crate::alerts::previous_sides(store, None)?;
    let info = crate::alerts::account_info(store, cfg, t, &scores, &Default::default(), &before)?;
    let cands = crate::alerts::candidates(&scores, &emitted, &held_out, &suppressed, &info);
    crate::alerts::decide(store, cfg, t, &cands)
}
