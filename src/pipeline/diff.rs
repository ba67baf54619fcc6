//! `beton diff` (SPEC §13): the scores at two times with the settings in force now, or two
//! recorded runs each with the settings it ran with, compared by [`crate::signals::diff`].
//! Nothing is recorded and nothing is sent.

use std::collections::BTreeMap;

use super::Context;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::signals::diff::{Diff, Side, compare, config_of_recorded, run_sides, sides_of};
use crate::source::{Budget, Source};
use crate::time::fmt_ts;

/// What to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Between {
    /// Detection at two times, both with today's settings (no run needs to exist).
    Times(i64, i64),
    /// Two recorded runs by id.
    Runs(i64, i64),
}

/// Compares two sides for every account, or only `account`.
pub fn diff(
    ctx: &Context,
    between: Between,
    account: Option<&str>,
    progress: &dyn Progress,
) -> Result<Diff> {
    let store = ctx.open_store()?;
    // A diff records nothing: accounts a detection would add get ids below 0.
    let _ids = store.what_if_ids();
    let cfg = &ctx.config;
    let (mut before, mut after, cfg_before, cfg_after, head) = match between {
        Between::Times(t1, t2) => {
            let client =
                crate::source::client(&ctx.paths, cfg, Budget::Backtests { runs: 1, dates: 2 })
                    .map_err(|e| Error::Usage(e.to_string()))?;
            let source = Source::of(client.as_ref());
            let mut sides = Vec::new();
            let mut times = Vec::new();
            for d in source.detect_dates(&store, cfg, &[t1, t2], progress)? {
                let mut scored = d.result.map_err(Error::Usage)?;
                // Routed as a daily run at that T routes: the ARR floor (SPEC §8) and the reps'
                // answers in force (§10).
                crate::signals::routing::apply_floor(&store, cfg, d.t, &mut scored.scores)?;
                crate::feedback::apply_stored(&store, &cfg.feedback, d.t, &mut scored.scores)?;
                sides.push(sides_of(&scored.scores));
                times.push(d.t);
            }
            let after = sides.pop().unwrap_or_default();
            let before = sides.pop().unwrap_or_default();
            let head = Head {
                from: fmt_ts(times[0]),
                to: fmt_ts(times[1]),
                runs: None,
                notes: Vec::new(),
            };
            (before, after, cfg.clone(), cfg.clone(), head)
        }
        Between::Runs(a, b) => {
            let mut notes = Vec::new();
            let mut side =
                |id: i64| -> Result<(BTreeMap<String, Side>, crate::config::Config, i64)> {
                    let run = store
                        .run(id)?
                        .ok_or_else(|| Error::Usage(format!("no run {id} in this workspace")))?;
                    let recorded = store.run_settings(id)?;
                    let run_cfg = recorded.as_deref().and_then(|r| config_of_recorded(r, cfg));
                    if run_cfg.is_none() {
                        notes.push(format!(
                        "run {id} did not record its settings: compared with the settings in force now"
                    ));
                    }
                    Ok((
                        run_sides(&store, id)?,
                        run_cfg.unwrap_or_else(|| cfg.clone()),
                        run.as_of,
                    ))
                };
            let (before, cfg_before, t1) = side(a)?;
            let (after, cfg_after, t2) = side(b)?;
            let head = Head {
                from: fmt_ts(t1),
                to: fmt_ts(t2),
                runs: Some((a, b)),
                notes,
            };
            (before, after, cfg_before, cfg_after, head)
        }
    };
    if let Some(key) = account {
        if store.account_id(key)?.is_none() {
            return Err(Error::Usage(format!(
                "no account `{key}` in this workspace"
            )));
        }
        before.retain(|k, _| k == key);
        after.retain(|k, _| k == key);
    }
    let (settings_changed, accounts, compared) = compare(&before, &after, &cfg_before, &cfg_after);
    Ok(Diff {
        from: head.from,
        to: head.to,
        from_run: head.runs.map(|r| r.0),
        to_run: head.runs.map(|r| r.1),
        settings_changed,
        notes: head.notes,
        accounts_compared: compared,
        accounts,
    })
}

struct Head {
    from: String,
    to: String,
    runs: Option<(i64, i64)>,
    notes: Vec<String>,
}
