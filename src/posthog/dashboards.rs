//! The four dashboards as data (`assets/dashboards.toml`) and their provisioning: idempotent,
//! in a "Beton Signals" folder under a Beton tag, tiles updated in place when their version
//! changes, a dashboard the user deleted reported and left alone, and a registry in SQLite.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::PosthogError;
use super::client::Client;
use super::doctor::Sources;
use crate::config::PosthogSettings;
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
    #[serde(default)]
    pub needs: Vec<String>,
    pub query: String,
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
        "deals" => {
            format!("connect your CRM deals to the PostHog data warehouse as table `{deals_table}`")
        }
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

fn insight_body(t: &TileDef, p: &PosthogSettings, sources: Option<&Sources>) -> Value {
    json!({
        "name": t.name,
        "description": tile_description(t, p, sources),
        "query": {
            "kind": "DataVisualizationNode",
            "source": {"kind": "HogQLQuery", "query": tile_query(t, p)},
            "display": t.display,
        },
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
    pub actions: Vec<Action>,
}

impl Outcome {
    pub fn count(&self, kind: ActionKind) -> usize {
        self.actions.iter().filter(|a| a.kind == kind).count()
    }

    pub fn summary(&self) -> String {
        format!(
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

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Creates or updates the dashboards and tiles of `defs`. With `dry_run` it only reads and
/// says what it would do. `sources` (from `beton doctor`) decides the missing-data notes.
pub fn provision(
    client: &Client,
    store: &Store,
    p: &PosthogSettings,
    defs: &Definitions,
    sources: Option<&Sources>,
    dry_run: bool,
) -> Result<Outcome, PosthogError> {
    let project = client.project_id();
    let db = |e: crate::Error| PosthogError::Setup(format!("dashboard registry: {e}"));
    let mut out = Outcome {
        dry_run,
        folder: ensure_folder(client, &p.folder, dry_run)?,
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
    fn missing_sources_add_a_note() {
        let d = Definitions::builtin().unwrap();
        let p = PosthogSettings::default();
        let t = d.tiles.iter().find(|t| t.needs == ["deals"]).unwrap();
        let none = Sources::default();
        let desc = tile_description(t, &p, Some(&none));
        assert!(
            desc.contains("attio_deals") && desc.contains("No data yet"),
            "{desc}"
        );
        let with = Sources {
            deals: Some(3),
            ..Default::default()
        };
        assert!(!tile_description(t, &p, Some(&with)).contains("No data yet"));
    }
}
