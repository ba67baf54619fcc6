//! Which alerts a run makes due, which of them the throttle or quiet hours hold back for the
//! digest, and whether the run sends the day's digest (SPEC §9). Pure: the store reads are done
//! by the caller and passed in, so a dry run and a real run decide the same way.

use serde::Serialize;

use crate::config::AlertSettings;
use crate::signals::{AccountScore, Tier};
use crate::time::{SECOND, fmt_date, fmt_ts};

pub const HOUR: i64 = 3600 * SECOND;

/// How many routed accounts a digest lists.
pub const DIGEST_TOP: usize = 20;

/// Where a rep goes from the card.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Links {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attio: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posthog: Option<String>,
}

/// One scored account with what the alert rules need to know about it at T.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub score: &'a AccountScore,
    /// Signal types this run emitted for it (outside their cooldown).
    pub emitted: Vec<String>,
    pub held_out: bool,
    /// A rep's disposition suppresses it at T (SPEC §10).
    pub suppressed: bool,
    /// `owner_email` as of T, else "unassigned".
    pub owner: String,
    pub name: Option<String>,
    pub arr: Option<f64>,
    /// The newest activity event before T (for `event_to_alert_seconds`).
    pub newest_event: Option<i64>,
    pub links: Links,
    /// The one-line "why now" against the previous run ("new: pricing_intent +30; score 45 →
    /// 75").
    pub why_now: String,
}

/// Why an alert was not sent on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Held {
    /// The owner had `per_owner_per_hour` alerts in the hour already.
    Throttled,
    /// T is inside `quiet_hours_utc`.
    QuietHours,
}

/// An alert card (SPEC §9).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub key: String,
    pub account: String,
    #[serde(skip)]
    pub account_id: i64,
    pub name: Option<String>,
    pub as_of: String,
    pub score: u32,
    pub tier: Tier,
    pub owner: String,
    pub arr: Option<f64>,
    /// The emitted types, sorted.
    pub signals: Vec<String>,
    /// Every fired signal as "type: evidence", strongest first.
    pub evidence: Vec<String>,
    pub next_step: String,
    /// What changed since the previous run, in one line (docs/DIFF.md).
    pub why_now: String,
    pub links: Links,
    #[serde(skip)]
    pub newest_event: Option<i64>,
    /// Set when the alert rolls into the digest instead of being sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<Held>,
}

/// One line of the digest's top list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopEntry {
    pub account: String,
    pub score: u32,
    pub tier: Tier,
}

/// The day's digest (SPEC §9).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Digest {
    pub key: String,
    pub date: String,
    pub as_of: String,
    pub hot: usize,
    pub warm: usize,
    pub top: Vec<TopEntry>,
    pub rolled_in: Vec<String>,
}

/// What a run decides.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub alerts: Vec<Alert>,
    pub digest: Option<Digest>,
}

/// What the store knows that the rules depend on.
pub struct History<'a> {
    /// Alerts already planned for an owner for runs with T in [t − 1 h, t].
    pub sent_in_hour: &'a dyn Fn(&str) -> usize,
    /// Alerts rolled by earlier runs and not taken in by a digest yet.
    pub rolled: Vec<String>,
    /// A digest for the day of T exists already.
    pub digest_sent_today: bool,
}

/// The SPEC key of an alert: `alert:<account>:<first 10 chars of T>:<sorted emitted types>`.
pub fn alert_key(account: &str, t: i64, emitted: &[String]) -> String {
    let mut types = emitted.to_vec();
    types.sort();
    let day: String = fmt_ts(t).chars().take(10).collect();
    format!("alert:{account}:{day}:{}", types.join(","))
}

pub fn digest_key(t: i64) -> String {
    format!("digest:{}", fmt_date(t))
}

fn hour_of(t: i64) -> u32 {
    (t.rem_euclid(24 * HOUR) / HOUR) as u32
}

/// True when the UTC hour of `t` is inside the quiet hours (from ≤ hour < to, across midnight).
pub fn is_quiet(s: &AlertSettings, t: i64) -> bool {
    let Some((from, to)) = s.quiet() else {
        return false;
    };
    let h = hour_of(t);
    if from < to {
        (from..to).contains(&h)
    } else {
        h >= from || h < to
    }
}

pub fn min_tier(s: &AlertSettings) -> Tier {
    match s.min_tier.as_str() {
        "warm" => Tier::Warm,
        "cool" => Tier::Cool,
        _ => Tier::Hot,
    }
}

/// Decides the run's alerts and digest at `t`.
pub fn plan(
    s: &AlertSettings,
    t: i64,
    candidates: &[Candidate<'_>],
    history: &History<'_>,
) -> Plan {
    let floor = min_tier(s);
    let mut due: Vec<&Candidate<'_>> = candidates
        .iter()
        .filter(|c| {
            c.score.routed
                && c.score.tier <= floor
                && !c.held_out
                && !c.suppressed
                && !c.emitted.is_empty()
        })
        .collect();
    due.sort_by(|a, b| {
        b.score
            .score
            .cmp(&a.score.score)
            .then_with(|| a.score.account.cmp(&b.score.account))
    });
    let quiet = is_quiet(s, t);
    let mut per_owner: std::collections::HashMap<&str, usize> = Default::default();
    let mut alerts = Vec::new();
    for c in due {
        let held = if quiet {
            Some(Held::QuietHours)
        } else {
            let n = per_owner
                .entry(c.owner.as_str())
                .or_insert_with(|| (history.sent_in_hour)(&c.owner));
            if *n >= s.per_owner_per_hour as usize {
                Some(Held::Throttled)
            } else {
                *n += 1;
                None
            }
        };
        alerts.push(card(c, t, held));
    }

    let mut digest = None;
    // The digest keeps the quiet hours too: it goes with the first run outside them.
    if hour_of(t) >= s.digest_hour_utc && !quiet && !history.digest_sent_today {
        let listed = candidates.iter().filter(|c| !c.held_out);
        let hot = listed.clone().filter(|c| c.score.tier == Tier::Hot).count();
        let warm = listed
            .clone()
            .filter(|c| c.score.tier == Tier::Warm)
            .count();
        let mut top: Vec<&Candidate<'_>> =
            listed.filter(|c| c.score.routed && !c.suppressed).collect();
        top.sort_by(|a, b| {
            b.score
                .score
                .cmp(&a.score.score)
                .then_with(|| a.score.account.cmp(&b.score.account))
        });
        let mut rolled_in = history.rolled.clone();
        for a in alerts.iter().filter(|a| a.held.is_some()) {
            if !rolled_in.contains(&a.key) {
                rolled_in.push(a.key.clone());
            }
        }
        if hot + warm > 0 || !rolled_in.is_empty() {
            digest = Some(Digest {
                key: digest_key(t),
                date: fmt_date(t),
                as_of: fmt_ts(t),
                hot,
                warm,
                top: top
                    .into_iter()
                    .take(DIGEST_TOP)
                    .map(|c| TopEntry {
                        account: c.score.account.clone(),
                        score: c.score.score,
                        tier: c.score.tier,
                    })
                    .collect(),
                rolled_in,
            });
        }
    }
    Plan { alerts, digest }
}

fn card(c: &Candidate<'_>, t: i64, held: Option<Held>) -> Alert {
    let s = c.score;
    let mut signals = c.emitted.clone();
    signals.sort();
    let mut fired: Vec<_> = s.fired.iter().collect();
    fired.sort_by(|a, b| {
        b.base
            .cmp(&a.base)
            .then_with(|| a.signal.as_str().cmp(b.signal.as_str()))
    });
    let names: Vec<&str> = fired.iter().map(|f| f.signal.as_str()).collect();
    Alert {
        key: alert_key(&s.account, t, &c.emitted),
        account: s.account.clone(),
        account_id: s.account_id,
        name: c.name.clone(),
        as_of: fmt_ts(t),
        score: s.score,
        tier: s.tier,
        owner: c.owner.clone(),
        arr: c.arr,
        signals,
        evidence: fired
            .iter()
            .map(|f| format!("{}: {}", f.signal.as_str(), f.evidence))
            .collect(),
        next_step: crate::signals::next_step::next_step(&names).to_string(),
        why_now: c.why_now.clone(),
        links: c.links.clone(),
        newest_event: c.newest_event,
        held,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::{Fired, ScoreParts, SignalType};

    fn score(account: &str, value: u32, tier: Tier, routed: bool) -> AccountScore {
        AccountScore {
            account_id: account.len() as i64,
            account: account.into(),
            score: value,
            tier,
            routed,
            parts: ScoreParts::default(),
            fired: vec![Fired {
                signal: SignalType::PricingIntent,
                base: 30,
                evidence: "3 pricing page views in 7 days".into(),
                numbers: Default::default(),
            }],
        }
    }

    fn cand<'a>(s: &'a AccountScore) -> Candidate<'a> {
        Candidate {
            score: s,
            emitted: vec!["pricing_intent".into()],
            held_out: false,
            suppressed: false,
            owner: "ae@example.com".into(),
            name: None,
            arr: None,
            newest_event: None,
            links: Links::default(),
            why_now: "new: pricing_intent +30; score 0 → 35".into(),
        }
    }

    fn none_sent(_: &str) -> usize {
        0
    }

    fn history() -> History<'static> {
        History {
            sent_in_hour: &none_sent,
            rolled: vec![],
            digest_sent_today: false,
        }
    }

    const T: i64 = 20_000 * 24 * HOUR + 8 * HOUR;

    #[test]
    fn only_routed_fresh_accounts_at_the_tier_that_are_neither_held_out_nor_suppressed() {
        let s = AlertSettings::default();
        let scores = [
            score("a.com", 80, Tier::Hot, true),
            score("b.com", 80, Tier::Hot, false),
            score("c.com", 50, Tier::Warm, true),
            score("d.com", 80, Tier::Hot, true),
            score("e.com", 80, Tier::Hot, true),
            score("f.com", 80, Tier::Hot, true),
        ];
        let mut c: Vec<Candidate<'_>> = scores.iter().map(cand).collect();
        c[3].held_out = true;
        c[4].suppressed = true;
        c[5].emitted.clear();
        let p = plan(&s, T, &c, &history());
        let keys: Vec<&str> = p.alerts.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["alert:a.com:2024-10-04:pricing_intent"]);
        let warm = AlertSettings {
            min_tier: "warm".into(),
            ..s
        };
        assert_eq!(plan(&warm, T, &c, &history()).alerts.len(), 2);
    }

    #[test]
    fn quiet_hours_wrap_midnight_and_the_throttle_counts_earlier_runs() {
        let s = AlertSettings {
            quiet_hours_utc: "22-7".into(),
            ..AlertSettings::default()
        };
        let day = 20_000 * 24 * HOUR;
        assert!(is_quiet(&s, day + 23 * HOUR));
        assert!(is_quiet(&s, day + 6 * HOUR));
        assert!(!is_quiet(&s, day + 7 * HOUR));
        assert!(!is_quiet(&s, day + 21 * HOUR));
        let scores: Vec<AccountScore> = (0..4)
            .map(|i| score(&format!("a{i}.com"), 80 - i, Tier::Hot, true))
            .collect();
        let c: Vec<Candidate<'_>> = scores.iter().map(cand).collect();
        let three = |_: &str| 3;
        let h = History {
            sent_in_hour: &three,
            ..history()
        };
        let p = plan(&AlertSettings::default(), T, &c, &h);
        let held: Vec<Option<Held>> = p.alerts.iter().map(|a| a.held).collect();
        assert_eq!(
            held,
            [None, None, Some(Held::Throttled), Some(Held::Throttled)]
        );
        // Best score first: the two that go out are the strongest.
        assert_eq!(p.alerts[0].account, "a0.com");
    }
}
