//! The `[posthog]` table: the connected project, written by `beton connect posthog`.

use serde::{Deserialize, Serialize};

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
    /// Data warehouse table or view with CRM deals in SPEC §1 columns, which the deal tiles
    /// read. With `attio_table` set it is the view `beton provision` creates over that table.
    pub deals_table: String,
    /// The table PostHog's native Attio source lands deals in (Attio's raw record shape); empty
    /// when `deals_table` is a table of your own in SPEC §1 columns and no view is wanted.
    pub attio_table: String,
    /// Query endpoint calls PostHog allows this project an hour: 120 for teams on the legacy
    /// limits, 2400 on the newer ones. Backtests and sweeps are planned and paced within it.
    pub queries_per_hour: u32,
    /// Longest wait Beton accepts for PostHog's rate limit (a `Retry-After`, or pacing within
    /// `queries_per_hour`); a longer one stops the command with a message saying when to retry.
    pub max_wait_seconds: u32,
    /// How far before the first replay date the backtest's first-seen scan reads events.
    pub first_seen_days: u32,
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
            deals_table: "beton_deals".into(),
            attio_table: "attio_deals".into(),
            queries_per_hour: 120,
            max_wait_seconds: 900,
            first_seen_days: 365,
            folder: "Beton Signals".into(),
            tag: "beton".into(),
            provision_on_run: true,
        }
    }
}
