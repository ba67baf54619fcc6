//! What-ifs of the daily run: detection and scoring at T under candidate settings with nothing
//! recorded (no run, no ledger), captured, synced or alerted, and what the next daily run would
//! do differently if the candidate were applied. The terminal app's `r` and `w` rest on it.

use serde::Serialize;

use super::Context;
use crate::config::{Config, SourceKind};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::signals::{AccountScore, Tier};
use crate::source::{Budget, Source};

/// Scores every account at `t` under `cfg` through the configured source, as the daily run's
/// detect step does, without recording anything. On the local workspace the rollups follow
/// `cfg` (a cache of the events; [`compare`] puts them back for the settings in force). With
/// PostHog as the source its detection queries run (reads only). Parents and PostHog accounts
/// that are no account of the workspace yet get ids below 0: only a run adds them.
pub fn detect(ctx: &Context, cfg: &Config, t: i64, progress: &dyn Progress) -> Result<Scored> {
    let store = ctx.open_store()?;
    let _ids = store.what_if_ids();
    let client = crate::source::client(&ctx.paths, cfg, Budget::Run)
        .map_err(|e| Error::Usage(format!("PostHog: {e}")))?;
    progress.stage("detect (what-if)");
    let d = Source::of(client.as_ref()).detect(&store, cfg, t, progress)?;
    let mut scored = d.result.map_err(Error::Usage)?;
    // Routing as the daily run would decide it under `cfg` (reads only): the ARR floor and the
    // reps' dispositions (SPEC §8, §10).
    crate::signals::routing::apply_floor(&store, cfg, d.t, &mut scored.scores)?;
    crate::feedback::apply_stored(&store, &cfg.feedback, d.t, &mut scored.scores)?;
    Ok(Scored {
        t: d.t,
        scores: scored.scores,
        scored: scored.accounts,
    })
}

/// One detection at T: the accounts with a fired signal, best first, and how many were scored.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub t: i64,
    pub scores: Vec<AccountScore>,
    pub scored: usize,
}

/// The settings in force and a candidate, detected at the same T.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub before: Scored,
    pub after: Scored,
    pub diff: RunDiff,
    pub settings: Vec<SettingChange>,
}

/// Detects at `t` under the settings in force (`ctx.config`) and under `candidate`; nothing is
/// recorded. The rollups end as the settings in force need them.
pub fn compare(
    ctx: &Context,
    candidate: &Config,
    t: i64,
    progress: &dyn Progress,
) -> Result<Comparison> {
    let before = detect(ctx, &ctx.config, t, progress)?;
    if progress.is_cancelled() {
        return Err(Error::Cancelled);
    }
    let after = if *candidate == ctx.config {
        before.clone()
    } else {
        let after = detect(ctx, candidate, t, progress);
        if ctx.config.source == SourceKind::Local
            && candidate.rollup_fingerprint() != ctx.config.rollup_fingerprint()
        {
            ctx.open_store()?.ensure_rollups(&ctx.config)?;
        }
        after?
    };
    Ok(Comparison {
        diff: RunDiff::of(&before.scores, &after.scores),
        settings: setting_changes(&ctx.config, candidate),
        before,
        after,
    })
}

/// Accounts per tier and routed, of one detection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub queue: usize,
    pub hot: usize,
    pub warm: usize,
    pub cool: usize,
    pub routed: usize,
}

impl Counts {
    pub fn of(scores: &[AccountScore]) -> Self {
        let n = |t: Tier| scores.iter().filter(|s| s.tier == t).count();
        Self {
            queue: scores.len(),
            hot: n(Tier::Hot),
            warm: n(Tier::Warm),
            cool: n(Tier::Cool),
            routed: scores.iter().filter(|s| s.routed).count(),
        }
    }
}

/// How a candidate's detection differs from the settings in force', at the same T.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunDiff {
    pub before: Counts,
    pub after: Counts,
    /// Routed under the candidate, not under the settings in force (they would become CRM deals).
    pub newly_routed: Vec<String>,
    /// Routed now, not under the candidate.
    pub no_longer_routed: Vec<String>,
    /// Accounts in both queues whose tier differs.
    pub tier_changed: usize,
}

impl RunDiff {
    pub fn of(before: &[AccountScore], after: &[AccountScore]) -> Self {
        let routed = |s: &[AccountScore]| -> std::collections::BTreeSet<String> {
            s.iter()
                .filter(|a| a.routed)
                .map(|a| a.account.clone())
                .collect()
        };
        let (rb, ra) = (routed(before), routed(after));
        let tiers: std::collections::HashMap<&str, Tier> = before
            .iter()
            .map(|s| (s.account.as_str(), s.tier))
            .collect();
        Self {
            before: Counts::of(before),
            after: Counts::of(after),
            newly_routed: ra.difference(&rb).cloned().collect(),
            no_longer_routed: rb.difference(&ra).cloned().collect(),
            tier_changed: after
                .iter()
                .filter(|s| tiers.get(s.account.as_str()).is_some_and(|t| *t != s.tier))
                .count(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.before == self.after
            && self.newly_routed.is_empty()
            && self.no_longer_routed.is_empty()
            && self.tier_changed == 0
    }

    /// What the next daily run would do differently, one line per change, for a person.
    /// `crm` says whether routed accounts become deals (Attio is configured).
    pub fn lines(&self, crm: bool) -> Vec<String> {
        if self.is_empty() {
            return vec!["the next daily run would score the same accounts the same way".into()];
        }
        let mut out = Vec::new();
        let deals = if crm {
            "would get a CRM deal"
        } else {
            "would be routed (CRM candidates)"
        };
        if !self.newly_routed.is_empty() {
            out.push(format!(
                "+{} routed account{} {deals}: {}",
                self.newly_routed.len(),
                plural(self.newly_routed.len()),
                preview(&self.newly_routed)
            ));
        }
        if !self.no_longer_routed.is_empty() {
            out.push(format!(
                "-{} account{} no longer routed: {}",
                self.no_longer_routed.len(),
                plural(self.no_longer_routed.len()),
                preview(&self.no_longer_routed)
            ));
        }
        let (b, a) = (self.before, self.after);
        out.push(format!(
            "queue {} → {} · hot {} → {} · warm {} → {} · cool {} → {}",
            b.queue, a.queue, b.hot, a.hot, b.warm, a.warm, b.cool, a.cool
        ));
        if self.tier_changed > 0 {
            out.push(match self.tier_changed {
                1 => "1 account changes tier".to_string(),
                n => format!("{n} accounts change tier"),
            });
        }
        out
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The first few names and how many more.
fn preview(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(3).map(String::as_str).collect();
    match names.len().saturating_sub(3) {
        0 => shown.join(", "),
        n => format!("{} and {n} more", shown.join(", ")),
    }
}

/// One setting whose value differs, as TOML text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingChange {
    pub key: String,
    pub before: String,
    pub after: String,
}

impl SettingChange {
    /// `route_threshold 60 → 45`.
    pub fn text(&self) -> String {
        format!("{} {} → {}", self.key, self.before, self.after)
    }
}

/// Every setting (dotted key) whose value differs between two configs, in key order.
pub fn setting_changes(before: &Config, after: &Config) -> Vec<SettingChange> {
    let flat = |c: &Config| {
        let mut out = std::collections::BTreeMap::new();
        if let Ok(v) = toml::Value::try_from(c) {
            flatten("", &v, &mut out);
        }
        out
    };
    let (b, a) = (flat(before), flat(after));
    let keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let (x, y) = (b.get(k), a.get(k));
            (x != y).then(|| SettingChange {
                key: k.clone(),
                before: x.cloned().unwrap_or_else(|| "(none)".into()),
                after: y.cloned().unwrap_or_else(|| "(none)".into()),
            })
        })
        .collect()
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut std::collections::BTreeMap<String, String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_changes_name_the_keys_that_differ() {
        let a = Config::default();
        let b = a
            .with_overrides(&[
                "route_threshold=45".into(),
                "pricing_intent.min_count=4".into(),
            ])
            .unwrap();
        let c = setting_changes(&a, &b);
        let texts: Vec<String> = c.iter().map(SettingChange::text).collect();
        assert_eq!(
            texts,
            [
                "route_threshold 60 → 45",
                "signals.pricing_intent.min_count 2 → 4"
            ]
        );
        assert!(setting_changes(&a, &a).is_empty());
    }
}
