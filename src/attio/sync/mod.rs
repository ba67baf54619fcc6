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

mod account;
mod content;
mod pipeline;

use account::sync_account;
pub use content::{CREATE_ONLY, deal_owner, digest_of, find_deal, next_business_day, user_hash};
use content::{marker, note_content, outbox_step, salt, task_body};
use pipeline::sync_in_pipeline;

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
        // With parent accounts a workspace's deals are its parent's (SPEC §14).
        book: DealBook::load_at(store, cfg, as_of)?,
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
