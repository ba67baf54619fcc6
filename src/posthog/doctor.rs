//! Data source checks: what the project has over the last 30 days, which signals can fire, and
//! how many queries a run uses against the budget.

use serde::Serialize;
use serde_json::{Map, Value};

use super::PosthogError;
use super::client::{Client, HogQl};
use super::hogql::prop_keys;
use crate::config::{Config, PosthogSettings};
use crate::signals::SignalType;
use crate::store::FEATURE_EVENT;
use crate::time::{DAY, SECOND, fmt_ts};

pub const SOURCES: &str = "beton_doctor_sources";
pub const GROUPS: &str = "beton_doctor_groups";

/// What the project has in the 30 days before T.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sources {
    pub events: u64,
    pub events_with_account: u64,
    pub accounts_active: u64,
    pub pricing_views: u64,
    pub feature_used: u64,
    pub support_events: u64,
    pub billing_events: u64,
    pub group_identify: u64,
    pub groups: u64,
    /// Groups having each property the rules read.
    pub groups_with: Vec<(String, u64)>,
    /// The deals table's check (present, with every column the deal tiles read), or None when
    /// it was not checked.
    pub deals: Option<super::warehouse::DealsCheck>,
}

impl Sources {
    /// Whether a tile's data source (`features`, `support`, `billing`, `deals`) is present.
    pub fn has(&self, need: &str) -> bool {
        match need {
            "features" => self.feature_used > 0,
            "support" => self.support_events > 0,
            "billing" => self.billing_events > 0,
            "deals" => self.deals.as_ref().is_some_and(|d| d.ok()),
            _ => true,
        }
    }

    fn with(&self, key: &str) -> u64 {
        self.groups_with
            .iter()
            .find(|(k, _)| k == key)
            .map_or(0, |(_, n)| *n)
    }

    /// Per signal: whether it can fire on this data, and why not.
    pub fn signals(&self, cfg: &Config) -> Vec<(SignalType, bool, String)> {
        let s = &cfg.signals;
        SignalType::ALL
            .into_iter()
            .map(|t| {
                let (ok, why) = match t {
                    SignalType::UsageSpike | SignalType::TeamGrowth => (
                        self.events_with_account > 0,
                        "no events with a company group".to_string(),
                    ),
                    SignalType::PricingIntent => (
                        self.pricing_views > 0,
                        "no $pageview on a pricing URL".into(),
                    ),
                    SignalType::FeatureAdoption => {
                        (self.feature_used > 0, format!("no {FEATURE_EVENT} events"))
                    }
                    SignalType::LimitApproaching => (
                        s.limit_approaching
                            .pairs
                            .iter()
                            .any(|[u, l]| self.with(u) > 0 && self.with(l) > 0),
                        "no account has both properties of a usage/limit pair".into(),
                    ),
                    SignalType::TrialExpiring => (
                        self.with(&s.trial_expiring.property) > 0,
                        format!("no account has `{}`", s.trial_expiring.property),
                    ),
                    SignalType::SupportEngagement => (
                        self.support_events > 0,
                        "no support (Intercom) events".into(),
                    ),
                    SignalType::BillingIntent => {
                        (self.billing_events > 0, "no checkout/Stripe events".into())
                    }
                };
                (t, ok, if ok { String::new() } else { why })
            })
            .collect()
    }
}

/// A deals table name is an identifier in the SQL: letters, digits, `_` and `.` only.
pub fn valid_table(name: &str) -> bool {
    crate::config::valid_table(name)
}

/// The doctor's queries at `t`.
pub fn queries(cfg: &Config, p: &PosthogSettings, t: i64) -> Vec<HogQl> {
    let t = t - t.rem_euclid(SECOND);
    let s = &cfg.signals;
    let g = format!("$group_{}", p.group_type_index);
    let mut v = super::hogql::Values::default();
    let support = v.names("sup", "event", &s.support_engagement.events);
    let billing = v.names("bil", "event", &s.billing_intent.events);
    let pv = v.put("pageview", "$pageview");
    let urls = v.pricing_urls(&s.pricing_intent.url_patterns);
    let fe = v.put("feature_event", FEATURE_EVENT);
    let gi = v.put("identify_event", "$groupidentify");
    let from = v.put("from", fmt_ts(t - 30 * DAY));
    let to = v.put("t", fmt_ts(t));
    let sources = HogQl {
        name: SOURCES.into(),
        sql: format!(
            "SELECT count() AS events, countIf({g} != '') AS events_with_account,
    uniqIf({g}, {g} != '') AS accounts_active,
    countIf({g} != '' AND event = {pv} AND ({urls})) AS pricing_views,
    countIf({g} != '' AND event = {fe}) AS feature_used,
    countIf({g} != '' AND {support}) AS support_events,
    countIf({g} != '' AND {billing}) AS billing_events,
    countIf(event = {gi}) AS group_identify
FROM events
WHERE timestamp >= toDateTime({from}) AND timestamp < toDateTime({to})"
        ),
        values: v.0,
    };
    let keys = prop_keys(cfg);
    let mut gv = Map::new();
    gv.insert("group_index".into(), p.group_type_index.into());
    let mut cols = vec!["count() AS groups".to_string()];
    for (i, k) in keys.iter().enumerate() {
        gv.insert(format!("k{i}"), k.as_str().into());
        cols.push(format!(
            "countIf(JSONHas(properties, {{k{i}}}) = 1) AS with{i}"
        ));
    }
    let groups = HogQl {
        name: GROUPS.into(),
        sql: format!(
            "SELECT {} FROM groups WHERE index = {{group_index}}",
            cols.join(", ")
        ),
        values: gv,
    };
    vec![sources, groups]
}

fn first_u64(rows: &super::Rows, col: &str) -> u64 {
    let Some(i) = rows.columns.iter().position(|c| c == col) else {
        return 0;
    };
    match rows.rows.first().and_then(|r| r.get(i)) {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// Runs the checks. The deals table is checked through the warehouse APIs (its columns, not
/// its rows); a missing table, or a key without the warehouse scopes, is reported, not an error.
pub fn check(client: &Client, cfg: &Config, t: i64) -> Result<Sources, PosthogError> {
    let p = super::settings(cfg)?;
    let mut out = Sources::default();
    for q in queries(cfg, p, t) {
        let rows = client.query(&q)?;
        match q.name.as_str() {
            SOURCES => {
                out.events = first_u64(&rows, "events");
                out.events_with_account = first_u64(&rows, "events_with_account");
                out.accounts_active = first_u64(&rows, "accounts_active");
                out.pricing_views = first_u64(&rows, "pricing_views");
                out.feature_used = first_u64(&rows, "feature_used");
                out.support_events = first_u64(&rows, "support_events");
                out.billing_events = first_u64(&rows, "billing_events");
                out.group_identify = first_u64(&rows, "group_identify");
            }
            GROUPS => {
                out.groups = first_u64(&rows, "groups");
                out.groups_with = prop_keys(cfg)
                    .into_iter()
                    .enumerate()
                    .map(|(i, k)| (k, first_u64(&rows, &format!("with{i}"))))
                    .collect();
            }
            _ => {}
        }
    }
    out.deals = Some(match super::warehouse::check_deals(client, p) {
        Ok(c) => c,
        Err(e @ (PosthogError::Forbidden { .. } | PosthogError::Http { .. })) => {
            super::warehouse::DealsCheck {
                table: p.deals_table.clone(),
                error: Some(e.to_string()),
                ..Default::default()
            }
        }
        Err(e) => return Err(e),
    });
    Ok(out)
}
