//! The queries' answers back into per-account metrics and health figures.

use super::*;

pub(super) fn as_u64(v: Option<&Value>) -> u64 {
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
pub(super) fn list(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

/// An instant as the query API gives it: RFC 3339, or ClickHouse's `2026-03-13 19:16:01.696553`
/// (UTC, as every query runs in UTC).
pub(super) fn as_ts(v: Option<&Value>) -> Option<i64> {
    let s = v?.as_str()?;
    let t = crate::time::parse_ts(s).or_else(|| {
        let (date, time) = s.split_once(' ')?;
        crate::time::parse_ts(&format!("{date}T{time}Z"))
    })?;
    (t > 0).then_some(t)
}

/// With parent accounts (SPEC §14) the counts and new queries answer per parent already; the
/// props query answers per account, with the parent each names: the workspaces' properties
/// become their parent's (the highest limit ratio, the soonest trial end, as on the local
/// workspace) and the workspaces leave the list. Returns each workspace's parent.
fn fold_props(
    by: &mut BTreeMap<String, Metrics>,
    cfg: &Config,
    property: &str,
    t: i64,
) -> BTreeMap<String, String> {
    let mut members: BTreeMap<String, Vec<Map<String, Value>>> = BTreeMap::new();
    let mut parents = BTreeMap::new();
    let keys: Vec<String> = by.keys().cloned().collect();
    for key in keys {
        let Some(m) = by.get_mut(&key) else { continue };
        let parent = m
            .props
            .remove(property)
            .and_then(|v| crate::signals::parents::parent_named(&v, &key));
        let top = parent.clone().unwrap_or_else(|| key.clone());
        members
            .entry(top)
            .or_default()
            .push(std::mem::take(&mut m.props));
        if let Some(p) = parent {
            // A workspace's events are its parent's already; only its properties were left.
            by.remove(&key);
            parents.insert(key, p);
        }
    }
    for (top, mut props) in members {
        let m = by.entry(top).or_default();
        m.props = match props.len() {
            // An account that stands alone keeps its properties as they are.
            1 if m.props.is_empty() => props.pop().unwrap_or_default(),
            _ => crate::signals::parents::merge_props(&props, cfg, t),
        };
    }
    parents
}

/// Metrics per account from the answers (live or fed in by `beton hogql --score`).
pub fn from_answers(cfg: &Config, answers: &Answers, t: i64) -> Result<Detection, PosthogError> {
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
    let parents = match cfg.accounts.parent() {
        Some(property) => fold_props(&mut by, cfg, property, t),
        None => BTreeMap::new(),
    };
    Ok(Detection {
        metrics: by.into_iter().collect(),
        health,
        pages: BTreeMap::new(),
        parents,
    })
}
