//! Settings: every threshold, window, base score, event list and tier bound of SPEC §2–3, read from a
//! TOML file with the SPEC defaults, plus the one layering helper (CLI > env > file > default).
//!
//! - `signals`: the eight signals, score and tiers (SPEC §2–3)
//! - `figures`: deal stages, the backtest, lead sources (SPEC §1, §5, §6)
//! - `posthog`, `attio`, `alerts`: the integrations' tables (alerts and the holdout: `alerts`)
//! - `feedback`: how long a rep's disposition suppresses routing (SPEC §10)
//! - `keys`: `--set` overrides and key lookup in the TOML text
//! - `paths`: where files live, atomic writes

mod alerts;
mod attio;
mod feedback;
mod figures;
mod keys;
mod paths;
mod posthog;
mod signals;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use alerts::*;
pub use attio::*;
pub use feedback::*;
pub use figures::*;
use keys::line_of_key;
pub use keys::*;
pub use paths::*;
pub use posthog::*;
pub use signals::*;

/// The commented template `beton init` writes; parsing it gives exactly [`Config::default`].
pub const TEMPLATE: &str = include_str!("../../assets/config.toml");

/// Where the events come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// The embedded SQLite workspace (imports or the demo).
    #[default]
    Local,
    /// A PostHog project, queried with HogQL.
    Posthog,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub source: SourceKind,
    /// PostHog group type whose groups are accounts.
    pub group_type: String,
    /// Events that are not "activity" (a trailing `*` is a prefix match).
    pub activity_exclude: Vec<String>,
    /// Score at or above which an account becomes a CRM candidate.
    pub route_threshold: u32,
    /// Days during which a signal type that fired again is not emitted again.
    pub cooldown_days: u32,
    pub tiers: Tiers,
    pub score: ScoreSettings,
    pub signals: Signals,
    pub deals: DealSettings,
    pub backtest: BacktestSettings,
    pub learn: LearnSettings,
    pub sources: SourceSettings,
    pub routing: RoutingSettings,
    /// Parent accounts (SPEC §14): off unless `accounts.parent_property` is set.
    #[serde(skip_serializing_if = "AccountSettings::is_default")]
    pub accounts: AccountSettings,
    /// Terminal app key bindings that replace the defaults, by action (`quit = ["q", "ctrl-q"]`).
    pub keys: std::collections::BTreeMap<String, Vec<String>>,
    /// The PostHog connection (`beton connect posthog` writes it); absent until connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posthog: Option<PosthogSettings>,
    /// The Attio CRM sync; absent means Attio is not configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attio: Option<AttioSettings>,
    /// Alerts to the account owner and the daily digest (SPEC §9).
    pub alerts: AlertSettings,
    /// The held-out share of routed accounts (SPEC §12).
    pub holdout: HoldoutSettings,
    /// How long reps' dispositions suppress routing and alerts (SPEC §10).
    pub feedback: FeedbackSettings,
}

/// How accounts group into companies (SPEC §14).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AccountSettings {
    /// The account property naming a workspace's parent (e.g. `parent_domain`); unset: every
    /// account stands alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_property: Option<String>,
}

impl AccountSettings {
    pub fn is_default(&self) -> bool {
        self == &Self::default()
    }

    /// The parent property, when set to a non-empty name.
    pub fn parent(&self) -> Option<&str> {
        self.parent_property
            .as_deref()
            .filter(|p| !p.trim().is_empty())
    }
}

pub(crate) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

impl Default for Config {
    fn default() -> Self {
        Self {
            source: SourceKind::Local,
            group_type: "company".into(),
            activity_exclude: strings(&[
                "beton_signal_fired",
                "$groupidentify",
                "$identify",
                "$feature_flag_called",
                "$pageleave",
            ]),
            route_threshold: 60,
            cooldown_days: 7,
            tiers: Tiers::default(),
            score: ScoreSettings::default(),
            signals: Signals::default(),
            deals: DealSettings::default(),
            backtest: BacktestSettings::default(),
            learn: LearnSettings::default(),
            sources: SourceSettings::default(),
            routing: RoutingSettings::default(),
            accounts: AccountSettings::default(),
            keys: Default::default(),
            posthog: None,
            attio: None,
            alerts: AlertSettings::default(),
            holdout: HoldoutSettings::default(),
            feedback: FeedbackSettings::default(),
        }
    }
}

impl Config {
    /// Parses TOML text; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let cfg: Config = toml::from_str(text).map_err(|e| Error::Config {
            origin: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        cfg.validate().map_err(|(key, why)| Error::Config {
            origin: origin.to_string(),
            message: match line_of_key(text, &key) {
                Some(line) => format!("line {line}: `{key}` {why}"),
                None => format!("`{key}` {why}"),
            },
        })?;
        Ok(cfg)
    }

    /// Reads the file, or the defaults when it does not exist.
    pub fn load(path: &Path) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Checks values serde cannot: ranges and relations. Returns the key path and the reason.
    pub fn validate(&self) -> std::result::Result<(), (String, String)> {
        let fail = |k: &str, why: &str| Err((k.to_string(), why.to_string()));
        if self.tiers.warm > self.tiers.hot {
            return fail("tiers.warm", "must not be above tiers.hot");
        }
        if self.tiers.hot > 100 {
            return fail("tiers.hot", "must be at most 100");
        }
        if self.route_threshold > 100 {
            return fail("route_threshold", "must be at most 100");
        }
        if !(self.routing.min_arr.is_finite() && self.routing.min_arr >= 0.0) {
            return fail("routing.min_arr", "must be a number, 0 or more");
        }
        if self.group_type.trim().is_empty() {
            return fail("group_type", "must not be empty");
        }
        let s = &self.signals;
        let windows = [
            ("signals.usage_spike.window_days", s.usage_spike.window_days),
            (
                "signals.pricing_intent.window_days",
                s.pricing_intent.window_days,
            ),
            (
                "signals.feature_adoption.window_days",
                s.feature_adoption.window_days,
            ),
            (
                "signals.trial_expiring.window_days",
                s.trial_expiring.window_days,
            ),
            ("signals.team_growth.window_days", s.team_growth.window_days),
            (
                "signals.support_engagement.window_days",
                s.support_engagement.window_days,
            ),
            (
                "signals.billing_intent.window_days",
                s.billing_intent.window_days,
            ),
            (
                "signals.trial_expiring.days_ahead",
                s.trial_expiring.days_ahead,
            ),
            ("backtest.step_days", self.backtest.step_days),
            ("backtest.horizon_days", self.backtest.horizon_days),
            ("learn.range_days", self.learn.range_days),
            ("sources.period_days", self.sources.period_days),
        ];
        for (key, days) in windows {
            if days == 0 || days > 3650 {
                return fail(key, "must be between 1 and 3650 days");
            }
        }
        // Every other numeric setting, with the range it must be in (issue 12): a value outside
        // would overflow time arithmetic or make a detector meaningless.
        const MAX_COUNT: u64 = 1_000_000_000;
        let ranges: [(&str, u64, u64, u64); 23] = [
            ("cooldown_days", self.cooldown_days.into(), 0, 3650),
            (
                "backtest.range_days",
                self.backtest.range_days.into(),
                1,
                3650,
            ),
            ("score.cap", self.score.cap.into(), 1, 100),
            (
                "score.bonus_per_type",
                self.score.bonus_per_type.into(),
                0,
                100,
            ),
            ("score.bonus_cap", self.score.bonus_cap.into(), 0, 100),
            (
                "signals.usage_spike.base",
                s.usage_spike.base.into(),
                0,
                100,
            ),
            (
                "signals.pricing_intent.base",
                s.pricing_intent.base.into(),
                0,
                100,
            ),
            (
                "signals.feature_adoption.base",
                s.feature_adoption.base.into(),
                0,
                100,
            ),
            (
                "signals.limit_approaching.base",
                s.limit_approaching.base.into(),
                0,
                100,
            ),
            (
                "signals.trial_expiring.base",
                s.trial_expiring.base.into(),
                0,
                100,
            ),
            (
                "signals.team_growth.base",
                s.team_growth.base.into(),
                0,
                100,
            ),
            (
                "signals.support_engagement.base",
                s.support_engagement.base.into(),
                0,
                100,
            ),
            (
                "signals.billing_intent.base",
                s.billing_intent.base.into(),
                0,
                100,
            ),
            (
                "signals.usage_spike.min_baseline",
                s.usage_spike.min_baseline,
                0,
                MAX_COUNT,
            ),
            (
                "signals.pricing_intent.min_count",
                s.pricing_intent.min_count,
                1,
                MAX_COUNT,
            ),
            (
                "signals.feature_adoption.lookback_days",
                s.feature_adoption.lookback_days.into(),
                1,
                3650,
            ),
            (
                "signals.feature_adoption.min_new_features",
                s.feature_adoption.min_new_features,
                1,
                MAX_COUNT,
            ),
            (
                "signals.trial_expiring.min_activity",
                s.trial_expiring.min_activity,
                0,
                MAX_COUNT,
            ),
            (
                "signals.team_growth.lookback_days",
                s.team_growth.lookback_days.into(),
                1,
                3650,
            ),
            (
                "signals.team_growth.min_new_users",
                s.team_growth.min_new_users,
                1,
                MAX_COUNT,
            ),
            (
                "signals.support_engagement.min_count",
                s.support_engagement.min_count,
                1,
                MAX_COUNT,
            ),
            (
                "signals.billing_intent.min_count",
                s.billing_intent.min_count,
                1,
                MAX_COUNT,
            ),
            ("tiers.warm", self.tiers.warm.into(), 0, 100),
        ];
        for (key, value, lo, hi) in ranges {
            if !(lo..=hi).contains(&value) {
                return Err((
                    key.to_string(),
                    format!("is {value}: must be between {lo} and {hi}"),
                ));
            }
        }
        if s.usage_spike.min_growth > 1000.0 {
            return fail("signals.usage_spike.min_growth", "must be at most 1000");
        }
        if s.limit_approaching.min_ratio > 1000.0 {
            return fail(
                "signals.limit_approaching.min_ratio",
                "must be at most 1000",
            );
        }
        if self.backtest.annual_cost > 1e12 {
            return fail("backtest.annual_cost", "must be at most 1e12");
        }
        if !(s.usage_spike.min_growth.is_finite() && s.usage_spike.min_growth >= 0.0) {
            return fail("signals.usage_spike.min_growth", "must be a number ≥ 0");
        }
        if !(s.limit_approaching.min_ratio.is_finite() && s.limit_approaching.min_ratio > 0.0) {
            return fail(
                "signals.limit_approaching.min_ratio",
                "must be a number > 0",
            );
        }
        if s.pricing_intent.url_patterns.iter().any(|p| p.is_empty()) {
            return fail(
                "signals.pricing_intent.url_patterns",
                "must not contain an empty pattern",
            );
        }
        if !(self.backtest.annual_cost.is_finite() && self.backtest.annual_cost >= 0.0) {
            return fail("backtest.annual_cost", "must be a number ≥ 0");
        }
        for (action, keys) in &self.keys {
            if !KEY_ACTIONS.contains(&action.as_str()) {
                return Err((
                    format!("keys.{action}"),
                    format!(
                        "is not an action; the actions are {}",
                        KEY_ACTIONS.join(", ")
                    ),
                ));
            }
            if keys.is_empty() || keys.iter().any(|k| k.trim().is_empty()) {
                return Err((
                    format!("keys.{action}"),
                    "must list at least one non-empty key".into(),
                ));
            }
        }
        if let Some(p) = &self.posthog {
            if p.group_type_index > 4 {
                return fail("posthog.group_type_index", "must be between 0 and 4");
            }
            if p.page_size == 0 || p.page_size >= 50_000 {
                return fail(
                    "posthog.page_size",
                    "must be between 1 and 49999 (PostHog caps a query at 50000 rows)",
                );
            }
            if p.query_budget == 0 || p.query_budget > 100_000 {
                return fail("posthog.query_budget", "must be between 1 and 100000");
            }
            if !(1..=3650).contains(&p.property_history_days) {
                return fail(
                    "posthog.property_history_days",
                    "must be between 1 and 3650 days",
                );
            }
            if !(1..=3600).contains(&p.query_timeout_seconds) {
                return fail(
                    "posthog.query_timeout_seconds",
                    "must be between 1 and 3600",
                );
            }
            if p.queries_per_hour == 0 {
                return fail(
                    "posthog.queries_per_hour",
                    "must be at least 1 (PostHog allows 120 or 2400 an hour)",
                );
            }
            // Names that reach HogQL text (not a placeholder) are checked here, at load, the way
            // `beton doctor` checks them.
            for (key, name) in [
                ("deals_table", &p.deals_table),
                ("attio_table", &p.attio_table),
            ] {
                let ok = name.is_empty() && key == "attio_table" || valid_table(name);
                if !ok {
                    return fail(
                        &format!("posthog.{key}"),
                        "must be a table name: letters, digits, `_` and `.` (not starting with a digit)",
                    );
                }
            }
            if !p.attio_table.is_empty() && p.attio_table == p.deals_table {
                return fail(
                    "posthog.deals_table",
                    "must differ from posthog.attio_table: it names the view Beton makes over that raw Attio \
                     table (remove the line to use `beton_deals`, or set attio_table = \"\" if the table is \
                     already in SPEC deal columns)",
                );
            }
            if !(p.host.starts_with("http://") || p.host.starts_with("https://")) {
                return fail("posthog.host", "must start with https:// (or http://)");
            }
        }
        if self.source == SourceKind::Posthog && self.posthog.is_none() {
            return fail(
                "source",
                "is \"posthog\" but there is no [posthog] section: run `beton connect posthog`",
            );
        }
        if let Some(attio) = &self.attio {
            attio.validate()?;
        }
        self.alerts.validate()?;
        self.holdout.validate()?;
        self.feedback.validate()?;
        Ok(())
    }

    /// The settings that decide how raw events are rolled up; a change means a rebuild.
    pub fn rollup_fingerprint(&self) -> String {
        let s = &self.signals;
        serde_json::json!({
            "v": 2,
            "group_type": self.group_type,
            "activity_exclude": self.activity_exclude,
            "pricing": s.pricing_intent.url_patterns.iter().map(|p| p.to_lowercase()).collect::<Vec<_>>(),
            "support": s.support_engagement.events,
            "billing": s.billing_intent.events,
        })
        .to_string()
    }

    /// A copy with `key=value` overrides applied (what-if runs, `--set`). Keys may leave out
    /// the `signals.` prefix (`pricing_intent.min_count=4`). Values are TOML (`4`, `0.6`,
    /// `["/pricing","/plans"]`); a bare word is taken as a string.
    pub fn with_overrides(&self, sets: &[String]) -> Result<Self> {
        if sets.is_empty() {
            return Ok(self.clone());
        }
        let text = toml::to_string(self).map_err(|e| Error::Config {
            origin: "settings".into(),
            message: e.to_string(),
        })?;
        let mut doc: toml_edit::DocumentMut =
            text.parse()
                .map_err(|e: toml_edit::TomlError| Error::Config {
                    origin: "settings".into(),
                    message: e.to_string(),
                })?;
        for set in sets {
            let (key, value) = parse_override(set)?;
            set_path(&mut doc, &key, value).map_err(|message| Error::Config {
                origin: format!("--set {set}"),
                message,
            })?;
        }
        Self::parse(&doc.to_string(), "--set")
    }
}

/// A data warehouse table name as HogQL takes it unquoted: letters, digits, `_` and `.`, not
/// starting with a digit.
pub fn valid_table(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// The terminal app's actions that `[keys]` can bind, in the order the help lists them.
pub const KEY_ACTIONS: [&str; 30] = [
    "quit",
    "help",
    "next_pane",
    "prev_pane",
    "hot_queue",
    "health",
    "sources",
    "backtest",
    "up",
    "down",
    "page_up",
    "page_down",
    "top",
    "bottom",
    "open",
    "back",
    "filter",
    "sort",
    "reverse",
    "export",
    "copy",
    "tune",
    "rerun",
    "cancel",
    "run_daily",
    "reload",
    "tier",
    "learn",
    "fold",
    "answer",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_is_exactly_the_defaults() {
        let parsed = Config::parse(TEMPLATE, "assets/config.toml").unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn posthog_tables_and_hourly_limit_are_checked() {
        let base = "[posthog]\nproject_id = 1\n";
        let ok = Config::parse(base, "c.toml").unwrap();
        let p = ok.posthog.unwrap();
        assert_eq!(
            (p.deals_table.as_str(), p.attio_table.as_str()),
            ("beton_deals", "attio_deals")
        );
        for (extra, key) in [
            ("deals_table = \"attio_deals\"\n", "posthog.deals_table"),
            ("attio_table = \"a; DROP\"\n", "posthog.attio_table"),
            ("queries_per_hour = 0\n", "posthog.queries_per_hour"),
        ] {
            let err = Config::parse(&format!("{base}{extra}"), "c.toml")
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{extra}: {err}");
        }
        // The user's own table in SPEC columns: no view over it.
        let own = Config::parse(
            &format!("{base}deals_table = \"crm_deals\"\nattio_table = \"\"\n"),
            "c.toml",
        );
        assert!(own.is_ok(), "{own:?}");
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let text = "route_threshold = 60\n\n[signals.pricing_intent]\nmin_cuont = 3\n";
        let err = Config::parse(text, "beton.toml").unwrap_err().to_string();
        assert!(err.contains("beton.toml"), "{err}");
        assert!(err.contains("line 4"), "{err}");
        assert!(err.contains("min_cuont"), "{err}");
    }

    #[test]
    fn bad_value_type_names_line() {
        let err = Config::parse("\ncooldown_days = \"seven\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("cooldown_days"),
            "{err}"
        );
    }

    #[test]
    fn semantic_error_names_line_and_key() {
        let text = "[tiers]\nhot = 50\nwarm = 60\n";
        let err = Config::parse(text, "c.toml").unwrap_err().to_string();
        assert!(
            err.contains("line 3") && err.contains("tiers.warm"),
            "{err}"
        );
    }

    #[test]
    fn overrides_apply_and_reject_unknown_keys() {
        let cfg = Config::default()
            .with_overrides(&[
                "pricing_intent.min_count=4".into(),
                "route_threshold=65".into(),
            ])
            .unwrap();
        assert_eq!(cfg.signals.pricing_intent.min_count, 4);
        assert_eq!(cfg.route_threshold, 65);
        let err = Config::default()
            .with_overrides(&["pricing_intent.nope=1".into()])
            .unwrap_err();
        assert!(err.to_string().contains("unknown setting"), "{err}");
        let err = Config::default()
            .with_overrides(&["route_threshold=high".into()])
            .unwrap_err();
        assert!(err.to_string().contains("route_threshold"), "{err}");
    }

    #[test]
    fn key_bindings_name_known_actions() {
        let cfg = Config::parse("[keys]\nquit = [\"x\", \"ctrl-q\"]\n", "c.toml").unwrap();
        assert_eq!(
            cfg.keys["quit"],
            vec!["x".to_string(), "ctrl-q".to_string()]
        );
        let err = Config::parse("\n[keys]\nqiut = [\"x\"]\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3") && err.contains("keys.qiut"), "{err}");
        let err = Config::parse("[keys]\nquit = []\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("keys.quit"), "{err}");
    }

    #[test]
    fn a_partial_table_keeps_that_signals_own_defaults() {
        let cfg = Config::parse("[signals.billing_intent]\nmin_count = 2\n", "c.toml").unwrap();
        assert_eq!(cfg.signals.billing_intent.min_count, 2);
        assert_eq!(cfg.signals.billing_intent.base, 40);
        assert_eq!(
            cfg.signals.billing_intent.events,
            Config::default().signals.billing_intent.events
        );
        assert_eq!(
            cfg.signals.support_engagement,
            Config::default().signals.support_engagement
        );
        let err = Config::parse("[signals.support_engagement]\nmin = 2\n", "c.toml").unwrap_err();
        assert!(
            err.to_string().contains("line 2") && err.to_string().contains("min"),
            "{err}"
        );
    }

    #[test]
    fn attio_section_is_optional_and_checked() {
        assert_eq!(Config::default().attio, None);
        let cfg = Config::parse("[attio]\nstage = \"Qualified\"\n", "c.toml").unwrap();
        let attio = cfg.attio.unwrap();
        assert_eq!(attio.stage, "Qualified");
        assert_eq!(
            attio.match_attribute,
            AttioSettings::default().match_attribute
        );
        let err = Config::parse("[attio]\nmax_writes_per_second = 40\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("attio.max_writes_per_second"),
            "{err}"
        );
        let (head, tail) = TEMPLATE.split_once("# [attio]").unwrap();
        let uncommented: String = std::iter::once("[attio]")
            .chain(tail.lines().map(|l| {
                l.strip_prefix("# ")
                    .filter(|r| r.contains(" = "))
                    .unwrap_or(l)
            }))
            .fold(head.to_string(), |acc, l| acc + l + "\n");
        let cfg = Config::parse(&uncommented, "template with [attio] uncommented").unwrap();
        assert_eq!(cfg.attio, Some(AttioSettings::default()));
    }

    #[test]
    fn name_lists_take_prefixes() {
        let list = strings(&["intercom_*", "support_ticket_created"]);
        assert!(name_matches(&list, "intercom_message"));
        assert!(name_matches(&list, "support_ticket_created"));
        assert!(!name_matches(&list, "support_ticket_created_x"));
        assert!(!name_matches(&list, "xintercom_"));
    }
}
