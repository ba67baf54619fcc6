//! The four dashboards as data (`assets/dashboards.toml`) and their provisioning: idempotent,
//! in a "Beton Signals" folder under a Beton tag, tiles updated in place when their version
//! changes, a dashboard the user deleted reported and left alone, and a registry in SQLite.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::PosthogError;
use super::client::Client;
use super::doctor::Sources;
use super::warehouse;
use crate::config::{Config, PosthogSettings};
use crate::store::Store;

pub const DEFINITIONS: &str = include_str!("../../assets/dashboards.toml");

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardDef {
    pub key: String,
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TileDef {
    pub key: String,
    pub dashboard: String,
    pub version: u32,
    pub name: String,
    pub display: String,
    /// The column on the x axis (a chart) — PostHog's SQL charts take only a date column as the
    /// x axis on their own, so every chart names it.
    #[serde(default)]
    pub x: Option<String>,
    /// The value columns (y axes of a chart, the number of a BoldNumber).
    #[serde(default)]
    pub y: Vec<String>,
    /// The column splitting one y column into a line per value (`seriesBreakdownColumn`).
    #[serde(default)]
    pub series: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    pub query: String,
}

/// PostHog's chart displays for SQL insights (`ChartDisplayType`) that plot an x axis.
pub const CHARTS: [&str; 6] = [
    "ActionsLineGraph",
    "ActionsBar",
    "ActionsStackedBar",
    "ActionsAreaGraph",
    "ActionsPie",
    "ActionsBarValue",
];

impl TileDef {
    /// The `chartSettings` of the tile's `DataVisualizationNode` (PostHog's `ChartSettings`:
    /// `xAxis`, `yAxis`, `seriesBreakdownColumn`), or None for a table.
    pub fn chart_settings(&self) -> Option<Value> {
        if self.y.is_empty() {
            return None;
        }
        let y: Vec<Value> = self
            .y
            .iter()
            .map(|c| json!({"column": c, "settings": {"formatting": {"prefix": "", "suffix": ""}}}))
            .collect();
        let mut v = json!({"yAxis": y});
        if let Some(x) = &self.x {
            v["xAxis"] = json!({"column": x});
        }
        if let Some(series) = &self.series {
            v["seriesBreakdownColumn"] = json!(series);
            v["showLegend"] = json!(true);
        }
        Some(v)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Definitions {
    #[serde(rename = "dashboard")]
    pub dashboards: Vec<DashboardDef>,
    #[serde(rename = "tile")]
    pub tiles: Vec<TileDef>,
}

impl Definitions {
    pub fn parse(text: &str) -> Result<Self, PosthogError> {
        let d: Self = toml::from_str(text)
            .map_err(|e| PosthogError::Setup(format!("dashboard definitions: {}", e.message())))?;
        for t in &d.tiles {
            if !d.dashboards.iter().any(|b| b.key == t.dashboard) {
                return Err(PosthogError::Setup(format!(
                    "tile {} names unknown dashboard {}",
                    t.key, t.dashboard
                )));
            }
            let chart = CHARTS.contains(&t.display.as_str());
            let fail = |why: &str| Err(PosthogError::Setup(format!("tile {}: {why}", t.key)));
            if chart && (t.x.is_none() || t.y.is_empty()) {
                return fail("a chart needs `x` and `y` columns");
            }
            if t.display == "BoldNumber" && t.y.len() != 1 {
                return fail("a BoldNumber needs one `y` column");
            }
            if !chart && t.display != "BoldNumber" && (t.x.is_some() || !t.y.is_empty()) {
                return fail("only charts and BoldNumbers take `x` and `y`");
            }
        }
        Ok(d)
    }

    pub fn builtin() -> Result<Self, PosthogError> {
        Self::parse(DEFINITIONS)
    }
}

/// What to connect for each data source a tile may need.
pub fn need_note(need: &str, deals_table: &str) -> String {
    match need {
        "features" => "send `feature_used` events with a `feature` property".into(),
        "support" => "connect Intercom (or send support_ticket_created events)".into(),
        "billing" => "connect Stripe (or send checkout_started / upgrade_clicked events)".into(),
        "deals" => format!(
            "no deals table `{deals_table}` with the SPEC §1 columns: {}",
            warehouse::HOW_TO_GET_DEALS
        ),
        other => format!("provide {other}"),
    }
}

/// The tile's HogQL with the tokens replaced.
pub fn tile_query(t: &TileDef, p: &PosthogSettings) -> String {
    t.query
        .trim()
        .replace("__GROUP__", &format!("$group_{}", p.group_type_index))
        .replace("__DEALS__", &p.deals_table)
}

/// The names of the columns a query returns: the items of its outermost SELECT list, each its
/// alias (`… AS name`) or, for a bare column, the column's name.
pub fn output_columns(sql: &str) -> Vec<String> {
    // The outermost SELECT list: from the first SELECT to the FROM at parenthesis depth 0.
    let upper = sql.to_ascii_uppercase();
    let Some(start) = upper.find("SELECT") else {
        return Vec::new();
    };
    let body = &sql[start + 6..];
    let mut depth = 0i32;
    let mut items = vec![String::new()];
    let mut quoted = false;
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            quoted = !quoted;
        } else if !quoted {
            match c {
                '(' | '[' => depth += 1,
                ')' | ']' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(String::new());
                    i += 1;
                    continue;
                }
                _ => {}
            }
            let rest: String = chars[i..].iter().take(6).collect();
            if depth == 0
                && rest.to_ascii_uppercase().starts_with("FROM")
                && rest.chars().nth(4).is_none_or(|c| c.is_whitespace())
                && i > 0
                && chars[i - 1].is_whitespace()
            {
                break;
            }
        }
        if let Some(last) = items.last_mut() {
            last.push(c);
        }
        i += 1;
    }
    items
        .iter()
        .map(|item| {
            let item = item.trim();
            let words: Vec<&str> = item.split_whitespace().collect();
            match words.as_slice() {
                [.., as_, name] if as_.eq_ignore_ascii_case("AS") => name.to_string(),
                _ => item.rsplit('.').next().unwrap_or(item).to_string(),
            }
        })
        .filter(|c| !c.is_empty())
        .collect()
}

fn marker(t: &TileDef) -> String {
    format!("beton:tile={} v{}", t.key, t.version)
}

/// The insight description: the missing-data note if any, then Beton's marker.
pub fn tile_description(t: &TileDef, p: &PosthogSettings, sources: Option<&Sources>) -> String {
    let missing: Vec<String> = t
        .needs
        .iter()
        .filter(|n| sources.is_some_and(|s| !s.has(n)))
        .map(|n| need_note(n, &p.deals_table))
        .collect();
    let mut d = String::new();
    if !missing.is_empty() {
        d.push_str(&format!("No data yet: {}. ", missing.join("; ")));
    }
    d.push_str("Managed by Beton; edits are overwritten. ");
    d.push_str(&marker(t));
    d
}

/// The insight's `query`: a `DataVisualizationNode` with the chart settings PostHog needs.
pub fn insight_query(t: &TileDef, p: &PosthogSettings) -> Value {
    let mut q = json!({
        "kind": "DataVisualizationNode",
        "source": {"kind": "HogQLQuery", "query": tile_query(t, p)},
        "display": t.display,
    });
    if let Some(c) = t.chart_settings() {
        q["chartSettings"] = c;
    }
    q
}

fn insight_body(t: &TileDef, p: &PosthogSettings, sources: Option<&Sources>) -> Value {
    json!({
        "name": t.name,
        "description": tile_description(t, p, sources),
        "query": insight_query(t, p),
        "tags": [p.tag],
        "saved": true,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Create,
    Update,
    Unchanged,
    /// Found in PostHog (by tag and exact name, or marker) and taken into the registry.
    Adopt,
    /// Deleted by a user in PostHog; reported, not recreated.
    Deleted,
    /// Skipped because its dashboard was deleted.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    pub kind: ActionKind,
    /// `dashboard` or `tile`.
    pub what: &'static str,
    pub key: String,
    pub name: String,
    pub detail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Outcome {
    pub dry_run: bool,
    pub folder: String,
    /// The deals view over PostHog's Attio table (None when provisioning stopped before it).
    pub deals_view: Option<warehouse::ViewOutcome>,
    pub actions: Vec<Action>,
}

impl Outcome {
    pub fn count(&self, kind: ActionKind) -> usize {
        self.actions.iter().filter(|a| a.kind == kind).count()
    }

    pub fn summary(&self) -> String {
        let view = self.deals_view.as_ref().map_or(String::new(), |v| {
            let what = match v.kind {
                warehouse::ViewKind::Create => "created",
                warehouse::ViewKind::Update => "updated",
                warehouse::ViewKind::Unchanged => "unchanged",
                warehouse::ViewKind::Own => "not needed (your own table)",
                warehouse::ViewKind::NoSource => "not made (no Attio table in PostHog)",
            };
            format!("deals view `{}` {what}; ", v.name)
        });
        view + &format!(
            "{} created, {} updated, {} unchanged, {} adopted, {} deleted in PostHog (not recreated), {} skipped",
            self.count(ActionKind::Create),
            self.count(ActionKind::Update),
            self.count(ActionKind::Unchanged),
            self.count(ActionKind::Adopt),
            self.count(ActionKind::Deleted),
            self.count(ActionKind::Skipped)
        )
    }
}

fn id_of(v: &Value) -> Option<i64> {
    v.get("id").and_then(Value::as_i64)
}

fn is_deleted(v: &Value) -> bool {
    v.get("deleted").and_then(Value::as_bool).unwrap_or(false)
}

/// Fetches one object; `None` when it is gone (404) or soft-deleted.
fn live(client: &Client, path: &str) -> Result<Option<Value>, PosthogError> {
    match client.get(path) {
        Ok(v) if is_deleted(&v) => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(PosthogError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Makes sure the folder exists; returns a note when the project has no folders API.
fn ensure_folder(client: &Client, folder: &str, dry_run: bool) -> Result<String, PosthogError> {
    let path = client.project_path(&format!("file_system/?path={}", urlencode(folder)));
    match client.list(&path) {
        Ok(items)
            if items
                .iter()
                .any(|i| i.get("path").and_then(Value::as_str) == Some(folder)) =>
        {
            Ok(format!("folder \"{folder}\" exists"))
        }
        Ok(_) if dry_run => Ok(format!("folder \"{folder}\" would be created")),
        Ok(_) => {
            client.post(
                &client.project_path("file_system/"),
                &json!({"path": folder, "type": "folder"}),
            )?;
            Ok(format!("folder \"{folder}\" created"))
        }
        Err(PosthogError::NotFound { .. }) => {
            Ok("this PostHog has no project folders; dashboards are found by their tag".into())
        }
        Err(e) => Err(e),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub(crate) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Creates or updates the deals view, then the dashboards and tiles of `defs`. With `dry_run`
/// it only reads and says what it would do. `sources` (from `beton doctor`) decides the
/// missing-data notes; the deals check in it is redone after the view is provisioned.
pub fn provision(
    client: &Client,
    store: &Store,
    cfg: &Config,
    defs: &Definitions,
    sources: Option<&Sources>,
    dry_run: bool,
) -> Result<Outcome, PosthogError> {
    let p = super::settings(cfg)?;
    let project = client.project_id();
    let db = |e: crate::Error| PosthogError::Setup(format!("dashboard registry: {e}"));
    let view = warehouse::provision_view(client, cfg, p, dry_run)?;
    let mut sources = sources.cloned();
    if let Some(s) = sources.as_mut()
        && matches!(
            view.kind,
            warehouse::ViewKind::Create | warehouse::ViewKind::Update
        )
    {
        s.deals = Some(if dry_run {
            warehouse::DealsCheck {
                table: p.deals_table.clone(),
                exists: true,
                ..Default::default()
            }
        } else {
            warehouse::check_deals(client, p)?
        });
    }
    let sources = sources.as_ref();
    let mut out = Outcome {
        dry_run,
        folder: ensure_folder(client, &p.folder, dry_run)?,
        deals_view: Some(view),
        actions: Vec::new(),
    };
    let reg_dash: BTreeMap<String, i64> = store
        .provisioned_dashboards(project)
        .map_err(db)?
        .into_iter()
        .map(|d| (d.key, d.id))
        .collect();
    let reg_tiles: BTreeMap<String, (i64, u32)> = store
        .provisioned_tiles(project)
        .map_err(db)?
        .into_iter()
        .map(|t| (t.key, (t.id, t.version)))
        .collect();
    let mut tagged_dash: Option<Vec<Value>> = None;
    let mut tagged_insights: Option<Vec<Value>> = None;

    // Dashboards: registered and alive, registered and deleted, found by tag + name, or new.
    let mut dash_ids: BTreeMap<String, Option<i64>> = BTreeMap::new();
    for d in &defs.dashboards {
        let act = |kind, detail: &str| Action {
            kind,
            what: "dashboard",
            key: d.key.clone(),
            name: d.name.clone(),
            detail: detail.to_string(),
        };
        if let Some(&id) = reg_dash.get(&d.key) {
            match live(client, &client.project_path(&format!("dashboards/{id}/")))? {
                Some(v) => {
                    let same = v.get("name").and_then(Value::as_str) == Some(d.name.as_str())
                        && v.get("description").and_then(Value::as_str)
                            == Some(d.description.as_str());
                    if same {
                        out.actions
                            .push(act(ActionKind::Unchanged, &format!("id {id}")));
                    } else {
                        if !dry_run {
                            client.patch(
                                &client.project_path(&format!("dashboards/{id}/")),
                                &json!({"name": d.name, "description": d.description}),
                            )?;
                            store
                                .record_dashboard(project, &d.key, id, &d.name)
                                .map_err(db)?;
                        }
                        out.actions.push(act(
                            ActionKind::Update,
                            &format!("id {id}: name or description"),
                        ));
                    }
                    dash_ids.insert(d.key.clone(), Some(id));
                }
                None => {
                    out.actions.push(act(
                        ActionKind::Deleted,
                        &format!("dashboard {id} was deleted in PostHog; not recreated (`beton provision --recreate` brings it back)"),
                    ));
                    dash_ids.insert(d.key.clone(), None);
                }
            }
            continue;
        }
        let tagged =
            match &tagged_dash {
                Some(t) => t,
                None => tagged_dash.insert(client.list(
                    &client.project_path(&format!("dashboards/?tags={}", urlencode(&p.tag))),
                )?),
            };
        let found = tagged
            .iter()
            .find(|v| {
                v.get("name").and_then(Value::as_str) == Some(d.name.as_str()) && !is_deleted(v)
            })
            .and_then(id_of);
        if let Some(id) = found {
            if !dry_run {
                store
                    .record_dashboard(project, &d.key, id, &d.name)
                    .map_err(db)?;
            }
            out.actions.push(act(
                ActionKind::Adopt,
                &format!("id {id}, found by tag and name"),
            ));
            dash_ids.insert(d.key.clone(), Some(id));
            continue;
        }
        if dry_run {
            out.actions.push(act(ActionKind::Create, "new"));
            dash_ids.insert(d.key.clone(), Some(0));
            continue;
        }
        let v = client.post(
            &client.project_path("dashboards/"),
            &json!({"name": d.name, "description": d.description, "pinned": false, "tags": [p.tag],
                    "_create_in_folder": p.folder}),
        )?;
        let id = id_of(&v).ok_or_else(|| PosthogError::BadResponse {
            what: "dashboard create".into(),
            message: "no `id` in the answer".into(),
        })?;
        store
            .record_dashboard(project, &d.key, id, &d.name)
            .map_err(db)?;
        out.actions
            .push(act(ActionKind::Create, &format!("id {id}")));
        dash_ids.insert(d.key.clone(), Some(id));
    }

    // Tiles.
    for t in &defs.tiles {
        let act = |kind, detail: String| Action {
            kind,
            what: "tile",
            key: t.key.clone(),
            name: t.name.clone(),
            detail,
        };
        let Some(Some(dash)) = dash_ids.get(&t.dashboard).copied() else {
            out.actions.push(act(
                ActionKind::Skipped,
                format!("its dashboard {} was deleted", t.dashboard),
            ));
            continue;
        };
        let body = insight_body(t, p, sources);
        let want_desc = body["description"].as_str().unwrap_or("").to_string();
        let mut existing: Option<(i64, Option<u32>, Value)> = None;
        if let Some(&(id, version)) = reg_tiles.get(&t.key) {
            match live(client, &client.project_path(&format!("insights/{id}/")))? {
                Some(v) => existing = Some((id, Some(version), v)),
                None => {
                    out.actions.push(act(
                        ActionKind::Deleted,
                        format!("insight {id} was deleted in PostHog; not recreated (`beton provision --recreate` brings it back)"),
                    ));
                    continue;
                }
            }
        } else {
            let tagged = match &tagged_insights {
                Some(t) => t,
                None => {
                    let tags = format!("[\"{}\"]", p.tag.replace('"', ""));
                    tagged_insights.insert(client.list(&client.project_path(&format!(
                        "insights/?basic=true&tags={}",
                        urlencode(&tags)
                    )))?)
                }
            };
            let prefix = format!("beton:tile={} v", t.key);
            if let Some(v) = tagged.iter().find(|v| {
                !is_deleted(v)
                    && v.get("description")
                        .and_then(Value::as_str)
                        .is_some_and(|d| d.contains(&prefix))
            }) && let Some(id) = id_of(v)
            {
                existing = Some((id, None, v.clone()));
            }
        }
        match existing {
            Some((id, version, v)) => {
                let live_desc = v.get("description").and_then(Value::as_str).unwrap_or("");
                let attached = v
                    .get("dashboards")
                    .and_then(Value::as_array)
                    .is_none_or(|a| a.iter().any(|x| x.as_i64() == Some(dash)));
                let current = attached
                    && live_desc == want_desc
                    && version.is_none_or(|ver| ver == t.version);
                if current {
                    if version.is_none() && !dry_run {
                        store
                            .record_tile(project, &t.key, &t.dashboard, id, t.version)
                            .map_err(db)?;
                    }
                    let kind = if version.is_none() {
                        ActionKind::Adopt
                    } else {
                        ActionKind::Unchanged
                    };
                    out.actions
                        .push(act(kind, format!("insight {id} v{}", t.version)));
                    continue;
                }
                if !dry_run {
                    let mut body = body;
                    if !attached {
                        body["dashboards"] = json!([dash]);
                    }
                    client.patch(&client.project_path(&format!("insights/{id}/")), &body)?;
                    store
                        .record_tile(project, &t.key, &t.dashboard, id, t.version)
                        .map_err(db)?;
                }
                let from = version.map_or_else(
                    || "an unregistered version".to_string(),
                    |v| format!("v{v}"),
                );
                out.actions.push(act(
                    ActionKind::Update,
                    format!("insight {id}: {from} → v{}", t.version),
                ));
            }
            None if dry_run => out
                .actions
                .push(act(ActionKind::Create, format!("v{}", t.version))),
            None => {
                let mut body = body;
                body["dashboards"] = json!([dash]);
                body["_create_in_folder"] = json!(p.folder);
                let v = client.post(&client.project_path("insights/"), &body)?;
                let id = id_of(&v).ok_or_else(|| PosthogError::BadResponse {
                    what: "insight create".into(),
                    message: "no `id` in the answer".into(),
                })?;
                store
                    .record_tile(project, &t.key, &t.dashboard, id, t.version)
                    .map_err(db)?;
                out.actions.push(act(
                    ActionKind::Create,
                    format!("insight {id} v{}", t.version),
                ));
            }
        }
    }
    Ok(out)
}

/// Forgets the registry entries of dashboards and tiles deleted in PostHog, so the next
/// provisioning recreates them.
pub fn forget_deleted(
    store: &Store,
    project: u64,
    outcome: &Outcome,
) -> Result<usize, PosthogError> {
    let keys: Vec<(&str, &str)> = outcome
        .actions
        .iter()
        .filter(|a| matches!(a.kind, ActionKind::Deleted | ActionKind::Skipped))
        .map(|a| (a.what, a.key.as_str()))
        .collect();
    for (what, key) in &keys {
        store
            .forget_provisioned(project, what, key)
            .map_err(|e| PosthogError::Setup(format!("dashboard registry: {e}")))?;
    }
    Ok(keys.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_definitions_are_four_dashboards_and_about_two_dozen_tiles() {
        let d = Definitions::builtin().unwrap();
        let names: Vec<&str> = d.dashboards.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Signal Overview",
                "Account Health",
                "PQL Performance",
                "Backtesting"
            ]
        );
        assert!((22..=28).contains(&d.tiles.len()), "{}", d.tiles.len());
        let mut keys: Vec<&str> = d.tiles.iter().map(|t| t.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), d.tiles.len(), "tile keys must be unique");
        for b in &d.dashboards {
            assert!(
                d.tiles.iter().filter(|t| t.dashboard == b.key).count() >= 5,
                "{}",
                b.key
            );
        }
        let p = PosthogSettings {
            group_type_index: 3,
            ..Default::default()
        };
        for t in &d.tiles {
            let q = tile_query(t, &p);
            assert!(!q.contains("__"), "{}: {q}", t.key);
            assert!(
                q.contains("LIMIT") || !q.contains("GROUP BY") || q.contains("FROM ("),
                "{} has no LIMIT",
                t.key
            );
        }
    }

    #[test]
    fn every_chart_names_columns_its_query_returns() {
        let d = Definitions::builtin().unwrap();
        let p = PosthogSettings::default();
        let mut charts = 0;
        for t in &d.tiles {
            let cols = output_columns(&tile_query(t, &p));
            assert!(!cols.is_empty(), "{}", t.key);
            let named = t.x.iter().chain(&t.y).chain(&t.series);
            for c in named {
                assert!(cols.contains(c), "{}: `{c}` is not among {cols:?}", t.key);
            }
            let q = insight_query(t, &p);
            if CHARTS.contains(&t.display.as_str()) {
                charts += 1;
                let x = q
                    .pointer("/chartSettings/xAxis/column")
                    .and_then(Value::as_str);
                assert_eq!(x, t.x.as_deref(), "{}", t.key);
                let y = q["chartSettings"]["yAxis"].as_array().unwrap();
                assert_eq!(y.len(), t.y.len(), "{}", t.key);
            }
            // Per-row values are bars: ActionsBarValue would add every row's value up.
            assert_ne!(t.display, "ActionsBarValue", "{}", t.key);
            if t.display == "ActionsTable" {
                assert!(q.get("chartSettings").is_none(), "{}", t.key);
            }
        }
        assert!(charts >= 10, "{charts}");
        let series: Vec<&str> = d.tiles.iter().filter_map(|t| t.series.as_deref()).collect();
        assert_eq!(
            series,
            ["source"],
            "the win rate per quarter has a line per source"
        );
    }

    #[test]
    fn output_columns_reads_aliases_and_bare_columns() {
        assert_eq!(
            output_columns(
                "SELECT a, count() AS n, f(x, y) AS `z`, t.b FROM (SELECT 1 AS q FROM e)"
            ),
            ["a", "n", "`z`", "b"]
        );
        assert_eq!(output_columns("SELECT 'from, x' AS s FROM t"), ["s"]);
    }

    #[test]
    fn the_deal_tiles_read_exactly_the_columns_the_doctor_checks() {
        let d = Definitions::builtin().unwrap();
        let spec = [
            "deal_id",
            "account_key",
            "name",
            "lead_source",
            "stage",
            "value",
            "created_at",
            "sql_at",
            "closed_at",
            "owner_email",
        ];
        let mut read: Vec<&str> = spec
            .iter()
            .copied()
            .filter(|c| {
                d.tiles
                    .iter()
                    .filter(|t| t.query.contains("__DEALS__"))
                    .any(|t| {
                        t.query
                            .split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                            .any(|w| w == *c)
                    })
            })
            .collect();
        read.sort_unstable();
        let mut checked = warehouse::TILE_COLUMNS.to_vec();
        checked.sort_unstable();
        assert_eq!(read, checked);
    }

    #[test]
    fn missing_sources_add_a_note() {
        let d = Definitions::builtin().unwrap();
        let p = PosthogSettings::default();
        let t = d.tiles.iter().find(|t| t.needs == ["deals"]).unwrap();
        let none = Sources::default();
        let desc = tile_description(t, &p, Some(&none));
        assert!(
            desc.contains("beton_deals") && desc.contains("No data yet"),
            "{desc}"
        );
        let with = Sources {
            deals: Some(warehouse::DealsCheck {
                table: "beton_deals".into(),
                exists: true,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(!tile_description(t, &p, Some(&with)).contains("No data yet"));
    }
}
