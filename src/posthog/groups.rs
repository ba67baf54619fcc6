//! The tier back in PostHog: `beton_score`, `beton_tier`, `beton_signals` and `beton_holdout`
//! as group properties, set with a `$groupidentify` capture event only for accounts whose values
//! changed since Beton last set them, so feature flags and cohorts can target Hot accounts
//! (docs/ALERTS.md shows a flag condition).

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use crate::signals::AccountScore;
use crate::store::GroupProps;
use crate::time::fmt_ts;

/// The properties Beton sets on an account's group.
pub fn props(score: Option<&AccountScore>, held_out: bool) -> Value {
    let (value, tier, mut signals) = match score {
        Some(s) => (
            s.score,
            s.tier.as_str(),
            s.fired
                .iter()
                .map(|f| f.signal.as_str().to_string())
                .collect::<Vec<_>>(),
        ),
        None => (0, "cool", Vec::new()),
    };
    signals.sort();
    json!({"beton_score": value, "beton_tier": tier, "beton_signals": signals, "beton_holdout": held_out})
}

/// `$groupidentify` events for every account whose properties differ from `previous` (by
/// account id, the JSON last queued): the scored accounts, and accounts set before that have no
/// fired signal now (score 0, tier cool).
pub fn changed(
    project: u64,
    group_type: &str,
    t: i64,
    scores: &[AccountScore],
    held_out: &HashSet<i64>,
    previous: &HashMap<i64, String>,
    keys: &HashMap<i64, String>,
) -> Vec<(GroupProps, Value)> {
    let mut out = Vec::new();
    let scored: HashSet<i64> = scores.iter().map(|s| s.account_id).collect();
    let mut push = |id: i64, account: &str, p: Value| {
        let text = p.to_string();
        if previous.get(&id) == Some(&text) {
            return;
        }
        let uuid =
            super::capture::event_uuid(project, account, &format!("$groupidentify {text}"), t);
        let event = json!({
            "event": "$groupidentify",
            "uuid": uuid,
            "timestamp": fmt_ts(t),
            "properties": {
                "distinct_id": format!("beton:{group_type}:{account}"),
                "$process_person_profile": false,
                "$group_type": group_type,
                "$group_key": account,
                "$group_set": p,
            },
        });
        out.push((
            GroupProps {
                account_id: id,
                props: text,
            },
            event,
        ));
    };
    for s in scores {
        push(
            s.account_id,
            &s.account,
            props(Some(s), held_out.contains(&s.account_id)),
        );
    }
    let mut gone: Vec<(&i64, &String)> = previous
        .iter()
        .filter(|(id, _)| !scored.contains(id))
        .collect();
    gone.sort();
    for (id, _) in gone {
        if let Some(account) = keys.get(id) {
            push(*id, account, props(None, held_out.contains(id)));
        }
    }
    out
}
