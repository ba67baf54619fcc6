//! The standard normal distribution, from `statrs` (a maintained port of Boost's `erfc` and its
//! inverse): good to about 10⁻¹⁰ relative, far below any digit Beton prints, and no
//! hand-written approximation to maintain here.

use statrs::distribution::{ContinuousCDF, Normal};

fn standard() -> Normal {
    Normal::standard()
}

/// Φ(x), the probability that a standard normal variable is at most `x`.
pub fn cdf(x: f64) -> f64 {
    standard().cdf(x)
}

/// Φ⁻¹(p) for p in (0, 1); −∞ at 0, +∞ at 1, NaN outside [0, 1].
pub fn quantile(p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    standard().inverse_cdf(p)
}

/// The two-sided critical value of a `level` interval: Φ⁻¹(1 − (1 − level)/2), 1.959964 for 0.95.
pub fn z_two_sided(level: f64) -> f64 {
    quantile(1.0 - (1.0 - level) / 2.0)
}

/// Φ⁻¹(0.975), the z of every 95 % interval in Beton.
pub fn z95() -> f64 {
    z_two_sided(0.95)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values from scipy 1.17.1: `scipy.stats.norm.ppf(p)` and `norm.cdf(x)`.
    #[test]
    fn quantile_and_cdf_match_scipy() {
        let ppf = [
            (0.975, 1.959963984540054),
            (0.8, 0.8416212335729143),
            (0.5, 0.0),
            (0.025, -1.9599639845400545),
            (1e-10, -6.361340902404056),
            (0.999999, 4.753424308817087),
        ];
        for (p, want) in ppf {
            let got = quantile(p);
            assert!(
                (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                "ppf({p}) = {got}, want {want}"
            );
        }
        let cdfs = [
            (1.959963984540054, 0.975),
            (-1.0, 0.15865525393145707),
            (0.0, 0.5),
            (3.5, 0.9997673709209645),
            (-8.0, 6.22096057427174e-16),
        ];
        for (x, want) in cdfs {
            let got = cdf(x);
            // statrs' erfc is good to about 10⁻¹⁰ relative (scipy's to 10⁻¹⁶): far below any
            // digit Beton shows.
            assert!(
                (got - want).abs() <= 1e-10 * want,
                "cdf({x}) = {got}, want {want}"
            );
        }
        assert_eq!(quantile(0.0), f64::NEG_INFINITY);
        assert_eq!(quantile(1.0), f64::INFINITY);
        assert!((z95() - 1.959963984540054).abs() < 1e-12);
    }
}
