//! Deal outcomes: a stage maps to won, lost or open by the configured stage lists; and one
//! opportunity per account when a PQL deal was opened next to a deal already in pipeline; which
//! accounts are in pipeline or customers at T (SPEC §8).

use std::collections::HashMap;

use serde::Serialize;

use crate::config::Config;
use crate::error::Result;
use crate::signals::parents::Family;
use crate::store::{DealRow, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Won,
    Lost,
    Open,
}

impl Outcome {
    /// Stage names compare without regard to case or surrounding space.
    pub fn of(stage: &str, cfg: &Config) -> Self {
        let same = |list: &[String]| {
            list.iter()
                .any(|s| s.trim().eq_ignore_ascii_case(stage.trim()))
        };
        if same(&cfg.deals.won_stages) {
            Outcome::Won
        } else if same(&cfg.deals.lost_stages) {
            Outcome::Lost
        } else {
            Outcome::Open
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Won => "won",
            Outcome::Lost => "lost",
            Outcome::Open => "open",
        }
    }
}

/// A deal's outcome as known at `t`: a close after `t` is still open then. A won or lost deal
/// without `closed_at` counts as closed, since nothing says when.
pub fn outcome_at(d: &DealRow, cfg: &Config, t: i64) -> Outcome {
    match Outcome::of(&d.stage, cfg) {
        Outcome::Open => Outcome::Open,
        o if d.closed_at.is_none_or(|c| c <= t) => o,
        _ => Outcome::Open,
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

/// Every deal by account key, to answer "in pipeline?" and "customer?" at any T. With parent
/// accounts (SPEC §14) a workspace's deals are filed under its parent, and the book keeps the
/// family it filed them by (the parent's `arr` and owner are read from it).
#[derive(Debug, Default)]
pub struct DealBook {
    by_account: HashMap<String, Vec<DealRow>>,
    family: Option<Family>,
}

impl DealBook {
    pub fn new(deals: Vec<DealRow>) -> Self {
        let mut by_account: HashMap<String, Vec<DealRow>> = HashMap::new();
        for d in deals {
            by_account.entry(d.account_key.clone()).or_default().push(d);
        }
        Self {
            by_account,
            family: None,
        }
    }

    /// Every deal under the account it was imported on.
    pub fn load(store: &Store) -> Result<Self> {
        Ok(Self::new(store.deals()?))
    }

    /// The workspace's deals as of `t`: with `accounts.parent_property` set, each workspace's
    /// deals are its parent's.
    pub fn load_at(store: &Store, cfg: &Config, t: i64) -> Result<Self> {
        let mut deals = store.deals()?;
        let family = Family::at(store, cfg, t)?;
        if let Some(f) = &family {
            f.fold_deals(&mut deals);
        }
        Ok(Self {
            family,
            ..Self::new(deals)
        })
    }

    /// Who belongs to whom at the book's T, when parent accounts are configured.
    pub fn family(&self) -> Option<&Family> {
        self.family.as_ref()
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

/// True for Beton's own deals (`lead_source` `pql`, any case).
pub fn is_pql(d: &DealRow) -> bool {
    d.lead_source.trim().eq_ignore_ascii_case("pql")
}

/// The deals with every PQL deal left out that was created while its account already had an
/// open deal from another source (created before it, still open then): that PQL deal is the same
/// opportunity, which the existing deal already counts (SPEC §8). Returns the deals kept, in
/// their order, and how many PQL deals were folded into an existing one.
pub fn one_per_opportunity(deals: &[DealRow], cfg: &Config) -> (Vec<DealRow>, usize) {
    let mut others: HashMap<&str, Vec<&DealRow>> = HashMap::new();
    for d in deals.iter().filter(|d| !is_pql(d)) {
        others.entry(d.account_key.as_str()).or_default().push(d);
    }
    let mut folded = 0;
    let kept = deals
        .iter()
        .filter(|d| {
            let same = is_pql(d)
                && others.get(d.account_key.as_str()).is_some_and(|os| {
                    os.iter().any(|o| {
                        o.created_at < d.created_at
                            && outcome_at(o, cfg, d.created_at) == Outcome::Open
                    })
                });
            folded += usize::from(same);
            !same
        })
        .cloned()
        .collect();
    (kept, folded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deal(
        id: &str,
        account: &str,
        source: &str,
        stage: &str,
        created: i64,
        closed: Option<i64>,
    ) -> DealRow {
        DealRow {
            deal_id: id.into(),
            account_key: account.into(),
            name: None,
            lead_source: source.into(),
            stage: stage.into(),
            value: Some(1000.0),
            created_at: created,
            sql_at: None,
            closed_at: closed,
            owner_email: None,
        }
    }

    fn acme(id: &str, source: &str, stage: &str, created: i64, closed: Option<i64>) -> DealRow {
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
            acme("pql-1", "pql", "Lead", 10, None),
            acme("attio:rec-1", "Inbound", "In Progress", 20, None),
            acme("csv-9", "outbound", "Lost", 5, Some(8)),
        ]);
        assert_eq!(book.in_pipeline("acme.com", 20, &cfg), None, "created at T");
        let p = book.in_pipeline("acme.com", 21, &cfg).unwrap();
        assert_eq!(p.label(), "in pipeline (inbound)");
        assert_eq!(p.record_id.as_deref(), Some("rec-1"));
        assert_eq!(book.in_pipeline("other.com", 21, &cfg), None);
        assert!(!book.customer("acme.com", 21, &cfg));
        let book = DealBook::new(vec![acme("d", "inbound", "won", 5, Some(9))]);
        assert!(
            !book.customer("acme.com", 9, &cfg),
            "closed at T is not before T"
        );
        assert!(book.customer("acme.com", 10, &cfg));
        assert_eq!(book.in_pipeline("acme.com", 10, &cfg), None);
    }

    #[test]
    fn a_pql_deal_next_to_an_open_deal_is_the_same_opportunity() {
        let cfg = Config::default();
        let deals = vec![
            // acme: inbound open since 10, a PQL deal at 20 → folded.
            deal("i1", "acme", "inbound", "In Progress", 10, None),
            deal("p1", "acme", "pql", "Lead", 20, None),
            // globex: its inbound deal was lost at 15, the PQL deal at 20 is a new opportunity.
            deal("i2", "globex", "inbound", "Lost", 5, Some(15)),
            deal("p2", "globex", "PQL", "Lead", 20, None),
            // initech: the inbound deal came after the PQL deal: both count.
            deal("p3", "initech", "pql", "Lead", 20, None),
            deal("i3", "initech", "inbound", "Lead", 30, None),
        ];
        let (kept, folded) = one_per_opportunity(&deals, &cfg);
        assert_eq!(folded, 1);
        let ids: Vec<&str> = kept.iter().map(|d| d.deal_id.as_str()).collect();
        assert_eq!(ids, ["i1", "i2", "p2", "p3", "i3"]);
    }

    #[test]
    fn stages_map_by_the_configured_lists() {
        let cfg = Config::default();
        assert_eq!(Outcome::of("Won 🎉", &cfg), Outcome::Won);
        assert_eq!(Outcome::of("closed_won", &cfg), Outcome::Won);
        assert_eq!(Outcome::of(" Closed_Lost ", &cfg), Outcome::Lost);
        assert_eq!(Outcome::of("negotiation", &cfg), Outcome::Open);
    }
}
