//! The detection, scoring and routing settings of SPEC §2–3 and §8: the eight signals, the score,
//! the tiers, the ARR floor.

use serde::{Deserialize, Serialize};

use super::strings;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tiers {
    pub hot: u32,
    pub warm: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoreSettings {
    /// Cap on the sum of base scores.
    pub cap: u32,
    /// Diversity bonus per fired type.
    pub bonus_per_type: u32,
    /// Cap on the diversity bonus.
    pub bonus_cap: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Signals {
    pub usage_spike: UsageSpike,
    pub pricing_intent: PricingIntent,
    pub feature_adoption: FeatureAdoption,
    pub limit_approaching: LimitApproaching,
    pub trial_expiring: TrialExpiring,
    pub team_growth: TeamGrowth,
    #[serde(deserialize_with = "support_engagement")]
    pub support_engagement: EventCount,
    #[serde(deserialize_with = "billing_intent")]
    pub billing_intent: EventCount,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsageSpike {
    pub enabled: bool,
    pub base: u32,
    pub window_days: u32,
    /// Activity needed in the previous window before a spike counts.
    pub min_baseline: u64,
    /// Growth over the previous window that must be exceeded (0.5 = 50 %).
    pub min_growth: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PricingIntent {
    pub enabled: bool,
    pub base: u32,
    pub window_days: u32,
    pub min_count: u64,
    /// Case-insensitive substrings of `$current_url` on `$pageview` events.
    pub url_patterns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeatureAdoption {
    pub enabled: bool,
    pub base: u32,
    pub window_days: u32,
    pub lookback_days: u32,
    pub min_new_features: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitApproaching {
    pub enabled: bool,
    pub base: u32,
    /// used / limit must exceed this.
    pub min_ratio: f64,
    /// Pairs of account properties `[used, limit]`.
    pub pairs: Vec<[String; 2]>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrialExpiring {
    pub enabled: bool,
    pub base: u32,
    pub window_days: u32,
    /// The trial must end within this many days after T.
    pub days_ahead: u32,
    pub min_activity: u64,
    pub property: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TeamGrowth {
    pub enabled: bool,
    pub base: u32,
    pub window_days: u32,
    pub lookback_days: u32,
    pub min_new_users: u64,
}

/// A signal that counts events from a list in its window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventCount {
    pub enabled: bool,
    pub base: u32,
    pub window_days: u32,
    pub min_count: u64,
    pub events: Vec<String>,
}

impl Default for Tiers {
    fn default() -> Self {
        Self { hot: 70, warm: 40 }
    }
}

impl Default for ScoreSettings {
    fn default() -> Self {
        Self {
            cap: 80,
            bonus_per_type: 5,
            bonus_cap: 20,
        }
    }
}

impl Default for UsageSpike {
    fn default() -> Self {
        Self {
            enabled: true,
            base: 25,
            window_days: 7,
            min_baseline: 10,
            min_growth: 0.5,
        }
    }
}

impl Default for PricingIntent {
    fn default() -> Self {
        Self {
            enabled: true,
            base: 30,
            window_days: 7,
            min_count: 2,
            url_patterns: strings(&["/pricing"]),
        }
    }
}

impl Default for FeatureAdoption {
    fn default() -> Self {
        Self {
            enabled: true,
            base: 20,
            window_days: 7,
            lookback_days: 90,
            min_new_features: 3,
        }
    }
}

impl Default for LimitApproaching {
    fn default() -> Self {
        Self {
            enabled: true,
            base: 35,
            min_ratio: 0.8,
            pairs: vec![
                ["usage".into(), "plan_limit".into()],
                ["seats_used".into(), "seat_limit".into()],
            ],
        }
    }
}

impl Default for TrialExpiring {
    fn default() -> Self {
        Self {
            enabled: true,
            base: 30,
            window_days: 7,
            days_ahead: 7,
            min_activity: 3,
            property: "trial_ends_at".into(),
        }
    }
}

impl Default for TeamGrowth {
    fn default() -> Self {
        Self {
            enabled: true,
            base: 25,
            window_days: 7,
            lookback_days: 90,
            min_new_users: 2,
        }
    }
}

/// The fields of an [`EventCount`] table; what is absent keeps that signal's own default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventCountPatch {
    enabled: Option<bool>,
    base: Option<u32>,
    window_days: Option<u32>,
    min_count: Option<u64>,
    events: Option<Vec<String>>,
}

impl EventCountPatch {
    fn over(self, d: EventCount) -> EventCount {
        EventCount {
            enabled: self.enabled.unwrap_or(d.enabled),
            base: self.base.unwrap_or(d.base),
            window_days: self.window_days.unwrap_or(d.window_days),
            min_count: self.min_count.unwrap_or(d.min_count),
            events: self.events.unwrap_or(d.events),
        }
    }
}

fn support_engagement<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<EventCount, D::Error> {
    Ok(EventCountPatch::deserialize(d)?.over(Signals::default().support_engagement))
}

fn billing_intent<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<EventCount, D::Error> {
    Ok(EventCountPatch::deserialize(d)?.over(Signals::default().billing_intent))
}

impl Default for Signals {
    fn default() -> Self {
        Self {
            usage_spike: UsageSpike::default(),
            pricing_intent: PricingIntent::default(),
            feature_adoption: FeatureAdoption::default(),
            limit_approaching: LimitApproaching::default(),
            trial_expiring: TrialExpiring::default(),
            team_growth: TeamGrowth::default(),
            support_engagement: EventCount {
                enabled: true,
                base: 15,
                window_days: 7,
                min_count: 3,
                events: strings(&["intercom_*", "support_ticket_created"]),
            },
            billing_intent: EventCount {
                enabled: true,
                base: 40,
                window_days: 7,
                min_count: 1,
                events: strings(&["checkout_started", "upgrade_clicked", "stripe_checkout_*"]),
            },
        }
    }
}

/// True when `name` matches one entry of `list` (exact, or prefix for a trailing `*`).
pub fn name_matches(list: &[String], name: &str) -> bool {
    list.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => p == name,
    })
}

/// The names of the eight signals, in SPEC order.
pub const SIGNAL_NAMES: [&str; 8] = [
    "usage_spike",
    "pricing_intent",
    "feature_adoption",
    "limit_approaching",
    "trial_expiring",
    "team_growth",
    "support_engagement",
    "billing_intent",
];

/// The `[routing]` section (SPEC §8): which routed accounts the CRM step acts on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingSettings {
    /// An account whose numeric `arr` property as of T is below this is scored and shown but not
    /// routed; 0 routes every account at the threshold.
    pub min_arr: f64,
}
