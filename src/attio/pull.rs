//! `beton sync attio --pull`: every deal in Attio (all pages) with its stage, value, lead source,
//! created and closed dates (from the stage history) and company, mapped to accounts and stored
//! as deals, so the source comparison and the backtest use the CRM's real outcomes. On Beton's
//! own deals it also reads the reps' `pql_disposition` answers (SPEC §10) into the workspace's
//! dispositions, each recorded once.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::client::{ApiError, Client, Method};
use super::resolver::{account_domain, normalize_domain, record_id};
use super::setup::DISPOSITION_ATTRIBUTE;
use crate::config::{AttioSettings, Config};
use crate::deals::Outcome;
use crate::error::{Error, Result};
use crate::feedback::Kind;
use crate::store::{DealRow, DispositionRow, Ingest, Store};
use crate::time::parse_ts;

#[derive(Debug, Clone, Default, Serialize)]
pub struct PullReport {
    pub deals: usize,
    pub stored: usize,
    pub won: usize,
    pub lost: usize,
    pub open: usize,
    /// Deals whose company maps to no account (by Beton's key attribute or the company's domains).
    pub unmapped: usize,
    pub unmapped_examples: Vec<String>,
    /// Deals of an earlier pull that Attio no longer has (or that no longer map), removed.
    pub removed: usize,
    /// Reps' `pql_disposition` answers on Beton's deals recorded by this pull (would be, with
    /// `dry_run`); an answer pulled before is not counted again.
    pub dispositions: usize,
    /// Answers whose option is not one of legit / not_ready / already_working (left out).
    pub dispositions_unknown: usize,
    pub reads: u64,
    pub dry_run: bool,
}

/// The first value of an attribute of a record.
fn first<'a>(record: &'a Value, slug: &str) -> Option<&'a Value> {
    record
        .get("values")
        .and_then(|v| v.get(slug))
        .and_then(Value::as_array)
        .and_then(|a| a.first())
}

fn text<'a>(record: &'a Value, slug: &str) -> Option<&'a str> {
    first(record, slug)
        .and_then(|v| v.get("value"))
        .and_then(Value::as_str)
}

/// A number or a numeric string (Attio's docs show currency values both ways).
fn number(v: Option<&Value>) -> Option<f64> {
    crate::signals::numeric(v)
}

/// Reads every deal from Attio and stores them as deals (`attio:<record id>`), unless `dry_run`.
pub fn pull(store: &Store, cfg: &Config, client: &Client, dry_run: bool) -> Result<PullReport> {
    let s: &AttioSettings = cfg
        .attio
        .as_ref()
        .ok_or_else(|| Error::Attio("not configured: run `beton connect attio`".into()))?;
    let api = |e: ApiError| Error::Attio(e.to_string());
    let member_email: HashMap<String, String> = super::client::workspace_members(client)
        .map_err(api)?
        .into_iter()
        .collect();
    let accounts: Vec<(String, Option<String>)> = store.account_domains()?;
    let keys: std::collections::HashSet<&str> = accounts.iter().map(|(k, _)| k.as_str()).collect();
    let mut by_domain: HashMap<String, String> = HashMap::new();
    for (key, domain) in &accounts {
        let mut props = serde_json::Map::new();
        if let Some(d) = domain {
            props.insert("domain".into(), json!(d));
        }
        if let Some(d) = account_domain(key, &props) {
            by_domain.entry(d).or_insert_with(|| key.clone());
        }
    }
    let mut company_account: HashMap<String, Option<String>> = store
        .attio_company_accounts()?
        .into_iter()
        .map(|(rid, key)| (rid, Some(key)))
        .collect();

    let first_stage = super::setup::stages(client)
        .map_err(api)?
        .into_iter()
        .next();
    let mut report = PullReport {
        dry_run,
        ..Default::default()
    };
    let mut rows = Vec::new();
    let mut answered: Vec<(String, String, Value)> = Vec::new();
    let limit = 500;
    let mut offset = 0;
    loop {
        let body = json!({"limit": limit, "offset": offset});
        let page = client
            .send(
                Method::Post,
                "/v2/objects/deals/records/query",
                &[],
                Some(&body),
            )
            .map_err(api)?;
        let items = page
            .get("data")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for deal in &items {
            report.deals += 1;
            let Some(rid) = record_id(deal).map(str::to_string) else {
                continue;
            };
            let by_key = text(deal, &s.match_attribute)
                .filter(|k| keys.contains(k))
                .map(str::to_string);
            // Beton's own deal (it carries the account key): the rep may have answered on it.
            if let Some(k) = &by_key
                && let Some(v) = first(deal, DISPOSITION_ATTRIBUTE)
            {
                answered.push((rid.clone(), k.clone(), v.clone()));
            }
            let company = first(deal, "associated_company")
                .and_then(|v| v.get("target_record_id"))
                .and_then(Value::as_str)
                .map(str::to_string);
            let account = match (by_key, &company) {
                (Some(k), _) => Some(k),
                (None, Some(c)) => {
                    if !company_account.contains_key(c) {
                        let found = company_domains(client, c)
                            .map_err(api)?
                            .into_iter()
                            .find_map(|d| by_domain.get(&d).cloned());
                        company_account.insert(c.clone(), found);
                    }
                    company_account.get(c).cloned().flatten()
                }
                (None, None) => None,
            };
            let name = text(deal, "name").map(str::to_string);
            let Some(account_key) = account else {
                report.unmapped += 1;
                if report.unmapped_examples.len() < 5 {
                    report
                        .unmapped_examples
                        .push(name.clone().unwrap_or_else(|| rid.clone()));
                }
                continue;
            };
            let stage_value = first(deal, "stage");
            let stage = stage_value
                .and_then(|v| v.get("status"))
                .and_then(|st| st.get("title"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let created_at = deal
                .get("created_at")
                .and_then(Value::as_str)
                .and_then(parse_ts)
                .or_else(|| {
                    stage_value
                        .and_then(|v| v.get("active_from"))
                        .and_then(Value::as_str)
                        .and_then(parse_ts)
                });
            let Some(created_at) = created_at else {
                continue;
            };
            let outcome = Outcome::of(&stage, cfg);
            // The history is read only when it can tell something: a closed deal, or an open one
            // past the workspace's first stage.
            let history =
                if outcome != Outcome::Open || first_stage.as_deref() != Some(stage.as_str()) {
                    stage_history(client, &rid).map_err(api)?
                } else {
                    Vec::new()
                };
            let current_since = stage_value
                .and_then(|v| v.get("active_from"))
                .and_then(Value::as_str)
                .and_then(parse_ts);
            let closed_at = match outcome {
                Outcome::Open => None,
                _ => entered(&history, &stage).or(current_since),
            };
            let sql_at = qualified(&history, cfg).or(if outcome == Outcome::Won {
                closed_at
            } else {
                None
            });
            match outcome {
                Outcome::Won => report.won += 1,
                Outcome::Lost => report.lost += 1,
                Outcome::Open => report.open += 1,
            }
            let lead_source = first(deal, "lead_source")
                .and_then(|v| {
                    v.get("option")
                        .and_then(|o| o.get("title"))
                        .or_else(|| v.get("value"))
                })
                .and_then(Value::as_str)
                .map(|t| t.trim().to_lowercase())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "unknown".into());
            let owner_email = first(deal, "owner")
                .and_then(|v| v.get("referenced_actor_id"))
                .and_then(Value::as_str)
                .and_then(|id| member_email.get(id).cloned());
            rows.push(DealRow {
                deal_id: format!("attio:{rid}"),
                account_key,
                name,
                lead_source,
                stage,
                value: number(first(deal, "value").and_then(|v| v.get("currency_value"))),
                created_at,
                sql_at,
                closed_at,
                owner_email,
            });
        }
        if items.len() < limit {
            break;
        }
        offset += limit;
    }
    report.stored = rows.len();
    let (answers, unknown) = dispositions(store, client, &member_email, &answered).map_err(api)?;
    report.dispositions_unknown = unknown;
    if dry_run {
        report.dispositions = answers
            .iter()
            .filter(|r| {
                r.origin
                    .as_deref()
                    .is_some_and(|o| !store.disposition_origin_exists(o).unwrap_or(true))
            })
            .count();
    } else {
        report.dispositions = store.record_dispositions(&answers, crate::time::now())?;
    }
    if !dry_run {
        if !rows.is_empty() {
            let mut ingest = Ingest::begin(store, cfg)?;
            for row in &rows {
                ingest.deal(row)?;
            }
            ingest.commit()?;
        }
        let keep = rows.iter().map(|r| r.deal_id.clone()).collect();
        report.removed = store.remove_attio_deals_except(&keep)?;
    }
    report.reads = client.counts().reads;
    Ok(report)
}

/// The workspace's key of one Attio answer: the deal record and the value's `active_from`.
fn origin(record: &str, active_from: &str) -> String {
    format!("attio:{record}:{DISPOSITION_ATTRIBUTE}:{active_from}")
}

/// One `pql_disposition` value as a disposition row of `account`; `Err` with the option's title
/// when it is not a disposition, `Ok(None)` when the value has no time.
fn disposition_row(
    record: &str,
    account: &str,
    v: &Value,
    members: &HashMap<String, String>,
) -> std::result::Result<Option<DispositionRow>, String> {
    let title = v
        .pointer("/option/title")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = Kind::parse(title).ok_or_else(|| title.to_string())?;
    let Some(from) = v.get("active_from").and_then(Value::as_str) else {
        return Ok(None);
    };
    let Some(at) = parse_ts(from) else {
        return Ok(None);
    };
    // A rep who is a workspace member is named by email; an API token or the system is nobody.
    let actor = v.get("created_by_actor");
    let by = actor
        .filter(|a| a.get("type").and_then(Value::as_str) == Some("workspace-member"))
        .and_then(|a| a.get("id").and_then(Value::as_str))
        .and_then(|id| members.get(id).cloned());
    Ok(Some(DispositionRow {
        account: account.to_string(),
        kind: kind.as_str().into(),
        at,
        note: None,
        by,
        source: "attio".into(),
        origin: Some(origin(record, from)),
    }))
}

/// The answers of the deals in `answered` (record, account, current value) as disposition rows,
/// and how many were not dispositions. A deal whose current answer is stored already costs no
/// read; otherwise its whole history is read, so two answers between pulls both count.
fn dispositions(
    store: &Store,
    client: &Client,
    members: &HashMap<String, String>,
    answered: &[(String, String, Value)],
) -> std::result::Result<(Vec<DispositionRow>, usize), ApiError> {
    let mut rows = Vec::new();
    let mut unknown = 0;
    for (rid, account, current) in answered {
        let fresh = current
            .get("active_from")
            .and_then(Value::as_str)
            .is_some_and(|f| {
                !store
                    .disposition_origin_exists(&origin(rid, f))
                    .unwrap_or(false)
            });
        if !fresh {
            continue;
        }
        let path =
            format!("/v2/objects/deals/records/{rid}/attributes/{DISPOSITION_ATTRIBUTE}/values");
        for v in values_history(client, &path)? {
            match disposition_row(rid, account, &v, members) {
                Ok(Some(row)) => rows.push(row),
                Ok(None) => {}
                Err(title) => {
                    tracing::warn!(
                        "Attio deal {rid}: pql_disposition {title:?} is not a disposition"
                    );
                    unknown += 1;
                }
            }
        }
    }
    Ok((rows, unknown))
}

/// Every value an attribute of a record has had, oldest first (Attio's order), page by page.
fn values_history(client: &Client, path: &str) -> std::result::Result<Vec<Value>, ApiError> {
    client.get_all(path, &[("show_historic", "true".into())], 100)
}

/// The domains of a company record.
fn company_domains(client: &Client, record: &str) -> std::result::Result<Vec<String>, ApiError> {
    let v = match client.get(&format!("/v2/objects/companies/records/{record}"), &[]) {
        Ok(v) => v,
        Err(e) if e.is_not_found() => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(v.pointer("/data/values/domains")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|d| {
                    d.get("domain")
                        .and_then(Value::as_str)
                        .and_then(normalize_domain)
                })
                .collect()
        })
        .unwrap_or_default())
}

/// A deal's stage history, oldest first: (entered at, stage title).
fn stage_history(
    client: &Client,
    record: &str,
) -> std::result::Result<Vec<(i64, String)>, ApiError> {
    let path = format!("/v2/objects/deals/records/{record}/attributes/stage/values");
    let mut history: Vec<(i64, String)> = values_history(client, &path)?
        .iter()
        .filter_map(|v| {
            let from = v
                .get("active_from")
                .and_then(Value::as_str)
                .and_then(parse_ts)?;
            let title = v.get("status")?.get("title")?.as_str()?.to_string();
            Some((from, title))
        })
        .collect();
    history.sort();
    Ok(history)
}

/// When the deal entered `stage` for the last time (its current stretch there).
fn entered(history: &[(i64, String)], stage: &str) -> Option<i64> {
    let mut at = None;
    let mut previous: Option<&str> = None;
    for (from, title) in history {
        if title == stage && previous != Some(stage) {
            at = Some(*from);
        }
        previous = Some(title.as_str());
    }
    at
}

/// When the deal became sales qualified: it first moved past its first stage to a stage that is
/// not a lost one.
fn qualified(history: &[(i64, String)], cfg: &Config) -> Option<i64> {
    let first = &history.first()?.1;
    history
        .iter()
        .find(|(_, title)| title != first && Outcome::of(title, cfg) != Outcome::Lost)
        .map(|(from, _)| *from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_history_gives_closed_and_qualified_dates() {
        let cfg = Config::default();
        let h: Vec<(i64, String)> = [(1, "Lead"), (5, "In Progress"), (7, "Lead"), (9, "Won 🎉")]
            .iter()
            .map(|(t, s)| (*t, s.to_string()))
            .collect();
        assert_eq!(entered(&h, "Won 🎉"), Some(9));
        assert_eq!(entered(&h, "Lead"), Some(7));
        assert_eq!(qualified(&h, &cfg), Some(5));
        let lost: Vec<(i64, String)> = vec![(1, "Lead".into()), (3, "Lost".into())];
        assert_eq!(qualified(&lost, &cfg), None);
    }
}
