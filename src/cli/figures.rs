//! `beton backtest`, `learn`, `explain-signal`, `health` and `sources`: the figures of SPEC §4–6
//! and §11, printed.

use std::time::Instant;

use beton::backtest::{self, BacktestOptions, BacktestReport, Evidence, Unit};
use beton::health::Status;
use beton::progress::Silent;
use beton::signals::SignalType;
use beton::source::{Budget, Source};
use beton::store::Store;
use beton::time::{fmt_date, fmt_ts};
use beton::{Error, Result};

use super::common::{Exit, as_of, context};
use crate::cli::args::{Global, OutputFormat, RangeArgs, StatusArg};

fn json<T: serde::Serialize>(v: &T) {
    out!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// `--json` wins over `--format`.
fn format_of(g: &Global, f: OutputFormat) -> OutputFormat {
    if g.json { OutputFormat::Json } else { f }
}

/// A number as data: no separators, no unit (`19000`, `0.17`); empty when undefined.
fn raw(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() && v == v.trunc() && v.abs() < 1e15 => format!("{}", v as i64),
        Some(v) => format!("{v}"),
        None => String::new(),
    }
}

fn count(n: u64) -> String {
    n.to_string()
}

/// Writes CSV rows (the first is the header) to stdout.
fn csv_out(rows: Vec<Vec<String>>) -> Result<()> {
    let fail = |e: csv::Error| Error::Usage(format!("writing CSV: {e}"));
    let mut w = csv::Writer::from_writer(std::io::stdout());
    for r in rows {
        w.write_record(&r).map_err(fail)?;
    }
    w.flush()
        .map_err(|e| Error::Usage(format!("writing CSV: {e}")))
}

fn header(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The workspace and T, refusing an empty workspace like `--run-daily` does.
fn open(g: &Global) -> Result<(beton::pipeline::Context, Store, i64)> {
    let ctx = context(g)?;
    let store = ctx.open_store()?;
    if store.is_empty()? {
        return Err(Error::NoData(beton::pipeline::NO_DATA.into()));
    }
    let t = as_of(g)?.unwrap_or_else(beton::time::now);
    super::common::warn_out_of_range(g, &ctx, t);
    Ok((ctx, store, t))
}

/// With `source = "posthog"`, a client whose query budget has room for `runs` replays (each is
/// the detection queries at every replay date of `opts`); `None` for the local workspace.
fn remote(
    ctx: &beton::pipeline::Context,
    opts: &BacktestOptions,
    runs: usize,
) -> Result<Option<beton::posthog::Client>> {
    let budget = Budget::Backtests {
        runs,
        dates: opts.dates().len(),
    };
    beton::source::client(&ctx.paths, &ctx.config, budget).map_err(|e| Error::Usage(e.to_string()))
}

fn source(client: &Option<beton::posthog::Client>) -> Source<'_> {
    Source::of(client.as_ref())
}

fn options(cfg: &beton::config::Config, t: i64, r: RangeArgs) -> BacktestOptions {
    let mut o = BacktestOptions::from_config(cfg, t);
    o.range_days = r.range_days.unwrap_or(o.range_days);
    o.step_days = r.step_days.unwrap_or(o.step_days);
    o.horizon_days = r.horizon_days.unwrap_or(o.horizon_days);
    o
}

fn pct(v: Option<f64>) -> String {
    Unit::Percent.show(v)
}

pub fn backtest(
    g: &Global,
    range: RangeArgs,
    sets: &[String],
    sweep: Option<&str>,
    format: OutputFormat,
) -> Result<Exit> {
    let format = format_of(g, format);
    let (ctx, store, t) = open(g)?;
    let opts = options(&ctx.config, t, range);
    let started = Instant::now();
    if let Some(spec) = sweep {
        let (key, values) = backtest::parse_sweep(spec)?;
        let client = remote(&ctx, &opts, values.len())?;
        let s = backtest::sweep(
            &store,
            &ctx.config,
            sets,
            (&key, &values),
            &opts,
            &Silent,
            source(&client),
        )?;
        match format {
            OutputFormat::Json => {
                json(&s);
                return Ok(0);
            }
            OutputFormat::Csv => {
                let mut rows = vec![header(&["value", "precision", "recall", "f1", "flagged"])];
                rows.extend(s.points.iter().map(|p| {
                    vec![
                        p.value.clone(),
                        raw(p.precision),
                        raw(p.recall),
                        raw(p.f1),
                        count(p.flagged),
                    ]
                }));
                csv_out(rows)?;
                return Ok(0);
            }
            OutputFormat::Table => {}
        }
        out!(
            "Sweep of {key} as of {} (not saved){}",
            fmt_ts(t),
            extra_sets(sets)
        );
        out!(
            "{:>10}  {:>9}  {:>9}  {:>5}  {:>7}",
            "value",
            "precision",
            "recall",
            "f1",
            "flagged"
        );
        for p in &s.points {
            out!(
                "{:>10}  {:>9}  {:>9}  {:>5}  {:>7}",
                p.value,
                pct(p.precision),
                pct(p.recall),
                Unit::Ratio.show(p.f1),
                p.flagged
            );
        }
        out!("computed in {:.2} s", started.elapsed().as_secs_f64());
        return Ok(0);
    }
    if !sets.is_empty() {
        let client = remote(&ctx, &opts, 2)?;
        let w = backtest::what_if(&store, &ctx.config, sets, &opts, &Silent, source(&client))?;
        match format {
            OutputFormat::Json => {
                json(&w);
                return Ok(0);
            }
            OutputFormat::Csv => {
                let mut rows = vec![header(&["figure", "before", "after"])];
                rows.extend(
                    w.changes
                        .iter()
                        .map(|c| vec![c.figure.clone(), raw(c.before), raw(c.after)]),
                );
                csv_out(rows)?;
                return Ok(0);
            }
            OutputFormat::Table => {}
        }
        out!(
            "What-if as of {} (not saved):{}",
            fmt_ts(t),
            extra_sets(sets)
        );
        out!("{:<34}  {:>12}  {:>12}", "figure", "before", "after");
        for c in w
            .changes
            .iter()
            .filter(|c| c.changed() || !c.figure.contains('.'))
        {
            let mark = if c.changed() { "*" } else { " " };
            out!(
                "{:<34}  {:>12}  {:>12} {mark}",
                c.figure,
                c.unit.show(c.before),
                c.unit.show(c.after)
            );
        }
        print_reasons("after", &w.after);
        out!(
            "computed in {:.2} s; to keep a setting, write it in the config file",
            started.elapsed().as_secs_f64()
        );
        return Ok(0);
    }
    let client = remote(&ctx, &opts, 1)?;
    let report = backtest::run(&store, &ctx.config, &opts, &Silent, source(&client))?;
    let seconds = started.elapsed().as_secs_f64();
    // Saving is a write: it takes the workspace lock like every writing command (waiting up to
    // the usual 3 s for a run or an import), so it never waits on the file for long.
    let _lock = beton::store::RunLock::acquire(&ctx.paths.data_dir, beton::pipeline::LOCK_WAIT)?;
    let id = store.save_backtest(t, &report)?;
    match format {
        OutputFormat::Json => {
            json(&report);
            return Ok(0);
        }
        OutputFormat::Csv => {
            csv_out(backtest_rows(&report))?;
            return Ok(0);
        }
        OutputFormat::Table => {}
    }
    print_report(&report);
    let previous = store.latest_backtests(2)?.into_iter().find(|b| b.id != id);
    if let Some(prev) = previous {
        let changed: Vec<String> = backtest::compare(&prev.report, &report)
            .iter()
            .filter(|c| c.changed() && !c.figure.contains('.'))
            .map(|c| c.text())
            .collect();
        let when = fmt_ts(prev.created_at);
        if changed.is_empty() {
            out!(
                "same figures as the previous backtest (#{}, run {when})",
                prev.id
            );
        } else {
            out!(
                "vs the previous backtest (#{}, run {when}, as of {}):",
                prev.id,
                prev.report.as_of
            );
            for c in changed {
                out!("  {c}");
            }
        }
    }
    out!("saved as backtest #{id}; computed in {seconds:.2} s");
    Ok(0)
}

/// The backtest as CSV: one row per signal type and an `all` row of the headline figures.
fn backtest_rows(r: &BacktestReport) -> Vec<Vec<String>> {
    let mut rows = vec![header(&[
        "signal",
        "fires",
        "flagged",
        "true_positives",
        "false_positives",
        "censored",
        "precision",
        "recall",
        "f1",
    ])];
    rows.push(vec![
        "all".into(),
        String::new(),
        count(r.flagged),
        count(r.true_positives),
        count(r.false_positives),
        count(r.censored),
        raw(r.precision),
        raw(r.recall),
        raw(r.f1),
    ]);
    rows.extend(r.per_signal.iter().map(|s| {
        vec![
            s.signal.as_str().to_string(),
            count(s.fires),
            count(s.flagged),
            count(s.true_positives),
            count(s.false_positives),
            count(s.censored),
            raw(s.precision),
            raw(s.recall),
            raw(s.f1),
        ]
    }));
    rows
}

fn extra_sets(sets: &[String]) -> String {
    sets.iter().map(|s| format!(" --set {s}")).collect()
}

fn print_reasons(label: &str, r: &BacktestReport) {
    for (figure, why) in &r.reasons {
        out!("  n/a {label} {figure}: {why}");
    }
}

fn print_report(r: &BacktestReport) {
    let first = r.timeline.first().map(|d| d.date.as_str()).unwrap_or("-");
    let last = r.timeline.last().map(|d| d.date.as_str()).unwrap_or("-");
    out!(
        "Backtest as of {}: {} replay dates {} … {}, every {} days; horizon {} days; flag = score ≥ {}; {} accounts",
        r.as_of,
        r.replay_dates,
        first.get(..10).unwrap_or(first),
        last.get(..10).unwrap_or(last),
        r.step_days,
        r.horizon_days,
        r.threshold,
        r.accounts
    );
    out!(
        "  precision       {:>9}   {} true, {} false positives, {} censored",
        pct(r.precision),
        r.true_positives,
        r.false_positives,
        r.censored
    );
    out!(
        "  recall          {:>9}   {} of {} won accounts caught",
        pct(r.recall),
        r.caught,
        r.won_accounts
    );
    out!("  F1              {:>9}", Unit::Ratio.show(r.f1));
    out!("  flagged         {:>9}   accounts", r.flagged);
    out!(
        "  lift            {:>9}   top score bucket vs [0,20)",
        Unit::Multiple.show(r.lift)
    );
    out!(
        "  days to close   {:>9}   median, true positives",
        Unit::Days.show(r.median_days_to_close)
    );
    out!(
        "  value won       {:>9}   ROI {} of annual cost {:.0}",
        Unit::Money.show(Some(r.value_won)),
        Unit::Multiple.show(r.roi_multiple),
        r.annual_cost
    );
    out!("");
    out!(
        "  {:<19} {:>6} {:>8} {:>10} {:>8}  {:<24} {:>7} {:>7}  {}",
        "signal",
        "fires",
        "flagged",
        "precision",
        "recall",
        "lift [95 % CI]",
        "p",
        "q",
        "converted: fired vs not (accounts)"
    );
    for s in &r.per_signal {
        let e = &s.evidence;
        let mark = if e.excludes_one() { "*" } else { " " };
        out!(
            "  {:<19} {:>6} {:>8} {:>10} {:>8} {mark}{:<24} {:>7} {:>7}  {}",
            s.signal.as_str(),
            s.fires,
            s.flagged,
            pct(s.precision),
            pct(s.recall),
            e.lift_text(),
            Evidence::show_p(e.p_value),
            Evidence::show_p(e.q_value),
            e.groups_text()
        );
    }
    out!(
        "  * the lift's interval excludes 1; lift = conversion where the type fired ÷ where it did not, \
         at least {} conversions in each group",
        backtest::MIN_CONVERSIONS
    );
    out!("");
    out!(
        "  {:<10} {:>12} {:>10} {:>11}",
        "score",
        "observations",
        "converted",
        "conversion"
    );
    for b in &r.buckets {
        out!(
            "  {:<10} {:>12} {:>10} {:>11}",
            b.label,
            b.observations,
            b.converted,
            pct(b.conversion)
        );
    }
    out!("");
    out!("  {}", r.feedback.summary());
    if let Some(line) = r.feedback.held_back_line(r.horizon_days) {
        out!("  {line}");
    }
    if !r.feedback.by_month.is_empty() {
        for line in r.feedback.month_lines() {
            out!("{line}");
        }
    }
    print_reasons("", r);
    if r.won_without_close > 0 {
        out!(
            "  {} won deals have no closed_at and were left out",
            r.won_without_close
        );
    }
}

/// `beton learn`: fit, validate and propose (nothing written); `--apply` writes the bases and
/// records the model; `--rollback` puts the previous bases back.
pub fn learn(
    g: &Global,
    apply: bool,
    force: bool,
    rollback: bool,
    use_feedback: bool,
) -> Result<Exit> {
    if rollback {
        let ctx = context(g)?;
        let store = ctx.open_store()?;
        let m = beton::learn::rollback(&store, &ctx.paths.config_file)?;
        if g.json {
            json(&serde_json::json!({"rolled_back": m.id, "bases": m.bases_before}));
        } else {
            let bases: Vec<String> = m
                .bases_before
                .iter()
                .map(|(t, b)| format!("{t} {b}"))
                .collect();
            out!(
                "rolled back model #{} (applied {}); bases restored in {}: {}",
                m.id,
                fmt_ts(m.applied_at),
                ctx.paths.config_file.display(),
                bases.join(", ")
            );
        }
        return Ok(0);
    }
    let (ctx, store, t) = open(g)?;
    let opts = beton::learn::options(&ctx.config, t);
    let started = Instant::now();
    let client = remote(&ctx, &opts, 1)?;
    let mut l = beton::learn::run_with(
        &store,
        &ctx.config,
        &opts,
        &Silent,
        source(&client),
        use_feedback,
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let mut refused = None;
    if apply && l.model.is_some() {
        match beton::learn::apply(&store, &ctx.paths.config_file, &mut l, t, force) {
            Ok(_) => {}
            Err(Error::Usage(why)) => refused = Some(why),
            Err(e) => return Err(e),
        }
    }
    if g.json {
        json(&l);
    } else {
        print_learned(&l);
        out!("computed in {seconds:.2} s");
        if l.applied {
            out!(
                "applied: bases written to {}; `beton learn --rollback` puts the previous ones back",
                ctx.paths.config_file.display()
            );
        } else if apply && l.model.is_none() {
            out!("nothing applied: no model");
        } else if !apply && l.model.is_some() {
            out!("nothing written; `beton learn --apply` writes the proposed bases");
        }
    }
    match refused {
        Some(why) => {
            eprintln!("beton: {why}");
            Ok(2)
        }
        None => Ok(0),
    }
}

fn print_learned(l: &beton::learn::Learned) {
    let day = |s: &Option<String>| {
        s.as_deref()
            .map_or("-".to_string(), |d| d.get(..10).unwrap_or(d).to_string())
    };
    out!(
        "Learn as of {}: replay of {} days every {} days, horizon {} days; L2 λ = {}",
        l.as_of,
        l.range_days,
        l.step_days,
        l.horizon_days,
        l.lambda
    );
    for (name, p) in [("train", &l.train), ("test", &l.test.part)] {
        out!("  {}", p.summary(name));
    }
    out!(
        "  cutoff {} (training dates end a horizon before it)",
        day(&l.cutoff)
    );
    if let Some(fb) = &l.feedback {
        out!(
            "  --use-feedback: {} of {} reps' not_ready answers added to the training part as \
             negative outcomes (the rest came after the cutoff or after a win)",
            fb.in_training,
            fb.not_ready
        );
    }
    let Some(m) = &l.model else {
        out!(
            "  model: none — {}",
            l.reason.as_deref().unwrap_or("not fitted")
        );
        return;
    };
    out!(
        "  {:<19} {:>22} {:>8} {:>10}  {}",
        "signal",
        "log-odds [95 % CI]",
        "odds ×",
        "fired obs",
        "base now → proposed"
    );
    for c in &m.coefficients {
        let ci = c.ci95.map_or("n/a".to_string(), |[lo, hi]| {
            format!("[{lo:+.2}, {hi:+.2}]")
        });
        let name = c.signal.as_str();
        let now = l.current_bases.get(name).copied().unwrap_or(0);
        let proposed = l
            .proposed_bases
            .as_ref()
            .and_then(|b| b.get(name))
            .map_or("-".to_string(), |b| b.to_string());
        let mark = if c.ci95.is_some_and(|[lo, hi]| lo > 0.0 || hi < 0.0) {
            "*"
        } else {
            " "
        };
        out!(
            "  {:<19} {:>+6.2} {:<15}{mark} {:>7.2} {:>10}  {now} → {proposed}",
            name,
            c.coefficient,
            ci,
            c.odds_ratio,
            c.fired_observations
        );
    }
    out!(
        "  * the interval excludes 0; intercept {:+.2}: {:.1} % chance of a win within {} days when nothing fired",
        m.intercept,
        100.0 / (1.0 + (-m.intercept).exp()),
        l.horizon_days
    );
    let v = &l.test.model;
    let r = &l.rules;
    out!(
        "  test: AUC {} (rules in force {}, proposed bases {}), PR-AUC {} (rules {}), Brier {}, top-decile lift {}",
        Unit::Ratio.show(v.auc),
        Unit::Ratio.show(r.before.auc),
        Unit::Ratio.show(r.after.as_ref().and_then(|a| a.auc)),
        Unit::Ratio.show(v.pr_auc),
        Unit::Ratio.show(r.before.pr_auc),
        v.brier.map_or("n/a".into(), |b| format!("{b:.4}")),
        Unit::Multiple.show(v.top_decile_lift)
    );
    out!("  calibration on the test part (predicted → observed):");
    for b in l.test.calibration.iter().filter(|b| b.observations > 0) {
        out!(
            "    [{:.1}, {:.1}{}  {:>8} observations  {:>7} → {:>7}",
            b.from,
            b.to,
            if b.to >= 1.0 { "]" } else { ")" },
            b.observations,
            pct(b.predicted),
            pct(b.observed)
        );
    }
    if let Some(ba) = &l.backtest {
        out!("  backtest over the learn replay, bases in force → proposed:");
        for c in ba.changes.iter().filter(|c| !c.figure.contains('.')) {
            let mark = if c.changed() { "*" } else { " " };
            out!(
                "    {:<24} {:>12} → {:>12} {mark}",
                c.figure,
                c.unit.show(c.before),
                c.unit.show(c.after)
            );
        }
    }
    if let Some(why) = &l.reason {
        out!("  n/a proposed bases: {why}");
    }
    match &l.validation_reason {
        None if l.validates => {
            out!("  validates: at least as good as the rules in force on the test part")
        }
        Some(why) => out!("  does not validate: {why}"),
        None => {}
    }
}

pub fn explain_signal(g: &Global, signal: &str, range: RangeArgs) -> Result<Exit> {
    let t = SignalType::parse(signal).ok_or_else(|| {
        Error::Usage(format!(
            "unknown signal `{signal}`; one of: {}",
            beton::config::SIGNAL_NAMES.join(", ")
        ))
    })?;
    let (ctx, store, as_of) = open(g)?;
    let opts = options(&ctx.config, as_of, range);
    let client = remote(&ctx, &opts, 8)?;
    let e = backtest::explain_signal(&store, &ctx.config, t, &opts, &Silent, source(&client))?;
    if g.json {
        json(&e);
        return Ok(0);
    }
    let f = &e.figures;
    out!("{} (base {})", t.as_str(), t.base(&ctx.config));
    out!("  fires when {}", e.definition);
    out!("  settings: {}", e.settings);
    out!(
        "  backtest as of {} ({} days, every {}): fired {} times on {} accounts; precision {}, recall {}, F1 {}",
        fmt_date(as_of),
        opts.range_days,
        opts.step_days,
        f.fires,
        f.flagged,
        pct(f.precision),
        pct(f.recall),
        Unit::Ratio.show(f.f1)
    );
    for (figure, why) in &f.reasons {
        out!("  n/a {figure}: {why}");
    }
    let ev = &f.evidence;
    out!(
        "  evidence: lift {}{}, Fisher p {}, BH q {}; converted {} accounts (fired vs not)",
        ev.lift_text(),
        if ev.excludes_one() {
            " (excludes 1)"
        } else {
            ""
        },
        Evidence::show_p(ev.p_value),
        Evidence::show_p(ev.q_value),
        ev.groups_text()
    );
    if let Some(why) = &ev.reason {
        out!("  n/a lift, p, q: {why}");
    }
    out!("  sweep of {}:", e.tuning_key);
    out!(
        "    {:>8}  {:>9}  {:>9}  {:>5}  {:>6}",
        "value",
        "precision",
        "recall",
        "f1",
        "fires"
    );
    for p in &e.sweep {
        let s = p.signal.as_ref();
        let mark = if p.value == e.current {
            " (current)"
        } else {
            ""
        };
        out!(
            "    {:>8}  {:>9}  {:>9}  {:>5}  {:>6}{mark}",
            p.value,
            pct(s.and_then(|s| s.precision)),
            pct(s.and_then(|s| s.recall)),
            Unit::Ratio.show(s.and_then(|s| s.f1)),
            s.map_or(0, |s| s.fires)
        );
    }
    out!("  advice: {}", e.advice);
    Ok(0)
}

pub fn health(g: &Global, status: Option<StatusArg>, format: OutputFormat) -> Result<Exit> {
    let format = format_of(g, format);
    let (ctx, store, t) = open(g)?;
    let client = beton::source::client(&ctx.paths, &ctx.config, Budget::Run)
        .map_err(|e| Error::Usage(e.to_string()))?;
    let mut report = Source::of(client.as_ref()).health(&store, &ctx.config, t)?;
    if let Some(s) = status {
        let want = match s {
            StatusArg::AtRisk => Status::AtRisk,
            StatusArg::Growing => Status::Growing,
            StatusArg::Stable => Status::Stable,
            StatusArg::Inactive => Status::Inactive,
        };
        report.accounts.retain(|a| a.status == want);
    }
    match format {
        OutputFormat::Json => {
            json(&report);
            return Ok(0);
        }
        OutputFormat::Csv => {
            let mut rows = vec![header(&[
                "account",
                "status",
                "active_users_30d",
                "events_7d",
                "events_prev_7d",
                "growth",
                "last_seen",
                "days_since_seen",
                "features_30d",
            ])];
            rows.extend(report.accounts.iter().map(|a| {
                vec![
                    a.account.clone(),
                    a.status.as_str().to_string(),
                    count(a.active_users_30d),
                    count(a.events_7d),
                    count(a.events_prev_7d),
                    raw(a.growth),
                    a.last_seen.clone().unwrap_or_default(),
                    raw(a.days_since_seen),
                    count(a.features_30d),
                ]
            }));
            csv_out(rows)?;
            return Ok(0);
        }
        OutputFormat::Table => {}
    }
    let counts: Vec<String> = report
        .counts
        .iter()
        .map(|(s, n)| format!("{n} {}", s.as_str()))
        .collect();
    out!(
        "Account health as of {}: {}",
        report.as_of,
        counts.join(", ")
    );
    out!(
        "  {:<28} {:<8} {:>6} {:>7} {:>7} {:>8} {:>9} {:>8}",
        "account",
        "status",
        "users",
        "7d",
        "prev 7d",
        "growth",
        "last seen",
        "features"
    );
    for a in &report.accounts {
        out!(
            "  {:<28} {:<8} {:>6} {:>7} {:>7} {:>8} {:>9} {:>8}",
            a.account,
            a.status.as_str(),
            a.active_users_30d,
            a.events_7d,
            a.events_prev_7d,
            Unit::Growth.show(a.growth),
            a.days_since_seen
                .map_or("never".to_string(), |d| format!("{d:.0} d ago")),
            a.features_30d
        );
    }
    out!("  growth leaders (≥ 10 events the week before):");
    for l in &report.growth_leaders {
        out!(
            "    {:<28} {:>8}  {} vs {} events",
            l.account,
            Unit::Growth.show(Some(l.growth)),
            l.events_7d,
            l.events_prev_7d
        );
    }
    out!("  feature adoption (accounts, last 30 days):");
    for f in &report.feature_adoption {
        out!("    {:<28} {:>6}", f.feature, f.accounts);
    }
    Ok(0)
}

pub fn sources(g: &Global, format: OutputFormat) -> Result<Exit> {
    let format = format_of(g, format);
    let (ctx, store, t) = open(g)?;
    let r = beton::sources::compare(&store, &ctx.config, t)?;
    match format {
        OutputFormat::Json => {
            json(&r);
            return Ok(0);
        }
        OutputFormat::Csv => {
            // One row per source; the quarters' win rates as one column each.
            let quarters = r.quarters();
            let mut head = header(&[
                "lead_source",
                "leads",
                "sqls",
                "won",
                "lost",
                "open",
                "win_rate",
                "close_rate",
                "avg_won_value",
                "median_sales_cycle_days",
                "open_pipeline",
            ]);
            head.extend(quarters.iter().map(|q| format!("win_rate_{q}")));
            let mut rows = vec![head];
            rows.extend(r.sources.iter().map(|s| {
                let mut row = vec![
                    s.lead_source.clone(),
                    count(s.leads),
                    count(s.sqls),
                    count(s.won),
                    count(s.lost),
                    count(s.open),
                    raw(s.win_rate),
                    raw(s.close_rate),
                    raw(s.avg_won_value),
                    raw(s.median_sales_cycle_days),
                    raw(Some(s.open_pipeline)),
                ];
                row.extend(quarters.iter().map(|q| {
                    raw(s
                        .quarters
                        .iter()
                        .find(|x| x.quarter == *q)
                        .and_then(|x| x.win_rate))
                }));
                row
            }));
            csv_out(rows)?;
            return Ok(0);
        }
        OutputFormat::Table => {}
    }
    out!(
        "Lead sources as of {}: {} deals created since {}",
        r.as_of,
        r.deals,
        r.from.get(..10).unwrap_or(&r.from)
    );
    for why in r.reasons.values() {
        out!("  n/a: {why}");
    }
    if r.pql_in_pipeline > 0 {
        out!(
            "  {} PQL deals were opened while their account had an open deal from another source: \
             counted once, under that deal",
            r.pql_in_pipeline
        );
    }
    out!(
        "  {:<10} {:>6} {:>5} {:>5} {:>5} {:>5} {:>9} {:>10} {:>10} {:>8} {:>12}",
        "source",
        "leads",
        "sqls",
        "won",
        "lost",
        "open",
        "win rate",
        "close rate",
        "avg won",
        "cycle",
        "open pipe"
    );
    for s in &r.sources {
        out!(
            "  {:<10} {:>6} {:>5} {:>5} {:>5} {:>5} {:>9} {:>10} {:>10} {:>8} {:>12}",
            s.lead_source,
            s.leads,
            s.sqls,
            s.won,
            s.lost,
            s.open,
            pct(s.win_rate),
            pct(s.close_rate),
            Unit::Money.show(s.avg_won_value),
            Unit::Days.show(s.median_sales_cycle_days),
            Unit::Money.show(Some(s.open_pipeline))
        );
    }
    let quarters = r.quarters();
    if !quarters.is_empty() {
        // One column per quarter, as wide as its label, under a header row.
        let widths: Vec<usize> = quarters.iter().map(|q| q.len().max(7)).collect();
        let head: Vec<String> = quarters
            .iter()
            .zip(&widths)
            .map(|(q, w)| format!("{q:>w$}"))
            .collect();
        out!("  win rate by quarter created:");
        out!("  {:<10} {}", "source", head.join(" "));
        for s in &r.sources {
            let cells: Vec<String> = quarters
                .iter()
                .zip(&widths)
                .map(|(q, w)| {
                    let v = s
                        .quarters
                        .iter()
                        .find(|x| x.quarter == *q)
                        .and_then(|x| x.win_rate);
                    format!("{:>w$}", pct(v))
                })
                .collect();
            out!("  {:<10} {}", s.lead_source, cells.join(" "));
        }
    }
    Ok(0)
}
