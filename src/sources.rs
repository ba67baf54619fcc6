//! Source comparison (SPEC §6): per lead source, how the deals created in the period did, as of T.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::deals::Outcome;
use crate::error::Result;
use crate::store::{DealRow, Store};
use crate::time::{DAY, fmt_ts};

/// Win rate of the leads one source created in one calendar quarter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarterRate {
    /// `2026-Q2`.
    pub quarter: String,
    pub leads: u64,
    pub won: u64,
    /// null when the source had no lead that quarter.
    pub win_rate: Option<f64>,
}

/// One lead source's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceFigures {
    pub lead_source: String,
    pub leads: u64,
    pub sqls: u64,
    pub won: u64,
    pub lost: u64,
    pub open: u64,
    /// won ÷ leads.
    pub win_rate: Option<f64>,
    /// won ÷ (won + lost); null when none closed.
    pub close_rate: Option<f64>,
    pub avg_won_value: Option<f64>,
    pub median_sales_cycle_days: Option<f64>,
    pub open_pipeline: f64,
    pub quarters: Vec<QuarterRate>,
    /// Why a figure is null, by figure name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reasons: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceReport {
    pub as_of: String,
    pub period_days: u32,
    /// Deals created in [from, as_of) are compared.
    pub from: String,
    pub deals: u64,
    /// `pql` first, then by leads.
    pub sources: Vec<SourceFigures>,
    /// PQL deals created in the period while their account already had an open deal from another
    /// source: one opportunity, counted once, under the existing deal (SPEC §8).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pql_in_pipeline: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reasons: BTreeMap<String, String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

pub use crate::deals::outcome_at;

fn quarter(ts: i64) -> (i32, u32) {
    let dt = DateTime::<Utc>::from_timestamp_micros(ts).unwrap_or_default();
    (dt.year(), (dt.month() - 1) / 3 + 1)
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[m]),
        _ => Some((v[m - 1] + v[m]) / 2.0),
    }
}

impl SourceReport {
    /// Every calendar quarter any source has, in order (the columns of a quarter table).
    pub fn quarters(&self) -> Vec<String> {
        let mut q: Vec<String> = self
            .sources
            .iter()
            .flat_map(|s| s.quarters.iter().map(|q| q.quarter.clone()))
            .collect();
        q.sort();
        q.dedup();
        q
    }
}

/// Compares the lead sources of the deals in the store at `t`. With parent accounts a
/// workspace's deals are its parent's (SPEC §14): a PQL deal next to an open deal on another
/// workspace of the same parent is that opportunity.
pub fn compare(store: &Store, cfg: &Config, t: i64) -> Result<SourceReport> {
    Ok(report(
        &crate::signals::parents::deals_at(store, cfg, t)?,
        cfg,
        t,
    ))
}

/// The SPEC §6 table of `deals` at `t`.
pub fn report(all: &[DealRow], cfg: &Config, t: i64) -> SourceReport {
    let from = t - i64::from(cfg.sources.period_days) * DAY;
    let (deals, _) = crate::deals::one_per_opportunity(all, cfg);
    let in_range = |d: &&DealRow| d.created_at >= from && d.created_at < t;
    let in_period: Vec<&DealRow> = deals.iter().filter(in_range).collect();
    let pql_in_pipeline = (all.iter().filter(in_range).count() - in_period.len()) as u64;
    let mut quarters: Vec<(i32, u32)> = Vec::new();
    let (mut q, last) = (quarter(from), quarter(t - 1));
    while q <= last {
        quarters.push(q);
        q = if q.1 == 4 {
            (q.0 + 1, 1)
        } else {
            (q.0, q.1 + 1)
        };
    }
    let mut by_source: BTreeMap<String, Vec<&DealRow>> = BTreeMap::new();
    for d in &in_period {
        by_source
            .entry(d.lead_source.trim().to_lowercase())
            .or_default()
            .push(d);
    }
    let mut sources: Vec<SourceFigures> = by_source
        .into_iter()
        .map(|(name, ds)| source(name, &ds, cfg, t, &quarters))
        .collect();
    sources.sort_by(|a, b| {
        (b.lead_source == "pql")
            .cmp(&(a.lead_source == "pql"))
            .then(b.leads.cmp(&a.leads))
            .then(a.lead_source.cmp(&b.lead_source))
    });
    let mut reasons = BTreeMap::new();
    if in_period.is_empty() {
        reasons.insert(
            "sources".into(),
            format!(
                "no deal was created in the {} days before T",
                cfg.sources.period_days
            ),
        );
    }
    SourceReport {
        as_of: fmt_ts(t),
        period_days: cfg.sources.period_days,
        from: fmt_ts(from),
        deals: in_period.len() as u64,
        sources,
        pql_in_pipeline,
        reasons,
    }
}

fn source(
    name: String,
    deals: &[&DealRow],
    cfg: &Config,
    t: i64,
    quarters: &[(i32, u32)],
) -> SourceFigures {
    let (mut won, mut lost, mut open, mut sqls) = (0u64, 0u64, 0u64, 0u64);
    let (mut won_values, mut cycles, mut open_pipeline) = (Vec::new(), Vec::new(), 0.0);
    let mut per_quarter: BTreeMap<(i32, u32), (u64, u64)> = BTreeMap::new();
    for d in deals {
        let o = outcome_at(d, cfg, t);
        let slot = per_quarter.entry(quarter(d.created_at)).or_default();
        slot.0 += 1;
        match o {
            Outcome::Won => {
                won += 1;
                slot.1 += 1;
                won_values.extend(d.value);
                if let Some(c) = d.closed_at {
                    cycles.push((c - d.created_at) as f64 / DAY as f64);
                }
            }
            Outcome::Lost => lost += 1,
            Outcome::Open => {
                open += 1;
                open_pipeline += d.value.unwrap_or(0.0);
            }
        }
        sqls += u64::from(o == Outcome::Won || d.sql_at.is_some_and(|s| s <= t));
    }
    let leads = deals.len() as u64;
    let ratio = |n: u64, d: u64| (d > 0).then(|| n as f64 / d as f64);
    let mut reasons = BTreeMap::new();
    let close_rate = ratio(won, won + lost);
    if close_rate.is_none() {
        reasons.insert(
            "close_rate".into(),
            "no deal of this source has closed yet".into(),
        );
    }
    let avg_won_value =
        (!won_values.is_empty()).then(|| won_values.iter().sum::<f64>() / won_values.len() as f64);
    if avg_won_value.is_none() {
        reasons.insert("avg_won_value".into(), "no won deal with a value".into());
    }
    let median_sales_cycle_days = median(cycles);
    if median_sales_cycle_days.is_none() {
        reasons.insert(
            "median_sales_cycle_days".into(),
            "no won deal with a close date".into(),
        );
    }
    SourceFigures {
        lead_source: name,
        leads,
        sqls,
        won,
        lost,
        open,
        win_rate: ratio(won, leads),
        close_rate,
        avg_won_value,
        median_sales_cycle_days,
        open_pipeline,
        quarters: quarters
            .iter()
            .map(|q| {
                let (n, w) = per_quarter.get(q).copied().unwrap_or_default();
                QuarterRate {
                    quarter: format!("{}-Q{}", q.0, q.1),
                    leads: n,
                    won: w,
                    win_rate: ratio(w, n),
                }
            })
            .collect(),
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_ts;

    fn t(s: &str) -> i64 {
        parse_ts(s).expect("timestamp")
    }

    fn deal(source: &str, stage: &str, created: &str, closed: Option<&str>, value: f64) -> DealRow {
        DealRow {
            deal_id: format!("{source}-{created}-{stage}"),
            account_key: "a.com".into(),
            name: None,
            lead_source: source.into(),
            stage: stage.into(),
            value: Some(value),
            created_at: t(created),
            sql_at: None,
            closed_at: closed.map(t),
            owner_email: None,
        }
    }

    #[test]
    fn a_pql_deal_on_an_account_in_pipeline_is_not_a_second_lead() {
        let as_of = t("2026-06-15T00:00:00Z");
        let deals = [
            deal("inbound", "proposal", "2026-03-01", None, 40.0),
            deal("pql", "Lead", "2026-04-01", None, 70.0),
        ];
        let r = report(&deals, &Config::default(), as_of);
        assert_eq!((r.deals, r.pql_in_pipeline), (1, 1));
        let names: Vec<&str> = r.sources.iter().map(|s| s.lead_source.as_str()).collect();
        assert_eq!(names, vec!["inbound"]);
        assert_eq!(r.sources[0].leads, 1);
        // Before the inbound deal existed, the PQL deal was its own opportunity.
        let mut early = deals.to_vec();
        early[1].created_at = t("2026-02-01");
        let r = report(&early, &Config::default(), as_of);
        assert_eq!((r.deals, r.pql_in_pipeline), (2, 0));
    }

    #[test]
    fn figures_per_source_with_quarters_and_outcomes_as_of_t() {
        let as_of = t("2026-06-15T00:00:00Z");
        let deals = [
            deal("PQL", "won", "2026-01-10", Some("2026-01-20"), 100.0),
            deal("pql", "closed_won", "2026-04-01", Some("2026-04-21"), 300.0),
            deal("pql", "lost", "2026-04-02", Some("2026-05-01"), 50.0),
            deal("pql", "negotiation", "2026-05-01", None, 70.0),
            deal("pql", "won", "2026-05-02", Some("2026-07-01"), 999.0), // closes after T: open then
            deal("inbound", "lost", "2026-02-01", Some("2026-03-01"), 10.0),
            deal("inbound", "won", "2025-01-01", Some("2025-02-01"), 10.0), // before the period
            deal("inbound", "won", "2026-06-15", Some("2026-06-16"), 10.0), // created at T: after
        ];
        let mut sql = deal("inbound", "proposal", "2026-03-01", None, 40.0);
        sql.sql_at = Some(t("2026-03-05"));
        // Another account: on a.com this open deal would make the later PQL deals one
        // opportunity with it (SPEC §8, the next test).
        sql.account_key = "b.com".into();
        let mut deals = deals.to_vec();
        deals.push(sql);
        let r = report(&deals, &Config::default(), as_of);
        assert_eq!(r.deals, 7);
        let names: Vec<&str> = r.sources.iter().map(|s| s.lead_source.as_str()).collect();
        assert_eq!(names, vec!["pql", "inbound"]);
        let pql = &r.sources[0];
        assert_eq!(
            (pql.leads, pql.sqls, pql.won, pql.lost, pql.open),
            (5, 2, 2, 1, 2)
        );
        assert_eq!(pql.win_rate, Some(0.4));
        assert_eq!(pql.close_rate, Some(2.0 / 3.0));
        assert_eq!(pql.avg_won_value, Some(200.0));
        assert_eq!(pql.median_sales_cycle_days, Some(15.0));
        assert_eq!(pql.open_pipeline, 70.0 + 999.0);
        let quarters: Vec<(&str, u64, Option<f64>)> = pql
            .quarters
            .iter()
            .map(|q| (q.quarter.as_str(), q.leads, q.win_rate))
            .collect();
        assert_eq!(
            quarters,
            vec![
                ("2025-Q2", 0, None),
                ("2025-Q3", 0, None),
                ("2025-Q4", 0, None),
                ("2026-Q1", 1, Some(1.0)),
                ("2026-Q2", 4, Some(0.25)),
            ]
        );
        let inbound = &r.sources[1];
        assert_eq!((inbound.leads, inbound.sqls, inbound.won), (2, 1, 0));
        assert_eq!(
            (inbound.win_rate, inbound.close_rate),
            (Some(0.0), Some(0.0))
        );
        assert_eq!(
            (inbound.avg_won_value, inbound.median_sales_cycle_days),
            (None, None)
        );
        assert!(inbound.reasons.contains_key("avg_won_value"));
    }

    #[test]
    fn no_deals_in_the_period_says_so() {
        let r = report(&[], &Config::default(), t("2026-06-15"));
        assert!(r.sources.is_empty());
        assert!(
            r.reasons["sources"].contains("no deal was created"),
            "{:?}",
            r.reasons
        );
    }

    #[test]
    fn a_source_with_nothing_closed_has_no_close_rate() {
        let r = report(
            &[deal("partner", "discovery", "2026-06-01", None, 5.0)],
            &Config::default(),
            t("2026-06-15"),
        );
        let p = &r.sources[0];
        assert_eq!(
            (p.win_rate, p.close_rate, p.open_pipeline),
            (Some(0.0), None, 5.0)
        );
        assert_eq!(
            p.reasons["close_rate"],
            "no deal of this source has closed yet"
        );
    }
}
