//! Routed accounts → Attio deals, with the context a rep needs, exactly once (docs/ATTIO.md).
//!
//! For each routed account of a run: resolve its company, then plan the writes (deal assert,
//! note, task, list entry) into the outbox in one transaction, then send them. Leftovers of an
//! interrupted sync are sent first. A deal whose values did not change is not sent again; notes
//! and tasks are planned once per account and run, and only when the deal is new or the run
//! emitted a new signal type for it (SPEC §3 cooldown).

use std::collections::HashMap;

use chrono::{Datelike, Duration as ChronoDuration, TimeZone, Utc, Weekday};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::client::{ApiError, Client, Counts, Method};
use super::outbox::{DEAL_ID, StepError, send_step};
use super::resolver::{account_domain, company_body, find_company, record_id};
use crate::config::{AttioSettings, Config};
use crate::deals::{DealBook, OpenDeal};
use crate::error::{Error, Result};
use crate::store::{AttioCandidate, OutboxStep, StepState, Store};
use crate::time::{DAY, day_of, fmt_date};

#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Read from Attio, send nothing, store nothing; say what would be done.
    pub dry_run: bool,
    /// Test hook: stop right after a step of this kind was sent, before it is marked done, as a
    /// kill at the worst moment would.
    pub crash_after_send: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    Unresolved,
    Failed,
    /// In pipeline: the signal context went onto the open deal from another source.
    Attached,
    /// In pipeline, its CRM record unknown (or nothing new for it): nothing written.
    InPipeline,
}

/// What happened to one routed account.
#[derive(Debug, Clone, Serialize)]
pub struct AccountSync {
    pub account: String,
    pub outcome: Outcome,
    /// In words: what was (or with --dry-run would be) sent, or why not.
    pub detail: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    pub run_id: i64,
    pub dry_run: bool,
    pub accounts: Vec<AccountSync>,
    /// Steps of an interrupted sync sent (or found done in Attio) at the start; with a dry run,
    /// the steps that would be.
    pub replayed: usize,
    pub companies_created: usize,
    pub deals_created: usize,
    pub deals_updated: usize,
    pub notes: usize,
    pub tasks: usize,
    pub list_entries: usize,
    pub reads: u64,
    pub writes: u64,
    pub retries: u64,
}

impl SyncReport {
    pub fn count(&self, o: Outcome) -> usize {
        self.accounts.iter().filter(|a| a.outcome == o).count()
    }

    /// One line for the daily report.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}{} routed: {} created, {} updated, {} unchanged, {} unresolved, {} failed, {} in pipeline ({} attached); {} notes, {} tasks, {} list entries; {} writes, {} reads",
            if self.dry_run {
                "dry run, nothing sent: "
            } else {
                ""
            },
            self.accounts.len(),
            self.count(Outcome::Created),
            self.count(Outcome::Updated),
            self.count(Outcome::Unchanged),
            self.count(Outcome::Unresolved),
            self.count(Outcome::Failed),
            self.count(Outcome::InPipeline) + self.count(Outcome::Attached),
            self.count(Outcome::Attached),
            self.notes,
            self.tasks,
            self.list_entries,
            self.writes,
            self.reads
        );
        if self.replayed > 0 {
            let done = if self.dry_run {
                "would be completed first"
            } else {
                "completed"
            };
            s.push_str(&format!(
                "; {} steps of an interrupted sync {done}",
                self.replayed
            ));
        }
        let failed: Vec<String> = self
            .accounts
            .iter()
            .filter(|a| a.outcome == Outcome::Failed)
            .take(5)
            .map(|a| format!("{}: {}", a.account, a.detail))
            .collect();
        if !failed.is_empty() {
            s.push_str(&format!(" — failed: {}", failed.join("; ")));
        }
        s
    }

    fn tally(&mut self, kind: &str, found: bool) {
        match kind {
            "company" if !found => self.companies_created += 1,
            "note" => self.notes += 1,
            "task" => self.tasks += 1,
            "list" => self.list_entries += 1,
            _ => {}
        }
    }
}

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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn marker(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))[..12].to_string()
}

/// The hash that stands for a user id in notes: salted per workspace, so it cannot be looked up.
pub fn user_hash(salt: &str, user: &str) -> String {
    hex(&Sha256::digest(format!("{salt}\u{0}{user}").as_bytes()))[..10].to_string()
}

fn salt(store: &Store) -> Result<String> {
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

pub use crate::signals::next_step::next_step;

/// Everything one sync needs that does not change between accounts.
struct Ctx<'a> {
    store: &'a Store,
    client: &'a Client,
    cfg: &'a Config,
    s: &'a AttioSettings,
    /// The workspace's deals: which accounts are in pipeline, and which are customers.
    book: DealBook,
    opts: &'a SyncOptions,
    run_id: i64,
    as_of: i64,
    now: i64,
    /// Emissions at or after this T that no note or task was planned for are owed (see
    /// `Store::attio_unplanned_emissions`): the cooldown window before the run's T.
    owed_since: i64,
    members: HashMap<String, String>,
    salt: String,
}

/// Syncs the routed accounts of run `run_id` to Attio. Per-account failures are in the report;
/// an `Err` means nothing could be synced (not configured, key refused, stage missing, store).
pub fn sync(
    store: &Store,
    cfg: &Config,
    client: &Client,
    run_id: i64,
    opts: &SyncOptions,
) -> Result<SyncReport> {
    let s = cfg
        .attio
        .as_ref()
        .ok_or_else(|| Error::Attio("not configured: run `beton connect attio`".into()))?;
    let as_of = store
        .run_as_of(run_id)?
        .ok_or_else(|| Error::Attio(format!("no run {run_id}")))?;
    let candidates = store.attio_candidates(run_id)?;
    let mut report = SyncReport {
        run_id,
        dry_run: opts.dry_run,
        ..Default::default()
    };
    let open = store.outbox_open(None)?;
    if candidates.is_empty() && open.is_empty() {
        return Ok(report);
    }
    let fatal = |e: ApiError| Error::Attio(e.to_string());
    let stages =
        super::setup::stages(client).map_err(|e| Error::Attio(super::setup::deals_error(e)))?;
    if !stages.iter().any(|t| t == &s.stage) {
        return Err(Error::Attio(format!(
            "the deal stage {:?} (attio.stage) does not exist in Attio; stages there: {}. Run `beton attio setup` \
             to create it, or set attio.stage to one of them",
            s.stage,
            stages.join(", ")
        )));
    }
    let members: HashMap<String, String> = super::client::workspace_members(client)
        .map_err(fatal)?
        .into_iter()
        .map(|(id, email)| (email.to_lowercase(), id))
        .collect();
    let salt = if opts.dry_run {
        String::new()
    } else {
        salt(store)?
    };
    let ctx = Ctx {
        store,
        client,
        cfg,
        s,
        book: DealBook::load(store)?,
        opts,
        run_id,
        as_of,
        now: crate::time::now(),
        owed_since: as_of.saturating_sub(i64::from(cfg.cooldown_days).saturating_mul(DAY)),
        members,
        salt,
    };

    let mut failed: HashMap<i64, String> = HashMap::new();
    // What the replay completed per account: (kind, whether it was a new-deal assert).
    let mut replayed: HashMap<i64, Vec<(String, bool)>> = HashMap::new();
    if opts.dry_run {
        report.replayed = open.len();
    } else {
        for step in &open {
            if failed.contains_key(&step.account_id) {
                continue;
            }
            match send_step(
                store,
                client,
                step,
                opts.crash_after_send.as_deref(),
                ctx.now,
                true,
            ) {
                Ok(sent) => {
                    report.replayed += 1;
                    report.tally(&sent.kind, sent.found);
                    let new_deal = sent.kind == "deal" && step.body.contains("\"stage\"");
                    if sent.kind == "deal" {
                        if new_deal {
                            report.deals_created += 1;
                        } else {
                            report.deals_updated += 1;
                        }
                    }
                    replayed
                        .entry(step.account_id)
                        .or_default()
                        .push((sent.kind, new_deal));
                }
                // Waiting for a deal that Attio rejected: planning the account sends it again first.
                Err(StepError::Blocked(_)) => {}
                Err(e) => {
                    fatal_step(&e)?;
                    failed.insert(step.account_id, e.to_string());
                }
            }
        }
    }

    for c in &candidates {
        let outcome = match failed.get(&c.account_id) {
            Some(why) => AccountSync {
                account: c.account.clone(),
                outcome: Outcome::Failed,
                detail: why.clone(),
            },
            None => match ctx.book.in_pipeline(&c.account, as_of, cfg) {
                // SPEC §8: no second deal next to the pipeline that already exists.
                Some(p) => sync_in_pipeline(&ctx, c, &p, &mut report)?,
                None => sync_account(&ctx, c, &mut report)?,
            },
        };
        let outcome = match replayed.get(&c.account_id) {
            Some(kinds) => with_replayed(outcome, kinds),
            None => outcome,
        };
        report.accounts.push(outcome);
    }
    let Counts {
        reads,
        writes,
        retries,
    } = client.counts();
    (report.reads, report.writes, report.retries) = (reads, writes, retries);
    Ok(report)
}

/// An account's outcome counting what the replay of an interrupted sync completed for it.
fn with_replayed(mut a: AccountSync, kinds: &[(String, bool)]) -> AccountSync {
    let names: Vec<&str> = kinds.iter().map(|(k, _)| k.as_str()).collect();
    let what = format!("completed from an interrupted sync: {}", names.join(", "));
    if a.outcome != Outcome::Failed {
        if kinds.iter().any(|(_, new)| *new) {
            a.outcome = Outcome::Created;
        } else if a.outcome == Outcome::Unchanged {
            a.outcome = Outcome::Updated;
        }
    }
    a.detail = if a.outcome != Outcome::Failed && a.detail == "up to date" {
        what
    } else {
        format!("{what}; {}", a.detail)
    };
    a
}

/// Errors that stop the whole sync rather than one account.
fn fatal_step(e: &StepError) -> Result<()> {
    match e {
        StepError::Auth(m) => Err(Error::Attio(m.clone())),
        StepError::Store(_) | StepError::Crashed(_) => Err(Error::Attio(e.to_string())),
        _ => Ok(()),
    }
}

fn done(c: &AttioCandidate, outcome: Outcome, detail: impl Into<String>) -> Result<AccountSync> {
    Ok(AccountSync {
        account: c.account.clone(),
        outcome,
        detail: detail.into(),
    })
}

fn sync_account(ctx: &Ctx<'_>, c: &AttioCandidate, report: &mut SyncReport) -> Result<AccountSync> {
    let (store, client, s) = (ctx.store, ctx.client, ctx.s);
    let props = store.account_props(c.account_id, ctx.as_of)?;
    let Some(domain) = account_domain(&c.account, &props) else {
        return done(
            c,
            Outcome::Unresolved,
            "no domain: the account has no `domain` property and its key is not a domain",
        );
    };
    let name = props
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty());
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

/// A routed account in pipeline (SPEC §8): no PQL deal. When the open deal's Attio record is
/// known, the handoff note goes onto it the first time and whenever new signal types were
/// emitted, and a follow-up task for its owner when new types were emitted; nothing else is
/// changed on a deal that is not Beton's. Without a known record nothing is written.
fn sync_in_pipeline(
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
    let props = store.account_props(c.account_id, ctx.as_of)?;
    let company = props
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(&c.account)
        .to_string();
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

fn step_failure(c: &AttioCandidate, e: StepError) -> Result<AccountSync> {
    fatal_step(&e)?;
    done(c, Outcome::Failed, e.to_string())
}

/// Sends the account's open steps, the ones that need no deal first (company, deal, list entry),
/// then the note and task that wait for the deal; returns the kinds sent. Stops at the first
/// failure, so a rejected deal leaves its note and task waiting, and other accounts go on.
fn run_open(
    ctx: &Ctx<'_>,
    account_id: i64,
    report: &mut SyncReport,
) -> std::result::Result<Vec<String>, StepError> {
    let mut kinds = Vec::new();
    let mut open = ctx.store.outbox_open(Some(account_id))?;
    open.sort_by_key(|s| s.body.contains(DEAL_ID));
    for step in open {
        let sent = send_step(
            ctx.store,
            ctx.client,
            &step,
            ctx.opts.crash_after_send.as_deref(),
            ctx.now,
            false,
        )?;
        report.tally(&sent.kind, sent.found);
        kinds.push(sent.kind);
    }
    Ok(kinds)
}

/// The signal types the run emitted for the account (outside their cooldown, SPEC §3).
/// The account's new signal types: emitted by this run, or by an earlier one whose note and task
/// were never planned (a kill before the sync, Attio down for that whole run).
fn new_types<'a>(ctx: &Ctx<'_>, c: &'a AttioCandidate) -> Result<Vec<&'a str>> {
    let owed = ctx
        .store
        .attio_unplanned_emissions(c.account_id, ctx.owed_since, ctx.run_id)?;
    Ok(c.signals
        .iter()
        .filter(|x| x.emitted || owed.contains(&x.signal))
        .map(|x| x.signal.as_str())
        .collect())
}

/// A pending outbox step of the account, its marker derived from its key.
fn outbox_step(
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
fn task_body(
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
fn note_content(
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
