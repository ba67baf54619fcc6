//! Parent accounts (SPEC §14): with `accounts.parent_property` set, an account whose properties
//! as of T name a parent is a workspace of that parent, and detection runs at the parent over the
//! union of its workspaces' units, each user counted once (the units are linked again across
//! workspaces, so a user's first activity is their first in any workspace). The parent's key is
//! the property's value; when that is an account too, its own events are one more workspace.
//! `limit_approaching` reads the workspace with the highest ratio, `trial_expiring` the
//! workspace whose trial ends soonest inside (T, T + days_ahead).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::{Map, Value};

use super::facts::{AccountFacts, Facts, Links, distinct_users};
use super::{
    AccountScore, Metrics, SignalType, metrics, numeric, rule_properties, rules, score_fired,
};
use crate::config::Config;
use crate::error::Result;
use crate::store::Store;
use crate::time::DAY;

/// The parent an account names as of `t`, if any (a string, or a number as text; never itself).
pub fn parent_of(a: &AccountFacts, property: &str, t: i64) -> Option<String> {
    parent_named(a.props_subset_at(t, &[property]).get(property)?, &a.key)
}

/// The parent key a property value names for account `own`: a string (trimmed) or a number as
/// text; none when empty or the account itself.
pub fn parent_named(v: &Value, own: &str) -> Option<String> {
    let key = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!key.is_empty() && key != own).then_some(key)
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
pub fn parent_props(members: &[&AccountFacts], cfg: &Config, t: i64) -> Map<String, Value> {
    let keys = rule_properties(cfg);
    let props: Vec<Map<String, Value>> = members
        .iter()
        .map(|a| a.props_subset_at(t, &keys))
        .collect();
    merge_props(&props, cfg, t)
}

/// [`parent_props`] from each workspace's rule properties as of `t` (whatever backend read them).
pub fn merge_props(props: &[Map<String, Value>], cfg: &Config, t: i64) -> Map<String, Value> {
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
    union_metrics(members, &union_of(members, links), cfg, t, features)
}

/// A parent's metrics at `t` over `union` (its workspaces' [`union_of`], built once for many
/// uses), with the parent's properties.
pub fn union_metrics(
    members: &[&AccountFacts],
    union: &AccountFacts,
    cfg: &Config,
    t: i64,
    features: &HashMap<i64, String>,
) -> Metrics {
    let mut m = metrics(union, cfg, t, features);
    m.props = parent_props(members, cfg, t);
    m
}

/// The units of every workspace as one account's, linked again: a user's or a feature's
/// previous unit is its previous one in any workspace.
pub fn union_of(members: &[&AccountFacts], links: &mut Links) -> AccountFacts {
    let mut union = AccountFacts {
        id: 0,
        key: String::new(),
        snapshot: Map::new(),
        history: Vec::new(),
        units: members
            .iter()
            .flat_map(|a| a.units.iter().copied())
            .collect(),
        earlier: members.iter().any(|a| a.earlier),
    };
    links.link(&mut union.units);
    union
}

/// Scores every parent and standalone account at each of `dates` (the parents' own accounts
/// are added to the workspace when they are not accounts yet, unless a what-if holds
/// [`Store::what_if_ids`]). Returns the scores of each date
/// and how many parents and standalone accounts the last date has. Holds every account's facts
/// in memory: parents need all their workspaces at once.
pub fn score_dates(
    store: &Store,
    cfg: &Config,
    property: &str,
    dates: &[i64],
) -> Result<(Vec<Vec<AccountScore>>, usize)> {
    let facts = Facts::load_all(store, cfg, dates)?;
    let mut out = Vec::new();
    let mut seen = 0;
    for &t in dates {
        let groups = groups(&facts, property, t);
        let ids = store.ensure_accounts(groups.keys().map(String::as_str))?;
        let list: Vec<(&String, &Vec<usize>)> = groups.iter().collect();
        // The accounts and parents are independent: each worker takes every n-th one; the sort
        // below (score, then key) gives the one order.
        let mut scores: Vec<AccountScore> = crate::workers::strided(list.len(), |mine| {
            let mut links = Links::default();
            let mut scores = Vec::new();
            for (key, members) in mine.map(|i| list[i]) {
                let members: Vec<&AccountFacts> =
                    members.iter().map(|&i| &facts.accounts[i]).collect();
                let m = match members.as_slice() {
                    [only] if only.key == *key => metrics(only, cfg, t, &facts.features),
                    _ => parent_metrics(&members, cfg, t, &facts.features, &mut links),
                };
                let fired = rules(&m, cfg, t);
                if !fired.is_empty() {
                    scores.push(score_fired(ids[key], key, fired, cfg));
                }
            }
            scores
        })
        .into_iter()
        .flatten()
        .collect();
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

/// The account properties a parent's own figures are made of: summed (`arr`) or taken from one
/// workspace (`owner_email`).
const OWN_PROPERTIES: [&str; 2] = ["arr", "owner_email"];

/// One workspace of a parent (or a standalone account) at T: its `arr` and `owner_email`.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub id: i64,
    pub key: String,
    pub arr: Option<f64>,
    pub owner: Option<String>,
}

/// Who belongs to whom at one time T (SPEC §14): each workspace's parent and each parent's
/// workspaces (the parent's own account among them when it is one), with what the CRM and the
/// routing read at the parent: its `arr` (the sum over its workspaces) and its `owner_email`
/// (that of the workspace with the highest `arr`).
#[derive(Debug, Clone, Default)]
pub struct Family {
    parent: HashMap<String, String>,
    members: BTreeMap<String, Vec<Member>>,
}

impl Family {
    /// The family at `t`, or `None` when `accounts.parent_property` is unset (every account
    /// stands alone and nothing changes).
    pub fn at(store: &Store, cfg: &Config, t: i64) -> Result<Option<Self>> {
        let Some(property) = cfg.accounts.parent() else {
            return Ok(None);
        };
        let mut keys = vec![property];
        keys.extend(OWN_PROPERTIES);
        let mut history: HashMap<i64, super::facts::History> = HashMap::new();
        for (id, ts, props) in store.prop_history_in(i64::MIN, i64::MAX)? {
            if let Ok(set) = serde_json::from_str::<Map<String, Value>>(&props) {
                let set: Map<String, Value> = set
                    .into_iter()
                    .filter(|(k, _)| keys.contains(&k.as_str()))
                    .collect();
                if !set.is_empty() {
                    history.entry(id).or_default().push((ts, set));
                }
            }
        }
        let accounts: Vec<AccountFacts> = store
            .accounts()?
            .into_iter()
            .map(|(id, key, snapshot)| AccountFacts {
                id,
                snapshot: snapshot
                    .and_then(|s| serde_json::from_str(&s).ok())
                    .unwrap_or_default(),
                history: history.remove(&id).unwrap_or_default(),
                key,
                units: Vec::new(),
                earlier: false,
            })
            .collect();
        Ok(Some(Self::of(&accounts, property, t)))
    }

    /// The family of `accounts` at `t` under `property`.
    pub fn of(accounts: &[AccountFacts], property: &str, t: i64) -> Self {
        let mut out = Self::default();
        for a in accounts {
            let props = a.props_subset_at(t, &OWN_PROPERTIES);
            let member = Member {
                id: a.id,
                key: a.key.clone(),
                arr: numeric(props.get("arr")),
                owner: props
                    .get("owner_email")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(str::to_string),
            };
            let top = match parent_of(a, property, t) {
                Some(p) => {
                    out.parent.insert(a.key.clone(), p.clone());
                    p
                }
                None => a.key.clone(),
            };
            out.members.entry(top).or_default().push(member);
        }
        for members in out.members.values_mut() {
            members.sort_by(|x, y| x.key.cmp(&y.key));
        }
        out
    }

    /// The key an account is scored under: its parent's, or its own.
    pub fn top<'a>(&'a self, key: &'a str) -> &'a str {
        self.parent.get(key).map_or(key, String::as_str)
    }

    /// The accounts of `parent`, by key (its own account among them when it is one); empty
    /// for a key that is no parent or account at `t`.
    pub fn members(&self, parent: &str) -> &[Member] {
        self.members.get(parent).map_or(&[], Vec::as_slice)
    }

    /// The workspaces that name `parent` (its own account left out); empty for a standalone
    /// account.
    pub fn workspaces(&self, parent: &str) -> Vec<String> {
        self.members(parent)
            .iter()
            .filter(|m| m.key != parent)
            .map(|m| m.key.clone())
            .collect()
    }

    /// True when `key` has workspaces: it is scored over more than its own account.
    pub fn is_parent(&self, key: &str) -> bool {
        self.members(key).iter().any(|m| m.key != key)
    }

    /// The parent's `arr`: the sum of its workspaces' numeric `arr` (none when no workspace has
    /// one). A standalone account's is its own.
    pub fn arr(&self, parent: &str) -> Option<f64> {
        self.members(parent)
            .iter()
            .filter_map(|m| m.arr)
            .fold(None, |sum, a| Some(sum.unwrap_or(0.0) + a))
    }

    /// The parent's `owner_email`: that of the workspace with the highest `arr` that has an
    /// owner (no `arr` ranks below any; ties go to the parent's own account, then to the first
    /// workspace by key).
    pub fn owner(&self, parent: &str) -> Option<&str> {
        self.members(parent)
            .iter()
            .filter(|m| m.owner.is_some())
            .min_by(|x, y| {
                let arr = |m: &Member| m.arr.unwrap_or(f64::NEG_INFINITY);
                arr(y)
                    .total_cmp(&arr(x))
                    .then_with(|| (x.key != parent).cmp(&(y.key != parent)))
                    .then_with(|| x.key.cmp(&y.key))
            })
            .and_then(|m| m.owner.as_deref())
    }

    /// Puts the parent's `arr` and `owner_email` into `props` (an account's properties as of
    /// T) when `key` is a parent; a standalone account's are left as they are.
    pub fn overlay(&self, key: &str, props: &mut Map<String, Value>) {
        if !self.is_parent(key) {
            return;
        }
        match self.arr(key) {
            Some(arr) => props.insert("arr".into(), Value::from(arr)),
            None => props.remove("arr"),
        };
        match self.owner(key) {
            Some(o) => props.insert("owner_email".into(), Value::from(o)),
            None => props.remove("owner_email"),
        };
    }

    /// Files every deal of a workspace under its parent (SPEC §14: deals on a workspace count
    /// at its parent).
    pub fn fold_deals(&self, deals: &mut [crate::store::DealRow]) {
        for d in deals {
            if let Some(p) = self.parent.get(&d.account_key) {
                d.account_key = p.clone();
            }
        }
    }
}

/// An account's properties as of `t` as routing, alerts and the CRM read them: at a parent,
/// `arr` and `owner_email` are the parent's (see [`Family`]).
pub fn account_props(
    store: &Store,
    family: Option<&Family>,
    account_id: i64,
    key: &str,
    t: i64,
) -> Result<Map<String, Value>> {
    let mut props = store.account_props(account_id, t)?;
    if let Some(f) = family {
        f.overlay(key, &mut props);
    }
    Ok(props)
}

/// One workspace's part of a parent at T, for `explain`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Part {
    pub account: String,
    /// Activity events in the signal window (`usage_spike.window_days`).
    pub events: u64,
    /// Distinct active users in that window (a user active in two workspaces is in both).
    pub users: u64,
    /// The fired types of the parent this workspace's events or properties fed.
    pub signals: Vec<SignalType>,
}

/// A parent scored for `explain`: its score over the union of its workspaces, the users
/// active in the window counted once, and each workspace's part.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explained {
    /// The account asked about when it is a workspace of `score.account`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asked: Option<String>,
    pub score: AccountScore,
    /// Distinct active users of the parent in the signal window, each counted once.
    pub users: u64,
    pub parts: Vec<Part>,
}

/// Scores the parent of `key` at `t` (the parent itself when `key` is one, or the account when
/// it stands alone), and each workspace's part. `None` when `key` is neither an account nor a
/// parent at `t`. Writes nothing.
pub fn explain(
    store: &Store,
    cfg: &Config,
    property: &str,
    key: &str,
    t: i64,
) -> Result<Option<Explained>> {
    let facts = Facts::load(store, cfg, &[t], None)?;
    let groups = groups(&facts, property, t);
    let parent = facts
        .accounts
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| parent_of(a, property, t))
        .unwrap_or_else(|| key.to_string());
    let Some(members) = groups.get(&parent) else {
        return Ok(None);
    };
    let members: Vec<&AccountFacts> = members.iter().map(|&i| &facts.accounts[i]).collect();
    let mut links = Links::default();
    let union = union_of(&members, &mut links);
    let m = union_metrics(&members, &union, cfg, t, &facts.features);
    let fired = rules(&m, cfg, t);
    let id = store.account_id(&parent)?.unwrap_or_default();
    let score = score_fired(id, &parent, fired, cfg);

    let parts = parts_of(&members, &union, &m, &score, cfg, t, &facts.features);
    let w0 = t - i64::from(cfg.signals.usage_spike.window_days) * DAY;
    Ok(Some(Explained {
        asked: (parent != key).then(|| key.to_string()),
        users: distinct_users(union.slice(w0, t), w0),
        score,
        parts,
    }))
}

/// Each workspace's part of a parent at `t`: its own events and users in the signal window, and
/// which of the parent's fired types its events or properties fed. `union` and `m` are the
/// parent's facts and metrics ([`union_of`], `metrics` with [`parent_props`]); `explain` and the
/// terminal app's parent detail both read it (the latter through [`parts_at`]).
fn parts_of(
    members: &[&AccountFacts],
    union: &AccountFacts,
    m: &Metrics,
    score: &AccountScore,
    cfg: &Config,
    t: i64,
    features: &std::collections::HashMap<i64, String>,
) -> Vec<Part> {
    let s = &cfg.signals;
    let d = |n: u32| i64::from(n) * DAY;
    let w0 = t - d(s.usage_spike.window_days);
    let tg0 = t - d(s.team_growth.window_days);
    let tg_from = tg0 - d(s.team_growth.lookback_days);
    // The users new at the parent: their first activity in any workspace lies in W.
    let new_users: HashSet<i64> = union
        .slice(tg0, t)
        .iter()
        .filter(|u| u.activity > 0 && u.prev_user < tg_from)
        .map(|u| u.user)
        .collect();
    let te = &s.trial_expiring;
    members
        .iter()
        .map(|a| {
            let own = metrics(a, cfg, t, features);
            let fed = |sig: SignalType| match sig {
                SignalType::UsageSpike => own.activity + own.activity_before > 0,
                SignalType::PricingIntent => own.pricing_views > 0,
                SignalType::FeatureAdoption => {
                    own.new_features.iter().any(|f| m.new_features.contains(f))
                }
                // Every workspace over the ratio could be the one read.
                SignalType::LimitApproaching => rules(&own, cfg, t)
                    .iter()
                    .any(|f| f.signal == SignalType::LimitApproaching),
                SignalType::TrialExpiring => {
                    own.trial_activity > 0
                        || own
                            .props
                            .get(&te.property)
                            .and_then(Value::as_str)
                            .and_then(crate::time::parse_ts)
                            .is_some_and(|e| e > t && e < t + d(te.days_ahead))
                }
                SignalType::TeamGrowth => a
                    .slice(tg0, t)
                    .iter()
                    .any(|u| u.activity > 0 && new_users.contains(&u.user)),
                SignalType::SupportEngagement => own.support_events > 0,
                SignalType::BillingIntent => own.billing_events > 0,
            };
            Part {
                account: a.key.clone(),
                events: own.activity,
                users: distinct_users(a.slice(w0, t), w0),
                signals: score
                    .fired
                    .iter()
                    .map(|f| f.signal)
                    .filter(|s| fed(*s))
                    .collect(),
            }
        })
        .collect()
}

/// Each workspace's part of the parent `score` is for, from facts already loaded (the terminal
/// app loads them once for every parent of its queue): the same parts `explain` lists.
pub fn parts_at(
    facts: &Facts,
    members: &[&AccountFacts],
    score: &AccountScore,
    cfg: &Config,
    t: i64,
) -> Vec<Part> {
    let mut links = Links::default();
    let union = union_of(members, &mut links);
    let m = union_metrics(members, &union, cfg, t, &facts.features);
    parts_of(members, &union, &m, score, cfg, t, &facts.features)
}

/// The workspace's deals with each workspace's deals filed under its parent as of `t` (SPEC
/// §14); without `accounts.parent_property`, every deal as imported.
pub fn deals_at(store: &Store, cfg: &Config, t: i64) -> Result<Vec<crate::store::DealRow>> {
    let mut deals = store.deals()?;
    if let Some(f) = Family::at(store, cfg, t)? {
        f.fold_deals(&mut deals);
    }
    Ok(deals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn account(id: i64, key: &str, props: Value) -> AccountFacts {
        AccountFacts {
            id,
            key: key.into(),
            snapshot: props.as_object().cloned().unwrap_or_default(),
            history: Vec::new(),
            units: Vec::new(),
            earlier: false,
        }
    }

    #[test]
    fn the_owner_is_the_biggest_workspaces_ties_to_the_parents_own_then_by_key() {
        let ws = |id, key: &str, arr: Value, owner: &str| {
            account(
                id,
                key,
                json!({"parent_domain": "acme.com", "arr": arr, "owner_email": owner}),
            )
        };
        let accounts = vec![
            ws(1, "b.acme.com", json!(500), "b@x"),
            ws(2, "a.acme.com", json!("500"), "a@x"),
            ws(3, "c.acme.com", json!(100), "c@x"),
            ws(4, "d.acme.com", json!(null), "d@x"),
        ];
        let f = Family::of(&accounts, "parent_domain", 0);
        assert_eq!(f.arr("acme.com"), Some(1100.0));
        assert_eq!(
            f.owner("acme.com"),
            Some("a@x"),
            "a tie goes to the first key"
        );
        assert_eq!(f.top("b.acme.com"), "acme.com");
        assert_eq!(f.workspaces("acme.com").len(), 4);

        let mut with_own = accounts.clone();
        with_own.push(account(
            5,
            "acme.com",
            json!({"arr": 500, "owner_email": "own@x"}),
        ));
        let f = Family::of(&with_own, "parent_domain", 0);
        assert_eq!(
            f.arr("acme.com"),
            Some(1600.0),
            "its own account is one more workspace"
        );
        assert_eq!(
            f.owner("acme.com"),
            Some("own@x"),
            "a tie goes to the parent's own"
        );
        assert_eq!(
            f.workspaces("acme.com").len(),
            4,
            "its own account is not listed"
        );

        // The biggest workspace has no owner: the next biggest that has one.
        let f = Family::of(
            &[
                ws(1, "a.acme.com", json!(900), ""),
                ws(2, "b.acme.com", json!(10), "b@x"),
            ],
            "parent_domain",
            0,
        );
        assert_eq!(f.owner("acme.com"), Some("b@x"));
        // No workspace has an arr: the parent has none (not 0).
        let f = Family::of(&[ws(1, "a.acme.com", json!(null), "")], "parent_domain", 0);
        assert_eq!(f.arr("acme.com"), None);
        assert!(f.is_parent("acme.com") && !f.is_parent("a.acme.com"));
    }
}
