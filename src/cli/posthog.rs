//! `beton connect posthog`, `provision`, `doctor` and `hogql`: the PostHog commands.

use std::io::{BufRead, IsTerminal, Write};

use beton::posthog::connect::{self, EU, US};
use beton::posthog::dashboards::{self, ActionKind, Definitions};
use beton::posthog::hogql::{self, Answers};
use beton::posthog::{self as ph, ApiKey, Rows, doctor};
use beton::signals::score_metrics;
use beton::time::{fmt_ts, now};
use beton::{Error, Result};

use crate::cli::args::Global;
use crate::cli::common::{Exit, as_of, context};

/// Reads the key without echo from a terminal, or one line from piped input.
fn prompt_key() -> Result<Option<ApiKey>> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::Usage(format!("reading the key: {e}")))?;
        return Ok(ApiKey::new(&line));
    }
    eprint!("PostHog personal API key (phx_…, input hidden): ");
    let _ = std::io::stderr().flush();
    use crossterm::event::{Event, KeyCode, KeyEventKind, KeyModifiers, read};
    crossterm::terminal::enable_raw_mode().map_err(|e| Error::Usage(format!("terminal: {e}")))?;
    let mut key = String::new();
    let outcome = loop {
        match read() {
            Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => match k.code {
                KeyCode::Enter => break Ok(()),
                KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                    break Err(Error::Cancelled);
                }
                KeyCode::Char(c) => key.push(c),
                KeyCode::Backspace => {
                    key.pop();
                }
                KeyCode::Esc => break Err(Error::Cancelled),
                _ => {}
            },
            Ok(Event::Paste(p)) => key.push_str(&p),
            Ok(_) => {}
            Err(e) => break Err(Error::Usage(format!("terminal: {e}"))),
        }
    };
    let _ = crossterm::terminal::disable_raw_mode();
    eprintln!();
    outcome.map(|()| ApiKey::new(&key))
}

pub fn connect(g: &Global, host: Option<String>, project: Option<u64>) -> Result<Exit> {
    // Connecting writes the settings file; it may not exist yet.
    let ctx = super::common::context_creating(g)?;
    let (key, prompted) = match std::env::var(ph::KEY_ENV)
        .ok()
        .as_deref()
        .and_then(ApiKey::new)
    {
        Some(k) => (k, false),
        None => (
            prompt_key()?.ok_or_else(|| {
                Error::Usage(format!("no key given: set {} or paste it", ph::KEY_ENV))
            })?,
            true,
        ),
    };
    let (primary, explicit) = match &host {
        Some(h) => (h.trim_end_matches('/').to_string(), true),
        None => (US.to_string(), false),
    };
    if !(primary.starts_with("https://") || primary.starts_with("http://")) {
        return Err(Error::Usage(format!(
            "--host {primary}: expected a URL such as https://eu.posthog.com"
        )));
    }
    let cloud = [US, EU, "https://app.posthog.com"].contains(&primary.as_str());
    let alternates: Vec<&str> = if cloud { vec![US, EU] } else { vec![] };
    let d = connect::discover(
        &primary,
        &alternates,
        explicit,
        &key,
        project,
        &ctx.config.group_type,
    )?;
    let cfg = connect::write_settings(&ctx.paths, &d)?;
    if prompted {
        let file = ph::store_key(&ctx.paths, &key)?;
        out!(
            "stored the key in {} (readable by you only)",
            file.display()
        );
    }
    if g.json {
        out!("{}", serde_json::to_string_pretty(&d).unwrap_or_default());
        return Ok(0);
    }
    if let Some(n) = &d.note {
        out!("{n}");
    }
    out!(
        "connected to PostHog at {} (capture: {})",
        d.host,
        d.capture_host
    );
    out!("  projects this key reaches (* = the one connected):");
    for pr in &d.projects {
        let mark = if pr.id == d.project.id { "*" } else { " " };
        out!("   {mark} {} {}", pr.id, pr.name);
    }
    out!(
        "  accounts are the `{}` group type: index {} ($group_{})",
        cfg.group_type,
        d.group_type_index,
        d.group_type_index
    );
    if d.project_api_key.is_empty() {
        out!(
            "  warning: the project list gave no capture key; signals cannot be sent back until you set posthog.project_api_key"
        );
    }
    out!(
        "  wrote {} (source = \"posthog\")",
        ctx.paths.config_file.display()
    );
    out!("next: `beton doctor`, then `beton provision` and `beton --run-daily`");
    Ok(0)
}

pub fn doctor(g: &Global) -> Result<Exit> {
    let ctx = context(g)?;
    let cfg = &ctx.config;
    let p = ph::settings(cfg)?;
    let client = ph::client_for(&ctx.paths, cfg)?;
    let t = as_of(g)?.unwrap_or_else(now);
    let s = doctor::check(&client, cfg, t)?;
    let page = u64::from(p.page_size);
    let pages = s.accounts_active.max(s.groups).div_ceil(page).max(1);
    let detection = (hogql::detection_queries(
        cfg,
        p.group_type_index,
        p.property_history_days,
        t,
        "",
        p.page_size,
    )
    .len() as u64)
        * pages;
    let provisioning = if p.provision_on_run {
        doctor::queries(cfg, p, t).len() as u64
    } else {
        0
    };
    let per_run = detection + provisioning;
    let dates = beton::backtest::BacktestOptions::from_config(cfg, t)
        .dates()
        .len();
    let backtest = ph::backtest_queries(cfg, 1, dates);
    if g.json {
        let signals: Vec<_> = s
            .signals(cfg)
            .into_iter()
            .map(|(t, ok, why)| serde_json::json!({"signal": t.as_str(), "can_fire": ok, "missing": why}))
            .collect();
        let v = serde_json::json!({"as_of": fmt_ts(t), "sources": s, "signals": signals,
            "queries_per_run": per_run, "detection_queries": detection, "provisioning_queries": provisioning,
            "query_budget": p.query_budget, "queries_used_by_doctor": client.usage().queries,
            "queries_per_hour": p.queries_per_hour, "backtest_queries": backtest});
        out!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(0);
    }
    let yes = |b: bool| if b { "yes" } else { "NO " };
    out!(
        "PostHog project {} at {}: the 30 days before {}",
        p.project_id,
        p.host,
        fmt_ts(t)
    );
    out!(
        "  {} events, {} with a `{}` group; {} active accounts; {} groups",
        s.events,
        s.events_with_account,
        cfg.group_type,
        s.accounts_active,
        s.groups
    );
    out!(
        "  {} pricing page views, {} feature_used, {} support, {} billing events, {} $groupidentify",
        s.pricing_views,
        s.feature_used,
        s.support_events,
        s.billing_events,
        s.group_identify
    );
    for (k, n) in &s.groups_with {
        out!("  {n} groups have property `{k}`");
    }
    match &s.deals {
        Some(d) if d.ok() => out!(
            "  deals table `{}`: has every column the deal tiles read ({})",
            d.table,
            beton::posthog::warehouse::TILE_COLUMNS.join(", ")
        ),
        Some(d) => out!("  deals table `{}`: {}", d.table, d.advice()),
        None => out!("  deals table `{}`: not checked", p.deals_table),
    }
    out!("signals:");
    for (t, ok, why) in s.signals(cfg) {
        out!("  {} {:<19} {why}", yes(ok), t.as_str());
    }
    out!(
        "queries per run: {per_run} ({detection} detection in {pages} page(s) of {page} accounts, {provisioning} provisioning checks) of a budget of {}",
        p.query_budget
    );
    out!(
        "PostHog allows {} queries an hour (posthog.queries_per_hour; 2400 on PostHog's newer limits): a backtest at the configured range needs {backtest}{}",
        p.queries_per_hour,
        if backtest > u64::from(p.queries_per_hour) {
            ", more than an hour's worth: Beton paces it within max_wait_seconds or refuses it up front"
        } else {
            ""
        }
    );
    if per_run > u64::from(p.query_budget) {
        out!("  the budget is too small: raise posthog.query_budget to at least {per_run}");
        return Ok(2);
    }
    Ok(0)
}

pub fn provision(g: &Global, dry_run: bool, recreate: bool) -> Result<Exit> {
    let ctx = context(g)?;
    let cfg = &ctx.config;
    let p = ph::settings(cfg)?;
    let client = ph::client_for(&ctx.paths, cfg)?;
    let store = ctx.open_store()?;
    let defs = Definitions::builtin()?;
    let t = as_of(g)?.unwrap_or_else(now);
    let sources = doctor::check(&client, cfg, t)?;
    let mut outcome = dashboards::provision(&client, &store, cfg, &defs, Some(&sources), dry_run)?;
    if recreate && !dry_run && outcome.count(ActionKind::Deleted) > 0 {
        dashboards::forget_deleted(&store, p.project_id, &outcome)?;
        outcome = dashboards::provision(&client, &store, cfg, &defs, Some(&sources), false)?;
    }
    if g.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&outcome).unwrap_or_default()
        );
        return Ok(0);
    }
    out!(
        "{}{}",
        if dry_run {
            "plan (dry run, nothing changed): "
        } else {
            ""
        },
        outcome.folder
    );
    if let Some(v) = &outcome.deals_view {
        out!(
            "  {:<9} {:<9} {:<48} {}",
            format!("{:?}", v.kind).to_lowercase(),
            "view",
            v.name,
            v.detail
        );
    }
    for a in &outcome.actions {
        out!(
            "  {:<9} {:<9} {:<48} {}",
            format!("{:?}", a.kind).to_lowercase(),
            a.what,
            a.name,
            a.detail
        );
    }
    out!("{}", outcome.summary());
    Ok(if outcome.count(ActionKind::Deleted) > 0 {
        2
    } else {
        0
    })
}

pub fn hogql(
    g: &Global,
    dump: bool,
    score: Option<std::path::PathBuf>,
    backtest: Option<std::path::PathBuf>,
) -> Result<Exit> {
    let ctx = context(g)?;
    let cfg = &ctx.config;
    let t = as_of(g)?.unwrap_or_else(now);
    let t = t - t.rem_euclid(beton::time::SECOND);
    let p = cfg.posthog.clone().unwrap_or_default();
    if let Some(file) = score {
        return score_answers(cfg, t, &file);
    }
    if let Some(file) = backtest {
        return backtest_answers(&ctx, t, &file);
    }
    if !dump {
        return Err(Error::Usage(
            "say what to do: --dump, --score FILE or --backtest FILE".into(),
        ));
    }
    let mut all = hogql::detection_queries(
        cfg,
        p.group_type_index,
        p.property_history_days,
        t,
        "",
        p.page_size,
    );
    let dates = beton::backtest::BacktestOptions::from_config(cfg, t).dates();
    all.push(hogql::first_seen_query(
        cfg,
        p.group_type_index,
        hogql::first_seen_range(cfg, &dates),
        "",
        p.page_size,
    ));
    all.extend(doctor::queries(cfg, &p, t));
    for q in all {
        out!(
            "{}",
            serde_json::json!({"name": q.name, "query": q.sql, "values": q.values})
        );
    }
    // The deals view `beton provision` saves (with the companies join, its fullest form).
    if !p.attio_table.is_empty() {
        let companies = beton::posthog::warehouse::companies_table(&p.attio_table);
        out!(
            "{}",
            serde_json::json!({"name": format!("view_{}", p.deals_table),
                "query": beton::posthog::warehouse::view_sql(cfg, &p, companies.as_deref()), "values": {}})
        );
    }
    let defs = Definitions::builtin()?;
    for tile in &defs.tiles {
        out!(
            "{}",
            serde_json::json!({"name": format!("tile_{}", tile.key), "query": dashboards::tile_query(tile, &p), "values": {}})
        );
    }
    Ok(0)
}

/// Query answers from JSON lines `{name, columns, rows}` (and `as_of` for the backtest's),
/// grouped by `as_of` (None for lines without one) then name.
fn read_answers(
    file: &std::path::Path,
) -> Result<std::collections::BTreeMap<Option<i64>, Answers>> {
    let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
    let mut out: std::collections::BTreeMap<Option<i64>, Answers> = Default::default();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            Error::Usage(format!("{}:{}: {what}: {e}", file.display(), i + 1))
        };
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| bad("bad JSON", &e))?;
        let name = v
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or("")
            .to_string();
        let as_of = match v.get("as_of").and_then(|a| a.as_str()) {
            Some(a) => Some(beton::time::parse_ts(a).ok_or_else(|| bad("as_of", &a))?),
            None => None,
        };
        let columns: Vec<String> =
            serde_json::from_value(v.get("columns").cloned().unwrap_or_default())
                .map_err(|e| bad("columns", &e))?;
        let rows: Vec<Vec<serde_json::Value>> =
            serde_json::from_value(v.get("rows").cloned().unwrap_or_default())
                .map_err(|e| bad("rows", &e))?;
        add_rows(out.entry(as_of).or_default(), name, Rows { columns, rows });
    }
    Ok(out)
}

/// Appends `rows` to the answer of query `name` (the first lines' columns stand).
fn add_rows(answers: &mut Answers, name: String, rows: Rows) {
    let entry = answers.entry(name).or_insert_with(|| Rows {
        columns: rows.columns.clone(),
        rows: Vec::new(),
    });
    entry.rows.extend(rows.rows);
}

/// The backtest at `t` from answers: the detection queries' at every replay date, and the
/// first-seen query's; deals from the workspace. Prints the report as JSON (nothing is saved).
fn backtest_answers(
    ctx: &beton::pipeline::Context,
    t: i64,
    file: &std::path::Path,
) -> Result<Exit> {
    let cfg = &ctx.config;
    let mut answers = read_answers(file)?;
    let undated = answers.remove(&None).unwrap_or_default();
    let first = undated.get(hogql::FIRST_SEEN).ok_or_else(|| {
        Error::Usage(format!(
            "{}: no {} answer",
            file.display(),
            hogql::FIRST_SEEN
        ))
    })?;
    let first_seen = hogql::first_seen_from(first)?;
    let store = ctx.open_store()?;
    // With parent accounts, a workspace's deals are its parent's (SPEC §14), by the accounts
    // the workspace holds as of T.
    let deals = beton::signals::parents::deals_at(&store, cfg, t)?;
    let opts = beton::backtest::BacktestOptions::from_config(cfg, t);
    let dates = opts.dates();
    let replay = beton::backtest::replay_metrics(
        cfg,
        &dates,
        &first_seen,
        deals.iter().map(|d| d.account_key.clone()),
        |d| {
            let d = d - d.rem_euclid(beton::time::SECOND);
            let a = answers.get(&Some(d)).ok_or_else(|| {
                Error::Usage(format!(
                    "{}: no answers as of {}",
                    file.display(),
                    fmt_ts(d)
                ))
            })?;
            let d = hogql::from_answers(cfg, a, d)?;
            Ok((d.metrics, d.parents))
        },
        &beton::progress::Silent,
    )?;
    // The reps' answers too (SPEC §10), as `beton backtest` reports them.
    let report =
        beton::backtest::Dispositions::load(&store, &opts)?.report(&replay, &deals, cfg, &opts);
    out!(
        "{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );
    Ok(0)
}

/// Scores answers given as JSON lines `{name, columns, rows}` with the detection rules.
fn score_answers(cfg: &beton::config::Config, t: i64, file: &std::path::Path) -> Result<Exit> {
    // Every line counts, whatever its `as_of`: rows of the same query are put together.
    let mut answers = Answers::new();
    for group in read_answers(file)?.into_values() {
        for (name, rows) in group {
            add_rows(&mut answers, name, rows);
        }
    }
    let d = hogql::from_answers(cfg, &answers, t)?;
    let items: Vec<_> = d
        .metrics
        .into_iter()
        .enumerate()
        .map(|(i, (k, m))| (i as i64, k, m))
        .collect();
    let scores = score_metrics(&items, cfg, t);
    let accounts: Vec<_> = scores
        .iter()
        .map(|s| {
            serde_json::json!({"account": s.account, "score": s.score, "tier": s.tier,
                "signals": s.fired.iter().map(|f| f.signal.as_str()).collect::<Vec<_>>()})
        })
        .collect();
    let health = beton::health::from_counts(d.health, t);
    out!(
        "{}",
        serde_json::json!({"as_of": fmt_ts(t), "accounts_scored": items.len(), "accounts": accounts,
            "health": health})
    );
    Ok(0)
}
