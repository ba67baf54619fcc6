//! Alerts to the account's owner and the daily digest (SPEC §9, docs/ALERTS.md): a JSON webhook
//! and a Slack incoming webhook, throttled per owner, quiet at night, exactly once through the
//! workspace outbox.
//!
//! - [`plan`]: which alerts are due, held back, and whether the digest goes out (pure)
//! - [`render`]: the JSON body and the Slack Block Kit message with its text fallback
//! - [`deliver`]: sending the outbox rows, retries, `Retry-After`

pub mod deliver;
pub mod plan;
pub mod render;

use std::collections::HashSet;

use serde::Serialize;
use serde_json::Value;

use crate::config::{Config, Paths};
use crate::error::{Error, Result};
use crate::signals::AccountScore;
use crate::store::{AlertRow, Recorded, Store};
pub use plan::{Alert, Candidate, Digest, Held, History, Links, Plan};

pub const WEBHOOK_VAR: &str = "BETON_ALERT_WEBHOOK_URL";
pub const SLACK_VAR: &str = "BETON_SLACK_WEBHOOK_URL";

/// A webhook address: it works as a password, so it is never printed, logged or stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: &str) -> Option<Self> {
        let s = s.trim();
        (!s.is_empty()).then(|| Self(s.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// The configured destinations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Destinations {
    pub webhook: Option<Secret>,
    pub slack: Option<Secret>,
}

impl Destinations {
    pub fn is_empty(&self) -> bool {
        self.webhook.is_none() && self.slack.is_none()
    }

    pub fn get(&self, channel: &str) -> Option<&Secret> {
        match channel {
            "webhook" => self.webhook.as_ref(),
            "slack" => self.slack.as_ref(),
            _ => None,
        }
    }

    /// The configured channels, in the order they are sent.
    pub fn channels(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.webhook.is_some() {
            out.push("webhook");
        }
        if self.slack.is_some() {
            out.push("slack");
        }
        out
    }
}

/// The addresses: the environment first, else `webhook_url` / `slack_webhook_url` under
/// `[alerts]` in the credentials file (mode 0600, beside the config). A file others can read is
/// refused, so a leaked address is not silently used.
pub fn destinations(paths: &Paths) -> Result<Destinations> {
    let env = |k: &str| std::env::var(k).ok().as_deref().and_then(Secret::new);
    let mut d = Destinations {
        webhook: env(WEBHOOK_VAR),
        slack: env(SLACK_VAR),
    };
    if d.webhook.is_some() && d.slack.is_some() {
        return Ok(d);
    }
    let file = crate::posthog::credentials_file(paths);
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(d),
        Err(e) => return Err(Error::io(&file, e)),
    };
    let doc: toml::Table = toml::from_str(&text).map_err(|e| Error::Config {
        origin: file.display().to_string(),
        message: format!("not valid TOML ({})", e.message()),
    })?;
    let Some(table) = doc.get("alerts").and_then(|t| t.as_table()) else {
        return Ok(d);
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file)
            .map_err(|e| Error::io(&file, e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(Error::Config {
                origin: file.display().to_string(),
                message: format!(
                    "holds webhook addresses but others can read it (mode {:o}): run `chmod 600 {}`",
                    mode & 0o777,
                    file.display()
                ),
            });
        }
    }
    let get = |k: &str| table.get(k).and_then(|v| v.as_str()).and_then(Secret::new);
    d.webhook = d.webhook.or_else(|| get("webhook_url"));
    d.slack = d.slack.or_else(|| get("slack_webhook_url"));
    for (k, s) in [("webhook_url", &d.webhook), ("slack_webhook_url", &d.slack)] {
        if let Some(s) = s
            && !(s.expose().starts_with("https://") || s.expose().starts_with("http://"))
        {
            return Err(Error::Config {
                origin: file.display().to_string(),
                message: format!("`alerts.{k}` must be an https:// address"),
            });
        }
    }
    Ok(d)
}

/// What the alert rules need per account beyond its score.
#[derive(Debug, Clone, Default)]
pub struct AccountInfo {
    pub owner: Option<String>,
    pub name: Option<String>,
    pub arr: Option<f64>,
    pub newest_event: Option<i64>,
    pub links: Links,
    /// The one-line "why now" against the previous run (docs/DIFF.md).
    pub why_now: Option<String>,
}

/// The scored accounts of the daily run an alert at this run compares with: the run recorded
/// before `run_id` (or, for a run not recorded, the latest), by key.
pub fn previous_sides(
    store: &Store,
    run_id: Option<i64>,
) -> Result<std::collections::BTreeMap<String, crate::signals::diff::Side>> {
    let prev = match run_id {
        Some(id) => store.previous_run("daily", id)?,
        None => store.latest_run("daily")?,
    };
    match prev {
        Some(r) => crate::signals::diff::run_sides(store, r.id),
        None => Ok(Default::default()),
    }
}

/// Reads owner, name, ARR (as of `t`), the Attio and PostHog links and the "why now" against
/// `before` (the previous run's accounts) of each scored account.
/// A parent's owner and ARR are its own (SPEC §14), its newest event the newest of any of its
/// workspaces.
pub fn account_info(
    store: &Store,
    cfg: &Config,
    t: i64,
    scores: &[AccountScore],
    newest: &std::collections::HashMap<i64, i64>,
    before: &std::collections::BTreeMap<String, crate::signals::diff::Side>,
) -> Result<std::collections::HashMap<i64, AccountInfo>> {
    let mut out = std::collections::HashMap::new();
    let posthog = cfg.posthog.as_ref().filter(|p| p.project_id != 0);
    let family = crate::signals::parents::Family::at(store, cfg, t)?;
    for s in scores {
        let props = crate::signals::parents::account_props(
            store,
            family.as_ref(),
            s.account_id,
            &s.account,
            t,
        )?;
        let newest_event = match &family {
            Some(f) if f.is_parent(&s.account) => f
                .members(&s.account)
                .iter()
                .filter_map(|m| newest.get(&m.id).copied())
                .max(),
            _ => newest.get(&s.account_id).copied(),
        };
        let owner = props
            .get("owner_email")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_string);
        let name = props
            .get("name")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        let attio = store
            .attio_deal_link(s.account_id)?
            .and_then(|(_, url)| url);
        let posthog = posthog.map(|p| crate::posthog::group_url(p, &s.account));
        out.insert(
            s.account_id,
            AccountInfo {
                owner,
                name,
                arr: crate::signals::numeric(props.get("arr")),
                newest_event,
                links: Links { attio, posthog },
                why_now: Some(crate::signals::diff::why_now(
                    before.get(&s.account),
                    &crate::signals::diff::Side::of_score(s),
                )),
            },
        );
    }
    Ok(out)
}

/// The candidates of a run: every scored account with its emitted types and holdout flag.
pub fn candidates<'a>(
    scores: &'a [AccountScore],
    emitted: &[crate::store::Emission],
    held_out: &HashSet<i64>,
    suppressed: &HashSet<i64>,
    info: &std::collections::HashMap<i64, AccountInfo>,
) -> Vec<Candidate<'a>> {
    scores
        .iter()
        .map(|s| {
            let i = info.get(&s.account_id).cloned().unwrap_or_default();
            Candidate {
                score: s,
                emitted: emitted
                    .iter()
                    .filter(|e| e.account == s.account)
                    .map(|e| e.signal.clone())
                    .collect(),
                held_out: held_out.contains(&s.account_id),
                suppressed: suppressed.contains(&s.account_id),
                owner: i.owner.unwrap_or_else(|| "unassigned".into()),
                name: i.name,
                arr: i.arr,
                newest_event: i.newest_event,
                links: i.links,
                why_now: i.why_now.unwrap_or_default(),
            }
        })
        .collect()
}

/// The store's side of the rules at `t`.
pub fn decide(store: &Store, cfg: &Config, t: i64, candidates: &[Candidate<'_>]) -> Result<Plan> {
    let from = t - plan::HOUR;
    let sent = |owner: &str| store.alerts_for_owner(owner, from, t).unwrap_or(usize::MAX);
    let history = History {
        sent_in_hour: &sent,
        rolled: store.rolled_alerts()?,
        digest_sent_today: store.alert_key_exists(&plan::digest_key(t))?,
    };
    Ok(plan::plan(&cfg.alerts, t, candidates, &history))
}

/// The outbox rows of a plan: one per configured channel for every alert and the digest.
pub fn rows(plan: &Plan, dest: &Destinations, run_id: i64, t: i64) -> Vec<AlertRow> {
    let mut out = Vec::new();
    for ch in dest.channels() {
        for a in &plan.alerts {
            let body = match ch {
                "slack" => render::alert_slack(a),
                _ => render::alert_json(a),
            };
            out.push(AlertRow {
                channel: ch.into(),
                key: a.key.clone(),
                account_id: Some(a.account_id),
                kind: "alert".into(),
                body: body.to_string(),
                rolled: a.held.is_some(),
                run_id,
                as_of: t,
                owner: Some(a.owner.clone()),
                newest_event: a.newest_event,
                takes_in: vec![],
            });
        }
        if let Some(d) = &plan.digest {
            let body = match ch {
                "slack" => render::digest_slack(d),
                _ => render::digest_json(d),
            };
            out.push(AlertRow {
                channel: ch.into(),
                key: d.key.clone(),
                account_id: None,
                kind: "digest".into(),
                body: body.to_string(),
                rolled: false,
                run_id,
                as_of: t,
                owner: None,
                newest_event: None,
                takes_in: d.rolled_in.clone(),
            });
        }
    }
    out
}

/// One alert or digest of a run, as the JSON report lists it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ReportAlert {
    pub key: String,
    pub kind: String,
    pub channel: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// pending, sent (answer unknown), done, rolled (waits for the digest), digested.
    pub state: String,
    /// From the newest event that made the alert fire to its delivery, in seconds (delivered
    /// alerts of the local source).
    pub event_to_alert_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The run's alert rows after delivery.
pub fn report(store: &Store, run_id: i64) -> Result<Vec<ReportAlert>> {
    Ok(store
        .run_alerts(run_id)?
        .into_iter()
        .map(|r| ReportAlert {
            event_to_alert_seconds: match (r.kind.as_str(), r.done_at, r.newest_event) {
                ("alert", Some(done), Some(e)) => {
                    Some(((done - e) as f64 / crate::time::SECOND as f64 * 10.0).round() / 10.0)
                }
                _ => None,
            },
            key: r.key,
            kind: r.kind,
            channel: r.channel,
            account: r.account,
            state: r.state,
            error: r.error,
        })
        .collect())
}

/// What a run knows about its accounts besides their scores.
#[derive(Debug, Clone, Copy)]
pub struct Known<'a> {
    /// The newest activity event before T, by account id (for `event_to_alert_seconds`).
    pub newest: &'a std::collections::HashMap<i64, i64>,
    /// The accounts a rep's disposition suppresses at T (SPEC §10).
    pub suppressed: &'a HashSet<i64>,
}

/// Plans the alert rows inside the run's recording transaction (see
/// [`Store::record_detection_with`]).
pub fn plan_rows(
    store: &Store,
    cfg: &Config,
    dest: &Destinations,
    t: i64,
    scores: &[AccountScore],
    recorded: &Recorded,
    known: Known<'_>,
) -> Result<Vec<AlertRow>> {
    if dest.is_empty() {
        return Ok(Vec::new());
    }
    // Owner, name, ARR and links are read only for the accounts that may be alerted.
    let floor = plan::min_tier(&cfg.alerts);
    let fresh: HashSet<&str> = recorded
        .emitted
        .iter()
        .map(|e| e.account.as_str())
        .collect();
    let eligible: Vec<AccountScore> = scores
        .iter()
        .filter(|s| s.routed && s.tier <= floor && fresh.contains(s.account.as_str()))
        .cloned()
        .collect();
    let before = previous_sides(store, Some(recorded.run_id))?;
    let info = account_info(store, cfg, t, &eligible, known.newest, &before)?;
    let cands = candidates(
        scores,
        &recorded.emitted,
        &recorded.held_out,
        known.suppressed,
        &info,
    );
    let plan = decide(store, cfg, t, &cands)?;
    Ok(rows(&plan, dest, recorded.run_id, t))
}
