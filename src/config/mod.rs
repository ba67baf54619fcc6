//! Settings: every threshold, window, base score, event list and tier bound of SPEC §2–3, read from a
//! TOML file with the SPEC defaults, plus the one layering helper (CLI > env > file > default).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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
    pub sources: SourceSettings,
    /// Terminal app key bindings that replace the defaults, by action (`quit = ["q", "ctrl-q"]`).
    pub keys: std::collections::BTreeMap<String, Vec<String>>,
    /// The PostHog connection (`beton connect posthog` writes it); absent until connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posthog: Option<PosthogSettings>,
    /// The Attio CRM sync; absent means Attio is not configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attio: Option<AttioSettings>,
}

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DealSettings {
    pub won_stages: Vec<String>,
    pub lost_stages: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BacktestSettings {
    pub range_days: u32,
    pub step_days: u32,
    pub horizon_days: u32,
    /// What Beton costs a year, for the ROI multiple.
    pub annual_cost: f64,
}

/// The PostHog project Beton reads from and writes to. No secret lives here: the personal API
/// key comes from `POSTHOG_API_KEY` or the credentials file; `project_api_key` is the public
/// `phc_` capture key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PosthogSettings {
    /// The private API host, e.g. `https://us.posthog.com` or `https://eu.posthog.com`.
    pub host: String,
    pub project_id: u64,
    /// Index of `group_type` in this project (`$group_N`).
    pub group_type_index: u8,
    /// Where events are captured, e.g. `https://us.i.posthog.com`.
    pub capture_host: String,
    /// The project's public capture key (`phc_…`).
    pub project_api_key: String,
    /// Query endpoint calls one run may make (pages and retries included).
    pub query_budget: u32,
    /// Rows per page of a detection query (LIMIT page_size + 1 detects truncation).
    pub page_size: u32,
    /// How far back `$groupidentify` events are read for account properties.
    pub property_history_days: u32,
    /// Seconds to wait for one query (202 polling) before giving up.
    pub query_timeout_seconds: u32,
    /// Data warehouse table with CRM deals (SPEC §1 deal columns), for the deal tiles.
    pub deals_table: String,
    /// Project-tree folder and tag of the provisioned dashboards.
    pub folder: String,
    pub tag: String,
    /// Run provisioning as part of `--run-daily`.
    pub provision_on_run: bool,
}

impl Default for PosthogSettings {
    fn default() -> Self {
        Self {
            host: "https://us.posthog.com".into(),
            project_id: 0,
            group_type_index: 0,
            capture_host: "https://us.i.posthog.com".into(),
            project_api_key: String::new(),
            query_budget: 20,
            page_size: 10_000,
            property_history_days: 365,
            query_timeout_seconds: 120,
            deals_table: "attio_deals".into(),
            folder: "Beton Signals".into(),
            tag: "beton".into(),
            provision_on_run: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceSettings {
    /// Deals created in this many days before T are compared.
    pub period_days: u32,
}

fn strings(items: &[&str]) -> Vec<String> {
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
            sources: SourceSettings::default(),
            keys: Default::default(),
            posthog: None,
            attio: None,
        }
    }
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

impl Default for DealSettings {
    fn default() -> Self {
        Self {
            won_stages: strings(&["won", "closed_won", "Won 🎉"]),
            lost_stages: strings(&["lost", "closed_lost", "Lost"]),
        }
    }
}

impl Default for BacktestSettings {
    fn default() -> Self {
        Self {
            range_days: 180,
            step_days: 7,
            horizon_days: 90,
            annual_cost: 50_000.0,
        }
    }
}

impl Default for SourceSettings {
    fn default() -> Self {
        Self { period_days: 365 }
    }
}

/// The `[attio]` section: how routed accounts become Attio deals. The API key is not here: it
/// comes from the `ATTIO_API_KEY` environment variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttioSettings {
    /// The API's base URL.
    pub base_url: String,
    /// The workspace the key belonged to when `beton connect attio` checked it.
    pub workspace: String,
    /// API slug of the unique text attribute on deals that holds Beton's account key.
    pub match_attribute: String,
    /// Stage (status title) given to new PQL deals; existing deals keep theirs.
    pub stage: String,
    /// Create a company in Attio when none has the account's domain.
    pub create_missing_companies: bool,
    /// Allow end-user identities (emails, names, raw user ids) in what is sent to Attio.
    pub include_people: bool,
    /// Deal owner when the account's `owner_email` is not a workspace member; empty for none.
    pub default_owner: String,
    /// Account property whose number becomes the deal value; empty for no value.
    pub value_property: String,
    /// A handoff note on the deal when it is created or a new signal type is emitted.
    pub note: bool,
    /// A follow-up task for the owner, due the next business day, at the same moments.
    pub task: bool,
    /// List (slug or id) that companies of new PQL deals are added to; empty for none.
    pub list: String,
    pub max_writes_per_second: u32,
    pub max_reads_per_second: u32,
    /// Seconds before a request times out.
    pub timeout_seconds: u32,
    /// Tries of a request that got a 5xx or timed out before its account is reported failed.
    pub tries: u32,
}

impl Default for AttioSettings {
    fn default() -> Self {
        Self {
            base_url: "https://api.attio.com".into(),
            workspace: String::new(),
            match_attribute: "beton_account_key".into(),
            stage: "Lead".into(),
            create_missing_companies: false,
            include_people: false,
            default_owner: String::new(),
            value_property: String::new(),
            note: true,
            task: true,
            list: String::new(),
            max_writes_per_second: 25,
            max_reads_per_second: 100,
            timeout_seconds: 30,
            tries: 4,
        }
    }
}

impl AttioSettings {
    fn validate(&self) -> std::result::Result<(), (String, String)> {
        let fail = |k: &str, why: &str| Err((format!("attio.{k}"), why.to_string()));
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return fail(
                "base_url",
                "must start with https:// (or http:// for a local test server)",
            );
        }
        let slug_ok = !self.match_attribute.is_empty()
            && self
                .match_attribute
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !slug_ok {
            return fail(
                "match_attribute",
                "must be an API slug: lower-case letters, digits and _",
            );
        }
        if self.stage.trim().is_empty() {
            return fail("stage", "must name a deal stage");
        }
        if !(1..=25).contains(&self.max_writes_per_second) {
            return fail(
                "max_writes_per_second",
                "must be between 1 and 25 (Attio's limit)",
            );
        }
        if !(1..=100).contains(&self.max_reads_per_second) {
            return fail(
                "max_reads_per_second",
                "must be between 1 and 100 (Attio's limit)",
            );
        }
        if !(1..=600).contains(&self.timeout_seconds) {
            return fail("timeout_seconds", "must be between 1 and 600");
        }
        if !(1..=10).contains(&self.tries) {
            return fail("tries", "must be between 1 and 10");
        }
        Ok(())
    }
}

/// True when `name` matches one entry of `list` (exact, or prefix for a trailing `*`).
pub fn name_matches(list: &[String], name: &str) -> bool {
    list.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => p == name,
    })
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
            ("sources.period_days", self.sources.period_days),
        ];
        for (key, days) in windows {
            if days == 0 || days > 3650 {
                return fail(key, "must be between 1 and 3650 days");
            }
        }
        if s.feature_adoption.lookback_days > 3650 || s.team_growth.lookback_days > 3650 {
            return fail("signals.*.lookback_days", "must be at most 3650 days");
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
            if p.query_budget == 0 {
                return fail("posthog.query_budget", "must be at least 1");
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

/// Splits `key=value` into a full key path and a TOML value.
pub fn parse_override(set: &str) -> Result<(String, toml_edit::Value)> {
    let bad = |message: String| Error::Config {
        origin: format!("--set {set}"),
        message,
    };
    let (key, raw) = set
        .split_once('=')
        .ok_or_else(|| bad("expected KEY=VALUE, e.g. pricing_intent.min_count=4".into()))?;
    let key = key.trim();
    let key = if SIGNAL_NAMES
        .iter()
        .any(|n| key.split('.').next() == Some(n))
    {
        format!("signals.{key}")
    } else {
        key.to_string()
    };
    let raw = raw.trim();
    let value = raw
        .parse::<toml_edit::Value>()
        .unwrap_or_else(|_| toml_edit::Value::from(raw));
    Ok((key, value))
}

/// Sets a dotted key in a document, refusing keys that do not exist already.
pub fn set_path(
    doc: &mut toml_edit::DocumentMut,
    key: &str,
    value: toml_edit::Value,
) -> std::result::Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    let (last, parents) = parts.split_last().ok_or("empty key")?;
    let mut item = doc.as_item_mut();
    for p in parents {
        item = item
            .get_mut(p)
            .filter(|i| i.is_table_like())
            .ok_or_else(|| format!("unknown setting `{key}`"))?;
    }
    let table = item
        .as_table_like_mut()
        .ok_or_else(|| format!("unknown setting `{key}`"))?;
    match table.get_mut(last) {
        Some(slot) if slot.is_value() => {
            let decor = slot.as_value().map(|v| v.decor().clone());
            let mut value = value;
            if let Some(decor) = decor {
                *value.decor_mut() = decor;
            }
            *slot = toml_edit::Item::Value(value);
            Ok(())
        }
        _ => Err(format!("unknown setting `{key}`")),
    }
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

/// The terminal app's actions that `[keys]` can bind, in the order the help lists them.
pub const KEY_ACTIONS: [&str; 24] = [
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
];

/// The 1-based line where a dotted key is set in `text`, if it is.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let mut item = doc.as_item();
    for part in key.split('.') {
        item = item.get(part)?;
    }
    let span = item.span()?;
    Some(text[..span.start].matches('\n').count() + 1)
}

/// Writes `text` to `path` atomically: a temporary file in the same folder, then a rename.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("config"),
        std::process::id()
    ));
    std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Where things live: resolved once from CLI flags, environment and platform defaults.
#[derive(Debug, Clone)]
pub struct Paths {
    pub config_file: PathBuf,
    pub data_dir: PathBuf,
}

impl Paths {
    /// CLI value, else environment variable, else the platform directory from `directories`.
    pub fn resolve(config: Option<PathBuf>, data_dir: Option<PathBuf>) -> Result<Self> {
        let dirs = directories::ProjectDirs::from("dev", "beton", "beton");
        let pick = |cli: Option<PathBuf>, env: &str, fallback: Option<PathBuf>| {
            cli.or_else(|| {
                std::env::var_os(env)
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .or(fallback)
        };
        let config_file = pick(
            config,
            "BETON_CONFIG",
            dirs.as_ref().map(|d| d.config_dir().join("config.toml")),
        );
        let data_dir = pick(
            data_dir,
            "BETON_DATA",
            dirs.as_ref().map(|d| d.data_dir().to_path_buf()),
        );
        match (config_file, data_dir) {
            (Some(config_file), Some(data_dir)) => Ok(Self { config_file, data_dir }),
            _ => Err(Error::Usage(
                "no home directory found: pass --config and --data-dir (or BETON_CONFIG and BETON_DATA)".into(),
            )),
        }
    }

    pub fn database(&self) -> PathBuf {
        self.data_dir.join("workspace.sqlite")
    }

    pub fn log_file(&self) -> PathBuf {
        self.data_dir.join("beton.log")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_is_exactly_the_defaults() {
        let parsed = Config::parse(TEMPLATE, "assets/config.toml").unwrap();
        assert_eq!(parsed, Config::default());
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
