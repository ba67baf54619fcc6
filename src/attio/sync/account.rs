//! One account synced on its own (`beton sync attio`): company, deal, note, task, list entry.

use super::*;

pub(super) fn sync_account(
    ctx: &Ctx<'_>,
    c: &AttioCandidate,
    report: &mut SyncReport,
) -> Result<AccountSync> {
    let (store, client, s) = (ctx.store, ctx.client, ctx.s);
    // A parent's owner and ARR are its own (SPEC §14: the biggest workspace's owner, the sum).
    let props = crate::signals::parents::account_props(
        store,
        ctx.book.family(),
        c.account_id,
        &c.account,
        ctx.as_of,
    )?;
    let Some(domain) = account_domain(&c.account, &props) else {
        return done(
            c,
            Outcome::Unresolved,
            "no domain: the account has no `domain` property and its key is not a domain",
        );
    };
    // The name comes from the product's events: shown with its control characters escaped in
    // every plain-text field (deal and company name, note title, task); Markdown escapes more.
    let name = props
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(crate::safe::line);
    let name = name.as_deref();
    let mut actions: Vec<String> = Vec::new();

    // Deal: is there one already? Beton's map says so; Attio is asked when the map has none, and
    // before an update (a deal deleted in Attio is then created again, as new).
    let mut local = store.attio_deal(c.account_id)?;
    let mut is_new = match &local {
        Some(_) => false,
        None => match find_deal(client, &s.match_attribute, &c.account) {
            Ok(found) => found.is_none(),
            Err(e) => return step_failure(c, StepError::Unavailable(e.to_string())),
        },
    };
    let signal_names: Vec<&str> = c.signals.iter().map(|x| x.signal.as_str()).collect();
    // What Beton owns on the deal, sent on every change; the rest only when it creates the deal.
    let mut values = Map::new();
    values.insert(s.match_attribute.clone(), json!([c.account]));
    values.insert("pql_score".into(), json!([c.score]));
    values.insert("pql_signals".into(), json!([signal_names.join(", ")]));
    let owner_email = props
        .get("owner_email")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|e| !e.is_empty());
    let owner = owner_email
        .and_then(|e| ctx.members.get(&e.to_lowercase()))
        .or_else(|| ctx.members.get(&s.default_owner.trim().to_lowercase()))
        .cloned();
    let digest = digest_of(&json!({"data": {"values": values}}));
    if let Some((_, stored)) = &local
        && *stored != digest
    {
        match find_deal(client, &s.match_attribute, &c.account) {
            Ok(Some(_)) => {}
            Ok(None) => {
                actions.push("the deal was deleted in Attio: creating it again".into());
                if !ctx.opts.dry_run {
                    store.forget_attio_deal(c.account_id)?;
                }
                local = None;
                is_new = true;
            }
            Err(e) => return step_failure(c, StepError::Unavailable(e.to_string())),
        }
    }
    // Attio requires a deal owner, and Beton never sends a deal without one (nor creates its
    // company): the account fails alone, once its company is known to exist or to be creatable.
    let no_owner = (is_new && owner.is_none()).then(|| {
        let whose = match owner_email {
            Some(e) => format!("its owner_email {e} is not a member of the Attio workspace"),
            None => "it has no owner_email".into(),
        };
        let default = if s.default_owner.trim().is_empty() {
            "attio.default_owner is not set".to_string()
        } else {
            format!(
                "attio.default_owner {:?} is not a workspace member",
                s.default_owner
            )
        };
        format!(
            "no deal owner, nothing sent: {whose} and {default}; run `beton attio setup --default-owner EMAIL`"
        )
    });

    // Company.
    let cached = store
        .attio_company(c.account_id)?
        .filter(|(d, _)| *d == domain)
        .and_then(|(_, rid)| rid);
    let company = match cached {
        Some(rid) => Some(rid),
        None => match find_company(client, &domain) {
            Ok(found) => found,
            Err(e) => return step_failure(c, StepError::Unavailable(e.to_string())),
        },
    };
    let company = match company {
        Some(rid) => {
            if !ctx.opts.dry_run {
                store.set_attio_company(c.account_id, &domain, Some(&rid), ctx.now)?;
            }
            rid
        }
        None if !s.create_missing_companies => {
            if !ctx.opts.dry_run {
                store.set_attio_company(c.account_id, &domain, None, ctx.now)?;
            }
            return done(
                c,
                Outcome::Unresolved,
                format!("no Attio company with domain {domain} (create_missing_companies = false)"),
            );
        }
        None if ctx.opts.dry_run => {
            actions.push(format!("create company {domain}"));
            String::from("(new company)")
        }
        None if no_owner.is_some() => {
            return done(c, Outcome::Failed, no_owner.unwrap_or_default());
        }
        None => {
            let step = OutboxStep {
                id: 0,
                key: format!("company:{}:{domain}", c.account_id),
                account_id: c.account_id,
                kind: "company".into(),
                method: "PUT".into(),
                path: "/v2/objects/companies/records?matching_attribute=domains".into(),
                body: company_body(&domain, name).to_string(),
                marker: String::new(),
                state: StepState::Pending,
                attempts: 0,
            };
            store.outbox_add(std::slice::from_ref(&step), ctx.now)?;
            if let Err(e) = run_open(ctx, c.account_id, report) {
                return step_failure(c, e);
            }
            match store.attio_company(c.account_id)?.and_then(|(_, rid)| rid) {
                Some(rid) => {
                    actions.push(format!("created company {domain}"));
                    rid
                }
                None => {
                    return done(
                        c,
                        Outcome::Failed,
                        format!("the company {domain} was not created"),
                    );
                }
            }
        }
    };

    if let Some(why) = no_owner {
        return done(c, Outcome::Failed, why);
    }
    if is_new && let Some(id) = &owner {
        let prefix = if ctx.book.customer(&c.account, ctx.as_of, ctx.cfg) {
            "PQL expansion"
        } else {
            "PQL"
        };
        values.insert(
            "name".into(),
            json!([format!("{prefix} – {}", name.unwrap_or(&domain))]),
        );
        values.insert(
            "associated_company".into(),
            json!([{"target_object": "companies", "target_record_id": company}]),
        );
        values.insert("lead_source".into(), json!(["pql"]));
        values.insert(
            "owner".into(),
            json!([{"referenced_actor_type": "workspace-member", "referenced_actor_id": id}]),
        );
        if !s.value_property.is_empty()
            && let Some(v) =
                crate::signals::numeric(props.get(&s.value_property)).filter(|v| *v >= 0.0)
        {
            values.insert("value".into(), json!([(v * 100.0).round() / 100.0]));
        }
        values.insert("stage".into(), json!([s.stage]));
    }
    let deal_body = json!({"data": {"values": values}});

    let new_types = new_types(ctx, c)?;
    let context = is_new || !new_types.is_empty();
    let mut steps = Vec::new();
    let step = |kind: &str, key: String, method: &str, path: String, body: Value| {
        outbox_step(c, kind, key, method, &path, &body)
    };
    if local.as_ref().is_none_or(|(_, d)| *d != digest) {
        steps.push(step(
            "deal",
            format!("deal:{}:{}:{digest}", c.account_id, ctx.run_id),
            "PUT",
            format!(
                "/v2/objects/deals/records?matching_attribute={}",
                s.match_attribute
            ),
            deal_body,
        ));
    }
    if context && s.note {
        let key = format!("note:{}:{}", c.account_id, ctx.run_id);
        let intro = match (is_new, ctx.book.customer(&c.account, ctx.as_of, ctx.cfg)) {
            (true, true) => {
                "Beton routed this customer to sales from its product usage: an expansion.".into()
            }
            (true, false) => "Beton routed this account to sales from its product usage.".into(),
            (false, _) => format!(
                "New signals since the last handoff: **{}**.",
                new_types.join(", ")
            ),
        };
        let content = note_content(
            ctx,
            c,
            &props,
            &intro,
            (!is_new).then_some(&new_types[..]),
            name.unwrap_or(&domain),
            &marker(&key),
        )?;
        let title = if is_new {
            format!(
                "PQL handoff: {} (score {})",
                name.unwrap_or(&domain),
                c.score
            )
        } else {
            format!(
                "PQL update: {} (score {}), new: {}",
                name.unwrap_or(&domain),
                c.score,
                new_types.join(", ")
            )
        };
        let body = json!({"data": {"parent_object": "deals", "parent_record_id": DEAL_ID, "title": title,
                                   "format": "markdown", "content": content}});
        steps.push(step("note", key, "POST", "/v2/notes".into(), body));
    }
    if context && s.task {
        let key = format!("task:{}:{}", c.account_id, ctx.run_id);
        let top: Vec<&str> = signal_names.iter().take(3).copied().collect();
        let content = format!(
            "Follow up with {} (PQL score {}: {}). {}",
            name.unwrap_or(&domain),
            c.score,
            top.join(", "),
            next_step(&signal_names)
        );
        // A task on an existing deal goes to whoever owns it in Attio now (a rep may have
        // reassigned it); a new deal's to the owner Beton gives it.
        let assignee = match (&local, is_new) {
            (Some((rid, _)), false) => match deal_owner(client, rid) {
                Ok(o) => o.or(owner.clone()),
                Err(e) => return step_failure(c, StepError::Unavailable(e.to_string())),
            },
            _ => owner.clone(),
        };
        let body = task_body(ctx, &key, &content, DEAL_ID, assignee.as_deref());
        steps.push(step("task", key, "POST", "/v2/tasks".into(), body));
    }
    if is_new && !s.list.is_empty() {
        let body = json!({"data": {"parent_record_id": company, "parent_object": "companies", "entry_values": {}}});
        steps.push(step(
            "list",
            format!("list:{}:{}", c.account_id, s.list),
            "PUT",
            format!("/v2/lists/{}/entries", s.list),
            body,
        ));
    }

    if ctx.opts.dry_run {
        for st in &steps {
            if store
                .outbox_state(&st.key)?
                .is_some_and(|x| !matches!(x, StepState::Failed | StepState::Superseded))
            {
                continue;
            }
            actions.push(match st.kind.as_str() {
                "deal" if is_new => format!("create deal (stage {:?}, score {})", s.stage, c.score),
                "deal" => format!(
                    "update deal (score {}, signals {})",
                    c.score,
                    signal_names.join(", ")
                ),
                "list" => format!("add the company to list {}", s.list),
                k => format!("add a {k}"),
            });
        }
        let outcome = if actions.is_empty() {
            Outcome::Unchanged
        } else if is_new {
            Outcome::Created
        } else {
            Outcome::Updated
        };
        let detail = if actions.is_empty() {
            "nothing to send".to_string()
        } else {
            format!("would {}", actions.join(", "))
        };
        return done(c, outcome, detail);
    }

    store.outbox_supersede(c.account_id, &steps)?;
    store.outbox_add(&steps, ctx.now)?;
    let sent = match run_open(ctx, c.account_id, report) {
        Ok(sent) => sent,
        Err(e) => return step_failure(c, e),
    };
    for k in &sent {
        match k.as_str() {
            "deal" if is_new => {
                report.deals_created += 1;
                actions.push("created deal".into());
            }
            "deal" => {
                report.deals_updated += 1;
                actions.push("updated deal".into());
            }
            "list" => actions.push("added to list".into()),
            "company" => {}
            other => actions.push(format!("added {other}")),
        }
    }
    let outcome = if sent.iter().any(|k| k == "deal") && is_new {
        Outcome::Created
    } else if sent.is_empty() {
        Outcome::Unchanged
    } else {
        Outcome::Updated
    };
    let detail = if actions.is_empty() {
        "up to date".into()
    } else {
        actions.join(", ")
    };
    done(c, outcome, detail)
}
