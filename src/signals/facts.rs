//! What detection reads, loaded once for one or more dates: per account, a time-ordered list of
//! units (a whole-day rollup row, or one raw event on a day where a window edge falls mid-day).
//!
//! Every window edge is `T − k days`; a day holding an edge that is not at midnight is read event
//! by event, so every unit lies wholly inside or outside every window and counts are exact.
//! Distinct counts use `prev_*`: the start of the previous unit of the same user (or feature) of
//! the account; a unit opens a new distinct value in `[a, b)` exactly when its `prev_*` < a.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use crate::config::Config;
use crate::error::Result;
use crate::store::units::{self, UnitKey};
use crate::store::{Classifier, Store, Window};
use crate::time::{DAY, day_of};

#[derive(Debug, Clone, Copy)]
pub struct Unit {
    pub start: i64,
    pub last: i64,
    pub user: i64,
    pub feature: i64,
    pub activity: u32,
    pub pricing: u32,
    pub support: u32,
    pub billing: u32,
    pub prev_user: i64,
    pub prev_feature: i64,
}

const NONE: i64 = i64::MIN;

#[derive(Debug, Clone)]
pub struct AccountFacts {
    pub id: i64,
    pub key: String,
    pub snapshot: Map<String, Value>,
    /// `$group_set` by time.
    pub history: Vec<(i64, Map<String, Value>)>,
    pub units: Vec<Unit>,
}

impl AccountFacts {
    /// Units starting in `[a, b)`.
    pub fn slice(&self, a: i64, b: i64) -> &[Unit] {
        let lo = self.units.partition_point(|u| u.start < a);
        let hi = self.units.partition_point(|u| u.start < b);
        &self.units[lo..hi.max(lo)]
    }

    /// Properties as of `t`: the snapshot overlaid with every `$group_set` before `t`.
    pub fn props_at(&self, t: i64) -> Map<String, Value> {
        let mut props = self.snapshot.clone();
        for (ts, set) in &self.history {
            if *ts >= t {
                break;
            }
            for (k, v) in set {
                props.insert(k.clone(), v.clone());
            }
        }
        props
    }
}

#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub accounts: Vec<AccountFacts>,
    pub features: HashMap<i64, String>,
    /// The range loaded: windows must start at or after `from`.
    pub from: i64,
    pub to: i64,
}

/// The start of every window detection and health use at `t`, earliest first.
pub fn window_starts(cfg: &Config, t: i64) -> Vec<i64> {
    let s = &cfg.signals;
    let d = |n: u32| i64::from(n) * DAY;
    let mut v = vec![
        t - d(s.usage_spike.window_days),
        t - 2 * d(s.usage_spike.window_days),
        t - d(s.pricing_intent.window_days),
        t - d(s.feature_adoption.window_days),
        t - d(s.feature_adoption.window_days) - d(s.feature_adoption.lookback_days),
        t - d(s.trial_expiring.window_days),
        t - d(s.team_growth.window_days),
        t - d(s.team_growth.window_days) - d(s.team_growth.lookback_days),
        t - d(s.support_engagement.window_days),
        t - d(s.billing_intent.window_days),
    ];
    // Health (SPEC §4): fixed 7, 14, 30 and 44 days.
    v.extend([7, 14, 30, 44].map(|n| t - n * DAY));
    v.sort_unstable();
    v
}

impl Facts {
    /// Loads everything detection at each of `dates` needs; `only` limits it to one account.
    pub fn load(store: &Store, cfg: &Config, dates: &[i64], only: Option<i64>) -> Result<Self> {
        let Some(&to) = dates.iter().max() else {
            return Ok(Self::default());
        };
        let mut edges = BTreeSet::new();
        let mut from = to;
        for &t in dates {
            let starts = window_starts(cfg, t);
            from = from.min(starts[0]);
            edges.insert(t);
            edges.extend(starts);
        }
        let raw_days: BTreeSet<i64> = edges
            .iter()
            .filter(|e| e.rem_euclid(DAY) != 0)
            .map(|e| day_of(*e))
            .collect();
        let window = Window {
            from_day: day_of(from),
            to_day: day_of(to),
            raw_days,
        };

        let mut accounts = Vec::new();
        let mut index = HashMap::new();
        for (id, key, snapshot) in store.accounts()? {
            if only.is_some_and(|o| o != id) {
                continue;
            }
            let snapshot = snapshot
                .and_then(|s| serde_json::from_str::<Map<String, Value>>(&s).ok())
                .unwrap_or_default();
            index.insert(id, accounts.len());
            accounts.push(AccountFacts {
                id,
                key,
                snapshot,
                history: Vec::new(),
                units: Vec::new(),
            });
        }
        for (account, ts, props) in store.prop_history()? {
            if let (Some(&i), Ok(set)) = (
                index.get(&account),
                serde_json::from_str::<Map<String, Value>>(&props),
            ) {
                accounts[i].history.push((ts, set));
            }
        }

        let blank = |start: i64| Unit {
            start,
            last: start,
            user: NONE,
            feature: NONE,
            activity: 0,
            pricing: 0,
            support: 0,
            billing: 0,
            prev_user: NONE,
            prev_feature: NONE,
        };
        let n32 = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        store.for_account_units(only, |account, data| {
            let Some(&i) = index.get(&account) else {
                return;
            };
            let units = &mut accounts[i].units;
            units::decode(data, |key, c| {
                let (UnitKey::User { day, .. } | UnitKey::Feature { day, .. }) = key;
                if day < window.from_day || day > window.to_day || window.raw_days.contains(&day) {
                    return;
                }
                let start = day * DAY;
                units.push(match key {
                    UnitKey::User { user, .. } => Unit {
                        last: c.last_ts.unwrap_or(start),
                        user,
                        activity: n32(c.activity),
                        pricing: n32(c.pricing),
                        support: n32(c.support),
                        billing: n32(c.billing),
                        ..blank(start)
                    },
                    UnitKey::Feature { feature, .. } => Unit {
                        feature,
                        ..blank(start)
                    },
                });
            });
        })?;
        let classifier = Classifier::new(cfg);
        let classes = classifier.classes(&store.names()?);
        for run in day_runs(&window.raw_days) {
            store.for_raw_events(run.0 * DAY, (run.1 + 1) * DAY, only, |e| {
                let Some(&i) = index.get(&e.account) else {
                    return;
                };
                let class = classes.get(&e.name).copied().unwrap_or_default();
                let pricing =
                    class.pageview && e.url.as_deref().is_some_and(|u| classifier.is_pricing(u));
                accounts[i].units.push(Unit {
                    user: e.user,
                    feature: if class.feature {
                        e.feature.unwrap_or(NONE)
                    } else {
                        NONE
                    },
                    activity: u32::from(class.activity),
                    pricing: u32::from(pricing),
                    support: u32::from(class.support),
                    billing: u32::from(class.billing),
                    ..blank(e.ts)
                });
            })?;
        }
        for a in &mut accounts {
            link(&mut a.units);
        }
        Ok(Self {
            accounts,
            features: store.feature_names()?,
            from,
            to,
        })
    }
}

/// Contiguous runs of days, as (first, last).
fn day_runs(days: &BTreeSet<i64>) -> Vec<(i64, i64)> {
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for &d in days {
        match runs.last_mut() {
            Some(r) if r.1 + 1 == d => r.1 = d,
            _ => runs.push((d, d)),
        }
    }
    runs
}

/// Sorts units by start and sets each one's `prev_user` and `prev_feature`.
pub fn link(units: &mut [Unit]) {
    units.sort_by_key(|u| (u.start, u.user, u.feature));
    let mut users: HashMap<i64, i64> = HashMap::new();
    let mut features: HashMap<i64, i64> = HashMap::new();
    for u in units.iter_mut() {
        if u.activity > 0 {
            u.prev_user = users.insert(u.user, u.start).unwrap_or(NONE);
        }
        if u.feature != NONE {
            u.prev_feature = features.insert(u.feature, u.start).unwrap_or(NONE);
        }
    }
}

/// Distinct active users in units starting in `[a, b)` of `units`.
pub fn distinct_users(units: &[Unit], a: i64) -> u64 {
    units
        .iter()
        .filter(|u| u.activity > 0 && u.prev_user < a)
        .count() as u64
}

/// Distinct features used in units starting in `[a, ..)` whose previous use was before `since`.
pub fn new_features(units: &[Unit], since: i64) -> impl Iterator<Item = i64> + '_ {
    units
        .iter()
        .filter(move |u| u.feature != NONE && u.prev_feature < since)
        .map(|u| u.feature)
}
