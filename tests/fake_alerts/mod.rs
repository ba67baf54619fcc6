//! A fake JSON webhook receiver and a fake Slack incoming webhook on 127.0.0.1.
//!
//! The Slack fake answers like Slack's incoming webhooks do (docs.slack.dev "Sending messages
//! using incoming webhooks", api.slack.com changelog 2016-05-17 "Improving error conditions for
//! Incoming Webhooks", Block Kit reference): `200 ok`; `400 invalid_payload` for a body that is
//! not a JSON object; `400 no_text` for a message with neither `text` nor `blocks`;
//! `400 invalid_blocks` when the blocks break Block Kit's limits (more than 50 blocks, a section
//! text over 3000 characters, a header over 150 or not plain_text, more than 10 section fields
//! or one over 2000, an unknown block type, an empty text); `404 no_service` for an unknown
//! hook path; `429` with `Retry-After` (seconds) when told to; `500 rollup_error` when told to.
//! Beton's own rule, checked as a warning: every message carries a `text` fallback.
//!
//! The webhook fake stores each body, checks the SPEC §9 shape and drops a repeat of an
//! `Idempotency-Key` it has accepted (as receivers that dedupe do).

#![allow(dead_code)]

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

pub const SLACK_PATH: &str = "/services/T0000000/B0000000/XXXXXXXXXXXXXXXXXXXXXXXX";
pub const HOOK_PATH: &str = "/hooks/beton";

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Answer with this status (500 → `rollup_error`, 503 …).
    Status(u16),
    /// 429 with `Retry-After: seconds`.
    RateLimit(u64),
}

#[derive(Debug, Default)]
pub struct World {
    /// Every request as (path, idempotency key, body).
    pub log: Vec<(String, Option<String>, Value)>,
    /// Slack messages accepted (200 ok).
    pub slack: Vec<Value>,
    /// Webhook bodies accepted, once per idempotency key.
    pub webhook: Vec<Value>,
    pub seen_keys: HashSet<String>,
    /// Webhook bodies that repeated an accepted key (dropped).
    pub duplicates: usize,
    /// Slack answers other than 200, as (status, body).
    pub rejected: Vec<(u16, String)>,
    /// Shape problems of the JSON webhook bodies and missing Slack fallbacks.
    pub warnings: Vec<String>,
    /// Faults for the next requests to a path (`slack` or `webhook`).
    pub faults: VecDeque<(String, Fault)>,
}

#[derive(Clone)]
pub struct Fake {
    pub url: String,
    pub world: Arc<Mutex<World>>,
}

impl Fake {
    pub fn start() -> Self {
        let world = Arc::new(Mutex::new(World::default()));
        let (tx, rx) = std::sync::mpsc::channel();
        let state = world.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                tx.send(listener.local_addr().expect("addr"))
                    .expect("send addr");
                let app = axum::Router::new().fallback(handle).with_state(state);
                axum::serve(listener, app).await.expect("serve");
            });
        });
        let addr = rx.recv().expect("fake alerts did not start");
        Self {
            url: format!("http://{addr}"),
            world,
        }
    }

    pub fn slack_url(&self) -> String {
        format!("{}{SLACK_PATH}", self.url)
    }

    pub fn webhook_url(&self) -> String {
        format!("{}{HOOK_PATH}", self.url)
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self.world.lock().expect("world"))
    }

    pub fn fail_next(&self, target: &str, fault: Fault) {
        self.with(|w| w.faults.push_back((target.into(), fault)));
    }

    /// Keys of the webhook bodies accepted, in order.
    pub fn webhook_keys(&self) -> Vec<String> {
        self.with(|w| {
            w.webhook
                .iter()
                .filter_map(|b| b["key"].as_str().map(str::to_string))
                .collect()
        })
    }
}

fn answer(status: u16, body: &str) -> Response {
    (
        StatusCode::from_u16(status).expect("status"),
        body.to_string(),
    )
        .into_response()
}

async fn handle(
    State(world): State<Arc<Mutex<World>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut w = world.lock().expect("world");
    let path = uri.path().to_string();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    w.log.push((
        path.clone(),
        key.clone(),
        parsed.clone().unwrap_or(Value::Null),
    ));
    let target = match path.as_str() {
        SLACK_PATH => "slack",
        HOOK_PATH => "webhook",
        p if p.starts_with("/services/") => return answer(404, "no_service"),
        _ => return answer(404, "not found"),
    };
    if let Some(i) = w.faults.iter().position(|(t, _)| t == target) {
        let (_, fault) = w.faults.remove(i).expect("fault");
        return match fault {
            Fault::Status(s) => {
                let text = if target == "slack" && s == 500 {
                    "rollup_error"
                } else {
                    "unavailable"
                };
                w.rejected.push((s, text.into()));
                answer(s, text)
            }
            Fault::RateLimit(secs) => {
                w.rejected.push((429, "rate_limited".into()));
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", secs.to_string())],
                    "rate_limited",
                )
                    .into_response()
            }
        };
    }
    let Some(v) = parsed.filter(Value::is_object) else {
        w.rejected.push((400, "invalid_payload".into()));
        return answer(400, "invalid_payload");
    };
    if target == "slack" {
        let text = v.get("text").and_then(Value::as_str).unwrap_or("");
        let blocks = v.get("blocks");
        if text.is_empty() && blocks.is_none() {
            w.rejected.push((400, "no_text".into()));
            return answer(400, "no_text");
        }
        if let Some(b) = blocks
            && let Err(why) = check_blocks(b)
        {
            w.rejected.push((400, format!("invalid_blocks: {why}")));
            return answer(400, "invalid_blocks");
        }
        if text.trim().is_empty() {
            w.warnings
                .push("slack message without a text fallback".into());
        }
        w.slack.push(v);
        return answer(200, "ok");
    }
    let problems = check_webhook(&v);
    w.warnings.extend(problems);
    match key {
        Some(k) if w.seen_keys.contains(&k) => {
            w.duplicates += 1;
        }
        Some(k) => {
            w.seen_keys.insert(k);
            w.webhook.push(v);
        }
        None => {
            w.warnings
                .push("webhook request without Idempotency-Key".into());
            w.webhook.push(v);
        }
    }
    answer(200, "")
}

fn plain_len(v: &Value) -> usize {
    v.as_str().map(|s| s.chars().count()).unwrap_or(0)
}

/// Block Kit's documented limits for the block types Beton uses.
pub fn check_blocks(blocks: &Value) -> Result<(), String> {
    let list = blocks.as_array().ok_or("blocks is not an array")?;
    if list.len() > 50 {
        return Err(format!("{} blocks (at most 50)", list.len()));
    }
    for (i, b) in list.iter().enumerate() {
        let kind = b["type"].as_str().unwrap_or("");
        let text_ok = |t: &Value, max: usize| -> Result<(), String> {
            let ty = t["type"].as_str().unwrap_or("");
            if ty != "mrkdwn" && ty != "plain_text" {
                return Err(format!("block {i}: text type {ty:?}"));
            }
            let n = plain_len(&t["text"]);
            if n == 0 || n > max {
                return Err(format!("block {i}: text of {n} characters (1..={max})"));
            }
            Ok(())
        };
        match kind {
            "header" => {
                if b["text"]["type"] != "plain_text" {
                    return Err(format!("block {i}: header text must be plain_text"));
                }
                text_ok(&b["text"], 150)?;
            }
            "section" => {
                if b.get("text").is_none() && b.get("fields").is_none() {
                    return Err(format!("block {i}: section without text or fields"));
                }
                if let Some(t) = b.get("text") {
                    text_ok(t, 3000)?;
                }
                if let Some(f) = b.get("fields") {
                    let f = f.as_array().ok_or("fields is not an array")?;
                    if f.is_empty() || f.len() > 10 {
                        return Err(format!("block {i}: {} fields (1..=10)", f.len()));
                    }
                    for x in f {
                        text_ok(x, 2000)?;
                    }
                }
            }
            "context" => {
                let e = b["elements"].as_array().ok_or("context without elements")?;
                if e.is_empty() || e.len() > 10 {
                    return Err(format!("block {i}: {} context elements (1..=10)", e.len()));
                }
                for x in e {
                    text_ok(x, 3000)?;
                }
            }
            "divider" => {}
            other => return Err(format!("block {i}: unknown type {other:?}")),
        }
    }
    Ok(())
}

/// The SPEC §9 body of the JSON webhook.
pub fn check_webhook(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let need = |out: &mut Vec<String>, k: &str| {
        if v.get(k).is_none() {
            out.push(format!("webhook body without `{k}`"));
        }
    };
    for k in ["kind", "key", "as_of"] {
        need(&mut out, k);
    }
    match v["kind"].as_str() {
        Some("alert") => {
            for k in [
                "account", "score", "tier", "owner", "signals", "evidence", "links",
            ] {
                need(&mut out, k);
            }
        }
        Some("digest") => {
            for k in ["date", "hot", "warm", "top", "rolled_in"] {
                need(&mut out, k);
            }
        }
        other => out.push(format!("webhook body of kind {other:?}")),
    }
    out
}
