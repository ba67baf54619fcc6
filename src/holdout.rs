//! The holdout (SPEC §12): a keyed hash keeps a share of newly routed accounts away from the CRM
//! and the alerts, and `incrementality` compares their win rate with the treated accounts'
//! (the intervals and tests are `stats::proportions`).

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::{Config, HoldoutSettings};
use crate::deals::Outcome;
use crate::error::Result;
use crate::stats::proportions;
use crate::store::{DealRow, HoldoutRow, Store};
use crate::time::{DAY, fmt_ts};

/// The account's position in [0, 100): the first 8 bytes of SHA-256(salt, 0, key) as a fraction.
pub fn position(salt: &str, key: &str) -> f64 {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0u8]);
    h.update(key.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b) as f64 / (u64::MAX as f64 + 1.0) * 100.0
}

/// True when `key` falls in the held-out share.
pub fn draw(s: &HoldoutSettings, key: &str) -> bool {
    s.percent > 0.0 && position(&s.salt, key) < s.percent
}

/// One group of `incrementality`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Arm {
    pub accounts: u64,
    pub won: u64,
    pub rate: Option<f64>,
    /// Value of the first won deal in (R, R + H], summed.
    pub value: f64,
}

/// `beton incrementality` (SPEC §12).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incrementality {
    pub as_of: String,
    pub horizon_days: u32,
    /// Accounts with a stored first routing date R and R + H ≤ T.
    pub treated: Arm,
    pub held_out: Arm,
    /// Treated minus held-out win rate, in percentage points.
    pub diff_pp: Option<f64>,
    /// Newcombe's hybrid score interval (95 %) of the difference, in percentage points.
    pub diff_ci95_pp: Option<[f64; 2]>,
    /// Two-sided, pooled two-proportion z-test.
    pub p_value: Option<f64>,
    /// (treated rate − held-out rate) × treated accounts.
    pub incremental_wins: Option<f64>,
    /// (won value per treated account − per held-out account) × treated accounts.
    pub incremental_value: Option<f64>,
    /// The smallest difference (pp) these sizes detect with 80 % power at α = 0.05, two-sided.
    pub mdd_pp: Option<f64>,
    /// Accounts assigned but too recent to judge (R + H > T).
    pub pending: u64,
    /// Why figures are missing, when they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Fewer accounts than this in either group give no figures.
pub const MIN_ARM: u64 = 20;

/// Compares treated and held-out accounts as of `t` over the backtest horizon.
pub fn incrementality(store: &Store, cfg: &Config, t: i64) -> Result<Incrementality> {
    Ok(compare(&store.holdout_rows()?, &store.deals()?, cfg, t))
}

/// [`incrementality`] over given assignments and deals.
pub fn compare(rows: &[HoldoutRow], deals: &[DealRow], cfg: &Config, t: i64) -> Incrementality {
    let h = cfg.backtest.horizon_days;
    let horizon = i64::from(h) * DAY;
    let mut treated = Arm {
        accounts: 0,
        won: 0,
        rate: None,
        value: 0.0,
    };
    let mut held = treated.clone();
    let mut pending = 0;
    let mut wins: std::collections::HashMap<&str, Vec<(i64, Option<f64>)>> = Default::default();
    for d in deals {
        if Outcome::of(&d.stage, cfg) == Outcome::Won
            && let Some(c) = d.closed_at
        {
            wins.entry(d.account_key.as_str())
                .or_default()
                .push((c, d.value));
        }
    }
    for row in rows {
        let r = row.routed_at;
        if r + horizon > t {
            pending += 1;
            continue;
        }
        let win = wins
            .get(row.account.as_str())
            .into_iter()
            .flatten()
            .filter(|(c, _)| *c > r && *c <= r + horizon && *c <= t)
            .min_by_key(|(c, _)| *c);
        let arm = if row.held_out {
            &mut held
        } else {
            &mut treated
        };
        arm.accounts += 1;
        if let Some((_, v)) = win {
            arm.won += 1;
            arm.value += v.unwrap_or(0.0);
        }
    }
    for a in [&mut treated, &mut held] {
        a.rate = (a.accounts > 0).then(|| a.won as f64 / a.accounts as f64);
    }
    let mut out = Incrementality {
        as_of: fmt_ts(t),
        horizon_days: h,
        treated,
        held_out: held,
        diff_pp: None,
        diff_ci95_pp: None,
        p_value: None,
        incremental_wins: None,
        incremental_value: None,
        mdd_pp: None,
        pending,
        reason: None,
    };
    let (x1, n1, x2, n2) = (
        out.treated.won,
        out.treated.accounts,
        out.held_out.won,
        out.held_out.accounts,
    );
    if n1 < MIN_ARM || n2 < MIN_ARM {
        out.reason = Some(format!(
            "not enough data: {n1} treated and {n2} held-out accounts have been routed at least {h} days \
             before T; each group needs {MIN_ARM}"
        ));
        return out;
    }
    let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
    out.diff_pp = Some(round2((p1 - p2) * 100.0));
    out.diff_ci95_pp = proportions::newcombe_difference(x1, n1, x2, n2)
        .map(|i| [round2(i.lo * 100.0), round2(i.hi * 100.0)]);
    out.p_value = proportions::two_proportion_p_value(x1, n1, x2, n2);
    out.incremental_wins = Some(round2((p1 - p2) * n1 as f64));
    out.incremental_value = Some(round2(
        (out.treated.value / n1 as f64 - out.held_out.value / n2 as f64) * n1 as f64,
    ));
    let pooled = (x1 + x2) as f64 / (n1 + n2) as f64;
    out.mdd_pp = proportions::min_detectable_difference(pooled, n1, n2, 0.05, 0.8)
        .map(|d| round2(d * 100.0));
    out
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_draw_is_stable_and_near_the_percent() {
        let s = HoldoutSettings {
            percent: 10.0,
            salt: "x".into(),
        };
        let held = (0..10_000)
            .filter(|i| draw(&s, &format!("acct-{i}.com")))
            .count();
        assert!((900..=1100).contains(&held), "{held}");
        assert_eq!(draw(&s, "acme.com"), draw(&s, "acme.com"));
        let none = HoldoutSettings {
            percent: 0.0,
            ..s.clone()
        };
        assert!(!(0..1000).any(|i| draw(&none, &format!("acct-{i}.com"))));
    }
}
