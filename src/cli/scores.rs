//! `beton scores` and `beton explain`: the latest run's queue, one account's reasons.

use beton::signals::explain;
use beton::time::fmt_ts;
use beton::{Error, Result};

use super::args::{Global, OutputFormat, TierArg};
use super::common::{Exit, as_of, context};

pub fn explain_cmd(g: &Global, account: &str) -> Result<Exit> {
    let ctx = context(g)?;
    let t = as_of(g)?.unwrap_or_else(beton::time::now);
    super::common::warn_out_of_range(g, &ctx, t);
    let (s, parent) = beton::pipeline::explain_account(&ctx, account, t)?;
    let route = beton::pipeline::explain_route(&ctx, &s, t)?;
    let suppressed = beton::pipeline::explain_suppression(&ctx, &s.account, t)?;
    // After `beton learn --apply`: the model's win probability and each type's log-odds.
    let fired: Vec<_> = s.fired.iter().map(|f| f.signal).collect();
    let learned = ctx
        .open_store()?
        .current_model()?
        .map(|m| beton::learn::chance(&m, &fired));
    if g.json {
        let mut v = serde_json::to_value(&s).unwrap_or_default();
        if let Some(m) = v.as_object_mut() {
            m.insert(
                "routing".into(),
                serde_json::to_value(&route).unwrap_or_default(),
            );
            m.insert(
                "suppressed".into(),
                serde_json::to_value(suppressed.map(|x| x.kind)).unwrap_or_default(),
            );
            m.insert(
                "suppressed_until".into(),
                serde_json::to_value(suppressed.map(|x| x.until_ts())).unwrap_or_default(),
            );
            if let Some(p) = parent.as_ref().filter(|p| is_parent(p)) {
                if let Some(asked) = &p.asked {
                    m.insert("workspace".into(), serde_json::json!(asked));
                }
                m.insert("active_users".into(), serde_json::json!(p.users));
                m.insert(
                    "workspaces".into(),
                    serde_json::to_value(&p.parts).unwrap_or_default(),
                );
            }
            if let Some(l) = &learned {
                m.insert(
                    "learned".into(),
                    serde_json::to_value(l).unwrap_or_default(),
                );
            }
        }
        out!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        out!("as of {}", fmt_ts(t));
        if let Some(asked) = parent.as_ref().and_then(|p| p.asked.as_ref()) {
            out!(
                "{asked} is a workspace of {}: it is scored at the parent",
                s.account
            );
        }
        for line in explain(&s, &ctx.config) {
            out!("{line}");
        }
        for line in parent.iter().flat_map(|p| parent_lines(p, &ctx.config)) {
            out!("{line}");
        }
        for line in beton::signals::routing::explain(&route) {
            out!("{line}");
        }
        if let Some(x) = &suppressed {
            out!("  {}", x.line());
        }
        for line in learned.iter().flat_map(|c| c.lines()) {
            out!("{line}");
        }
    }
    Ok(0)
}

/// True when the explained account has workspaces besides its own account.
fn is_parent(p: &beton::signals::parents::Explained) -> bool {
    p.parts.iter().any(|w| w.account != p.score.account)
}

/// Each workspace's part of a parent, for `explain` (nothing for an account that stands alone).
fn parent_lines(
    p: &beton::signals::parents::Explained,
    cfg: &beton::config::Config,
) -> Vec<String> {
    if !is_parent(p) {
        return Vec::new();
    }
    let days = cfg.signals.usage_spike.window_days;
    let plural = |n: u64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    let mut lines = vec![format!(
        "  {} workspaces, {} in {days} days (each counted once):",
        p.parts.len(),
        plural(p.users, "active user")
    )];
    let width = p.parts.iter().map(|w| w.account.len()).max().unwrap_or(0);
    for w in &p.parts {
        let own = if w.account == p.score.account {
            " (its own account)"
        } else {
            ""
        };
        let fed: Vec<&str> = w.signals.iter().map(|s| s.as_str()).collect();
        lines.push(format!(
            "    {:<width$}  {}, {}; {}{own}",
            w.account,
            plural(w.events, "event"),
            plural(w.users, "user"),
            if fed.is_empty() {
                "fed no fired signal".to_string()
            } else {
                format!("fed {}", fed.join(", "))
            }
        ));
    }
    lines
}

pub fn scores(g: &Global, tier: Option<TierArg>, format: OutputFormat) -> Result<Exit> {
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
    // SPEC §10: the dispositions in force at the run's T (the run left these accounts unrouted).
    let book = beton::feedback::Book::load(&store)?;
    let sup = |account: &str| book.suppression(&ctx.config.feedback, account, run.as_of);
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
                    let x = sup(&r.account);
                    serde_json::json!({"account": r.account, "score": r.score, "tier": r.tier, "routed": r.routed,
                                        "signals": s.split(", ").filter(|x| !x.is_empty()).collect::<Vec<_>>(),
                                        "suppressed": x.map(|x| x.kind),
                                        "suppressed_until": x.map(|x| x.until_ts())})
                })
                .collect();
            let out =
                serde_json::json!({"run_id": run.id, "as_of": fmt_ts(run.as_of), "accounts": list});
            out!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        }
        OutputFormat::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            let fail = |e: csv::Error| Error::Usage(format!("writing CSV: {e}"));
            w.write_record([
                "account",
                "score",
                "tier",
                "routed",
                "signals",
                "suppressed",
                "suppressed_until",
            ])
            .map_err(fail)?;
            for (r, s) in &rows {
                // A spreadsheet runs a cell that starts with = + - @: neutralised.
                w.write_record([
                    beton::safe::csv_cell(&r.account).as_ref(),
                    &r.score.to_string(),
                    &r.tier,
                    &r.routed.to_string(),
                    &beton::safe::csv_cell(s),
                    sup(&r.account).map_or("", |x| x.kind.as_str()),
                    &sup(&r.account).map(|x| x.until_ts()).unwrap_or_default(),
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
                let routed = match sup(&r.account) {
                    Some(_) => "supp.",
                    None if r.routed => "yes",
                    None => "",
                };
                let until = sup(&r.account)
                    .map(|x| {
                        format!(
                            "  (suppressed: {} until {})",
                            x.kind,
                            beton::time::fmt_date(x.until)
                        )
                    })
                    .unwrap_or_default();
                out!(
                    "{:>5}  {:<5}  {:<6}  {:<30}  {s}{until}",
                    r.score,
                    r.tier,
                    routed,
                    r.account
                );
            }
        }
    }
    Ok(0)
}
