//! `beton learn` (SPEC §11): fit, validate, propose, apply, roll back.

use super::*;

/// `beton learn`: fit, validate and propose (nothing written); `--apply` writes the bases and
/// records the model; `--rollback` puts the previous bases back.
pub fn learn(
    g: &Global,
    apply: bool,
    force: bool,
    rollback: bool,
    use_feedback: bool,
) -> Result<Exit> {
    if rollback {
        let ctx = context(g)?;
        let store = ctx.open_store()?;
        let m = beton::learn::rollback(&store, &ctx.paths.config_file)?;
        if g.json {
            json(&serde_json::json!({"rolled_back": m.id, "bases": m.bases_before}));
        } else {
            let bases: Vec<String> = m
                .bases_before
                .iter()
                .map(|(t, b)| format!("{t} {b}"))
                .collect();
            out!(
                "rolled back model #{} (applied {}); bases restored in {}: {}",
                m.id,
                fmt_ts(m.applied_at),
                ctx.paths.config_file.display(),
                bases.join(", ")
            );
        }
        return Ok(0);
    }
    let (ctx, store, t) = open(g)?;
    let opts = beton::learn::options(&ctx.config, t);
    let started = Instant::now();
    let client = remote(&ctx, &opts, 1)?;
    let mut l = beton::learn::run_with(
        &store,
        &ctx.config,
        &opts,
        &Silent,
        source(&client),
        use_feedback,
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let mut refused = None;
    if apply && l.model.is_some() {
        match beton::learn::apply(&store, &ctx.paths.config_file, &mut l, t, force) {
            Ok(_) => {}
            Err(Error::Usage(why)) => refused = Some(why),
            Err(e) => return Err(e),
        }
    }
    if g.json {
        json(&l);
    } else {
        print_learned(&l);
        out!("computed in {seconds:.2} s");
        if l.applied {
            out!(
                "applied: bases written to {}; `beton learn --rollback` puts the previous ones back",
                ctx.paths.config_file.display()
            );
        } else if apply && l.model.is_none() {
            out!("nothing applied: no model");
        } else if !apply && l.model.is_some() {
            out!("nothing written; `beton learn --apply` writes the proposed bases");
        }
    }
    match refused {
        Some(why) => {
            eprintln!("beton: {why}");
            Ok(2)
        }
        None => Ok(0),
    }
}

pub(super) fn print_learned(l: &beton::learn::Learned) {
    let day = |s: &Option<String>| {
        s.as_deref()
            .map_or("-".to_string(), |d| d.get(..10).unwrap_or(d).to_string())
    };
    out!(
        "Learn as of {}: replay of {} days every {} days, horizon {} days; L2 λ = {}",
        l.as_of,
        l.range_days,
        l.step_days,
        l.horizon_days,
        l.lambda
    );
    for (name, p) in [("train", &l.train), ("test", &l.test.part)] {
        out!("  {}", p.summary(name));
    }
    out!(
        "  cutoff {} (training dates end a horizon before it)",
        day(&l.cutoff)
    );
    if let Some(fb) = &l.feedback {
        out!(
            "  --use-feedback: {} of {} reps' not_ready answers added to the training part as \
             negative outcomes (the rest came after the cutoff or after a win)",
            fb.in_training,
            fb.not_ready
        );
    }
    let Some(m) = &l.model else {
        out!(
            "  model: none — {}",
            l.reason.as_deref().unwrap_or("not fitted")
        );
        return;
    };
    out!(
        "  {:<19} {:>22} {:>8} {:>10}  {}",
        "signal",
        "log-odds [95 % CI]",
        "odds ×",
        "fired obs",
        "base now → proposed"
    );
    for c in &m.coefficients {
        let ci = c.ci95.map_or("n/a".to_string(), |[lo, hi]| {
            format!("[{lo:+.2}, {hi:+.2}]")
        });
        let name = c.signal.as_str();
        let now = l.current_bases.get(name).copied().unwrap_or(0);
        let proposed = l
            .proposed_bases
            .as_ref()
            .and_then(|b| b.get(name))
            .map_or("-".to_string(), |b| b.to_string());
        let mark = if c.ci95.is_some_and(|[lo, hi]| lo > 0.0 || hi < 0.0) {
            "*"
        } else {
            " "
        };
        out!(
            "  {:<19} {:>+6.2} {:<15}{mark} {:>7.2} {:>10}  {now} → {proposed}",
            name,
            c.coefficient,
            ci,
            c.odds_ratio,
            c.fired_observations
        );
    }
    out!(
        "  * the interval excludes 0; intercept {:+.2}: {:.1} % chance of a win within {} days when nothing fired",
        m.intercept,
        100.0 / (1.0 + (-m.intercept).exp()),
        l.horizon_days
    );
    let v = &l.test.model;
    let r = &l.rules;
    out!(
        "  test: AUC {} (rules in force {}, proposed bases {}), PR-AUC {} (rules {}), Brier {}, top-decile lift {}",
        Unit::Ratio.show(v.auc),
        Unit::Ratio.show(r.before.auc),
        Unit::Ratio.show(r.after.as_ref().and_then(|a| a.auc)),
        Unit::Ratio.show(v.pr_auc),
        Unit::Ratio.show(r.before.pr_auc),
        v.brier.map_or("n/a".into(), |b| format!("{b:.4}")),
        Unit::Multiple.show(v.top_decile_lift)
    );
    out!("  calibration on the test part (predicted → observed):");
    for b in l.test.calibration.iter().filter(|b| b.observations > 0) {
        out!(
            "    [{:.1}, {:.1}{}  {:>8} observations  {:>7} → {:>7}",
            b.from,
            b.to,
            if b.to >= 1.0 { "]" } else { ")" },
            b.observations,
            pct(b.predicted),
            pct(b.observed)
        );
    }
    if let Some(ba) = &l.backtest {
        out!("  backtest over the learn replay, bases in force → proposed:");
        for c in ba.changes.iter().filter(|c| !c.figure.contains('.')) {
            let mark = if c.changed() { "*" } else { " " };
            out!(
                "    {:<24} {:>12} → {:>12} {mark}",
                c.figure,
                c.unit.show(c.before),
                c.unit.show(c.after)
            );
        }
    }
    if let Some(why) = &l.reason {
        out!("  n/a proposed bases: {why}");
    }
    match &l.validation_reason {
        None if l.validates => {
            out!("  validates: at least as good as the rules in force on the test part")
        }
        Some(why) => out!("  does not validate: {why}"),
        None => {}
    }
}
