//! The eight signals of SPEC §2, the score, tiers and routing of §3, and their explanation.

pub mod diff;
pub mod facts;
pub mod next_step;
pub mod parents;
pub mod routing;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Config;
use crate::time::{DAY, fmt_date};
use facts::{AccountFacts, Facts, distinct_users, new_features};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalType {
    UsageSpike,
    PricingIntent,
    FeatureAdoption,
    LimitApproaching,
    TrialExpiring,
    TeamGrowth,
    SupportEngagement,
    BillingIntent,
}

impl SignalType {
    pub const ALL: [SignalType; 8] = [
        Self::UsageSpike,
        Self::PricingIntent,
        Self::FeatureAdoption,
        Self::LimitApproaching,
        Self::TrialExpiring,
        Self::TeamGrowth,
        Self::SupportEngagement,
        Self::BillingIntent,
    ];

    pub fn as_str(self) -> &'static str {
        crate::config::SIGNAL_NAMES[self as usize]
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Base score under `cfg`.
    pub fn base(self, cfg: &Config) -> u32 {
        let s = &cfg.signals;
        match self {
            Self::UsageSpike => s.usage_spike.base,
            Self::PricingIntent => s.pricing_intent.base,
            Self::FeatureAdoption => s.feature_adoption.base,
            Self::LimitApproaching => s.limit_approaching.base,
            Self::TrialExpiring => s.trial_expiring.base,
            Self::TeamGrowth => s.team_growth.base,
            Self::SupportEngagement => s.support_engagement.base,
            Self::BillingIntent => s.billing_intent.base,
        }
    }

    /// Whether the type is switched on under `cfg`.
    pub fn enabled(self, cfg: &Config) -> bool {
        let s = &cfg.signals;
        match self {
            Self::UsageSpike => s.usage_spike.enabled,
            Self::PricingIntent => s.pricing_intent.enabled,
            Self::FeatureAdoption => s.feature_adoption.enabled,
            Self::LimitApproaching => s.limit_approaching.enabled,
            Self::TrialExpiring => s.trial_expiring.enabled,
            Self::TeamGrowth => s.team_growth.enabled,
            Self::SupportEngagement => s.support_engagement.enabled,
            Self::BillingIntent => s.billing_intent.enabled,
        }
    }
}

impl std::fmt::Display for SignalType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Hot,
    Warm,
    Cool,
}

impl Tier {
    pub fn of(score: u32, cfg: &Config) -> Self {
        if score >= cfg.tiers.hot {
            Tier::Hot
        } else if score >= cfg.tiers.warm {
            Tier::Warm
        } else {
            Tier::Cool
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Hot => "hot",
            Tier::Warm => "warm",
            Tier::Cool => "cool",
        }
    }
}

/// A signal that fired, with its evidence in words and numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fired {
    pub signal: SignalType,
    pub base: u32,
    pub evidence: String,
    pub numbers: BTreeMap<String, Value>,
}

/// The parts a score is made of (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ScoreParts {
    pub base_sum: u32,
    pub capped: u32,
    pub bonus: u32,
}

impl ScoreParts {
    pub fn of(bases: &[u32], cfg: &Config) -> Self {
        let base_sum: u32 = bases.iter().sum();
        let n = u32::try_from(bases.len()).unwrap_or(u32::MAX);
        Self {
            base_sum,
            capped: base_sum.min(cfg.score.cap),
            bonus: cfg
                .score
                .bonus_per_type
                .saturating_mul(n)
                .min(cfg.score.bonus_cap),
        }
    }

    pub fn score(&self) -> u32 {
        (self.capped + self.bonus).min(100)
    }
}

/// One account's result at one date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountScore {
    pub account_id: i64,
    pub account: String,
    pub score: u32,
    pub tier: Tier,
    pub routed: bool,
    pub parts: ScoreParts,
    pub fired: Vec<Fired>,
}

impl crate::store::Scored for AccountScore {
    fn account_id(&self) -> i64 {
        self.account_id
    }
    fn account(&self) -> &str {
        &self.account
    }
    fn score(&self) -> u32 {
        self.score
    }
    fn tier(&self) -> &'static str {
        self.tier.as_str()
    }
    fn routed(&self) -> bool {
        self.routed
    }
    fn fired_types(&self) -> Vec<&'static str> {
        self.fired.iter().map(|f| f.signal.as_str()).collect()
    }
    fn fired(&self) -> Vec<crate::store::FiredRow<'_>> {
        self.fired
            .iter()
            .map(|f| crate::store::FiredRow {
                signal: f.signal.as_str(),
                base: f.base,
                evidence: &f.evidence,
                numbers: serde_json::to_string(&f.numbers).unwrap_or_default(),
            })
            .collect()
    }
}

fn days_phrase(days: u32) -> String {
    if days == 1 {
        "1 day".into()
    } else {
        format!("{days} days")
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn num(v: impl Into<Value>) -> Value {
    v.into()
}

/// A property as a number: a JSON number, or a string that parses as one.
pub fn numeric(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// What the rules look at for one account at one time T, whatever the backend: the embedded
/// store computes it from [`facts::Facts`], a remote source (the `source` module) from its own queries. Each count uses its signal's
/// own window (`window_days`), as SPEC §2 defines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// usage_spike: activity events in W and in the window before it.
    pub activity: u64,
    pub activity_before: u64,
    /// pricing_intent: pricing page views in W.
    pub pricing_views: u64,
    /// feature_adoption: features used in W and not in the lookback before it, sorted.
    pub new_features: Vec<String>,
    /// trial_expiring: activity events in its window.
    pub trial_activity: u64,
    /// team_growth: users whose first activity in lookback ∪ W falls in W.
    pub new_users: u64,
    /// support_engagement and billing_intent: events named in their lists, in W.
    pub support_events: u64,
    pub billing_events: u64,
    /// The account properties the rules read ([`rule_properties`]), as of T.
    pub props: serde_json::Map<String, Value>,
}

/// The account properties the rules read: every limit pair and the trial end.
pub fn rule_properties(cfg: &Config) -> Vec<&str> {
    let s = &cfg.signals;
    let mut keys = Vec::new();
    if s.limit_approaching.enabled {
        keys.extend(
            s.limit_approaching
                .pairs
                .iter()
                .flatten()
                .map(String::as_str),
        );
    }
    if s.trial_expiring.enabled {
        keys.push(s.trial_expiring.property.as_str());
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Computes the [`Metrics`] of one account at `t` from loaded facts.
pub fn metrics(
    a: &AccountFacts,
    cfg: &Config,
    t: i64,
    features: &std::collections::HashMap<i64, String>,
) -> Metrics {
    metrics_with(a, cfg, t, features, &rule_properties(cfg))
}

/// [`metrics`] with `cfg`'s [`rule_properties`] computed once by the caller (a replay scores
/// every account at every date).
pub fn metrics_with(
    a: &AccountFacts,
    cfg: &Config,
    t: i64,
    features: &std::collections::HashMap<i64, String>,
    properties: &[&str],
) -> Metrics {
    let s = &cfg.signals;
    let d = |n: u32| i64::from(n) * DAY;
    let sum = |from: i64, to: i64, f: fn(&facts::Unit) -> u32| -> u64 {
        a.slice(from, to).iter().map(|u| u64::from(f(u))).sum()
    };
    let us0 = t - d(s.usage_spike.window_days);
    let fa0 = t - d(s.feature_adoption.window_days);
    let mut new_features: Vec<String> =
        new_features(a.slice(fa0, t), fa0 - d(s.feature_adoption.lookback_days))
            .filter_map(|f| features.get(&f).cloned())
            .collect();
    new_features.sort_unstable();
    new_features.dedup();
    let tg0 = t - d(s.team_growth.window_days);
    Metrics {
        activity: sum(us0, t, |u| u.activity),
        activity_before: sum(us0 - d(s.usage_spike.window_days), us0, |u| u.activity),
        pricing_views: sum(t - d(s.pricing_intent.window_days), t, |u| u.pricing),
        new_features,
        trial_activity: sum(t - d(s.trial_expiring.window_days), t, |u| u.activity),
        new_users: distinct_users(a.slice(tg0, t), tg0 - d(s.team_growth.lookback_days)),
        support_events: sum(t - d(s.support_engagement.window_days), t, |u| u.support),
        billing_events: sum(t - d(s.billing_intent.window_days), t, |u| u.billing),
        props: a.props_subset_at(t, properties),
    }
}

/// Detects every signal of one account at `t` from loaded facts.
pub fn detect(
    a: &AccountFacts,
    cfg: &Config,
    t: i64,
    features: &std::collections::HashMap<i64, String>,
) -> Vec<Fired> {
    rules(&metrics(a, cfg, t, features), cfg, t)
}

/// The eight rules of SPEC §2 over an account's metrics at `t`, with evidence.
pub fn rules(m: &Metrics, cfg: &Config, t: i64) -> Vec<Fired> {
    let s = &cfg.signals;
    let d = |n: u32| i64::from(n) * DAY;
    let mut out = Vec::new();
    let mut fire = |signal: SignalType, evidence: String, numbers: Vec<(&str, Value)>| {
        out.push(Fired {
            signal,
            base: signal.base(cfg),
            evidence,
            numbers: numbers
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        });
    };

    let us = &s.usage_spike;
    let (now, before) = (m.activity, m.activity_before);
    if us.enabled && before >= us.min_baseline && now as f64 > before as f64 * (1.0 + us.min_growth)
    {
        let growth = (now as f64 - before as f64) / before as f64;
        let period = if us.window_days == 7 {
            "week over week".to_string()
        } else {
            format!("over the previous {}", days_phrase(us.window_days))
        };
        fire(
            SignalType::UsageSpike,
            format!(
                "activity up {:.0} % {period}: {now} vs {before} events",
                growth * 100.0
            ),
            vec![
                ("events", num(now)),
                ("events_before", num(before)),
                ("growth", num(growth)),
            ],
        );
    }

    let pi = &s.pricing_intent;
    if pi.enabled && m.pricing_views >= pi.min_count {
        let n = m.pricing_views;
        fire(
            SignalType::PricingIntent,
            format!(
                "{} in {}",
                plural(n, "pricing page view", "pricing page views"),
                days_phrase(pi.window_days)
            ),
            vec![("pricing_views", num(n))],
        );
    }

    let fa = &s.feature_adoption;
    let n = m.new_features.len() as u64;
    if fa.enabled && n >= fa.min_new_features {
        fire(
            SignalType::FeatureAdoption,
            format!(
                "{} in {}: {}",
                plural(n, "new feature", "new features"),
                days_phrase(fa.window_days),
                m.new_features.join(", ")
            ),
            vec![
                ("new_features", num(n)),
                ("features", Value::from(m.new_features.clone())),
            ],
        );
    }

    let la = &s.limit_approaching;
    if la.enabled {
        let best = la
            .pairs
            .iter()
            .filter_map(|[used, limit]| {
                let u = numeric(m.props.get(used))?;
                let l = numeric(m.props.get(limit)).filter(|l| *l > 0.0)?;
                Some((used, limit, u, l, u / l))
            })
            .filter(|p| p.4 > la.min_ratio)
            .max_by(|x, y| x.4.total_cmp(&y.4));
        if let Some((used, limit, u, l, ratio)) = best {
            fire(
                SignalType::LimitApproaching,
                format!("{used} {u} of {limit} {l} ({:.0} %)", ratio * 100.0),
                vec![
                    ("used", num(u)),
                    ("limit", num(l)),
                    ("ratio", num(ratio)),
                    ("property", num(used.as_str())),
                ],
            );
        }
    }

    let te = &s.trial_expiring;
    if te.enabled {
        let ends = m
            .props
            .get(&te.property)
            .and_then(Value::as_str)
            .and_then(crate::time::parse_ts);
        if let Some(ends) = ends.filter(|e| *e > t && *e < t + d(te.days_ahead))
            && m.trial_activity >= te.min_activity
        {
            let left = (ends - t) as f64 / DAY as f64;
            fire(
                SignalType::TrialExpiring,
                format!(
                    "trial ends {} (in {left:.1} days) with {} events in {}",
                    fmt_date(ends),
                    m.trial_activity,
                    days_phrase(te.window_days)
                ),
                vec![
                    ("trial_ends_at", num(crate::time::fmt_ts(ends))),
                    ("days_left", num(left)),
                    ("events", num(m.trial_activity)),
                ],
            );
        }
    }

    let tg = &s.team_growth;
    if tg.enabled && m.new_users >= tg.min_new_users {
        fire(
            SignalType::TeamGrowth,
            format!(
                "{} in {}",
                plural(m.new_users, "new active user", "new active users"),
                days_phrase(tg.window_days)
            ),
            vec![("new_users", num(m.new_users))],
        );
    }

    for (signal, c, what, n) in [
        (
            SignalType::SupportEngagement,
            &s.support_engagement,
            "support",
            m.support_events,
        ),
        (
            SignalType::BillingIntent,
            &s.billing_intent,
            "billing",
            m.billing_events,
        ),
    ] {
        if c.enabled && n >= c.min_count {
            fire(
                signal,
                format!(
                    "{} in {}",
                    plural(n, &format!("{what} event"), &format!("{what} events")),
                    days_phrase(c.window_days)
                ),
                vec![("events", num(n))],
            );
        }
    }
    out
}

/// Scores one account from its fired signals.
pub fn score(a: &AccountFacts, fired: Vec<Fired>, cfg: &Config) -> AccountScore {
    score_fired(a.id, &a.key, fired, cfg)
}

/// The score, tier and routing of SPEC §3 for an account's fired signals.
pub fn score_fired(account_id: i64, key: &str, fired: Vec<Fired>, cfg: &Config) -> AccountScore {
    let bases: Vec<u32> = fired.iter().map(|f| f.base).collect();
    let parts = ScoreParts::of(&bases, cfg);
    let score = if fired.is_empty() { 0 } else { parts.score() };
    AccountScore {
        account_id,
        account: key.to_string(),
        score,
        tier: Tier::of(score, cfg),
        routed: !fired.is_empty() && score >= cfg.route_threshold,
        parts,
        fired,
    }
}

/// The queue's order: best score first, then by account key.
pub fn sort_scores(scores: &mut [AccountScore]) {
    scores.sort_by(|x, y| {
        y.score
            .cmp(&x.score)
            .then_with(|| x.account.cmp(&y.account))
    });
}

/// Scores accounts from metrics any backend computed (`(account id, key, metrics)`), with the
/// same rules and order as [`score_all`]: best first, then by key; accounts with no fired
/// signal are left out.
pub fn score_metrics(items: &[(i64, String, Metrics)], cfg: &Config, t: i64) -> Vec<AccountScore> {
    let mut out: Vec<AccountScore> = items
        .iter()
        .filter_map(|(id, key, m)| {
            let fired = rules(m, cfg, t);
            (!fired.is_empty()).then(|| score_fired(*id, key, fired, cfg))
        })
        .collect();
    sort_scores(&mut out);
    out
}

/// Scores every account at `t`, best first (then by key). Accounts with no fired signal are left out.
pub fn score_all(facts: &Facts, cfg: &Config, t: i64) -> Vec<AccountScore> {
    let mut out: Vec<AccountScore> = facts
        .accounts
        .iter()
        .filter_map(|a| {
            let fired = detect(a, cfg, t, &facts.features);
            (!fired.is_empty()).then(|| score(a, fired, cfg))
        })
        .collect();
    sort_scores(&mut out);
    out
}

/// Scores every account at `t` straight from the store, one account at a time (no facts held
/// in memory). Returns the scores (as [`score_all`]) and how many accounts were looked at.
/// A file-backed workspace with many accounts is scanned in two halves on two connections.
pub fn score_scan(
    store: &crate::store::Store,
    cfg: &Config,
    t: i64,
) -> crate::Result<(Vec<AccountScore>, usize)> {
    let (mut per_date, seen) = score_scan_dates(store, cfg, &[t])?;
    Ok((per_date.pop().unwrap_or_default(), seen))
}

/// [`score_scan`] at several dates in one pass over the store: each account's facts are read
/// once for all of them. Returns the scores of each date, in the order of `dates`.
pub fn score_scan_dates(
    store: &crate::store::Store,
    cfg: &Config,
    dates: &[i64],
) -> crate::Result<(Vec<Vec<AccountScore>>, usize)> {
    if let Some(property) = cfg.accounts.parent() {
        return parents::score_dates(store, cfg, property, dates);
    }
    let keep = rule_properties(cfg);
    let part = |store: &crate::store::Store,
                ids: (i64, i64)|
     -> crate::Result<(Vec<Vec<AccountScore>>, usize)> {
        let mut out = vec![Vec::new(); dates.len()];
        let mut seen = 0;
        Facts::scan_in(store, cfg, dates, ids, Some(&keep), |a, features| {
            seen += 1;
            for (i, t) in dates.iter().enumerate() {
                let fired = detect(a, cfg, *t, features);
                if !fired.is_empty() {
                    out[i].push(score(a, fired, cfg));
                }
            }
            Ok(())
        })?;
        Ok((out, seen))
    };
    // Mapped reads for the scan, on each half's connection; off again after.
    let scanned = facts::in_halves(store, |store, ids| {
        store.set_mmap(true)?;
        part(store, ids)
    })
    .map(|halves| {
        let mut halves = halves.into_iter();
        let (mut out, mut seen) = halves.next().unwrap_or_default();
        for (more, n) in halves {
            for (x, y) in out.iter_mut().zip(more) {
                x.extend(y);
            }
            seen += n;
        }
        (out, seen)
    });
    store.set_mmap(false)?;
    let (mut out, seen) = scanned?;
    for scores in &mut out {
        sort_scores(scores);
    }
    Ok((out, seen))
}

/// The arithmetic of a score in one line: "80 base, capped at 80 → 80; bonus 5 × 3 types = 15
/// (cap 20) → 95".
pub fn parts_line(s: &AccountScore, cfg: &Config) -> String {
    format!(
        "{} base, capped at {} → {}; bonus {} × {} types = {} (cap {}) → {}",
        s.parts.base_sum,
        cfg.score.cap,
        s.parts.capped,
        cfg.score.bonus_per_type,
        s.fired.len(),
        s.parts.bonus,
        cfg.score.bonus_cap,
        s.score
    )
}

/// The score's parts and evidence, as lines for a person.
pub fn explain(s: &AccountScore, cfg: &Config) -> Vec<String> {
    let mut lines = vec![format!(
        "{}: score {} ({})",
        s.account,
        s.score,
        s.tier.as_str()
    )];
    if s.fired.is_empty() {
        lines.push("no signal fired".into());
        return lines;
    }
    for f in &s.fired {
        lines.push(format!(
            "  + {:<3} {:<19} {}",
            f.base,
            f.signal.as_str(),
            f.evidence
        ));
    }
    lines.push(format!("  = {}", parts_line(s, cfg)));
    if s.routed {
        lines.push(format!(
            "  routed to the CRM (score ≥ {})",
            cfg.route_threshold
        ));
    } else if s.score < cfg.route_threshold {
        lines.push(format!(
            "  not routed (route threshold {})",
            cfg.route_threshold
        ));
    }
    // At the threshold and not routed: the ARR floor (SPEC §8) or a rep's disposition (§10); the
    // routing's own lines (`routing::explain`) say which, with the figures.
    lines
}
