//! The `[alerts]` and `[holdout]` sections (SPEC §9, §12; docs/ALERTS.md).

use serde::{Deserialize, Serialize};

/// The `[alerts]` section (SPEC §9). The webhook addresses are secrets and never live here: they
/// come from `BETON_ALERT_WEBHOOK_URL` / `BETON_SLACK_WEBHOOK_URL` or the `[alerts]` table of the
/// 0600 credentials file (docs/ALERTS.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertSettings {
    /// The lowest tier that is alerted: "hot", "warm" or "cool".
    pub min_tier: String,
    /// Alerts sent per owner in any hour (measured on the runs' T); the rest roll into the digest.
    pub per_owner_per_hour: u32,
    /// The UTC hour from which the day's first run sends the digest.
    pub digest_hour_utc: u32,
    /// UTC hours in which no alert is sent (they roll into the digest), e.g. "22-7"; empty: none.
    pub quiet_hours_utc: String,
    /// Seconds before a delivery request times out.
    pub timeout_seconds: u32,
    /// Tries of a delivery that got a 5xx, a 429 or no answer, within one run.
    pub tries: u32,
    /// Seconds before the first retry of a 5xx or a request without answer (doubled for each
    /// further try).
    pub retry_pause_seconds: f64,
    /// The longest `Retry-After` waited for within a run; a longer one leaves the delivery for
    /// the next run.
    pub max_wait_seconds: u32,
    /// Secrets: refused here with a pointer to the credentials file (see the type's doc).
    #[serde(skip_serializing)]
    pub webhook_url: Option<String>,
    #[serde(skip_serializing)]
    pub slack_webhook_url: Option<String>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            min_tier: "hot".into(),
            per_owner_per_hour: 5,
            digest_hour_utc: 9,
            quiet_hours_utc: String::new(),
            timeout_seconds: 10,
            tries: 3,
            retry_pause_seconds: 1.0,
            max_wait_seconds: 30,
            webhook_url: None,
            slack_webhook_url: None,
        }
    }
}

impl AlertSettings {
    pub(super) fn validate(&self) -> std::result::Result<(), (String, String)> {
        let fail = |k: &str, why: &str| Err((format!("alerts.{k}"), why.to_string()));
        for (k, v) in [
            ("webhook_url", &self.webhook_url),
            ("slack_webhook_url", &self.slack_webhook_url),
        ] {
            if v.is_some() {
                return fail(
                    k,
                    "is a secret and does not belong in the config file: put it under [alerts] in \
                     credentials.toml (mode 0600, beside the config) or in BETON_ALERT_WEBHOOK_URL / \
                     BETON_SLACK_WEBHOOK_URL",
                );
            }
        }
        if !["hot", "warm", "cool"].contains(&self.min_tier.as_str()) {
            return fail("min_tier", "must be \"hot\", \"warm\" or \"cool\"");
        }
        if self.per_owner_per_hour > 1000 {
            return fail("per_owner_per_hour", "must be at most 1000");
        }
        if self.digest_hour_utc > 23 {
            return fail("digest_hour_utc", "must be an hour 0-23");
        }
        if quiet_hours(&self.quiet_hours_utc).is_err() {
            return fail(
                "quiet_hours_utc",
                "must be empty or \"FROM-TO\" in whole UTC hours 0-23, e.g. \"22-7\"",
            );
        }
        if !(1..=600).contains(&self.timeout_seconds) {
            return fail("timeout_seconds", "must be between 1 and 600");
        }
        if !(1..=10).contains(&self.tries) {
            return fail("tries", "must be between 1 and 10");
        }
        if !(self.retry_pause_seconds.is_finite()
            && (0.0..=60.0).contains(&self.retry_pause_seconds))
        {
            return fail("retry_pause_seconds", "must be a number from 0 to 60");
        }
        if self.max_wait_seconds > 3600 {
            return fail("max_wait_seconds", "must be at most 3600");
        }
        Ok(())
    }

    /// The quiet hours as (from, to): quiet when from ≤ hour < to, wrapping at midnight.
    pub fn quiet(&self) -> Option<(u32, u32)> {
        quiet_hours(&self.quiet_hours_utc).ok().flatten()
    }
}

/// Parses "22-7" into (22, 7); empty is none.
fn quiet_hours(s: &str) -> std::result::Result<Option<(u32, u32)>, ()> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let (a, b) = s.split_once('-').ok_or(())?;
    let a: u32 = a.trim().parse().map_err(|_| ())?;
    let b: u32 = b.trim().parse().map_err(|_| ())?;
    if a > 23 || b > 23 || a == b {
        return Err(());
    }
    Ok(Some((a, b)))
}

/// The `[holdout]` section (SPEC §12): the share of routed accounts kept out of the CRM and the
/// alerts, to measure what routing adds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HoldoutSettings {
    /// Percent of newly routed accounts held out (0 = none).
    pub percent: f64,
    /// The key of the assignment hash; change it only for a new experiment.
    pub salt: String,
}

impl Default for HoldoutSettings {
    fn default() -> Self {
        Self {
            percent: 0.0,
            salt: "beton".into(),
        }
    }
}

impl HoldoutSettings {
    pub(super) fn validate(&self) -> std::result::Result<(), (String, String)> {
        if !(self.percent.is_finite() && (0.0..=50.0).contains(&self.percent)) {
            return Err((
                "holdout.percent".into(),
                "must be a number from 0 to 50".into(),
            ));
        }
        Ok(())
    }
}
