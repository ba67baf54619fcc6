//! `beton alerts`, `beton watch` and `beton incrementality` (docs/ALERTS.md).

use std::time::{Duration, Instant};

use beton::alerts::render;
use beton::config::SourceKind;
use beton::pipeline::{RunOptions, run_daily};
use beton::progress::Silent;
use beton::source::{Budget, Source};
use beton::time::{fmt_ts, now};
use beton::{Error, Result};

use super::args::Global;
use super::common::{Exit, as_of, context};

fn when(t: Option<i64>) -> String {
    t.map(fmt_ts).unwrap_or_else(|| "-".into())
}

/// `beton alerts`: the outbox (alerts, digests and CRM writes), or with `--dry-run` what a run at
/// T would send.
pub fn alerts(g: &Global, dry_run: bool, account: Option<&str>) -> Result<Exit> {
    let ctx = context(g)?;
    let store = ctx.open_store()?;
    if dry_run {
        let t = as_of(g)?.unwrap_or_else(now);
        let client = beton::source::client(&ctx.paths, &ctx.config, Budget::Run)
            .map_err(|e| Error::Usage(e.to_string()))?;
        let plan = beton::pipeline::steps::alerts::preview(
            &store,
            &ctx.config,
            Source::of(client.as_ref()),
            t,
            &Silent,
        )?;
        let dest = beton::alerts::destinations(&ctx.paths)?;
        if g.json {
            let v = serde_json::json!({
                "as_of": fmt_ts(t),
                "channels": dest.channels(),
                "alerts": plan.alerts.iter().map(|a| serde_json::json!({
                    "alert": a, "webhook": render::alert_json(a), "slack": render::alert_slack(a)})).collect::<Vec<_>>(),
                "digest": plan.digest.as_ref().map(|d| serde_json::json!({
                    "digest": d, "webhook": render::digest_json(d), "slack": render::digest_slack(d)})),
            });
            out!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            return Ok(0);
        }
        let to = if dest.is_empty() {
            "no destination configured: set BETON_SLACK_WEBHOOK_URL or BETON_ALERT_WEBHOOK_URL (docs/ALERTS.md)".to_string()
        } else {
            dest.channels().join(" and ")
        };
        out!(
            "Dry run as of {}: nothing is recorded or sent ({to})",
            fmt_ts(t)
        );
        if plan.alerts.is_empty() {
            out!("  no alert is due");
        }
        for a in &plan.alerts {
            out!("  {}", render::summary(a));
            for e in &a.evidence {
                out!("      {e}");
            }
        }
        match &plan.digest {
            Some(d) => out!(
                "  digest {}: {} hot, {} warm, top {}, {} alerts rolled in",
                d.date,
                d.hot,
                d.warm,
                d.top.len(),
                d.rolled_in.len()
            ),
            None => out!(
                "  no digest at this T (before the digest hour, sent already, quiet, or nothing to report)"
            ),
        }
        return Ok(0);
    }
    let id = match account {
        Some(k) => Some(
            store
                .account_id(k)?
                .ok_or_else(|| Error::Usage(format!("no account `{k}` in this workspace")))?,
        ),
        None => None,
    };
    let rows = store.outbox_entries(id, 500)?;
    if g.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(0);
    }
    if rows.is_empty() {
        out!("The outbox is empty: no alert, digest or CRM write yet.");
        return Ok(0);
    }
    out!(
        "{:<8} {:<7} {:<9} {:<22} {:<22} KEY",
        "CHANNEL",
        "KIND",
        "STATE",
        "QUEUED",
        "DONE"
    );
    for r in &rows {
        let mut line = format!(
            "{:<8} {:<7} {:<9} {:<22} {:<22} {}",
            r.channel,
            r.kind,
            r.state,
            fmt_ts(r.created_at),
            when(r.done_at),
            r.key
        );
        if r.attempts > 1 {
            line.push_str(&format!(" ({} tries)", r.attempts));
        }
        if let Some(e) = &r.error {
            line.push_str(&format!(" — {e}"));
        }
        out!("{line}");
    }
    Ok(0)
}

/// Parses `15m`, `1h`, `90s` or a number of minutes.
pub fn parse_every(s: &str) -> Result<Duration> {
    let s = s.trim();
    let bad = || Error::Usage(format!("--every {s:?}: expected e.g. 15m, 1h or 90s"));
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "m"),
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(bad()),
    };
    if secs < 60 {
        return Err(Error::Usage(format!(
            "--every {s}: at least 1m between runs"
        )));
    }
    Ok(Duration::from_secs(secs))
}

/// The PostHog query endpoint's sustained limit Beton plans for (the legacy HogQL throttle, the
/// lowest documented: 120 per hour per project).
pub const POSTHOG_QUERIES_PER_HOUR: u64 = 120;

/// `beton watch --every 15m`: the daily pipeline on a schedule until stopped (Ctrl-C). Runs never
/// overlap: they run one after another in this process, and the workspace lock keeps out a cron
/// or TUI run at the same moment. With the local source a tick runs only when an import changed
/// the workspace since the last run; with PostHog every tick runs, and the interval must leave
/// the runs inside the query budget.
pub fn watch(g: &Global, every: &str, runs: Option<u32>) -> Result<Exit> {
    let every = parse_every(every)?;
    let ctx = context(g)?;
    if g.as_of.is_some() {
        return Err(Error::Usage(
            "watch runs at the current time; --as-of is for single runs".into(),
        ));
    }
    if ctx.config.source == SourceKind::Posthog
        && let Some(p) = &ctx.config.posthog
    {
        let per_hour = (3600 / every.as_secs().max(1)).max(1);
        let needed = per_hour * u64::from(p.query_budget);
        if needed > POSTHOG_QUERIES_PER_HOUR {
            return Err(Error::Usage(format!(
                "--every {}m with posthog.query_budget = {} could use {needed} queries an hour, over PostHog's \
                 {POSTHOG_QUERIES_PER_HOUR} per hour: choose a longer interval or a smaller budget",
                every.as_secs() / 60,
                p.query_budget
            )));
        }
    }
    let mut last_data: Option<String> = None;
    let mut worst = 0;
    let mut done = 0u32;
    loop {
        let started = Instant::now();
        let fresh = if ctx.config.source == SourceKind::Local {
            let fp = ctx.open_store()?.data_fingerprint()?;
            let changed = last_data.as_ref() != Some(&fp);
            last_data = Some(fp);
            changed
        } else {
            true
        };
        if fresh {
            let result = run_daily(&ctx, &RunOptions::default(), &Silent);
            match result {
                Ok(r) => {
                    let r = r.report;
                    worst = worst.max(r.exit_code());
                    if g.json {
                        out!("{}", serde_json::to_string(&r).unwrap_or_default());
                    } else {
                        let sent = r.alerts.iter().filter(|a| a.state == "done").count();
                        let failed: Vec<&str> = r
                            .steps
                            .iter()
                            .filter(|s| s.status == beton::daily::StepStatus::Failed)
                            .map(|s| s.name.as_str())
                            .collect();
                        out!(
                            "{} run {}: {} hot, {} warm, {} routed, {} emitted, {sent} alerts delivered{}",
                            fmt_ts(now()),
                            r.run_id,
                            r.hot,
                            r.warm,
                            r.routed,
                            r.emitted,
                            if failed.is_empty() {
                                String::new()
                            } else {
                                format!("; failed: {}", failed.join(", "))
                            }
                        );
                    }
                }
                Err(e) => {
                    worst = worst.max(1);
                    eprintln!("beton watch: {e}");
                }
            }
            done += 1;
        } else if !g.json {
            out!("{} no new data since the last run: skipped", fmt_ts(now()));
        }
        if runs.is_some_and(|n| done >= n) {
            return Ok(worst);
        }
        // A run longer than the interval is followed by the next at once, never by two.
        let spent = started.elapsed();
        std::thread::sleep(every.saturating_sub(spent));
    }
}

/// `beton incrementality`.
pub fn incrementality(g: &Global) -> Result<Exit> {
    let ctx = context(g)?;
    let store = ctx.open_store()?;
    let t = as_of(g)?.unwrap_or_else(now);
    let x = beton::holdout::incrementality(&store, &ctx.config, t)?;
    if g.json {
        out!("{}", serde_json::to_string_pretty(&x).unwrap_or_default());
        return Ok(0);
    }
    let pct = |r: Option<f64>| r.map_or("-".into(), |r| format!("{:.1} %", r * 100.0));
    out!(
        "Incrementality as of {} (win within {} days of the first routing)",
        x.as_of,
        x.horizon_days
    );
    out!(
        "  treated:  {:>5} accounts, {:>4} won, {}",
        x.treated.accounts,
        x.treated.won,
        pct(x.treated.rate)
    );
    out!(
        "  held out: {:>5} accounts, {:>4} won, {}",
        x.held_out.accounts,
        x.held_out.won,
        pct(x.held_out.rate)
    );
    if x.pending > 0 {
        out!(
            "  {} more accounts were routed less than {} days ago: not judged yet",
            x.pending,
            x.horizon_days
        );
    }
    match (x.diff_pp, x.diff_ci95_pp) {
        (Some(d), Some([lo, hi])) => {
            out!("  difference: {d:+.1} pp (95 % interval {lo:+.1} to {hi:+.1} pp, Newcombe)");
            if let Some(p) = x.p_value {
                out!("  p-value: {p:.4} (two-proportion z-test)");
            }
            if let (Some(w), Some(v)) = (x.incremental_wins, x.incremental_value) {
                out!("  incremental wins: {w:.1}; incremental value: {v:.0}");
            }
            if let Some(m) = x.mdd_pp {
                out!("  detectable with 80 % power at these sizes: ±{m:.1} pp");
            }
        }
        _ => out!("  {}", x.reason.as_deref().unwrap_or("not enough data")),
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_takes_units() {
        assert_eq!(parse_every("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_every("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_every("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_every("5").unwrap(), Duration::from_secs(300));
        assert!(parse_every("10s").is_err());
        assert!(parse_every("fast").is_err());
    }
}
