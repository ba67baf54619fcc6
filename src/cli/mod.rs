//! The non-interactive front-end: `--run-daily` and the other commands. Prints, sets exit codes.

use std::io::{IsTerminal, Write};

use beton::config::{Config, Paths, TEMPLATE, write_atomic};
use beton::daily::{Context, RunOptions, run_daily};
use beton::demo::{DemoOptions, FileSink};
use beton::import::{Format, ImportReport, Input};
use beton::progress::{Progress, Silent};
use beton::signals::explain;
use beton::store::Store;
use beton::time::{fmt_ts, parse_ts};
use beton::{Error, Result};

use crate::cli::args::{
    AttioCommand, Command, FormatArg, Global, ImportKind, OutputFormat, SyncService, TierArg,
};

/// `println!` that stays quiet when stdout is closed (`beton scores | head`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

pub mod args;
mod attio;
mod figures;
mod posthog;

/// What a command ended with: the process exit code.
pub type Exit = i32;

pub fn context(g: &Global) -> Result<Context> {
    let paths = Paths::resolve(g.config.clone(), g.data_dir.clone())?;
    let config = Config::load(&paths.config_file)?;
    Ok(Context { paths, config })
}

pub fn as_of(g: &Global) -> Result<Option<i64>> {
    g.as_of
        .as_deref()
        .map(|s| {
            parse_ts(s).ok_or_else(|| {
                Error::Usage(format!("--as-of {s:?}: expected RFC 3339 or YYYY-MM-DD"))
            })
        })
        .transpose()
}

/// A progress bar on stderr when it is a terminal; nothing otherwise.
struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    fn bytes(total: Option<u64>) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let bar = indicatif::ProgressBar::new(total.unwrap_or(0));
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Self(Some(bar))
    }

    fn done(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn advance(&self, done: u64, _total: u64) {
        if let Some(b) = &self.0 {
            b.set_position(done);
        }
    }
}

pub fn run(g: &Global, command: Option<Command>) -> Result<Exit> {
    match command {
        None => daily(g),
        Some(Command::Init { force }) => init(g, force),
        Some(Command::Import { kind, file, format }) => import(g, kind, &file, format),
        Some(Command::Demo {
            accounts,
            days,
            seed,
            activity_scale,
            out,
            force,
        }) => demo(
            g,
            DemoArgs {
                accounts,
                days,
                seed,
                activity_scale,
            },
            out,
            force,
        ),
        Some(Command::Explain { account }) => explain_cmd(g, &account),
        Some(Command::Scores { tier, format }) => scores(g, tier, format),
        Some(Command::Connect { target }) => posthog::connect(g, target),
        Some(Command::Provision { dry_run, recreate }) => {
            posthog::provision(g, dry_run, recreate)
        }
        Some(Command::Doctor) => posthog::doctor(g),
        Some(Command::Hogql {
            dump,
            score,
            backtest,
        }) => posthog::hogql(g, dump, score, backtest),
        Some(Command::Attio {
            command: AttioCommand::Setup { dry_run },
        }) => attio::setup_cmd(g, dry_run),
        Some(Command::Sync {
            service:
                SyncService::Attio {
                    dry_run,
                    pull,
                    allow_demo,
                },
        }) => attio::sync_cmd(g, dry_run, pull, allow_demo),
        Some(Command::Backtest { range, sets, sweep }) => {
            figures::backtest(g, range, &sets, sweep.as_deref())
        }
        Some(Command::ExplainSignal { signal, range }) => {
            figures::explain_signal(g, &signal, range)
        }
        Some(Command::Health { status }) => figures::health(g, status),
        Some(Command::Sources) => figures::sources(g),
    }
}

fn daily(g: &Global) -> Result<Exit> {
    let ctx = context(g)?;
    let result = run_daily(&ctx, &RunOptions { as_of: as_of(g)? }, &Silent)?;
    let r = &result.report;
    if g.json {
        out!("{}", serde_json::to_string_pretty(r).unwrap_or_default());
        return Ok(r.exit_code());
    }
    let data = if r.demo {
        "DEMO data"
    } else {
        "local workspace"
    };
    out!("Beton daily run as of {} ({data})", r.as_of);
    out!(
        "  {} accounts scored: {} hot, {} warm, {} cool; {} routed to the CRM; {} signals emitted",
        r.accounts_scored,
        r.hot,
        r.warm,
        r.cool,
        r.routed,
        r.emitted
    );
    for a in r.accounts.iter().take(10) {
        out!(
            "  {:>3} {:<5} {:<28} {}",
            a.score,
            a.tier.as_str(),
            a.account,
            a.signals.join(", ")
        );
    }
    if r.accounts.len() > 10 {
        out!("  … {} more: `beton scores`", r.accounts.len() - 10);
    }
    for s in &r.steps {
        out!("  step {:<10} {:?}: {}", s.name, s.status, s.detail);
    }
    if let Some(q) = &r.queries {
        out!(
            "  PostHog queries: {} of a budget of {} ({} retries, {} polls)",
            q.queries,
            q.budget,
            q.retries,
            q.polls
        );
    }
    out!("  done in {:.2} s", r.seconds);
    Ok(r.exit_code())
}

fn init(g: &Global, force: bool) -> Result<Exit> {
    let paths = Paths::resolve(g.config.clone(), g.data_dir.clone())?;
    if paths.config_file.exists() && !force {
        return Err(Error::Usage(format!(
            "{} exists already; pass --force to replace it with the defaults",
            paths.config_file.display()
        )));
    }
    write_atomic(&paths.config_file, TEMPLATE)?;
    out!("wrote {}", paths.config_file.display());
    Ok(0)
}

fn import(g: &Global, kind: ImportKind, file: &str, format: Option<FormatArg>) -> Result<Exit> {
    let ctx = context(g)?;
    let _lock = beton::store::RunLock::acquire(&ctx.paths.data_dir, beton::daily::LOCK_WAIT)?;
    let store = ctx.open_store()?;
    let input = Input::open(file)?;
    let format = format
        .map(|f| match f {
            FormatArg::Jsonl => Format::Jsonl,
            FormatArg::Csv => Format::Csv,
        })
        .or_else(|| Format::from_path(file));
    let report = match kind {
        ImportKind::Events => {
            let bar = Bar::bytes(input.size);
            let r = beton::import::import_events(&store, &ctx.config, input, format, &bar);
            bar.done();
            r?
        }
        ImportKind::Accounts => beton::import::import_accounts(&store, &ctx.config, input)?,
        ImportKind::Deals => beton::import::import_deals(&store, &ctx.config, input, format)?,
    };
    print_import(&report, g.json);
    Ok(if report.skipped > 0 { 2 } else { 0 })
}

fn print_import(r: &ImportReport, json: bool) {
    if json {
        out!("{}", serde_json::to_string_pretty(r).unwrap_or_default());
        return;
    }
    let rate = if r.seconds > 0.0 {
        r.rows as f64 / r.seconds
    } else {
        0.0
    };
    out!(
        "{}: {} rows, {} imported, {} duplicates, {} skipped ({:.1} s, {:.0} rows/s)",
        r.file,
        r.rows,
        r.imported,
        r.duplicates,
        r.skipped,
        r.seconds,
        rate
    );
    if r.without_account > 0 {
        out!(
            "  {} events without an account (no $groups entry for the group type) were ignored",
            r.without_account
        );
    }
    let mut err = std::io::stderr().lock();
    for e in &r.errors {
        let _ = writeln!(err, "{}:{}: {}", r.file, e.line, e.reason);
    }
    if r.skipped as usize > r.errors.len() {
        let _ = writeln!(
            err,
            "… and {} more skipped rows; by reason:",
            r.skipped as usize - r.errors.len()
        );
        for (reason, n) in &r.skipped_by_reason {
            let _ = writeln!(err, "  {n} × {reason}");
        }
    }
}

struct DemoArgs {
    accounts: u32,
    days: u32,
    seed: u64,
    activity_scale: f64,
}

fn demo(g: &Global, a: DemoArgs, out: Option<std::path::PathBuf>, force: bool) -> Result<Exit> {
    let ctx = context(g)?;
    if !(a.activity_scale.is_finite() && a.activity_scale > 0.0) {
        return Err(Error::Usage(
            "--activity-scale must be a number above 0".into(),
        ));
    }
    let days = a.days;
    let opts = DemoOptions {
        accounts: a.accounts,
        days: a.days,
        seed: a.seed,
        as_of: as_of(g)?.unwrap_or_else(beton::time::now),
        activity_scale: a.activity_scale,
    };
    let bar = Bar::bytes(None);
    if let Some(dir) = out {
        let mut sink = FileSink::create(&dir, &ctx.config.group_type)?;
        let s = beton::demo::generate(&opts, &mut sink, &bar)?;
        sink.finish()?;
        bar.done();
        out!(
            "wrote {} accounts, {} events, {} deals to {} (accounts.jsonl, events.jsonl, deals.csv)",
            s.accounts,
            s.events,
            s.deals,
            dir.display()
        );
        return Ok(0);
    }
    let _lock = beton::store::RunLock::acquire(&ctx.paths.data_dir, beton::daily::LOCK_WAIT)?;
    let db = ctx.paths.database();
    if !Store::open(&db)?.is_empty()? {
        if !force {
            return Err(Error::Usage(format!(
                "the workspace {} holds data already; pass --force to replace it with the demo, or --data-dir for another one",
                ctx.paths.data_dir.display()
            )));
        }
        remove_workspace(&db)?;
    }
    let store = Store::open(&db)?;
    let s = beton::demo::create(&store, &ctx.config, &opts, &bar)?;
    bar.done();
    out!(
        "created a DEMO workspace in {}: {} accounts, {} events, {} deals over {} days to {}",
        ctx.paths.data_dir.display(),
        s.accounts,
        s.events,
        s.deals,
        days,
        fmt_ts(opts.as_of)
    );
    Ok(0)
}

fn remove_workspace(db: &std::path::Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let p = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&p, e)),
        }
    }
    Ok(())
}

fn explain_cmd(g: &Global, account: &str) -> Result<Exit> {
    let ctx = context(g)?;
    let t = as_of(g)?.unwrap_or_else(beton::time::now);
    let s = beton::daily::explain_account(&ctx, account, t)?;
    if g.json {
        out!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
    } else {
        out!("as of {}", fmt_ts(t));
        for line in explain(&s, &ctx.config) {
            out!("{line}");
        }
    }
    Ok(0)
}

fn scores(g: &Global, tier: Option<TierArg>, format: OutputFormat) -> Result<Exit> {
    let ctx = context(g)?;
    let store = ctx.open_store()?;
    let run = store
        .latest_run("daily")?
        .ok_or_else(|| Error::NoData("no run yet: `beton --run-daily` makes one".into()))?;
    let want = tier.map(|t| match t {
        TierArg::Hot => "hot",
        TierArg::Warm => "warm",
        TierArg::Cool => "cool",
    });
    let signals = store.run_signals(run.id)?;
    let rows: Vec<_> = store
        .run_scores(run.id)?
        .into_iter()
        .filter(|r| want.is_none_or(|w| r.tier == w))
        .map(|r| {
            let sig: Vec<&str> = signals
                .iter()
                .filter(|s| s.account == r.account)
                .map(|s| s.signal.as_str())
                .collect();
            (r, sig.join(", "))
        })
        .collect();
    let format = if g.json { OutputFormat::Json } else { format };
    match format {
        OutputFormat::Json => {
            let list: Vec<_> = rows
                .iter()
                .map(|(r, s)| {
                    serde_json::json!({"account": r.account, "score": r.score, "tier": r.tier, "routed": r.routed,
                                        "signals": s.split(", ").filter(|x| !x.is_empty()).collect::<Vec<_>>()})
                })
                .collect();
            let out =
                serde_json::json!({"run_id": run.id, "as_of": fmt_ts(run.as_of), "accounts": list});
            out!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        }
        OutputFormat::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            let fail = |e: csv::Error| Error::Usage(format!("writing CSV: {e}"));
            w.write_record(["account", "score", "tier", "routed", "signals"])
                .map_err(fail)?;
            for (r, s) in &rows {
                w.write_record([
                    r.account.as_str(),
                    &r.score.to_string(),
                    &r.tier,
                    &r.routed.to_string(),
                    s,
                ])
                .map_err(fail)?;
            }
            w.flush()
                .map_err(|e| Error::Usage(format!("writing CSV: {e}")))?;
        }
        OutputFormat::Table => {
            out!(
                "run {} as of {}: {} accounts",
                run.id,
                fmt_ts(run.as_of),
                rows.len()
            );
            out!(
                "{:>5}  {:<5}  {:<6}  {:<30}  signals",
                "score",
                "tier",
                "routed",
                "account"
            );
            for (r, s) in &rows {
                out!(
                    "{:>5}  {:<5}  {:<6}  {:<30}  {s}",
                    r.score,
                    r.tier,
                    if r.routed { "yes" } else { "" },
                    r.account
                );
            }
        }
    }
    Ok(0)
}

/// `beton` with no command: on an empty workspace with no PostHog configured, create the demo
/// workspace first and say so; then show the hot queue.
pub fn first_run(g: &Global) -> Result<Exit> {
    let ctx = context(g)?;
    if let Some(s) = beton::demo::ensure(&ctx, &Silent)? {
        eprintln!(
            "No data yet: created a DEMO workspace ({} accounts, {} events, {} deals). \
             `beton import` or `beton connect posthog` brings your own.",
            s.accounts, s.events, s.deals
        );
    }
    daily(g)
}
