//! `--run-daily` (and `beton` with no command when piped): run the pipeline, print the report.

use beton::Result;
use beton::pipeline::{RunOptions, run_daily};
use beton::progress::Silent;

use super::args::Global;
use super::common::{Exit, as_of, context};

pub fn daily(g: &Global) -> Result<Exit> {
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
