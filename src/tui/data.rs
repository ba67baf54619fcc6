//! What the panes show, loaded from the core on a worker thread (never in render, never on the
//! UI thread): the latest run's queue with account context, and one account's detail.

use std::collections::HashMap;

use serde_json::{Map, Value};

use beton::config::{Config, SourceKind};
use beton::deals::Outcome;
use beton::pipeline::{Context, RunOptions, run_daily};
use beton::progress::Progress;
use beton::signals::facts::Facts;
use beton::signals::{AccountScore, Fired, ScoreParts, SignalType, Tier};
use beton::store::{DealRow, Store};
use beton::time::DAY;
use beton::{Error, Result};

/// One account of the hot queue with what an analyst wants beside the score.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueEntry {
    pub score: AccountScore,
    pub last_seen: Option<i64>,
    pub arr: Option<f64>,
    pub owner: Option<String>,
    /// The CRM record's address once the account is synced.
    pub crm: Option<String>,
    /// How routing treats it beyond routed/synced (SPEC §8): "in pipeline (inbound)", "below ARR
    /// floor", "suppressed until 2026-06-01" (a rep's disposition, SPEC §10), or "expansion" for
    /// a customer.
    pub route: Option<String>,
    /// With `accounts.parent_property` set: the parent's workspaces as of the run (SPEC §14),
    /// folded under it in the hot queue; empty for an account that stands alone.
    pub workspaces: Vec<Workspace>,
}

/// One workspace of a parent account, with its own part of the parent's activity at T.
#[derive(Debug, Clone, PartialEq)]
pub struct Workspace {
    pub key: String,
    pub id: i64,
    /// The workspace's own counts at T, in each signal's window.
    pub metrics: beton::signals::Metrics,
    pub last_seen: Option<i64>,
    pub arr: Option<f64>,
    pub owner: Option<String>,
    /// The parent's fired types its own events or properties count towards.
    pub contributes: Vec<SignalType>,
}

/// With `accounts.parent_property` set, each queue parent's workspaces at `t`: the grouping of
/// `signals::parents` (the parent read as of T) over every account's facts, loaded once.
fn fill_workspaces(store: &Store, cfg: &Config, t: i64, queue: &mut [QueueEntry]) -> Result<()> {
    let Some(property) = cfg.accounts.parent() else {
        return Ok(());
    };
    let facts = Facts::load(store, cfg, &[t], None)?;
    let groups = beton::signals::parents::groups(&facts, property, t);
    for e in queue {
        let Some(members) = groups.get(&e.score.account) else {
            continue;
        };
        if let [only] = members.as_slice()
            && facts.accounts[*only].key == e.score.account
        {
            continue; // it stands alone
        }
        // The parent's own account is a workspace when it has events of its own (the run adds
        // it to the workspace, without events, when it is not an account yet).
        // Which fired types each workspace fed: the engine's rule, as `beton explain` shows it.
        let all: Vec<&beton::signals::facts::AccountFacts> =
            members.iter().map(|&i| &facts.accounts[i]).collect();
        let fed: std::collections::HashMap<String, Vec<SignalType>> =
            beton::signals::parents::parts_at(&facts, &all, &e.score, cfg, t)
                .into_iter()
                .map(|p| (p.account, p.signals))
                .collect();
        e.workspaces = members
            .iter()
            .filter(|&&i| {
                let a = &facts.accounts[i];
                a.key != e.score.account || !a.units.is_empty()
            })
            .map(|&i| {
                let a = &facts.accounts[i];
                let metrics = beton::signals::metrics(a, cfg, t, &facts.features);
                let p = a.props_subset_at(t, &["arr", "owner_email"]);
                Workspace {
                    key: a.key.clone(),
                    id: a.id,
                    last_seen: a.slice(i64::MIN, t).last().map(|u| u.last),
                    arr: beton::signals::numeric(p.get("arr")),
                    owner: p
                        .get("owner_email")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    contributes: fed.get(&a.key).cloned().unwrap_or_default(),
                    metrics,
                }
            })
            .collect();
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunInfo {
    pub id: i64,
    pub as_of: i64,
    pub started_at: i64,
}

/// Everything the panes show, swapped in whole when a load or a re-run finishes.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub run: Option<RunInfo>,
    pub demo: bool,
    /// Where the data comes from, as the status bar says it.
    pub source: String,
    pub queue: Vec<QueueEntry>,
    /// Accounts per score decile: [0,10), [10,20), …, [90,100].
    pub histogram: [u64; 10],
    pub figures: super::figures::Figures,
    /// Things to tell the user once (a demo workspace was created, a step failed).
    pub notes: Vec<String>,
    /// Set when this is a what-if (`r`): the queue and figures of draft settings at the latest
    /// run's T, nothing recorded. `run` is then the latest run, the "before" side.
    pub sandbox: Option<Sandbox>,
    /// Queue accounts new or moved tier since the run before this one.
    pub moves: HashMap<String, super::since::Move>,
}

/// What a what-if tried and what applying it would change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sandbox {
    pub t: i64,
    /// The settings of the draft that differ from the file's.
    pub settings: Vec<beton::pipeline::sandbox::SettingChange>,
    /// The draft's detection against the file's at the same T.
    pub diff: beton::pipeline::sandbox::RunDiff,
    /// Routed accounts become CRM deals (Attio is configured).
    pub crm: bool,
}

impl Snapshot {
    /// Last seen per queue account, from the health figures.
    pub fn fill_last_seen(&mut self) {
        let Some(h) = &self.figures.health else {
            return;
        };
        let seen: HashMap<&str, i64> = h
            .accounts
            .iter()
            .filter_map(|a| {
                Some((
                    a.account.as_str(),
                    beton::time::parse_ts(a.last_seen.as_deref()?)?,
                ))
            })
            .collect();
        for e in &mut self.queue {
            e.last_seen = seen.get(e.score.account.as_str()).copied();
        }
    }
}

/// One account in full, for the detail view.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    pub entry: QueueEntry,
    pub as_of: i64,
    /// Activity events per day over the 30 days before the run, oldest first.
    pub daily: Vec<u32>,
    pub props: Vec<(String, String)>,
    pub deals: Vec<(DealRow, Outcome)>,
    /// What was sent for the account and what waits (alerts, digests, CRM writes), newest first.
    pub outbox: Vec<beton::store::OutboxEntry>,
    /// Held out of the CRM and the alerts (SPEC §12).
    pub held_out: bool,
    /// A rep's disposition that suppresses routing and alerts at T (SPEC §10).
    pub suppressed: Option<beton::feedback::Suppression>,
    /// The account's recorded dispositions, newest first.
    pub dispositions: Vec<beton::feedback::Disposition>,
    /// After `beton learn --apply`: the model's win probability and each type's log-odds.
    pub learned: Option<beton::learn::Chance>,
    /// The account against each earlier run, newest first ("why now").
    pub since: Vec<super::since::Against>,
}

/// Startup: creates the demo workspace on an empty local workspace (and says so), runs detection
/// when there is no run yet, then loads the latest run.
pub fn startup(ctx: &Context, as_of: Option<i64>, progress: &dyn Progress) -> Result<Snapshot> {
    let mut notes = Vec::new();
    progress.stage("opening the workspace");
    if ctx.config.source == SourceKind::Local && ctx.open_store()?.is_empty()? {
        progress.stage("creating the DEMO workspace");
    }
    if let Some(s) = beton::demo::ensure(ctx, progress)? {
        notes.push(format!(
            "No data yet: created a DEMO workspace ({} accounts, {} events, {} deals). \
             `beton import` brings your own.",
            s.accounts, s.events, s.deals
        ));
    }
    let store = ctx.open_store()?;
    tracing::debug!(target: "beton::tui::timing", "workspace open");
    let mut fresh = None;
    if store.latest_run("daily")?.is_none() {
        drop(store);
        fresh = Some(run_daily(ctx, &RunOptions { as_of }, progress)?);
    }
    let store = ctx.open_store()?;
    let mut snap = match fresh {
        Some(r) => from_scores(&store, &ctx.config, r.report.run_id, r.scores)?,
        None => from_store(&store, &ctx.config)?,
    };
    snap.notes.splice(0..0, notes);
    Ok(snap)
}

/// The figures at the latest run's T (a first backtest is run and saved when there is none).
pub fn figures(
    ctx: &Context,
    t: Option<i64>,
    progress: &dyn Progress,
) -> Result<super::figures::Figures> {
    let store = ctx.open_store()?;
    let client = posthog_client(ctx);
    Ok(super::figures::load(
        &store,
        &ctx.paths.data_dir,
        &ctx.config,
        &remote(&client),
        t,
        progress,
    ))
}

/// PostHog's client when it is the source (with room for one backtest at the configured range),
/// or why it cannot be made.
fn posthog_client(ctx: &Context) -> std::result::Result<Option<beton::posthog::Client>, String> {
    posthog_client_for(ctx, 1)
}

/// As [`posthog_client`], with room for `backtests` backtests (a sweep replays several).
fn posthog_client_for(
    ctx: &Context,
    backtests: usize,
) -> std::result::Result<Option<beton::posthog::Client>, String> {
    let dates = beton::backtest::BacktestOptions::from_config(&ctx.config, 0)
        .dates()
        .len();
    beton::source::client(
        &ctx.paths,
        &ctx.config,
        beton::source::Budget::Backtests {
            runs: backtests,
            dates,
        },
    )
    .map_err(|e| e.to_string())
}

fn remote(
    client: &std::result::Result<Option<beton::posthog::Client>, String>,
) -> super::figures::Remote<'_> {
    match client {
        Ok(None) => super::figures::Remote::Local,
        Ok(Some(c)) => super::figures::Remote::Posthog(c),
        Err(e) => super::figures::Remote::Unavailable(e.clone()),
    }
}

/// `r`: a what-if. Detection and the backtest of `draft` at `t` (the latest run's T) beside the
/// settings in force (`ctx.config`), with nothing recorded, captured, synced or saved.
pub fn whatif(ctx: &Context, draft: &Config, t: i64, progress: &dyn Progress) -> Result<Snapshot> {
    let cmp = beton::pipeline::sandbox::compare(ctx, draft, t, progress)?;
    if progress.is_cancelled() {
        return Err(Error::Cancelled);
    }
    let store = ctx.open_store()?;
    let t = cmp.after.t;
    let mut snap = from_scores(&store, draft, 0, cmp.after.scores)?;
    snap.run = latest_info(&store)?;
    snap.sandbox = Some(Sandbox {
        t,
        settings: cmp.settings,
        diff: cmp.diff,
        crm: draft.attio.is_some(),
    });
    // Two backtests: the file's settings and the draft's.
    let client = posthog_client_for(ctx, 2);
    snap.figures =
        super::figures::whatif(&store, &ctx.config, draft, &remote(&client), t, progress);
    snap.fill_last_seen();
    if progress.is_cancelled() {
        return Err(Error::Cancelled);
    }
    Ok(snap)
}

/// `w`: what applying `draft` would change in the next daily run, as lines for a person
/// (detection only, at `t`; nothing recorded).
pub fn apply_preview(
    ctx: &Context,
    draft: &Config,
    t: i64,
    progress: &dyn Progress,
) -> Result<Sandbox> {
    let cmp = beton::pipeline::sandbox::compare(ctx, draft, t, progress)?;
    Ok(Sandbox {
        t: cmp.after.t,
        settings: cmp.settings,
        diff: cmp.diff,
        crm: draft.attio.is_some(),
    })
}

/// `R`: the latest run as recorded (made by cron, `--run-daily` or `D`) with its figures.
pub fn reload(ctx: &Context, progress: &dyn Progress) -> Result<Snapshot> {
    let store = ctx.open_store()?;
    let mut snap = from_store(&store, &ctx.config)?;
    let client = posthog_client(ctx);
    snap.figures = super::figures::load(
        &store,
        &ctx.paths.data_dir,
        &ctx.config,
        &remote(&client),
        snap.run.map(|r| r.as_of),
        progress,
    );
    snap.fill_last_seen();
    Ok(snap)
}

/// A signal's explanation, figures and sweep under `ctx.config` at `t` (nothing saved).
pub fn explain(
    ctx: &Context,
    signal: beton::signals::SignalType,
    t: i64,
    progress: &dyn Progress,
) -> Result<beton::backtest::SignalExplanation> {
    let store = ctx.open_store()?;
    let opts = beton::backtest::BacktestOptions::from_config(&ctx.config, t);
    let client = posthog_client_for(ctx, 8);
    let source = match &client {
        Ok(None) => beton::backtest::Source::Local,
        Ok(Some(c)) => beton::backtest::Source::Posthog(c),
        Err(e) => return Err(Error::Usage(format!("PostHog: {e}"))),
    };
    beton::backtest::explain_signal(&store, &ctx.config, signal, &opts, progress, source)
}

/// The learn view: `beton learn`'s replay and fit at `t` under the settings in force
/// (`ctx.config`), validated forward in time, with the proposed bases. Nothing is written.
pub fn learn(ctx: &Context, t: i64, progress: &dyn Progress) -> Result<beton::learn::Learned> {
    let store = ctx.open_store()?;
    let opts = beton::learn::options(&ctx.config, t);
    let client = beton::source::client(
        &ctx.paths,
        &ctx.config,
        beton::source::Budget::Backtests {
            runs: 1,
            dates: opts.dates().len(),
        },
    )
    .map_err(|e| Error::Usage(format!("PostHog: {e}")))?;
    beton::learn::run(
        &store,
        &ctx.config,
        &opts,
        progress,
        beton::source::Source::of(client.as_ref()),
    )
}

/// The latest recorded daily run, if any.
pub fn latest_info(store: &Store) -> Result<Option<RunInfo>> {
    Ok(store.latest_run("daily")?.map(|r| RunInfo {
        id: r.id,
        as_of: r.as_of,
        started_at: r.started_at,
    }))
}

/// `D` (confirmed): one real run of the pipeline (recorded, sent), then the figures.
pub fn rerun(ctx: &Context, as_of: Option<i64>, progress: &dyn Progress) -> Result<Snapshot> {
    let result = run_daily(ctx, &RunOptions { as_of }, progress)?;
    let store = ctx.open_store()?;
    let mut snap = from_scores(&store, &ctx.config, result.report.run_id, result.scores)?;
    for s in &result.report.steps {
        if s.status == beton::pipeline::StepStatus::Failed {
            snap.notes
                .push(format!("step {} failed: {}", s.name, s.detail));
        }
    }
    if progress.is_cancelled() {
        return Err(Error::Cancelled);
    }
    let t = snap.run.map(|r| r.as_of);
    let client = posthog_client(ctx);
    snap.figures = super::figures::rerun(
        &store,
        &ctx.paths.data_dir,
        &ctx.config,
        &remote(&client),
        t,
        progress,
    );
    snap.fill_last_seen();
    Ok(snap)
}

/// The latest run as recorded in the store (scores and evidence; parts recomputed from bases).
pub fn from_store(store: &Store, cfg: &Config) -> Result<Snapshot> {
    let Some(run) = store.latest_run("daily")? else {
        return Ok(Snapshot {
            source: source_label(store, cfg)?,
            ..Default::default()
        });
    };
    let mut fired: HashMap<String, Vec<Fired>> = HashMap::new();
    for s in store.run_signals(run.id)? {
        let Some(signal) = SignalType::parse(&s.signal) else {
            continue;
        };
        fired.entry(s.account).or_default().push(Fired {
            signal,
            base: s.base,
            evidence: s.evidence,
            numbers: Default::default(),
        });
    }
    let ids: HashMap<String, i64> = store
        .accounts()?
        .into_iter()
        .map(|(id, key, _)| (key, id))
        .collect();
    let scores = store
        .run_scores(run.id)?
        .into_iter()
        .map(|r| {
            let fired = fired.remove(&r.account).unwrap_or_default();
            let bases: Vec<u32> = fired.iter().map(|f| f.base).collect();
            AccountScore {
                account_id: ids.get(&r.account).copied().unwrap_or_default(),
                tier: match r.tier.as_str() {
                    "hot" => Tier::Hot,
                    "warm" => Tier::Warm,
                    _ => Tier::Cool,
                },
                account: r.account,
                score: r.score,
                routed: r.routed,
                parts: ScoreParts::of(&bases, cfg),
                fired,
            }
        })
        .collect();
    from_scores(store, cfg, run.id, scores)
}

/// A snapshot of run `run_id` from its scores, with last seen, ARR and owner added.
pub fn from_scores(
    store: &Store,
    cfg: &Config,
    run_id: i64,
    scores: Vec<AccountScore>,
) -> Result<Snapshot> {
    let run = store
        .latest_run("daily")?
        .filter(|r| r.id == run_id)
        .map(|r| RunInfo {
            id: r.id,
            as_of: r.as_of,
            started_at: r.started_at,
        });
    let started = std::time::Instant::now();
    let props: HashMap<i64, Map<String, Value>> = store
        .accounts()?
        .into_iter()
        .filter_map(|(id, _, snap)| Some((id, serde_json::from_str(&snap?).ok()?)))
        .collect();
    tracing::debug!(target: "beton::tui::timing", "account properties read in {} ms", started.elapsed().as_millis());
    let mut histogram = [0u64; 10];
    let mut queue = Vec::with_capacity(scores.len());
    let feedback = beton::feedback::Book::load(store)?;
    let as_of = run.map_or_else(beton::time::now, |r| r.as_of);
    // With parent accounts, a workspace's deals are its parent's, and so is the parent's ARR
    // (the sum) and owner (that of its biggest workspace).
    let book = beton::signals::routing::DealBook::load_at(store, cfg, as_of)?;
    for score in scores {
        let suppressed = feedback.suppression(&cfg.feedback, &score.account, as_of);
        // Only accounts at the route threshold can be in pipeline, under the floor or expansion.
        let route = if let Some(x) = suppressed {
            Some(format!(
                "suppressed until {}",
                beton::time::fmt_date(x.until)
            ))
        } else if score.score >= cfg.route_threshold && !score.fired.is_empty() {
            let r = beton::signals::routing::route(store, cfg, &book, &score, as_of)?;
            r.label().or_else(|| {
                (r.motion == beton::signals::routing::Motion::Expansion)
                    .then(|| "expansion".to_string())
            })
        } else {
            None
        };
        histogram[(score.score / 10).min(9) as usize] += 1;
        let p = props.get(&score.account_id);
        let parent = book.family().filter(|f| f.is_parent(&score.account));
        // Only routed accounts become CRM deals; look them up only when Attio is connected.
        let crm = match &cfg.attio {
            Some(a) if score.routed => {
                store
                    .attio_deal_link(score.account_id)?
                    .map(|(record, url)| match url {
                        Some(url) => format!("Attio deal {url}"),
                        None if a.workspace.is_empty() => format!("Attio deal {record}"),
                        None => format!("Attio deal {record} in workspace {}", a.workspace),
                    })
            }
            _ => None,
        };
        queue.push(QueueEntry {
            // Filled in from the health figures, which read it anyway (it costs seconds on a
            // large workspace, and the first frame must not wait for it).
            last_seen: None,
            arr: match parent {
                Some(f) => f.arr(&score.account),
                None => p.and_then(|p| beton::signals::numeric(p.get("arr"))),
            },
            owner: match parent {
                Some(f) => f.owner(&score.account).map(str::to_string),
                None => p
                    .and_then(|p| p.get("owner_email"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
            },
            crm,
            route,
            score,
            workspaces: Vec::new(),
        });
    }
    fill_workspaces(store, cfg, as_of, &mut queue)?;
    Ok(Snapshot {
        run,
        demo: store.meta("demo")?.is_some(),
        source: source_label(store, cfg)?,
        queue,
        histogram,
        figures: Default::default(),
        notes: Vec::new(),
        sandbox: None,
        moves: match &run {
            Some(r) => super::since::moves(store, r.id)?,
            None => HashMap::new(),
        },
    })
}

fn source_label(store: &Store, cfg: &Config) -> Result<String> {
    Ok(match cfg.source {
        SourceKind::Posthog => match &cfg.posthog {
            Some(p) => format!("PostHog project {}", p.project_id),
            None => "PostHog".into(),
        },
        SourceKind::Local if store.meta("demo")?.is_some() => "DEMO data".into(),
        SourceKind::Local => "local workspace".into(),
    })
}

/// One account's detail as of `t`: 30 days of activity, properties as of `t`, its deals. An
/// account outside the queue (opened from the health pane) shows with score 0.
pub fn detail(ctx: &Context, key: &str, entry: Option<QueueEntry>, t: i64) -> Result<Detail> {
    let store = ctx.open_store()?;
    let entry = match entry {
        Some(e) => e,
        None => {
            let id = store
                .account_id(key)?
                .ok_or_else(|| Error::Usage(format!("no account `{key}` in this workspace")))?;
            QueueEntry {
                score: AccountScore {
                    account_id: id,
                    account: key.to_string(),
                    score: 0,
                    tier: Tier::Cool,
                    routed: false,
                    parts: ScoreParts::default(),
                    fired: Vec::new(),
                },
                last_seen: None,
                arr: None,
                owner: None,
                crm: None,
                route: None,
                workspaces: Vec::new(),
            }
        }
    };
    let id = entry.score.account_id;
    // A parent's activity is its workspaces' (its own events, if any, are one of them).
    let mut ids: Vec<i64> = entry.workspaces.iter().map(|w| w.id).collect();
    if !ids.contains(&id) {
        ids.push(id);
    }
    let mut daily = vec![0u32; 30];
    let mut props = Vec::new();
    for &each in &ids {
        let facts = Facts::load(&store, &ctx.config, &[t], Some(each))?;
        let Some(a) = facts.accounts.first() else {
            continue;
        };
        for u in a.slice(t - 30 * DAY, t) {
            let day = usize::try_from((u.start - (t - 30 * DAY)) / DAY)
                .unwrap_or(0)
                .min(29);
            daily[day] = daily[day].saturating_add(u.activity);
        }
        if each == id {
            props = a
                .props_at(t)
                .into_iter()
                .map(|(k, v)| (k, show_value(&v)))
                .collect();
        }
    }
    let keys: std::collections::HashSet<&str> = entry
        .workspaces
        .iter()
        .map(|w| w.key.as_str())
        .chain([entry.score.account.as_str()])
        .collect();
    let deals = store
        .deals()?
        .into_iter()
        .filter(|d| keys.contains(d.account_key.as_str()))
        .map(|d| {
            let o = Outcome::of(&d.stage, &ctx.config);
            (d, o)
        })
        .collect();
    let outbox = store.outbox_entries(Some(id), 20)?;
    let held_out = store.held_out()?.contains(&id);
    let mut dispositions =
        beton::feedback::Book::of(store.account_dispositions(&entry.score.account)?)?
            .history(&entry.score.account)
            .to_vec();
    let suppressed = beton::feedback::suppression(&ctx.config.feedback, &dispositions, t);
    dispositions.reverse();
    let fired: Vec<_> = entry.score.fired.iter().map(|f| f.signal).collect();
    let learned = store
        .current_model()?
        .map(|m| beton::learn::chance(&m, &fired));
    Ok(Detail {
        since: super::since::load(&store, &ctx.config, id)?,
        entry,
        as_of: t,
        daily,
        props,
        deals,
        outbox,
        held_out,
        suppressed,
        dispositions,
        learned,
    })
}

fn show_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
