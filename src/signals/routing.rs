//! Routing next to the pipeline that already exists (SPEC §8): an account with an open deal from
//! another source gets no second deal (its context goes onto that deal when its CRM record is
//! known, else nothing is written); customers are routed as expansion; accounts under the ARR floor
//! (`routing.min_arr`) are scored and shown but not routed.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::AccountScore;
use super::parents::Family;
use crate::config::Config;
pub use crate::deals::{DealBook, OpenDeal};
use crate::error::Result;
use crate::store::Store;
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

/// The account's `arr` as of `t` when it is below `routing.min_arr` (None without a floor, or
/// when the account has no numeric `arr`). A parent's `arr` is the sum over its workspaces
/// (`family`, SPEC §14).
pub fn below_floor(
    store: &Store,
    cfg: &Config,
    family: Option<&Family>,
    s: &AccountScore,
    t: i64,
) -> Result<Option<f64>> {
    if cfg.routing.min_arr <= 0.0 {
        return Ok(None);
    }
    let props = super::parents::account_props(store, family, s.account_id, &s.account, t)?;
    Ok(super::numeric(props.get("arr")).filter(|arr| *arr < cfg.routing.min_arr))
}

/// Keeps accounts under the ARR floor from routing: they stay scored and shown.
pub fn apply_floor(store: &Store, cfg: &Config, t: i64, scores: &mut [AccountScore]) -> Result<()> {
    if cfg.routing.min_arr <= 0.0 {
        return Ok(());
    }
    let family = Family::at(store, cfg, t)?;
    for s in scores.iter_mut().filter(|s| s.routed) {
        if below_floor(store, cfg, family.as_ref(), s, t)?.is_some() {
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
            below_floor(store, cfg, book.family(), s, t)?
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
    let book = DealBook::load_at(store, cfg, t)?;
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

    #[test]
    fn money_groups_thousands() {
        assert_eq!(money(24000.0), "24,000");
        assert_eq!(money(999.4), "999");
        assert_eq!(money(1234567.0), "1,234,567");
    }
}
