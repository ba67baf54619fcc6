//! `beton health` (SPEC §4).

use super::*;

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
