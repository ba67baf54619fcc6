//! The settings of the figures: deal stages (SPEC §1), the backtest (SPEC §5), lead sources
//! (SPEC §6), learned weights (SPEC §11).

use serde::{Deserialize, Serialize};

use super::strings;

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

/// `beton learn` (SPEC §11): its replay uses the backtest's step and horizon over this range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LearnSettings {
    pub range_days: u32,
}

impl Default for LearnSettings {
    fn default() -> Self {
        Self { range_days: 365 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceSettings {
    /// Deals created in this many days before T are compared.
    pub period_days: u32,
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
