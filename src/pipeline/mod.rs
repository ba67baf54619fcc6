//! `run_daily`: the one pipeline both front-ends call. Detect, score, record the run and the
//! cooldown ledger, then the PostHog and Attio steps when they are configured.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::{Config, Paths, SourceKind};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::signals::facts::Facts;
use crate::signals::{AccountScore, Tier, score_metrics, score_scan};
use crate::store::{Emission, RunLock, Store};
use crate::time::{fmt_ts, now};

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

/// What `--run-daily` says needs doing on an empty workspace (cron never scores invented data).
pub const NO_DATA: &str = "the workspace has no data yet. Get some with one of:
  beton import events FILE      (PostHog event export, JSONL or CSV; also accounts and deals)
  beton connect posthog         (detect on your PostHog project)
  beton demo                    (a generated demo workspace, to try Beton out)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    Ok,
    Failed,
    Skipped,
}

/// One step of the pipeline and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub name: String,
    pub status: StepStatus,
    pub detail: String,
}

/// One account in the report (SPEC §7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportAccount {
    pub account: String,
    pub score: u32,
    pub tier: Tier,
    pub signals: Vec<String>,
    pub routed: bool,
}

/// The JSON report of `--run-daily --json` (SPEC §7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub run_id: i64,
    pub as_of: String,
    pub source: String,
    pub demo: bool,
    pub accounts_scored: usize,
    pub hot: usize,
    pub warm: usize,
    pub cool: usize,
    pub routed: usize,
    pub emitted: usize,
    pub accounts: Vec<ReportAccount>,
    pub steps: Vec<Step>,
    /// PostHog query endpoint calls against the run's budget (when PostHog is connected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queries: Option<crate::posthog::Usage>,
    pub seconds: f64,
}

impl Report {
    /// 0 when every step ran, 2 when some failed but others ran.
    pub fn exit_code(&self) -> i32 {
        if self.steps.iter().any(|s| s.status == StepStatus::Failed) {
            2
        } else {
            0
        }
    }
}

/// Everything a run produced, for front-ends that show more than the report.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub report: Report,
    pub scores: Vec<AccountScore>,
    pub emitted: Vec<Emission>,
}

/// How long a second run waits for the first before giving up.
pub const LOCK_WAIT: Duration = Duration::from_secs(3);

/// Runs the pipeline once at `opts.as_of`: detection (embedded store or PostHog HogQL), the
/// record and cooldown ledger, then, when PostHog is connected, capture of the emitted signals
/// and dashboard provisioning. A failed step is reported and the others still run.
pub fn run_daily(ctx: &Context, opts: &RunOptions, progress: &dyn Progress) -> Result<RunResult> {
    let started = Instant::now();
    let cfg = &ctx.config;
    let _lock = RunLock::acquire(&ctx.paths.data_dir, LOCK_WAIT)?;
    let store = ctx.open_store()?;
    let connected = cfg.posthog.as_ref().is_some_and(|p| p.project_id != 0);
    let client = if connected || cfg.source == SourceKind::Posthog {
        Some(crate::posthog::client_for(&ctx.paths, cfg))
    } else {
        None
    };
    let mut t = opts.as_of.unwrap_or_else(now);
    let mut steps = Vec::new();
    let source = match cfg.source {
        SourceKind::Local => "local",
        SourceKind::Posthog => "posthog",
    };

    let detected: Option<(Vec<AccountScore>, usize)> = match cfg.source {
        SourceKind::Local => {
            if store.is_empty()? {
                return Err(Error::NoData(NO_DATA.into()));
            }
            progress.stage("rollups");
            if store.ensure_rollups(cfg)? {
                steps.push(step(
                    "rollups",
                    StepStatus::Ok,
                    "rebuilt: the event lists or URL patterns changed",
                ));
            }
            progress.stage("detect");
            let (scores, accounts_scored) = score_scan(&store, cfg, t)?;
            if progress.is_cancelled() {
                return Err(Error::Cancelled);
            }
            steps.insert(
                0,
                step(
                    "detect",
                    StepStatus::Ok,
                    &format!("{accounts_scored} accounts scored"),
                ),
            );
            Some((scores, accounts_scored))
        }
        SourceKind::Posthog => {
            // HogQL compares whole seconds; the rules use the same T.
            t -= t.rem_euclid(crate::time::SECOND);
            progress.stage("detect (PostHog)");
            let client = match &client {
                Some(Ok(c)) => c,
                Some(Err(e)) => return Err(Error::Usage(e.to_string())),
                None => {
                    return Err(Error::Usage(
                        "PostHog is not connected: run `beton connect posthog`".into(),
                    ));
                }
            };
            match crate::posthog::hogql::detect(client, cfg, t) {
                Ok(d) => {
                    let ids = store.ensure_accounts(d.metrics.iter().map(|(k, _)| k.as_str()))?;
                    let items: Vec<_> = d
                        .metrics
                        .into_iter()
                        .filter_map(|(k, m)| Some((*ids.get(&k)?, k, m)))
                        .collect();
                    let scores = score_metrics(&items, cfg, t);
                    let pages: Vec<String> =
                        d.pages.iter().map(|(q, n)| format!("{q} {n}")).collect();
                    steps.push(step(
                        "detect",
                        StepStatus::Ok,
                        &format!(
                            "{} accounts scored with HogQL (pages: {})",
                            items.len(),
                            pages.join(", ")
                        ),
                    ));
                    Some((scores, items.len()))
                }
                Err(e) => {
                    steps.push(step("detect", StepStatus::Failed, &e.to_string()));
                    None
                }
            }
        }
    };
    if progress.is_cancelled() {
        return Err(Error::Cancelled);
    }

    progress.stage("record");
    let (run_id, scores, emitted, accounts_scored) = match detected {
        Some((scores, n)) => {
            let (run_id, emitted) =
                store.record_detection("daily", source, t, &scores, cfg.cooldown_days)?;
            (run_id, scores, emitted, n)
        }
        None => (0, Vec::new(), Vec::new(), 0),
    };

    let mut queries = None;
    if let (Some(Ok(client)), Some(p)) = (&client, cfg.posthog.as_ref().filter(|_| connected)) {
        let demo = source == "local" && store.meta("demo")?.is_some();
        if run_id != 0 && demo {
            // Invented accounts never reach a real PostHog project.
            steps.push(step(
                "capture",
                StepStatus::Skipped,
                "the local workspace holds DEMO data: signals are not sent to PostHog",
            ));
        } else if run_id != 0 {
            progress.stage("capture");
            let events = crate::posthog::capture::events(
                p.project_id,
                &cfg.group_type,
                t,
                &scores,
                &emitted,
            );
            // Queued first, so a failed send is retried by the next run.
            store.queue_captures(&events)?;
            let unsent = store.unsent_captures()?;
            let earlier = unsent.len().saturating_sub(events.len());
            match crate::posthog::capture::send(
                &p.capture_host,
                &p.project_api_key,
                &unsent,
                Duration::from_secs(1),
            ) {
                Ok(n) => {
                    store.mark_captured(&unsent)?;
                    let detail = match earlier {
                        0 => format!("{n} beton_signal_fired events sent"),
                        k => format!(
                            "{n} beton_signal_fired events sent ({k} left over from earlier runs)"
                        ),
                    };
                    steps.push(step("capture", StepStatus::Ok, &detail));
                }
                Err(e) => steps.push(step(
                    "capture",
                    StepStatus::Failed,
                    &format!("{e}; {} events stay queued for the next run", unsent.len()),
                )),
            }
        }
        if p.provision_on_run {
            progress.stage("provision");
            let outcome = crate::posthog::dashboards::Definitions::builtin().and_then(|defs| {
                let sources = crate::posthog::doctor::check(client, cfg, t)?;
                crate::posthog::dashboards::provision(
                    client,
                    &store,
                    p,
                    &defs,
                    Some(&sources),
                    false,
                )
            });
            match outcome {
                Ok(o) => steps.push(step("provision", StepStatus::Ok, &o.summary())),
                Err(e) => steps.push(step("provision", StepStatus::Failed, &e.to_string())),
            }
        }
        queries = Some(client.usage());
    } else if let Some(Err(e)) = &client {
        steps.push(step("posthog", StepStatus::Failed, &e.to_string()));
    }
    if run_id != 0 && cfg.attio.is_some() {
        progress.stage("attio");
        steps.extend(crate::attio::daily_step(&store, &ctx.paths, cfg, run_id));
    }

    let count = |tier: Tier| scores.iter().filter(|s| s.tier == tier).count();
    let report = Report {
        run_id,
        as_of: fmt_ts(t),
        source: source.into(),
        demo: store.meta("demo")?.is_some(),
        accounts_scored,
        hot: count(Tier::Hot),
        warm: count(Tier::Warm),
        cool: count(Tier::Cool),
        routed: scores.iter().filter(|s| s.routed).count(),
        emitted: emitted.len(),
        accounts: scores
            .iter()
            .map(|s| ReportAccount {
                account: s.account.clone(),
                score: s.score,
                tier: s.tier,
                signals: s
                    .fired
                    .iter()
                    .map(|f| f.signal.as_str().to_string())
                    .collect(),
                routed: s.routed,
            })
            .collect(),
        steps,
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

fn step(name: &str, status: StepStatus, detail: &str) -> Step {
    Step {
        name: name.into(),
        status,
        detail: detail.into(),
    }
}

/// Scores one account at `t` without recording anything (for `beton explain`).
pub fn explain_account(ctx: &Context, key: &str, t: i64) -> Result<AccountScore> {
    let store = ctx.open_store()?;
    store.ensure_rollups(&ctx.config)?;
    let id = store
        .account_id(key)?
        .ok_or_else(|| Error::Usage(format!("no account `{key}` in this workspace")))?;
    let facts = Facts::load(&store, &ctx.config, &[t], Some(id))?;
    let a = facts
        .accounts
        .first()
        .ok_or_else(|| Error::Usage(format!("no account `{key}`")))?;
    let fired = crate::signals::detect(a, &ctx.config, t, &facts.features);
    Ok(crate::signals::score(a, fired, &ctx.config))
}
