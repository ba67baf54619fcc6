//! Parent accounts (SPEC §14): with `accounts.parent_property` set, an account whose properties
//! as of T name a parent is a workspace of that parent, and detection runs at the parent over the
//! union of its workspaces' units, each user counted once (the units are linked again across
//! workspaces, so a user's first activity is their first in any workspace). The parent's key is
//! the property's value; when that is an account too, its own events are one more workspace.
//! `limit_approaching` reads the workspace with the highest ratio, `trial_expiring` the
//! workspace whose trial ends soonest inside (T, T + days_ahead).

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use super::facts::{AccountFacts, Facts, Links};
use super::{AccountScore, Metrics, metrics, numeric, rule_properties, rules, score_fired};
use crate::config::Config;
use crate::error::Result;
use crate::store::Store;
use crate::time::DAY;

/// The parent an account names as of `t`, if any (a string, or a number as text; never itself).
pub fn parent_of(a: &AccountFacts, property: &str, t: i64) -> Option<String> {
    let v = a.props_subset_at(t, &[property]).remove(property)?;
    let key = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!key.is_empty() && key != a.key).then_some(key)
}

/// The accounts of each parent (or standalone account) at `t`, by key: the workspaces' indexes
/// into `facts.accounts`.
pub fn groups(facts: &Facts, property: &str, t: i64) -> BTreeMap<String, Vec<usize>> {
    let mut out: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, a) in facts.accounts.iter().enumerate() {
        let key = parent_of(a, property, t).unwrap_or_else(|| a.key.clone());
        out.entry(key).or_default().push(i);
    }
    out
}

/// The rule properties of a parent: the limit pair values of the workspace with the highest
/// ratio, the trial end of the workspace whose trial ends soonest in (t, t + days_ahead).
fn parent_props(members: &[&AccountFacts], cfg: &Config, t: i64) -> Map<String, Value> {
    let keys = rule_properties(cfg);
    let props: Vec<Map<String, Value>> = members
        .iter()
        .map(|a| a.props_subset_at(t, &keys))
        .collect();
    let mut out = Map::new();
    let la = &cfg.signals.limit_approaching;
    let ratio = |p: &Map<String, Value>| {
        la.pairs
            .iter()
            .filter_map(|[u, l]| {
                let used = numeric(p.get(u))?;
                let limit = numeric(p.get(l)).filter(|l| *l > 0.0)?;
                Some(used / limit)
            })
            .max_by(f64::total_cmp)
    };
    if let Some(best) = props
        .iter()
        .filter_map(|p| Some((ratio(p)?, p)))
        .max_by(|x, y| x.0.total_cmp(&y.0))
    {
        for k in la.pairs.iter().flatten() {
            if let Some(v) = best.1.get(k) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    let te = &cfg.signals.trial_expiring;
    let ends = |p: &Map<String, Value>| {
        p.get(&te.property)
            .and_then(Value::as_str)
            .and_then(crate::time::parse_ts)
            .filter(|e| *e > t && *e < t + i64::from(te.days_ahead) * DAY)
    };
    if let Some(v) = props
        .iter()
        .filter(|p| ends(p).is_some())
        .min_by_key(|p| ends(p))
        .and_then(|p| p.get(&te.property))
    {
        out.insert(te.property.clone(), v.clone());
    }
    out
}

/// One parent's metrics at `t` over the union of its workspaces.
pub fn parent_metrics(
    members: &[&AccountFacts],
    cfg: &Config,
    t: i64,
    features: &HashMap<i64, String>,
    links: &mut Links,
) -> Metrics {
    let mut union = AccountFacts {
        id: 0,
        key: String::new(),
        snapshot: Map::new(),
        history: Vec::new(),
        units: members
            .iter()
            .flat_map(|a| a.units.iter().copied())
            .collect(),
    };
    links.link(&mut union.units);
    let mut m = metrics(&union, cfg, t, features);
    m.props = parent_props(members, cfg, t);
    m
}

/// Scores every parent and standalone account at each of `dates` (the parents' own accounts
/// are added to the workspace when they are not accounts yet). Returns the scores of each date
/// and how many parents and standalone accounts the last date has. Holds every account's facts
/// in memory: parents need all their workspaces at once.
pub fn score_dates(
    store: &Store,
    cfg: &Config,
    property: &str,
    dates: &[i64],
) -> Result<(Vec<Vec<AccountScore>>, usize)> {
    let facts = Facts::load(store, cfg, dates, None)?;
    let mut links = Links::default();
    let mut out = Vec::new();
    let mut seen = 0;
    for &t in dates {
        let groups = groups(&facts, property, t);
        let ids = store.ensure_accounts(groups.keys().map(String::as_str))?;
        let mut scores = Vec::new();
        for (key, members) in &groups {
            let members: Vec<&AccountFacts> = members.iter().map(|&i| &facts.accounts[i]).collect();
            let m = match members.as_slice() {
                [only] if only.key == *key => metrics(only, cfg, t, &facts.features),
                _ => parent_metrics(&members, cfg, t, &facts.features, &mut links),
            };
            let fired = rules(&m, cfg, t);
            if !fired.is_empty() {
                scores.push(score_fired(ids[key], key, fired, cfg));
            }
        }
        super::sort_scores(&mut scores);
        seen = groups.len();
        out.push(scores);
    }
    Ok((out, seen))
}

/// Each workspace's part of a parent at `t`, for `explain`: its key and its own metrics.
pub fn workspaces(
    store: &Store,
    cfg: &Config,
    property: &str,
    parent: &str,
    t: i64,
) -> Result<Vec<(String, Metrics)>> {
    let facts = Facts::load(store, cfg, &[t], None)?;
    let groups = groups(&facts, property, t);
    Ok(groups
        .get(parent)
        .map(|members| {
            members
                .iter()
                .map(|&i| {
                    let a = &facts.accounts[i];
                    (a.key.clone(), metrics(a, cfg, t, &facts.features))
                })
                .collect()
        })
        .unwrap_or_default())
}
