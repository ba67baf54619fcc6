//! What Beton writes: the deal body it owns, the note a rep reads, the task, and their markers.

use super::*;

/// Deal attributes Beton sends only when it creates the deal: after that they are the rep's
/// (a rename, a reassignment, a stage move or a new value is never reverted).
pub const CREATE_ONLY: [&str; 6] = [
    "name",
    "owner",
    "stage",
    "value",
    "associated_company",
    "lead_source",
];

/// A short stable hex digest of what Beton owns in a deal body (serde_json maps are sorted, so
/// it is canonical): the attributes sent on create only are not part of "what changed".
pub fn digest_of(v: &Value) -> String {
    let mut values = v
        .pointer("/data/values")
        .cloned()
        .unwrap_or_else(|| v.clone());
    if let Some(m) = values.as_object_mut() {
        for k in CREATE_ONLY {
            m.remove(k);
        }
    }
    hex(&Sha256::digest(values.to_string().as_bytes()))[..16].to_string()
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn marker(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))[..12].to_string()
}

/// The hash that stands for a user id in notes: salted per workspace, so it cannot be looked up.
pub fn user_hash(salt: &str, user: &str) -> String {
    hex(&Sha256::digest(format!("{salt}\u{0}{user}").as_bytes()))[..10].to_string()
}

pub(super) fn salt(store: &Store) -> Result<String> {
    if let Some(s) = store.meta("attio_user_salt")? {
        return Ok(s);
    }
    let seed = format!(
        "{:?}{}{:?}",
        std::time::SystemTime::now(),
        std::process::id(),
        std::thread::current().id()
    );
    let s = hex(&Sha256::digest(seed.as_bytes()));
    store.set_meta("attio_user_salt", &s)?;
    Ok(s)
}

/// The next weekday after the day of `t`, at 09:00 UTC.
pub fn next_business_day(t: i64) -> chrono::DateTime<Utc> {
    let day = Utc
        .timestamp_micros(t)
        .single()
        .unwrap_or_else(Utc::now)
        .date_naive();
    let mut d = day + ChronoDuration::days(1);
    while matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
        d += ChronoDuration::days(1);
    }
    d.and_hms_opt(9, 0, 0)
        .map(|x| x.and_utc())
        .unwrap_or_else(Utc::now)
}

/// A pending outbox step of the account, its marker derived from its key.
pub(super) fn outbox_step(
    c: &AttioCandidate,
    kind: &str,
    key: String,
    method: &str,
    path: &str,
    body: &Value,
) -> OutboxStep {
    OutboxStep {
        id: 0,
        marker: marker(&key),
        key,
        account_id: c.account_id,
        kind: kind.into(),
        method: method.into(),
        path: path.into(),
        body: body.to_string(),
        state: StepState::Pending,
        attempts: 0,
    }
}

/// A follow-up task on the deal `record` (or the placeholder for the account's deal), due the
/// next business day, with the step's marker at the end of its content (at most 2000 chars).
pub(super) fn task_body(
    ctx: &Ctx<'_>,
    key: &str,
    content: &str,
    record: &str,
    assignee: Option<&str>,
) -> Value {
    let tail = format!(" [Beton ref {}]", marker(key));
    let content = content
        .chars()
        .take(2000 - tail.chars().count())
        .collect::<String>()
        + &tail;
    let due = next_business_day(ctx.now)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let assignees: Vec<Value> = assignee
        .iter()
        .map(|id| json!({"referenced_actor_type": "workspace-member", "referenced_actor_id": id}))
        .collect();
    json!({"data": {"content": content, "format": "plaintext", "deadline_at": due, "is_completed": false,
                    "linked_records": [{"target_object": "deals", "target_record_id": record}],
                    "assignees": assignees}})
}

/// The workspace member who owns the deal in Attio now, if a member does.
pub fn deal_owner(
    client: &Client,
    record_id: &str,
) -> std::result::Result<Option<String>, ApiError> {
    let v = client.get(&format!("/v2/objects/deals/records/{record_id}"), &[])?;
    Ok(v.pointer("/data/values/owner")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter().find(|o| {
                o.get("active_until").is_none_or(Value::is_null)
                    && o.get("referenced_actor_type").and_then(Value::as_str)
                        == Some("workspace-member")
            })
        })
        .and_then(|o| o.get("referenced_actor_id"))
        .and_then(Value::as_str)
        .map(str::to_string))
}

/// The deal whose unique attribute holds this account key, if Attio has one.
pub fn find_deal(
    client: &Client,
    slug: &str,
    key: &str,
) -> std::result::Result<Option<String>, ApiError> {
    let body = json!({"filter": {slug: {"$eq": key}}, "limit": 1, "offset": 0});
    let v = client.send(
        Method::Post,
        "/v2/objects/deals/records/query",
        &[],
        Some(&body),
    )?;
    Ok(v.get("data")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(record_id)
        .map(str::to_string))
}

/// The handoff note (markdown). End users appear as salted hashes unless `include_people`.
/// `mark_new` lists the types to mark "(new)"; `None` marks none (a first handoff).
pub(super) fn note_content(
    ctx: &Ctx<'_>,
    c: &AttioCandidate,
    props: &Map<String, Value>,
    intro: &str,
    mark_new: Option<&[&str]>,
    company: &str,
    marker: &str,
) -> Result<String> {
    // Names, evidence and properties come from the product's events (anyone with the public
    // project key can choose them): escaped, so they show as written and add no links.
    use crate::safe::markdown as md_text;
    let company = md_text(company);
    let mut md = format!("## PQL: {company}, score {} ({})\n\n", c.score, c.tier);
    md.push_str(intro);
    md.push_str("\n\n### Why now\n");
    for sig in &c.signals {
        let new = if mark_new.is_some_and(|n| n.contains(&sig.signal.as_str())) {
            " (new)"
        } else {
            ""
        };
        md.push_str(&format!(
            "- **{}** (+{}){new}: {}\n",
            sig.signal,
            sig.base,
            md_text(&sig.evidence)
        ));
    }
    if let Some(line) = crate::signals::diff::why_now_in_run(ctx.store, ctx.run_id, c.account_id)? {
        md.push_str(&format!("- Since the previous run: {line}\n"));
    }
    let to_day = day_of(ctx.as_of);
    let users = ctx
        .store
        .account_user_activity(c.account_id, to_day - 30, to_day)?;
    let features = ctx
        .store
        .account_feature_days(c.account_id, to_day - 30, to_day)?;
    md.push_str("\n### Usage, last 30 days\n");
    md.push_str(&format!("- Active users: {}\n", users.len()));
    if !users.is_empty() {
        let top: Vec<String> = users
            .iter()
            .take(3)
            .map(|(u, n)| {
                let who = if ctx.s.include_people {
                    md_text(u).into_owned()
                } else {
                    format!("user {}", user_hash(&ctx.salt, u))
                };
                format!("{who} ({n} events)")
            })
            .collect();
        md.push_str(&format!("- Most active: {}\n", top.join(", ")));
    }
    if !features.is_empty() {
        let top: Vec<String> = features
            .iter()
            .take(5)
            .map(|(f, n)| format!("{} ({n} days)", md_text(f)))
            .collect();
        md.push_str(&format!("- Top features: {}\n", top.join(", ")));
    }
    let prop = |k: &str| {
        props
            .get(k)
            .filter(|v| !v.is_null())
            .map(|v| v.as_str().map_or(v.to_string(), str::to_string))
    };
    if let Some(plan) = prop("plan") {
        md.push_str(&format!("- Plan: {}\n", md_text(&plan)));
    }
    for (k, label) in [
        ("trial_started_at", "Trial started"),
        ("trial_ends_at", "Trial ends"),
    ] {
        if let Some(t) = prop(k).and_then(|v| crate::time::parse_ts(&v)) {
            let days = (t - ctx.as_of) as f64 / DAY as f64;
            let when = if days >= 0.0 {
                format!("in {days:.0} days")
            } else {
                format!("{:.0} days ago", -days)
            };
            md.push_str(&format!("- {label}: {} ({when})\n", fmt_date(t)));
        }
    }
    let names: Vec<&str> = c.signals.iter().map(|x| x.signal.as_str()).collect();
    md.push_str(&format!(
        "\n### Recommended next step\n{}\n",
        next_step(&names)
    ));
    md.push_str(&format!(
        "\n_Beton ref {marker} · run {} · as of {}_\n",
        ctx.run_id,
        crate::time::fmt_ts(ctx.as_of)
    ));
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_business_day_skips_weekends() {
        let fri = crate::time::parse_ts("2026-11-20T15:00:00Z").unwrap();
        assert_eq!(
            next_business_day(fri).to_rfc3339(),
            "2026-11-23T09:00:00+00:00"
        );
        let tue = crate::time::parse_ts("2026-11-24T23:59:00Z").unwrap();
        assert_eq!(
            next_business_day(tue).to_rfc3339(),
            "2026-11-25T09:00:00+00:00"
        );
    }

    #[test]
    fn digest_ignores_what_is_sent_on_create_only() {
        let a = json!({"data": {"values": {"pql_score": [80], "stage": ["Lead"], "name": ["PQL – Acme"],
                                           "owner": [{"referenced_actor_id": "m1"}], "value": [10]}}});
        let b = json!({"data": {"values": {"pql_score": [80]}}});
        let c = json!({"data": {"values": {"pql_score": [81]}}});
        assert_eq!(digest_of(&a), digest_of(&b));
        assert_ne!(digest_of(&b), digest_of(&c));
    }

    #[test]
    fn next_step_follows_the_strongest_intent() {
        assert!(next_step(&["pricing_intent", "billing_intent"]).contains("checkout"));
        assert!(next_step(&["usage_spike"]).contains("spiking"));
    }
}
