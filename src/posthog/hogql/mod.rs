//! Detection as HogQL: three set-based queries per run (plus pages when an answer is truncated)
//! compute every account's [`Metrics`] at T inside PostHog, so only per-account numbers travel.
//! The rules and the score are the embedded store's, unchanged ([`crate::signals::rules`]).
//!
//! Every value (times, event names, URL patterns, property names, the page cursor) is passed
//! through the query API's `values` placeholders; only the group index (`$group_N`, a number
//! from `beton connect`) is part of the SQL text. Each query reads a bounded time range
//! strictly before T, in half-open windows `[a, b)` as SPEC §2 defines them.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::PosthogError;
use super::client::{Client, HogQl, Rows};
use crate::config::Config;
use crate::signals::Metrics;
use crate::store::FEATURE_EVENT;
use crate::time::{DAY, SECOND, fmt_ts};

mod answers;
mod first_seen;
mod queries;

use answers::as_ts;
pub use answers::from_answers;
pub use first_seen::{first_seen, first_seen_from, first_seen_query, first_seen_range};
pub use queries::{counts_query, new_query, props_query};

/// The names of the detection queries, in the order they run.
pub const COUNTS: &str = "beton_detect_counts";
pub const NEW: &str = "beton_detect_new";
pub const PROPS: &str = "beton_detect_props";
/// The backtest's query for each account's first event.
pub const FIRST_SEEN: &str = "beton_backtest_first_seen";

/// Values for `{placeholders}`, named in order of use.
#[derive(Default)]
pub(super) struct Values(pub(super) Map<String, Value>);

impl Values {
    pub(super) fn put(&mut self, name: &str, v: impl Into<Value>) -> String {
        self.0.insert(name.to_string(), v.into());
        format!("{{{name}}}")
    }

    /// `toDateTime({name})` for an instant (whole seconds, UTC with a `Z`).
    fn ts(&mut self, name: &str, t: i64) -> String {
        let p = self.put(name, fmt_ts(t - t.rem_euclid(SECOND)));
        format!("toDateTime({p})")
    }

    /// `(event = {a0} OR startsWith(event, {a1}) …)` for a name list (trailing `*` = prefix).
    pub(super) fn names(&mut self, prefix: &str, col: &str, list: &[String]) -> String {
        if list.is_empty() {
            return "(1 = 0)".into();
        }
        let parts: Vec<String> = list
            .iter()
            .enumerate()
            .map(|(i, n)| match n.strip_suffix('*') {
                Some(p) => format!(
                    "startsWith({col}, {})",
                    self.put(&format!("{prefix}{i}"), p)
                ),
                None => format!("{col} = {}", self.put(&format!("{prefix}{i}"), n.as_str())),
            })
            .collect();
        format!("({})", parts.join(" OR "))
    }
}

impl Values {
    /// `$current_url ILIKE {url0} OR …` for the pricing URL patterns (case-insensitive substrings).
    pub(super) fn pricing_urls(&mut self, patterns: &[String]) -> String {
        if patterns.is_empty() {
            return "(1 = 0)".into();
        }
        let parts: Vec<String> = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let v = self.put(&format!("url{i}"), contains_pattern(p));
                format!("properties.$current_url ILIKE {v}")
            })
            .collect();
        parts.join(" OR ")
    }
}

/// ILIKE pattern for a case-insensitive substring.
fn contains_pattern(s: &str) -> String {
    let mut out = String::from("%");
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

fn days(n: u32) -> i64 {
    i64::from(n) * DAY
}

/// The account properties the rules read, sorted and unique; with parent accounts, the parent
/// property too (the answer says which workspaces' properties make up each parent's).
pub fn prop_keys(cfg: &Config) -> Vec<String> {
    let s = &cfg.signals;
    let mut keys: Vec<String> = cfg
        .accounts
        .parent()
        .map(str::to_string)
        .into_iter()
        .collect();
    if s.limit_approaching.enabled {
        keys.extend(s.limit_approaching.pairs.iter().flatten().cloned());
    }
    if s.trial_expiring.enabled {
        keys.push(s.trial_expiring.property.clone());
    }
    keys.sort();
    keys.dedup();
    keys
}

/// The detection queries at `t` for the page after account `after` ("" = first page), asking
/// for `page + 1` rows so a truncated answer shows.
pub fn detection_queries(
    cfg: &Config,
    group_index: u8,
    history_days: u32,
    t: i64,
    after: &str,
    page: u32,
) -> Vec<HogQl> {
    let mut out = vec![
        counts_query(cfg, group_index, t, after, page),
        new_query(cfg, group_index, t, after, page),
    ];
    if !prop_keys(cfg).is_empty() {
        out.push(props_query(cfg, group_index, history_days, t, after, page));
    }
    out
}

fn limit(v: &mut Values, page: u32) -> String {
    v.put("limit", u64::from(page) + 1)
}

/// The health figures of SPEC §4 for one account, as the counts query returns them.
pub type HealthFigures = crate::health::Counts;

/// The answers of the detection queries, all pages joined, by query name.
pub type Answers = BTreeMap<String, Rows>;

/// What detection produced.
#[derive(Debug, Clone, Default)]
pub struct Detection {
    pub metrics: Vec<(String, Metrics)>,
    pub health: BTreeMap<String, HealthFigures>,
    /// Pages fetched per query (more than one means an answer was truncated and paged).
    pub pages: BTreeMap<String, u32>,
    /// With parent accounts: each workspace's parent at T (its metrics are the parent's).
    pub parents: BTreeMap<String, String>,
}

/// Runs the detection queries at `t`, paging each answer that comes back with `page + 1`
/// rows, and turns the rows into metrics.
pub fn detect(client: &Client, cfg: &Config, t: i64) -> Result<Detection, PosthogError> {
    let s = super::settings(cfg)?;
    let (gi, hist, page) = (s.group_type_index, s.property_history_days, s.page_size);
    let mut answers = Answers::new();
    let mut pages = BTreeMap::new();
    let names: Vec<String> = detection_queries(cfg, gi, hist, t, "", page)
        .into_iter()
        .map(|q| q.name)
        .collect();
    for name in names {
        let (all, n) = fetch_paged(client, &name, page, |after| {
            detection_queries(cfg, gi, hist, t, after, page)
                .into_iter()
                .find(|q| q.name == name)
                .ok_or_else(|| PosthogError::Setup(format!("no query {name}")))
        })?;
        pages.insert(name.clone(), n);
        answers.insert(name, all);
    }
    let mut d = from_answers(cfg, &answers, t)?;
    d.pages = pages;
    Ok(d)
}

/// Runs a query page by page: each page asks for `page + 1` rows after the last account of the
/// one before, so a truncated answer shows. Returns every row and the number of pages.
fn fetch_paged(
    client: &Client,
    name: &str,
    page: u32,
    query: impl Fn(&str) -> Result<HogQl, PosthogError>,
) -> Result<(Rows, u32), PosthogError> {
    let mut after = String::new();
    let mut all = Rows::default();
    let mut pages = 0;
    loop {
        let mut rows = client.query(&query(&after)?)?;
        pages += 1;
        let more = rows.rows.len() > page as usize;
        rows.rows.truncate(page as usize);
        let acc = rows.col("account", name)?;
        let last = rows
            .rows
            .last()
            .and_then(|r| r.get(acc))
            .and_then(Value::as_str)
            .map(str::to_string);
        all.columns = rows.columns;
        all.rows.extend(rows.rows);
        match (more, last) {
            (true, Some(l)) if l > after => after = l,
            (true, _) => {
                return Err(PosthogError::BadResponse {
                    what: format!("query {name}"),
                    message: "a truncated page whose last account does not advance".into(),
                });
            }
            (false, _) => return Ok((all, pages)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_never_enter_the_sql() {
        let mut cfg = Config::default();
        cfg.signals.pricing_intent.url_patterns = vec!["/pricing' OR 1=1 --".into()];
        cfg.signals.support_engagement.events = vec!["evil'); DROP".into(), "intercom_*".into()];
        let t = crate::time::parse_ts("2026-05-01T00:00:00Z").unwrap();
        for q in detection_queries(&cfg, 2, 365, t, "acme'.com", 100) {
            assert!(!q.sql.contains("OR 1=1"), "{}", q.sql);
            assert!(!q.sql.contains("DROP"), "{}", q.sql);
            assert!(!q.sql.contains("acme"), "{}", q.sql);
            assert!(!q.sql.contains("2026"), "{}", q.sql);
            assert!(q.sql.contains("LIMIT {limit}"));
            assert_eq!(q.values.get("limit"), Some(&Value::from(101u64)));
            // Every placeholder has a value and every value a placeholder.
            for k in q.values.keys() {
                assert!(
                    q.sql.contains(&format!("{{{k}}}")),
                    "{k} unused in {}",
                    q.name
                );
            }
        }
        let c = counts_query(&cfg, 2, t, "", 10);
        assert!(c.sql.contains("$group_2"));
        assert_eq!(
            c.values.get("t"),
            Some(&Value::from("2026-05-01T00:00:00Z"))
        );
        assert_eq!(
            c.values.get("url0"),
            Some(&Value::from("%/pricing' OR 1=1 --%"))
        );
        assert_eq!(c.values.get("sup1"), Some(&Value::from("intercom_")));
        assert!(c.sql.contains("startsWith(event, {sup1})"));
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("/a_b%c"), "%/a\\_b\\%c%");
    }

    #[test]
    fn times_are_read_in_rfc_3339_and_clickhouse_form() {
        let t = crate::time::parse_ts("2026-03-13T19:16:01.696553Z");
        for s in ["2026-03-13T19:16:01.696553Z", "2026-03-13 19:16:01.696553"] {
            assert_eq!(as_ts(Some(&Value::from(s))), t, "{s}");
        }
        for s in ["1970-01-01 00:00:00", "yesterday", ""] {
            assert_eq!(as_ts(Some(&Value::from(s))), None, "{s}");
        }
    }

    #[test]
    fn with_parents_the_workspaces_properties_become_their_parents() {
        let mut cfg = Config::default();
        cfg.accounts.parent_property = Some("parent_domain".into());
        let keys = prop_keys(&cfg);
        assert!(keys.contains(&"parent_domain".to_string()));
        let mut columns = vec!["account".to_string()];
        for i in 0..keys.len() {
            columns.push(format!("p{i}"));
            columns.push(format!("has{i}"));
        }
        let row = |account: &str, props: &[(&str, &str)]| {
            let mut r = vec![Value::from(account)];
            for k in &keys {
                let raw = props.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
                r.push(Value::from(raw.unwrap_or("")));
                r.push(Value::from(u64::from(raw.is_some())));
            }
            r
        };
        let mut answers = Answers::new();
        answers.insert(
            PROPS.into(),
            Rows {
                columns,
                rows: vec![
                    row(
                        "eu.acme.com",
                        &[
                            ("parent_domain", r#""acme.com""#),
                            ("usage", "950"),
                            ("plan_limit", "1000"),
                        ],
                    ),
                    row(
                        "us.acme.com",
                        &[
                            ("parent_domain", r#"" acme.com ""#),
                            ("usage", "10"),
                            ("plan_limit", "1000"),
                        ],
                    ),
                    row("solo.com", &[("usage", "5"), ("plan_limit", "10")]),
                    row("self.com", &[("parent_domain", r#""self.com""#)]),
                ],
            },
        );
        let d = from_answers(&cfg, &answers, 0).unwrap();
        let keys: Vec<&str> = d.metrics.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["acme.com", "self.com", "solo.com"]);
        // The parent reads the workspace with the highest ratio; solo.com keeps its own.
        assert_eq!(d.metrics[0].1.props["usage"], 950);
        assert_eq!(d.metrics[2].1.props["usage"], 5);
        assert!(
            d.metrics[1].1.props.is_empty(),
            "the parent property is no rule property"
        );
        assert_eq!(d.parents.len(), 2);
        assert_eq!(d.parents["us.acme.com"], "acme.com");
    }

    #[test]
    fn answers_become_metrics() {
        let cfg = Config::default();
        let mut answers = Answers::new();
        let counts = counts_query(&cfg, 0, 0, "", 10);
        let _ = counts;
        answers.insert(
            COUNTS.into(),
            Rows {
                columns: [
                    "account", "activity", "activity_before", "pricing_views", "trial_activity", "support_events",
                    "billing_events", "events_7d", "events_prev_7d", "events_14d", "events_44_14d",
                    "active_users_30d", "features_30d", "last_seen",
                ]
                .map(String::from)
                .to_vec(),
                rows: vec![serde_json::from_str(r#"["a.com", 30, "12", 2, 30, 0, 1, 30, 12, 42, 5, 3, 2, "2026-04-30T10:00:00Z"]"#).unwrap()],
            },
        );
        answers.insert(
            NEW.into(),
            Rows {
                columns: ["account", "new_features", "new_users"]
                    .map(String::from)
                    .to_vec(),
                rows: vec![serde_json::from_str(r#"["a.com", ["z", "b", "c"], 2]"#).unwrap()],
            },
        );
        let keys = prop_keys(&cfg);
        let mut cols = vec!["account".to_string()];
        let mut row = vec![Value::from("b.com")];
        for (i, k) in keys.iter().enumerate() {
            cols.push(format!("p{i}"));
            cols.push(format!("has{i}"));
            let (raw, has) = match k.as_str() {
                "usage" => ("950", 1),
                "plan_limit" => ("\"1000\"", 1),
                _ => ("", 0),
            };
            row.push(Value::from(raw));
            row.push(Value::from(has));
        }
        answers.insert(
            PROPS.into(),
            Rows {
                columns: cols,
                rows: vec![row],
            },
        );
        let d = from_answers(&cfg, &answers, 0).unwrap();
        assert_eq!(d.metrics.len(), 2);
        let a = &d.metrics[0].1;
        assert_eq!(
            (a.activity, a.activity_before, a.billing_events),
            (30, 12, 1)
        );
        assert_eq!(a.new_features, vec!["b", "c", "z"]);
        let b = &d.metrics[1].1;
        assert_eq!(b.props.get("usage"), Some(&Value::from(950)));
        assert_eq!(b.props.get("plan_limit"), Some(&Value::from("1000")));
        assert!(!b.props.contains_key("seats_used"));
        assert_eq!(d.health["a.com"].events_44_14d, 5);
    }
}
