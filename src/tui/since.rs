//! "Why now" in the terminal app: the hot queue's marks (new since the previous run, or moved
//! tier) and the detail's change since an earlier run (Tab and Shift-Tab pick which), both from
//! the core's diff of two recorded runs (`beton::signals::diff`).

use std::collections::HashMap;

use ratatui::text::{Line, Span};

use beton::config::Config;
use beton::signals::Tier;
use beton::signals::diff::{AccountDiff, Kind, compare, config_of_recorded, run_sides_in, why_now};
use beton::store::Store;
use beton::{Result, time::fmt_date};

use super::theme::Theme;

/// How a queue account moved since the previous run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// Not scored in the previous run.
    New,
    /// A better tier than in the previous run.
    Up,
    /// A worse tier.
    Down,
}

impl Move {
    /// The mark before the account key in the queue.
    pub fn mark(self) -> &'static str {
        match self {
            Move::New => "★ ",
            Move::Up => "▲ ",
            Move::Down => "▼ ",
        }
    }
}

/// Every account of run `run_id` that is new or moved tier since the daily run before it (none
/// when there is no earlier run: the first run has nothing to be new against).
pub fn moves(store: &Store, run_id: i64) -> Result<HashMap<String, Move>> {
    let Some(prev) = store.previous_run("daily", run_id)? else {
        return Ok(HashMap::new());
    };
    let (after, before) = (
        run_sides_in(store, run_id, None)?,
        run_sides_in(store, prev.id, None)?,
    );
    Ok(after
        .into_iter()
        .filter_map(|(k, a)| {
            let m = match before.get(&k).and_then(|b| b.tier) {
                None => Move::New,
                Some(b) => match (a.tier?, b) {
                    (x, y) if x < y => Move::Up,
                    (x, y) if x > y => Move::Down,
                    _ => return None,
                },
            };
            Some((k, m))
        })
        .collect())
}

/// The account compared with one earlier run.
#[derive(Debug, Clone, PartialEq)]
pub struct Against {
    pub run_id: i64,
    pub as_of: i64,
    /// The one-line why-now.
    pub line: String,
    /// The change split into its components; `None` when score, tier and routing are the same.
    pub diff: Option<AccountDiff>,
}

/// How many earlier runs the detail offers to compare with.
pub const EARLIER_RUNS: usize = 12;

/// One account (`id`) of the latest daily run against each of the runs before it, newest
/// first.
pub fn load(store: &Store, cfg: &Config, id: i64) -> Result<Vec<Against>> {
    let Some(latest) = store.latest_run("daily")? else {
        return Ok(Vec::new());
    };
    let settings = |run: i64| -> Result<Config> {
        Ok(store
            .run_settings(run)?
            .and_then(|s| config_of_recorded(&s, cfg))
            .unwrap_or_else(|| cfg.clone()))
    };
    let after = run_sides_in(store, latest.id, Some(id))?;
    let cfg_after = settings(latest.id)?;
    let mut out = Vec::new();
    for run in store.runs_before("daily", latest.id, EARLIER_RUNS)? {
        let before = run_sides_in(store, run.id, Some(id))?;
        let (_, diffs, _) = compare(&before, &after, &settings(run.id)?, &cfg_after);
        let line = match after.values().next() {
            Some(a) => why_now(before.values().next(), a),
            None => match before.values().next() {
                Some(b) => format!("no signal now; score {} → 0", b.score),
                None => "no signal then or now".into(),
            },
        };
        out.push(Against {
            run_id: run.id,
            as_of: run.as_of,
            line,
            diff: diffs.into_iter().next(),
        });
    }
    Ok(out)
}

/// The detail's "since" block for the run picked (`pick` into `since`, newest first).
pub fn lines(since: &[Against], pick: usize, t: &Theme) -> Vec<Line<'static>> {
    let mut out = vec![
        Line::from(""),
        Line::from(Span::styled("why now", t.header())),
    ];
    let Some(a) = since.get(pick.min(since.len().saturating_sub(1))) else {
        out.push(Line::from("  no earlier run to compare with"));
        return out;
    };
    out.push(Line::from(format!(
        "  since run {} ({}), {} of {} (Tab older, Shift-Tab newer): {}",
        a.run_id,
        fmt_date(a.as_of),
        pick.min(since.len() - 1) + 1,
        since.len(),
        a.line
    )));
    let Some(d) = &a.diff else {
        out.push(Line::from("  score, tier and routing unchanged"));
        return out;
    };
    let tier = |x: Option<Tier>| x.map_or("-", Tier::as_str);
    out.push(Line::from(format!(
        "  {} {} → {} {}{}",
        d.before.score,
        tier(d.before.tier),
        d.after.score,
        tier(d.after.tier),
        match (d.before.routed, d.after.routed) {
            (false, true) => ", now routed",
            (true, false) => ", no longer routed",
            _ => "",
        }
    )));
    for c in &d.components {
        let what = match c.kind {
            Kind::SignalAdded => format!("+ {}", c.signal.as_deref().unwrap_or_default()),
            Kind::SignalRemoved => format!("- {}", c.signal.as_deref().unwrap_or_default()),
            Kind::Cap => "cap".into(),
            Kind::Bonus => "bonus".into(),
            Kind::Settings => format!("settings {}", c.keys.join(", ")),
        };
        let style = if c.points >= 0 { t.good() } else { t.error() };
        out.push(Line::from(vec![
            Span::styled(format!("  {:>+4} ", c.points), style),
            Span::raw(format!(
                "{what}{}",
                c.evidence
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            )),
        ]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use beton::signals::{Fired, SignalType, score_fired};

    fn fired(signal: SignalType, cfg: &Config) -> Fired {
        Fired {
            signal,
            base: signal.base(cfg),
            evidence: format!("{signal} evidence"),
            numbers: Default::default(),
        }
    }

    #[test]
    fn marks_and_the_detail_compare_with_the_runs_before() {
        let cfg = Config::default();
        let store = Store::open_in_memory().unwrap();
        let ids = store
            .ensure_accounts(["acme.com", "globex.io", "initech.com"])
            .unwrap();
        let score = |key: &str, types: &[SignalType]| {
            score_fired(
                ids[key],
                key,
                types.iter().map(|s| fired(*s, &cfg)).collect(),
                &cfg,
            )
        };
        use SignalType::*;
        // Run 1: acme warm (pricing + usage = 65), globex warm (pricing + team = 65).
        let first = vec![
            score("acme.com", &[PricingIntent, UsageSpike]),
            score("globex.io", &[PricingIntent, TeamGrowth]),
        ];
        store
            .record_detection("daily", "local", 0, &first, 7)
            .unwrap();
        // Run 2: acme hot (+ billing), globex cool (team only), initech new.
        let second = vec![
            score("acme.com", &[BillingIntent, PricingIntent, UsageSpike]),
            score("globex.io", &[TeamGrowth]),
            score("initech.com", &[PricingIntent]),
        ];
        let (run2, _) = store
            .record_detection("daily", "local", 7 * beton::time::DAY, &second, 7)
            .unwrap();
        store.finish_run(run2, "ok", "{}").unwrap();

        let m = moves(&store, run2).unwrap();
        assert_eq!(m.get("acme.com"), Some(&Move::Up));
        assert_eq!(m.get("globex.io"), Some(&Move::Down));
        assert_eq!(m.get("initech.com"), Some(&Move::New));

        let since = load(&store, &cfg, ids["acme.com"]).unwrap();
        assert_eq!(since.len(), 1);
        assert_eq!(since[0].line, "new: billing_intent +40; score 65 → 95");
        let d = since[0].diff.as_ref().unwrap();
        let sum: i64 = d.components.iter().map(|c| c.points).sum();
        assert_eq!(sum, 30);
        assert!(lines(&since, 0, &Theme::from_env()).iter().any(|l| {
            l.to_string()
                .contains("+40 + billing_intent: billing_intent evidence")
        }));
    }
}
