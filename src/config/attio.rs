//! The `[attio]` table: the Attio workspace and how deals, notes and tasks are made.

use serde::{Deserialize, Serialize};

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
    pub(super) fn validate(&self) -> std::result::Result<(), (String, String)> {
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
