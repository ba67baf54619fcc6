//! Sending the outbox: each step is marked `sent` (committed) before its request goes out and
//! `done` once Attio confirms it, together with what it changes locally. A step found `sent` on a
//! later run is replayed: asserts (companies, deals, list entries) are idempotent by nature; notes
//! and tasks are first looked for by the marker they carry, and sent only if Attio has none.

use serde_json::Value;

use super::client::{ApiError, Client, Method};
use crate::store::{Completion, OutboxStep, StepState, Store};

/// Stands in a step's body for the deal's record id, filled in when the step is sent.
pub const DEAL_ID: &str = "@beton-deal-record-id@";

/// Why a step did not complete.
#[derive(Debug)]
pub enum StepError {
    /// Attio rejected it (the message names what); the step is marked failed.
    Rejected(String),
    /// Attio could not be reached or kept failing; the step stays open for the next run.
    Unavailable(String),
    /// The key was refused: nothing else will work either.
    Auth(String),
    /// It needs the account's deal, which does not exist yet.
    Blocked(String),
    /// The local store failed.
    Store(crate::Error),
    /// The test hook stopped the run right after sending, before marking done.
    Crashed(String),
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepError::Rejected(m)
            | StepError::Unavailable(m)
            | StepError::Auth(m)
            | StepError::Blocked(m) => f.write_str(m),
            StepError::Store(e) => write!(f, "{e}"),
            StepError::Crashed(m) => write!(f, "stopped after sending {m} (test hook)"),
        }
    }
}

impl From<crate::Error> for StepError {
    fn from(e: crate::Error) -> Self {
        StepError::Store(e)
    }
}

/// What was confirmed: the step's kind and the Attio id it made or matched.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub kind: String,
    pub id: String,
    /// True when a replay found that Attio already had it.
    pub found: bool,
}

/// Sends one step (see the module doc). `crash_after` names a kind after whose send the run
/// stops as if killed. `leftover`: the step was planned by an earlier sync.
pub fn send_step(
    store: &Store,
    client: &Client,
    step: &OutboxStep,
    crash_after: Option<&str>,
    now: i64,
    leftover: bool,
) -> Result<Sent, StepError> {
    let mut text = step.body.clone();
    let mut deal = None;
    if text.contains(DEAL_ID) {
        let Some((rid, _)) = store.attio_deal(step.account_id)? else {
            return Err(StepError::Blocked(format!(
                "{} waits for the deal, which is not in Attio yet",
                step.kind
            )));
        };
        text = text.replace(DEAL_ID, &rid);
        deal = Some(rid);
    }
    let mut body: Value = serde_json::from_str(&text).map_err(|e| {
        StepError::Store(crate::Error::Attio(format!(
            "outbox step {}: bad body: {e}",
            step.key
        )))
    })?;
    // A note or task on a deal that is not Beton's (SPEC §8) names its record itself.
    if deal.is_none() {
        deal = body
            .pointer("/data/parent_record_id")
            .or_else(|| body.pointer("/data/linked_records/0/target_record_id"))
            .and_then(Value::as_str)
            .filter(|_| matches!(step.kind.as_str(), "note" | "task"))
            .map(str::to_string);
    }
    // A deal created by the first send may have been renamed, reassigned or moved on by a rep
    // since: the replay sends only what Beton owns.
    if step.kind == "deal"
        && step.state == StepState::Sent
        && body.pointer("/data/values/stage").is_some()
        && let Some((slug, key)) = match_key(&step.path, &body)
        && super::sync::find_deal(client, &slug, &key)
            .map_err(api_error)?
            .is_some()
        && let Some(values) = body
            .pointer_mut("/data/values")
            .and_then(Value::as_object_mut)
    {
        for k in super::sync::CREATE_ONLY {
            values.remove(k);
        }
    }
    // A leftover note or task is looked for even when it is pending: the commit that marked it
    // sent may have been lost (a power loss after the send), and Attio would keep a second copy.
    let maybe_sent = step.state == StepState::Sent
        || (leftover && matches!(step.kind.as_str(), "note" | "task"));
    if maybe_sent
        && let Some(rid) = &deal
        && let Some(id) =
            find_by_marker(client, &step.kind, rid, &step.marker).map_err(api_error)?
    {
        store.outbox_done(step, &id, Completion::Other, now)?;
        return Ok(Sent {
            kind: step.kind.clone(),
            id,
            found: true,
        });
    }
    let method = Method::parse(&step.method).ok_or_else(|| {
        StepError::Store(crate::Error::Attio(format!(
            "outbox step {}: bad method",
            step.key
        )))
    })?;
    store.outbox_sent(step.id, now)?;
    let answer = match step.kind.as_str() {
        "note" | "task" => send_checked(client, method, step, &body, deal.as_deref()),
        _ => client.send(method, &step.path, &[], Some(&body)),
    };
    if crash_after == Some(step.kind.as_str()) {
        return Err(StepError::Crashed(step.kind.clone()));
    }
    let answer = match answer {
        Ok(a) => a,
        Err(ApiError::Rejected {
            status,
            code,
            message,
        }) => {
            // A required attribute is named by id: say which one, from the attribute list.
            let required = (step.kind == "deal" && code == "missing_value")
                .then(|| super::setup::deal_attributes(client).ok())
                .flatten()
                .and_then(|attrs| super::setup::attribute_named(&attrs, &message))
                .map(|a| {
                    format!(
                        "the deal attribute {a} is required in Attio and Beton sent no value for it                          (make it optional or give it a default in Attio; `beton attio setup` checks this): "
                    )
                })
                .unwrap_or_default();
            let why = format!(
                "Attio rejected the {}: {required}{}{message} ({status} {code})",
                step.kind,
                blame(&body, &message)
            );
            store.outbox_failed(step.id, &why)?;
            // A company merged or deleted in Attio: resolve it again on the next sync.
            if let Some(company) = body
                .pointer("/data/values/associated_company/0/target_record_id")
                .and_then(Value::as_str)
                && message.contains(company)
            {
                store.forget_attio_company(step.account_id)?;
            }
            return Err(StepError::Rejected(why));
        }
        Err(e) => return Err(api_error(e)),
    };
    let data = answer.get("data").unwrap_or(&Value::Null);
    let field = match step.kind.as_str() {
        "note" => "note_id",
        "task" => "task_id",
        "list" => "entry_id",
        _ => "record_id",
    };
    let id = data
        .get("id")
        .and_then(|i| i.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let digest = super::sync::digest_of(&body);
    let domain = body
        .pointer("/data/values/domains/0")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let what = match step.kind.as_str() {
        "company" => Completion::Company { domain: &domain },
        "deal" => Completion::Deal {
            digest: &digest,
            web_url: shown_url(data.get("web_url").and_then(Value::as_str)),
        },
        _ => Completion::Other,
    };
    if id.is_empty() && matches!(what, Completion::Company { .. } | Completion::Deal { .. }) {
        return Err(StepError::Unavailable(format!(
            "Attio's answer to the {} has no record id",
            step.kind
        )));
    }
    store.outbox_done(step, &id, what, now)?;
    Ok(Sent {
        kind: step.kind.clone(),
        id,
        found: false,
    })
}

/// A record's `web_url` as Beton keeps it to show in the terminal: a plain https address (no
/// spaces or control characters that could move the cursor), or nothing.
fn shown_url(url: Option<&str>) -> Option<&str> {
    url.filter(|u| u.starts_with("https://") && u.chars().all(|c| c.is_ascii_graphic()))
}

/// Sends a note or task, which Attio would duplicate if sent twice: after a timeout or 5xx (the
/// request may have been applied, its answer lost) it looks for the step's marker before it
/// tries again.
fn send_checked(
    client: &Client,
    method: Method,
    step: &OutboxStep,
    body: &Value,
    deal: Option<&str>,
) -> Result<Value, ApiError> {
    let mut attempt = 1;
    loop {
        match client.send_tries(method, &step.path, &[], Some(body), 1) {
            Err(ApiError::Unavailable(m)) if attempt < client.tries() => {
                tracing::info!("attio: {m}; checking whether the {} arrived", step.kind);
                client.pause(attempt);
                attempt += 1;
                if let Some(rid) = deal
                    && let Some(id) = find_by_marker(client, &step.kind, rid, &step.marker)?
                {
                    let field = if step.kind == "note" {
                        "note_id"
                    } else {
                        "task_id"
                    };
                    return Ok(serde_json::json!({"data": {"id": {field: id}}}));
                }
            }
            Err(ApiError::Unavailable(m)) => {
                return Err(ApiError::Unavailable(format!(
                    "{m} (gave up after {attempt} tries)"
                )));
            }
            other => return other,
        }
    }
}

/// The matching attribute of an assert path and the value the body gives it.
fn match_key(path: &str, body: &Value) -> Option<(String, String)> {
    let slug = path
        .split_once("matching_attribute=")?
        .1
        .split('&')
        .next()?
        .to_string();
    let key = body
        .pointer(&format!("/data/values/{slug}/0"))?
        .as_str()?
        .to_string();
    Some((slug, key))
}

fn api_error(e: ApiError) -> StepError {
    match e {
        ApiError::Auth { .. } => StepError::Auth(e.to_string()),
        ApiError::Rejected { .. } => StepError::Rejected(e.to_string()),
        ApiError::Unavailable(_) => StepError::Unavailable(e.to_string()),
    }
}

/// The note or task on a deal that carries `marker`, if Attio has one (pages of 50).
pub fn find_by_marker(
    client: &Client,
    kind: &str,
    deal: &str,
    marker: &str,
) -> Result<Option<String>, ApiError> {
    let (path, parent, id_field) = match kind {
        "note" => (
            "/v2/notes",
            [("parent_object", "deals"), ("parent_record_id", deal)],
            "note_id",
        ),
        "task" => (
            "/v2/tasks",
            [("linked_object", "deals"), ("linked_record_id", deal)],
            "task_id",
        ),
        _ => return Ok(None),
    };
    let limit = 50;
    let mut offset = 0;
    loop {
        let mut q: Vec<(&str, String)> = parent.iter().map(|(k, v)| (*k, v.to_string())).collect();
        q.push(("limit", limit.to_string()));
        q.push(("offset", offset.to_string()));
        let page = client.get(path, &q)?;
        let items = page
            .get("data")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for item in &items {
            let text = ["content_plaintext", "content_markdown"]
                .iter()
                .filter_map(|k| item.get(*k).and_then(Value::as_str))
                .any(|c| c.contains(marker));
            if text {
                let id = item
                    .get("id")
                    .and_then(|i| i.get(id_field))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                return Ok(Some(id.to_string()));
            }
        }
        if items.len() < limit {
            return Ok(None);
        }
        offset += limit;
    }
}

/// Which attribute or value of `body` Attio's message is about, as `slug = value: `; empty when
/// the message names none.
pub fn blame(body: &Value, message: &str) -> String {
    let Some(values) = body.pointer("/data/values").and_then(Value::as_object) else {
        return String::new();
    };
    let lower = message.to_lowercase();
    for (slug, v) in values {
        let items = v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]);
        for item in items {
            if let Some(s) = item
                .as_str()
                .filter(|s| !s.is_empty() && message.contains(*s))
            {
                return format!("{slug} = {s:?}: ");
            }
            // A reference or actor: named by one of its fields (a record or member id).
            let named = item.as_object().is_some_and(|o| {
                o.values()
                    .filter_map(Value::as_str)
                    .any(|s| s.len() > 8 && message.contains(s))
            });
            if named {
                return format!("{slug} = {item}: ");
            }
        }
        if lower.contains(&format!("\"{slug}\""))
            || lower.contains(&format!("`{slug}`"))
            || lower.contains(&format!("'{slug}'"))
        {
            return format!("{slug} = {}: ", v);
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blame_names_the_rejected_value_or_attribute() {
        let body =
            serde_json::json!({"data": {"values": {"stage": ["Qualified"], "pql_score": [87]}}});
        assert_eq!(
            blame(&body, "Cannot find Status with title \"Qualified\"."),
            "stage = \"Qualified\": "
        );
        assert_eq!(
            blame(&body, "Attribute with slug \"pql_score\" not found"),
            "pql_score = [87]: "
        );
        assert_eq!(blame(&body, "Something else"), "");
        let body = serde_json::json!({"data": {"values": {"associated_company": [
            {"target_object": "companies", "target_record_id": "bf071e1f-6035"}]}}});
        assert!(
            blame(&body, "Referenced record \"bf071e1f-6035\" not found.")
                .starts_with("associated_company = {")
        );
    }

    #[test]
    fn only_plain_https_addresses_are_kept() {
        let ok = "https://app.attio.com/acme/deals/record/0f2b";
        assert_eq!(shown_url(Some(ok)), Some(ok));
        for bad in [
            "http://app.attio.com/x",
            "https://app.attio.com/x\u{1b}[2J",
            "https://app.attio.com/a b",
            "javascript:alert(1)",
        ] {
            assert_eq!(shown_url(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(shown_url(None), None);
    }
}
