//! `beton learn` (SPEC §11): weights learned from outcomes, validated forward in time, proposed
//! as base points, and applied only by a deliberate step that can be rolled back.
//!
//! [`model`] is the pure part (observations, fit, validation, proposal); this module runs it on
//! the workspace's replay and applies or rolls back its bases in the config file and the store.

pub mod model;

use std::path::Path;

pub use model::{
    BeforeAfter, Coefficient, FeedbackUse, Learned, Model, Part, RulesValidation, TestPart,
    Validation, learn, learn_with, propose_bases, rescore, score_of,
};

use crate::backtest::{self, BacktestOptions, Outcomes, Source};
use crate::config::{Config, write_overrides};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::store::Store;

/// An applied model as the workspace keeps it.
pub type StoredModel = crate::store::StoredModel<Model>;

/// The model in force in the workspace, if any (the newest not rolled back).
pub fn current_model(store: &Store) -> Result<Option<StoredModel>> {
    store.current_model()
}

/// The learn replay at T: `learn.range_days` with the backtest's step and horizon.
pub fn options(cfg: &Config, as_of: i64) -> BacktestOptions {
    BacktestOptions {
        as_of,
        range_days: cfg.learn.range_days,
        step_days: cfg.backtest.step_days,
        horizon_days: cfg.backtest.horizon_days,
    }
}

/// Replays the workspace and learns; nothing is written.
pub fn run(
    store: &Store,
    cfg: &Config,
    opts: &BacktestOptions,
    progress: &dyn Progress,
    source: Source<'_>,
) -> Result<Learned> {
    run_with(store, cfg, opts, progress, source, false)
}

/// [`run`]; with `use_feedback` the reps' `not_ready` answers at or before T are negative
/// outcomes of the training part ([`learn_with`]).
pub fn run_with(
    store: &Store,
    cfg: &Config,
    opts: &BacktestOptions,
    progress: &dyn Progress,
    source: Source<'_>,
    use_feedback: bool,
) -> Result<Learned> {
    let (r, deals) = backtest::replay_with_deals(store, cfg, opts, progress, source)?;
    let outcomes = Outcomes::of(&deals, &r.accounts, cfg, opts.as_of);
    let answers = if use_feedback {
        let index: std::collections::HashMap<&str, usize> = r
            .accounts
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect();
        let book = crate::feedback::Book::load(store)?;
        let mut a: Vec<(usize, i64)> = book
            .all()
            .filter(|d| d.kind == crate::feedback::Kind::NotReady && d.at <= opts.as_of)
            .filter_map(|d| Some((*index.get(d.account.as_str())?, d.at)))
            .collect();
        a.sort_unstable();
        Some(a)
    } else {
        None
    };
    Ok(learn_with(
        &r,
        &outcomes,
        cfg,
        &opts.frame(cfg),
        answers.as_deref(),
    ))
}

/// Writes the proposed bases to `config_file` (atomically, comments kept) and records the model
/// in the workspace, both or neither. Refuses a model that validates worse than the rules in
/// force unless `force`.
pub fn apply(
    store: &Store,
    config_file: &Path,
    learned: &mut Learned,
    as_of: i64,
    force: bool,
) -> Result<StoredModel> {
    let sets = learned.sets();
    apply_with(store, learned, as_of, force, || {
        write_overrides(config_file, &sets).map(|_| ())
    })
}

/// As [`apply`], with `write` putting the proposed bases in force (the terminal app writes its
/// draft, which holds them, through the tuner's apply step). The model is recorded only when
/// `write` succeeds, and `write` is not called for a refused model.
pub fn apply_with(
    store: &Store,
    learned: &mut Learned,
    as_of: i64,
    force: bool,
    write: impl FnOnce() -> Result<()>,
) -> Result<StoredModel> {
    let (Some(model), Some(bases)) = (&learned.model, &learned.proposed_bases) else {
        return Err(Error::Usage(format!(
            "learn --apply: nothing to apply: {}",
            learned.reason.as_deref().unwrap_or("no model")
        )));
    };
    if !learned.validates && !force {
        return Err(Error::Usage(format!(
            "learn --apply: not applied: {}; --force applies it anyway",
            learned
                .validation_reason
                .as_deref()
                .unwrap_or("the model did not validate")
        )));
    }
    let mut stored = StoredModel {
        id: 0,
        applied_at: crate::time::now(),
        as_of,
        bases_before: learned.current_bases.clone(),
        bases_after: bases.clone(),
        model: model.clone(),
        test_auc: learned.test.model.auc,
        rules_auc: learned.rules.before.auc,
        forced: !learned.validates,
    };
    stored.id = store.apply_model(&stored, write)?;
    learned.applied = true;
    Ok(stored)
}

/// Puts back the bases the current model replaced and retires it; the model before it (if any)
/// is current again. Returns the retired model.
pub fn rollback(store: &Store, config_file: &Path) -> Result<StoredModel> {
    let Some(current) = current_model(store)? else {
        return Err(Error::Usage(
            "learn --rollback: no applied model to roll back".into(),
        ));
    };
    let sets: Vec<String> = current
        .bases_before
        .iter()
        .map(|(t, b)| format!("{t}.base={b}"))
        .collect();
    store.roll_back_model_with(current.id, crate::time::now(), || {
        write_overrides(config_file, &sets).map(|_| ())
    })?;
    Ok(current)
}

/// One fired type's part of the log-odds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Contribution {
    pub signal: crate::signals::SignalType,
    pub log_odds: f64,
}

/// The current model's view of one account: its win probability within the horizon and each
/// fired type's log-odds contribution.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Chance {
    pub model_id: i64,
    pub horizon_days: u32,
    /// The log-odds when nothing fired.
    pub intercept: f64,
    pub contributions: Vec<Contribution>,
    /// σ(intercept + Σ contributions): the chance of a won deal within `horizon_days`.
    pub win_probability: f64,
}

/// [`Chance`] of an account on which `fired` fired, under the stored model.
pub fn chance(m: &StoredModel, fired: &[crate::signals::SignalType]) -> Chance {
    Chance {
        model_id: m.id,
        horizon_days: m.model.horizon_days,
        intercept: m.model.intercept,
        contributions: m
            .model
            .contributions(fired)
            .into_iter()
            .map(|(signal, log_odds)| Contribution { signal, log_odds })
            .collect(),
        win_probability: m.model.probability(fired),
    }
}

impl Chance {
    /// The lines `explain` prints.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "learned model #{}: win probability within {} days {:.1} % (log-odds {:+.2} when nothing fired)",
            self.model_id,
            self.horizon_days,
            self.win_probability * 100.0,
            self.intercept
        )];
        for c in &self.contributions {
            out.push(format!(
                "  {:<19} {:+.2} log-odds",
                c.signal.as_str(),
                c.log_odds
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::planted::{BASE_LOG_ODDS, PLANTS, planted};

    /// A model that validates worse than the rules is refused without --force: the file and the
    /// workspace are left as they were; with --force it is applied and marked forced.
    #[test]
    fn a_model_that_validates_worse_needs_force() {
        let (r, o, f) = planted(1, 2000, 365, &PLANTS, BASE_LOG_ODDS);
        let mut l = learn(&r, &o, &Config::default(), &f);
        assert!(l.model.is_some() && l.validates, "{:?}", l.reason);
        l.validates = false;
        l.validation_reason = Some("validates worse than the rules in force".into());
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("config.toml");
        let text = "# mine\n[signals.billing_intent]\nbase = 40 # keep\n";
        std::fs::write(&file, text).expect("write");
        let store = Store::open_in_memory().expect("store");
        let e = apply(&store, &file, &mut l, 0, false).expect_err("refused");
        assert!(e.to_string().contains("--force"), "{e}");
        assert_eq!(std::fs::read_to_string(&file).expect("read"), text);
        assert_eq!(current_model(&store).expect("read"), None);
        assert!(!l.applied);

        let m = apply(&store, &file, &mut l, 0, true).expect("forced");
        assert!(m.forced && l.applied);
        let now = std::fs::read_to_string(&file).expect("read");
        assert!(
            now.starts_with("# mine\n") && now.contains("# keep"),
            "{now}"
        );
        let cfg = Config::parse(&now, "test").expect("valid settings");
        let bases = l.proposed_bases.as_ref().expect("bases");
        assert_eq!(cfg.signals.pricing_intent.base, bases["pricing_intent"]);
        assert_eq!(
            current_model(&store).expect("read").map(|s| s.id),
            Some(m.id)
        );

        let back = rollback(&store, &file).expect("rolled back");
        assert_eq!(back.id, m.id);
        let cfg =
            Config::parse(&std::fs::read_to_string(&file).expect("read"), "test").expect("valid");
        assert_eq!(cfg.signals.pricing_intent.base, 30);
        assert_eq!(current_model(&store).expect("read"), None);
    }

    /// A config file that cannot take the bases leaves nothing recorded.
    #[test]
    fn a_failed_write_records_no_model() {
        let (r, o, f) = planted(1, 2000, 365, &PLANTS, BASE_LOG_ODDS);
        let mut l = learn(&r, &o, &Config::default(), &f);
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "route_threshold = [").expect("write");
        let store = Store::open_in_memory().expect("store");
        assert!(apply(&store, &file, &mut l, 0, true).is_err());
        assert_eq!(current_model(&store).expect("read"), None);
        assert!(!l.applied);
    }
}
