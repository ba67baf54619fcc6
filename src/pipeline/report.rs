//! What a run reports: its steps and the JSON report of `--run-daily --json` (SPEC §7). These
//! types sit below every step, so a step (or an integration) never imports the pipeline itself.

use serde::{Deserialize, Serialize};

use crate::signals::parents::Family;
use crate::signals::routing::{CrmAction, Motion, Route};
use crate::signals::{AccountScore, Tier};
use crate::store::Emission;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    Ok,
    Failed,
    Skipped,
}

/// One step of the pipeline and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub name: String,
    pub status: StepStatus,
    pub detail: String,
}

impl Step {
    pub fn new(name: &str, status: StepStatus, detail: &str) -> Self {
        Self {
            name: name.into(),
            status,
            detail: detail.into(),
        }
    }
}

/// One account in the report (SPEC §7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportAccount {
    pub account: String,
    pub score: u32,
    pub tier: Tier,
    pub signals: Vec<String>,
    pub routed: bool,
    /// What the CRM step does for it (SPEC §8): create, update, attach, skip or none.
    #[serde(default)]
    pub crm_action: CrmAction,
    /// `new`, or `expansion` for a customer.
    #[serde(default)]
    pub motion: Motion,
    /// Why a routed account gets no write (in pipeline, no CRM…), or why one at the threshold
    /// is not routed (below the ARR floor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm_reason: Option<String>,
    /// Held out of the CRM and the alerts to measure what routing adds (SPEC §12).
    #[serde(default)]
    pub holdout: bool,
    /// The rep's disposition that keeps it out of routing and alerts at T (SPEC §10), or null.
    #[serde(default)]
    pub suppressed: Option<crate::feedback::Kind>,
    /// When that suppression ends (RFC 3339), or null.
    #[serde(default)]
    pub suppressed_until: Option<String>,
    /// A parent's workspaces by key (SPEC §14; its own account left out); absent for an account
    /// that stands alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<String>,
    /// A parent's `arr`: the sum over its workspaces; absent for an account that stands alone
    /// (or when no workspace has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arr: Option<f64>,
    /// A parent's `owner_email`: that of its workspace with the highest `arr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_email: Option<String>,
}

impl ReportAccount {
    pub fn of(
        s: &AccountScore,
        route: Option<&Route>,
        holdout: bool,
        suppressed: Option<&crate::feedback::Suppression>,
    ) -> Self {
        Self {
            suppressed: suppressed.map(|x| x.kind),
            suppressed_until: suppressed.map(|x| x.until_ts()),
            crm_action: route.map_or(CrmAction::None, |r| r.crm_action),
            motion: route.map_or(Motion::New, |r| r.motion),
            crm_reason: route.and_then(|r| r.why.clone()),
            account: s.account.clone(),
            score: s.score,
            tier: s.tier,
            signals: s
                .fired
                .iter()
                .map(|f| f.signal.as_str().to_string())
                .collect(),
            routed: s.routed,
            holdout,
            workspaces: Vec::new(),
            arr: None,
            owner_email: None,
        }
    }

    /// Adds what a parent is made of (SPEC §14); an account that stands alone is left as it is.
    pub fn with_family(mut self, family: Option<&Family>) -> Self {
        if let Some(f) = family.filter(|f| f.is_parent(&self.account)) {
            self.workspaces = f.workspaces(&self.account);
            self.arr = f.arr(&self.account);
            self.owner_email = f.owner(&self.account).map(str::to_string);
        }
        self
    }
}

/// The JSON report of `--run-daily --json` (SPEC §7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub run_id: i64,
    pub as_of: String,
    pub source: String,
    pub demo: bool,
    pub accounts_scored: usize,
    pub hot: usize,
    pub warm: usize,
    pub cool: usize,
    pub routed: usize,
    pub emitted: usize,
    pub accounts: Vec<ReportAccount>,
    /// Per enabled signal type, how many entries of `accounts` it fired for (0 included; a
    /// disabled type is left out).
    #[serde(default)]
    pub signals_by_type: std::collections::BTreeMap<String, usize>,
    pub steps: Vec<Step>,
    /// The run's alerts and digest per channel, with `event_to_alert_seconds` (SPEC §9).
    #[serde(default)]
    pub alerts: Vec<crate::alerts::ReportAlert>,
    /// PostHog query endpoint calls against the run's budget (when PostHog is connected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queries: Option<crate::posthog::Usage>,
    pub seconds: f64,
}

/// Per enabled signal type of `cfg`, how many of `accounts` it fired for (SPEC §7).
pub fn signals_by_type(
    accounts: &[ReportAccount],
    cfg: &crate::config::Config,
) -> std::collections::BTreeMap<String, usize> {
    crate::signals::SignalType::ALL
        .into_iter()
        .filter(|t| t.enabled(cfg))
        .map(|t| {
            let n = accounts
                .iter()
                .filter(|a| a.signals.iter().any(|s| s == t.as_str()))
                .count();
            (t.as_str().to_string(), n)
        })
        .collect()
}

/// What `--run-daily --json` prints when the run fails (SPEC §7): one object with the error,
/// the T (null when there is none, e.g. `--as-of` did not parse) and the steps that ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedRun {
    pub error: String,
    pub as_of: Option<String>,
    pub steps: Vec<Step>,
}

impl Report {
    /// 0 when every step ran, 2 when some failed but others ran.
    pub fn exit_code(&self) -> i32 {
        if self.steps.iter().any(|s| s.status == StepStatus::Failed) {
            2
        } else {
            0
        }
    }
}

/// Everything a run produced, for front-ends that show more than the report.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub report: Report,
    pub scores: Vec<AccountScore>,
    pub emitted: Vec<Emission>,
}
