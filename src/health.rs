//! Account health (SPEC §4) as of T: active users, week-over-week activity, last seen, features,
//! a status per account, growth leaders and feature adoption.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::Result;
use crate::signals::facts::{AccountFacts, Facts, Links, distinct_users, new_features};
use crate::signals::parents;
use crate::store::Store;
use crate::time::{DAY, day_of, fmt_ts};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    AtRisk,
    Growing,
    Stable,
    Inactive,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::AtRisk,
        Status::Growing,
        Status::Stable,
        Status::Inactive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::AtRisk => "at_risk",
            Status::Growing => "growing",
            Status::Stable => "stable",
            Status::Inactive => "inactive",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Days of activity in [`AccountHealth::daily`].
pub const SPARK_DAYS: usize = 30;

/// One account's health as of T.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountHealth {
    pub account: String,
    pub status: Status,
    pub active_users_30d: u64,
    pub events_7d: u64,
    pub events_prev_7d: u64,
    /// (W − P) / P; null when P = 0.
    pub growth: Option<f64>,
    /// The last activity event before T; null when there is none.
    pub last_seen: Option<String>,
    pub days_since_seen: Option<f64>,
    pub features_30d: u64,
    /// Activity events per UTC day, oldest first; the last is the day of T up to T.
    pub daily: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrowthLeader {
    pub account: String,
    pub growth: f64,
    pub events_7d: u64,
    pub events_prev_7d: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureUse {
    pub feature: String,
    pub accounts: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    pub as_of: String,
    /// Accounts per status.
    pub counts: BTreeMap<Status, u64>,
    pub accounts: Vec<AccountHealth>,
    /// Highest week-over-week growth among accounts with at least 10 events the week before.
    pub growth_leaders: Vec<GrowthLeader>,
    /// Accounts that used each feature in the last 30 days, most used first.
    pub feature_adoption: Vec<FeatureUse>,
}

/// Activity the week before needed for growth to mean something (SPEC §4).
const MIN_PREV: u64 = 10;
/// How many growth leaders are listed.
pub const LEADERS: usize = 10;

/// Health of every account at `t`; with `accounts.parent_property`, of every parent and
/// standalone account (active users each counted once across workspaces, events summed, the
/// last seen the latest of any workspace).
pub fn compute(store: &Store, cfg: &Config, t: i64) -> Result<HealthReport> {
    store.ensure_rollups(cfg)?;
    let last_seen = store.last_seen(t, &store.activity_name_ids(cfg)?)?;
    let mut adoption: BTreeMap<i64, u64> = BTreeMap::new();
    let mut accounts = Vec::new();
    let mut add = |(h, used): (AccountHealth, Vec<i64>)| {
        for f in used {
            *adoption.entry(f).or_default() += 1;
        }
        accounts.push(h);
    };
    let features = match cfg.accounts.parent() {
        // SPEC §14: health at the parent, over the union of its workspaces' events.
        Some(property) => {
            let facts = Facts::load_all(store, cfg, &[t])?;
            let mut links = Links::default();
            for (key, idx) in parents::groups(&facts, property, t) {
                let members: Vec<&AccountFacts> = idx.iter().map(|&i| &facts.accounts[i]).collect();
                let last = members
                    .iter()
                    .filter_map(|a| last_seen.get(&a.id).copied())
                    .max();
                add(match members.as_slice() {
                    [only] if only.key == key => account(only, t, last),
                    _ => {
                        let mut union = parents::union_of(&members, &mut links);
                        union.key = key;
                        account(&union, t, last)
                    }
                });
            }
            facts.features
        }
        // Health reads no account properties.
        None => {
            Facts::scan(store, cfg, &[t], None, Some(&[]), |a, _| {
                add(account(a, t, last_seen.get(&a.id).copied()));
                Ok(())
            })?
            .2
        }
    };
    let adoption = adoption
        .into_iter()
        .map(|(f, n)| {
            (
                features.get(&f).cloned().unwrap_or_else(|| f.to_string()),
                n,
            )
        })
        .collect();
    Ok(assemble(accounts, adoption, t))
}

/// Windowed activity of one account, as a source that aggregates remotely (the `source` module)
/// returns it: SPEC §4's inputs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    pub active_users_30d: u64,
    pub events_7d: u64,
    pub events_prev_7d: u64,
    /// Activity in [T − 14 d, T) and in [T − 44 d, T − 14 d).
    pub events_14d: u64,
    pub events_44_14d: u64,
    pub features_30d: u64,
    /// The last activity event before T (a remote source looks within the 44 days it reads).
    pub last_seen: Option<i64>,
    /// Activity per UTC day as [`AccountHealth::daily`]; empty when the source gave none.
    pub daily: Vec<u32>,
    /// The features used in the last 30 days (for feature adoption).
    pub features: Vec<String>,
}

/// Health from per-account counts aggregated elsewhere. Accounts with any activity in the last
/// 30 days have an active user, so "no activity in 30 days" is `active_users_30d == 0`.
pub fn from_counts(rows: impl IntoIterator<Item = (String, Counts)>, t: i64) -> HealthReport {
    let mut adoption: BTreeMap<String, u64> = BTreeMap::new();
    let accounts = rows
        .into_iter()
        .map(|(account, c)| {
            for f in &c.features {
                *adoption.entry(f.clone()).or_default() += 1;
            }
            let last_30d = u64::from(c.active_users_30d > 0);
            let (w, p) = (c.events_7d, c.events_prev_7d);
            AccountHealth {
                account,
                status: status(w, p, c.events_14d, c.events_44_14d, last_30d),
                active_users_30d: c.active_users_30d,
                events_7d: w,
                events_prev_7d: p,
                growth: (p > 0).then(|| (w as f64 - p as f64) / p as f64),
                last_seen: c.last_seen.map(fmt_ts),
                days_since_seen: c.last_seen.map(|l| (t - l) as f64 / DAY as f64),
                features_30d: c.features_30d,
                daily: c.daily,
            }
        })
        .collect();
    assemble(accounts, adoption, t)
}

/// Counts per status, growth leaders and feature adoption around per-account health.
fn assemble(
    mut accounts: Vec<AccountHealth>,
    adoption: BTreeMap<String, u64>,
    t: i64,
) -> HealthReport {
    accounts.sort_by(|x, y| x.account.cmp(&y.account));

    let mut counts: BTreeMap<Status, u64> = Status::ALL.iter().map(|s| (*s, 0)).collect();
    for a in &accounts {
        *counts.entry(a.status).or_default() += 1;
    }
    let mut growth_leaders: Vec<GrowthLeader> = accounts
        .iter()
        .filter(|a| a.events_prev_7d >= MIN_PREV)
        .filter_map(|a| {
            Some(GrowthLeader {
                account: a.account.clone(),
                growth: a.growth?,
                events_7d: a.events_7d,
                events_prev_7d: a.events_prev_7d,
            })
        })
        .collect();
    growth_leaders.sort_by(|x, y| {
        y.growth
            .total_cmp(&x.growth)
            .then_with(|| x.account.cmp(&y.account))
    });
    growth_leaders.truncate(LEADERS);
    let mut feature_adoption: Vec<FeatureUse> = adoption
        .into_iter()
        .map(|(feature, accounts)| FeatureUse { feature, accounts })
        .collect();
    feature_adoption.sort_by(|x, y| {
        y.accounts
            .cmp(&x.accounts)
            .then_with(|| x.feature.cmp(&y.feature))
    });
    HealthReport {
        as_of: fmt_ts(t),
        counts,
        accounts,
        growth_leaders,
        feature_adoption,
    }
}

/// SPEC §4's status from the week, the week before, and activity over 14, 30 and 44 days.
pub fn status(w: u64, p: u64, last_14d: u64, from_44_to_14d: u64, last_30d: u64) -> Status {
    if last_30d == 0 {
        Status::Inactive
    } else if (p >= MIN_PREV && (w as f64) < 0.5 * p as f64)
        || (last_14d == 0 && from_44_to_14d > 0)
    {
        Status::AtRisk
    } else if p >= MIN_PREV && w as f64 > 1.2 * p as f64 {
        Status::Growing
    } else {
        Status::Stable
    }
}

/// One account's health, and the features it used in the last 30 days.
fn account(a: &AccountFacts, t: i64, last_seen: Option<i64>) -> (AccountHealth, Vec<i64>) {
    let d = |n: i64| t - n * DAY;
    let activity = |from: i64, to: i64| -> u64 {
        a.slice(from, to)
            .iter()
            .map(|u| u64::from(u.activity))
            .sum()
    };
    let (w, p) = (activity(d(7), t), activity(d(14), d(7)));
    let last_30d = activity(d(30), t);
    let status = status(w, p, activity(d(14), t), activity(d(44), d(14)), last_30d);
    let mut features: Vec<i64> = new_features(a.slice(d(30), t), d(30)).collect();
    features.sort_unstable();
    features.dedup();

    let last_day = day_of(t - 1);
    let first_day = last_day - SPARK_DAYS as i64 + 1;
    let mut daily = vec![0u32; SPARK_DAYS];
    for u in a.slice(first_day * DAY, t) {
        let i = (day_of(u.start) - first_day) as usize;
        if let Some(slot) = daily.get_mut(i) {
            *slot = slot.saturating_add(u.activity);
        }
    }
    let h = AccountHealth {
        account: a.key.clone(),
        status,
        active_users_30d: distinct_users(a.slice(d(30), t), d(30)),
        events_7d: w,
        events_prev_7d: p,
        growth: (p > 0).then(|| (w as f64 - p as f64) / p as f64),
        last_seen: last_seen.map(fmt_ts),
        days_since_seen: last_seen.map(|l| (t - l) as f64 / DAY as f64),
        features_30d: features.len() as u64,
        daily,
    };
    (h, features)
}
