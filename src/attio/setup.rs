//! `beton connect attio` (check the key with `GET /v2/self`) and `beton attio setup` (make sure
//! the deal attributes, select options, stage and list the sync uses exist, that every required
//! deal attribute gets a value, and that every deal gets an owner).

use std::collections::HashSet;

use serde::Serialize;
use serde_json::{Value, json};

use super::client::{ApiError, Client, Method, workspace_members};
use crate::config::AttioSettings;

/// The scopes the daily sync needs, and why (docs/ATTIO.md lists them for admins). Attio's spec
/// names `object_configuration:read` on every records, notes and tasks operation.
pub const SYNC_SCOPES: &[(&str, &str)] = &[
    (
        "record_permission:read-write",
        "find and create companies, assert deals",
    ),
    (
        "object_configuration:read",
        "read the deal attributes and stages (every records, notes and tasks call needs it)",
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

/// What `beton attio setup` needs on top, and only when it has something to create.
pub const SETUP_SCOPE: &str = "object_configuration:read-write";

/// What setup says when the workspace's Deals object is disabled (Attio answers 404 for it).
pub const DEALS_DISABLED: &str = "the Deals object is not enabled in this Attio workspace (Attio: Object with slug/ID \
     \"deals\" not found). A workspace admin enables it once under Workspace settings → Objects \
     (https://app.attio.com/_/settings/data/objects), then run `beton attio setup`";

/// An API error about the deals object, in words: a 404 on it means Deals is disabled.
pub fn deals_error(e: ApiError) -> String {
    match &e {
        ApiError::Rejected {
            status: 404,
            message,
            ..
        } if message.contains("\"deals\"") => DEALS_DISABLED.to_string(),
        _ => e.to_string(),
    }
}

/// What `GET /v2/self` said about the key.
#[derive(Debug, Clone, Serialize)]
pub struct Connection {
    pub workspace_name: String,
    pub workspace_slug: String,
    pub scopes: Vec<String>,
    /// Scopes the sync needs that the key lacks.
    pub missing: Vec<String>,
}

/// True when `granted` includes `need` (a `:read-write` scope includes `:read`).
pub fn has_scope(granted: &[String], need: &str) -> bool {
    granted.iter().any(|g| {
        g == need
            || need
                .strip_suffix(":read")
                .is_some_and(|base| g.as_str() == format!("{base}:read-write"))
    })
}

/// Checks the key: it must be active. Lists the scopes the sync needs that it lacks (setup's
/// extra scope is asked for by setup, when it has something to create).
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
    let missing = SYNC_SCOPES
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
    /// "exists", "created", "would create", "ok" (a requirement that is met), or "missing"
    /// (something Beton cannot create).
    pub outcome: String,
}

/// The options of the `lead_source` select.
pub const LEAD_SOURCES: [&str; 4] = ["pql", "inbound", "outbound", "partner"];

/// The deal select a rep answers on (SPEC §10), read back by `sync attio --pull`.
pub const DISPOSITION_ATTRIBUTE: &str = "pql_disposition";

/// Its options: the three dispositions.
pub const DISPOSITIONS: [&str; 3] = ["legit", "not_ready", "already_working"];

/// The select attributes setup gives options, with their options.
const SELECTS: [(&str, &[&str]); 2] = [
    ("lead_source", &LEAD_SOURCES),
    (DISPOSITION_ATTRIBUTE, &DISPOSITIONS),
];

const ATTRS: &str = "/v2/objects/deals/attributes";

/// Attributes per page when reading the attribute list.
const PAGE: usize = 50;

/// Every deal attribute, archived ones included (`is_archived`: an archived slug still blocks
/// creating one with that slug), read page by page: Attio's spec pages the list and names no
/// default page size.
pub fn deal_attributes(client: &Client) -> Result<Vec<Value>, ApiError> {
    client.get_all(ATTRS, &[("show_archived", "true".into())], PAGE)
}

/// `` `slug` (Title) `` of the attribute Attio's message names by id, when the message has one.
pub fn attribute_named(attributes: &[Value], message: &str) -> Option<String> {
    attributes.iter().find_map(|a| {
        let id = a.pointer("/id/attribute_id").and_then(Value::as_str)?;
        if !message.contains(id) {
            return None;
        }
        let slug = a.get("api_slug").and_then(Value::as_str).unwrap_or(id);
        let title = a.get("title").and_then(Value::as_str).unwrap_or(slug);
        Some(if title == slug {
            format!("`{slug}`")
        } else {
            format!("`{slug}` ({title})")
        })
    })
}

struct Wanted {
    slug: String,
    title: &'static str,
    kind: &'static str,
    unique: bool,
    description: &'static str,
}

/// The deal attributes Beton writes on create, given the settings.
fn beton_gives(s: &AttioSettings) -> Vec<String> {
    let mut gives: Vec<String> = [
        "name",
        "stage",
        "owner",
        "associated_company",
        "lead_source",
        "pql_score",
        "pql_signals",
    ]
    .map(String::from)
    .to_vec();
    gives.push(s.match_attribute.clone());
    if !s.value_property.is_empty() {
        gives.push("value".into());
    }
    gives
}

/// Makes sure what the sync writes exists in the workspace and that every deal it creates can be
/// accepted: every required deal attribute gets a value (from Beton or an Attio default), and every
/// account gets an owner (its `owner_email` when that is a member, else `default_owner`, which
/// must be a member). `accounts` are (key, `owner_email`). Problems are found before anything is
/// created; then only what is missing is created (nothing with `dry_run`). A problem Beton cannot
/// fix is an `Err` naming it and the setting that fixes it.
pub fn setup(
    client: &Client,
    s: &AttioSettings,
    dry_run: bool,
    accounts: &[(String, Option<String>)],
) -> Result<Vec<SetupLine>, String> {
    let api = |e: ApiError| e.to_string();
    let mut lines = Vec::new();
    let mut line = |what: String, outcome: &str| {
        lines.push(SetupLine {
            what,
            outcome: outcome.into(),
        })
    };
    let me = client.get("/v2/self", &[]).map_err(api)?;
    let scopes: Vec<String> = me
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let existing = deal_attributes(client).map_err(deals_error)?;
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
        Wanted {
            slug: DISPOSITION_ATTRIBUTE.into(),
            title: "PQL disposition",
            kind: "select",
            unique: false,
            description: "The rep's answer about this PQL: legit, not_ready (Beton holds it back 30 days) or \
                          already_working (90 days). Beton reads it back.",
        },
    ];

    // 1. What exists, and what is wrong that Beton must not paper over.
    let mut to_create: Vec<&Wanted> = Vec::new();
    let archived = |a: &Value| a.get("is_archived").and_then(Value::as_bool) == Some(true);
    for w in &wanted {
        match find(&w.slug) {
            Some(a) if archived(a) => {
                return Err(format!(
                    "the deal attribute `{}` is archived in Attio, and an archived slug cannot be created again: \
                     unarchive it (Workspace settings → Objects → Deals → Attributes, archived), or set another \
                     slug{}",
                    w.slug,
                    if w.unique {
                        " (attio.match_attribute)"
                    } else {
                        ""
                    }
                ));
            }
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
            None => to_create.push(w),
        }
    }
    let gives = beton_gives(s);
    for a in &existing {
        if a.get("is_required").and_then(Value::as_bool) != Some(true) || archived(a) {
            continue;
        }
        let slug = a.get("api_slug").and_then(Value::as_str).unwrap_or("?");
        let title = a.get("title").and_then(Value::as_str).unwrap_or(slug);
        let what = format!("required deal attribute `{slug}`");
        if gives.iter().any(|g| g == slug) {
            line(format!("{what}: Beton gives it"), "ok");
        } else if a.get("is_default_value_enabled").and_then(Value::as_bool) == Some(true)
            && !a.get("default_value").is_none_or(Value::is_null)
        {
            line(format!("{what}: Attio fills in its default"), "ok");
        } else if slug == "value" {
            return Err(format!(
                "the deal attribute `value` ({title}) is required in this workspace and Beton sends no value: \
                 set attio.value_property to the account property that holds the deal value (e.g. \"arr\"), \
                 or make it optional in Attio (Workspace settings → Objects → Deals → Attributes → {title})"
            ));
        } else {
            return Err(format!(
                "the deal attribute `{slug}` ({title}) is required in this workspace, has no default value, and \
                 Beton has no value to give it: make it optional or give it a default in Attio (Workspace \
                 settings → Objects → Deals → Attributes → {title}); Attio would reject every new deal"
            ));
        }
    }

    // 2. An owner for every deal: Attio requires one, and a deal is never sent without it.
    let members = workspace_members(client).map_err(api)?;
    let member_emails: HashSet<String> = members.iter().map(|(_, e)| e.to_lowercase()).collect();
    let listed = || listed(&members);
    let default_owner = s.default_owner.trim().to_lowercase();
    if !default_owner.is_empty() {
        if !member_emails.contains(&default_owner) {
            return Err(format!(
                "the default deal owner {:?} (attio.default_owner) is not a member of this Attio workspace; \
                 members: {}. Run `beton attio setup --default-owner EMAIL` with one of them",
                s.default_owner,
                listed()
            ));
        }
        line(
            format!(
                "default deal owner {} (a workspace member)",
                s.default_owner
            ),
            "ok",
        );
    } else {
        let orphans: Vec<String> = accounts
            .iter()
            .filter(|(_, o)| {
                o.as_deref()
                    .is_none_or(|e| !member_emails.contains(&e.trim().to_lowercase()))
            })
            .map(|(k, o)| match o {
                Some(e) => format!("{k}: {e}"),
                None => format!("{k}: no owner_email"),
            })
            .collect();
        if !orphans.is_empty() {
            return Err(format!(
                "{} of {} accounts have no owner_email that is a member of this Attio workspace (e.g. {}), and \
                 Attio requires a deal owner: run `beton attio setup --default-owner EMAIL` with a member's \
                 email ({}) to own their deals",
                orphans.len(),
                accounts.len(),
                orphans
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; "),
                listed()
            ));
        }
        line(
            format!(
                "deal owners: the owner_email of all {} accounts is a workspace member",
                accounts.len()
            ),
            "ok",
        );
    }

    // (select attribute, option) pairs to create.
    let mut missing_options: Vec<(&str, &str)> = Vec::new();
    for (attr, options) in SELECTS {
        let have: Vec<String> = if find(attr).is_some() {
            titles(
                &client
                    .get(
                        &format!("{ATTRS}/{attr}/options"),
                        &[("show_archived", "false".into())],
                    )
                    .map_err(api)?,
                "title",
            )
        } else {
            Vec::new()
        };
        for o in options.iter().copied() {
            if have.iter().any(|h| h == o) {
                line(format!("{attr} option `{o}`"), "exists");
            } else {
                missing_options.push((attr, o));
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
    let stage_missing = !stages.iter().any(|t| t == &s.stage);
    if !stage_missing {
        line(format!("deal stage `{}`", s.stage), "exists");
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

    // 3. Create what is missing: only this needs the extra scope.
    let mut creations: Vec<String> = to_create
        .iter()
        .map(|w| format!("deal attribute `{}` ({})", w.slug, w.kind))
        .collect();
    creations.extend(
        missing_options
            .iter()
            .map(|(a, o)| format!("{a} option `{o}`")),
    );
    if stage_missing {
        creations.push(format!("deal stage `{}`", s.stage));
    }
    if dry_run {
        for c in creations {
            line(c, "would create");
        }
        return Ok(lines);
    }
    if !creations.is_empty() && !has_scope(&scopes, SETUP_SCOPE) {
        return Err(format!(
            "setup must create {}, and the key lacks the scope {SETUP_SCOPE}: add it to the key for the setup \
             (Workspace settings → Developers; the daily sync does not need it), or create them in Attio by hand",
            creations.join(", ")
        ));
    }
    for w in to_create {
        let what = format!("deal attribute `{}` ({})", w.slug, w.kind);
        let body = json!({"data": {
            "title": w.title, "description": w.description, "api_slug": w.slug, "type": w.kind,
            "is_required": false, "is_unique": w.unique, "is_multiselect": false, "config": {}
        }});
        match client.send(Method::Post, ATTRS, &[], Some(&body)) {
            Ok(_) => line(what, "created"),
            Err(e) if e.is_conflict() => line(what, "exists"),
            Err(e) => return Err(format!("creating deal attribute `{}`: {e}", w.slug)),
        }
    }
    for (attr, option) in missing_options {
        let what = format!("{attr} option `{option}`");
        let body = json!({"data": {"title": option}});
        let path = format!("{ATTRS}/{attr}/options");
        match client.send(Method::Post, &path, &[], Some(&body)) {
            Ok(_) => line(what, "created"),
            Err(e) if e.is_conflict() => line(what, "exists"),
            Err(e) => return Err(format!("creating {what}: {e}")),
        }
    }
    if stage_missing {
        let what = format!("deal stage `{}`", s.stage);
        let body = json!({"data": {"title": s.stage}});
        match client.send(Method::Post, &statuses_path, &[], Some(&body)) {
            Ok(_) => line(what, "created"),
            Err(e) if e.is_conflict() => line(what, "exists"),
            Err(e) => return Err(format!("creating {what}: {e}")),
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

/// The config text with `attio.default_owner` set (the `[attio]` section must exist); everything
/// else, comments included, is kept.
pub fn with_default_owner(text: &str, email: &str) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.to_string())?;
    let table = doc
        .get_mut("attio")
        .and_then(|t| t.as_table_mut())
        .ok_or("no [attio] section: run `beton connect attio` first")?;
    table["default_owner"] = toml_edit::value(email);
    Ok(doc.to_string())
}

/// The first ten members' emails, for messages.
fn listed(members: &[(String, String)]) -> String {
    members
        .iter()
        .map(|(_, e)| e.as_str())
        .take(10)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The member whose email is `email` (any case), as Attio spells it; else an error listing members.
pub fn member_email(client: &Client, email: &str) -> Result<String, String> {
    let members = workspace_members(client).map_err(|e| e.to_string())?;
    let want = email.trim().to_lowercase();
    members
        .iter()
        .find(|(_, e)| e.to_lowercase() == want)
        .map(|(_, e)| e.clone())
        .ok_or_else(|| {
            format!(
                "{email:?} is not a member of this Attio workspace; members: {}",
                listed(&members)
            )
        })
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
