//! The holdout (SPEC §12): a keyed hash keeps a share of newly routed accounts away from the CRM
//! and the alerts, and `incrementality` compares their win rate with the treated accounts'.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::{Config, HoldoutSettings};
use crate::deals::Outcome;
use crate::error::Result;
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
    out.diff_ci95_pp = stats::newcombe_difference(x1, n1, x2, n2)
        .map(|[lo, hi]| [round2(lo * 100.0), round2(hi * 100.0)]);
    out.p_value = stats::two_proportion_p_value(x1, n1, x2, n2);
    out.incremental_wins = Some(round2((p1 - p2) * n1 as f64));
    out.incremental_value = Some(round2(
        (out.treated.value / n1 as f64 - out.held_out.value / n2 as f64) * n1 as f64,
    ));
    let pooled = (x1 + x2) as f64 / (n1 + n2) as f64;
    out.mdd_pp =
        stats::min_detectable_difference(pooled, n1, n2, 0.05, 0.8).map(|d| round2(d * 100.0));
    out
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The few formulas `incrementality` needs. The `stats` branch brings a shared module with the
/// same functions; this one is kept minimal until it lands.
pub mod stats {
    /// Standard normal CDF (Abramowitz–Stegun 7.1.26 on erf, |error| < 1.5e-7).
    pub fn normal_cdf(x: f64) -> f64 {
        let z = x.abs() / std::f64::consts::SQRT_2;
        let t = 1.0 / (1.0 + 0.327_591_1 * z);
        let poly = t
            * (0.254_829_592
                + t * (-0.284_496_736
                    + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
        let erf = 1.0 - poly * (-z * z).exp();
        if x >= 0.0 {
            0.5 * (1.0 + erf)
        } else {
            0.5 * (1.0 - erf)
        }
    }

    /// Φ⁻¹(p) by bisection on [`normal_cdf`] (60 halvings: exact to f64 precision of the CDF).
    pub fn normal_quantile(p: f64) -> f64 {
        let (mut lo, mut hi) = (-10.0_f64, 10.0_f64);
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            if normal_cdf(mid) < p {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }

    /// Wilson score interval of x / n.
    pub fn wilson(x: u64, n: u64, z: f64) -> Option<[f64; 2]> {
        if n == 0 {
            return None;
        }
        let (n, p) = (n as f64, x as f64 / n as f64);
        let z2 = z * z;
        let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
        let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
        Some([(centre - half).max(0.0), (centre + half).min(1.0)])
    }

    /// Newcombe's hybrid score interval (his method 10) of p1 − p2, 95 %.
    pub fn newcombe_difference(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<[f64; 2]> {
        let z = normal_quantile(0.975);
        let [l1, u1] = wilson(x1, n1, z)?;
        let [l2, u2] = wilson(x2, n2, z)?;
        let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
        let d = p1 - p2;
        let lo = d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt();
        let hi = d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt();
        Some([lo, hi])
    }

    /// Two-sided p-value of the pooled two-proportion z-test.
    pub fn two_proportion_p_value(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<f64> {
        if n1 == 0 || n2 == 0 {
            return None;
        }
        let (a, b) = (n1 as f64, n2 as f64);
        let p = (x1 + x2) as f64 / (a + b);
        let se = (p * (1.0 - p) * (1.0 / a + 1.0 / b)).sqrt();
        if se == 0.0 {
            return Some(1.0);
        }
        let z = (x1 as f64 / a - x2 as f64 / b) / se;
        Some((2.0 * (1.0 - normal_cdf(z.abs()))).min(1.0))
    }

    /// The minimum detectable difference of two proportions around `p` with these sizes:
    /// (z₁₋α/₂ + z_power) · √(p(1 − p)(1/n1 + 1/n2)).
    pub fn min_detectable_difference(
        p: f64,
        n1: u64,
        n2: u64,
        alpha: f64,
        power: f64,
    ) -> Option<f64> {
        if n1 == 0 || n2 == 0 || !(0.0..=1.0).contains(&p) {
            return None;
        }
        let z = normal_quantile(1.0 - alpha / 2.0) + normal_quantile(power);
        Some(z * (p * (1.0 - p) * (1.0 / n1 as f64 + 1.0 / n2 as f64)).sqrt())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn known_values() {
            assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-5);
            assert!((normal_quantile(0.8) - 0.841_621).abs() < 1e-5);
            // Newcombe (1998), table II example (56/70 vs 48/80): −0.0524 to 0.3339.
            let [lo, hi] = newcombe_difference(56, 70, 48, 80).unwrap();
            assert!((lo - 0.0524).abs() < 5e-4, "{lo}");
            assert!((hi - 0.3339).abs() < 5e-4, "{hi}");
            let p = two_proportion_p_value(56, 70, 48, 80).unwrap();
            assert!((0.005..0.02).contains(&p), "{p}");
        }
    }
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
