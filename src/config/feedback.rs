//! The `[feedback]` section (SPEC §10; docs/FEEDBACK.md): how long a rep's answer keeps an
//! account out of routing and alerts.

use serde::{Deserialize, Serialize};

/// The `[feedback]` section (SPEC §10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeedbackSettings {
    /// Days a `not_ready` answer suppresses routing and alerts (0: not at all).
    pub not_ready_days: u32,
    /// Days an `already_working` answer suppresses routing and alerts (0: not at all).
    pub already_working_days: u32,
}

impl Default for FeedbackSettings {
    fn default() -> Self {
        Self {
            not_ready_days: 30,
            already_working_days: 90,
        }
    }
}

impl FeedbackSettings {
    pub(super) fn validate(&self) -> std::result::Result<(), (String, String)> {
        for (key, days) in [
            ("feedback.not_ready_days", self.not_ready_days),
            ("feedback.already_working_days", self.already_working_days),
        ] {
            if days > 3650 {
                return Err((
                    key.into(),
                    format!("is {days}: must be between 0 and 3650 days"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn feedback_days_default_to_the_spec_and_are_range_checked() {
        let cfg = Config::parse("", "c.toml").unwrap();
        assert_eq!(
            (
                cfg.feedback.not_ready_days,
                cfg.feedback.already_working_days
            ),
            (30, 90)
        );
        let cfg = Config::parse("[feedback]\nnot_ready_days = 0\n", "c.toml").unwrap();
        assert_eq!(cfg.feedback.not_ready_days, 0);
        let err = Config::parse("[feedback]\nalready_working_days = 3651\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("feedback.already_working_days"),
            "{err}"
        );
        let err = Config::parse("[feedback]\nnot_ready = 3\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not_ready"), "{err}");
    }
}
