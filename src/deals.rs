//! Deal outcomes: a stage maps to won, lost or open by the configured stage lists.

use serde::Serialize;

use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Won,
    Lost,
    Open,
}

impl Outcome {
    /// Stage names compare without regard to case or surrounding space.
    pub fn of(stage: &str, cfg: &Config) -> Self {
        let same = |list: &[String]| {
            list.iter()
                .any(|s| s.trim().eq_ignore_ascii_case(stage.trim()))
        };
        if same(&cfg.deals.won_stages) {
            Outcome::Won
        } else if same(&cfg.deals.lost_stages) {
            Outcome::Lost
        } else {
            Outcome::Open
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Won => "won",
            Outcome::Lost => "lost",
            Outcome::Open => "open",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_map_by_the_configured_lists() {
        let cfg = Config::default();
        assert_eq!(Outcome::of("Won 🎉", &cfg), Outcome::Won);
        assert_eq!(Outcome::of("closed_won", &cfg), Outcome::Won);
        assert_eq!(Outcome::of(" Closed_Lost ", &cfg), Outcome::Lost);
        assert_eq!(Outcome::of("negotiation", &cfg), Outcome::Open);
    }
}
