//! Deals in PostHog's data warehouse. PostHog's native Attio source lands Attio's deals as the
//! table `attio_deals` in Attio's raw record shape: `record_id`, `created_at`, `web_url` and a
//! `values` JSON string holding every attribute as a list of value objects (no stage history).
//! The deal tiles read SPEC §1 deal columns, so `beton provision` keeps a view Beton owns
//! (`posthog.deals_table`, default `beton_deals`) over that table through PostHog's saved-query
//! API, and `beton doctor` checks that the deals table has every column the tiles read.

use serde::Serialize;
use serde_json::{Value, json};

use super::PosthogError;
use super::client::Client;
use crate::config::{Config, PosthogSettings};

/// The SPEC §1 deal columns the deal tiles read (the dashboards test keeps this list equal to
/// the columns the tile queries name).
pub const TILE_COLUMNS: [&str; 7] = [
    "account_key",
    "lead_source",
    "stage",
    "value",
    "created_at",
    "sql_at",
    "closed_at",
];

/// The columns the view reads from the native deals table.
pub const SOURCE_COLUMNS: [&str; 3] = ["record_id", "created_at", "values"];

/// What to do when no deals table exists.
pub const HOW_TO_GET_DEALS: &str = "connect Attio in PostHog (Data pipeline → Sources → Attio, \
     sync the `deals` and `companies` schemas), then run `beton provision` again; or upload a \
     table of your own in SPEC §1 deal columns and name it in posthog.deals_table with \
     posthog.attio_table = \"\"";

/// The companies table of the same Attio source: the deals table's name with `deals` replaced.
pub fn companies_table(attio_table: &str) -> Option<String> {
    attio_table
        .strip_suffix("deals")
        .map(|prefix| format!("{prefix}companies"))
}

/// A HogQL string literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn list(items: &[String]) -> String {
    items.iter().map(|s| lit(s)).collect::<Vec<_>>().join(", ")
}

/// The view's HogQL: SPEC §1 deal columns from Attio's raw records. Views may not use
/// placeholders, so the settings it needs (the match attribute, the stage lists, the account
/// group) are written in as literals. With `companies`, a deal without Beton's account key is
/// matched to an account through its company's first domain (the account's `domain` property,
/// or its key), as `beton sync attio --pull` does.
pub fn view_sql(cfg: &Config, p: &PosthogSettings, companies: Option<&str>) -> String {
    let key_attr = cfg
        .attio
        .as_ref()
        .map_or("beton_account_key", |a| a.match_attribute.as_str());
    let won = list(&cfg.deals.won_stages);
    let closed = list(
        &cfg.deals
            .won_stages
            .iter()
            .chain(&cfg.deals.lost_stages)
            .cloned()
            .collect::<Vec<_>>(),
    );
    let (account, join) = match companies {
        Some(c) => (
            "if(d.beton_key != '', d.beton_key, coalesce(a.account, ''))".to_string(),
            format!(
                "
LEFT JOIN (
    SELECT c.company_id AS company_id, any(g.account) AS account
    FROM (
        SELECT toString(record_id) AS company_id,
            lower(JSONExtractString(values, 'domains', 1, 'domain')) AS domain
        FROM {c}
    ) AS c
    INNER JOIN (
        SELECT lower(coalesce(nullIf(toString(properties.domain), ''), key)) AS domain, key AS account
        FROM groups
        WHERE index = {gi}
    ) AS g ON c.domain = g.domain
    GROUP BY company_id
) AS a ON d.company_id = a.company_id",
                gi = p.group_type_index
            ),
        ),
        None => ("d.beton_key".to_string(), String::new()),
    };
    format!(
        "SELECT d.deal_id AS deal_id,
    {account} AS account_key,
    d.name AS name,
    d.lead_source AS lead_source,
    d.stage AS stage,
    d.value AS value,
    d.created_at AS created_at,
    if(d.stage IN ({won}), d.stage_since, NULL) AS sql_at,
    if(d.stage IN ({closed}), d.stage_since, NULL) AS closed_at,
    d.owner_id AS owner_id
FROM (
    SELECT toString(record_id) AS deal_id,
        JSONExtractString(values, {key}, 1, 'value') AS beton_key,
        JSONExtractString(values, 'associated_company', 1, 'target_record_id') AS company_id,
        JSONExtractString(values, 'name', 1, 'value') AS name,
        coalesce(nullIf(lower(trim(JSONExtractString(values, 'lead_source', 1, 'option', 'title'))), ''), 'unknown') AS lead_source,
        JSONExtractString(values, 'stage', 1, 'status', 'title') AS stage,
        toFloat(replaceAll(JSONExtractRaw(values, 'value', 1, 'currency_value'), '\"', '')) AS value,
        toDateTime(created_at) AS created_at,
        toDateTime(JSONExtractString(values, 'stage', 1, 'active_from')) AS stage_since,
        JSONExtractString(values, 'owner', 1, 'referenced_actor_id') AS owner_id
    FROM {src}
) AS d{join}",
        key = lit(key_attr),
        src = p.attio_table,
    )
}

/// One warehouse table or view as PostHog lists it: its name and column names.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Table {
    pub name: String,
    pub columns: Vec<String>,
    /// Whether it is a saved query (view) rather than a table.
    pub view: bool,
}

fn columns_of(v: &Value) -> Vec<String> {
    v.get("columns")
        .and_then(Value::as_array)
        .map(|cols| {
            cols.iter()
                .filter_map(|c| {
                    c.get("name")
                        .or_else(|| c.get("key"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default()
}

use super::dashboards::urlencode as search;

/// The warehouse table or saved view named exactly `name` (the list's search is a substring
/// match), or None.
pub fn find(client: &Client, name: &str) -> Result<Option<Table>, PosthogError> {
    for (kind, view) in [
        ("warehouse_saved_queries", true),
        ("warehouse_tables", false),
    ] {
        let path = client.project_path(&format!("{kind}/?search={}", search(name)));
        let items = match client.list(&path) {
            Ok(items) => items,
            // Self-hosted without the data warehouse.
            Err(PosthogError::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        if let Some(v) = items.iter().find(|v| {
            v.get("name").and_then(Value::as_str) == Some(name)
                && !v.get("deleted").and_then(Value::as_bool).unwrap_or(false)
        }) {
            return Ok(Some(Table {
                name: name.to_string(),
                columns: columns_of(v),
                view,
            }));
        }
    }
    Ok(None)
}

/// What provisioning did with the deals view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewKind {
    Create,
    Update,
    Unchanged,
    /// `posthog.attio_table` is empty: the deals table is the user's own.
    Own,
    /// No native deals table: nothing to map; `detail` says how to get deals in.
    NoSource,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ViewOutcome {
    pub kind: ViewKind,
    pub name: String,
    pub detail: String,
}

/// Creates or updates the deals view over the native Attio table, idempotently: an existing
/// view of that name with the same query is left alone; one with another query is updated in
/// place (PostHog asks for the view's latest history id with every query change).
pub fn provision_view(
    client: &Client,
    cfg: &Config,
    p: &PosthogSettings,
    dry_run: bool,
) -> Result<ViewOutcome, PosthogError> {
    let out = |kind, detail: String| ViewOutcome {
        kind,
        name: p.deals_table.clone(),
        detail,
    };
    if p.attio_table.is_empty() {
        return Ok(out(
            ViewKind::Own,
            format!(
                "posthog.attio_table is empty: the deal tiles read your table `{}` as it is",
                p.deals_table
            ),
        ));
    }
    let Some(source) = find(client, &p.attio_table)? else {
        return Ok(out(
            ViewKind::NoSource,
            format!(
                "no table `{}` in PostHog's data warehouse: {HOW_TO_GET_DEALS}",
                p.attio_table
            ),
        ));
    };
    let missing: Vec<&str> = SOURCE_COLUMNS
        .iter()
        .copied()
        .filter(|c| !source.columns.iter().any(|have| have == c))
        .collect();
    if !missing.is_empty() {
        return Err(PosthogError::Setup(format!(
            "the table `{}` is not in the shape of PostHog's Attio source (no {}); set posthog.attio_table to the \
             Attio deals table, or to \"\" when posthog.deals_table is a table of your own in SPEC §1 columns",
            p.attio_table,
            missing.join(", ")
        )));
    }
    let companies = match companies_table(&p.attio_table) {
        Some(c) => find(client, &c)?
            .filter(|t| {
                ["record_id", "values"]
                    .iter()
                    .all(|k| t.columns.iter().any(|h| h == k))
            })
            .map(|t| t.name),
        None => None,
    };
    let sql = view_sql(cfg, p, companies.as_deref());
    let note = if companies.is_some() {
        String::new()
    } else {
        format!(
            " (no `{}` table: only deals carrying Beton's account key are matched to accounts; sync Attio's \
             `companies` schema too to match the others by domain)",
            companies_table(&p.attio_table).unwrap_or_else(|| "companies".into())
        )
    };
    let list_path = client.project_path(&format!(
        "warehouse_saved_queries/?search={}",
        search(&p.deals_table)
    ));
    let existing = client
        .list(&list_path)?
        .into_iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(p.deals_table.as_str()));
    let body = json!({"name": p.deals_table, "query": {"kind": "HogQLQuery", "query": sql}});
    match existing.and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_string)) {
        Some(id) => {
            let path = client.project_path(&format!("warehouse_saved_queries/{id}/"));
            let live = client.get(&path)?;
            let same = live.pointer("/query/query").and_then(Value::as_str) == Some(sql.as_str());
            if same {
                return Ok(out(
                    ViewKind::Unchanged,
                    format!("view over `{}`{note}", p.attio_table),
                ));
            }
            if !dry_run {
                let mut patch = json!({"query": body["query"]});
                patch["edited_history_id"] = live
                    .get("latest_history_id")
                    .cloned()
                    .unwrap_or(Value::Null);
                client.patch(&path, &patch)?;
            }
            Ok(out(
                ViewKind::Update,
                format!("view over `{}`: its query changed{note}", p.attio_table),
            ))
        }
        None => {
            if !dry_run {
                client
                    .post(&client.project_path("warehouse_saved_queries/"), &body)
                    .map_err(|e| match e {
                        PosthogError::Http { status: 400, detail, .. } => PosthogError::Setup(format!(
                            "PostHog refused the view `{}` ({detail}); if a table of yours has that name, set \
                             posthog.deals_table to another name",
                            p.deals_table
                        )),
                        e => e,
                    })?;
            }
            Ok(out(
                ViewKind::Create,
                format!("view over `{}`{note}", p.attio_table),
            ))
        }
    }
}

/// The doctor's check of the deals table: present, and with every column the tiles read.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DealsCheck {
    pub table: String,
    pub exists: bool,
    /// Tile columns the table lacks.
    pub missing: Vec<String>,
    /// Whether the native Attio table exists (None when `attio_table` is empty).
    pub attio_source: Option<bool>,
    /// Why the check could not be made (e.g. the key lacks the warehouse scopes).
    pub error: Option<String>,
}

impl DealsCheck {
    pub fn ok(&self) -> bool {
        self.exists && self.missing.is_empty()
    }

    /// What is wrong and what fixes it; empty when nothing is.
    pub fn advice(&self) -> String {
        if self.ok() {
            return String::new();
        }
        if let Some(e) = &self.error {
            return format!(
                "could not read the data warehouse ({e}); the key needs warehouse_table:read and warehouse_view:read"
            );
        }
        match (self.exists, self.attio_source) {
            (true, _) => format!(
                "`{}` lacks {} that the deal tiles read; run `beton provision` (it rewrites Beton's view), or add them to your table",
                self.table,
                self.missing.join(", ")
            ),
            (false, Some(true)) => format!(
                "no `{}` yet: run `beton provision` to create the view over PostHog's Attio table",
                self.table
            ),
            _ => HOW_TO_GET_DEALS.to_string(),
        }
    }
}

/// Checks the deals table's columns through the warehouse APIs (no query is spent).
pub fn check_deals(client: &Client, p: &PosthogSettings) -> Result<DealsCheck, PosthogError> {
    let table = find(client, &p.deals_table)?;
    let attio_source = if p.attio_table.is_empty() {
        None
    } else {
        Some(find(client, &p.attio_table)?.is_some())
    };
    let (exists, missing) = match &table {
        Some(t) => (
            true,
            TILE_COLUMNS
                .iter()
                .filter(|c| !t.columns.iter().any(|h| h == *c))
                .map(|c| c.to_string())
                .collect(),
        ),
        None => (false, TILE_COLUMNS.iter().map(|c| c.to_string()).collect()),
    };
    Ok(DealsCheck {
        table: p.deals_table.clone(),
        exists,
        missing,
        attio_source,
        error: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_gives_every_spec_column_the_tiles_read_and_reads_only_raw_columns() {
        let cfg = Config::default();
        let p = PosthogSettings::default();
        for companies in [None, Some("attio_companies")] {
            let sql = view_sql(&cfg, &p, companies);
            for c in TILE_COLUMNS.iter().chain(&["deal_id"]) {
                assert!(
                    sql.contains(&format!(" AS {c},")) || sql.contains(&format!(" AS {c}\n")),
                    "{c}: {sql}"
                );
            }
            assert!(sql.contains("FROM attio_deals"), "{sql}");
            assert!(!sql.contains('{'), "views may not use placeholders: {sql}");
            assert_eq!(sql.contains("attio_companies"), companies.is_some());
        }
    }

    #[test]
    fn stage_lists_and_the_match_attribute_come_from_the_config_escaped() {
        let mut cfg = Config::default();
        cfg.deals.won_stages = vec!["Closed 'won'".into()];
        let sql = view_sql(&cfg, &PosthogSettings::default(), None);
        assert!(sql.contains("IN ('Closed \\'won\\'')"), "{sql}");
        assert!(sql.contains("'beton_account_key', 1, 'value'"), "{sql}");
    }

    #[test]
    fn companies_share_the_deals_table_prefix() {
        assert_eq!(
            companies_table("attio_deals").as_deref(),
            Some("attio_companies")
        );
        assert_eq!(
            companies_table("prod_attio_deals").as_deref(),
            Some("prod_attio_companies")
        );
        assert_eq!(companies_table("crm"), None);
    }
}
