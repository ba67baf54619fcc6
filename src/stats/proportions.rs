//! Intervals and tests for proportions: the Katz interval of a risk ratio (SPEC §11's lift per
//! signal) and, for the holdout of SPEC §12, Newcombe's interval for a difference of two
//! proportions, the pooled two-proportion test and the minimum detectable difference.
//!
//! Counts are `u64`; every function returns `None` where its figure is undefined (an empty
//! group, a rate of 0 where a logarithm or a ratio needs more), never a made-up number.

use serde::{Deserialize, Serialize};

use super::normal::{cdf, quantile, z95};

/// A two-sided interval `[lo, hi]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    pub fn contains(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }

    /// `[lo, hi]` as a two-element array, the JSON shape of `lift_ci95` and `ci95`.
    pub fn pair(&self) -> [f64; 2] {
        [self.lo, self.hi]
    }
}

/// The Wilson score interval of `x` successes in `n` trials (no continuity correction), or
/// `None` when `n` is 0.
pub fn wilson(x: u64, n: u64, z: f64) -> Option<Interval> {
    if n == 0 || x > n {
        return None;
    }
    let (x, n) = (x as f64, n as f64);
    let p = x / n;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let den = 1.0 + z2 / n;
    // At 0 and n successes the bound is exactly 0 (1); the formula leaves a rounding residue.
    Some(Interval {
        lo: if x == 0.0 {
            0.0
        } else {
            ((centre - half) / den).max(0.0)
        },
        hi: if x == n {
            1.0
        } else {
            ((centre + half) / den).min(1.0)
        },
    })
}

/// A risk ratio with its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RiskRatio {
    pub ratio: f64,
    pub ci95: Interval,
}

/// The risk ratio (x1/n1) ÷ (x2/n2) with Katz's log interval,
/// exp(ln RR ± z·√(1/x1 − 1/n1 + 1/x2 − 1/n2)), z = Φ⁻¹(0.975). `None` when either group is empty
/// or has no success (the logarithm is undefined).
pub fn katz_risk_ratio(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<RiskRatio> {
    if x1 == 0 || x2 == 0 || x1 > n1 || x2 > n2 {
        return None;
    }
    let (a, b, c, d) = (x1 as f64, n1 as f64, x2 as f64, n2 as f64);
    let ratio = (a / b) / (c / d);
    let se = (1.0 / a - 1.0 / b + 1.0 / c - 1.0 / d).sqrt();
    let half = z95() * se;
    Some(RiskRatio {
        ratio,
        ci95: Interval {
            lo: (ratio.ln() - half).exp(),
            hi: (ratio.ln() + half).exp(),
        },
    })
}

/// Newcombe's hybrid score interval (his method 10, 1998) for p1 − p2 = x1/n1 − x2/n2 at 95 %:
/// with Wilson intervals (l1, u1) and (l2, u2) of each proportion,
/// [δ − √((p1 − l1)² + (u2 − p2)²), δ + √((u1 − p1)² + (p2 − l2)²)]. It keeps within [−1, 1], is
/// defined for 0 and 100 % rates, and covers close to 95 % even for small groups. `None` when a
/// group is empty.
///
/// For the holdout (SPEC §12): p1 = the treated rate, p2 = the held-out rate.
pub fn newcombe_difference(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<Interval> {
    let z = z95();
    let (w1, w2) = (wilson(x1, n1, z)?, wilson(x2, n2, z)?);
    let p1 = x1 as f64 / n1 as f64;
    let p2 = x2 as f64 / n2 as f64;
    let delta = p1 - p2;
    Some(Interval {
        lo: delta - ((p1 - w1.lo).powi(2) + (w2.hi - p2).powi(2)).sqrt(),
        hi: delta + ((w1.hi - p1).powi(2) + (p2 - w2.lo).powi(2)).sqrt(),
    })
}

/// The two-sided p-value of the pooled two-proportion z-test of p1 = p2:
/// z = (p1 − p2) / √(p̄(1 − p̄)(1/n1 + 1/n2)), p̄ = (x1 + x2)/(n1 + n2). `None` when a group is
/// empty or p̄ is 0 or 1 (no variation: the test says nothing).
pub fn two_proportion_p_value(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<f64> {
    if n1 == 0 || n2 == 0 || x1 > n1 || x2 > n2 {
        return None;
    }
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let pooled = (x1 + x2) as f64 / (n1f + n2f);
    let var = pooled * (1.0 - pooled) * (1.0 / n1f + 1.0 / n2f);
    if var <= 0.0 {
        return None;
    }
    let z = (x1 as f64 / n1f - x2 as f64 / n2f) / var.sqrt();
    Some((2.0 * cdf(-z.abs())).min(1.0))
}

/// The smallest true difference of rates p1 − p2 (in either direction) that a two-sided test at
/// `alpha` detects with probability `power`, for groups of `n1` and `n2` around a base rate
/// `p`: (z₁₋α/₂ + z_power)·√(p(1 − p)(1/n1 + 1/n2)) (the normal approximation with the same
/// variance under both hypotheses). `None` when a group is empty or `p` is not in (0, 1).
///
/// For the holdout (SPEC §12): `p` = the pooled rate of both groups, alpha 0.05, power 0.8.
pub fn min_detectable_difference(p: f64, n1: u64, n2: u64, alpha: f64, power: f64) -> Option<f64> {
    if n1 == 0 || n2 == 0 || !(p > 0.0 && p < 1.0) {
        return None;
    }
    let z = quantile(1.0 - alpha / 2.0) + quantile(power);
    Some(z * (p * (1.0 - p) * (1.0 / n1 as f64 + 1.0 / n2 as f64)).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64, tol: f64) -> bool {
        (got - want).abs() <= tol * want.abs().max(1e-300)
    }

    /// Reference: scipy 1.17.1, `scipy.stats.contingency.relative_risk(x1, n1, x2, n2)
    /// .confidence_interval(0.95)`, which is Katz's log method.
    #[test]
    fn katz_matches_scipy() {
        let cases = [
            (
                (40, 200, 20, 200),
                2.0,
                1.2134316869938382,
                3.2964360852563694,
            ),
            (
                (12, 500, 30, 9500),
                7.6,
                3.914786497101762,
                14.754316753355907,
            ),
            ((5, 40, 5, 400), 10.0, 3.02334738711619, 33.075921221009494),
            (
                (30, 100, 60, 200),
                1.0,
                0.6930343693306797,
                1.4429298809029951,
            ),
        ];
        for ((a, b, c, d), rr, lo, hi) in cases {
            let got = katz_risk_ratio(a, b, c, d).expect("defined");
            assert!(close(got.ratio, rr, 1e-12), "{got:?}");
            assert!(
                close(got.ci95.lo, lo, 1e-10) && close(got.ci95.hi, hi, 1e-10),
                "{got:?}"
            );
        }
        assert_eq!(katz_risk_ratio(0, 10, 3, 10), None);
        assert_eq!(katz_risk_ratio(3, 10, 0, 10), None);
    }

    /// Reference: statsmodels 0.15.0, `confint_proportions_2indep(x1, n1, x2, n2,
    /// method="newcomb", compare="diff")`. The first, second and last four are the examples of
    /// Newcombe (1998), Table II, method 10 (0.0524–0.3339, 0.1705–0.8090, −0.0381–0.1926,
    /// −0.1611–0.2775, −0.2775–0.2775, 0.6791–1, 0.6075–1).
    #[test]
    fn newcombe_matches_statsmodels_and_the_paper() {
        let cases = [
            ((56, 70, 48, 80), 0.05243147240236498, 0.33387265403690614),
            ((9, 10, 3, 10), 0.1705227239345029, 0.809017973535488),
            ((6, 7, 2, 7), 0.05822792748231209, 0.8062496375242278),
            (
                (120, 1000, 90, 1000),
                0.0030960486785798005,
                0.057009571192658454,
            ),
            ((5, 56, 0, 29), -0.038137147903536936, 0.19256001385511165),
            ((0, 10, 0, 20), -0.1611251580528194, 0.27753279986288926),
            ((0, 10, 0, 10), -0.27753279986288926, 0.27753279986288926),
            ((10, 10, 0, 20), 0.6790860371419145, 1.0),
            ((10, 10, 0, 10), 0.6075093504305241, 1.0),
        ];
        for ((a, b, c, d), lo, hi) in cases {
            let got = newcombe_difference(a, b, c, d).expect("defined");
            assert!(
                (got.lo - lo).abs() < 1e-9 && (got.hi - hi).abs() < 1e-9,
                "{a}/{b} − {c}/{d}: {got:?}, want [{lo}, {hi}]"
            );
        }
        assert_eq!(newcombe_difference(1, 0, 1, 2), None);
    }

    /// Reference: statsmodels 0.15.0, `proportions_ztest([x1, x2], [n1, n2])` (pooled, two-sided).
    #[test]
    fn two_proportion_p_matches_statsmodels() {
        let cases = [
            ((56, 70, 48, 80), 0.00804508136819656),
            ((120, 1000, 90, 1000), 0.028650240398448473),
            ((30, 400, 12, 100), 0.14677733437740156),
        ];
        for ((a, b, c, d), want) in cases {
            let got = two_proportion_p_value(a, b, c, d).expect("defined");
            assert!(close(got, want, 1e-9), "{got} vs {want}");
        }
        assert_eq!(two_proportion_p_value(0, 10, 0, 20), None);
        assert_eq!(two_proportion_p_value(3, 10, 1, 0), None);
    }

    #[test]
    fn the_minimum_detectable_difference_is_detected_with_the_asked_power() {
        // 1000 per group around 10 %: (1.959964 + 0.841621) × √(0.09 × 0.002) = 0.037587.
        let mdd = min_detectable_difference(0.1, 1000, 1000, 0.05, 0.8).expect("defined");
        assert!(
            (mdd - 2.801585218 * (0.09f64 * 0.002).sqrt()).abs() < 1e-8,
            "{mdd}"
        );
        // Power at that difference under the same normal model: Φ(mdd/se − z₀.₉₇₅) = 0.8.
        let se = (0.09f64 * 0.002).sqrt();
        assert!((cdf(mdd / se - z95()) - 0.8).abs() < 1e-9);
        // Four times the accounts halve it.
        let quarter = min_detectable_difference(0.1, 4000, 4000, 0.05, 0.8).expect("defined");
        assert!((quarter * 2.0 - mdd).abs() < 1e-12);
        assert_eq!(min_detectable_difference(0.0, 10, 10, 0.05, 0.8), None);
        assert_eq!(min_detectable_difference(0.2, 0, 10, 0.05, 0.8), None);
    }

    #[test]
    fn wilson_stays_inside_zero_and_one() {
        let w = wilson(0, 10, z95()).expect("defined");
        assert_eq!(w.lo, 0.0);
        assert!((w.hi - 0.2775327998628892).abs() < 1e-12, "{w:?}");
        assert_eq!(wilson(10, 10, z95()).map(|w| w.hi), Some(1.0));
        assert_eq!(wilson(1, 0, z95()), None);
    }
}
