//! The accounts of a daily run, planned into the outbox together with their emission.

use super::*;

/// A routed account in pipeline (SPEC §8): no PQL deal. When the open deal's Attio record is
/// known, the handoff note goes onto it the first time and whenever new signal types were
/// emitted, and a follow-up task for its owner when new types were emitted; nothing else is
/// changed on a deal that is not Beton's. Without a known record nothing is written.
pub(super) fn sync_in_pipeline(
    ctx: &Ctx<'_>,
    c: &AttioCandidate,
    p: &OpenDeal,
    report: &mut SyncReport,
) -> Result<AccountSync> {
    let (store, client, s) = (ctx.store, ctx.client, ctx.s);
    let Some(rid) = &p.record_id else {
        return done(
            c,
            Outcome::InPipeline,
            format!(
                "{}: open deal {} has no known Attio record, so nothing is written (`beton sync attio --pull` \
                 brings Attio's deals in with their records)",
                p.label(),
                p.deal_id
            ),
        );
    };
    // A parent's owner and ARR are its own (SPEC §14: the biggest workspace's owner, the sum).
    let props = crate::signals::parents::account_props(
        store,
        ctx.book.family(),
        c.account_id,
        &c.account,
        ctx.as_of,
    )?;
    let company = props
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(&c.account);
    // Shown with its control characters escaped in the note title and the task (plain text).
    let company = crate::safe::line(company).into_owned();
    let new_types = new_types(ctx, c)?;
    let first = !store.outbox_attached(c.account_id, rid)?;
    let mut steps = Vec::new();
    let step = |kind: &str, key: String, path: &str, body: Value| {
        outbox_step(c, kind, key, "POST", path, &body)
    };
    if s.note && (first || !new_types.is_empty()) {
        let key = format!("note:{}:{}", c.account_id, ctx.run_id);
        let intro = if first {
            format!(
                "Beton's product signals for this account, which already has this open deal ({}): no PQL deal was created.",
                p.lead_source
            )
        } else {
            format!(
                "New signals since the last note: **{}**.",
                new_types.join(", ")
            )
        };
        let content = note_content(
            ctx,
            c,
            &props,
            &intro,
            (!first).then_some(&new_types[..]),
            &company,
            &marker(&key),
        )?;
        let title = format!("PQL signals: {company} (score {}), {}", c.score, p.label());
        let body = json!({"data": {"parent_object": "deals", "parent_record_id": rid, "title": title,
                                   "format": "markdown", "content": content}});
        steps.push(step("note", key, "/v2/notes", body));
    }
    if s.task && !new_types.is_empty() {
        let key = format!("task:{}:{}", c.account_id, ctx.run_id);
        let content = format!(
            "PQL signals on an open deal: {company} (score {}: {}). {}",
            c.score,
            new_types.join(", "),
            next_step(&new_types)
        );
        let owner = if ctx.opts.dry_run {
            None
        } else {
            match deal_owner(client, rid) {
                Ok(o) => o,
                Err(e) => return step_failure(c, StepError::Unavailable(e.to_string())),
            }
        };
        let body = task_body(ctx, &key, &content, rid, owner.as_deref());
        steps.push(step("task", key, "/v2/tasks", body));
    }
    let pending: Vec<&OutboxStep> = steps
        .iter()
        .filter(|st| {
            store
                .outbox_state(&st.key)
                .ok()
                .flatten()
                .is_none_or(|x| matches!(x, StepState::Failed | StepState::Superseded))
        })
        .collect();
    if ctx.opts.dry_run {
        let kinds: Vec<&str> = pending.iter().map(|st| st.kind.as_str()).collect();
        return done(
            c,
            if kinds.is_empty() {
                Outcome::InPipeline
            } else {
                Outcome::Attached
            },
            if kinds.is_empty() {
                format!("{}: nothing new for its open deal", p.label())
            } else {
                format!(
                    "{}: would add a {} to its open deal {rid}, no PQL deal",
                    p.label(),
                    kinds.join(" and a ")
                )
            },
        );
    }
    store.outbox_supersede(c.account_id, &steps)?;
    store.outbox_add(&steps, ctx.now)?;
    let sent = match run_open(ctx, c.account_id, report) {
        Ok(sent) => sent,
        Err(e) => return step_failure(c, e),
    };
    if sent.is_empty() {
        return done(
            c,
            Outcome::InPipeline,
            format!(
                "{}: its open deal already has the signal context, nothing new",
                p.label()
            ),
        );
    }
    done(
        c,
        Outcome::Attached,
        format!(
            "{}: added {} to its open deal, no PQL deal",
            p.label(),
            sent.join(" and ")
        ),
    )
}
