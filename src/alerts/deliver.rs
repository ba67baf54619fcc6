//! Sending the alert rows of the outbox: each row is marked `sent` (committed) before its request
//! goes out and `done` when the receiver answers 2xx. A 5xx, a timeout or a 429 is tried again
//! within the run (honouring `Retry-After` up to `alerts.max_wait_seconds`), then left open for
//! the next run. A row found `sent` by a later run (the process died before the answer was
//! recorded) is sent again with the same key: the JSON webhook carries it in `Idempotency-Key` so
//! the receiver drops the copy; Slack keeps no such record (docs/ALERTS.md).

use std::time::Duration;

use serde::Serialize;

use super::Secret;
use crate::config::AlertSettings;
use crate::error::Result;
use crate::store::{OutboxEntry, Store};
use crate::time::{SECOND, now};

/// The test hook that stops a delivery right after the request was answered, before it is
/// marked done, as a kill at the worst moment would. Its value is the kind (`alert`, `digest`).
pub const CRASH_HOOK: &str = "BETON_TEST_CRASH_AFTER_SEND";

/// Why one request did not deliver.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Worth trying again: a 5xx, no answer, or a 429; `wait` is the receiver's Retry-After.
    Again { message: String, wait: Option<i64> },
    /// The receiver refused the body or the address (4xx other than 429).
    Refused(String),
}

impl Failure {
    fn message(&self) -> &str {
        match self {
            Failure::Again { message, .. } | Failure::Refused(message) => message,
        }
    }
}

/// A client for one run's deliveries.
pub struct Sender {
    http: reqwest::blocking::Client,
    settings: AlertSettings,
    /// Pause before the first retry of a 5xx (doubled each time).
    backoff: Duration,
}

impl Sender {
    pub fn new(settings: &AlertSettings) -> Result<Self> {
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(u64::from(settings.timeout_seconds)))
            .timeout(Duration::from_secs(u64::from(settings.timeout_seconds)))
            .user_agent(concat!("beton/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| crate::Error::Usage(format!("alerts: {}", e.without_url())))?;
        Ok(Self {
            http,
            settings: settings.clone(),
            backoff: Duration::from_secs_f64(settings.retry_pause_seconds),
        })
    }

    /// One POST of `body` to `url`; `channel` names it in messages (the address never appears).
    fn post_once(&self, url: &Secret, channel: &str, key: &str, body: &str) -> Result<(), Failure> {
        let resp = self
            .http
            .post(url.expose())
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(body.to_string())
            .send()
            .map_err(|e| Failure::Again {
                message: format!("{channel}: no answer ({})", e.without_url()),
                wait: None,
            })?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after_micros);
        let text: String = resp
            .text()
            .unwrap_or_default()
            .trim()
            .chars()
            .take(200)
            .collect();
        match status {
            200..=299 => Ok(()),
            429 => Err(Failure::Again {
                message: format!("{channel}: rate limited (429 {text})"),
                wait: retry_after.or(Some(SECOND)),
            }),
            500..=599 | 408 => Err(Failure::Again {
                message: format!("{channel}: {status} {text}"),
                wait: None,
            }),
            _ => Err(Failure::Refused(format!(
                "{channel} refused the message: {status} {text}{}",
                hint(status, &text)
            ))),
        }
    }

    /// Posts with the run's retries: 5xx and no answer after a growing pause, 429 after its
    /// Retry-After when that is within `max_wait_seconds`.
    pub fn post(&self, url: &Secret, channel: &str, key: &str, body: &str) -> Result<(), Failure> {
        let mut pause = self.backoff;
        let mut attempt = 1;
        loop {
            match self.post_once(url, channel, key, body) {
                Ok(()) => return Ok(()),
                Err(Failure::Again { message, wait }) if attempt < self.settings.tries => {
                    let sleep = match wait {
                        Some(w) if w > i64::from(self.settings.max_wait_seconds) * SECOND => {
                            return Err(Failure::Again { message, wait });
                        }
                        Some(w) => Duration::from_micros(w.max(0) as u64),
                        None => {
                            let p = pause;
                            pause *= 2;
                            p
                        }
                    };
                    tracing::info!("alerts: {message}; trying again in {sleep:?}");
                    std::thread::sleep(sleep);
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// What Slack's documented error strings mean for the person reading the report.
fn hint(status: u16, text: &str) -> &'static str {
    match (status, text) {
        (_, "invalid_blocks" | "invalid_blocks_format") => {
            " (a bug in Beton's message: please report it)"
        }
        (_, "no_text") => " (the message had no text)",
        (404, _) | (_, "no_service" | "channel_not_found") => {
            " (the webhook address is wrong or was removed: create a new one in Slack)"
        }
        (410, _) | (_, "channel_is_archived") => {
            " (the channel is archived: point the webhook at another)"
        }
        (403, _) => " (the workspace does not allow this webhook to post here)",
        _ => "",
    }
}

/// `Retry-After` as seconds or an HTTP date, in microseconds from now.
pub fn retry_after_micros(v: &str) -> Option<i64> {
    if let Ok(s) = v.trim().parse::<i64>() {
        return Some(s.max(0) * SECOND);
    }
    let when = httpdate::parse_http_date(v.trim()).ok()?;
    let ahead = when
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    Some(ahead.as_micros() as i64 + SECOND - 1)
}

/// One delivery as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivered {
    pub channel: String,
    pub key: String,
    pub kind: String,
    pub account: Option<String>,
    /// Seconds from the newest event that made the alert fire to its delivery.
    pub event_to_alert_seconds: Option<f64>,
    /// True when a row left `sent` by an interrupted run was sent again.
    pub resent: bool,
}

/// What one pass over the open rows did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeliveryReport {
    pub delivered: Vec<Delivered>,
    /// (channel, key, why) of every row left open.
    pub failed: Vec<(String, String, String)>,
}

/// Sends every open alert and digest row (oldest first). A channel that keeps failing or asks to
/// wait longer than the run waits is not tried again in this run; its rows stay open.
pub fn deliver_open(
    store: &Store,
    sender: &Sender,
    dest: &super::Destinations,
    crash_after: Option<&str>,
) -> Result<DeliveryReport> {
    let mut report = DeliveryReport::default();
    let mut down: std::collections::HashMap<String, String> = Default::default();
    for row in store.alerts_open()? {
        let t = now();
        let fail = |report: &mut DeliveryReport, why: String| {
            report
                .failed
                .push((row.channel.clone(), row.key.clone(), why));
        };
        if let Some(why) = down.get(&row.channel) {
            fail(&mut report, format!("not tried: {why}"));
            continue;
        }
        let Some(url) = dest.get(&row.channel) else {
            fail(
                &mut report,
                format!("no {} address is configured any more", row.channel),
            );
            continue;
        };
        if let Some(nb) = row.not_before.filter(|nb| *nb > t) {
            let why = format!(
                "{} asked to wait until {}",
                row.channel,
                crate::time::fmt_ts(nb)
            );
            down.insert(row.channel.clone(), why.clone());
            fail(&mut report, why);
            continue;
        }
        let resent = row.state == "sent";
        // A first alert for a brand-new deal was planned before the Attio step created it: the
        // link is added before the first send (a resend keeps the body it was sent with).
        let body = match (resent, row.kind.as_str(), &row.account) {
            (false, "alert", Some(account)) => {
                let url = match store.account_id(account)? {
                    Some(id) => store.attio_deal_link(id)?.and_then(|(_, url)| url),
                    None => None,
                };
                match url.and_then(|u| super::render::with_attio_link(&row.channel, &row.body, &u))
                {
                    Some(b) => {
                        store.outbox_set_body(row.id, &b)?;
                        b
                    }
                    None => row.body.clone(),
                }
            }
            _ => row.body.clone(),
        };
        store.outbox_sent(row.id, t)?;
        let result = sender.post(url, &row.channel, &row.key, &body);
        if crash_after == Some(row.kind.as_str()) {
            return Err(crate::Error::Usage(format!(
                "stopped after sending {} {} (test hook)",
                row.channel, row.key
            )));
        }
        match result {
            Ok(()) => {
                let done = now();
                store.alert_done(row.id, done, "ok")?;
                report.delivered.push(delivered(&row, done, resent));
            }
            Err(f) => {
                let not_before = match &f {
                    Failure::Again { wait: Some(w), .. } => Some(now() + w),
                    _ => None,
                };
                store.alert_retry(row.id, f.message(), not_before)?;
                if matches!(f, Failure::Again { .. }) {
                    down.insert(row.channel.clone(), f.message().to_string());
                }
                fail(&mut report, f.message().to_string());
            }
        }
    }
    Ok(report)
}

fn delivered(row: &OutboxEntry, done: i64, resent: bool) -> Delivered {
    Delivered {
        channel: row.channel.clone(),
        key: row.key.clone(),
        kind: row.kind.clone(),
        account: row.account.clone(),
        event_to_alert_seconds: row
            .newest_event
            .map(|e| ((done - e) as f64 / SECOND as f64 * 10.0).round() / 10.0),
        resent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(retry_after_micros("3"), Some(3 * SECOND));
        let later = std::time::SystemTime::now() + Duration::from_secs(5);
        let v = retry_after_micros(&httpdate::fmt_http_date(later)).unwrap();
        assert!((4 * SECOND..=6 * SECOND).contains(&v), "{v}");
        assert_eq!(retry_after_micros("soon"), None);
    }
}
