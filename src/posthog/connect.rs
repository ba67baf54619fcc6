//! `beton connect posthog`: validate the personal key, find the project, the account group
//! type's index, the capture key and host, and write those (non-secret) settings into the
//! config file, keeping its comments.

use serde::Serialize;
use serde_json::Value;

use super::client::{Client, HogQl};
use super::{ApiKey, PosthogError};
use crate::config::{Config, Paths, PosthogSettings, TEMPLATE, write_atomic};

pub const US: &str = "https://us.posthog.com";
pub const EU: &str = "https://eu.posthog.com";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Project {
    pub id: u64,
    pub name: String,
}

/// What connecting found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Discovery {
    pub host: String,
    pub projects: Vec<Project>,
    pub project: Project,
    pub group_type_index: u8,
    pub group_types: Vec<String>,
    pub capture_host: String,
    pub project_api_key: String,
    /// Said when the host was chosen by trying the regions.
    pub note: Option<String>,
}

/// The capture host of a private API host: `us.posthog.com` → `us.i.posthog.com`.
pub fn capture_host_for(host: &str) -> String {
    let h = host.trim_end_matches('/');
    for (api, cap) in [
        ("://us.posthog.com", "://us.i.posthog.com"),
        ("://app.posthog.com", "://us.i.posthog.com"),
        ("://eu.posthog.com", "://eu.i.posthog.com"),
    ] {
        if h.ends_with(api) {
            return h.replace(api, cap);
        }
    }
    h.to_string()
}

fn projects(client: &Client) -> Result<Vec<Value>, PosthogError> {
    client.list("/api/projects/")
}

/// Finds the project and settings. `host` is the one to use; `alternates` are tried when it
/// rejects the key, to tell a wrong region from a wrong key (`explicit` = the user chose
/// `host`, so a key that works elsewhere is an error rather than a silent switch).
pub fn discover(
    host: &str,
    alternates: &[&str],
    explicit: bool,
    key: &ApiKey,
    project: Option<u64>,
    group_type: &str,
) -> Result<Discovery, PosthogError> {
    if key.kind() == "project (capture) key" {
        return Err(PosthogError::Setup(
            "that is a project key (phc_…), which only captures events; Beton needs a personal API key (phx_…): \
             PostHog → Settings → Personal API keys"
                .into(),
        ));
    }
    if crate::secret::plain_http_to_remote(host) {
        return Err(PosthogError::Setup(format!(
            "{host}: plain http:// would send the personal API key unencrypted; use https:// \
             (http:// is only for a server on this machine: localhost, 127.0.0.1, [::1])"
        )));
    }
    let mut client = Client::new(host, key.clone(), 0, 1)?;
    let mut note = None;
    let list = match projects(&client) {
        Ok(l) => l,
        Err(PosthogError::Unauthorized { host: h, detail }) => {
            let mut found = None;
            for alt in alternates
                .iter()
                .filter(|a| a.trim_end_matches('/') != host.trim_end_matches('/'))
            {
                let c = Client::new(alt, key.clone(), 0, 1)?;
                if let Ok(l) = projects(&c) {
                    found = Some((c, l, alt.to_string()));
                    break;
                }
            }
            match found {
                Some((_, _, alt)) if explicit => {
                    return Err(PosthogError::Setup(format!(
                        "wrong region: {h} rejects this key but {alt} accepts it; run again with --host {alt}"
                    )));
                }
                Some((c, l, alt)) => {
                    note = Some(format!(
                        "{h} rejected the key; {alt} accepted it, so Beton uses {alt}"
                    ));
                    client = c;
                    l
                }
                None => {
                    return Err(PosthogError::Setup(format!(
                        "PostHog rejected the API key ({detail}) at {h}{}. Check that it is a personal API key (phx_…) \
                         that has not been revoked",
                        if alternates.is_empty() {
                            String::new()
                        } else {
                            " and in the other region".into()
                        }
                    )));
                }
            }
        }
        Err(PosthogError::Forbidden { detail, .. }) => {
            return Err(PosthogError::Setup(format!(
                "the key may not list projects ({detail}); give it the scopes project:read, query:read, group:read, \
                 dashboard:write, insight:write and file_system:write (docs/POSTHOG.md)"
            )));
        }
        Err(e) => return Err(e),
    };
    let projects: Vec<Project> = list
        .iter()
        .filter_map(|p| {
            Some(Project {
                id: p.get("id")?.as_u64()?,
                name: p.get("name").and_then(Value::as_str).unwrap_or("").into(),
            })
        })
        .collect();
    let listing = || {
        projects
            .iter()
            .map(|p| format!("{} ({})", p.id, p.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen = match project {
        Some(id) => projects
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .ok_or_else(|| {
                PosthogError::Setup(format!(
                    "this key cannot reach project {id}; it can reach: {}",
                    listing()
                ))
            })?,
        None if projects.len() == 1 => projects[0].clone(),
        None if projects.is_empty() => {
            return Err(PosthogError::Setup("this key can reach no project".into()));
        }
        None => {
            return Err(PosthogError::Setup(format!(
                "this key reaches several projects; choose one with --project ID: {}",
                listing()
            )));
        }
    };
    let raw = list
        .iter()
        .find(|p| p.get("id").and_then(Value::as_u64) == Some(chosen.id));
    let project_api_key = raw
        .and_then(|p| p.get("api_token"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    client.set_project(chosen.id);
    let types = match client.get(&client.project_path("groups_types/")) {
        Ok(Value::Array(t)) => t,
        Ok(_) => {
            return Err(PosthogError::BadResponse {
                what: "groups_types".into(),
                message: "expected a list".into(),
            });
        }
        Err(PosthogError::Forbidden { detail, .. }) => {
            return Err(PosthogError::Setup(format!(
                "the key may not read group types ({detail}); add the scope group:read"
            )));
        }
        Err(e) => return Err(e),
    };
    let group_types: Vec<String> = types
        .iter()
        .filter_map(|t| {
            t.get("group_type")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    let index = types
        .iter()
        .find(|t| t.get("group_type").and_then(Value::as_str) == Some(group_type))
        .and_then(|t| t.get("group_type_index"))
        .and_then(Value::as_u64)
        .and_then(|i| u8::try_from(i).ok())
        .ok_or_else(|| {
            PosthogError::Setup(format!(
                "project {} has no group type `{group_type}` (it has: {}). Send events with $groups {{\"{group_type}\": …}} \
                 (PostHog group analytics), or set group_type in the config",
                chosen.id,
                if group_types.is_empty() { "none".to_string() } else { group_types.join(", ") }
            ))
        })?;
    // The query scope: one tiny query.
    let probe = HogQl {
        name: "beton_connect_probe".into(),
        sql: "SELECT 1 AS ok".into(),
        values: Default::default(),
    };
    match client.query(&probe) {
        Ok(_) => {}
        Err(PosthogError::Forbidden { detail, .. }) => {
            return Err(PosthogError::Setup(format!(
                "the key may not run queries ({detail}); add the scope query:read"
            )));
        }
        Err(e) => return Err(e),
    }
    let host = client.host().to_string();
    Ok(Discovery {
        capture_host: capture_host_for(&host),
        host,
        projects,
        project: chosen,
        group_type_index: index,
        group_types,
        project_api_key,
        note,
    })
}

/// Writes the discovered settings and `source = "posthog"` into the config file atomically,
/// keeping its comments and every other setting. Returns the new config.
pub fn write_settings(paths: &Paths, d: &Discovery) -> Result<Config, PosthogError> {
    let file = &paths.config_file;
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => TEMPLATE.to_string(),
        Err(e) => return Err(PosthogError::Setup(format!("{}: {e}", file.display()))),
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| PosthogError::Setup(format!("{}: {e}", file.display())))?;
    doc["source"] = toml_edit::value("posthog");
    if !doc.contains_table("posthog") {
        let mut t = toml_edit::Table::new();
        t.decor_mut()
            .set_prefix("\n# Written by `beton connect posthog`.\n");
        doc["posthog"] = toml_edit::Item::Table(t);
    }
    let p = &mut doc["posthog"];
    p["host"] = toml_edit::value(d.host.as_str());
    p["project_id"] = toml_edit::value(i64::try_from(d.project.id).unwrap_or(i64::MAX));
    p["group_type_index"] = toml_edit::value(i64::from(d.group_type_index));
    p["capture_host"] = toml_edit::value(d.capture_host.as_str());
    p["project_api_key"] = toml_edit::value(d.project_api_key.as_str());
    let out = doc.to_string();
    let cfg = Config::parse(&out, &file.display().to_string())
        .map_err(|e| PosthogError::Setup(e.to_string()))?;
    write_atomic(file, &out).map_err(|e| PosthogError::Setup(e.to_string()))?;
    Ok(cfg)
}

/// The settings a discovery gives, over the defaults (for tests and dry runs).
pub fn settings_of(d: &Discovery) -> PosthogSettings {
    PosthogSettings {
        host: d.host.clone(),
        project_id: d.project.id,
        group_type_index: d.group_type_index,
        capture_host: d.capture_host.clone(),
        project_api_key: d.project_api_key.clone(),
        ..PosthogSettings::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_hosts_follow_the_region() {
        assert_eq!(
            capture_host_for("https://us.posthog.com/"),
            "https://us.i.posthog.com"
        );
        assert_eq!(
            capture_host_for("https://eu.posthog.com"),
            "https://eu.i.posthog.com"
        );
        assert_eq!(
            capture_host_for("https://ph.example.com"),
            "https://ph.example.com"
        );
    }

    #[test]
    fn settings_are_written_keeping_comments() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            config_file: dir.path().join("config.toml"),
            data_dir: dir.path().join("d"),
        };
        std::fs::write(
            &paths.config_file,
            "# my note\nroute_threshold = 65 # keep\n",
        )
        .unwrap();
        let d = Discovery {
            host: "https://eu.posthog.com".into(),
            projects: vec![],
            project: Project {
                id: 42,
                name: "P".into(),
            },
            group_type_index: 1,
            group_types: vec!["company".into()],
            capture_host: "https://eu.i.posthog.com".into(),
            project_api_key: "phc_x".into(),
            note: None,
        };
        let cfg = write_settings(&paths, &d).unwrap();
        assert_eq!(cfg.route_threshold, 65);
        assert_eq!(cfg.posthog.as_ref().unwrap().project_id, 42);
        let text = std::fs::read_to_string(&paths.config_file).unwrap();
        assert!(
            text.contains("# my note") && text.contains("# keep"),
            "{text}"
        );
        assert!(text.contains("source = \"posthog\""));
        // A second connect updates in place.
        let cfg = write_settings(
            &paths,
            &Discovery {
                group_type_index: 2,
                ..d
            },
        )
        .unwrap();
        assert_eq!(cfg.posthog.unwrap().group_type_index, 2);
        let text = std::fs::read_to_string(&paths.config_file).unwrap();
        assert_eq!(text.matches("[posthog]").count(), 1);
    }
}
