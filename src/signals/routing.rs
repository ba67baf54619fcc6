//! Routing next to the pipeline that already exists (SPEC §8): an account with an open deal from
//! another source gets no second deal (its context goes onto that deal when its CRM record is
//! known, else nothing is written); customers are routed as expansion; accounts under the ARR floor
//! (`routing.min_arr`) are scored and shown but not routed.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::AccountScore;
use crate::config::Config;
use crate::deals::{Outcome, is_pql, outcome_at};
use crate::error::Result;
use crate::store::{DealRow, Store};
use crate::time::fmt_date;

/// Whom the handoff is for: a prospect, or a customer who could buy more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Motion {
    #[default]
    New,
    Expansion,
}

/// What the CRM step does (or, without a CRM, would do) for an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrmAction {
    /// A new PQL deal.
    Create,
    /// Beton's PQL deal exists: its score and signals (and, on news, a note and task).
    Update,
    /// In pipeline: the context goes onto the open deal from another source.
    Attach,
    /// Routed, but nothing is written; `why` says why.
    Skip,
    /// Not routed.
    #[default]
    None,
}

impl CrmAction {
    pub fn as_str(self) -> &'static str {
        match self {
            CrmAction::Create => "create",
            CrmAction::Update => "update",
            CrmAction::Attach => "attach",
            CrmAction::Skip => "skip",
            CrmAction::None => "none",
        }
    }
}

/// The open deal that puts an account in pipeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenDeal {
    pub deal_id: String,
    pub lead_source: String,
    pub created_at: i64,
    /// Its Attio record, when Beton knows it (a deal pulled from Attio, or imported with the id
    /// `attio:<record id>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
}

impl OpenDeal {
    /// "in pipeline (inbound)".
    pub fn label(&self) -> String {
        format!("in pipeline ({})", self.lead_source)
    }
}

/// One account's routing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Route {
    pub motion: Motion,
    pub crm_action: CrmAction,
    /// Why a routed account gets no write, or why an account at the threshold is not routed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<OpenDeal>,
}

impl Route {
    /// The TUI's CRM column: "in pipeline (inbound)", "below ARR floor", or "" (the caller shows
    /// routed / synced then).
    pub fn label(&self) -> Option<String> {
        match (&self.pipeline, self.crm_action) {
            (Some(p), CrmAction::Attach | CrmAction::Skip) => Some(p.label()),
            (_, CrmAction::None) if self.why.as_deref().is_some_and(is_floor) => {
                Some("below ARR floor".into())
            }
            _ => None,
        }
    }
}

fn is_floor(why: &str) -> bool {
    why.starts_with("below the ARR floor")
}

/// Every deal by account key, to answer "in pipeline?" and "customer?" at any T.
#[derive(Debug, Default)]
pub struct DealBook {
    by_account: HashMap<String, Vec<DealRow>>,
}

impl DealBook {
    pub fn new(deals: Vec<DealRow>) -> Self {
        let mut by_account: HashMap<String, Vec<DealRow>> = HashMap::new();
        for d in deals {
            by_account.entry(d.account_key.clone()).or_default().push(d);
        }
        Self { by_account }
    }

    pub fn load(store: &Store) -> Result<Self> {
        Ok(Self::new(store.deals()?))
    }

    fn of(&self, key: &str) -> &[DealRow] {
        self.by_account.get(key).map_or(&[], Vec::as_slice)
    }

    /// The account's open deal from another source than `pql`, created before `t` (the newest
    /// when there are several).
    pub fn in_pipeline(&self, key: &str, t: i64, cfg: &Config) -> Option<OpenDeal> {
        self.of(key)
            .iter()
            .filter(|d| !is_pql(d) && d.created_at < t && outcome_at(d, cfg, t) == Outcome::Open)
            .max_by_key(|d| (d.created_at, d.deal_id.clone()))
            .map(|d| OpenDeal {
                deal_id: d.deal_id.clone(),
                lead_source: d.lead_source.trim().to_lowercase(),
                created_at: d.created_at,
                record_id: d
                    .deal_id
                    .strip_prefix("attio:")
                    .filter(|r| !r.is_empty())
                    .map(str::to_string),
            })
    }

    /// True when the account has a won deal closed before `t` (SPEC §8 "customer").
    pub fn customer(&self, key: &str, t: i64, cfg: &Config) -> bool {
        self.of(key)
            .iter()
            .any(|d| d.closed_at.is_some_and(|c| c < t) && outcome_at(d, cfg, t) == Outcome::Won)
    }
}

/// The account's `arr` as of `t` when it is below `routing.min_arr` (None without a floor, or
/// when the account has no numeric `arr`).
pub fn below_floor(store: &Store, cfg: &Config, account_id: i64, t: i64) -> Result<Option<f64>> {
    if cfg.routing.min_arr <= 0.0 {
        return Ok(None);
    }
    let props = store.account_props(account_id, t)?;
    Ok(super::numeric(props.get("arr")).filter(|arr| *arr < cfg.routing.min_arr))
}

/// Keeps accounts under the ARR floor from routing: they stay scored and shown.
pub fn apply_floor(store: &Store, cfg: &Config, t: i64, scores: &mut [AccountScore]) -> Result<()> {
    for s in scores.iter_mut().filter(|s| s.routed) {
        if below_floor(store, cfg, s.account_id, t)?.is_some() {
            s.routed = false;
        }
    }
    Ok(())
}

fn money(v: f64) -> String {
    let whole = v.round() as i64;
    let digits = whole.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if whole < 0 { format!("-{out}") } else { out }
}

/// The routing of one scored account at `t`. `book` holds the workspace's deals.
pub fn route(
    store: &Store,
    cfg: &Config,
    book: &DealBook,
    s: &AccountScore,
    t: i64,
) -> Result<Route> {
    let motion = if book.customer(&s.account, t, cfg) {
        Motion::Expansion
    } else {
        Motion::New
    };
    let pipeline = book.in_pipeline(&s.account, t, cfg);
    let at = |action: CrmAction, why: Option<String>| Route {
        motion,
        crm_action: action,
        why,
        pipeline: pipeline.clone(),
    };
    if !s.routed {
        let floor = if !s.fired.is_empty() && s.score >= cfg.route_threshold {
            below_floor(store, cfg, s.account_id, t)?
        } else {
            None
        };
        return Ok(at(
            CrmAction::None,
            floor.map(|arr| {
                format!(
                    "below the ARR floor: arr {} < routing.min_arr {}",
                    money(arr),
                    money(cfg.routing.min_arr)
                )
            }),
        ));
    }
    if let Some(p) = &pipeline {
        let since = fmt_date(p.created_at);
        return Ok(match &p.record_id {
            Some(rid) => at(
                CrmAction::Attach,
                Some(format!(
                    "{}: no new deal; the signal context goes onto its open deal (Attio record {rid}, created {since})",
                    p.label()
                )),
            ),
            None => at(
                CrmAction::Skip,
                Some(format!(
                    "{}: open deal {} (created {since}) has no known CRM record, so no deal and nothing else is written",
                    p.label(),
                    p.deal_id
                )),
            ),
        });
    }
    if cfg.attio.is_none() {
        return Ok(at(
            CrmAction::Skip,
            Some("no CRM connected (`beton connect attio`)".into()),
        ));
    }
    if store.meta("demo")?.is_some() {
        return Ok(at(
            CrmAction::Skip,
            Some("the workspace holds DEMO data: no deals are sent".into()),
        ));
    }
    Ok(if store.attio_deal(s.account_id)?.is_some() {
        at(CrmAction::Update, None)
    } else {
        at(CrmAction::Create, None)
    })
}

/// The routing of every scored account, by account id.
pub fn routes(
    store: &Store,
    cfg: &Config,
    t: i64,
    scores: &[AccountScore],
) -> Result<HashMap<i64, Route>> {
    let book = DealBook::load(store)?;
    scores
        .iter()
        .map(|s| Ok((s.account_id, route(store, cfg, &book, s, t)?)))
        .collect()
}

/// Lines for `explain`: the motion, and why the account gets no deal when it gets none.
pub fn explain(r: &Route) -> Vec<String> {
    let mut lines = Vec::new();
    if r.motion == Motion::Expansion {
        lines.push("  a customer (a won deal): routed as expansion".into());
    }
    match (r.crm_action, &r.why) {
        (CrmAction::None, Some(why)) => lines.push(format!("  not routed: {why}")),
        (CrmAction::Attach | CrmAction::Skip, Some(why)) => {
            lines.push(format!("  no new deal: {why}"))
        }
        (CrmAction::Create, _) => lines.push("  CRM: a new PQL deal".into()),
        (CrmAction::Update, _) => lines.push("  CRM: its PQL deal is updated".into()),
        _ => {}
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deal(id: &str, source: &str, stage: &str, created: i64, closed: Option<i64>) -> DealRow {
        DealRow {
            deal_id: id.into(),
            account_key: "acme.com".into(),
            name: None,
            lead_source: source.into(),
            stage: stage.into(),
            value: None,
            created_at: created,
            sql_at: None,
            closed_at: closed,
            owner_email: None,
        }
    }

    #[test]
    fn in_pipeline_means_an_open_deal_from_another_source_created_before_t() {
        let cfg = Config::default();
        let book = DealBook::new(vec![
            deal("pql-1", "pql", "Lead", 10, None),
            deal("attio:rec-1", "Inbound", "In Progress", 20, None),
            deal("csv-9", "outbound", "Lost", 5, Some(8)),
        ]);
        assert_eq!(book.in_pipeline("acme.com", 20, &cfg), None, "created at T");
        let p = book.in_pipeline("acme.com", 21, &cfg).unwrap();
        assert_eq!(p.label(), "in pipeline (inbound)");
        assert_eq!(p.record_id.as_deref(), Some("rec-1"));
        assert_eq!(book.in_pipeline("other.com", 21, &cfg), None);
        assert!(!book.customer("acme.com", 21, &cfg));
        let book = DealBook::new(vec![deal("d", "inbound", "won", 5, Some(9))]);
        assert!(
            !book.customer("acme.com", 9, &cfg),
            "closed at T is not before T"
        );
        assert!(book.customer("acme.com", 10, &cfg));
        assert_eq!(book.in_pipeline("acme.com", 10, &cfg), None);
    }

    #[test]
    fn money_groups_thousands() {
        assert_eq!(money(24000.0), "24,000");
        assert_eq!(money(999.4), "999");
        assert_eq!(money(1234567.0), "1,234,567");
    }
}
