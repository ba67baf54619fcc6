//! `beton backtest` (SPEC §5, §10, §11) and `beton explain-signal`.

use super::*;

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
pub(super) fn backtest_rows(r: &BacktestReport) -> Vec<Vec<String>> {
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

pub(super) fn extra_sets(sets: &[String]) -> String {
    sets.iter().map(|s| format!(" --set {s}")).collect()
}

pub(super) fn print_reasons(label: &str, r: &BacktestReport) {
    for (figure, why) in &r.reasons {
        out!("  n/a {label} {figure}: {why}");
    }
}

pub(super) fn print_report(r: &BacktestReport) {
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
