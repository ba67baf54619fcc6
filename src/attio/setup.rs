//! `beton connect attio` (check the key with `GET /v2/self`) and `beton attio setup` (make sure
//! the deal attributes, select options, stage and list the sync uses exist).

use serde::Serialize;
use serde_json::{Value, json};

use super::client::{ApiError, Client};
use crate::config::AttioSettings;

/// The scopes the sync needs, and why (docs/ATTIO.md lists them for admins).
pub const SCOPES: &[(&str, &str)] = &[
    (
        "record_permission:read-write",
        "find and create companies, assert deals",
    ),
    (
        "object_configuration:read-write",
        "`beton attio setup` creates deal attributes and options",
    ),
    ("note:read-write", "handoff notes on deals"),
    ("task:read-write", "follow-up tasks"),
    (
        "user_management:read",
        "deal owners and task assignees from workspace members",
    ),
    ("list_entry:read-write", "adding companies to the PQL list"),
    ("list_configuration:read", "finding the PQL list"),
];

/// What `GET /v2/self` said about the key.
#[derive(Debug, Clone, Serialize)]
pub struct Connection {
    pub workspace_name: String,
    pub workspace_slug: String,
    pub scopes: Vec<String>,
    /// Needed scopes the key lacks.
    pub missing: Vec<String>,
}

/// True when `granted` includes `need` (a `:read-write` scope includes `:read`).
fn has_scope(granted: &[String], need: &str) -> bool {
    granted.iter().any(|g| {
        g == need
            || need
                .strip_suffix(":read")
                .is_some_and(|base| g.as_str() == format!("{base}:read-write"))
    })
}

/// Checks the key: it must be active. Lists the needed scopes it lacks.
pub fn check_key(client: &Client, needs_list: bool) -> Result<Connection, String> {
    let me = client.get("/v2/self", &[]).map_err(|e| e.to_string())?;
    if me.get("active").and_then(Value::as_bool) != Some(true) {
        return Err(
            "Attio says this API key is not active (revoked or expired); create a new one under \
                    Workspace settings → Developers"
                .into(),
        );
    }
    let text = |k: &str| me.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let scopes: Vec<String> = text("scope")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let missing = SCOPES
        .iter()
        .filter(|(s, _)| needs_list || !s.starts_with("list_"))
        .filter(|(s, _)| !has_scope(&scopes, s))
        .map(|(s, why)| format!("{s} ({why})"))
        .collect();
    Ok(Connection {
        workspace_name: text("workspace_name"),
        workspace_slug: text("workspace_slug"),
        scopes,
        missing,
    })
}

/// One thing `setup` looked at and what it did about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetupLine {
    pub what: String,
    /// "exists", "created", "would create", or "missing" (something Beton cannot create).
    pub outcome: String,
}

/// The options of the `lead_source` select.
pub const LEAD_SOURCES: [&str; 4] = ["pql", "inbound", "outbound", "partner"];

const ATTRS: &str = "/v2/objects/deals/attributes";

struct Wanted {
    slug: String,
    title: &'static str,
    kind: &'static str,
    unique: bool,
    description: &'static str,
}

/// Makes sure what the sync writes exists in the workspace; creates only what is missing
/// (nothing with `dry_run`). A setup problem Beton cannot fix is an `Err` naming it.
pub fn setup(client: &Client, s: &AttioSettings, dry_run: bool) -> Result<Vec<SetupLine>, String> {
    let api = |e: ApiError| e.to_string();
    let mut lines = Vec::new();
    let mut line = |what: String, outcome: &str| {
        lines.push(SetupLine {
            what,
            outcome: outcome.into(),
        })
    };
    let existing = client
        .get(ATTRS, &[("show_archived", "false".into())])
        .map_err(api)?;
    let existing = existing
        .get("data")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let find = |slug: &str| {
        existing
            .iter()
            .find(|a| a.get("api_slug").and_then(Value::as_str) == Some(slug))
    };
    let wanted = [
        Wanted {
            slug: s.match_attribute.clone(),
            title: "Beton account key",
            kind: "text",
            unique: true,
            description: "The Beton account (PostHog group key) of this PQL deal; Beton matches deals on it.",
        },
        Wanted {
            slug: "lead_source".into(),
            title: "Lead source",
            kind: "select",
            unique: false,
            description: "Where the deal came from: pql, inbound, outbound or partner.",
        },
        Wanted {
            slug: "pql_score".into(),
            title: "PQL score",
            kind: "number",
            unique: false,
            description: "Beton's product-qualified-lead score, 0-100.",
        },
        Wanted {
            slug: "pql_signals".into(),
            title: "PQL signals",
            kind: "text",
            unique: false,
            description: "The product signals behind the PQL score.",
        },
    ];
    for w in &wanted {
        match find(&w.slug) {
            Some(a) => {
                let kind = a.get("type").and_then(Value::as_str).unwrap_or("?");
                let unique = a.get("is_unique").and_then(Value::as_bool).unwrap_or(false);
                if kind != w.kind || (w.unique && !unique) {
                    return Err(format!(
                        "the deal attribute `{}` exists but is {}{kind}, not {}{}; rename it in Attio or set \
                         another slug (attio.match_attribute)",
                        w.slug,
                        if unique { "unique " } else { "" },
                        if w.unique { "unique " } else { "" },
                        w.kind
                    ));
                }
                line(
                    format!(
                        "deal attribute `{}` ({}{})",
                        w.slug,
                        if w.unique { "unique " } else { "" },
                        w.kind
                    ),
                    "exists",
                );
            }
            None if dry_run => line(
                format!("deal attribute `{}` ({})", w.slug, w.kind),
                "would create",
            ),
            None => {
                let body = json!({"data": {
                    "title": w.title, "description": w.description, "api_slug": w.slug, "type": w.kind,
                    "is_required": false, "is_unique": w.unique, "is_multiselect": false, "config": {}
                }});
                match client.send(super::client::Method::Post, ATTRS, &[], Some(&body)) {
                    Ok(_) => line(
                        format!("deal attribute `{}` ({})", w.slug, w.kind),
                        "created",
                    ),
                    Err(e) if e.is_conflict() => line(
                        format!("deal attribute `{}` ({})", w.slug, w.kind),
                        "exists",
                    ),
                    Err(e) => return Err(format!("creating deal attribute `{}`: {e}", w.slug)),
                }
            }
        }
    }

    let options_path = format!("{ATTRS}/lead_source/options");
    let have: Vec<String> = if find("lead_source").is_some() {
        titles(
            &client
                .get(&options_path, &[("show_archived", "false".into())])
                .map_err(api)?,
            "title",
        )
    } else {
        Vec::new()
    };
    for option in LEAD_SOURCES {
        let what = format!("lead_source option `{option}`");
        if have.iter().any(|h| h == option) {
            line(what, "exists");
        } else if dry_run {
            line(what, "would create");
        } else {
            let body = json!({"data": {"title": option}});
            match client.send(super::client::Method::Post, &options_path, &[], Some(&body)) {
                Ok(_) => line(what, "created"),
                Err(e) if e.is_conflict() => line(what, "exists"),
                Err(e) => return Err(format!("creating {what}: {e}")),
            }
        }
    }

    let statuses_path = format!("{ATTRS}/stage/statuses");
    let stages = titles(
        &client
            .get(&statuses_path, &[("show_archived", "false".into())])
            .map_err(api)?,
        "title",
    );
    let what = format!("deal stage `{}`", s.stage);
    if stages.iter().any(|t| t == &s.stage) {
        line(what, "exists");
    } else if dry_run {
        line(what, "would create");
    } else {
        let body = json!({"data": {"title": s.stage}});
        match client.send(
            super::client::Method::Post,
            &statuses_path,
            &[],
            Some(&body),
        ) {
            Ok(_) => line(what, "created"),
            Err(e) if e.is_conflict() => line(what, "exists"),
            Err(e) => return Err(format!("creating {what}: {e}")),
        }
    }

    if !s.list.is_empty() {
        let what = format!("list `{}`", s.list);
        match client.get(&format!("/v2/lists/{}", s.list), &[]) {
            Ok(_) => line(what, "exists"),
            Err(e) if e.is_not_found() => line(
                format!("{what}: create it in Attio (for companies) or set attio.list = \"\""),
                "missing",
            ),
            Err(e) => return Err(format!("checking {what}: {e}")),
        }
    }
    Ok(lines)
}

/// The `field` of each item of a `{"data": [...]}` answer.
fn titles(v: &Value, field: &str) -> Vec<String> {
    v.get("data")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.get(field).and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The deal stages of the workspace, in Attio's order.
pub fn stages(client: &Client) -> Result<Vec<String>, ApiError> {
    Ok(titles(
        &client.get(
            &format!("{ATTRS}/stage/statuses"),
            &[("show_archived", "false".into())],
        )?,
        "title",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_write_scopes_cover_read() {
        let granted = vec![
            "list_configuration:read-write".to_string(),
            "note:read".to_string(),
        ];
        assert!(has_scope(&granted, "list_configuration:read"));
        assert!(!has_scope(&granted, "note:read-write"));
        assert!(has_scope(&granted, "note:read"));
    }
}

/// The config text with an `[attio]` section holding `workspace` (and `base_url` when given);
/// everything else, comments included, is kept. A missing section is added with every default.
pub fn with_attio_section(
    text: &str,
    workspace: &str,
    base_url: Option<&str>,
) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.to_string())?;
    if !doc.contains_table("attio") {
        let defaults = toml::to_string(&AttioSettings::default()).map_err(|e| e.to_string())?;
        let fresh: toml_edit::DocumentMut = defaults
            .parse()
            .map_err(|e: toml_edit::TomlError| e.to_string())?;
        let mut table = fresh.as_table().clone();
        table
            .decor_mut()
            .set_prefix("\n# Attio CRM sync (docs/ATTIO.md); written by `beton connect attio`.\n");
        doc.insert("attio", toml_edit::Item::Table(table));
    }
    let table = doc["attio"]
        .as_table_mut()
        .ok_or("`attio` is not a table")?;
    table["workspace"] = toml_edit::value(workspace);
    if let Some(url) = base_url {
        table["base_url"] = toml_edit::value(url);
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod save_tests {
    use super::*;
    use crate::config::{Config, TEMPLATE};

    #[test]
    fn connect_adds_the_section_and_keeps_comments() {
        let text = with_attio_section(TEMPLATE, "acme", Some("http://127.0.0.1:9")).unwrap();
        assert!(text.contains("# Score at or above which an account becomes a CRM candidate."));
        let cfg = Config::parse(&text, "saved").unwrap();
        let attio = cfg.attio.clone().unwrap();
        assert_eq!(
            (attio.workspace.as_str(), attio.base_url.as_str()),
            ("acme", "http://127.0.0.1:9")
        );
        assert_eq!(Config { attio: None, ..cfg }, Config::default());
        let edited = text.replace("stage = \"Lead\"", "stage = \"PQL\" # ours");
        let again = with_attio_section(&edited, "acme-2", None).unwrap();
        assert!(again.contains("stage = \"PQL\" # ours"), "{again}");
        assert_eq!(
            Config::parse(&again, "again")
                .unwrap()
                .attio
                .unwrap()
                .workspace,
            "acme-2"
        );
    }
}
