//! `run_daily`: the one pipeline both front-ends call. Detect (through the configured source),
//! score, record the run and the cooldown ledger, then each integration step of [`steps::STEPS`]
//! (PostHog capture and dashboards, Attio) in turn.
//!
//! - [`report`]: the step and report types (below every step and integration)
//! - [`steps`]: the integration steps behind one small interface, [`steps::Integration`]
//! - [`sandbox`]: what-ifs: detection under candidate settings with nothing recorded, and what
//!   applying them would change in the next run

pub mod diff;
pub mod report;
pub mod sandbox;
pub mod steps;

use std::time::{Duration, Instant};

use crate::config::{Config, Paths, SourceKind};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::signals::facts::Facts;
use crate::signals::{AccountScore, Tier};
use crate::source::{Detection, Source};
use crate::store::{RunLock, Store};
use crate::time::{fmt_ts, now};

pub use crate::source::NO_DATA;
pub use report::{FailedRun, Report, ReportAccount, RunResult, Step, StepStatus};

/// What a run needs: where things are and the settings in force.
#[derive(Debug, Clone)]
pub struct Context {
    pub paths: Paths,
    pub config: Config,
}

impl Context {
    pub fn open_store(&self) -> Result<Store> {
        Store::open(&self.paths.database())
    }
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The time T to detect at; now when absent.
    pub as_of: Option<i64>,
}

/// Test hook: the process stops right after the run and its emissions are recorded, as a kill
/// there would.
pub const CRASH_AFTER_RECORD: &str = "BETON_TEST_CRASH_AFTER_RECORD";

/// How long a second run waits for the first before giving up.
pub const LOCK_WAIT: Duration = Duration::from_secs(3);

/// Runs the pipeline once at `opts.as_of`: detection through the source `config.source` names,
/// the record and cooldown ledger, then every step of [`steps::STEPS`]. A failed step is
/// reported and the others still run.
pub fn run_daily(ctx: &Context, opts: &RunOptions, progress: &dyn Progress) -> Result<RunResult> {
    let started = Instant::now();
    let cfg = &ctx.config;
    let _lock = RunLock::acquire(&ctx.paths.data_dir, LOCK_WAIT)?;
    let store = ctx.open_store()?;
    // One PostHog client for the run, shared by detection and the PostHog steps (one budget).
    let connected = cfg.posthog.as_ref().is_some_and(|p| p.project_id != 0);
    let posthog = (connected || cfg.source == SourceKind::Posthog)
        .then(|| crate::posthog::client_for(&ctx.paths, cfg));
    let source = Source::configured(cfg, posthog.as_ref())?;

    let Detection {
        t,
        result,
        rollups_rebuilt,
    } = source.detect(&store, cfg, opts.as_of.unwrap_or_else(now), progress)?;
    let mut steps = vec![match &result {
        Ok(s) => Step::new("detect", StepStatus::Ok, &s.detail),
        Err(e) => Step::new("detect", StepStatus::Failed, e),
    }];
    if rollups_rebuilt {
        steps.push(Step::new(
            "rollups",
            StepStatus::Ok,
            "rebuilt: the event lists or URL patterns changed",
        ));
    }
    if progress.is_cancelled() {
        return Err(Error::Cancelled);
    }

    progress.stage("record");
    let alerts = steps::alerts::Setup::load(ctx, &store, source)?;
    let newest = match (&alerts.destinations, source) {
        (d, Source::Local) if !d.is_empty() => {
            store.last_seen(t, &store.activity_name_ids(cfg)?)?
        }
        _ => Default::default(),
    };
    let mut suppressed = std::collections::HashMap::new();
    let (recorded, scores, accounts_scored) = match result {
        Ok(mut s) => {
            // SPEC §8: accounts under the ARR floor are scored and shown, not routed.
            crate::signals::routing::apply_floor(&store, cfg, t, &mut s.scores)?;
            // SPEC §10: so are accounts a rep's disposition suppresses at T (no deal, no alert).
            suppressed = crate::feedback::apply_stored(&store, &cfg.feedback, t, &mut s.scores)?;
            let suppressed_ids: std::collections::HashSet<i64> =
                suppressed.keys().copied().collect();
            let scores = s.scores;
            // Every channel that cannot plan inside the record's transaction queues first, or
            // owes the emission until it does (the Attio sync, docs/ATTIO.md).
            let early = steps::Run {
                ctx,
                store: &store,
                source,
                t,
                run_id: 0,
                scores: &scores,
                emitted: &[],
                held_out: &Default::default(),
                posthog: posthog.as_ref(),
                progress,
                alerts: &alerts,
            };
            steps::capture::queue_before_record(&early)?;
            // The alert rows and the holdout assignments are written in the transaction that
            // records the emissions (SPEC §3, §9, §12).
            let mut plan = |st: &Store, r: &crate::store::Recorded| {
                crate::alerts::plan_rows(
                    st,
                    cfg,
                    &alerts.destinations,
                    t,
                    &scores,
                    r,
                    crate::alerts::Known {
                        newest: &newest,
                        suppressed: &suppressed_ids,
                    },
                )
            };
            let recorded = store.record_detection_with(
                "daily",
                source.name(),
                t,
                &scores,
                cfg.cooldown_days,
                Some(crate::store::RecordExtras {
                    holdout_percent: cfg.holdout.percent,
                    draw: &|key| crate::holdout::draw(&cfg.holdout, key),
                    alerts: &mut plan,
                }),
            )?;
            if std::env::var_os(CRASH_AFTER_RECORD).is_some() {
                // Test hook: a kill right after the ledger's commit, before any step.
                std::process::exit(137);
            }
            let settings = crate::signals::diff::scoring_settings(cfg);
            store.record_run_settings(recorded.run_id, &settings.to_string())?;
            (recorded, scores, s.accounts)
        }
        Err(_) => (Default::default(), Vec::new(), 0),
    };
    let run_id = recorded.run_id;
    let emitted = recorded.emitted;
    // What the CRM step does for each account, decided before it runs (SPEC §8).
    let mut routes = crate::signals::routing::routes(&store, cfg, t, &scores)?;
    for (id, sup) in &suppressed {
        if let Some(r) = routes.get_mut(id) {
            suppress_route(r, sup);
        }
    }

    let run = steps::Run {
        ctx,
        store: &store,
        source,
        t,
        run_id,
        scores: &scores,
        emitted: &emitted,
        held_out: &recorded.held_out,
        posthog: posthog.as_ref(),
        progress,
        alerts: &alerts,
    };
    for step in steps::STEPS {
        steps.extend(step.run(&run)?);
    }
    let queries = run.posthog().map(|(client, _)| client.usage());
    let sent = if run_id != 0 {
        crate::alerts::report(&store, run_id)?
    } else {
        Vec::new()
    };

    let count = |tier: Tier| scores.iter().filter(|s| s.tier == tier).count();
    let family = crate::signals::parents::Family::at(&store, cfg, t)?;
    let accounts: Vec<ReportAccount> = scores
        .iter()
        .map(|s| {
            ReportAccount::of(
                s,
                routes.get(&s.account_id),
                recorded.held_out.contains(&s.account_id),
                suppressed.get(&s.account_id),
            )
            .with_family(family.as_ref())
        })
        .collect();
    let report = Report {
        run_id,
        as_of: fmt_ts(t),
        source: source.name().into(),
        demo: store.meta("demo")?.is_some(),
        accounts_scored,
        hot: count(Tier::Hot),
        warm: count(Tier::Warm),
        cool: count(Tier::Cool),
        routed: scores.iter().filter(|s| s.routed).count(),
        emitted: emitted.len(),
        signals_by_type: report::signals_by_type(&accounts, cfg),
        accounts,
        steps,
        alerts: sent,
        queries,
        seconds: started.elapsed().as_secs_f64(),
    };
    if run_id != 0 {
        let status = if report.exit_code() == 0 {
            "ok"
        } else {
            "partial"
        };
        store.finish_run(
            run_id,
            status,
            &serde_json::to_string(&report).unwrap_or_default(),
        )?;
    }
    Ok(RunResult {
        report,
        scores,
        emitted,
    })
}
/// A suppressed account's route says why it is not routed (unless a reason that comes first,
/// the ARR floor, is there already).
fn suppress_route(r: &mut crate::signals::routing::Route, sup: &crate::feedback::Suppression) {
    if r.crm_action == crate::signals::routing::CrmAction::None && r.why.is_none() {
        r.why = Some(format!(
            "suppressed by a rep's {} answer of {} until {}",
            sup.kind,
            crate::time::fmt_date(sup.at),
            sup.until_ts()
        ));
    }
}

/// The account's suppression by a rep's disposition at `t` (SPEC §10), for `beton explain`.
pub fn explain_suppression(
    ctx: &Context,
    key: &str,
    t: i64,
) -> Result<Option<crate::feedback::Suppression>> {
    let store = ctx.open_store()?;
    let book = crate::feedback::Book::of(store.account_dispositions(key)?)?;
    Ok(book.suppression(&ctx.config.feedback, key, t))
}

/// Scores one account at `t` without recording anything (for `beton explain`). With parent
/// accounts (SPEC §14) it is the parent's score, with each workspace's part; a workspace is
/// explained through its parent.
pub fn explain_account(
    ctx: &Context,
    key: &str,
    t: i64,
) -> Result<(AccountScore, Option<crate::signals::parents::Explained>)> {
    let store = ctx.open_store()?;
    store.ensure_rollups(&ctx.config)?;
    if let Some(property) = ctx.config.accounts.parent() {
        let mut e = crate::signals::parents::explain(&store, &ctx.config, property, key, t)?
            .ok_or_else(|| Error::Usage(format!("no account `{key}` in this workspace")))?;
        crate::signals::routing::apply_floor(
            &store,
            &ctx.config,
            t,
            std::slice::from_mut(&mut e.score),
        )?;
        crate::feedback::apply_stored(
            &store,
            &ctx.config.feedback,
            t,
            std::slice::from_mut(&mut e.score),
        )?;
        return Ok((e.score.clone(), Some(e)));
    }
    let id = store
        .account_id(key)?
        .ok_or_else(|| Error::Usage(format!("no account `{key}` in this workspace")))?;
    let facts = Facts::load(&store, &ctx.config, &[t], Some(id))?;
    let a = facts
        .accounts
        .first()
        .ok_or_else(|| Error::Usage(format!("no account `{key}`")))?;
    let fired = crate::signals::detect(a, &ctx.config, t, &facts.features);
    let mut scores = [crate::signals::score(a, fired, &ctx.config)];
    crate::signals::routing::apply_floor(&store, &ctx.config, t, &mut scores)?;
    crate::feedback::apply_stored(&store, &ctx.config.feedback, t, &mut scores)?;
    let [s] = scores;
    Ok((s, None))
}

/// How routing treats an account explained by [`explain_account`] at `t` (SPEC §8).
pub fn explain_route(
    ctx: &Context,
    s: &AccountScore,
    t: i64,
) -> Result<crate::signals::routing::Route> {
    let store = ctx.open_store()?;
    let book = crate::signals::routing::DealBook::load_at(&store, &ctx.config, t)?;
    let mut r = crate::signals::routing::route(&store, &ctx.config, &book, s, t)?;
    if let Some(sup) = explain_suppression(ctx, &s.account, t)? {
        suppress_route(&mut r, &sup);
    }
    Ok(r)
}
