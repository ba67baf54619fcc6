//! `beton diff`: why scores changed between two times or two runs (SPEC §13).

use beton::pipeline::diff::{Between, diff as compute};
use beton::progress::Silent;
use beton::signals::diff::{Component, Diff, Kind, State};
use beton::time::parse_ts;
use beton::{Error, Result};

use super::args::Global;
use super::common::{Exit, context};

fn time(flag: &str, s: &str) -> Result<i64> {
    parse_ts(s)
        .ok_or_else(|| Error::Usage(format!("{flag} {s:?}: expected RFC 3339 or YYYY-MM-DD")))
}

pub fn diff(
    g: &Global,
    account: Option<&str>,
    from: Option<String>,
    to: Option<String>,
    runs: Option<Vec<i64>>,
) -> Result<Exit> {
    let between = match (from, to, runs.as_deref()) {
        (Some(f), Some(t), None) => Between::Times(time("--from", &f)?, time("--to", &t)?),
        (None, None, Some([a, b])) => Between::Runs(*a, *b),
        _ => {
            return Err(Error::Usage(
                "beton diff needs --from T1 --to T2 or --runs A B".into(),
            ));
        }
    };
    let ctx = context(g)?;
    let d = compute(&ctx, between, account, &Silent)?;
    if g.json {
        out!("{}", serde_json::to_string_pretty(&d).unwrap_or_default());
    } else {
        for line in table(&d) {
            out!("{line}");
        }
    }
    Ok(0)
}

fn state(s: &State) -> String {
    format!(
        "{:>3} {:<4}{}",
        s.score,
        s.tier.map_or("-", |t| t.as_str()),
        if s.routed { " routed" } else { "" }
    )
}

fn component(c: &Component) -> String {
    let what = match c.kind {
        Kind::SignalAdded => format!("+ {}", c.signal.as_deref().unwrap_or("")),
        Kind::SignalRemoved => format!("- {}", c.signal.as_deref().unwrap_or("")),
        Kind::Cap => "cap".into(),
        Kind::Bonus => "bonus".into(),
        Kind::Settings => match &c.signal {
            Some(s) => format!("settings {s}"),
            None => "settings".into(),
        },
    };
    let mut line = format!("      {:>+4}  {what:<28}", c.points);
    if let Some(e) = &c.evidence {
        line.push_str(&format!("  {e}"));
    }
    if !c.keys.is_empty() {
        line.push_str(&format!("  [{}]", c.keys.join(", ")));
    }
    line.trim_end().to_string()
}

/// The diff for a person: the header, the changed settings, then each account and its parts.
pub fn table(d: &Diff) -> Vec<String> {
    let mut lines = vec![match (d.from_run, d.to_run) {
        (Some(a), Some(b)) => format!("run {a} ({}) → run {b} ({})", d.from, d.to),
        _ => format!("{} → {}", d.from, d.to),
    }];
    lines.extend(d.notes.iter().map(|n| format!("note: {n}")));
    if !d.settings_changed.is_empty() {
        lines.push("settings changed:".into());
        for s in &d.settings_changed {
            lines.push(format!("  {}: {} → {}", s.key, s.before, s.after));
        }
    }
    lines.push(format!(
        "{} accounts changed score, tier or routing ({} scored on either side)",
        d.accounts.len(),
        d.accounts_compared
    ));
    if d.accounts.is_empty() {
        return lines;
    }
    lines.push(format!(
        "{:<30}  {:<15}  {:<15}  change",
        "account", "before", "after"
    ));
    for a in &d.accounts {
        lines.push(format!(
            "{:<30}  {:<15}  {:<15}  {:+}",
            a.account,
            state(&a.before),
            state(&a.after),
            a.change()
        ));
        lines.extend(a.components.iter().map(component));
    }
    lines
}
