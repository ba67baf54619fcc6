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

/// The account properties the rules read, sorted and unique.
pub fn prop_keys(cfg: &Config) -> Vec<String> {
    let s = &cfg.signals;
    let mut keys = Vec::new();
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

/// Per account: the windowed counts of every signal and the health figures (SPEC §2, §4).
pub fn counts_query(cfg: &Config, gi: u8, t: i64, after: &str, page: u32) -> HogQl {
    let s = &cfg.signals;
    let mut v = Values::default();
    let g = format!("$group_{gi}");
    let us0 = t - days(s.usage_spike.window_days);
    let usp = us0 - days(s.usage_spike.window_days);
    let starts = [
        usp,
        t - days(s.pricing_intent.window_days),
        t - days(s.trial_expiring.window_days),
        t - days(s.support_engagement.window_days),
        t - days(s.billing_intent.window_days),
        t - 44 * DAY,
    ];
    let from = starts.iter().copied().min().unwrap_or(t);
    let act = v.names("ex", "event", &cfg.activity_exclude);
    let pv = v.put("pageview", "$pageview");
    let urls = v.pricing_urls(&s.pricing_intent.url_patterns);
    let support = v.names("sup", "event", &s.support_engagement.events);
    let billing = v.names("bil", "event", &s.billing_intent.events);
    let fe = v.put("feature_event", FEATURE_EVENT);
    let c_from = v.ts("from", from);
    let c_t = v.ts("t", t);
    let c_after = v.put("after", after);
    let w_us = v.ts("us_w0", us0);
    let w_usp = v.ts("us_p0", usp);
    let w_pi = v.ts("pi_w0", t - days(s.pricing_intent.window_days));
    let w_te = v.ts("te_w0", t - days(s.trial_expiring.window_days));
    let w_se = v.ts("se_w0", t - days(s.support_engagement.window_days));
    let w_bi = v.ts("bi_w0", t - days(s.billing_intent.window_days));
    let h7 = v.ts("h7", t - 7 * DAY);
    let h14 = v.ts("h14", t - 14 * DAY);
    let h30 = v.ts("h30", t - 30 * DAY);
    let h44 = v.ts("h44", t - 44 * DAY);
    // Activity per UTC day for the health sparkline: the day of T (up to T) and the 29 before.
    let first_day = crate::time::day_of(t - 1) - crate::health::SPARK_DAYS as i64 + 1;
    let edges: Vec<String> = (0..crate::health::SPARK_DAYS as i64)
        .map(|i| v.ts(&format!("day{i}"), (first_day + i) * DAY))
        .collect();
    let daily: Vec<String> = edges
        .iter()
        .enumerate()
        .map(|(i, from)| match edges.get(i + 1) {
            Some(to) => format!("countIf(act AND ts >= {from} AND ts < {to})"),
            None => format!("countIf(act AND ts >= {from})"),
        })
        .collect();
    let daily = daily.join(", ");
    let lim = limit(&mut v, page);
    let sql = format!(
        "SELECT account,
    countIf(act AND ts >= {w_us}) AS activity,
    countIf(act AND ts >= {w_usp} AND ts < {w_us}) AS activity_before,
    countIf(pricing AND ts >= {w_pi}) AS pricing_views,
    countIf(act AND ts >= {w_te}) AS trial_activity,
    countIf(support AND ts >= {w_se}) AS support_events,
    countIf(billing AND ts >= {w_bi}) AS billing_events,
    countIf(act AND ts >= {h7}) AS events_7d,
    countIf(act AND ts >= {h14} AND ts < {h7}) AS events_prev_7d,
    countIf(act AND ts >= {h14}) AS events_14d,
    countIf(act AND ts >= {h44} AND ts < {h14}) AS events_44_14d,
    uniqExactIf(uid, act AND ts >= {h30}) AS active_users_30d,
    uniqExactIf(feature, is_feature AND ts >= {h30}) AS features_30d,
    maxIf(ts, act) AS last_seen,
    [{daily}] AS daily,
    arraySort(groupUniqArrayIf(feature, is_feature AND ts >= {h30} AND feature != '')) AS features
FROM (
    SELECT {g} AS account, timestamp AS ts, person_id AS uid, properties.feature AS feature,
        NOT {act} AS act,
        (event = {pv} AND ({urls})) AS pricing,
        {support} AS support,
        {billing} AS billing,
        event = {fe} AS is_feature
    FROM events
    WHERE timestamp >= {c_from} AND timestamp < {c_t} AND {g} > {c_after}
)
GROUP BY account
ORDER BY account
LIMIT {lim}"
    );
    HogQl {
        name: COUNTS.into(),
        sql,
        values: v.0,
    }
}

/// Per account: features new in W (unused in the lookback before it) and users whose first
/// activity in lookback ∪ W falls in W.
pub fn new_query(cfg: &Config, gi: u8, t: i64, after: &str, page: u32) -> HogQl {
    let s = &cfg.signals;
    let mut v = Values::default();
    let g = format!("$group_{gi}");
    let fa0 = t - days(s.feature_adoption.window_days);
    let tg0 = t - days(s.team_growth.window_days);
    let act = v.names("ex", "event", &cfg.activity_exclude);
    let fe = v.put("feature_event", FEATURE_EVENT);
    let c_t = v.ts("t", t);
    let c_after = v.put("after", after);
    let fa_w = v.ts("fa_w0", fa0);
    let fa_l = v.ts("fa_l0", fa0 - days(s.feature_adoption.lookback_days));
    let tg_w = v.ts("tg_w0", tg0);
    let tg_l = v.ts("tg_l0", tg0 - days(s.team_growth.lookback_days));
    let lim = limit(&mut v, page);
    let sql = format!(
        "SELECT account,
    arraySort(groupArrayIf(value, kind = 1 AND in_w > 0 AND in_l = 0)) AS new_features,
    countIf(kind = 2 AND in_w > 0 AND in_l = 0) AS new_users
FROM (
    SELECT {g} AS account, 1 AS kind, properties.feature AS value,
        countIf(timestamp >= {fa_w}) AS in_w, countIf(timestamp < {fa_w}) AS in_l
    FROM events
    WHERE event = {fe} AND timestamp >= {fa_l} AND timestamp < {c_t} AND {g} > {c_after}
    GROUP BY account, value
    UNION ALL
    SELECT {g} AS account, 2 AS kind, toString(person_id) AS value,
        countIf(timestamp >= {tg_w}) AS in_w, countIf(timestamp < {tg_w}) AS in_l
    FROM events
    WHERE NOT {act} AND timestamp >= {tg_l} AND timestamp < {c_t} AND {g} > {c_after}
    GROUP BY account, value
)
GROUP BY account
HAVING new_users > 0 OR length(new_features) > 0
ORDER BY account
LIMIT {lim}"
    );
    HogQl {
        name: NEW.into(),
        sql,
        values: v.0,
    }
}

/// Per account: the properties the rules read, as of T: the `groups` row overlaid with the
/// latest `$group_set` value of each key before T.
pub fn props_query(
    cfg: &Config,
    gi: u8,
    history_days: u32,
    t: i64,
    after: &str,
    page: u32,
) -> HogQl {
    let keys = prop_keys(cfg);
    let mut v = Values::default();
    let c_gi = v.put("group_index", gi);
    let c_gt = v.put("group_type", cfg.group_type.as_str());
    let c_ev = v.put("identify_event", "$groupidentify");
    let c_set = v.put("group_set", "$group_set");
    let c_t = v.ts("t", t);
    let c_h = v.ts("history_from", t - days(history_days));
    let c_after = v.put("after", after);
    let k: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| v.put(&format!("k{i}"), key.as_str()))
        .collect();
    let lim = limit(&mut v, page);
    let outer: Vec<String> = (0..k.len())
        .map(|i| format!("argMaxIf(v{i}, src, h{i}) AS p{i}, max(h{i}) AS has{i}"))
        .collect();
    let snap: Vec<String> = k
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!("JSONExtractRaw(properties, {p}) AS v{i}, JSONHas(properties, {p}) AS h{i}")
        })
        .collect();
    let sets: Vec<String> = k
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "argMaxIf(JSONExtractRaw(properties, {c_set}, {p}), timestamp, JSONHas(properties, {c_set}, {p}) = 1) AS v{i}, max(JSONHas(properties, {c_set}, {p})) AS h{i}"
            )
        })
        .collect();
    let having: Vec<String> = (0..k.len()).map(|i| format!("has{i} = 1")).collect();
    let sql = format!(
        "SELECT account, {}
FROM (
    SELECT key AS account, 0 AS src, {}
    FROM groups
    WHERE index = {c_gi} AND key > {c_after}
    UNION ALL
    SELECT properties.$group_key AS account, 1 AS src, {}
    FROM events
    WHERE event = {c_ev} AND properties.$group_type = {c_gt} AND timestamp >= {c_h} AND timestamp < {c_t}
        AND properties.$group_key > {c_after}
    GROUP BY account
)
GROUP BY account
HAVING {}
ORDER BY account
LIMIT {lim}",
        outer.join(", "),
        snap.join(", "),
        sets.join(", "),
        having.join(" OR ")
    );
    HogQl {
        name: PROPS.into(),
        sql,
        values: v.0,
    }
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
    let mut d = from_answers(cfg, &answers)?;
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

/// Every account with its first event in `[from, to)` (`$groupidentify` events count for the
/// group they identify, as in the local workspace; an account of the `groups` table with no
/// event there has none): the backtest's accounts, and whether each had any event before a
/// replay date. The scan is bounded in time so it stays inside PostHog's execution limit on a
/// large project: `from` is `posthog.first_seen_days` before the first replay date, `to` the
/// last replay date (see [`first_seen_range`]).
pub fn first_seen_query(cfg: &Config, gi: u8, range: (i64, i64), after: &str, page: u32) -> HogQl {
    let mut v = Values::default();
    let g = format!("$group_{gi}");
    let c_gi = v.put("group_index", gi);
    let c_from = v.ts("from", range.0);
    let c_to = v.ts("to", range.1);
    let c_after = v.put("after", after);
    let c_ev = v.put("identify_event", "$groupidentify");
    let c_gt = v.put("group_type", cfg.group_type.as_str());
    let lim = limit(&mut v, page);
    let sql = format!(
        "SELECT account, min(first) AS first_seen
FROM (
    SELECT {g} AS account, min(timestamp) AS first
    FROM events
    WHERE timestamp >= {c_from} AND timestamp < {c_to} AND {g} > {c_after}
    GROUP BY account
    UNION ALL
    SELECT properties.$group_key AS account, min(timestamp) AS first
    FROM events
    WHERE event = {c_ev} AND timestamp >= {c_from} AND timestamp < {c_to}
        AND properties.$group_type = {c_gt} AND properties.$group_key > {c_after}
    GROUP BY account
    UNION ALL
    SELECT key AS account, NULL AS first
    FROM groups
    WHERE index = {c_gi} AND key > {c_after}
)
GROUP BY account
ORDER BY account
LIMIT {lim}"
    );
    HogQl {
        name: FIRST_SEEN.into(),
        sql,
        values: v.0,
    }
}

/// The first-seen scan's time range for replay dates `dates`: from `first_seen_days` before the
/// first to the last (an event at or after the last replay date tells the replay nothing).
pub fn first_seen_range(cfg: &Config, dates: &[i64]) -> (i64, i64) {
    let days = cfg
        .posthog
        .as_ref()
        .map_or(365, |p| i64::from(p.first_seen_days));
    let first = dates.iter().copied().min().unwrap_or(0);
    let last = dates.iter().copied().max().unwrap_or(first);
    (first - days * DAY, last)
}

/// Every account's first event in the scan range of `dates` (see [`first_seen_query`]), paged.
pub fn first_seen(
    client: &Client,
    cfg: &Config,
    dates: &[i64],
) -> Result<BTreeMap<String, Option<i64>>, PosthogError> {
    let s = super::settings(cfg)?;
    let (gi, page) = (s.group_type_index, s.page_size);
    let range = first_seen_range(cfg, dates);
    let (rows, _) = fetch_paged(client, FIRST_SEEN, page, |after| {
        Ok(first_seen_query(cfg, gi, range, after, page))
    })?;
    first_seen_from(&rows)
}

/// Reads a [`first_seen_query`] answer.
pub fn first_seen_from(rows: &Rows) -> Result<BTreeMap<String, Option<i64>>, PosthogError> {
    let acc = rows.col("account", FIRST_SEEN)?;
    let first = rows.col("first_seen", FIRST_SEEN)?;
    Ok(rows
        .rows
        .iter()
        .filter_map(|r| {
            let key = match r.get(acc)? {
                Value::String(s) if !s.is_empty() => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Some((key, as_ts(r.get(first))))
        })
        .collect())
}

fn as_u64(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().map(|f| f.max(0.0) as u64))
            .unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        Some(Value::Bool(b)) => u64::from(*b),
        _ => 0,
    }
}

/// The items of a JSON array (none for anything else).
fn list(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

/// An instant as the query API gives it: RFC 3339, or ClickHouse's `2026-03-13 19:16:01.696553`
/// (UTC, as every query runs in UTC).
fn as_ts(v: Option<&Value>) -> Option<i64> {
    let s = v?.as_str()?;
    let t = crate::time::parse_ts(s).or_else(|| {
        let (date, time) = s.split_once(' ')?;
        crate::time::parse_ts(&format!("{date}T{time}Z"))
    })?;
    (t > 0).then_some(t)
}

/// Metrics per account from the answers (live or fed in by `beton hogql --score`).
pub fn from_answers(cfg: &Config, answers: &Answers) -> Result<Detection, PosthogError> {
    let mut by: BTreeMap<String, Metrics> = BTreeMap::new();
    let mut health = BTreeMap::new();
    let key = |r: &Vec<Value>, i: usize| -> Option<String> {
        match r.get(i)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    if let Some(rows) = answers.get(COUNTS) {
        let c = |n: &str| rows.col(n, COUNTS);
        let acc = c("account")?;
        let cols = [
            c("activity")?,
            c("activity_before")?,
            c("pricing_views")?,
            c("trial_activity")?,
            c("support_events")?,
            c("billing_events")?,
        ];
        let h = [
            c("active_users_30d")?,
            c("events_7d")?,
            c("events_prev_7d")?,
            c("events_14d")?,
            c("events_44_14d")?,
            c("features_30d")?,
            c("last_seen")?,
        ];
        // Optional, so answers saved before they existed still score.
        let daily = rows.columns.iter().position(|n| n == "daily");
        let features = rows.columns.iter().position(|n| n == "features");
        for r in &rows.rows {
            let Some(k) = key(r, acc) else { continue };
            let n = |i: usize| as_u64(r.get(i));
            let m = by.entry(k.clone()).or_default();
            m.activity = n(cols[0]);
            m.activity_before = n(cols[1]);
            m.pricing_views = n(cols[2]);
            m.trial_activity = n(cols[3]);
            m.support_events = n(cols[4]);
            m.billing_events = n(cols[5]);
            health.insert(
                k,
                HealthFigures {
                    active_users_30d: n(h[0]),
                    events_7d: n(h[1]),
                    events_prev_7d: n(h[2]),
                    events_14d: n(h[3]),
                    events_44_14d: n(h[4]),
                    features_30d: n(h[5]),
                    last_seen: as_ts(r.get(h[6])),
                    daily: list(daily.and_then(|i| r.get(i)))
                        .map(|v| u32::try_from(as_u64(Some(v))).unwrap_or(u32::MAX))
                        .collect(),
                    features: list(features.and_then(|i| r.get(i)))
                        .filter_map(|v| v.as_str().filter(|f| !f.is_empty()).map(str::to_string))
                        .collect(),
                },
            );
        }
    }
    if let Some(rows) = answers.get(NEW) {
        let acc = rows.col("account", NEW)?;
        let nf = rows.col("new_features", NEW)?;
        let nu = rows.col("new_users", NEW)?;
        for r in &rows.rows {
            let Some(k) = key(r, acc) else { continue };
            let m = by.entry(k).or_default();
            let mut f: Vec<String> = match r.get(nf) {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            };
            f.sort_unstable();
            f.dedup();
            m.new_features = f;
            m.new_users = as_u64(r.get(nu));
        }
    }
    if let Some(rows) = answers.get(PROPS) {
        let keys = prop_keys(cfg);
        let acc = rows.col("account", PROPS)?;
        let cols: Vec<(usize, usize)> = (0..keys.len())
            .map(|i| {
                Ok((
                    rows.col(&format!("p{i}"), PROPS)?,
                    rows.col(&format!("has{i}"), PROPS)?,
                ))
            })
            .collect::<Result<_, PosthogError>>()?;
        for r in &rows.rows {
            let Some(k) = key(r, acc) else { continue };
            let m = by.entry(k).or_default();
            for (name, (p, has)) in keys.iter().zip(&cols) {
                if as_u64(r.get(*has)) == 0 {
                    continue;
                }
                let raw = r.get(*p).and_then(Value::as_str).unwrap_or("");
                let value = serde_json::from_str::<Value>(raw)
                    .unwrap_or_else(|_| Value::String(raw.to_string()));
                m.props.insert(name.clone(), value);
            }
        }
    }
    Ok(Detection {
        metrics: by.into_iter().collect(),
        health,
        pages: BTreeMap::new(),
    })
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
        let d = from_answers(&cfg, &answers).unwrap();
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
