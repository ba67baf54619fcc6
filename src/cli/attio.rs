//! `beton connect attio`, `beton attio setup` and `beton sync attio`: print what was done.

use std::io::IsTerminal as _;

use beton::attio::setup::{check_key, member_email, setup, with_attio_section, with_default_owner};
use beton::attio::sync::Outcome;
use beton::attio::{Client, SyncOptions, client::KEY_VAR};
use beton::config::{Config, Paths, TEMPLATE, write_atomic};
use beton::pipeline::LOCK_WAIT;
use beton::store::RunLock;
use beton::{Error, Result};

use crate::cli::args::Global;
use crate::cli::common::{Exit, context};

/// `println!` that stays quiet when stdout is closed.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        // Account keys and names are chosen by whoever holds the public project key: every
        // control character is shown as an escape (a valid JSON one too), never acted on.
        let line = format!($($arg)*);
        let _ = writeln!(std::io::stdout().lock(), "{}", beton::safe::text(&line));
    }};
}

/// Test hook: the kind of outbox step after whose send `beton sync attio` stops, as if killed.
const CRASH_HOOK: &str = "BETON_TEST_CRASH_AFTER_SEND";

/// Asks for the default deal owner on a terminal; None when not on one or left empty.
fn prompt_owner() -> Option<String> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    eprint!(
        "Default deal owner, for accounts whose owner_email is not an Attio member (a member's email, empty to skip): "
    );
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).ok()?;
    Some(line.trim().to_string()).filter(|l| !l.is_empty())
}

pub fn connect(
    g: &Global,
    base_url: Option<String>,
    default_owner: Option<String>,
) -> Result<Exit> {
    let paths = Paths::resolve(g.config.clone(), g.data_dir.clone())?;
    let cfg = Config::load(&paths.config_file)?;
    let mut settings = cfg.attio.clone().unwrap_or_default();
    if let Some(url) = &base_url {
        settings.base_url = url.trim_end_matches('/').to_string();
    }
    let client = Client::new(&settings, beton::attio::load_key(&paths)?)
        .map_err(|e| Error::Attio(e.to_string()))?;
    let conn = check_key(&client, !settings.list.is_empty()).map_err(Error::Attio)?;
    out!(
        "Attio key is active for workspace {} ({})",
        conn.workspace_name,
        conn.workspace_slug
    );
    if !conn.missing.is_empty() {
        out!("The key lacks scopes the sync needs:");
        for m in &conn.missing {
            out!("  - {m}");
        }
        return Err(Error::Attio(
            "add the scopes above to the key (Workspace settings → Developers), then run `beton connect attio` again"
                .into(),
        ));
    }
    let text = match std::fs::read_to_string(&paths.config_file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => TEMPLATE.to_string(),
        Err(e) => return Err(Error::io(&paths.config_file, e)),
    };
    let url = base_url.as_deref().map(|u| u.trim_end_matches('/'));
    let updated =
        with_attio_section(&text, &conn.workspace_slug, url).map_err(|m| Error::Config {
            origin: paths.config_file.display().to_string(),
            message: m,
        })?;
    let config_error = |m: String| Error::Config {
        origin: paths.config_file.display().to_string(),
        message: m,
    };
    let owner = match default_owner.or_else(|| {
        settings
            .default_owner
            .trim()
            .is_empty()
            .then(prompt_owner)
            .flatten()
    }) {
        Some(email) => Some(member_email(&client, &email).map_err(Error::Attio)?),
        None => None,
    };
    let updated = match &owner {
        Some(email) => with_default_owner(&updated, email).map_err(config_error)?,
        None => updated,
    };
    Config::parse(&updated, &paths.config_file.display().to_string())?;
    write_atomic(&paths.config_file, &updated)?;
    out!(
        "saved the [attio] settings to {} (the key stays in {KEY_VAR})",
        paths.config_file.display()
    );
    if let Some(email) = &owner {
        out!(
            "deals of accounts without a member as owner_email go to {email} (attio.default_owner)"
        );
    }
    out!(
        "next: `beton attio setup` checks the workspace and creates the deal attributes the sync needs"
    );
    Ok(0)
}

pub fn setup_cmd(g: &Global, dry_run: bool, default_owner: Option<String>) -> Result<Exit> {
    let ctx = context(g)?;
    let client = beton::attio::connect(&ctx.paths, &ctx.config)?;
    let mut s = ctx.config.attio.clone().unwrap_or_default();
    let owner = match default_owner {
        Some(email) => Some(member_email(&client, &email).map_err(Error::Attio)?),
        None => None,
    };
    if let Some(email) = &owner {
        s.default_owner = email.clone();
    }
    let accounts = ctx.open_store()?.account_text_prop("owner_email")?;
    let lines = setup(&client, &s, dry_run, &accounts).map_err(Error::Attio)?;
    if let Some(email) = owner.filter(|_| !dry_run) {
        let text = std::fs::read_to_string(&ctx.paths.config_file)
            .map_err(|e| Error::io(&ctx.paths.config_file, e))?;
        let updated = with_default_owner(&text, &email).map_err(|m| Error::Config {
            origin: ctx.paths.config_file.display().to_string(),
            message: m,
        })?;
        Config::parse(&updated, &ctx.paths.config_file.display().to_string())?;
        write_atomic(&ctx.paths.config_file, &updated)?;
        if !g.json {
            out!("saved attio.default_owner = {email:?}");
        }
    }
    if g.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&lines).unwrap_or_default()
        );
    } else {
        for l in &lines {
            out!("  {:<13} {}", l.outcome, l.what);
        }
        let created = lines.iter().filter(|l| l.outcome == "created").count();
        let would = lines.iter().filter(|l| l.outcome == "would create").count();
        if dry_run {
            out!("dry run: {would} to create, nothing sent");
        } else {
            out!(
                "{created} created, {} already there",
                lines.iter().filter(|l| l.outcome == "exists").count()
            );
        }
    }
    Ok(if lines.iter().any(|l| l.outcome == "missing") {
        2
    } else {
        0
    })
}

pub fn sync_cmd(g: &Global, dry_run: bool, pull: bool, allow_demo: bool) -> Result<Exit> {
    let ctx = context(g)?;
    let client = beton::attio::connect(&ctx.paths, &ctx.config)?;
    let _lock = RunLock::acquire(&ctx.paths.data_dir, LOCK_WAIT)?;
    let store = ctx.open_store()?;
    if pull {
        let r = beton::attio::pull::pull(&store, &ctx.config, &client, dry_run)?;
        if g.json {
            out!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
        } else {
            out!(
                "{} deals in Attio: {} won, {} lost, {} open; {} {} as deals{}",
                r.deals,
                r.won,
                r.lost,
                r.open,
                r.stored,
                if dry_run { "would be stored" } else { "stored" },
                if r.unmapped > 0 {
                    format!(
                        "; {} map to no account (e.g. {})",
                        r.unmapped,
                        r.unmapped_examples.join(", ")
                    )
                } else {
                    String::new()
                }
            );
            out!(
                "{} new rep answer{} (pql_disposition) {}{}",
                r.dispositions,
                if r.dispositions == 1 { "" } else { "s" },
                if dry_run {
                    "would be recorded"
                } else {
                    "recorded"
                },
                if r.dispositions_unknown > 0 {
                    format!(
                        "; {} with an option that is not legit / not_ready / already_working left out",
                        r.dispositions_unknown
                    )
                } else {
                    String::new()
                }
            );
        }
        return Ok(0);
    }
    if store.meta("demo")?.is_some() && !allow_demo && !dry_run {
        return Err(Error::Usage(
            "the workspace holds DEMO data: its invented accounts are not sent to Attio. Import your own \
             data, or pass --allow-demo to send them anyway (to a sandbox workspace)"
                .into(),
        ));
    }
    let run = store.latest_run("daily")?.ok_or_else(|| {
        Error::NoData("no run yet: `beton --run-daily` scores the accounts first".into())
    })?;
    let opts = SyncOptions {
        dry_run,
        crash_after_send: std::env::var(CRASH_HOOK).ok().filter(|v| !v.is_empty()),
    };
    let r = beton::attio::sync(&store, &ctx.config, &client, run.id, &opts)?;
    if g.json {
        out!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    } else {
        let head = if dry_run {
            "dry run, nothing sent"
        } else {
            "sent"
        };
        out!(
            "Attio sync of run {} as of {} ({head})",
            run.id,
            beton::time::fmt_ts(run.as_of)
        );
        for a in &r.accounts {
            let label = match (dry_run, a.outcome) {
                (true, Outcome::Created) => "new".to_string(),
                (true, Outcome::Updated) => "update".to_string(),
                (true, Outcome::Attached) => "attach".to_string(),
                (_, Outcome::InPipeline) => "pipeline".to_string(),
                (_, o) => format!("{o:?}").to_lowercase(),
            };
            out!("  {label:<10} {:<28} {}", a.account, a.detail);
        }
        out!("  {}", r.summary());
    }
    Ok(if r.count(Outcome::Failed) > 0 { 2 } else { 0 })
}
