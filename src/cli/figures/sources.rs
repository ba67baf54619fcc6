//! `beton sources` (SPEC §6) and the holdout's incrementality.

use super::*;

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
