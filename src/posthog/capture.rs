//! Signals back into PostHog: one `beton_signal_fired` event per emitted (account, signal type)
//! through the public batch capture endpoint, with a deterministic `uuid` so that a retried
//! batch is deduplicated by PostHog instead of counted twice.

use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::PosthogError;
use crate::signals::AccountScore;
use crate::store::Emission;
use crate::time::fmt_ts;

pub const EVENT: &str = "beton_signal_fired";

/// A uuid (version 8, RFC 9562 "custom") derived from the project, account, signal and time.
pub fn event_uuid(project: u64, account: &str, signal: &str, detected_at: i64) -> String {
    let mut h = Sha256::new();
    for part in [
        project.to_string().as_str(),
        account,
        signal,
        &detected_at.to_string(),
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The capture events for a run's emissions at `t`.
pub fn events(
    project: u64,
    group_type: &str,
    t: i64,
    scores: &[AccountScore],
    emitted: &[Emission],
) -> Vec<Value> {
    let detected_at = fmt_ts(t);
    emitted
        .iter()
        .filter_map(|e| {
            let s = scores.iter().find(|s| s.account == e.account)?;
            let fired = s.fired.iter().find(|f| f.signal.as_str() == e.signal)?;
            Some(json!({
                "event": EVENT,
                "uuid": event_uuid(project, &e.account, &e.signal, t),
                "timestamp": detected_at,
                "properties": {
                    "distinct_id": format!("beton:{group_type}:{}", e.account),
                    "$process_person_profile": false,
                    "$groups": { group_type: e.account },
                    "account": e.account,
                    "signal_type": e.signal,
                    "signal_types": s.fired.iter().map(|f| f.signal.as_str()).collect::<Vec<_>>(),
                    "signal_score": s.score,
                    "signal_base": fired.base,
                    "evidence": fired.evidence,
                    "tier": s.tier.as_str(),
                    "routed": s.routed,
                    "detected_at": detected_at,
                },
            }))
        })
        .collect()
}

/// Sends `events` to `{capture_host}/batch/` in batches of 500, retrying 429/5xx a few times
/// (the uuids make a retry safe). Returns how many events were accepted.
pub fn send(
    capture_host: &str,
    project_api_key: &str,
    events: &[Value],
    backoff: Duration,
) -> Result<usize, PosthogError> {
    if events.is_empty() {
        return Ok(0);
    }
    let host = capture_host.trim_end_matches('/');
    let http = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| PosthogError::Unreachable {
            host: host.to_string(),
            message: e.to_string(),
        })?;
    let url = format!("{host}/batch/");
    let mut sent = 0;
    for chunk in events.chunks(500) {
        let body =
            json!({"api_key": project_api_key, "historical_migration": false, "batch": chunk});
        let mut wait = backoff;
        let mut attempt = 0;
        loop {
            let resp =
                http.post(&url)
                    .json(&body)
                    .send()
                    .map_err(|e| PosthogError::Unreachable {
                        host: host.to_string(),
                        message: e.without_url().to_string(),
                    })?;
            let status = resp.status().as_u16();
            if status == 200 || status == 204 {
                break;
            }
            let text: String = resp.text().unwrap_or_default().chars().take(200).collect();
            if (status == 429 || status >= 500) && attempt < 3 {
                std::thread::sleep(wait);
                wait *= 2;
                attempt += 1;
                continue;
            }
            return Err(match status {
                401 => PosthogError::Setup(format!(
                    "capture at {host} rejected the project key (401: {text}); run `beton connect posthog` again"
                )),
                _ => PosthogError::Http {
                    status,
                    path: "/batch/".into(),
                    detail: text,
                },
            });
        }
        sent += chunk.len();
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_stable_and_distinct() {
        let a = event_uuid(1, "a.com", "pricing_intent", 10);
        assert_eq!(a, event_uuid(1, "a.com", "pricing_intent", 10));
        assert_ne!(a, event_uuid(1, "a.com", "pricing_intent", 11));
        assert_ne!(a, event_uuid(1, "a.com", "usage_spike", 10));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "8");
    }
}
