//! `beton explain-signal`: a signal's definition and settings, how it did in the backtest, and
//! tuning advice read off a sweep of its main threshold.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{BacktestOptions, SignalFigures, SweepPoint, Unit};
use crate::config::Config;
use crate::error::Result;
use crate::progress::Progress;
use crate::signals::SignalType;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalExplanation {
    pub signal: SignalType,
    pub definition: String,
    /// The signal's section of the settings.
    pub settings: Value,
    /// Its figures under the current settings.
    pub figures: SignalFigures,
    /// The threshold swept for the advice, its current value, and each value's figures.
    pub tuning_key: String,
    pub current: String,
    pub sweep: Vec<SweepPoint>,
    pub advice: String,
    /// The sweep value the advice names when it differs from `current` (best F1 of the signal's
    /// own figures); none when the advice is to keep it or there is not enough history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested: Option<String>,
}

/// The threshold that tunes a signal, and the values worth trying around `current`.
pub fn tuning_key(t: SignalType) -> (&'static str, &'static [f64]) {
    match t {
        SignalType::UsageSpike => ("min_growth", &[0.25, 0.5, 0.75, 1.0, 1.5, 2.0]),
        SignalType::LimitApproaching => ("min_ratio", &[0.5, 0.6, 0.7, 0.8, 0.9, 0.95]),
        SignalType::TrialExpiring => ("min_activity", &[1.0, 3.0, 5.0, 10.0, 20.0, 40.0]),
        SignalType::FeatureAdoption => ("min_new_features", &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        SignalType::TeamGrowth => ("min_new_users", &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        SignalType::PricingIntent | SignalType::SupportEngagement | SignalType::BillingIntent => {
            ("min_count", &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        }
    }
}

/// SPEC §2's rule for `t`, with the settings in force.
fn definition(t: SignalType, cfg: &Config) -> String {
    let s = &cfg.signals;
    match t {
        SignalType::UsageSpike => format!(
            "activity events in the last {} days exceed those of the {} days before by more than {:.0} %, \
             with at least {} events in the earlier window",
            s.usage_spike.window_days,
            s.usage_spike.window_days,
            s.usage_spike.min_growth * 100.0,
            s.usage_spike.min_baseline
        ),
        SignalType::PricingIntent => format!(
            "at least {} $pageview events in {} days whose $current_url contains one of {:?}",
            s.pricing_intent.min_count, s.pricing_intent.window_days, s.pricing_intent.url_patterns
        ),
        SignalType::FeatureAdoption => format!(
            "at least {} distinct `feature` values on feature_used events in {} days that the account had not used in the {} days before",
            s.feature_adoption.min_new_features,
            s.feature_adoption.window_days,
            s.feature_adoption.lookback_days
        ),
        SignalType::LimitApproaching => format!(
            "for a property pair of {:?} (used, limit), both numeric and limit > 0, used / limit > {} as of T",
            s.limit_approaching.pairs, s.limit_approaching.min_ratio
        ),
        SignalType::TrialExpiring => format!(
            "account property `{}` falls within the {} days after T, with at least {} activity events in the last {} days",
            s.trial_expiring.property,
            s.trial_expiring.days_ahead,
            s.trial_expiring.min_activity,
            s.trial_expiring.window_days
        ),
        SignalType::TeamGrowth => format!(
            "at least {} users whose first activity for the account in the last {} + {} days falls in the last {} days",
            s.team_growth.min_new_users,
            s.team_growth.lookback_days,
            s.team_growth.window_days,
            s.team_growth.window_days
        ),
        SignalType::SupportEngagement => format!(
            "at least {} events named in {:?} in {} days",
            s.support_engagement.min_count,
            s.support_engagement.events,
            s.support_engagement.window_days
        ),
        SignalType::BillingIntent => format!(
            "at least {} events named in {:?} in {} days",
            s.billing_intent.min_count, s.billing_intent.events, s.billing_intent.window_days
        ),
    }
}

/// A number as TOML writes it: integers without a fraction.
fn show_value(v: f64, integer: bool) -> String {
    if integer {
        format!("{}", v.round() as i64)
    } else {
        format!("{v}")
    }
}

/// Explains `t` and sweeps its threshold over the backtest of `cfg`.
pub fn explain_signal(
    store: &crate::store::Store,
    cfg: &Config,
    t: SignalType,
    opts: &BacktestOptions,
    progress: &dyn Progress,
    source: super::Source<'_>,
) -> Result<SignalExplanation> {
    let settings = serde_json::to_value(&cfg.signals)
        .ok()
        .and_then(|v| v.get(t.as_str()).cloned())
        .unwrap_or_default();
    let (field, candidates) = tuning_key(t);
    let current = settings.get(field).cloned().unwrap_or_default();
    let integer = current.is_u64() || current.is_i64();
    let current_f = current.as_f64().unwrap_or(0.0);
    let mut values: Vec<f64> = candidates.to_vec();
    values.push(current_f);
    values.sort_by(f64::total_cmp);
    values.dedup();

    let key = format!("{}.{field}", t.as_str());
    let shown: Vec<String> = values.iter().map(|v| show_value(*v, integer)).collect();
    let candidates = shown
        .iter()
        .map(|v| cfg.with_overrides(&[format!("{key}={v}")]))
        .collect::<Result<Vec<Config>>>()?;
    let mut all: Vec<&Config> = vec![cfg];
    all.extend(candidates.iter());
    let mut reports = super::reports(store, &all, opts, progress, source)?.into_iter();
    let base = reports.next().ok_or(crate::error::Error::Cancelled)?;
    let figures = base
        .per_signal
        .iter()
        .find(|f| f.signal == t)
        .cloned()
        .unwrap_or_else(|| empty_figures(t));
    let sweep: Vec<SweepPoint> = reports
        .zip(shown)
        .map(|(r, value)| SweepPoint {
            value,
            precision: r.precision,
            recall: r.recall,
            f1: r.f1,
            flagged: r.flagged,
            signal: r.per_signal.iter().find(|f| f.signal == t).cloned(),
        })
        .collect();
    let current = show_value(current_f, integer);
    let advice = advise(field, &current, &sweep, &figures);
    let suggested = best(&sweep, &current)
        .filter(|b| b.value != current)
        .map(|b| b.value.clone());
    Ok(SignalExplanation {
        suggested,
        signal: t,
        definition: definition(t, cfg),
        settings,
        figures,
        tuning_key: key,
        current,
        sweep,
        advice,
    })
}

fn empty_figures(t: SignalType) -> SignalFigures {
    SignalFigures {
        signal: t,
        fires: 0,
        flagged: 0,
        true_positives: 0,
        false_positives: 0,
        censored: 0,
        caught: 0,
        precision: None,
        recall: None,
        f1: None,
        reasons: Default::default(),
        evidence: Default::default(),
    }
}

/// The sweep point with the best F1 of the signal's own figures (the current value on a tie).
fn best<'a>(sweep: &'a [SweepPoint], current: &str) -> Option<&'a SweepPoint> {
    let f1_of = |p: &SweepPoint| p.signal.as_ref().and_then(|s| s.f1);
    sweep.iter().filter(|p| f1_of(p).is_some()).max_by(|a, b| {
        f1_of(a)
            .unwrap_or(0.0)
            .total_cmp(&f1_of(b).unwrap_or(0.0))
            .then_with(|| (a.value == current).cmp(&(b.value == current)))
    })
}

/// The sweep value with the best F1 of the signal's own figures, said in words.
pub fn advise(field: &str, current: &str, sweep: &[SweepPoint], now: &SignalFigures) -> String {
    let pct = |v: Option<f64>| Unit::Percent.show(v);
    let Some(best) = best(sweep, current) else {
        let why = now
            .reasons
            .values()
            .next()
            .cloned()
            .unwrap_or_else(|| "no figures".into());
        return format!("not enough history to advise on {field}: {why}");
    };
    let values: Vec<&str> = sweep.iter().map(|p| p.value.as_str()).collect();
    let range = format!(
        "{}–{}",
        values.first().unwrap_or(&""),
        values.last().unwrap_or(&"")
    );
    let bs = best.signal.as_ref();
    if best.value == current {
        return format!(
            "keep {field} at {current}: among {range} it gives the best F1 ({}), with precision {} and recall {}",
            Unit::Ratio.show(now.f1),
            pct(now.precision),
            pct(now.recall)
        );
    }
    let up = best.value.parse::<f64>().unwrap_or(0.0) > current.parse::<f64>().unwrap_or(0.0);
    let moved = |name: &str, a: Option<f64>, b: Option<f64>| {
        let verb = match (a, b) {
            (Some(a), Some(b)) if b > a => "lifted",
            (Some(a), Some(b)) if b < a => "cut",
            _ => "left",
        };
        format!("{verb} {name} from {} to {}", pct(a), pct(b))
    };
    format!(
        "{} {field} from {current} to {} would have {} and {} (F1 {} → {})",
        if up { "raising" } else { "lowering" },
        best.value,
        moved("precision", now.precision, bs.and_then(|s| s.precision)),
        moved("recall", now.recall, bs.and_then(|s| s.recall)),
        Unit::Ratio.show(now.f1),
        Unit::Ratio.show(bs.and_then(|s| s.f1))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(value: &str, precision: f64, recall: f64) -> SweepPoint {
        let f1 = 2.0 * precision * recall / (precision + recall);
        let mut s = empty_figures(SignalType::PricingIntent);
        (s.precision, s.recall, s.f1) = (Some(precision), Some(recall), Some(f1));
        SweepPoint {
            value: value.into(),
            precision: None,
            recall: None,
            f1: None,
            flagged: 0,
            signal: Some(s),
        }
    }

    #[test]
    fn advice_names_the_best_value_and_what_it_costs() {
        let sweep = [
            point("1", 0.30, 0.75),
            point("2", 0.35, 0.71),
            point("4", 0.52, 0.60),
            point("6", 0.60, 0.20),
        ];
        let now = sweep[1].signal.clone().expect("figures");
        assert_eq!(
            advise("min_count", "2", &sweep, &now),
            "raising min_count from 2 to 4 would have lifted precision from 35.0 % to 52.0 % and cut recall \
             from 71.0 % to 60.0 % (F1 0.47 → 0.56)"
        );
        let now = sweep[2].signal.clone().expect("figures");
        assert!(
            advise("min_count", "4", &sweep, &now).starts_with("keep min_count at 4: among 1–6")
        );
        let down = [point("1", 0.5, 0.9), point("3", 0.5, 0.2)];
        let now = down[1].signal.clone().expect("figures");
        assert!(
            advise("min_count", "3", &down, &now).starts_with("lowering min_count from 3 to 1")
        );
        let none = [SweepPoint {
            signal: None,
            ..point("2", 0.1, 0.1)
        }];
        let mut now = empty_figures(SignalType::PricingIntent);
        now.reasons
            .insert("precision".into(), "no account was flagged".into());
        assert_eq!(
            advise("min_count", "2", &none, &now),
            "not enough history to advise on min_count: no account was flagged"
        );
    }
}
