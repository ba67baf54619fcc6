//! Why a score changed (SPEC §13): two sides (the scores at two times, or two recorded runs)
//! compared account by account, each change split into components whose points add up exactly to
//! after − before, and the one-line "why now" the handoff note, the alert and the terminal app
//! show.
//!
//! The engine works on [`Side`]s, whatever made them: [`Side::of_score`] for a fresh detection,
//! [`run_sides`] for a recorded run. The settings each side was scored with come in as two
//! [`Config`]s; [`settings_changed`] names the scoring settings that differ, as dotted keys.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::error::Result;
use crate::signals::{AccountScore, ScoreParts, Tier};
use crate::store::Store;

/// One fired signal on one side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SideSignal {
    pub signal: String,
    pub base: u32,
    pub evidence: String,
}

/// One account on one side of a diff. An account with no fired signal has no `Side` (it counts
/// as score 0, no tier, not routed).
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    pub score: u32,
    pub tier: Option<Tier>,
    pub routed: bool,
    pub signals: Vec<SideSignal>,
}

impl Side {
    pub fn of_score(s: &AccountScore) -> Self {
        let mut side = Self {
            score: s.score,
            tier: (!s.fired.is_empty()).then_some(s.tier),
            routed: s.routed,
            signals: s
                .fired
                .iter()
                .map(|f| SideSignal {
                    signal: f.signal.as_str().to_string(),
                    base: f.base,
                    evidence: f.evidence.clone(),
                })
                .collect(),
        };
        side.sort();
        side
    }

    /// Strongest signal first, then by name: the same order whatever made the side.
    fn sort(&mut self) {
        self.signals
            .sort_by(|a, b| b.base.cmp(&a.base).then(a.signal.cmp(&b.signal)));
    }

    fn base_sum(&self) -> i64 {
        self.signals.iter().map(|s| i64::from(s.base)).sum()
    }

    /// The diversity bonus of this side's fired types under `cfg`.
    fn bonus(&self, cfg: &Config) -> i64 {
        let bases: Vec<u32> = self.signals.iter().map(|s| s.base).collect();
        i64::from(ScoreParts::of(&bases, cfg).bonus)
    }
}

/// Every scored account of a detection, by key.
pub fn sides_of(scores: &[AccountScore]) -> BTreeMap<String, Side> {
    scores
        .iter()
        .filter(|s| !s.fired.is_empty())
        .map(|s| (s.account.clone(), Side::of_score(s)))
        .collect()
}

/// Every scored account of a recorded run, by key.
pub fn run_sides(store: &Store, run_id: i64) -> Result<BTreeMap<String, Side>> {
    run_sides_in(store, run_id, None)
}

/// [`run_sides`] of one account id, or all.
pub fn run_sides_in(
    store: &Store,
    run_id: i64,
    only: Option<i64>,
) -> Result<BTreeMap<String, Side>> {
    let mut out: BTreeMap<String, Side> = store
        .run_scores_in(run_id, only)?
        .into_iter()
        .map(|r| {
            let side = Side {
                score: r.score,
                tier: parse_tier(&r.tier),
                routed: r.routed,
                signals: Vec::new(),
            };
            (r.account, side)
        })
        .collect();
    for s in store.run_signals_in(run_id, only)? {
        if let Some(side) = out.get_mut(&s.account) {
            side.signals.push(SideSignal {
                signal: s.signal,
                base: s.base,
                evidence: s.evidence,
            });
        }
    }
    for side in out.values_mut() {
        side.sort();
    }
    Ok(out)
}

fn parse_tier(s: &str) -> Option<Tier> {
    match s {
        "hot" => Some(Tier::Hot),
        "warm" => Some(Tier::Warm),
        "cool" => Some(Tier::Cool),
        _ => None,
    }
}

/// An account's score, tier and routing on one side of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct State {
    pub score: u32,
    pub tier: Option<Tier>,
    pub routed: bool,
}

impl State {
    fn of(side: Option<&Side>) -> Self {
        side.map_or(
            State {
                score: 0,
                tier: None,
                routed: false,
            },
            |s| State {
                score: s.score,
                tier: s.tier,
                routed: s.routed,
            },
        )
    }
}

/// What a component stands for (SPEC §13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    SignalAdded,
    SignalRemoved,
    Cap,
    Bonus,
    Settings,
}

/// One part of a change; the points of an account's components add up to after − before.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    pub kind: Kind,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    pub points: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// The dotted settings behind this component, when settings differ between the sides.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
}

/// One account whose score, tier or routing differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountDiff {
    pub account: String,
    pub before: State,
    pub after: State,
    pub components: Vec<Component>,
}

impl AccountDiff {
    /// after − before.
    pub fn change(&self) -> i64 {
        i64::from(self.after.score) - i64::from(self.before.score)
    }
}

/// A scoring setting that differs between the two sides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettingChange {
    pub key: String,
    pub before: Value,
    pub after: Value,
}

/// The whole comparison, as `beton diff --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    pub from: String,
    pub to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_run: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_run: Option<i64>,
    pub settings_changed: Vec<SettingChange>,
    /// Said when a side's settings are not known (a run recorded before runs kept them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Accounts looked at on either side (scored on at least one).
    pub accounts_compared: usize,
    pub accounts: Vec<AccountDiff>,
}

/// The sections of the settings that decide a score, tier or routing.
const SCORING: [&str; 9] = [
    "accounts",
    "feedback",
    "group_type",
    "activity_exclude",
    "route_threshold",
    "routing",
    "tiers",
    "score",
    "signals",
];

/// The scoring settings of `cfg` as JSON (what a run records, and what [`settings_changed`]
/// compares). Connections, key bindings and the figures' settings are left out.
pub fn scoring_settings(cfg: &Config) -> Value {
    let all = serde_json::to_value(cfg).unwrap_or(Value::Null);
    let mut out = serde_json::Map::new();
    for k in SCORING {
        if let Some(v) = all.get(k) {
            out.insert(k.to_string(), v.clone());
        }
    }
    Value::Object(out)
}

/// The config a run recorded with [`scoring_settings`], the rest taken from `now`.
pub fn config_of_recorded(recorded: &str, now: &Config) -> Option<Config> {
    let rec: Value = serde_json::from_str(recorded).ok()?;
    let mut all = serde_json::to_value(now).ok()?;
    for k in SCORING {
        if let (Some(v), Some(obj)) = (rec.get(k), all.as_object_mut()) {
            obj.insert(k.to_string(), v.clone());
        }
    }
    serde_json::from_value(all).ok()
}

fn leaves(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&key, v, out);
            }
        }
        _ => {
            out.insert(prefix.to_string(), v.clone());
        }
    }
}

/// The scoring settings that differ, as dotted keys (`signals.team_growth.base`), sorted.
pub fn settings_changed(before: &Config, after: &Config) -> Vec<SettingChange> {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    leaves("", &scoring_settings(before), &mut a);
    leaves("", &scoring_settings(after), &mut b);
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let (x, y) = (
                a.get(k).cloned().unwrap_or(Value::Null),
                b.get(k).cloned().unwrap_or(Value::Null),
            );
            (x != y).then(|| SettingChange {
                key: k.clone(),
                before: x,
                after: y,
            })
        })
        .collect()
}

/// Splits one account's change into components (SPEC §13). `changed` is the list of
/// [`settings_changed`] keys. Components with 0 points are left out, except the one settings
/// component that stands for a tier or routing change with no change of score.
pub fn components(
    before: Option<&Side>,
    after: Option<&Side>,
    cfg_before: &Config,
    cfg_after: &Config,
    changed: &[String],
) -> Vec<Component> {
    let empty = Side {
        score: 0,
        tier: None,
        routed: false,
        signals: Vec::new(),
    };
    let (b, a) = (before.unwrap_or(&empty), after.unwrap_or(&empty));
    let keys_with = |prefix: &str, skip: &str| -> Vec<String> {
        changed
            .iter()
            .filter(|k| k.starts_with(prefix) && k.as_str() != skip)
            .cloned()
            .collect()
    };
    let mut out = Vec::new();
    for s in &b.signals {
        if !a.signals.iter().any(|x| x.signal == s.signal) {
            let p = format!("signals.{}.", s.signal);
            out.push(Component {
                kind: Kind::SignalRemoved,
                signal: Some(s.signal.clone()),
                points: -i64::from(s.base),
                evidence: Some(s.evidence.clone()),
                keys: keys_with(&p, &format!("{p}base")),
            });
        }
    }
    for s in &a.signals {
        match b.signals.iter().find(|x| x.signal == s.signal) {
            None => {
                let p = format!("signals.{}.", s.signal);
                out.push(Component {
                    kind: Kind::SignalAdded,
                    signal: Some(s.signal.clone()),
                    points: i64::from(s.base),
                    evidence: Some(s.evidence.clone()),
                    keys: keys_with(&p, &format!("{p}base")),
                });
            }
            Some(old) if old.base != s.base => out.push(Component {
                kind: Kind::Settings,
                signal: Some(s.signal.clone()),
                points: i64::from(s.base) - i64::from(old.base),
                evidence: None,
                keys: vec![format!("signals.{}.base", s.signal)],
            }),
            Some(_) => {}
        }
    }
    // The cap's part is what the score keeps of Σ base beyond the bonus: min(Σ, cap) − Σ, and
    // the 100 ceiling when cap + bonus exceed it. Taken from the recorded score, so the sum is
    // exact whatever the side's settings were.
    let bonus = |s: &Side, cfg: &Config| {
        if s.signals.is_empty() {
            0
        } else {
            s.bonus(cfg)
        }
    };
    let (bonus_b, bonus_a) = (bonus(b, cfg_before), bonus(a, cfg_after));
    let cap_b = i64::from(b.score) - b.base_sum() - bonus_b;
    let cap_a = i64::from(a.score) - a.base_sum() - bonus_a;
    if cap_a != cap_b {
        out.push(Component {
            kind: Kind::Cap,
            signal: None,
            points: cap_a - cap_b,
            evidence: None,
            keys: keys_with("score.cap", ""),
        });
    }
    if bonus_a != bonus_b {
        out.push(Component {
            kind: Kind::Bonus,
            signal: None,
            points: bonus_a - bonus_b,
            evidence: None,
            keys: keys_with("score.bonus", ""),
        });
    }
    let moved = b.tier != a.tier || b.routed != a.routed;
    if out.is_empty() && moved {
        let mut keys = Vec::new();
        if b.tier != a.tier {
            keys.extend(keys_with("tiers.", ""));
        }
        if b.routed != a.routed {
            keys.extend(keys_with("route_threshold", ""));
            keys.extend(keys_with("routing.", ""));
            keys.extend(keys_with("feedback.", ""));
        }
        out.push(Component {
            kind: Kind::Settings,
            signal: None,
            points: 0,
            evidence: None,
            keys,
        });
    }
    out
}

/// Compares two sides: every account whose score, tier or routing differs, the biggest rise
/// first (then the biggest fall last), ties by key.
pub fn compare(
    before: &BTreeMap<String, Side>,
    after: &BTreeMap<String, Side>,
    cfg_before: &Config,
    cfg_after: &Config,
) -> (Vec<SettingChange>, Vec<AccountDiff>, usize) {
    let settings = settings_changed(cfg_before, cfg_after);
    let keys: Vec<String> = settings.iter().map(|c| c.key.clone()).collect();
    let mut all: Vec<&String> = before.keys().chain(after.keys()).collect();
    all.sort_unstable();
    all.dedup();
    let mut out: Vec<AccountDiff> = all
        .iter()
        .filter_map(|k| {
            let (b, a) = (before.get(*k), after.get(*k));
            let (sb, sa) = (State::of(b), State::of(a));
            (sb != sa).then(|| AccountDiff {
                account: (*k).clone(),
                before: sb,
                after: sa,
                components: components(b, a, cfg_before, cfg_after, &keys),
            })
        })
        .collect();
    out.sort_by(|x, y| {
        y.change()
            .cmp(&x.change())
            .then_with(|| y.after.score.cmp(&x.after.score))
            .then_with(|| x.account.cmp(&y.account))
    });
    (settings, out, all.len())
}

/// The one-line "why now" of an account: "new: pricing_intent +30, team_growth +25; score 45 →
/// 100". `before` is the account at the previous run (`None`: not scored then).
pub fn why_now(before: Option<&Side>, after: &Side) -> String {
    let b_sigs: Vec<&SideSignal> = before
        .map(|b| b.signals.iter().collect())
        .unwrap_or_default();
    let new: Vec<String> = after
        .signals
        .iter()
        .filter(|s| !b_sigs.iter().any(|x| x.signal == s.signal))
        .map(|s| format!("{} +{}", s.signal, s.base))
        .collect();
    let gone: Vec<String> = b_sigs
        .iter()
        .filter(|s| !after.signals.iter().any(|x| x.signal == s.signal))
        .map(|s| format!("{} −{}", s.signal, s.base))
        .collect();
    let mut parts = Vec::new();
    if !new.is_empty() {
        parts.push(format!("new: {}", new.join(", ")));
    }
    if !gone.is_empty() {
        parts.push(format!("gone: {}", gone.join(", ")));
    }
    let was = before.map_or(0, |b| b.score);
    if parts.is_empty() && was == after.score {
        parts.push("no new signal".into());
        parts.push(format!("score {} unchanged", after.score));
    } else {
        parts.push(format!("score {was} → {}", after.score));
    }
    parts.join("; ")
}

/// The "why now" line of one account (by id) of a recorded run, against the daily run recorded
/// just before it; `None` when the account has no score in the run.
pub fn why_now_in_run(store: &Store, run_id: i64, account_id: i64) -> Result<Option<String>> {
    let after = run_sides_in(store, run_id, Some(account_id))?;
    let Some((key, a)) = after.iter().next() else {
        return Ok(None);
    };
    let before = match store.previous_run("daily", run_id)? {
        Some(prev) => run_sides_in(store, prev.id, Some(account_id))?,
        None => BTreeMap::new(),
    };
    Ok(Some(why_now(before.get(key), a)))
}

/// The "why now" line of every account of a recorded run, against the daily run recorded just
/// before it (an account new to the run has every signal new).
pub fn why_now_of_run(store: &Store, run_id: i64) -> Result<BTreeMap<String, String>> {
    let after = run_sides(store, run_id)?;
    let before = match store.previous_run("daily", run_id)? {
        Some(prev) => run_sides(store, prev.id)?,
        None => BTreeMap::new(),
    };
    Ok(after
        .iter()
        .map(|(k, a)| (k.clone(), why_now(before.get(k), a)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(cfg: &Config, sigs: &[(&str, u32)]) -> Side {
        let bases: Vec<u32> = sigs.iter().map(|s| s.1).collect();
        let score = ScoreParts::of(&bases, cfg).score();
        Side {
            score,
            tier: Some(Tier::of(score, cfg)),
            routed: score >= cfg.route_threshold,
            signals: sigs
                .iter()
                .map(|(s, b)| SideSignal {
                    signal: s.to_string(),
                    base: *b,
                    evidence: format!("{s} evidence"),
                })
                .collect(),
        }
    }

    fn sum(c: &[Component]) -> i64 {
        c.iter().map(|c| c.points).sum()
    }

    #[test]
    fn components_add_up_through_the_cap_and_bonus() {
        let cfg = Config::default();
        let b = side(&cfg, &[("pricing_intent", 30), ("usage_spike", 25)]);
        let a = side(
            &cfg,
            &[
                ("pricing_intent", 30),
                ("billing_intent", 40),
                ("limit_approaching", 35),
            ],
        );
        let c = components(Some(&b), Some(&a), &cfg, &cfg, &[]);
        assert_eq!(sum(&c), i64::from(a.score) - i64::from(b.score));
        let kinds: Vec<Kind> = c.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::SignalRemoved,
                Kind::SignalAdded,
                Kind::SignalAdded,
                Kind::Cap,
                Kind::Bonus
            ]
        );
        // 105 base capped at 80: the cap takes 25; 55 was under it.
        assert_eq!(c[3].points, -25);
        assert_eq!(c[4].points, 5);
    }

    #[test]
    fn a_new_account_and_a_gone_one() {
        let cfg = Config::default();
        let a = side(&cfg, &[("team_growth", 25)]);
        let c = components(None, Some(&a), &cfg, &cfg, &[]);
        assert_eq!(sum(&c), i64::from(a.score));
        let c = components(Some(&a), None, &cfg, &cfg, &[]);
        assert_eq!(sum(&c), -i64::from(a.score));
    }

    #[test]
    fn a_changed_base_is_a_settings_component_with_its_key() {
        let cfg = Config::default();
        let mut cfg2 = cfg.clone();
        cfg2.signals.pricing_intent.base = 45;
        let changed: Vec<String> = settings_changed(&cfg, &cfg2)
            .into_iter()
            .map(|c| c.key)
            .collect();
        assert_eq!(changed, ["signals.pricing_intent.base"]);
        let b = side(&cfg, &[("pricing_intent", 30)]);
        let a = side(&cfg2, &[("pricing_intent", 45)]);
        let c = components(Some(&b), Some(&a), &cfg, &cfg2, &changed);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].kind, Kind::Settings);
        assert_eq!(c[0].points, 15);
        assert_eq!(c[0].keys, ["signals.pricing_intent.base"]);
    }

    #[test]
    fn a_routing_only_change_is_one_settings_component_of_zero_points() {
        let cfg = Config::default();
        let mut cfg2 = cfg.clone();
        cfg2.route_threshold = 70;
        let changed: Vec<String> = settings_changed(&cfg, &cfg2)
            .into_iter()
            .map(|c| c.key)
            .collect();
        let b = side(&cfg, &[("pricing_intent", 30), ("team_growth", 25)]);
        let a = side(&cfg2, &[("pricing_intent", 30), ("team_growth", 25)]);
        assert!(b.routed && !a.routed);
        let c = components(Some(&b), Some(&a), &cfg, &cfg2, &changed);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].kind, c[0].points), (Kind::Settings, 0));
        assert_eq!(c[0].keys, ["route_threshold"]);
    }

    #[test]
    fn why_now_names_new_signals_and_the_score_move() {
        let cfg = Config::default();
        let b = side(&cfg, &[("usage_spike", 25), ("support_engagement", 15)]);
        let a = side(
            &cfg,
            &[
                ("usage_spike", 25),
                ("pricing_intent", 30),
                ("team_growth", 25),
            ],
        );
        assert_eq!(
            why_now(Some(&b), &a),
            format!(
                "new: pricing_intent +30, team_growth +25; gone: support_engagement −15; score {} → {}",
                b.score, a.score
            )
        );
        assert_eq!(
            why_now(None, &a),
            format!(
                "new: usage_spike +25, pricing_intent +30, team_growth +25; score 0 → {}",
                a.score
            )
        );
        assert_eq!(
            why_now(Some(&a), &a),
            format!("no new signal; score {} unchanged", a.score)
        );
    }
}
